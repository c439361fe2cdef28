// Keys for signed manifests. A key pins its algorithm: the JWS header never chooses how it is
// verified (RFC 8725 §3.1). Accepted: EC P-256 (ES256), EC P-384 (ES384), Ed25519 (EdDSA), RSA of
// at least 2048 bits (PS256, RS256). Symmetric keys are refused: whoever can verify with a shared
// secret can also sign, and HMAC with a public key as the secret is the classic confusion attack.

import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ErrandError } from '../errors.ts';
import { parseJsonSource } from './json-source.ts';

export const ALLOWED_ALGORITHMS = ['ES256', 'ES384', 'EdDSA', 'PS256', 'RS256'] as const;
export type JwsAlgorithm = (typeof ALLOWED_ALGORITHMS)[number];

/** Smallest RSA modulus accepted (NIST SP 800-131A). */
export const MIN_RSA_BITS = 2048;
/** Bound on the number of keys in a trusted key set. */
export const MAX_TRUSTED_KEYS = 16;

export interface VerifyKey {
  readonly kid?: string;
  readonly key: KeyObject;
  /** The algorithms this key may verify; the JWS header must name one of them. */
  readonly algorithms: readonly JwsAlgorithm[];
}

/** The keys a verifier trusts: one key, or a set told apart by `kid`. */
export interface TrustKey {
  readonly keys: readonly VerifyKey[];
}

export interface SigningKey {
  readonly kid?: string;
  readonly key: KeyObject;
  readonly algorithms: readonly JwsAlgorithm[];
}

const keyError = (detail: string): ErrandError => new ErrandError('ERR_JWS_KEY', detail);

/** The algorithms a key type allows, or an error naming why the key is refused. */
export function algorithmsFor(key: KeyObject): readonly JwsAlgorithm[] {
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'ec':
      if (details.namedCurve === 'prime256v1') return ['ES256'];
      if (details.namedCurve === 'secp384r1') return ['ES384'];
      throw keyError(`EC curve ${details.namedCurve ?? 'unknown'} is not accepted; use P-256 or P-384`);
    case 'ed25519':
      return ['EdDSA'];
    case 'rsa':
    case 'rsa-pss': {
      const bits = details.modulusLength ?? 0;
      if (bits < MIN_RSA_BITS)
        throw keyError(`RSA key of ${bits} bits; at least ${MIN_RSA_BITS} are required`);
      return key.asymmetricKeyType === 'rsa' ? ['PS256', 'RS256'] : ['PS256'];
    }
    default:
      throw keyError(
        `key type ${key.asymmetricKeyType ?? key.type} is not accepted; use EC P-256/P-384, Ed25519 or RSA >= 2048 bits`,
      );
  }
}

/** Narrow a key's algorithms to the one a JWK's `alg` names, if it names one. */
function narrow(algorithms: readonly JwsAlgorithm[], alg: unknown): readonly JwsAlgorithm[] {
  if (alg === undefined) return algorithms;
  if (typeof alg !== 'string' || !(algorithms as readonly string[]).includes(alg)) {
    throw keyError(
      `the JWK alg ${JSON.stringify(alg)} does not fit the key (allowed: ${algorithms.join(', ')})`,
    );
  }
  return [alg as JwsAlgorithm];
}

type Json = Readonly<Record<string, unknown>>;

/** Parse JSON strictly (duplicate members refused). Parser messages may quote the text, so a
 * private key's parse failure says only that it failed. */
function parseJson(text: string, what: string, quote: boolean): unknown {
  const parsed = parseJsonSource(text);
  if (!parsed.ok) {
    throw keyError(`${what} is not valid JSON${quote ? `: ${parsed.problems[0]!.message}` : ''}`);
  }
  return parsed.value;
}

function jwkToKey(
  jwk: Json,
  use: 'verify' | 'sign',
  where: string,
): { key: KeyObject; kid?: string; alg?: unknown } {
  if (jwk['kty'] === 'oct') {
    throw keyError(
      `${where}: symmetric (oct) keys are refused: a shared secret lets every verifier sign too`,
    );
  }
  if (jwk['use'] !== undefined && jwk['use'] !== 'sig') throw keyError(`${where}: the JWK use is not "sig"`);
  const ops = jwk['key_ops'];
  if (ops !== undefined && !(Array.isArray(ops) && ops.includes(use))) {
    throw keyError(`${where}: the JWK key_ops does not include "${use}"`);
  }
  const kid = jwk['kid'];
  if (kid !== undefined && typeof kid !== 'string') throw keyError(`${where}: the JWK kid is not a string`);
  const hasPrivate = jwk['d'] !== undefined;
  if (use === 'verify' && hasPrivate) {
    throw keyError(`${where}: this JWK holds a private key; give the verifier only the public key`);
  }
  if (use === 'sign' && !hasPrivate) throw keyError(`${where}: this JWK holds no private key (no "d")`);
  let key: KeyObject;
  try {
    // Only the key material members reach the importer.
    const material = Object.fromEntries(
      ['kty', 'crv', 'x', 'y', 'n', 'e', 'd', 'p', 'q', 'dp', 'dq', 'qi'].flatMap((k) =>
        jwk[k] !== undefined ? [[k, jwk[k]]] : [],
      ),
    );
    key =
      use === 'sign'
        ? createPrivateKey({ key: material, format: 'jwk' })
        : createPublicKey({ key: material, format: 'jwk' });
  } catch (error) {
    throw keyError(`${where}: the JWK cannot be imported (${(error as Error).message})`);
  }
  return { key, ...(kid !== undefined ? { kid } : {}), alg: jwk['alg'] };
}

