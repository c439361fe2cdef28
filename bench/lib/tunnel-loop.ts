import { isIP, connect as netConnect, type Socket } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';

// Closed-loop HTTPS load through a forward proxy's CONNECT tunnels, cheap on the load core so that
// it measures the proxy and not itself (wrk has no CONNECT). Each worker opens one tunnel
// (CONNECT, then TLS inside it, verified against the proxy's CA), then sends one pre-built
// HTTP/1.1 request at a time and reads the answer by its Content-Length (RFC 9112 §6.3) before the
// next. No per-request objects beyond the bytes received: no dispatcher, no header object, no body
// stream. Any non-200, any answer without a Content-Length, any closed tunnel fails the run.

export interface TunnelLoopOptions {
  /** The forward proxy, on 127.0.0.1. */
  readonly proxyPort: number;
  /** The CONNECT request-target, `host:port`: the host is also the name the leaf is checked
   *  against, and the TLS server name unless it is an IP literal (no SNI then, RFC 6066 §3). */
  readonly authority: string;
  /** PEM of the CA that signs the proxy's leaf certificates. */
  readonly ca: string;
  /** The whole request, head and body, sent as is for each request (see buildRequest). */
  readonly request: Buffer;
  readonly workers: number;
  readonly seconds: number;
  /** No CONNECT and no TLS: the requests go straight to the port, as to an origin or an
   *  endpoint-mode listener (the same client, to compare a tunnel with no tunnel). */
  readonly direct?: boolean;
  /** Called once every tunnel is open, just before the clock starts (e.g. to read CPU counters). */
  readonly onStart?: () => void | Promise<void>;
}

export interface TunnelLoopResult {
  readonly requests: number;
  readonly rps: number;
}

