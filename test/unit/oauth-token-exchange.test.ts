// The token request Errand builds (RFC 8693 §2.1, RFC 7523 §3) and what it accepts back (RFC 6749
// §5, RFC 8693 §2.2, RFC 9449 §5): deny by default, every refusal with its code and message.
import { generateKeyPairSync } from 'node:crypto';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import t from 'tap';
import {
  buildTokenExchangeRequest,
  DEFAULT_TOKEN_TTL_S,
  processTokenResponse,
  signClientAssertion,
} from '../../src/credentials/oauth/token-exchange.ts';
import type { OAuthInject } from '../../src/manifest/types.ts';

const OAUTH: OAuthInject = {
  tokenEndpoint: 'https://auth.acme.dev/oauth/token',
  clientId: 'errand',
  clientKey: 'k',
  subjectToken: 's',
  subjectTokenType: 'access_token',
  actorTokenType: 'jwt',
  resource: 'https://api.acme.dev',
  scope: 'summaries:write',
  dpop: true,
};
const NOW = 1_790_000_000_000;

t.test('the form names the grant type, both tokens, the API and the scope; DPoP in its header', async (t) => {
  const req = buildTokenExchangeRequest(
    { ...OAUTH, audience: 'summaries', authorizationDetails: [{ type: 'summary', actions: ['create'] }] },
    { subjectToken: 'user-tok', actorToken: 'errand-tok', clientAssertion: 'assert', dpopProof: 'proof' },
  );
  t.equal(req.url, 'https://auth.acme.dev/oauth/token');
  t.same(req.headers, {
    accept: 'application/json',
    'content-type': 'application/x-www-form-urlencoded',
    dpop: 'proof',
  });
  t.same(Object.fromEntries(new URLSearchParams(req.body)), {
    grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
    client_id: 'errand',
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: 'assert',
    subject_token: 'user-tok',
    subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    actor_token: 'errand-tok',
    actor_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    resource: 'https://api.acme.dev',
    audience: 'summaries',
    scope: 'summaries:write',
    authorization_details: '[{"type":"summary","actions":["create"]}]',
  });
  const bare = buildTokenExchangeRequest(
    { ...OAUTH, scope: undefined, dpop: false } as unknown as OAuthInject,
    { subjectToken: 'u', clientAssertion: 'a' },
  );
  const form = new URLSearchParams(bare.body);
  t.notOk(
    form.has('actor_token') || form.has('audience') || form.has('scope') || form.has('authorization_details'),
    'only what is configured',
  );
  t.notOk('dpop' in bare.headers, 'no proof header without DPoP');
});

t.test(
  'the client assertion: iss = sub = client_id, aud = issuer or token endpoint, short-lived',
  async (t) => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const client = { key: privateKey, alg: 'ES256', kid: 'k1' };
    for (const [issuer, aud] of [
      [undefined, 'https://auth.acme.dev/oauth/token'],
      ['https://auth.acme.dev', 'https://auth.acme.dev'],
    ] as const) {
      const jwt = await signClientAssertion(
        client,
        { ...OAUTH, ...(issuer ? { issuer } : {}) },
        NOW / 1000,
        'jti-1',
      );
      t.same(decodeProtectedHeader(jwt), { alg: 'ES256', typ: 'JWT', kid: 'k1' });
      const { payload } = await jwtVerify(jwt, publicKey, { currentDate: new Date(NOW) });
      t.same(payload, {
        iss: 'errand',
        sub: 'errand',
        aud,
        jti: 'jti-1',
        iat: NOW / 1000,
        exp: NOW / 1000 + 60,
      });
    }
  },
);

const ok = (over: Record<string, unknown> = {}, headers: Record<string, string> = {}) => ({
  status: 200,
  headers,
  body: JSON.stringify({
    access_token: 'eyJ0.eyJ1.sig-_~+/=',
    issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    token_type: 'DPoP',
    expires_in: 120,
    ...over,
  }),
});

t.test('accepted answers', async (t) => {
  const r = processTokenResponse(ok({}, { 'dpop-nonce': 'n1' }), OAUTH, NOW);
  t.same(r, {
    ok: true,
    token: {
      accessToken: 'eyJ0.eyJ1.sig-_~+/=',
      tokenType: 'DPoP',
      expiresAtMs: NOW + 120_000,
      scope: 'summaries:write',
    },
    nonce: 'n1',
  });
  const noExpiry = processTokenResponse(
    ok({ expires_in: undefined, token_type: 'dpop', scope: 'summaries:write' }),
    OAUTH,
    NOW,
  );
  t.same(
    noExpiry.ok && noExpiry.token.expiresAtMs,
    NOW + DEFAULT_TOKEN_TTL_S * 1000,
    'no expires_in: a short default',
  );
  const narrower = processTokenResponse(ok({ scope: '' }), { ...OAUTH, scope: 'a b' }, NOW);
  t.ok(narrower.ok, 'less scope than asked is the server’s right');
  const bearer = processTokenResponse(ok({ token_type: 'Bearer' }), { ...OAUTH, dpop: false }, NOW);
  t.same(bearer.ok && bearer.token.tokenType, 'Bearer', 'a bearer grant takes a bearer token');
});

