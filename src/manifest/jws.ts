// Signed manifests: a compact JWS (RFC 7515) whose payload is a JWT claims set (RFC 7519) carrying
// the manifest. Verification follows RFC 8725: the trusted key pins the algorithm, `none` and HMAC
// are never accepted, the token is explicitly typed, and every claim is checked. The header and the
// payload are parsed with a duplicate-refusing parser, so two JSON parsers cannot disagree on which
// `exp` or `aud` a token has. The embedded manifest then goes through the same loader checks.

import { ErrandError } from '../errors.ts';
import { checkManifestValue, type LoadResult, type ManifestChecker, type Problem } from './check.ts';
import { parseJsonSource } from './json-source.ts';
import { signJws, verifyJwsSignature } from './jws-crypto.ts';
import {
  ALLOWED_ALGORITHMS,
  type JwsAlgorithm,
  type SigningKey,
  type TrustKey,
  type VerifyKey,
} from './keys.ts';
import { MAX_MANIFEST_BYTES } from './positions.ts';
import { show } from './schema.ts';
import type { LoadedManifest } from './types.ts';

/** Explicit type of a signed manifest (RFC 8725 §3.11). */
export const JWS_TYP = 'errand-manifest+jwt';
export const DEFAULT_AUDIENCE = 'errand';
/** Tolerance for an issuer clock running ahead, applied to nbf and iat. exp gets none: it is the
 * task deadline, which Errand enforces to the second anyway. */
export const CLOCK_SKEW_SECONDS = 30;
/** Largest compact JWS accepted: a base64url manifest payload plus header and signature. */
export const MAX_JWS_CHARS = Math.ceil((MAX_MANIFEST_BYTES * 4) / 3) + 4096;

const HEADER_PARAMETERS: ReadonlySet<string> = new Set(['alg', 'typ', 'kid']);
/** Headers that carry or point at a key: trusting them lets the token choose its own verifier. */
const EMBEDDED_KEY_PARAMETERS = ['jwk', 'jku', 'x5u', 'x5c', 'x5t', 'x5t#S256'] as const;
const CLAIMS: ReadonlySet<string> = new Set([
  'iss',
  'sub',
  'aud',
  'iat',
  'nbf',
  'exp',
  'jti',
  'tid',
  'manifest',
]);
const COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const KID = /^[\x21-\x7e]{1,256}$/;

/** True when `text` looks like a compact JWS (three base64url parts), not YAML or JSON. */
export const isCompactJws = (text: string): boolean => {
  const trimmed = text.trim();
  return trimmed.length <= MAX_JWS_CHARS && COMPACT.test(trimmed);
};

class JwsProblem extends Error {
  readonly problem: Problem;
  constructor(code: Problem['code'], message: string, path = '', fix?: string) {
    super(message);
    this.problem = { code, path, line: 1, column: 1, message, ...(fix !== undefined ? { fix } : {}) };
  }
}

/** Decode one base64url part strictly: canonical encoding, valid UTF-8. */
function decodePart(part: string, what: string): { bytes: Uint8Array; text: string } {
  const bytes = Buffer.from(part, 'base64url');
  if (bytes.toString('base64url') !== part) {
    throw new JwsProblem('ERR_JWS_MALFORMED', `the ${what} is not canonical base64url`);
  }
  try {
    return { bytes, text: new TextDecoder('utf-8', { fatal: true }).decode(bytes) };
  } catch {
    throw new JwsProblem('ERR_JWS_MALFORMED', `the ${what} is not UTF-8`);
  }
}

/** Parse JSON with duplicate members refused; also require JSON.parse to agree it is JSON. */
function parseJsonStrict(text: string, what: string) {
  const parsed = parseJsonSource(text);
  if (!parsed.ok) {
    const duplicate = parsed.problems.find((p) => p.message.startsWith('duplicate key'));
    if (duplicate !== undefined) {
      throw new JwsProblem(
        'ERR_JWS_DUPLICATE',
        `the ${what} repeats a member (column ${duplicate.position.column}); parsers disagree on which one counts`,
      );
    }
    const first = parsed.problems[0]!;
    throw new JwsProblem(
      first.code === 'ERR_MANIFEST_TOO_LARGE' ? 'ERR_MANIFEST_TOO_LARGE' : 'ERR_JWS_MALFORMED',
      `the ${what} is not valid JSON: ${first.message}`,
    );
  }
  try {
    JSON.parse(text);
  } catch {
    throw new JwsProblem('ERR_JWS_MALFORMED', `the ${what} is not valid JSON`);
  }
  const value = parsed.value;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new JwsProblem('ERR_JWS_MALFORMED', `the ${what} is not a JSON object`);
  }
  return { value: value as Readonly<Record<string, unknown>>, locate: parsed.locate };
}

