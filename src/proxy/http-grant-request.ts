import { type GrantIndex, intentUrl } from '../authorize/authorize.ts';
import type { HttpIntent } from '../classify/types.ts';
import type { Reason } from '../errors.ts';
import { normalizePercentEncoding } from '../manifest/http-url.ts';
import type { HttpGrant } from '../manifest/types.ts';
import { decodeOnce } from './front.ts';
import type { NormalizedRequest } from './request.ts';
import { scrubText } from './scrub.ts';
import { HOP_BY_HOP, OMITTED_ANSWER_HEADERS, relayHeaders, type UpstreamResponse } from './upstream.ts';

// HTTP API grants, the pure part: from the normalized request to the intent the authorizer matches,
// and from the authorized request to the exact headers sent upstream. The URL matched is the URL
// sent: the request's path and query in the manifest's canonical spelling (RFC 3986 §6.2.2), never
// re-parsed by WHATWG URL, which would resolve dot segments (SECURITY-CASES D1–D8).

type Deny = { readonly ok: false; readonly reason: Reason; readonly message: string };
const deny = (reason: Reason, message: string): Deny => ({ ok: false, reason, message });

/** Headers that ask a server to treat a request as another method (D8; expressjs/method-override). */
const METHOD_OVERRIDE = new Set(['x-http-method-override', 'x-http-method', 'x-method-override']);

/** The agent's own credentials: never forwarded, whatever the grant (F2). */
const AGENT_CREDENTIALS = new Set([
  'authorization',
  'cookie',
  'cookie2',
  'dpop',
  'x-api-key',
  'api-key',
  'x-auth-token',
  'x-access-token',
  'private-token',
  'x-amz-security-token',
  'x-goog-api-key',
]);

/** Headers that tell a server (or a hop after it) where a request came from or where to route it
 *  (J5): stripped, Errand is the client. */
const ROUTING = new Set([
  'forwarded',
  'via',
  'x-real-ip',
  'x-client-ip',
  'client-ip',
  'true-client-ip',
  'cf-connecting-ip',
  'x-cluster-client-ip',
  'x-host',
  'x-http-host',
  'x-rewrite-url',
  'x-proxyuser-ip',
]);
const ROUTING_PREFIXES = ['x-forwarded-', 'x-original-', 'x-envoy-', 'proxy-'];

/** Framing and upgrade headers Errand regenerates or handles itself. */
const FRAMING = new Set(['host', 'transfer-encoding', 'expect', 'upgrade', 'http2-settings']);

const isDotSegment = (segment: string): boolean => {
  const decoded = decodeOnce(segment);
  return decoded === '.' || decoded === '..';
};

/** Checks the request against the HTTP grant rules that do not depend on a match, then builds the
 *  intent in canonical spelling. */
export function classifyHttp(
  req: NormalizedRequest,
  index: GrantIndex,
): { ok: true; intent: HttpIntent } | Deny {
  // 1. Method override (D8).
  for (const name of req.headers.keys()) {
    if (METHOD_OVERRIDE.has(name))
      return deny('header_not_allowed', `${name} asks the server for another method; send the method itself`);
  }
  if (req.query.some(([k]) => k === '_method'))
    return deny('query_not_allowed', 'the _method query parameter asks the server for another method');

  // 2. Query pollution (D7): one value per key.
  const keys = req.query.map(([k]) => k);
  const duplicate = keys.find((k, i) => keys.indexOf(k) !== i);
  if (duplicate !== undefined)
    return deny('query_not_allowed', `query parameter ${duplicate.slice(0, 64)} appears more than once`);

  // 3. Dot segments, literal or percent-encoded, are never granted (D1): the upstream may resolve
  //    them and reach a path the manifest did not name.
  const segments = req.rawPath.split('/');
  if (segments.some(isDotSegment))
    return deny(
      'not_in_manifest',
      'a path with dot segments (. or .., also percent-encoded) is never granted',
    );

  const intent: HttpIntent = Object.freeze({
    kind: 'http',
    method: req.method,
    scheme: req.scheme,
    host: req.host,
    port: req.port,
    rawPath: normalizePercentEncoding(req.rawPath),
    rawQuery: normalizePercentEncoding(req.rawQuery),
  });

  // 4. Encoded separators (D2) only where a grant spells them out exactly; never inside a `*`.
  if (/%2f|%5c/i.test(req.rawPath)) {
    const url = intentUrl(intent);
    const exact = (index.http.get(req.method) ?? []).some((g) => !g.pattern && g.url === url);
    if (!exact)
      return deny(
        'not_in_manifest',
        'an encoded / or \\ in the path is granted only where a grant spells it out',
      );
  }
  return { ok: true, intent };
}

/** Why no grant matched, when a near miss says more than not_in_manifest: the same URL over https
 *  (F1), or the same path with another query (D7). */
export function explainMiss(intent: HttpIntent, index: GrantIndex): Deny | undefined {
  const grants = index.http.get(intent.method) ?? [];
  const url = intentUrl(intent);
  if (intent.scheme === 'http') {
    const https = intentUrl({ ...intent, scheme: 'https', port: intent.port === 80 ? 443 : intent.port });
    if (grants.some((g) => g.url === https || (g.pattern && g.url.startsWith('https://'))))
      return deny(
        'scheme_denied',
        'this URL is granted over https only; use https (CONNECT through the proxy)',
      );
  }
  const noQuery = url.split('?')[0];
  if (intent.rawQuery !== '' || grants.some((g) => g.url.includes('?'))) {
    const near = grants.find((g) => !g.pattern && g.url.split('?')[0] === noQuery);
    if (near)
      return deny('query_not_allowed', `the query must be exactly the granted one (grant ${near.id})`);
  }
  return undefined;
}

/** The headers sent upstream: the agent's, minus credentials, routing, hop-by-hop and framing
 *  headers, plus Host and the injected credential. Names are lower-case, sorted. */
export function buildUpstreamHeaders(
  req: NormalizedRequest,
  grant: HttpGrant,
  injected: string | undefined,
  authority: string,
): Record<string, string> {
  const named = new Set(
    (req.headers.get('connection') ?? '')
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  );
  const injectName = grant.inject?.header.toLowerCase();
  const out: Record<string, string> = {};
  for (const [name, value] of [...req.headers].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (
      HOP_BY_HOP.has(name) ||
      named.has(name) ||
      FRAMING.has(name) ||
      AGENT_CREDENTIALS.has(name) ||
      ROUTING.has(name) ||
      ROUTING_PREFIXES.some((p) => name.startsWith(p)) ||
      name === injectName
    ) {
      continue;
    }
    out[name] = value;
  }
  // A scrubbed body must be readable: ask for it uncompressed when a secret is injected.
  if (injected !== undefined) out['accept-encoding'] = 'identity';
  out['host'] = authority;
  if (injected !== undefined && injectName !== undefined) out[injectName] = injected;
  return out;
}

/** Response headers relayed to the agent: no hop-by-hop fields, no cookies (a session the
 *  injected credential opened belongs to Errand, K3), no header that pretends to be Errand's, and
 *  the injected secret scrubbed from every value (F3). */
export function agentResponseHeaders(
  headers: UpstreamResponse['headers'],
  patterns: readonly string[],
): Record<string, string | string[]> {
  return relayHeaders(
    headers,
    OMITTED_ANSWER_HEADERS,
    patterns.length === 0 ? undefined : (value) => scrubText(value, patterns),
  );
}
