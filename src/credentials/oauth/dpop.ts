// DPoP (RFC 9449): the per-task key pair and the proofs Errand signs with it. The private key is a
// WebCrypto key generated non-extractable, so no code path can export, log or write it; only its
// public JWK travels (in each proof's header) and its thumbprint is what the issued token is bound
// to (`cnf.jkt`, RFC 9449 §6.1). Building a proof is pure but for the signature: the clock value and
// the jti come in as arguments.

import { createHash } from 'node:crypto';
import { type CryptoKey, calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';

/** ES256 (P-256): the algorithm every DPoP server is expected to accept (RFC 9449 §11.6 lists it). */
export const DPOP_ALG = 'ES256';

export interface DpopKey {
  /** Non-extractable: it signs, nothing reads it. */
  readonly privateKey: CryptoKey;
  /** kty, crv, x, y only (RFC 9449 §4.2: the header carries the public key, never a private part). */
  readonly publicJwk: Readonly<JWK>;
  /** RFC 7638 SHA-256 thumbprint of the public key: the token's `cnf.jkt`. */
  readonly thumbprint: string;
}

export async function generateDpopKey(): Promise<DpopKey> {
  const { privateKey, publicKey } = await generateKeyPair(DPOP_ALG, { extractable: false });
  const { kty, crv, x, y } = await exportJWK(publicKey);
  const publicJwk = Object.freeze({ kty, crv, x, y }) as JWK;
  return { privateKey, publicJwk, thumbprint: await calculateJwkThumbprint(publicJwk, 'sha256') };
}

/** The parts of the forwarded request a proof is computed from (an authorized HttpIntent fits). */
export interface DpopTarget {
  readonly method: string;
  readonly scheme: 'http' | 'https';
  /** Lower-case, IPv6 without brackets. */
  readonly host: string;
  readonly port: number;
  /** As forwarded (canonical percent-encoding), starting with '/'. */
  readonly rawPath: string;
}

/** RFC 9449 §4.2 `htu`: the target URI of the forwarded request without query and fragment (and,
 *  being built from parts, without userinfo), in RFC 3986 §6.2.3 scheme-based normal form: default
 *  port elided, empty path as '/'. Built from what is sent upstream, never from the agent's Host. */
export function dpopHtu(t: Pick<DpopTarget, 'scheme' | 'host' | 'port' | 'rawPath'>): string {
  const host = t.host.includes(':') ? `[${t.host}]` : t.host;
  const defaultPort = t.scheme === 'https' ? 443 : 80;
  const path = t.rawPath === '' ? '/' : t.rawPath.split(/[?#]/)[0]!;
  return `${t.scheme}://${host}${t.port === defaultPort ? '' : `:${t.port}`}${path}`;
}

/** The htu of an absolute URL (the token endpoint), query and fragment removed. */
export function dpopHtuOfUrl(url: string): string {
  const u = new URL(url);
  const scheme = u.protocol === 'http:' ? 'http' : 'https';
  return dpopHtu({
    scheme,
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port === '' ? (scheme === 'https' ? 443 : 80) : Number(u.port),
    rawPath: u.pathname,
  });
}

/** RFC 9449 §4.2 `ath`: base64url of the SHA-256 of the ASCII access token. */
export const dpopAth = (accessToken: string): string =>
  createHash('sha256').update(accessToken, 'ascii').digest('base64url');

export interface DpopClaims {
  readonly htm: string;
  readonly htu: string;
  /** Seconds since the epoch. */
  readonly iat: number;
  /** Unique per proof (RFC 9449 §11.1: the server's replay check keys on it). */
  readonly jti: string;
  /** Present when the proof accompanies an access token (requests to the resource server). */
  readonly ath?: string;
  /** The server's latest DPoP-Nonce, when it gave one. */
  readonly nonce?: string;
}

/** A DPoP proof JWT (RFC 9449 §4.2): typ dpop+jwt, the public JWK in the header. */
export function signDpopProof(key: DpopKey, claims: DpopClaims): Promise<string> {
  const payload: Record<string, unknown> = {
    jti: claims.jti,
    htm: claims.htm,
    htu: claims.htu,
    iat: claims.iat,
    ...(claims.ath !== undefined ? { ath: claims.ath } : {}),
    ...(claims.nonce !== undefined ? { nonce: claims.nonce } : {}),
  };
  return new SignJWT(payload)
    .setProtectedHeader({ typ: 'dpop+jwt', alg: DPOP_ALG, jwk: { ...key.publicJwk } })
    .sign(key.privateKey);
}

/** Longest nonce Errand keeps: a server's opaque value, not a document. */
export const MAX_DPOP_NONCE_LENGTH = 512;
// RFC 9449 §8.1: nonce = 1*NQCHAR; NQCHAR = %x21 / %x23-5B / %x5D-7E (RFC 6749 Appendix A).
const NONCE = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/** The DPoP-Nonce a server sent, when it is one well-formed value; otherwise undefined. */
export function readDpopNonce(value: string | readonly string[] | undefined): string | undefined {
  if (typeof value !== 'string') return undefined;
  return value.length <= MAX_DPOP_NONCE_LENGTH && NONCE.test(value) ? value : undefined;
}

// RFC 9110 §11.6.1: challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ]. A new challenge
// starts where a token is followed by a space and not by '='.
const CHALLENGE_START = /(?:^|,)\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?=\s+[^=,\s]|\s*(?:,|$))/g;

/** The auth-params of the `DPoP` challenge in a WWW-Authenticate value, lower-case names. */
export function dpopChallengeParams(wwwAuthenticate: string): ReadonlyMap<string, string> | undefined {
  const starts = [...wwwAuthenticate.matchAll(CHALLENGE_START)].map((m) => ({
    scheme: m[1]!.toLowerCase(),
    from: m.index + m[0].length,
  }));
  const at = starts.findIndex((s) => s.scheme === 'dpop');
  if (at === -1) return undefined;
  const end =
    starts[at + 1] !== undefined ? wwwAuthenticate.lastIndexOf(',', starts[at + 1]!.from) : undefined;
  const text = wwwAuthenticate.slice(starts[at]!.from, end);
  const params = new Map<string, string>();
  for (const m of text.matchAll(/([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g)) {
    const name = m[1]!.toLowerCase();
    if (!params.has(name)) params.set(name, m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!);
  }
  return params;
}

/** RFC 9449 §9: the resource server refused the proof for want of a nonce and sent one. */
export function isUseDpopNonce(
  status: number,
  wwwAuthenticate: string | readonly string[] | undefined,
): boolean {
  if (status !== 401 || wwwAuthenticate === undefined) return false;
  const values = typeof wwwAuthenticate === 'string' ? [wwwAuthenticate] : wwwAuthenticate;
  return values.some((v) => dpopChallengeParams(v)?.get('error') === 'use_dpop_nonce');
}