/**
 * Parse a trusted key: a PEM public key (SPKI), a JWK, or a JWK Set (`{"keys": [...]}`). Throws
 * ERR_JWS_KEY with the reason when the key cannot be used.
 */
export function parseTrustKey(text: string): TrustKey {
  const trimmed = text.trim();
  if (trimmed.startsWith('-----BEGIN')) {
    if (/^-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(trimmed)) {
      throw keyError('this PEM holds a private key; give the verifier only the public key');
    }
    if (!trimmed.startsWith('-----BEGIN PUBLIC KEY-----')) {
      throw keyError('a PEM trust key must be a PUBLIC KEY (SPKI)');
    }
    let key: KeyObject;
    try {
      key = createPublicKey({ key: trimmed, format: 'pem' });
    } catch (error) {
      throw keyError(`the PEM public key cannot be read (${(error as Error).message})`);
    }
    return { keys: [{ key, algorithms: algorithmsFor(key) }] };
  }
  if (!trimmed.startsWith('{')) throw keyError('a trust key is a PEM public key, a JWK or a JWK Set');
  const json = parseJson(trimmed, 'the trust key', true) as Json;
  if (json === null || typeof json !== 'object' || Array.isArray(json))
    throw keyError('a JWK must be an object');
  const jwks = Array.isArray(json['keys']) ? (json['keys'] as unknown[]) : undefined;
  const members = jwks ?? [json];
  if (members.length === 0) throw keyError('the JWK Set has no keys');
  if (members.length > MAX_TRUSTED_KEYS) throw keyError(`the JWK Set has more than ${MAX_TRUSTED_KEYS} keys`);
  const keys = members.map((member, i): VerifyKey => {
    const where = jwks !== undefined ? `key ${i} of the JWK Set` : 'the JWK';
    if (member === null || typeof member !== 'object' || Array.isArray(member))
      throw keyError(`${where} is not an object`);
    const { key, kid, alg } = jwkToKey(member as Json, 'verify', where);
    return { key, algorithms: narrow(algorithmsFor(key), alg), ...(kid !== undefined ? { kid } : {}) };
  });
  if (keys.length > 1) {
    const kids = keys.map((k) => k.kid);
    if (kids.some((k) => k === undefined))
      throw keyError('every key of a JWK Set with several keys needs a kid');
    if (new Set(kids).size !== kids.length) throw keyError('two keys of the JWK Set share a kid');
  }
  return { keys };
}

/** Parse a private signing key: a PEM private key (PKCS#8, SEC1 or PKCS#1) or a private JWK. */
export function parseSigningKey(text: string): SigningKey {
  const trimmed = text.trim();
  if (trimmed.startsWith('-----BEGIN')) {
    if (!/^-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(trimmed))
      throw keyError('a signing key must be a PEM PRIVATE KEY');
    if (trimmed.startsWith('-----BEGIN ENCRYPTED PRIVATE KEY-----')) {
      throw keyError('encrypted private keys are not supported; decrypt it into a protected location first');
    }
    let key: KeyObject;
    try {
      key = createPrivateKey({ key: trimmed, format: 'pem' });
    } catch (error) {
      throw keyError(`the PEM private key cannot be read (${(error as Error).message})`);
    }
    return { key, algorithms: algorithmsFor(key) };
  }
  if (!trimmed.startsWith('{')) throw keyError('a signing key is a PEM private key or a private JWK');
  const json = parseJson(trimmed, 'the signing key', false) as Json;
  if (json === null || typeof json !== 'object' || Array.isArray(json) || Array.isArray(json['keys'])) {
    throw keyError('a signing key must be a single JWK object');
  }
  const { key, kid, alg } = jwkToKey(json, 'sign', 'the JWK');
  return { key, algorithms: narrow(algorithmsFor(key), alg), ...(kid !== undefined ? { kid } : {}) };
}

/** Bound on a key file: a JWK Set of a few RSA keys is a few KiB. */
export const MAX_KEY_FILE_BYTES = 64 * 1024;

/** Read a key file (I/O edge); unreadable files are ERR_JWS_KEY with the OS reason, never the content. */
export async function readKeyFile(path: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw keyError(`cannot read the key file (${(error as NodeJS.ErrnoException).code ?? 'unknown error'})`);
  }
  if (bytes.length > MAX_KEY_FILE_BYTES)
    throw keyError(`the key file is larger than ${MAX_KEY_FILE_BYTES} bytes`);
  return bytes.toString('utf8');
}
