// A real OAuth world on 127.0.0.1 for the OAuth tests, nothing in it written by Errand's authors
// but configuration and a resource server's checks:
//
// - an authorization server: panva's oidc-provider over TLS, with DPoP (its own proof validation,
//   nonces and replay cache), resource indicators (JWT access tokens per API) and a token-exchange
//   grant type (RFC 8693) registered the documented way and built from the library's own grant
//   helpers. It checks the user's subject token and Errand's actor token (JWTs from two test
//   issuers) and puts the user in `sub` and Errand in `act` (RFC 8693 §4.1).
// - a resource server that does what RFC 9449 §7.1 and §4.3 ask of one: the access token's
//   signature, issuer, audience, expiry and scope, and the DPoP proof's signature, typ, htm, htu,
//   iat window, jti replay, ath and its key against the token's cnf.jkt, plus server nonces.

import { createHash, generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import {
  calculateJwkThumbprint,
  createLocalJWKSet,
  EmbeddedJWK,
  exportJWK,
  type JWK,
  type JWTPayload,
  jwtVerify,
  SignJWT,
} from 'jose';
import Provider, { errors, type OidcContext } from 'oidc-provider';
import * as grantHelpers from 'oidc-provider/lib/helpers/grants.js';
import type { TestCa } from './forward.ts';

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const USER = 'alice@example.com';
export const WORKLOAD = 'system:serviceaccount:agents:errand';
export const CLIENT_ID = 'errand-sidecar';

const pemOf = (k: KeyObject) => k.export({ type: 'pkcs8', format: 'pem' }).toString();

export interface Issued {
  /** A JWT from the user's identity provider (the subject token). */
  readonly userToken: string;
  /** A JWT from the workload issuer (Errand's actor token). */
  readonly workloadToken: string;
  /** Errand's client private key, PKCS#8 PEM. */
  readonly clientKeyPem: string;
}

export interface AuthorizationServer {
  readonly issuer: string;
  readonly tokenEndpoint: string;
  readonly jwks: { keys: JWK[] };
  readonly issued: Issued;
  /** Token requests received: their form (tokens included, for the leak checks) and answer status. */
  readonly requests: { form: Record<string, string>; dpop: string | undefined; status: number }[];
  /** Mint another subject token (e.g. one that expires at a given time). */
  userToken(opts?: { exp?: number; sub?: string }): Promise<string>;
  /** Ask every DPoP token request for a server nonce (RFC 9449 §8). */
  requireNonce(on: boolean): void;
  close(): Promise<void>;
}

interface AsOptions {
  readonly ca: TestCa;
  /** resource URL → the scopes that API defines. */
  readonly resources: Readonly<Record<string, string>>;
  readonly accessTokenTtl?: number;
}

async function listenTls(ca: TestCa, names: readonly string[]): Promise<{ server: Server; port: number }> {
  const { key, cert } = await ca.issue(names);
  const server = createHttpsServer({ key, cert });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port };
}

const closeServer = (server: Server) =>
  new Promise<void>((r) => {
    server.closeAllConnections();
    server.close(() => r());
  });

