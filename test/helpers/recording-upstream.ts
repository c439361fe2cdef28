import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Recorded {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
  readonly body: Buffer;
}

export interface RecordingUpstream {
  readonly url: string;
  readonly port: number;
  readonly requests: Recorded[];
  /** Sets how the next requests are answered (default 200 with a small XML body). */
  answer(fn: (r: Recorded) => { status: number; headers?: Record<string, string>; body?: string }): void;
  close(): Promise<void>;
}

/** The "nothing forwarded" oracle (SECURITY-CASES §0.3): an upstream that records every request it
 *  receives, so a deny test can assert it saw none and an allow test can read what was sent. */
export async function startRecordingUpstream(): Promise<RecordingUpstream> {
  const requests: Recorded[] = [];
  let answer: Parameters<RecordingUpstream['answer']>[0] = () => ({
    status: 200,
    headers: { 'content-type': 'application/xml' },
    body: '<ok/>',
  });
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const rec: Recorded = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      body: Buffer.concat(chunks),
    };
    requests.push(rec);
    const a = answer(rec);
    res.writeHead(a.status, { 'x-amz-request-id': `up-${requests.length}`, ...(a.headers ?? {}) });
    res.end(a.body ?? '');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    answer: (fn) => {
      answer = fn;
    },
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
