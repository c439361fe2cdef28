import { connect } from 'node:net';

export interface RawResult {
  /** Everything the server sent back, as latin1 text. */
  readonly text: string;
  /** True when the server closed the connection (as opposed to the idle wait running out). */
  readonly closed: boolean;
  /** Status codes of the responses, in order. */
  readonly statuses: number[];
}

/** Sends exact bytes to a listener and collects the answer until the server closes the socket or
 *  nothing arrives for `idleMs`. Used for framing tests that no well-behaved client can produce. */
export function rawExchange(
  port: number,
  payload: string | Buffer | (string | Buffer)[],
  opts: { idleMs?: number; gapMs?: number } = {},
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
      timer = setTimeout(() => finish(false), opts.idleMs ?? 1500);
    };
    socket.on('data', (c) => {
      chunks.push(c);
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