/** typ compares case-insensitively and may omit "application/" (RFC 7515 §4.1.9). */
const isManifestTyp = (typ: unknown): boolean =>
  typeof typ === 'string' && typ.toLowerCase().replace(/^application\//, '') === JWS_TYP;

function checkHeader(header: Readonly<Record<string, unknown>>): { alg: JwsAlgorithm; kid?: string } {
  const alg = header['alg'];
  if (typeof alg !== 'string') throw new JwsProblem('ERR_JWS_ALG_NOT_ALLOWED', 'the JWS header has no alg');
  if (alg.toLowerCase() === 'none') {
    throw new JwsProblem(
      'ERR_JWS_ALG_NOT_ALLOWED',
      `alg ${show(alg)} means unsigned; a manifest must be signed`,
    );
  }
  if (/^HS\d+$/i.test(alg)) {
    throw new JwsProblem(
      'ERR_JWS_ALG_NOT_ALLOWED',
      `alg ${show(alg)} (HMAC) is refused: a public key must never serve as a shared secret`,
      '',
      `sign with one of ${ALLOWED_ALGORITHMS.join(', ')}`,
    );
  }
  if (!(ALLOWED_ALGORITHMS as readonly string[]).includes(alg)) {
    throw new JwsProblem(
      'ERR_JWS_ALG_NOT_ALLOWED',
      `alg ${show(alg)} is not allowed`,
      '',
      `sign with one of ${ALLOWED_ALGORITHMS.join(', ')}`,
    );
  }
  const embedded = EMBEDDED_KEY_PARAMETERS.filter((p) => Object.hasOwn(header, p));
  if (embedded.length > 0) {
    throw new JwsProblem(
      'ERR_JWS_EMBEDDED_KEY',
      `the JWS header carries ${embedded.join(', ')}; only the configured trust key may verify a manifest`,
      '',
      'remove the key headers; identify the key with kid',
    );
  }
  if (Object.hasOwn(header, 'crit')) {
    throw new JwsProblem(
      'ERR_JWS_CRIT',
      `the JWS marks ${show(header['crit'])} critical; Errand understands no JWS extensions (RFC 7515 §4.1.11)`,
    );
  }
  if (!isManifestTyp(header['typ'])) {
    throw new JwsProblem(
      'ERR_JWS_TYP',
      header['typ'] === undefined
        ? 'the JWS header has no typ'
        : `typ ${show(header['typ'])} is not ${JWS_TYP}`,
      '',
      `sign with typ: ${JWS_TYP}`,
    );
  }
  const unknown = Object.keys(header).filter((k) => !HEADER_PARAMETERS.has(k));
  if (unknown.length > 0) {
    throw new JwsProblem(
      'ERR_JWS_MALFORMED',
      `unsupported JWS header parameter(s): ${unknown.map((k) => show(k)).join(', ')}`,
    );
  }
  const kid = header['kid'];
  if (kid !== undefined && (typeof kid !== 'string' || !KID.test(kid))) {
    throw new JwsProblem('ERR_JWS_MALFORMED', 'the JWS kid must be 1-256 printable ASCII characters');
  }
  return { alg: alg as JwsAlgorithm, ...(kid !== undefined ? { kid: kid as string } : {}) };
}

/** The key a JWS names; a kid only ever selects among configured keys, it is never a path or URL. */
function selectKey(trustKey: TrustKey, alg: JwsAlgorithm, kid: string | undefined): VerifyKey {
  let key: VerifyKey | undefined;
  if (kid !== undefined && trustKey.keys.some((k) => k.kid !== undefined)) {
    key = trustKey.keys.find((k) => k.kid === kid);
    if (key === undefined) throw new JwsProblem('ERR_JWS_KEY', `no trusted key has kid ${show(kid)}`);
  } else if (trustKey.keys.length === 1) {
    key = trustKey.keys[0]!;
  } else {
    throw new JwsProblem(
      'ERR_JWS_KEY',
      `the JWS has no kid and ${trustKey.keys.length} keys are trusted`,
      '',
      'sign with a kid',
    );
  }
  if (!key.algorithms.includes(alg)) {
    throw new JwsProblem(
      'ERR_JWS_ALG_NOT_ALLOWED',
      `alg ${alg} does not fit the trusted key, which verifies only ${key.algorithms.join(', ')}`,
    );
  }
  return key;
}

export interface VerifyManifestOptions {
  readonly trustKey: TrustKey;
  /** The audience this Errand is (default "errand"). */
  readonly audience: string;
  /** Current time, epoch milliseconds. */
  readonly now: number;
  /** When set, the iss claim must equal it. */
  readonly issuer?: string;
  readonly checker?: ManifestChecker;
}

/** Verify a compact JWS and load the manifest inside. Never throws on bad input: problems are returned. */
export async function loadManifestJws(jws: string, opts: VerifyManifestOptions): Promise<LoadResult> {
  try {
    return await verifyAndLoad(jws, opts);
  } catch (error) {
    if (error instanceof JwsProblem) return { ok: false, problems: [error.problem] };
    throw error;
  }
}

/** Verify a compact JWS and return the loaded manifest; throws ErrandError with every problem. */
export async function verifyManifestJws(jws: string, opts: VerifyManifestOptions): Promise<LoadedManifest> {
  const result = await loadManifestJws(jws, opts);
  if (!result.ok) {
    const detail = result.problems.map((p) => `${p.path === '' ? '' : `${p.path}: `}${p.message}`).join('; ');
    throw new ErrandError(result.problems[0]!.code, detail);
  }
  return result.loaded;
}

async function verifyAndLoad(jws: string, opts: VerifyManifestOptions): Promise<LoadResult> {
  // 1. Shape: three base64url parts, bounded.
  if (jws.length > MAX_JWS_CHARS) {
    throw new JwsProblem(
      'ERR_MANIFEST_TOO_LARGE',
      `the JWS is ${jws.length} characters; the limit is ${MAX_JWS_CHARS}`,
    );
  }
  if (!COMPACT.test(jws)) {
    throw new JwsProblem(
      'ERR_JWS_MALFORMED',
      'expected three base64url parts separated by dots (header.payload.signature)',
    );
  }
  const [headerPart, payloadPart, signaturePart] = jws.split('.') as [string, string, string];

  // 2. Header, checked before any key is touched.
  const header = parseJsonStrict(decodePart(headerPart, 'JWS header').text, 'JWS header').value;
  const { alg, kid } = checkHeader(header);
  const key = selectKey(opts.trustKey, alg, kid);

  // 3. Signature, with the single algorithm the header named and the key allows, over the signing
  // input as sent (RFC 7515 §5.2); one signature has one encoding.
  const signature = Buffer.from(signaturePart, 'base64url');
  if (
    signature.toString('base64url') !== signaturePart ||
    !verifyJwsSignature(alg, key.key, jws.slice(0, headerPart.length + 1 + payloadPart.length), signature)
  ) {
    throw new JwsProblem('ERR_JWS_SIGNATURE', 'the signature does not verify with the trusted key');
  }

  // 4. Claims, from the verified bytes only.
  const { bytes: payloadBytes, text: payloadText } = decodePart(payloadPart, 'JWS payload');
  const { value: claims, locate } = parseJsonStrict(payloadText, 'JWS payload');
  const claim = (name: string) => (Object.hasOwn(claims, name) ? claims[name] : undefined);
  const unknown = Object.keys(claims).filter((k) => !CLAIMS.has(k));
  if (unknown.length > 0) {
    throw new JwsProblem(
      'ERR_JWS_CLAIMS',
      `unsupported claim(s): ${unknown.map((k) => show(k)).join(', ')}`,
      `/${unknown[0]}`,
    );
  }
  const nowSeconds = opts.now / 1000;
  const exp = claim('exp');
  if (exp === undefined) throw new JwsProblem('ERR_JWS_EXP', 'the payload has no exp claim', '/exp');
  if (typeof exp !== 'number' || !Number.isFinite(exp)) {
    throw new JwsProblem(
      'ERR_JWS_EXP',
      `exp is ${show(exp)}; it must be a NumericDate, seconds as a JSON number (RFC 7519 §2)`,
      '/exp',
    );
  }
  if (exp <= nowSeconds) {
    throw new JwsProblem('ERR_JWS_EXPIRED', `exp ${new Date(exp * 1000).toISOString()} has passed`, '/exp');
  }
  for (const name of ['nbf', 'iat'] as const) {
    const value = claim(name);
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value))) {
      throw new JwsProblem(
        'ERR_JWS_CLAIMS',
        `${name} is ${show(value)}; it must be a NumericDate`,
        `/${name}`,
      );
    }
  }
  const nbf = claim('nbf') as number | undefined;
  if (nbf !== undefined && nbf > nowSeconds + CLOCK_SKEW_SECONDS) {
    throw new JwsProblem(
      'ERR_JWS_NOT_YET_VALID',
      `nbf ${new Date(nbf * 1000).toISOString()} is in the future`,
      '/nbf',
    );
  }
  const iat = claim('iat') as number | undefined;
  if (iat !== undefined && iat > nowSeconds + CLOCK_SKEW_SECONDS) {
    throw new JwsProblem(
      'ERR_JWS_CLAIMS',
      `iat ${new Date(iat * 1000).toISOString()} is in the future`,
      '/iat',
    );
  }
  const aud = claim('aud');
  const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : undefined;
  if (audiences === undefined || audiences.length === 0 || audiences.some((a) => typeof a !== 'string')) {
    throw new JwsProblem(
      'ERR_JWS_AUDIENCE',
      'the aud claim is missing or not a string (or list of strings)',
      '/aud',
    );
  }
  if (!audiences.includes(opts.audience)) {
    throw new JwsProblem(
      'ERR_JWS_AUDIENCE',
      `the manifest is for ${audiences.map((a) => show(a)).join(', ')}, not ${show(opts.audience)}`,
      '/aud',
    );
  }
  const iss = claim('iss');
  if (iss !== undefined && typeof iss !== 'string')
    throw new JwsProblem('ERR_JWS_CLAIMS', 'iss is not a string', '/iss');
  if (opts.issuer !== undefined && iss !== opts.issuer) {
    throw new JwsProblem(
      'ERR_JWS_CLAIMS',
      `iss ${show(iss)} is not the trusted issuer ${show(opts.issuer)}`,
      '/iss',
    );
  }
  for (const name of ['sub', 'jti'] as const) {
    const value = claim(name);
    if (value !== undefined && (typeof value !== 'string' || value.length > 256)) {
      throw new JwsProblem(
        'ERR_JWS_CLAIMS',
        `${name} must be a string of at most 256 characters`,
        `/${name}`,
      );
    }
  }
  const manifest = claim('manifest');
  if (manifest === null || typeof manifest !== 'object' || Array.isArray(manifest)) {
    throw new JwsProblem('ERR_JWS_CLAIMS', 'the payload has no manifest object', '/manifest');
  }
  const tid = claim('tid');
  if (typeof tid !== 'string')
    throw new JwsProblem('ERR_JWS_CLAIMS', 'the payload has no tid (task id) claim', '/tid');
  const taskId = (manifest as { task?: { id?: unknown } }).task?.id;
  if (tid !== taskId) {
    throw new JwsProblem(
      'ERR_JWS_TASK_MISMATCH',
      `tid ${show(tid)} is not the manifest task id ${show(taskId)}`,
      '/tid',
    );
  }

  // 5. The manifest, through the same checks as an unsigned one.
  const result = checkManifestValue(manifest, (path, at) => locate(`/manifest${path}`, at), {
    now: opts.now,
    bytes: payloadBytes,
    signed: true,
    ...(opts.checker !== undefined ? { checker: opts.checker } : {}),
  });
  if (result.ok && result.loaded.expiresAtMs / 1000 !== exp) {
    throw new JwsProblem(
      'ERR_JWS_CLAIMS',
      `exp ${exp} is not the manifest deadline task.expiresAt ${result.loaded.manifest.task.expiresAt} (${result.loaded.expiresAtMs / 1000})`,
      '/exp',
    );
  }
  return result;
}

