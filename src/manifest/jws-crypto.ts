// JWS signatures for the pinned algorithms with node:crypto, one-shot (RFC 7515 §5, RFC 7518 §3).
// The key was chosen, and its type checked against the algorithm, before anything here runs
// (keys.ts algorithmsFor, jws.ts selectKey); this only computes and checks the signature.
// docs/decisions/0008-jws-node-crypto.md says why not jose.

import { constants, type KeyObject, sign, verify } from 'node:crypto';
import type { JwsAlgorithm } from './keys.ts';

interface Scheme {
  /** The digest, or null for EdDSA, which hashes internally (RFC 8037 §3.1). */
  readonly hash: string | null;
  readonly options: {
    readonly dsaEncoding?: 'ieee-p1363';
    readonly padding?: number;
    readonly saltLength?: number;
  };
}

const SCHEMES: Readonly<Record<JwsAlgorithm, Scheme>> = {
  // ECDSA signatures are R || S, each the size of the curve order (RFC 7518 §3.4), not DER.
  ES256: { hash: 'sha256', options: { dsaEncoding: 'ieee-p1363' } },
  ES384: { hash: 'sha384', options: { dsaEncoding: 'ieee-p1363' } },
  EdDSA: { hash: null, options: {} },
  // RSASSA-PSS with MGF1 and a salt as long as the digest (RFC 7518 §3.5).
  PS256: { hash: 'sha256', options: { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } },
  RS256: { hash: 'sha256', options: { padding: constants.RSA_PKCS1_PADDING } },
};

/** Whether `signature` is `alg`'s signature of the JWS signing input under `key`. */
export function verifyJwsSignature(
  alg: JwsAlgorithm,
  key: KeyObject,
  signingInput: string,
  signature: Uint8Array,
): boolean {
  const { hash, options } = SCHEMES[alg];
  try {
    return verify(hash, Buffer.from(signingInput, 'ascii'), { key, ...options }, signature);
  } catch {
    // A signature of the wrong size or shape is simply not a valid signature.
    return false;
  }
}

/** `alg`'s signature of the JWS signing input under the private `key`. */
export function signJws(alg: JwsAlgorithm, key: KeyObject, signingInput: string): Buffer {
  const { hash, options } = SCHEMES[alg];
  return sign(hash, Buffer.from(signingInput, 'ascii'), { key, ...options });
}