export async function startAuthorizationServer(opts: AsOptions): Promise<AuthorizationServer> {
  const { server, port } = await listenTls(opts.ca, ['127.0.0.1']);
  const issuer = `https://127.0.0.1:${port}`;
  const userIdp = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const workloadIdp = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const client = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signing = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signingJwk = { ...(await exportJWK(signing.privateKey)), kid: 'as-1', alg: 'ES256', use: 'sig' };
  const { d: _d, ...publicSigning } = signingJwk;
  let nonceRequired = false;
  const requests: AuthorizationServer['requests'] = [];
  /** What the token exchange decided for the token being built, read by the JWT customizer. */
  const exchanged = new WeakMap<object, { sub: string; act: string }>();

  const mintUser = (o: { exp?: number; sub?: string } = {}) =>
    new SignJWT({})
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuer('https://idp.acme.test')
      .setSubject(o.sub ?? USER)
      .setAudience(issuer)
      .setIssuedAt()
      .setExpirationTime(o.exp ?? Math.floor(Date.now() / 1000) + 3600)
      .sign(userIdp.privateKey);

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'ES256',
        jwks: { keys: [{ ...(await exportJWK(client.publicKey)), alg: 'ES256', use: 'sig' }] },
        grant_types: [TOKEN_EXCHANGE],
        authorization_details_types: ['summary'],
        redirect_uris: [],
        response_types: [],
      },
    ],
    jwks: { keys: [signingJwk] },
    clientDefaults: { id_token_signed_response_alg: 'ES256' },
    clientAuthMethods: ['private_key_jwt'],
    enabledJWA: { clientAuthSigningAlgValues: ['ES256'], dPoPSigningAlgValues: ['ES256'] },
    features: {
      devInteractions: { enabled: false },
      dPoP: { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => nonceRequired },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => false,
        getResourceServerInfo: (_ctx: unknown, resource: string) => {
          const scope = opts.resources[resource];
          if (scope === undefined) throw new errors.InvalidTarget(`unknown resource ${resource}`);
          return {
            scope,
            audience: resource,
            accessTokenFormat: 'jwt',
            accessTokenTTL: opts.accessTokenTtl ?? 300,
            jwt: { sign: { alg: 'ES256' } },
          };
        },
      },
      richAuthorizationRequests: {
        enabled: true,
        types: { summary: { validate: () => undefined } },
        authorizationDetailsForGrantSource: async () => [],
        authorizationDetailsForIntrospection: async () => [],
        authorizationDetailsForAccessToken: async (ctx: OidcContext) =>
          JSON.parse(String(ctx.oidc.params['authorization_details'] ?? '[]')),
      },
    },
    extraTokenClaims: (ctx: object) => {
      const who = exchanged.get(ctx);
      return who === undefined ? undefined : { act: { sub: who.act } };
    },
    formats: {
      customizers: {
        // RFC 8693 §4.1: the issued token names the user as subject and Errand as actor.
        jwt: (ctx: object, _token: unknown, jwt: { payload: JWTPayload }) => {
          const who = exchanged.get(ctx);
          if (who !== undefined) jwt.payload.sub = who.sub;
        },
      },
    },
  });

  const helpers = {
    validateDpop: (ctx: OidcContext) => grantHelpers.validateDpop(provider, ctx),
    checkDpopReplay: (ctx: OidcContext, d: { thumbprint: string; jti: string; iat: number }) =>
      grantHelpers.checkDpopReplay(provider, ctx, d, ctx.oidc.client.clientId),
    resolve: (ctx: OidcContext) => grantHelpers.resolveRequestedResources(provider, ctx),
    scopes: (ctx: OidcContext) => grantHelpers.validateClientScope(provider, ctx),
  };

  // RFC 8693 §2.1 token exchange, assembled like the library's client_credentials grant.
  provider.registerGrantType(
    TOKEN_EXCHANGE,
    async (ctx) => {
      const p = ctx.oidc.params;
      const verifyToken = async (
        value: unknown,
        type: unknown,
        key: KeyObject,
        iss: string,
        what: string,
      ) => {
        if (
          typeof value !== 'string' ||
          (type !== 'urn:ietf:params:oauth:token-type:jwt' &&
            type !== 'urn:ietf:params:oauth:token-type:access_token')
        ) {
          throw new errors.InvalidGrant(`${what} missing or of an unsupported type`);
        }
        try {
          return (await jwtVerify(value, key, { issuer: iss, algorithms: ['ES256'] })).payload;
        } catch {
          throw new errors.InvalidGrant(`${what} invalid`);
        }
      };
      const subject = await verifyToken(
        p['subject_token'],
        p['subject_token_type'],
        userIdp.publicKey,
        'https://idp.acme.test',
        'subject_token',
      );
      const actor = await verifyToken(
        p['actor_token'],
        p['actor_token_type'],
        workloadIdp.publicKey,
        'https://workload.acme.test',
        'actor_token',
      );
      if (p['requested_token_type'] !== 'urn:ietf:params:oauth:token-type:access_token') {
        throw new errors.InvalidGrant('only access tokens are issued');
      }
      const dPoP = await helpers.validateDpop(ctx);
      const servers = await helpers.resolve(ctx);
      const scopes = [...helpers.scopes(ctx)];
      if (servers.length !== 1) throw new errors.InvalidTarget('exactly one resource is required');
      const server = servers[0]!;
      const token = new provider.ClientCredentials({ client: ctx.oidc.client, scope: undefined });
      token.resourceServer = server;
      token.scope = scopes.filter((s) => server.scope.split(' ').includes(s)).join(' ') || undefined;
      if (dPoP) {
        await helpers.checkDpopReplay(ctx, dPoP);
        token.setThumbprint('jkt', dPoP.thumbprint);
      }
      await grantHelpers.applyAuthorizationDetails(provider, ctx, token);
      exchanged.set(ctx, { sub: String(subject.sub), act: String(actor.sub) });
      ctx.oidc.entity('ClientCredentials', token);
      const value = await token.save();
      ctx.body = grantHelpers.buildTokenResponse(provider, {
        accessToken: value,
        expiresIn: token.expiration,
        scope: token.scope,
        tokenType: token.tokenType,
        issuedTokenType: 'urn:ietf:params:oauth:token-type:access_token',
        authorizationDetails: token.rar,
      });
    },
    [
      'subject_token',
      'subject_token_type',
      'actor_token',
      'actor_token_type',
      'requested_token_type',
      'audience',
      'scope',
      'resource',
      'authorization_details',
    ],
    ['resource'],
  );

  const record = (ctx: OidcContext, status: number) =>
    requests.push({
      form: Object.fromEntries(Object.entries(ctx.oidc?.params ?? {}).map(([k, v]) => [k, String(v)])),
      dpop: ctx.get('DPoP') || undefined,
      status,
    });
  provider.on('grant.success', (ctx) => record(ctx as OidcContext, 200));
  provider.on('grant.error', (ctx, error) =>
    record(ctx as OidcContext, (error as { statusCode?: number }).statusCode ?? 500),
  );
  server.on('request', provider.callback());

  const workloadToken = await new SignJWT({})
    .setProtectedHeader({ alg: 'ES256' })
    .setIssuer('https://workload.acme.test')
    .setSubject(WORKLOAD)
    .setAudience(issuer)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(workloadIdp.privateKey);

  return {
    issuer,
    tokenEndpoint: `${issuer}/token`,
    jwks: { keys: [publicSigning as JWK] },
    issued: { userToken: await mintUser(), workloadToken, clientKeyPem: pemOf(client.privateKey) },
    requests,
    userToken: mintUser,
    requireNonce(on) {
      nonceRequired = on;
    },
    close: () => closeServer(server),
  };
}