export interface SignManifestOptions {
  readonly key: SigningKey;
  /** Issue time, epoch milliseconds. */
  readonly now: number;
  readonly audience?: string;
  /** Defaults to the first algorithm the key allows. */
  readonly alg?: JwsAlgorithm;
  readonly issuer?: string;
  readonly jti?: string;
  /** Not-before, epoch milliseconds. */
  readonly notBefore?: number;
}

/** Sign a loaded manifest (its source form travels in the `manifest` claim). Returns a compact JWS. */
export async function signManifest(
  loaded: Extract<LoadResult, { ok: true }>,
  opts: SignManifestOptions,
): Promise<string> {
  const alg = opts.alg ?? opts.key.algorithms[0]!;
  if (!opts.key.algorithms.includes(alg)) {
    throw new ErrandError(
      'ERR_JWS_KEY',
      `alg ${alg} does not fit this key (it signs ${opts.key.algorithms.join(', ')})`,
    );
  }
  const { $schema: _ignored, ...manifest } = loaded.source;
  const claims = {
    ...(opts.issuer !== undefined ? { iss: opts.issuer } : {}),
    aud: opts.audience ?? DEFAULT_AUDIENCE,
    iat: Math.floor(opts.now / 1000),
    ...(opts.notBefore !== undefined ? { nbf: Math.floor(opts.notBefore / 1000) } : {}),
    exp: loaded.loaded.expiresAtMs / 1000,
    ...(opts.jti !== undefined ? { jti: opts.jti } : {}),
    tid: loaded.loaded.manifest.task.id,
    manifest,
  };
  const header = { alg, typ: JWS_TYP, ...(opts.key.kid !== undefined ? { kid: opts.key.kid } : {}) };
  const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  return `${input}.${signJws(alg, opts.key.key, input).toString('base64url')}`;
}
