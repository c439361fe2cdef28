import type { IncomingMessage } from 'node:http';
import type { Reason } from '../errors.ts';
import {
  BAD_ESCAPE,
  checkHeaderFraming,
  decodeOnce,
  type FrontResult,
  METHODS,
  parseAuthority,
  parseQuery,
  TARGET_CHARS,
  TOKEN,
} from './front.ts';
import { LIMITS } from './limits.ts';
import type { Listener, NormalizedRequest } from './request.ts';

// The front of the forward proxy and of intercepted tunnels: the same strictness as the endpoint
// front (RFC 9112 §3, §6.3), but the authority comes from the absolute-form request-target (RFC 9112
// §3.2.2) or from the CONNECT target of the tunnel the request arrived in, never from Host alone.
// A Host that disagrees with that authority is refused, not repaired (SECURITY-CASES B1, B7).

const deny = (reason: Reason, message: string): FrontResult => ({ ok: false, reason, message });

// TOKEN, METHODS (TRACE/TRACK echo injected secrets; CONNECT inside a tunnel, WebDAV and QUERY are
// refused whatever the manifest says, D10), TARGET_CHARS and BAD_ESCAPE are the endpoint front's.

export interface TunnelAuthority {
  readonly scheme: 'http' | 'https';
  readonly host: string;
  readonly port: number;
}

const defaultPort = (scheme: 'http' | 'https') => (scheme === 'https' ? 443 : 80);

/** `host[:port]` as written in a URL or Host header for this authority (default port omitted). */
export function formatAuthority(a: TunnelAuthority): string {
  const host = a.host.includes(':') ? `[${a.host}]` : a.host;
  return a.port === defaultPort(a.scheme) ? host : `${host}:${a.port}`;
}

/** Version, method, headers and framing: the checks every listener shares. */
function checkCommon(req: IncomingMessage): FrontResult | Map<string, string> {
  if (req.httpVersion !== '1.1')
    return deny('version_not_supported', `HTTP/${req.httpVersion} is not supported; use HTTP/1.1`);
  const method = req.method ?? '';
  if (!TOKEN.test(method)) return deny('malformed_request', 'the method is not a token');
  if (!METHODS.has(method)) {
    return deny(
      'not_in_manifest',
      method === 'TRACE' || method === 'TRACK'
        ? `${method} echoes the request, injected credentials included; it is never granted`
        : `method ${method.slice(0, 16)} is never granted`,
    );
  }
  return checkHeaderFraming(req.rawHeaders);
}

/** Splits and checks path and query of an origin-form target (or the path part of absolute-form). */
function splitTarget(
  target: string,
): { rawPath: string; rawQuery: string; query: (readonly [string, string])[] } | FrontResult {
  if (!target.startsWith('/') || !TARGET_CHARS.test(target) || target.includes('#'))
    return deny('malformed_request', 'the request-target must be a path without a fragment');
  // WHATWG URL reads a backslash as a slash; RFC 3986 does not allow it unencoded (D2).
  if (target.includes('\\'))
    return deny('malformed_request', 'a backslash is not allowed in the request-target');
  const q = target.indexOf('?');
  const rawPath = q === -1 ? target : target.slice(0, q);
  const rawQuery = q === -1 ? '' : target.slice(q + 1);
  if (BAD_ESCAPE.test(rawPath) || BAD_ESCAPE.test(rawQuery))
    return deny('malformed_request', 'invalid percent-escape in the request-target');
  if (decodeOnce(rawPath) === undefined)
    return deny('malformed_request', 'the path does not decode to valid UTF-8 without NUL');
  const query = parseQuery(rawQuery);
  if (query === undefined)
    return deny('malformed_request', 'the query does not decode to valid UTF-8 without NUL');
  return { rawPath, rawQuery, query };
}

/** The Host header must name exactly `authority` (RFC 9110 §7.2; B1, B7). */
function checkHost(
  headers: ReadonlyMap<string, string>,
  authority: TunnelAuthority,
  reason: Reason,
): FrontResult | undefined {
  const value = headers.get('host');
  if (value === undefined) return deny('bad_host', 'Host header is required');
  const parsed = parseAuthority(value);
  if (!parsed) return deny('bad_host', 'Host header is not a valid authority');
  const port = parsed.port ?? defaultPort(authority.scheme);
  if (parsed.host !== authority.host || port !== authority.port) {
    return deny(
      reason,
      `Host ${value.slice(0, 100)} is not ${formatAuthority(authority)}, the destination of this request`,
    );
  }
  return undefined;
}

