// SigV4 signing of the one request Errand decided to send, from values only.
//
// What is signed is what is sent: the caller gives the exact header set (lower-case) and the path
// in its canonical encoding; this module refuses anything it would have to rewrite or could not
// sign byte for byte, adds only the headers SigV4 itself needs (host, x-amz-date,
// x-amz-security-token, x-amz-content-sha256, authorization) and returns the path and query string
// to send. Canonicalization comes from @smithy/signature-v4 (the SDK's own code), driven with
// `uriEscapePath: false` for S3, as the S3 client does; key derivation and the signature are done
// here so the derived keys live in an object Errand owns and can wipe (the SDK keeps them in a
// module-level cache).
//
// References: AWS IAM User Guide, "Create a signed AWS API request" (canonical request, string to
// sign, signing key); Amazon S3 API Reference, "Signature Calculations for the Authorization Header"
// (S3 paths are not normalized and are encoded once; x-amz-content-sha256 is required).

import { createHmac, createSecretKey, hash, type KeyObject } from 'node:crypto';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { getCanonicalHeaders, SignatureV4Base } from '@smithy/signature-v4';
import { LRUCache } from 'lru-cache';
import { sortNames } from '../classify/sort-names.ts';
import { ErrandError } from '../errors.ts';
import { type ChunkSigning, EMPTY_SHA256 } from './aws-chunked.ts';

export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  readonly expiration?: Date;
}

export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
export const STREAMING_UNSIGNED_TRAILER = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';
export const STREAMING_SIGNED = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD';
export const STREAMING_SIGNED_TRAILER = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER';

const ALGORITHM = 'AWS4-HMAC-SHA256';
const HEX_SHA256 = /^[0-9a-f]{64}$/;

/** Services whose SDK client signs with uriEscapePath=false: the path is used as sent, neither
 *  normalized nor encoded a second time (S3 API Reference, SigV4 "canonical URI" for S3). */
const UNESCAPED_PATH_SERVICES: ReadonlySet<string> = new Set(['s3', 's3-object-lambda', 's3-outposts']);

const signError = (detail: string): ErrandError => new ErrandError('ERR_SIGN_INPUT', detail);

// ---- AWS URI encoding ----

// RFC 3986 §2.3 unreserved characters stay; every other byte of the UTF-8 form becomes %XX with
// upper-case hex (SigV4 "UriEncode"). `keep` names characters that stay literal as well ('/').
const UNRESERVED = /[A-Za-z0-9\-._~]/;

