// OAuth 2.0 Token Exchange (RFC 8693) as two pure steps around one POST: build the request (form
// parameters, client assertion, DPoP proof in), and process the response (a token Errand accepts,
// a nonce to retry with, or a refusal with a reason). The POST itself is the caller's (I/O at the
// edge). Nothing here logs, and no error detail ever carries a token, an assertion or a proof.

import type { KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import { ErrandError } from '../../errors.ts';
import type { OAuthInject, OAuthTokenType } from '../../manifest/types.ts';
import { readDpopNonce } from './dpop.ts';

export const TOKEN_EXCHANGE_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:token-exchange';
/** RFC 7523 §2.2: client authentication with a signed JWT (private_key_jwt). */
export const JWT_BEARER_CLIENT_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** RFC 8693 §3 token type identifiers. */
export const tokenTypeUrn = (t: OAuthTokenType): string => `urn:ietf:params:oauth:token-type:${t}`;
const ACCESS_TOKEN_TYPE = tokenTypeUrn('access_token');

/** Lifetime of a client assertion: long enough to cross the network once. */
export const CLIENT_ASSERTION_TTL_S = 60;
/** Used when the server omits expires_in (RFC 6749 §5.1 only recommends it): re-exchange soon. */
export const DEFAULT_TOKEN_TTL_S = 300;
/** Largest token response Errand reads. */
export const MAX_TOKEN_RESPONSE_BYTES = 64 * 1024;
/** Largest access token Errand will put in a header. */
export const MAX_ACCESS_TOKEN_LENGTH = 16 * 1024;

/** Errand's private key for private_key_jwt, with the JWS algorithm it signs with. */
export interface ClientKey {
  readonly key: KeyObject;
  readonly alg: string;
  readonly kid?: string;
}

/** RFC 7523 §3: iss = sub = client_id, aud = the authorization server (its issuer identifier when
 *  the manifest names one, else the token endpoint URL), a unique jti, a short exp. */
export function signClientAssertion(
  client: ClientKey,
  oauth: Pick<OAuthInject, 'clientId' | 'issuer' | 'tokenEndpoint'>,
  nowS: number,
  jti: string,
): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({
      alg: client.alg,
      typ: 'JWT',
      ...(client.kid !== undefined ? { kid: client.kid } : {}),
    })
    .setIssuer(oauth.clientId)
    .setSubject(oauth.clientId)
    .setAudience(oauth.issuer ?? oauth.tokenEndpoint)
    .setJti(jti)
    .setIssuedAt(nowS)
    .setExpirationTime(nowS + CLIENT_ASSERTION_TTL_S)
    .sign(client.key);
}

export interface ExchangeInputs {
  readonly subjectToken: string;
  readonly actorToken?: string;
  readonly clientAssertion: string;
  /** The DPoP proof for POST tokenEndpoint, when the grant asks for a DPoP-bound token. */
  readonly dpopProof?: string;
}

