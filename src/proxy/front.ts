import type { IncomingMessage } from 'node:http';
import type { Reason } from '../errors.ts';
import { LIMITS } from './limits.ts';
import type { Listener, NormalizedRequest } from './request.ts';

// The front turns Node's parsed request into the one NormalizedRequest, refusing anything two
// parsers could read differently (RFC 9112 §3, §6.3; SECURITY-CASES A1–A18, B5, D4, D6). Node's
// llhttp already refuses most framing tricks; the checks here cover what it lets through: HTTP/0.9
// and 1.0, duplicate headers, odd Transfer-Encoding values, fragments, bad percent-escapes.

export type FrontResult =
  | { readonly ok: true; readonly request: NormalizedRequest }
  | { readonly ok: false; readonly reason: Reason; readonly message: string };

const deny = (reason: Reason, message: string): FrontResult => ({ ok: false, reason, message });

// RFC 9110 §5.6.2 token.
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Methods Errand ever forwards; TRACE/TRACK/CONNECT-in-tunnel and WebDAV are refused (D10).
export const METHODS = new Set(['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'PATCH', 'OPTIONS']);
// Visible ASCII only in a request-target (RFC 9112 §3.2); '#' never (D4).
export const TARGET_CHARS = /^[\x21-\x7e]+$/;
export const BAD_ESCAPE = /%(?![0-9A-Fa-f]{2})/;
// RFC 3986 reg-name / IPv4 / bracketed IPv6, optional port without leading zeros.
const HOST_HEADER =
  /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?\.?))(?::([1-9][0-9]{0,4}))?$/;

/** True for C0 controls other than HTAB, and DEL (RFC 9110 §5.5 field-value). */
export function hasControl(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return true;
  }
  return false;
}

export interface FrontOptions {
  readonly id: string;
  readonly listener: Listener;
  /** Lower-case `host:port` values the agent may put in Host (endpoint mode: this listener's names). */
  readonly expectedAuthorities: ReadonlySet<string>;
  /** Scheme, host and port of the origin this listener stands for (endpoint mode: the upstream). */
  readonly origin: { readonly scheme: 'http' | 'https'; readonly host: string; readonly port: number };
}

export interface Authority {
  readonly host: string;
  readonly port: number | undefined;
}

/** Parses a Host header value (or CONNECT authority) strictly; lower-cases, strips one trailing dot. */
export function parseAuthority(value: string): Authority | undefined {
  const m = HOST_HEADER.exec(value);
  if (!m) return undefined;
  const port = m[3] === undefined ? undefined : Number(m[3]);
  if (port !== undefined && port > 65535) return undefined;
  const host = (m[1] ?? m[2] ?? '').toLowerCase().replace(/\.$/, '');
  if (host === '' || host.includes('..')) return undefined;
  return { host, port };
}

/** Decodes %XX escapes exactly once; undefined for invalid UTF-8 or NUL (D6). */
export function decodeOnce(text: string): string | undefined {
  try {
    const decoded = decodeURIComponent(text);
    return decoded.includes('\0') ? undefined : decoded;
  } catch {
    return undefined;
  }
}

/** Splits a raw query on '&' and the first '='; '+' stays a plus (AWS signs %20 for spaces). */
export function parseQuery(rawQuery: string): (readonly [string, string])[] | undefined {
  if (rawQuery === '') return [];
  const pairs: (readonly [string, string])[] = [];
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = decodeOnce(eq === -1 ? part : part.slice(0, eq));
    const value = decodeOnce(eq === -1 ? '' : part.slice(eq + 1));
    if (key === undefined || value === undefined || key === '') return undefined;
    pairs.push([key, value]);
  }
  return pairs;
}

/** Lower-case header map from rawHeaders, refusing any repeated name (A16: Node keeps the first Host
 *  but forwards both in rawHeaders; joining others hides the disagreement). */
export function headerMap(rawHeaders: readonly string[]): Map<string, string> | string {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    if (map.has(name)) return name;
    map.set(name, rawHeaders[i + 1]!);
  }
  return map;
}

/** S3 virtual-hosted addressing on a named endpoint (`bucket.localhost:4750` when the SDK's endpoint
 *  is http://localhost:4750): one extra leading label on a non-IP expected authority. The classifier
 *  then takes the bucket from it; it never chooses where the request goes. */
function isVirtualHostOf(hostKey: string, expected: ReadonlySet<string>): boolean {
  const dot = hostKey.indexOf('.');
  if (dot <= 0) return false;
  const rest = hostKey.slice(dot + 1);
  return expected.has(rest) && !/^[0-9.]+:/.test(rest) && !rest.startsWith('[');
}

