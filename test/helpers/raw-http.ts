import { connect } from 'node:net';

export interface RawResult {
  /** Everything the server sent back, as latin1 text. */
  readonly text: string;
  /** True when the server closed the connection (as opposed to the idle wait running out). */
  readonly closed: boolean;
  /** Status codes of the responses, in order. */
  readonly statuses: number[];
}

/** Counts the complete responses at the start of `text` (final status lines with their
 *  Content-Length bodies; 1xx interim responses do not count). */
export function completeResponses(text: string): number {
  let at = 0;
  let count = 0;
  for (;;) {
    const end = text.indexOf('\r\n\r\n', at);
    if (end === -1) return count;
    const head = text.slice(at, end);
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    if (text.length < end + 4 + length) return count;
    at = end + 4 + length;
    if (status >= 200) count++;
  }
}

/** Sends exact bytes and collects the answer until the server closes, `expect` responses are
 *  complete, or nothing arrives for `idleMs`. Used for framing tests no well-behaved client produces. */
export function rawExchange(
  port: number,
  payload: string | Buffer | (string | Buffer)[],
  opts: { idleMs?: number; gapMs?: number; expect?: number } = {},
): Promise<RawResult> {
  const parts = Array.isArray(payload) ? payload : [payload];
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
      resolve({ text, closed, statuses });
    };
    const arm = () => {
      clearTimeout(timer);
      // While expected answers are missing, wait long enough for a loaded CI machine.
      timer = setTimeout(
        () => finish(false),
        opts.expect !== undefined ? Math.max(opts.idleMs ?? 0, 3000) : (opts.idleMs ?? 1500),
      );
    };
    socket.on('data', (c) => {
      chunks.push(c);
      if (
        opts.expect !== undefined &&
        completeResponses(Buffer.concat(chunks).toString('latin1')) >= opts.expect
      ) {
        // All expected answers are in: wait a moment only to see whether the server closes.
        clearTimeout(timer);
        timer = setTimeout(() => finish(false), 150);
        return;
      }
      arm();
    });
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', (e) => (chunks.length ? finish(true) : reject(e)));
    socket.on('connect', async () => {
      arm();
      for (const part of parts) {
        if (socket.destroyed) break;
        socket.write(part);
        if (opts.gapMs) await new Promise((r) => setTimeout(r, opts.gapMs));
      }
    });
  });
}