const encodeBytes = (bytes: Uint8Array, keep: string): string => {
  let out = '';
  for (const byte of bytes) {
    const c = String.fromCharCode(byte);
    out +=
      byte < 0x80 && (UNRESERVED.test(c) || keep.includes(c))
        ? c
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
};

const utf8 = (decoded: string | Uint8Array): Uint8Array => {
  if (typeof decoded !== 'string') return decoded;
  if (!decoded.isWellFormed()) throw signError('a URI component is not well-formed Unicode');
  return Buffer.from(decoded, 'utf8');
};

/** One decoded path segment (or query key/value) in AWS's URI encoding: '/' is encoded too. */
export function awsEncodePathSegment(decoded: string | Uint8Array): string {
  return encodeBytes(utf8(decoded), '');
}

/** A decoded S3 object key (or bucket/key path) in AWS's URI encoding, '/' kept as the separator. */
export function awsEncodeS3Key(decoded: string | Uint8Array): string {
  return encodeBytes(utf8(decoded), '/');
}

/** The query string to send for decoded pairs, in the given order, each part AWS-encoded. A pair
 *  with an empty value is sent as `key=`, which AWS reads as the same parameter as `key`. */
export function awsEncodeQuery(pairs: readonly (readonly [string, string])[]): string {
  return pairs.map(([k, v]) => `${awsEncodePathSegment(k)}=${awsEncodePathSegment(v)}`).join('&');
}

// ---- signing keys ----

const hmac = (key: Uint8Array | string, data: string): Buffer =>
  createHmac('sha256', key).update(data).digest();

/** kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")
 *  (IAM User Guide, "Derive a signing key"). The intermediate keys are overwritten once used. */
export function deriveSigningKey(
  credentials: AwsCredentials,
  shortDate: string,
  region: string,
  service: string,
): Buffer {
  const kDate = hmac(`AWS4${credentials.secretAccessKey}`, shortDate);
  const kRegion = hmac(kDate, region);
  const kService = hmac(kRegion, service);
  const kSigning = hmac(kService, 'aws4_request');
  kDate.fill(0);
  kRegion.fill(0);
  kService.fill(0);
  return kSigning;
}

/** A derived signing key, as bytes (wiped with the cache; the chunk signer's key) and as a
 *  KeyObject for the request signature: since Node 24.18 HMAC runs on OpenSSL's EVP_MAC, and
 *  importing raw key bytes costs about 11 µs per createHmac, a KeyObject about 0.4 µs. */
export interface SigningKey {
  readonly bytes: Buffer;
  readonly object: KeyObject;
}

/** The derived signing keys of ONE set of credentials, per (date, region, service). Owned by the
 *  STS session that holds those credentials and wiped with it: `wipe()` overwrites every key's
 *  bytes with zeros and drops its KeyObject, so a chunk signer still holding the bytes signs
 *  nothing valid afterwards and no request is signed with the KeyObject (it is reached only
 *  through this cache, which refuses once wiped). */
export class SigningKeyCache {
  readonly #credentials: AwsCredentials;
  readonly #keys: LRUCache<string, SigningKey>;
  #wiped = false;

  constructor(credentials: AwsCredentials, max = 16) {
    this.#credentials = credentials;
    // Evicted keys are not zeroed: a long upload may still be signing chunks with one.
    this.#keys = new LRUCache<string, SigningKey>({ max });
  }

  /** The signing key for these credentials; refuses other credentials and a wiped cache. */
  keyFor(credentials: AwsCredentials, shortDate: string, region: string, service: string): Buffer {
    return this.signingKeyFor(credentials, shortDate, region, service).bytes;
  }

  /** The signing key in both forms; refuses other credentials and a wiped cache. */
  signingKeyFor(credentials: AwsCredentials, shortDate: string, region: string, service: string): SigningKey {
    if (this.#wiped) throw new ErrandError('ERR_CREDENTIALS_WIPED');
    if (credentials !== this.#credentials)
      throw signError('the signing key cache belongs to other credentials');
    const id = `${shortDate}/${region}/${service}`;
    const cached = this.#keys.get(id);
    if (cached !== undefined) return cached;
    const bytes = deriveSigningKey(credentials, shortDate, region, service);
    const key = { bytes, object: createSecretKey(bytes) };
    this.#keys.set(id, key);
    return key;
  }

  get size(): number {
    return this.#keys.size;
  }

  wipe(): void {
    for (const key of this.#keys.values()) key.bytes.fill(0);
    this.#keys.clear();
    this.#wiped = true;
  }
}

// ---- canonical request (smithy) and signature ----

// Exposes the SDK's canonicalization (SignatureV4Base.createCanonicalRequest, which applies
// uriEscapePath) without its credential handling: no credentials ever reach this object.
class Canonicalizer extends SignatureV4Base {
  constructor(service: string, region: string, uriEscapePath: boolean) {
    super({
      service,
      region,
      uriEscapePath,
      applyChecksum: false,
      sha256: Hash.bind(null, 'sha256'),
      credentials: { accessKeyId: '', secretAccessKey: '' },
    });
  }
  canonicalRequest(request: HttpRequest, headers: Record<string, string>, payloadHash: string): string {
    return this.createCanonicalRequest(request, headers, payloadHash);
  }
}

// createCanonicalRequest reads only uriEscapePath (service and region are not in the canonical
// request): two instances serve every request, instead of one constructed per request. Frozen:
// they hold no state that changes.
const ESCAPING_CANONICALIZER = Object.freeze(new Canonicalizer('', '', true));
const VERBATIM_CANONICALIZER = Object.freeze(new Canonicalizer('', '', false));

export interface CanonicalInput {
  readonly method: string;
  readonly path: string;
  readonly query: readonly (readonly [string, string])[];
  /** Every header to sign, lower-case names, including host and x-amz-date. */
  readonly headers: Readonly<Record<string, string>>;
  readonly service: string;
  readonly region: string;
  readonly payloadHash: string;
  /** x-amz-date form, e.g. 20150830T123600Z. */
  readonly amzDate: string;
  readonly key: Uint8Array | KeyObject;
}

export interface Signature {
  readonly signature: string;
  readonly signedHeaders: string;
  readonly scope: string;
  readonly canonicalRequest: string;
}

const queryRecord = (pairs: readonly (readonly [string, string])[]): Record<string, string | string[]> => {
  const record: Record<string, string | string[]> = Object.create(null);
  for (const [k, v] of pairs) {
    const seen = record[k];
    record[k] = seen === undefined ? v : Array.isArray(seen) ? [...seen, v] : [seen, v];
  }
  return record;
};

/** The SigV4 signature of a fully specified request: the step both signAwsRequest and the
 *  official test vectors go through. Pure: no clock, no credentials beyond the derived key. */
export function computeSignature(input: CanonicalInput): Signature {
  const request = new HttpRequest({
    method: input.method,
    path: input.path,
    query: queryRecord(input.query),
    // Read, never written, by the two smithy steps below: the caller's object, not a copy.
    headers: input.headers as Record<string, string>,
  });
  const names = Object.keys(input.headers);
  // An explicit allowlist: smithy would otherwise leave out user-agent, expect and friends, and
  // sign exactly what it is given; here every given header is signed and nothing else.
  const canonicalHeaders = getCanonicalHeaders(request, new Set(), new Set(names));
  const canonicalizer = UNESCAPED_PATH_SERVICES.has(input.service)
    ? VERBATIM_CANONICALIZER
    : ESCAPING_CANONICALIZER;
  const canonicalRequest = canonicalizer.canonicalRequest(request, canonicalHeaders, input.payloadHash);
  const scope = `${input.amzDate.slice(0, 8)}/${input.region}/${input.service}/aws4_request`;
  // One-shot digest: no Hash object per request (crypto.hash, Node 21.7).
  const stringToSign = `${ALGORITHM}\n${input.amzDate}\n${scope}\n${hash('sha256', canonicalRequest, 'hex')}`;
  return {
    signature: createHmac('sha256', input.key).update(stringToSign).digest('hex'),
    signedHeaders: sortNames(Object.keys(canonicalHeaders)).join(';'),
    scope,
    canonicalRequest,
  };
}

// ---- the request signer ----

export interface SignAwsInput {
  readonly method: string;
  readonly protocol: 'http:' | 'https:';
  readonly hostname: string;
  readonly port?: number;
  /** Already canonically encoded (awsEncodeS3Key / awsEncodePathSegment); sent as-is. */
  readonly path: string;
  /** Decoded pairs, in the order to send. */
  readonly query: readonly (readonly [string, string])[];
  /** The exact set to sign and send, lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
  readonly service: string;
  readonly region: string;
  /** Hex sha256 of the body, or one of the x-amz-content-sha256 keywords. */
  readonly payloadHash: string;
  readonly credentials: AwsCredentials;
  readonly now: Date;
  /** The session's signing-key cache; without it a key is derived for this request alone. */
  readonly signingKeys?: SigningKeyCache;
}

export interface SignedAwsRequest {
  /** Every header to send, lower-case, sorted: the input set plus host, x-amz-date,
   *  x-amz-security-token (with session credentials), x-amz-content-sha256 and authorization. */
  readonly headers: Readonly<Record<string, string>>;
  readonly path: string;
  /** Without '?'; '' when there is no query. */
  readonly querystring: string;
  readonly signature: string;
  readonly amzDate: string;
  readonly scope: string;
  /** For STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]: what the chunk encoder chains from. */
  readonly chunkSigning?: ChunkSigning;
}

// RFC 9110 §5.1 field-name token, lower-case only (the caller normalized names).
const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
// RFC 9110 §5.5 field-value: visible characters, SP, HTAB and obs-text; never CR, LF or NUL.
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
// Set here from the credentials and the clock; a caller-supplied value would be ambiguous.
const GENERATED = new Set(['authorization', 'x-amz-date', 'x-amz-security-token', 'date']);
// Hop-by-hop fields (RFC 9110 §7.6.1) and Expect: a proxy may change them, so they are not signed.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authorization',
  'proxy-authenticate',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
]);
// Query authentication (presigned) parameters, SigV4 and SigV2: Errand never signs a URL.
const QUERY_AUTH = new Set([
  'x-amz-algorithm',
  'x-amz-credential',
  'x-amz-signature',
  'x-amz-security-token',
  'x-amz-date',
  'x-amz-signedheaders',
  'x-amz-expires',
  'awsaccesskeyid',
  'signature',
]);
const PAYLOAD_KEYWORDS = new Set([
  UNSIGNED_PAYLOAD,
  STREAMING_UNSIGNED_TRAILER,
  STREAMING_SIGNED,
  STREAMING_SIGNED_TRAILER,
]);
const TOKEN = /^[A-Z]+$/;
const NAME = /^[a-z0-9-]{1,64}$/;
// RFC 3986 reg-name / IPv4 (lower-case), or an IPv6 literal without brackets.
const HOSTNAME = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
const IPV6 = /^[0-9a-f:.]+$/;
const CANONICAL_PATH = /^\/(?:[A-Za-z0-9\-._~/]|%[0-9A-F]{2})*$/;

const hostHeaderOf = (input: SignAwsInput): string => {
  const host = input.hostname.includes(':') ? `[${input.hostname}]` : input.hostname;
  const defaultPort = input.protocol === 'https:' ? 443 : 80;
  return input.port === undefined || input.port === defaultPort ? host : `${host}:${input.port}`;
};

// The path must already be in the form AWS computes from it, so the bytes sent are the bytes signed.
const checkPath = (path: string, escaped: boolean): void => {
  if (!CANONICAL_PATH.test(path)) throw signError('the path is not in canonical AWS URI encoding');
  // Most paths have no escape at all: no iterator and match objects for them.
  for (const m of path.includes('%') ? path.matchAll(/%([0-9A-F]{2})/g) : []) {
    const c = String.fromCharCode(Number.parseInt(m[1]!, 16));
    if (UNRESERVED.test(c)) throw signError('the path percent-encodes an unreserved character');
    // S3 reads %2F as '/', so a key with '/' is sent with '/' (what the S3 client does).
    if (!escaped && c === '/') throw signError('an S3 path sends / literally, not as %2F');
  }
  if (escaped) {
    // Other services normalize the path before signing (RFC 3986 §5.2.4); a path that
    // normalization would change is refused instead of being signed for a different path.
    const segments = path.slice(1).split('/');
    segments.forEach((s, i) => {
      if (s === '.' || s === '..') throw signError('the path has a dot segment');
      if (s === '' && i < segments.length - 1) throw signError('the path has an empty segment');
    });
  }
};

const checkInput = (input: SignAwsInput, host: string): void => {
  if (!TOKEN.test(input.method)) throw signError('the method is not an upper-case token');
  if (input.protocol !== 'https:' && input.protocol !== 'http:')
    throw signError('the protocol is not http or https');
  if (!(HOSTNAME.test(input.hostname) || (input.hostname.includes(':') && IPV6.test(input.hostname)))) {
    throw signError('the hostname is not a lower-case host name or address');
  }
  if (input.port !== undefined && !(Number.isInteger(input.port) && input.port > 0 && input.port < 65536)) {
    throw signError('the port is out of range');
  }
  if (!NAME.test(input.service) || !NAME.test(input.region))
    throw signError('invalid service or region name');
  if (!(HEX_SHA256.test(input.payloadHash) || PAYLOAD_KEYWORDS.has(input.payloadHash))) {
    throw signError('the payload hash is neither a hex sha256 nor a payload keyword');
  }
  if (
    input.protocol === 'http:' &&
    (input.payloadHash === UNSIGNED_PAYLOAD || input.payloadHash === STREAMING_UNSIGNED_TRAILER)
  ) {
    throw signError('an unsigned payload is sent only over TLS');
  }
  checkPath(input.path, !UNESCAPED_PATH_SERVICES.has(input.service));
  for (const [name, value] of Object.entries(input.headers)) {
    if (!HEADER_NAME.test(name))
      throw signError(`header name ${JSON.stringify(name.slice(0, 64))} is invalid`);
    if (!HEADER_VALUE.test(value)) throw signError(`header ${name} has a control character`);
    if (GENERATED.has(name)) throw signError(`header ${name} is set by the signer`);
    if (HOP_BY_HOP.has(name)) throw signError(`header ${name} is hop-by-hop and is not signed`);
    if (name === 'host' && value !== host) throw signError('the host header differs from the hostname');
    if (name === 'x-amz-content-sha256' && value !== input.payloadHash) {
      throw signError('x-amz-content-sha256 differs from the payload hash');
    }
  }
  for (const [k, v] of input.query) {
    if (!k.isWellFormed() || !v.isWellFormed()) throw signError('a URI component is not well-formed Unicode');
    if (k === '') throw signError('a query parameter has an empty name');
    if (QUERY_AUTH.has(k.toLowerCase())) throw signError(`query parameter ${k} is query authentication`);
  }
  const { accessKeyId, secretAccessKey, sessionToken } = input.credentials;
  if (accessKeyId === '' || secretAccessKey === '' || sessionToken === '') {
    throw signError('the credentials are incomplete');
  }
  if (Number.isNaN(input.now.getTime())) throw signError('the signing time is invalid');
};

const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));