/** An HTTP/1.1 GET as an origin-form request inside a tunnel: Host first, then `headers`. */
export function buildRequest(path: string, host: string, headers: Readonly<Record<string, string>>): Buffer {
  let head = `GET ${path} HTTP/1.1\r\nhost: ${host}\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (name.toLowerCase() === 'host') continue;
    head += `${name}: ${value}\r\n`;
  }
  return Buffer.from(`${head}\r\n`, 'latin1');
}

export type ResponseHead =
  | { readonly kind: 'need_more' }
  | { readonly kind: 'head'; readonly status: number; readonly headBytes: number; readonly bodyBytes: number }
  | { readonly kind: 'bad'; readonly message: string };

const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
const STATUS_LINE = /^HTTP\/1\.[01] ([0-9]{3})/;
const CONTENT_LENGTH = /\r\ncontent-length:[ \t]*([0-9]{1,15})[ \t]*\r\n/i;
const CHUNKED = /\r\ntransfer-encoding:/i;
/** No answer of the benchmark has a head this large; beyond it the stream is not HTTP. */
const MAX_HEAD_BYTES = 64 * 1024;

/** Reads a response head at the start of `buf`: its status, its size and the body's length. */
export function parseResponseHead(buf: Buffer): ResponseHead {
  const end = buf.indexOf(HEAD_END);
  if (end < 0) {
    return buf.length > MAX_HEAD_BYTES
      ? { kind: 'bad', message: 'response head too large' }
      : { kind: 'need_more' };
  }
  const head = buf.toString('latin1', 0, end + 2);
  const status = STATUS_LINE.exec(head);
  if (!status)
    return { kind: 'bad', message: `not an HTTP/1.1 response: ${head.split('\r\n', 1)[0]!.slice(0, 40)}` };
  if (CHUNKED.test(head)) return { kind: 'bad', message: 'a Transfer-Encoding answer is not read here' };
  const length = CONTENT_LENGTH.exec(head);
  if (!length) return { kind: 'bad', message: 'the answer has no Content-Length' };
  return { kind: 'head', status: Number(status[1]), headBytes: end + 4, bodyBytes: Number(length[1]) };
}

/** Opens a CONNECT tunnel through the proxy and returns the raw socket once the proxy said 200. */
function openTunnel(proxyPort: number, authority: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: '127.0.0.1', port: proxyPort });
    socket.setNoDelay(true);
    let got = Buffer.alloc(0);
    const fail = (error: Error) => {
      socket.destroy();
      reject(error);
    };
    socket.once('error', fail);
    socket.once('connect', () =>
      socket.write(`CONNECT ${authority} HTTP/1.1\r\nhost: ${authority}\r\n\r\n`, 'latin1'),
    );
    const onData = (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      const end = got.indexOf(HEAD_END);
      if (end < 0) return;
      socket.removeListener('data', onData);
      socket.removeListener('error', fail);
      socket.pause();
      const line = got.toString('latin1', 0, got.indexOf('\r\n'));
      if (!/^HTTP\/1\.[01] 200/.test(line)) return fail(new Error(`CONNECT ${authority}: ${line}`));
      // Nothing may follow the 200 before our ClientHello: a proxy speaks TLS only once asked.
      if (got.length > end + 4) return fail(new Error(`CONNECT ${authority}: bytes after the 200`));
      resolve(socket);
    };
    socket.on('data', onData);
  });
}

function openDirect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: '127.0.0.1', port });
    socket.setNoDelay(true);
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.removeListener('error', reject);
      resolve(socket);
    });
  });
}

function secureTunnel(raw: Socket, o: TunnelLoopOptions): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const host = o.authority.slice(0, o.authority.lastIndexOf(':')).replace(/^\[(.*)\]$/, '$1');
    const tls = tlsConnect({
      socket: raw,
      host,
      ca: o.ca,
      ALPNProtocols: ['http/1.1'],
      ...(isIP(host) === 0 ? { servername: host } : {}),
    });
    const fail = (error: Error) => {
      tls.destroy();
      reject(error);
    };
    tls.once('error', fail);
    tls.once('secureConnect', () => {
      tls.removeListener('error', fail);
      resolve(tls);
    });
  });
}

/** One worker: requests back to back on one tunnel until `until` (performance.now() ms). */
function runWorker(tls: Socket, request: Buffer, until: number, count: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let pending: Buffer | undefined;
    let body = -1; // body bytes still to read; -1 while reading a head
    let done = false;
    const finish = (error?: Error) => {
      if (done) return;
      done = true;
      tls.removeListener('data', onData);
      if (error) reject(error);
      else resolve();
    };
    const onData = (chunk: Buffer) => {
      let buf = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
      pending = undefined;
      if (body < 0) {
        const head = parseResponseHead(buf);
        if (head.kind === 'need_more') {
          pending = buf;
          return;
        }
        if (head.kind === 'bad') return finish(new Error(head.message));
        if (head.status !== 200) return finish(new Error(`status ${head.status}`));
        body = head.bodyBytes;
        buf = buf.subarray(head.headBytes);
      }
      if (buf.length < body) {
        body -= buf.length;
        return;
      }
      // One request is in flight at a time: nothing may follow its answer.
      if (buf.length > body) return finish(new Error('bytes after the answer'));
      body = -1;
      count();
      if (performance.now() >= until) return finish();
      tls.write(request);
    };
    tls.on('data', onData);
    tls.once('error', (error: Error) => finish(error));
    tls.once('close', () => finish(new Error('the tunnel closed mid-run')));
    tls.write(request);
  });
}

/** Runs `workers` tunnels in a closed loop for `seconds`; the tunnels are opened before the clock
 *  starts and closed after it stops, so only requests are timed. */
export async function tunnelLoop(o: TunnelLoopOptions): Promise<TunnelLoopResult> {
  const tunnels: Socket[] = [];
  try {
    for (let i = 0; i < o.workers; i++)
      tunnels.push(
        o.direct === true
          ? await openDirect(o.proxyPort)
          : await secureTunnel(await openTunnel(o.proxyPort, o.authority), o),
      );
    let requests = 0;
    const count = () => {
      requests++;
    };
    await o.onStart?.();
    const t0 = performance.now();
    const until = t0 + o.seconds * 1000;
    await Promise.all(tunnels.map((tls) => runWorker(tls, o.request, until, count)));
    return { requests, rps: requests / ((performance.now() - t0) / 1000) };
  } finally {
    for (const tls of tunnels) tls.destroy();
  }
}