t.test('refused answers, each with its code and message', async (t) => {
  const rows: {
    name: string;
    res: ReturnType<typeof ok>;
    oauth?: Partial<OAuthInject>;
    code: string;
    message: string;
  }[] = [
    {
      name: 'a DPoP grant answered with a Bearer token (downgrade)',
      res: ok({ token_type: 'Bearer' }),
      code: 'ERR_OAUTH_RESPONSE',
      message:
        'the authorization server sent a token response Errand does not accept: token_type is "bearer", not DPoP: the token would not be bound to Errand\'s key',
    },
    {
      name: 'no token_type',
      res: ok({ token_type: undefined }),
      code: 'ERR_OAUTH_RESPONSE',
      message:
        "the authorization server sent a token response Errand does not accept: token_type is missing, not DPoP: the token would not be bound to Errand's key",
    },
    {
      name: 'a bearer grant answered with N_A',
      res: ok({ token_type: 'N_A' }),
      oauth: { dpop: false },
      code: 'ERR_OAUTH_RESPONSE',
      message:
        'the authorization server sent a token response Errand does not accept: token_type is not Bearer',
    },
    {
      name: 'more scope than asked',
      res: ok({ scope: 'summaries:write admin' }),
      code: 'ERR_OAUTH_RESPONSE',
      message:
        'the authorization server sent a token response Errand does not accept: the server granted scope the manifest did not ask for (admin)',
    },
    {
      name: 'a token with CRLF (header injection)',
      res: ok({ access_token: 'abc\r\nx-evil: 1' }),
      code: 'ERR_OAUTH_RESPONSE',
      message:
        'the authorization server sent a token response Errand does not accept: access_token is not a token that can travel in an Authorization header (RFC 6750 b64token)',
    },
    {
      name: 'no access_token',
      res: ok({ access_token: undefined }),
      code: 'ERR_OAUTH_RESPONSE',
      message:
        'the authorization server sent a token response Errand does not accept: access_token is missing',
    },
    {
      name: 'a refresh token issued instead',
      res: ok({ issued_token_type: 'urn:ietf:params:oauth:token-type:refresh_token' }),
      code: 'ERR_OAUTH_RESPONSE',
      message:
        'the authorization server sent a token response Errand does not accept: issued_token_type is not urn:ietf:params:oauth:token-type:access_token',
    },
    {
      name: 'expires_in not a positive integer',
      res: ok({ expires_in: -5 }),
      code: 'ERR_OAUTH_RESPONSE',
      message:
        'the authorization server sent a token response Errand does not accept: expires_in is not a positive integer',
    },
    {
      name: 'scope not scope tokens',
      res: ok({ scope: 'a "b"' }),
      code: 'ERR_OAUTH_RESPONSE',
      message:
        'the authorization server sent a token response Errand does not accept: scope is not a list of scope tokens',
    },
    {
      name: 'not JSON',
      res: { status: 200, headers: {}, body: '<html>' },
      code: 'ERR_OAUTH_RESPONSE',
      message:
        'the authorization server sent a token response Errand does not accept: the body is not a JSON object',
    },
    {
      name: 'an OAuth error',
      res: {
        status: 400,
        headers: {},
        body: '{"error":"invalid_grant","error_description":"subject token expired: eyJsecret"}',
      },
      code: 'ERR_OAUTH_EXCHANGE',
      message: 'the authorization server refused the token exchange: HTTP 400, error invalid_grant',
    },
    {
      name: 'a server error page',
      res: { status: 502, headers: {}, body: 'bad gateway' },
      code: 'ERR_OAUTH_EXCHANGE',
      message: 'the authorization server refused the token exchange: HTTP 502, no OAuth error code',
    },
    {
      name: 'use_dpop_nonce without a nonce',
      res: { status: 400, headers: {}, body: '{"error":"use_dpop_nonce"}' },
      code: 'ERR_OAUTH_EXCHANGE',
      message: 'the authorization server refused the token exchange: HTTP 400, error use_dpop_nonce',
    },
  ];
  for (const row of rows) {
    const r = processTokenResponse(row.res, { ...OAUTH, ...row.oauth }, NOW);
    if (r.ok || !('error' in r) || r.error === undefined) {
      t.fail(`${row.name}: accepted`);
      continue;
    }
    t.same([r.error.code, r.error.message], [row.code, row.message], row.name);
  }
});

t.test('use_dpop_nonce with a nonce asks for one retry', async (t) => {
  const r = processTokenResponse(
    { status: 400, headers: { 'dpop-nonce': 'abc' }, body: '{"error":"use_dpop_nonce"}' },
    OAUTH,
    NOW,
  );
  t.same(r, { ok: false, retryWithNonce: 'abc' });
  const bearer = processTokenResponse(
    { status: 400, headers: { 'dpop-nonce': 'abc' }, body: '{"error":"use_dpop_nonce"}' },
    { ...OAUTH, dpop: false },
    NOW,
  );
  t.same(
    !bearer.ok && 'error' in bearer && bearer.error?.code,
    'ERR_OAUTH_EXCHANGE',
    'not for a bearer grant',
  );
});