/** x-amz-date: ISO 8601 basic format, UTC, whole seconds. Built from the UTC fields (per request:
 *  toISOString and two regex replaces cost more than the rest of the date handling); a year outside
 *  four digits takes toISOString's extended form, as before. */
export const amzDateOf = (now: Date): string => {
  const year = now.getUTCFullYear();
  if (year < 1000 || year > 9999) {
    return now
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d{3}/, '');
  }
  return (
    `${year}${pad2(now.getUTCMonth() + 1)}${pad2(now.getUTCDate())}` +
    `T${pad2(now.getUTCHours())}${pad2(now.getUTCMinutes())}${pad2(now.getUTCSeconds())}Z`
  );
};

/** Signs one request. Throws ERR_SIGN_INPUT for input it would have to rewrite to sign. */
export function signAwsRequest(input: SignAwsInput): SignedAwsRequest {
  const host = hostHeaderOf(input);
  checkInput(input, host);
  const amzDate = amzDateOf(input.now);
  const headers: Record<string, string> = {
    ...input.headers,
    host,
    'x-amz-date': amzDate,
    'x-amz-content-sha256': input.payloadHash,
  };
  if (input.credentials.sessionToken !== undefined) {
    headers['x-amz-security-token'] = input.credentials.sessionToken;
  }
  const shortDate = amzDate.slice(0, 8);
  const cached = input.signingKeys?.signingKeyFor(input.credentials, shortDate, input.region, input.service);
  const key = cached?.bytes ?? deriveSigningKey(input.credentials, shortDate, input.region, input.service);
  const signed = computeSignature({
    method: input.method,
    path: input.path,
    query: input.query,
    headers,
    service: input.service,
    region: input.region,
    payloadHash: input.payloadHash,
    amzDate,
    key: cached?.object ?? key,
  });
  headers['authorization'] =
    `${ALGORITHM} Credential=${input.credentials.accessKeyId}/${signed.scope}, ` +
    `SignedHeaders=${signed.signedHeaders}, Signature=${signed.signature}`;
  const sorted: Record<string, string> = {};
  for (const name of sortNames(Object.keys(headers))) sorted[name] = headers[name]!;
  const streaming = input.payloadHash === STREAMING_SIGNED || input.payloadHash === STREAMING_SIGNED_TRAILER;
  return {
    headers: sorted,
    path: input.path,
    querystring: awsEncodeQuery(input.query),
    signature: signed.signature,
    amzDate,
    scope: signed.scope,
    ...(streaming
      ? { chunkSigning: { key, amzDate, scope: signed.scope, seedSignature: signed.signature } }
      : {}),
  };
}

