// The HTTP-grant path's one call into OAuth credentials: add the token and a fresh DPoP proof to the
// request built from the normalized request, send it, and when the resource server asks for a
// nonce (RFC 9449 §9) send it once more with a new proof. A body that may have to go twice is
// buffered up to a bound; a larger or unsized body streams once and gets no retry (the 401 is
// then the answer, as without Errand).

import type { Readable } from 'node:stream';
import type { HttpGrant } from '../../manifest/types.ts';
import type { UpstreamResponse } from '../../proxy/upstream.ts';
import type { DpopTarget } from './dpop.ts';
import type { OAuthCredentials, SendResult } from './oauth-credentials.ts';

/** Largest body kept in memory so a nonce retry can send it again. */
export const MAX_REPLAY_BODY_BYTES = 1024 * 1024;

export interface GrantRequest {
  readonly method: string;
  readonly path: string;
  /** Lower-case names, as built for upstream (the agent's Authorization and DPoP already removed). */
  readonly headers: Record<string, string>;
  readonly body: Readable | Uint8Array | undefined;
}

async function readAll(body: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new Error('body over the replay bound');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export async function sendWithOAuth(
  oauth: OAuthCredentials,
  grant: HttpGrant,
  target: DpopTarget,
  req: GrantRequest,
  send: (req: GrantRequest) => Promise<UpstreamResponse>,
): Promise<SendResult<UpstreamResponse>> {
  let body = req.body;
  let canRetry = true;
  if (body !== undefined && !(body instanceof Uint8Array)) {
    const declared = Number(req.headers['content-length']);
    if (grant.oauth?.dpop === true && Number.isInteger(declared) && declared <= MAX_REPLAY_BODY_BYTES) {
      body = await readAll(body, MAX_REPLAY_BODY_BYTES);
    } else {
      canRetry = false;
    }
  }
  return oauth.send(grant, target, {
    // A scrubbed answer must be readable: ask for it uncompressed (the token may be echoed, F3).
    attempt: (auth) =>
      send({ ...req, body, headers: { ...req.headers, 'accept-encoding': 'identity', ...auth.headers } }),
    reply: (r) => ({ status: r.statusCode, headers: r.headers }),
    // Read the refused answer to its end (undici's dump() stops after a bound and keeps the socket).
    discard: async (r) => {
      const body = r.body as typeof r.body & { dump?: () => Promise<void> };
      await (body.dump !== undefined ? body.dump() : body.text()).catch(() => undefined);
    },
    canRetry,
  });
}
