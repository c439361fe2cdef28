// The files an OAuth grant names in the secrets directory: the user's token, Errand's workload
// identity token, and Errand's private key for private_key_jwt. Same rules as injected secrets: a
// small regular file, never a symlink (H3), named by the manifest and never by the agent. Errors
// name the file, never its content.

import { createPrivateKey, type KeyObject } from 'node:crypto';
import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrandError } from '../../errors.ts';
import type { ClientKey } from './token-exchange.ts';

/** Bound on a token or key file: a JWT from a large identity provider fits, a document does not. */
export const MAX_OAUTH_SECRET_BYTES = 16 * 1024;
// A token is one line of visible ASCII: it travels in a form field, never in a header as is.
const TOKEN_TEXT = /^[\x21-\x7e]+$/;

async function readSmallFile(dir: string, name: string): Promise<string> {
  const file = join(dir, name);
  try {
    const info = await lstat(file);
    if (!info.isFile() || info.size > MAX_OAUTH_SECRET_BYTES) throw new Error('not a small regular file');
    return await readFile(file, 'utf8');
  } catch {
    throw new ErrandError(
      'ERR_CONFIG',
      `secret ${name} is not a readable regular file of at most ${MAX_OAUTH_SECRET_BYTES} bytes in the secrets dir`,
    );
  }
}

/** A token file: one line of visible ASCII (a trailing newline is dropped). */
export async function readTokenFile(dir: string, name: string): Promise<string> {
  const value = (await readSmallFile(dir, name)).replace(/\r?\n$/, '');
  if (!TOKEN_TEXT.test(value)) {
    throw new ErrandError('ERR_CONFIG', `secret ${name} must hold one token: one line of visible ASCII`);
  }
  return value;
}

/** JWS algorithms Errand signs client assertions with, by key type (RFC 7518 §3.1, RFC 8037). */
const ALGS_BY_KEY: Readonly<Record<string, readonly string[]>> = {
  'ec:prime256v1': ['ES256'],
  'ec:secp384r1': ['ES384'],
  'ec:secp521r1': ['ES512'],
  ed25519: ['EdDSA', 'Ed25519'],
  rsa: ['RS256', 'PS256', 'RS384', 'PS384', 'RS512', 'PS512'],
  'rsa-pss': ['PS256', 'PS384', 'PS512'],
};

/** Errand's client key: a PEM private key (PKCS#8, or SEC1/PKCS#1) or a private JWK whose `alg`,
 *  when present, picks the algorithm. Symmetric keys are refused: no shared secrets. */
export async function readClientKey(dir: string, name: string): Promise<ClientKey> {
  const text = (await readSmallFile(dir, name)).trim();
  let key: KeyObject;
  let jwk: { alg?: unknown; kid?: unknown } = {};
  try {
    if (text.startsWith('{')) {
      jwk = JSON.parse(text) as typeof jwk;
      key = createPrivateKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' });
    } else {
      key = createPrivateKey(text);
    }
  } catch {
    throw new ErrandError(
      'ERR_CONFIG',
      `secret ${name} is not a private key (PEM or JWK); a shared secret is not accepted for client authentication`,
    );
  }
  const type = key.asymmetricKeyType ?? '';
  const curve = key.asymmetricKeyDetails?.namedCurve;
  const algs = ALGS_BY_KEY[type === 'ec' ? `ec:${curve}` : type] ?? [];
  const alg = typeof jwk.alg === 'string' ? jwk.alg : algs[0];
  if (alg === undefined || !algs.includes(alg)) {
    throw new ErrandError(
      'ERR_CONFIG',
      `secret ${name} holds a ${type}${curve ? ` ${curve}` : ''} key${typeof jwk.alg === 'string' ? ` with alg ${jwk.alg.slice(0, 16)}` : ''}; use an EC P-256/384/521, Ed25519 or RSA private key`,
    );
  }
  return { key, alg, ...(typeof jwk.kid === 'string' ? { kid: jwk.kid } : {}) };
}