// ---- payload modes ----

export type PayloadPlan =
  /** No body: the hash of the empty string. */
  | { readonly ok: true; readonly mode: 'empty'; readonly contentSha256: string }
  /** The agent declared the body's hex sha256; S3 checks the body against it. Body streamed as-is. */
  | { readonly ok: true; readonly mode: 'declared'; readonly contentSha256: string }
  /** No declaration (JSON and query protocols): the caller hashes its bounded, buffered body. */
  | { readonly ok: true; readonly mode: 'hash-body' }
  /** UNSIGNED-PAYLOAD over TLS: body streamed as-is. */
  | { readonly ok: true; readonly mode: 'unsigned'; readonly contentSha256: string }
  /** Errand frames the body itself (aws-chunked, x-amz-content-sha256 = contentSha256).
   *  `agentFraming` says whether the agent's body is aws-chunked (decode it first) or plain bytes;
   *  `signedChunks`: Errand signs every chunk from its seed; `trailer`: the checksum trailer the
   *  agent declared is carried over (signed when the chunks are). */
  | {
      readonly ok: true;
      readonly mode: 'aws-chunked';
      readonly contentSha256: string;
      readonly agentFraming: 'aws-chunked' | 'plain';
      readonly agentChunkSignatures: boolean;
      readonly agentTrailerSignature: boolean;
      readonly signedChunks: boolean;
      readonly trailer: boolean;
    }
  | { readonly ok: false; readonly code: 'ERR_AWS_PAYLOAD_MODE'; readonly message: string };