/** The header checks every listener shares: no repeated name (A16), a bounded count, unambiguous
 *  framing (RFC 9112 §6.3: CL with TE, TE other than chunked, non-decimal CL), Expect only
 *  100-continue, and no control characters in values (A7). */
export function checkHeaderFraming(rawHeaders: readonly string[]): Map<string, string> | FrontResult {
  const headers = headerMap(rawHeaders);
  if (typeof headers === 'string')
    return deny('ambiguous_framing', `header ${headers} appears more than once`);
  if (headers.size > LIMITS.maxHeaderCount) return deny('header_too_large', 'too many header lines');
  const te = headers.get('transfer-encoding');
  if (te !== undefined) {
    if (headers.has('content-length'))
      return deny('ambiguous_framing', 'both Content-Length and Transfer-Encoding');
    if (te.toLowerCase() !== 'chunked')
      return deny('ambiguous_framing', 'Transfer-Encoding other than chunked');
  }
  const cl = headers.get('content-length');
  if (cl !== undefined && !/^[0-9]{1,15}$/.test(cl))
    return deny('ambiguous_framing', 'Content-Length is not a decimal number');
  const expect = headers.get('expect');
  if (expect !== undefined && expect.toLowerCase() !== '100-continue') {
    return deny('expectation_failed', 'only Expect: 100-continue is supported');
  }
  // The map's values are exactly the raw values (a repeated name was refused): no entry iterator.
  for (let i = 1; i < rawHeaders.length; i += 2) {
    if (hasControl(rawHeaders[i]!))
      return deny('malformed_request', `header ${rawHeaders[i - 1]!.toLowerCase()} has control characters`);
  }
  return headers;
}

export function normalizeRequest(req: IncomingMessage, opts: FrontOptions): FrontResult {
  // 1. Version: HTTP/1.1 only (A8: Node hands HTTP/0.9 and Host-less 1.0 to the handler).
  if (req.httpVersion !== '1.1')
    return deny('version_not_supported', `HTTP/${req.httpVersion} is not supported; use HTTP/1.1`);
  const method = req.method ?? '';
  if (!TOKEN.test(method) || !METHODS.has(method))
    return deny('malformed_request', `method ${method.slice(0, 16)} is not allowed`);

  // 2. Headers: no duplicates, bounded count, framing unambiguous.
  const headers = checkHeaderFraming(req.rawHeaders);
  if (!(headers instanceof Map)) return headers;
  if (headers.has('upgrade') || headers.has('http2-settings'))
    return deny('upgrade_denied', 'protocol upgrades are not granted');

  // 3. Host: required, well-formed, and one of this listener's names (E14, B5).
  const hostValue = headers.get('host');
  if (hostValue === undefined) return deny('bad_host', 'Host header is required');
  const authority = parseAuthority(hostValue);
  if (!authority) return deny('bad_host', 'Host header is not a valid authority');
  const hostKey = authority.port === undefined ? authority.host : `${authority.host}:${authority.port}`;
  if (!opts.expectedAuthorities.has(hostKey) && !isVirtualHostOf(hostKey, opts.expectedAuthorities)) {
    return deny('bad_host', `Host ${hostKey.slice(0, 100)} is not this endpoint`);
  }

  // 4. Request-target: origin-form only on the endpoint listener; no fragment, valid escapes.
  const target = req.url ?? '';
  if (target.length > LIMITS.maxUriBytes) return deny('uri_too_long', 'request-target is too long');
  if (!target.startsWith('/') || !TARGET_CHARS.test(target) || target.includes('#')) {
    return deny('malformed_request', 'request-target must be an origin-form path without a fragment');
  }
  const q = target.indexOf('?');
  const rawPath = q === -1 ? target : target.slice(0, q);
  const rawQuery = q === -1 ? '' : target.slice(q + 1);
  if (BAD_ESCAPE.test(rawPath) || BAD_ESCAPE.test(rawQuery))
    return deny('malformed_request', 'invalid percent-escape in the request-target');
  if (decodeOnce(rawPath) === undefined)
    return deny('malformed_request', 'the path does not decode to valid UTF-8');
  const query = parseQuery(rawQuery);
  if (query === undefined) return deny('malformed_request', 'the query does not decode to valid UTF-8');

  return {
    ok: true,
    request: Object.freeze({
      id: opts.id,
      listener: opts.listener,
      method,
      scheme: opts.origin.scheme,
      host: opts.origin.host,
      port: opts.origin.port,
      rawPath,
      rawQuery,
      query: Object.freeze(query),
      headers,
    }),
  };
}
