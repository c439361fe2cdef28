import type { Readable, Writable } from 'node:stream';
import { Agent, type Dispatcher } from 'undici';
import { LIMITS } from './limits.ts';

// Every upstream request goes through one undici Agent (pooled keep-alive, streaming both ways).
// Requests are built from parts (origin + path), never from a URL string: WHATWG URL parsing would
// resolve `..` in S3 keys that must be sent byte-for-byte (SECURITY-CASES E5). Redirects are never
// followed (F4); TLS is verified with the system roots unless a test passes its own CA.

export interface UpstreamRequest {
  readonly origin: string;
  readonly path: string;
  readonly method: string;
  readonly headers: Record<string, string>;
  readonly body: Readable | Uint8Array | undefined;
  readonly signal?: AbortSignal;
}

export interface UpstreamResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Readable & { text(): Promise<string>; arrayBuffer(): Promise<ArrayBuffer> };
}

/** The status and headers of an answer, before its body. */
export interface UpstreamHead {
  readonly statusCode: number;
  readonly headers: Record<string, string | string[] | undefined>;
}

export interface Upstream {
  request(req: UpstreamRequest): Promise<UpstreamResponse>;
  /** Sends `req` and writes the answer's body into the Writable `onHead` returns for its head (no
   *  Readable in between: undici's stream API). Resolves when that Writable finished; rejects on a
   *  connection, timeout or body error (the Writable is destroyed then). */
  stream(req: UpstreamRequest, onHead: (head: UpstreamHead) => Writable): Promise<unknown>;
  close(): Promise<void>;
}

export function createUpstream(
  opts: {
    ca?: string | Buffer;
    connections?: number;
    /** Connect, first-byte and between-bytes bounds (default LIMITS; tests shorten them). */
    timeoutMs?: { connect: number; headers: number; body: number };
  } = {},
): Upstream {
  const agent = new Agent({
    connectTimeout: opts.timeoutMs?.connect ?? LIMITS.upstreamConnectTimeoutMs,
    headersTimeout: opts.timeoutMs?.headers ?? LIMITS.upstreamHeadersTimeoutMs,
    bodyTimeout: opts.timeoutMs?.body ?? LIMITS.upstreamBodyTimeoutMs,
    connections: opts.connections ?? 64,
    keepAliveTimeout: 4_000,
    connect: opts.ca ? { ca: opts.ca, rejectUnauthorized: true } : { rejectUnauthorized: true },
  });
  return {
    async request(req) {
      const res = await agent.request({
        origin: req.origin,
        path: req.path,
        method: req.method as Dispatcher.HttpMethod,
        headers: req.headers,
        body: req.body,
        signal: req.signal,
      });
      return res as unknown as UpstreamResponse;
    },
    // undici's promise as is: no async wrapper (a promise and a microtask hop) per request.
    stream(req, onHead) {
      return agent.stream(
        {
          origin: req.origin,
          path: req.path,
          method: req.method as Dispatcher.HttpMethod,
          headers: req.headers,
          body: req.body ?? null,
          signal: req.signal,
        },
        // undici's head object as is (statusCode, headers): no copy and no closure per answer.
        onHead,
      );
    },
    close: () => agent.close(),
  };
}

// RFC 9110 §7.6.1: connection-specific fields are never forwarded in either direction.
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Answer headers never relayed to the agent, on the AWS endpoint and for HTTP grants alike: cookies
 *  of a session Errand's credentials opened (K3), and a header that pretends to be Errand's. */
export const OMITTED_ANSWER_HEADERS: ReadonlySet<string> = new Set([
  'set-cookie',
  'set-cookie2',
  'x-egress-deny',
]);

/** Response headers to relay: everything but hop-by-hop fields and those the Connection header names;
 *  also none of `omit` (lowercase names), and with `scrub` (when given) applied to every value kept:
 *  one pass and one object, no copy to delete from and scrub again. */
export function relayHeaders(
  headers: UpstreamResponse['headers'],
  omit?: ReadonlySet<string>,
  scrub?: (value: string) => string,
): Record<string, string | string[]> {
  // Most answers say only `Connection: keep-alive` (itself hop-by-hop): no extra names to drop then.
  const connection = headers['connection'];
  const named =
    connection === undefined || connection === 'keep-alive' || connection === 'close'
      ? undefined
      : new Set(
          String(connection)
            .split(',')
            .map((s) => s.trim().toLowerCase())
            .filter(Boolean),
        );
  const out: Record<string, string | string[]> = {};
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    const lower = name.toLowerCase();
    if (value === undefined || HOP_BY_HOP.has(lower) || named?.has(lower) === true) continue;
    if (omit?.has(lower) === true) continue;
    out[lower] = scrub === undefined ? value : Array.isArray(value) ? value.map(scrub) : scrub(value);
  }
  return out;
}