const refuse = (message: string): PayloadPlan => ({ ok: false, code: 'ERR_AWS_PAYLOAD_MODE', message });

/** How Errand sends the body, from the agent's x-amz-content-sha256 (undefined when absent), whether
 *  the upstream is TLS, and whether the request has a body. A decision value: refusals carry a reason. */
export function choosePayloadMode(
  agentContentSha256: string | undefined,
  upstreamIsTls: boolean,
  hasBody: boolean,
): PayloadPlan {
  const value = agentContentSha256;
  if (value === undefined) {
    return hasBody
      ? { ok: true, mode: 'hash-body' }
      : { ok: true, mode: 'empty', contentSha256: EMPTY_SHA256 };
  }
  if (HEX_SHA256.test(value)) {
    if (!hasBody && value !== EMPTY_SHA256) return refuse('the declared sha256 is not that of an empty body');
    return { ok: true, mode: 'declared', contentSha256: value };
  }
  if (value === UNSIGNED_PAYLOAD) {
    if (!hasBody) return { ok: true, mode: 'empty', contentSha256: EMPTY_SHA256 };
    if (upstreamIsTls) return { ok: true, mode: 'unsigned', contentSha256: UNSIGNED_PAYLOAD };
    // Plain http: nothing would protect the bytes on the wire, so Errand signs every chunk,
    // streaming (no buffering of the body to hash it).
    return chunked(STREAMING_SIGNED, 'plain', false, false, true, false);
  }
  const streaming: Record<string, [boolean, boolean]> = {
    [STREAMING_UNSIGNED_TRAILER]: [false, true],
    [STREAMING_SIGNED]: [true, false],
    [STREAMING_SIGNED_TRAILER]: [true, true],
  };
  const mode = streaming[value];
  if (mode === undefined) {
    return refuse('x-amz-content-sha256 is not a hex sha256 or a payload mode Errand supports');
  }
  if (!hasBody) return refuse('a streaming payload mode needs a body');
  const [agentSigned, trailer] = mode;
  if (!agentSigned && upstreamIsTls) {
    return chunked(STREAMING_UNSIGNED_TRAILER, 'aws-chunked', false, false, false, true);
  }
  return chunked(
    trailer ? STREAMING_SIGNED_TRAILER : STREAMING_SIGNED,
    'aws-chunked',
    agentSigned,
    agentSigned && trailer,
    true,
    trailer,
  );
}

const chunked = (
  contentSha256: string,
  agentFraming: 'aws-chunked' | 'plain',
  agentChunkSignatures: boolean,
  agentTrailerSignature: boolean,
  signedChunks: boolean,
  trailer: boolean,
): PayloadPlan => ({
  ok: true,
  mode: 'aws-chunked',
  contentSha256,
  agentFraming,
  agentChunkSignatures,
  agentTrailerSignature,
  signedChunks,
  trailer,
});
