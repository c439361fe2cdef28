// A fault-injecting front for STS: a loopback HTTP server between Errand and the emulator that either
// passes AssumeRole through to moto, answers as a throttling STS does, or drops the connection. It also
// keeps every credential it saw minted, so canary scans know exactly which secrets Errand holds.
// Only the network peer is faked; Errand's real STS client (the AWS SDK) parses every answer.

import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { xmlValue } from './moto.ts';

export type StsMode = 'pass' | 'throttle' | 'reset';

export interface MintedCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
}

export interface StsFront {
  readonly url: string;
  /** Calls received, in each mode. */
  readonly calls: { mode: StsMode; action: string }[];
  /** Calls being answered right now. */
  readonly inFlight: number;
  /** Credentials moto minted and the front passed on. */
  readonly minted: MintedCredentials[];
  /** Moves the Expiration of minted sessions by this many ms: STS "lives" on a test's virtual clock
   *  (the emulator only knows the real one). */
  shiftExpiration(ms: number): void;
  /** How the next calls are answered; `times` calls in `mode`, then back to the previous mode. */
  setMode(mode: StsMode, times?: number): void;
  close(): Promise<void>;
}

// The body STS sends when it throttles (STS API Reference, Common Errors: Throttling, HTTP 400).
const THROTTLED = `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>00000000-0000-4000-8000-000000000000</RequestId></ErrorResponse>`;

export async function startStsFront(motoEndpoint: string): Promise<StsFront> {
  const target = new URL(motoEndpoint);
  let mode: StsMode = 'pass';
  let queue: StsMode[] = [];
  const calls: StsFront['calls'] = [];
  const minted: MintedCredentials[] = [];
  let shift = 0;
  let inFlight = 0;
  const server = createServer(async (req, res) => {
    inFlight++;
    res.on('close', () => inFlight--);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const current = queue.shift() ?? mode;
    calls.push({ mode: current, action: /Action=([A-Za-z]+)/.exec(body.toString())?.[1] ?? '' });
    if (current === 'reset') return void req.socket.destroy();
    if (current === 'throttle') {
      res.writeHead(400, { 'content-type': 'text/xml' }).end(THROTTLED);
      return;
    }
    const up = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        // The Host header stays the front's: it is signed, and moto checks the signature.
        headers: req.headers,
      },
      async (answer) => {
        const out: Buffer[] = [];
        for await (const c of answer) out.push(c as Buffer);
        let text = Buffer.concat(out).toString('utf8');
        if (shift !== 0)
          text = text.replace(
            /<Expiration>([^<]+)<\/Expiration>/,
            (_, at: string) => `<Expiration>${new Date(Date.parse(at) + shift).toISOString()}</Expiration>`,
          );
        const accessKeyId = xmlValue(text, 'AccessKeyId');
        const secretAccessKey = xmlValue(text, 'SecretAccessKey');
        const sessionToken = xmlValue(text, 'SessionToken');
        if (accessKeyId && secretAccessKey && sessionToken)
          minted.push({ accessKeyId, secretAccessKey, sessionToken });
        // The body is re-sent whole: moto's framing headers do not apply to it.
        const { 'transfer-encoding': _te, connection: _c, ...rest } = answer.headers;
        const headers = { ...rest, 'content-length': String(Buffer.byteLength(text)) };
        res.writeHead(answer.statusCode ?? 502, headers).end(text);
      },
    );
    up.on('error', () => req.socket.destroy());
    up.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    minted,
    get inFlight() {
      return inFlight;
    },
    shiftExpiration(ms) {
      shift = ms;
    },
    setMode(next, times) {
      if (times === undefined) {
        mode = next;
        queue = [];
      } else queue = Array.from({ length: times }, () => next);
    },
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
