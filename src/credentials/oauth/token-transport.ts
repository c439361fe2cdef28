// The one network step of a token exchange: POST the form to the token endpoint over verified TLS,
// read a bounded answer. Redirects are never followed (a token request is not re-sent elsewhere);
// the caller injects this, so tests can point it at a local authorization server and its CA.

import { Agent, request } from 'undici';
import { ErrandError } from '../../errors.ts';
import { MAX_TOKEN_RESPONSE_BYTES, type TokenRequest, type TokenResponse } from './token-exchange.ts';

export type TokenTransport = (req: TokenRequest) => Promise<TokenResponse>;

/** Connect plus answer: a token endpoint is one round trip. */
export const TOKEN_REQUEST_TIMEOUT_MS = 10_000;

export interface TokenTransportOptions {
  /** Extra trusted CA (PEM), e.g. the --upstream-ca-file of a private authorization server. */
  readonly ca?: string | Buffer;
  readonly timeoutMs?: number;
}

export interface ClosableTokenTransport {
  readonly post: TokenTransport;
  close(): Promise<void>;
}

export function createTokenTransport(opts: TokenTransportOptions = {}): ClosableTokenTransport {
  const timeout = opts.timeoutMs ?? TOKEN_REQUEST_TIMEOUT_MS;
  const agent = new Agent({
    connectTimeout: timeout,
    headersTimeout: timeout,
    bodyTimeout: timeout,
    connections: 4,
    connect: { rejectUnauthorized: true, ...(opts.ca !== undefined ? { ca: opts.ca } : {}) },
  });
  return {
    async post(req) {
      let res: Awaited<ReturnType<typeof request>>;
      try {
        res = await request(req.url, {
          method: 'POST',
          headers: req.headers,
          body: req.body,
          dispatcher: agent,
          signal: AbortSignal.timeout(timeout),
        });
      } catch (error) {
        // The cause names the network failure (ECONNREFUSED, a certificate error), never the form.
        const code = (error as { code?: unknown }).code;
        throw new ErrandError(
          'ERR_OAUTH_UNREACHABLE',
          `${new URL(req.url).host}${typeof code === 'string' ? ` (${code})` : ''}`,
        );
      }
      const chunks: Buffer[] = [];
      let size = 0;
      try {
        for await (const chunk of res.body) {
          size += (chunk as Buffer).length;
          if (size > MAX_TOKEN_RESPONSE_BYTES) {
            res.body.destroy();
            throw new ErrandError(
              'ERR_OAUTH_RESPONSE',
              `the answer is larger than ${MAX_TOKEN_RESPONSE_BYTES} bytes`,
            );
          }
          chunks.push(chunk as Buffer);
        }
      } catch (error) {
        if (error instanceof ErrandError) throw error;
        throw new ErrandError('ERR_OAUTH_UNREACHABLE', `${new URL(req.url).host} (the answer was cut off)`);
      }
      const headers: Record<string, string | string[] | undefined> = {};
      for (const [name, value] of Object.entries(res.headers)) headers[name.toLowerCase()] = value;
      return { status: res.statusCode, headers, body: Buffer.concat(chunks).toString('utf8') };
    },
    close: () => agent.close(),
  };
}