const build = (
  id: string,
  listener: Listener,
  method: string,
  authority: TunnelAuthority,
  parts: { rawPath: string; rawQuery: string; query: (readonly [string, string])[] },
  headers: Map<string, string>,
): FrontResult => ({
  ok: true,
  request: Object.freeze({
    id,
    listener,
    method,
    scheme: authority.scheme,
    host: authority.host,
    port: authority.port,
    rawPath: parts.rawPath,
    rawQuery: parts.rawQuery,
    query: Object.freeze(parts.query),
    headers,
  }) satisfies NormalizedRequest,
});

/** A request on the forward-proxy listener: absolute-form `http://authority/path` only (RFC 9112
 *  §3.2.2). `https://` absolute-form is refused (B2: it would be sent in clear or re-routed). */
export function normalizeProxyRequest(req: IncomingMessage, id: string): FrontResult {
  const common = checkCommon(req);
  if (!(common instanceof Map)) return common;
  const target = req.url ?? '';
  if (target.length > LIMITS.maxUriBytes) return deny('uri_too_long', 'request-target is too long');
  if (target.startsWith('/')) {
    return deny(
      'malformed_request',
      'this is a proxy: send absolute-form requests (http://host/path), or CONNECT for https',
    );
  }
  const m = /^http:\/\/([^/?#]*)([/?][\s\S]*)?$/.exec(target);
  if (!m) {
    return deny(
      'malformed_request',
      /^https:\/\//i.test(target)
        ? 'https:// URLs go through CONNECT (set HTTPS_PROXY), never in clear through this listener'
        : 'the request-target must be an absolute http:// URL',
    );
  }
  if (m[1]!.includes('@')) return deny('bad_host', 'user information in the URL is not allowed');
  const parsed = parseAuthority(m[1]!);
  if (!parsed) return deny('bad_host', 'the URL authority is not a valid host[:port]');
  const authority: TunnelAuthority = { scheme: 'http', host: parsed.host, port: parsed.port ?? 80 };
  // RFC 9112 §3.2.1: an empty path is sent as "/".
  const rest = m[2] === undefined ? '/' : m[2].startsWith('?') ? `/${m[2]}` : m[2];
  const parts = splitTarget(rest);
  if ('ok' in parts) return parts;
  const host = checkHost(common, authority, 'bad_host');
  if (host) return host;
  return build(id, 'forward', req.method!, authority, parts, common);
}

/** A request inside a tunnel Errand terminated: origin-form, and Host must be the tunnel's
 *  authority (421 otherwise, RFC 9110 §15.5.20). Absolute-form naming the same authority is
 *  accepted (RFC 9112 §3.2.2); naming another is 421. */
export function normalizeTunnelRequest(
  req: IncomingMessage,
  id: string,
  listener: Listener,
  authority: TunnelAuthority,
): FrontResult {
  const common = checkCommon(req);
  if (!(common instanceof Map)) return common;
  let target = req.url ?? '';
  if (target.length > LIMITS.maxUriBytes) return deny('uri_too_long', 'request-target is too long');
  if (!target.startsWith('/')) {
    const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)([/?][\s\S]*)?$/.exec(target);
    const parsed = m ? parseAuthority(m[2]!) : undefined;
    const scheme = m?.[1]?.toLowerCase();
    if (
      !m ||
      !parsed ||
      scheme !== authority.scheme ||
      parsed.host !== authority.host ||
      (parsed.port ?? defaultPort(authority.scheme)) !== authority.port
    ) {
      return deny(
        'host_mismatch',
        `this connection is for ${formatAuthority(authority)}; the request names another destination`,
      );
    }
    target = m[3] === undefined ? '/' : m[3].startsWith('?') ? `/${m[3]}` : m[3];
  }
  const parts = splitTarget(target);
  if ('ok' in parts) return parts;
  const host = checkHost(common, authority, 'host_mismatch');
  if (host) return host;
  return build(id, listener, req.method!, authority, parts, common);
}