export interface RsVerdict {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  /** Why it was refused, or 'ok'. */
  readonly reason: string;
  readonly authorization: string | undefined;
  readonly dpop: string | undefined;
  readonly claims?: JWTPayload;
}

export interface ResourceServer {
  readonly port: number;
  readonly verdicts: RsVerdict[];
  /** Demand a nonce in every proof (RFC 9449 §9). */
  requireNonce(on: boolean): void;
  /** Answer with the request's Authorization header in the body (an echo endpoint, F3). */
  echo(on: boolean): void;
  close(): Promise<void>;
}

export interface RsOptions {
  readonly ca: TestCa;
  /** Names on the certificate. */
  readonly names: readonly string[];
  /** The origin the server is reached at (what htu and the token audience must name). */
  readonly origin: () => string;
  readonly as: AuthorizationServer;
  /** `METHOD /path` → the scope it needs. */
  readonly routes: Readonly<Record<string, string>>;
  /** Accepted |now - iat| in seconds. */
  readonly iatWindowS?: number;
}

export async function startResourceServer(opts: RsOptions): Promise<ResourceServer> {
  const { server, port } = await listenTls(opts.ca, opts.names);
  const jwks = createLocalJWKSet(opts.as.jwks);
  const seenJti = new Set<string>();
  const verdicts: RsVerdict[] = [];
  let nonce: string | undefined;
  let echo = false;
  const newNonce = () => randomBytes(16).toString('base64url');

  server.on('request', async (req: IncomingMessage, res: ServerResponse) => {
    for await (const _ of req) {
      // drain
    }
    const path = (req.url ?? '/').split('?')[0]!;
    const method = req.method ?? '';
    const authorization = req.headers['authorization'];
    const dpop = req.headers['dpop'] as string | undefined;
    const verdict = (
      status: number,
      reason: string,
      claims?: JWTPayload,
      headers: Record<string, string> = {},
    ) => {
      verdicts.push({ method, path, status, reason, authorization, dpop, ...(claims ? { claims } : {}) });
      const body =
        status === 200
          ? { ok: true, sub: claims?.sub, act: claims?.['act'], ...(echo ? { youSent: authorization } : {}) }
          : { error: reason };
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    const deny = (error: string, reason: string) =>
      verdict(401, reason, undefined, { 'www-authenticate': `DPoP error="${error}", algs="ES256"` });

    const scope = opts.routes[`${method} ${path}`];
    if (scope === undefined) return verdict(404, 'no such route');
    const m = /^DPoP ([A-Za-z0-9\-._~+/]+=*)$/i.exec(authorization ?? '');
    if (!m) return deny('invalid_token', 'not a DPoP token');
    const token = m[1]!;
    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(token, jwks, {
        issuer: opts.as.issuer,
        audience: opts.origin(),
        typ: 'at+jwt',
        algorithms: ['ES256'],
      }));
    } catch (e) {
      return deny('invalid_token', `token: ${(e as Error).message}`);
    }
    if (
      !String(claims['scope'] ?? '')
        .split(' ')
        .includes(scope)
    )
      return deny('insufficient_scope', 'scope');
    const jkt = (claims['cnf'] as { jkt?: string } | undefined)?.jkt;
    if (jkt === undefined) return deny('invalid_token', 'token not DPoP-bound');
    if (dpop === undefined || dpop.includes(',')) return deny('invalid_dpop_proof', 'no single DPoP proof');
    let proof: JWTPayload;
    let jwk: JWK;
    try {
      const r = await jwtVerify(dpop, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: ['ES256'] });
      proof = r.payload;
      jwk = r.protectedHeader.jwk as JWK;
    } catch (e) {
      return deny('invalid_dpop_proof', `proof: ${(e as Error).message}`);
    }
    if (proof['htm'] !== method) return deny('invalid_dpop_proof', 'htm mismatch');
    if (proof['htu'] !== `${opts.origin()}${path}`) return deny('invalid_dpop_proof', 'htu mismatch');
    const iat = Number(proof.iat);
    if (!Number.isFinite(iat) || Math.abs(Date.now() / 1000 - iat) > (opts.iatWindowS ?? 60)) {
      return deny('invalid_dpop_proof', 'iat outside the window');
    }
    if (typeof proof.jti !== 'string' || seenJti.has(proof.jti))
      return deny('invalid_dpop_proof', 'jti replay');
    if (proof['ath'] !== createHash('sha256').update(token).digest('base64url')) {
      return deny('invalid_dpop_proof', 'ath mismatch');
    }
    if ((await calculateJwkThumbprint(jwk)) !== jkt)
      return deny('invalid_dpop_proof', 'key is not the token key (cnf.jkt)');
    if (nonce !== undefined && proof['nonce'] !== nonce) {
      nonce = newNonce();
      verdicts.push({ method, path, status: 401, reason: 'use_dpop_nonce', authorization, dpop });
      res.writeHead(401, {
        'www-authenticate':
          'DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"',
        'dpop-nonce': nonce,
        'content-type': 'application/json',
      });
      res.end('{"error":"use_dpop_nonce"}');
      return;
    }
    seenJti.add(proof.jti);
    return verdict(200, 'ok', claims);
  });

  return {
    port,
    verdicts,
    requireNonce(on) {
      nonce = on ? newNonce() : undefined;
    },
    echo(on) {
      echo = on;
    },
    close: () => closeServer(server),
  };
}