export interface TokenRequest {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** The token request (RFC 8693 §2.1) for one grant: resource and audience name the granted API,
 *  scope and authorization_details (RFC 9396 §6) what the grant needs, actor_token Errand itself. */
export function buildTokenExchangeRequest(oauth: OAuthInject, inputs: ExchangeInputs): TokenRequest {
  const form = new URLSearchParams();
  form.set('grant_type', TOKEN_EXCHANGE_GRANT_TYPE);
  form.set('client_id', oauth.clientId);
  form.set('client_assertion_type', JWT_BEARER_CLIENT_ASSERTION);
  form.set('client_assertion', inputs.clientAssertion);
  form.set('subject_token', inputs.subjectToken);
  form.set('subject_token_type', tokenTypeUrn(oauth.subjectTokenType));
  if (inputs.actorToken !== undefined) {
    form.set('actor_token', inputs.actorToken);
    form.set('actor_token_type', tokenTypeUrn(oauth.actorTokenType));
  }
  form.set('requested_token_type', ACCESS_TOKEN_TYPE);
  form.set('resource', oauth.resource);
  if (oauth.audience !== undefined) form.set('audience', oauth.audience);
  if (oauth.scope !== undefined) form.set('scope', oauth.scope);
  if (oauth.authorizationDetails !== undefined) {
    form.set('authorization_details', JSON.stringify(oauth.authorizationDetails));
  }
  return {
    url: oauth.tokenEndpoint,
    headers: {
      accept: 'application/json',
      'content-type': 'application/x-www-form-urlencoded',
      ...(inputs.dpopProof !== undefined ? { dpop: inputs.dpopProof } : {}),
    },
    body: form.toString(),
  };
}

export interface TokenResponse {
  readonly status: number;
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
}

/** An access token Errand holds for one grant. */
export interface IssuedToken {
  readonly accessToken: string;
  readonly tokenType: 'DPoP' | 'Bearer';
  /** Epoch ms. */
  readonly expiresAtMs: number;
  /** The scope granted (the requested one when the server did not restate it). */
  readonly scope?: string;
}

export type TokenOutcome =
  | { readonly ok: true; readonly token: IssuedToken; readonly nonce?: string }
  /** RFC 9449 §8: the server wants a nonce in the proof; retry once with it. */
  | { readonly ok: false; readonly retryWithNonce: string }
  | { readonly ok: false; readonly error: ErrandError; readonly retryWithNonce?: undefined };

// RFC 6750 §2.1 b64token: what may follow "Bearer " or "DPoP " in an Authorization header.
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
// RFC 6749 §5.2 error codes are NQSCHAR; keep only a short, printable value for the audit.
const ERROR_CODE = /^[\x20-\x21\x23-\x5b\x5d-\x7e]{1,64}$/;
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

const refuse = (message: string): TokenOutcome => ({
  ok: false,
  error: new ErrandError('ERR_OAUTH_RESPONSE', message),
});

/** Judges a token endpoint response against what the grant asked for (RFC 6749 §5, RFC 8693 §2.2,
 *  RFC 9449 §5). Deny by default: anything but a well-formed token of the requested kind is refused. */
export function processTokenResponse(
  res: TokenResponse,
  oauth: Pick<OAuthInject, 'dpop' | 'scope'>,
  nowMs: number,
): TokenOutcome {
  const nonce = readDpopNonce(res.headers['dpop-nonce']);
  let json: unknown;
  try {
    json = JSON.parse(res.body);
  } catch {
    json = undefined;
  }
  const body =
    json !== null && typeof json === 'object' && !Array.isArray(json)
      ? (json as Record<string, unknown>)
      : {};

  if (res.status !== 200) {
    const code =
      typeof body['error'] === 'string' && ERROR_CODE.test(body['error']) ? body['error'] : undefined;
    // RFC 9449 §8: 400 error=use_dpop_nonce with a DPoP-Nonce header.
    if (oauth.dpop && code === 'use_dpop_nonce' && nonce !== undefined)
      return { ok: false, retryWithNonce: nonce };
    return {
      ok: false,
      error: new ErrandError(
        'ERR_OAUTH_EXCHANGE',
        `HTTP ${res.status}${code !== undefined ? `, error ${code}` : ', no OAuth error code'}`,
      ),
    };
  }
  if (json === undefined || Object.keys(body).length === 0) return refuse('the body is not a JSON object');

  const accessToken = body['access_token'];
  if (typeof accessToken !== 'string' || accessToken.length === 0) return refuse('access_token is missing');
  if (accessToken.length > MAX_ACCESS_TOKEN_LENGTH || !B64TOKEN.test(accessToken)) {
    return refuse(
      'access_token is not a token that can travel in an Authorization header (RFC 6750 b64token)',
    );
  }
  // RFC 8693 §2.2.1: issued_token_type is required; Errand asked for an access token.
  if (body['issued_token_type'] !== ACCESS_TOKEN_TYPE) {
    return refuse(`issued_token_type is not ${ACCESS_TOKEN_TYPE}`);
  }
  const tokenType = typeof body['token_type'] === 'string' ? body['token_type'].toLowerCase() : '';
  if (oauth.dpop && tokenType !== 'dpop') {
    // RFC 9449 §5: a Bearer answer means the server did not bind the token; Errand will not
    // downgrade a grant that asked for a sender-constrained token.
    return refuse(
      `token_type is ${tokenType === '' ? 'missing' : JSON.stringify(tokenType)}, not DPoP: the token would not be bound to Errand's key`,
    );
  }
  if (!oauth.dpop && tokenType !== 'bearer') return refuse('token_type is not Bearer');

  const expiresIn = body['expires_in'];
  if (
    expiresIn !== undefined &&
    (typeof expiresIn !== 'number' || !Number.isInteger(expiresIn) || expiresIn <= 0)
  ) {
    return refuse('expires_in is not a positive integer');
  }
  // RFC 6749 §5.1: scope is restated when it differs from the request. More than asked for is refused.
  const granted = body['scope'];
  if (granted !== undefined) {
    if (
      typeof granted !== 'string' ||
      !granted
        .split(' ')
        .filter(Boolean)
        .every((s) => SCOPE_TOKEN.test(s))
    ) {
      return refuse('scope is not a list of scope tokens');
    }
    const asked = new Set((oauth.scope ?? '').split(' ').filter(Boolean));
    const extra = granted.split(' ').filter((s) => s !== '' && !asked.has(s));
    if (extra.length > 0)
      return refuse(
        `the server granted scope the manifest did not ask for (${extra.slice(0, 3).join(' ').slice(0, 128)})`,
      );
  }
  const scope = typeof granted === 'string' ? granted : oauth.scope;
  return {
    ok: true,
    token: {
      accessToken,
      tokenType: oauth.dpop ? 'DPoP' : 'Bearer',
      expiresAtMs: nowMs + (typeof expiresIn === 'number' ? expiresIn : DEFAULT_TOKEN_TTL_S) * 1000,
      ...(scope !== undefined ? { scope } : {}),
    },
    ...(nonce !== undefined ? { nonce } : {}),
  };
}
