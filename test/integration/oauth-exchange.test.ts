// Errand's OAuth credentials against a real authorization server (oidc-provider: token exchange,
// private_key_jwt, DPoP, resource indicators, RAR) and a resource server that verifies tokens and
// DPoP proofs the way RFC 9449 asks. Everything listens on 127.0.0.1 over TLS with a test CA.
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import t from 'tap';
import { Agent, request } from 'undici';
import { dpopAth } from '../../src/credentials/oauth/dpop.ts';
import {
  createOAuthCredentials,
  type OAuthCredentials,
  type OAuthCredentialsOptions,
} from '../../src/credentials/oauth/oauth-credentials.ts';
import { createTokenTransport } from '../../src/credentials/oauth/token-transport.ts';
import { ErrandError } from '../../src/errors.ts';
import type { HttpGrant, LoadedManifest, OAuthInject } from '../../src/manifest/types.ts';
import { createTestCa } from '../helpers/forward.ts';
import {
  CLIENT_ID,
  startAuthorizationServer,
  startResourceServer,
  USER,
  WORKLOAD,
} from '../helpers/oauth-servers.ts';

const ca = await createTestCa();
const resources: Record<string, string> = {};
const as = await startAuthorizationServer({ ca, resources });
let origin = '';
const rs = await startResourceServer({
  ca,
  names: ['127.0.0.1'],
  origin: () => origin,
  as,
  routes: {
    'POST /v1/summaries': 'summaries:write',
    'DELETE /v1/summaries': 'summaries:write',
    'GET /v1/summaries': 'summaries:read',
  },
});
origin = `https://127.0.0.1:${rs.port}`;
resources[origin] = 'summaries:write summaries:read';
const dir = await mkdtemp(join(tmpdir(), 'errand-oauth-'));
await writeFile(join(dir, 'alice-token'), `${as.issued.userToken}\n`, { mode: 0o600 });
await writeFile(join(dir, 'errand-identity'), as.issued.workloadToken, { mode: 0o600 });
await writeFile(join(dir, 'errand-key'), as.issued.clientKeyPem, { mode: 0o600 });
const transport = createTokenTransport({ ca: ca.certPem });
const agent = new Agent({ connect: { ca: ca.certPem } });
t.teardown(async () => {
  await Promise.all([as.close(), rs.close(), transport.close(), agent.close()]);
  await rm(dir, { recursive: true, force: true });
});

const oauth = (over: Partial<OAuthInject> = {}): OAuthInject => ({
  tokenEndpoint: as.tokenEndpoint,
  issuer: as.issuer,
  clientId: CLIENT_ID,
  clientKey: 'errand-key',
  subjectToken: 'alice-token',
  subjectTokenType: 'jwt',
  actorToken: 'errand-identity',
  actorTokenType: 'jwt',
  resource: origin,
  scope: 'summaries:write',
  dpop: true,
  ...over,
});
const grant = (over: Partial<OAuthInject> = {}, method = 'POST'): HttpGrant => ({
  id: 'post-summary',
  method,
  url: `${origin}/v1/summaries`,
  pattern: false,
  uses: 1,
  oauth: oauth(over),
  websocket: false,
  unsafeAllowPlainHttp: false,
  unsafeAllowPrivateAddress: true,
});
const loadedWith = (grants: HttpGrant[], expiresAtMs = Date.now() + 30 * 60_000): LoadedManifest => ({
  manifest: {
    apiVersion: 'errand.dev/v1',
    kind: 'TaskManifest',
    task: {
      id: 'tsk_oauth',
      purpose: 'test',
      user: { subject: USER, session: 's1' },
      expiresAt: new Date(expiresAtMs).toISOString(),
    },
    http: { grants, passthrough: [] },
  },
  sha256: 'x',
  expiresAtMs,
  signed: true,
});
const credentialsFor = async (
  grants: HttpGrant[],
  over: Partial<OAuthCredentialsOptions> = {},
): Promise<OAuthCredentials> => {
  const c = createOAuthCredentials({
    loaded: loadedWith(grants),
    secretsDir: dir,
    transport: transport.post,
    ...over,
  });
  await c.start();
  return c;
};
const target = (method = 'POST', path = '/v1/summaries') => ({
  method,
  scheme: 'https' as const,
  host: '127.0.0.1',
  port: rs.port,
  rawPath: path,
});
const call = (method: string, path: string, headers: Record<string, string>) =>
  request(`${origin}${path}`, {
    method: method as 'POST',
    headers,
    dispatcher: agent,
    body: method === 'GET' ? null : '{}',
  });
/** One request through Errand's credentials, the nonce dance included. */
const send = async (c: OAuthCredentials, g: HttpGrant, tg = target(g.method)) => {
  const out = await c.send(g, tg, {
    attempt: (auth) => call(tg.method, tg.rawPath, { ...auth.headers }),
    reply: (r) => ({ status: r.statusCode, headers: r.headers }),
    discard: (r) => r.body.dump(),
    canRetry: true,
  });
  return { ...out, body: (await out.result.body.json()) as Record<string, unknown> };
};
const codeOf = async (p: Promise<unknown>) => {
  try {
    await p;
    return 'resolved';
  } catch (e) {
    return e instanceof ErrandError ? `${e.code}: ${e.message}` : String(e);
  }
};

t.test(
  'a granted call works: the token names the user and Errand and is bound to Errand’s key',
  async (t) => {
    const before = as.requests.length;
    const c = await credentialsFor([grant()]);
    const first = await send(c, grant());
    t.equal(first.result.statusCode, 200, 'the resource server accepted token and proof');
    t.same(first.body, { ok: true, sub: USER, act: { sub: WORKLOAD } }, 'sub is the user, act is Errand');
    const claims = rs.verdicts.at(-1)!.claims!;
    t.same(claims['cnf'], { jkt: c.thumbprint() }, 'the token is bound to the DPoP key Errand holds');
    t.equal(claims['scope'], 'summaries:write');
    t.equal(claims['aud'], origin, 'audience is the granted API');
    t.equal(claims['client_id'], CLIENT_ID);
    const exchange = as.requests.slice(before);
    t.equal(exchange.length, 1, 'one token exchange');
    t.match(exchange[0]!.form, {
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      actor_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      resource: origin,
      scope: 'summaries:write',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    });
    t.notOk('client_secret' in exchange[0]!.form, 'no shared secret');
    t.ok(exchange[0]!.dpop, 'the token request carried a DPoP proof');

    const second = await send(c, grant());
    t.equal(second.result.statusCode, 200, 'the next call reuses the token');
    t.equal(as.requests.length, before + 1, 'no second exchange');
    const [a, b] = rs.verdicts.slice(-2);
    t.not(a!.dpop, b!.dpop, 'every request gets a fresh proof');
    t.equal(a!.authorization, b!.authorization, 'with the same token');
  },
);

t.test(
  'what an agent could capture is useless elsewhere: replay, other method, other URL, other key',
  async (t) => {
    const c = await credentialsFor([grant()]);
    await send(c, grant());
    const captured = rs.verdicts.at(-1)!;
    t.equal(captured.reason, 'ok');
    const headers = { authorization: captured.authorization!, dpop: captured.dpop! };
    const token = captured.authorization!.slice('DPoP '.length);

    const rows: {
      name: string;
      method: string;
      path: string;
      headers: Record<string, string>;
      reason: string;
    }[] = [
      {
        name: 'the exact request again (replayed proof)',
        method: 'POST',
        path: '/v1/summaries',
        headers,
        reason: 'jti replay',
      },
      {
        name: 'the token and proof for another method its scope would allow',
        method: 'DELETE',
        path: '/v1/summaries',
        headers,
        reason: 'htm mismatch',
      },
      {
        name: 'the token and proof for another URL',
        method: 'POST',
        path: '/v1/summaries/all',
        headers,
        reason: 'no such route',
      },
      {
        name: 'the token as a bearer token',
        method: 'POST',
        path: '/v1/summaries',
        headers: { authorization: `Bearer ${token}` },
        reason: 'not a DPoP token',
      },
    ];
    // A proof the agent mints with a key of its own: it never holds Errand's.
    const own = await generateKeyPair('ES256');
    const forged = await new SignJWT({
      htm: 'POST',
      htu: `${origin}/v1/summaries`,
      jti: 'agent-1',
      ath: dpopAth(token),
    })
      .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: await exportJWK(own.publicKey) })
      .setIssuedAt()
      .sign(own.privateKey);
    rows.push({
      name: 'the token with a proof from another key',
      method: 'POST',
      path: '/v1/summaries',
      headers: { authorization: captured.authorization!, dpop: forged },
      reason: 'key is not the token key (cnf.jkt)',
    });
    rs.verdicts.length = 0;
    for (const row of rows) {
      const res = await call(row.method, row.path, row.headers);
      await res.body.dump();
      t.same(
        [res.statusCode, rs.verdicts.at(-1)?.reason],
        [row.reason === 'no such route' ? 404 : 401, row.reason],
        row.name,
      );
    }
    // Another URL on a route that exists: the htu of the captured proof names /v1/summaries only.
    const other = await startResourceServer({
      ca,
      names: ['127.0.0.1'],
      origin: () => origin,
      as,
      routes: { 'POST /v1/other': 'summaries:write' },
    });
    t.teardown(() => other.close());
    const res = await request(`https://127.0.0.1:${other.port}/v1/other`, {
      method: 'POST',
      headers,
      dispatcher: agent,
      body: '{}',
    });
    await res.body.dump();
    t.same([res.statusCode, other.verdicts[0]?.reason], [401, 'htu mismatch'], 'same API, other path');
  },
);

t.test('F5: the resource server asks for a nonce; Errand retries once with it', async (t) => {
  const c = await credentialsFor([grant()]);
  rs.requireNonce(true);
  t.teardown(() => rs.requireNonce(false));
  rs.verdicts.length = 0;
  const out = await send(c, grant());
  t.equal(out.result.statusCode, 200);
  t.equal(out.nonceRetry, true, 'one retry');
  t.same(
    rs.verdicts.map((v) => v.reason),
    ['use_dpop_nonce', 'ok'],
    'the first proof had no nonce; the second carried it',
  );
  t.not(rs.verdicts[0]!.dpop, rs.verdicts[1]!.dpop, 'the retry has a new proof (new jti)');
  const again = await send(c, grant());
  t.equal(again.nonceRetry, false, 'the nonce is kept for the next request');
});

t.test('F5: a body that cannot be sent twice gets no retry; the 401 is the answer', async (t) => {
  const c = await credentialsFor([grant()]);
  rs.requireNonce(true);
  t.teardown(() => rs.requireNonce(false));
  const tg = target();
  const out = await c.send(grant(), tg, {
    attempt: (auth) => call('POST', '/v1/summaries', { ...auth.headers }),
    reply: (r) => ({ status: r.statusCode, headers: r.headers }),
    discard: (r) => r.body.dump(),
    canRetry: false,
  });
  await out.result.body.dump();
  t.same([out.result.statusCode, out.nonceRetry], [401, false]);
});

t.test('the authorization server asks for a nonce; the exchange retries once', async (t) => {
  as.requireNonce(true);
  t.teardown(() => as.requireNonce(false));
  const before = as.requests.length;
  const c = await credentialsFor([grant()]);
  const out = await send(c, grant());
  t.equal(out.result.statusCode, 200);
  t.same(
    as.requests.slice(before).map((r) => r.status),
    [400, 200],
    'use_dpop_nonce, then the token',
  );
});

t.test('concurrent first calls share one exchange', async (t) => {
  const before = as.requests.length;
  const c = await credentialsFor([grant({}, 'GET')].map((g) => ({ ...g, uses: 'unlimited' as const })));
  const g = { ...grant({ scope: 'summaries:read' }, 'GET'), uses: 'unlimited' as const };
  const all = await Promise.all(Array.from({ length: 5 }, () => c.authorize(g, target('GET'))));
  t.equal(as.requests.length - before, 1, 'one exchange for five requests');
  t.equal(new Set(all.map((a) => a.headers['dpop'])).size, 5, 'five proofs');
});

t.test('rich authorization details reach the token', async (t) => {
  const details = [{ type: 'summary', actions: ['create'], locations: [origin] }];
  const c = await credentialsFor([grant({ authorizationDetails: details })]);
  const out = await send(c, grant({ authorizationDetails: details }));
  t.equal(out.result.statusCode, 200);
  t.same(rs.verdicts.at(-1)!.claims!['authorization_details'], details);
});

t.test('after the deadline nothing is exchanged or used; a wipe forgets everything', async (t) => {
  let now = Date.now();
  const deadline = now + 60_000;
  const c = createOAuthCredentials({
    loaded: loadedWith([grant()], deadline),
    secretsDir: dir,
    transport: transport.post,
    now: () => now,
  });
  await c.start();
  await send(c, grant());
  t.equal(c.all().length, 1, 'one token held');
  const before = as.requests.length;
  now = deadline;
  t.equal(
    await codeOf(c.authorize(grant(), target())),
    'ERR_OAUTH_EXPIRED: the task deadline has passed: its OAuth tokens are gone',
  );
  t.same(c.all(), [], 'the token is forgotten at the deadline');
  t.equal(as.requests.length, before, 'no exchange after the deadline');

  const w = await credentialsFor([grant()]);
  await send(w, grant());
  w.wipe();
  t.same([w.all(), w.thumbprint()], [[], undefined], 'tokens and key dropped');
  t.equal(
    await codeOf(w.authorize(grant(), target())),
    'ERR_OAUTH_WIPED: the OAuth tokens and the DPoP key were wiped (Errand is shutting down)',
  );
});

t.test(
  'an expired user token: the authorization server refuses, Errand says so without the token',
  async (t) => {
    const sub = join(dir, 'alice-expired');
    await writeFile(sub, await as.userToken({ exp: Math.floor(Date.now() / 1000) - 60 }));
    const c = await credentialsFor([grant({ subjectToken: 'alice-expired' })]);
    const message = await codeOf(c.authorize(grant({ subjectToken: 'alice-expired' }), target()));
    t.equal(
      message,
      'ERR_OAUTH_EXCHANGE: the authorization server refused the token exchange: HTTP 400, error invalid_grant',
    );
  },
);

t.test('a token goes only to the origin of its grant (F6)', async (t) => {
  const c = await credentialsFor([grant()]);
  const rows: [string, ReturnType<typeof target>][] = [
    ['another port', { ...target(), port: rs.port + 1 }],
    ['another host', { ...target(), host: 'localhost' }],
    ['plain http', { ...target(), scheme: 'http' as unknown as 'https' }],
  ];
  for (const [name, tg] of rows) {
    t.match(await codeOf(c.authorize(grant(), tg)), /^ERR_OAUTH_TARGET: /, name);
  }
});

t.test('start refuses missing, linked and shared-secret key files before anything runs', async (t) => {
  await symlink(join(dir, 'alice-token'), join(dir, 'alice-link'));
  await writeFile(join(dir, 'shared-secret'), JSON.stringify({ kty: 'oct', k: 'c2VjcmV0c2VjcmV0c2VjcmV0' }));
  await writeFile(join(dir, 'two-lines'), 'a b\nc');
  const rows: [string, Partial<OAuthInject>, string][] = [
    [
      'a missing user token',
      { subjectToken: 'nobody' },
      'ERR_CONFIG: invalid configuration: secret nobody is not a readable regular file of at most 16384 bytes in the secrets dir',
    ],
    [
      'a symlinked user token (H3)',
      { subjectToken: 'alice-link' },
      'ERR_CONFIG: invalid configuration: secret alice-link is not a readable regular file of at most 16384 bytes in the secrets dir',
    ],
    [
      'a token file that is not one token',
      { actorToken: 'two-lines' },
      'ERR_CONFIG: invalid configuration: secret two-lines must hold one token: one line of visible ASCII',
    ],
    [
      'a shared secret as client key',
      { clientKey: 'shared-secret' },
      'ERR_CONFIG: invalid configuration: secret shared-secret is not a private key (PEM or JWK); a shared secret is not accepted for client authentication',
    ],
    [
      'a user token as client key',
      { clientKey: 'alice-token' },
      'ERR_CONFIG: invalid configuration: secret alice-token is not a private key (PEM or JWK); a shared secret is not accepted for client authentication',
    ],
  ];
  for (const [name, over, message] of rows) {
    const c = createOAuthCredentials({
      loaded: loadedWith([grant(over)]),
      secretsDir: dir,
      transport: transport.post,
    });
    t.equal(await codeOf(c.start()), message, name);
  }
  const none = createOAuthCredentials({
    loaded: loadedWith([grant()]),
    secretsDir: undefined,
    transport: transport.post,
  });
  t.equal(
    await codeOf(none.start()),
    'ERR_CONFIG: invalid configuration: the manifest has OAuth grants; pass --secrets-dir with their token and key files',
  );
  const jwkKey = await generateKeyPair('ES256', { extractable: true });
  await writeFile(
    join(dir, 'jwk-key'),
    JSON.stringify({ ...(await exportJWK(jwkKey.privateKey)), kid: 'k9' }),
  );
  const ok = createOAuthCredentials({
    loaded: loadedWith([grant({ clientKey: 'jwk-key' })]),
    secretsDir: dir,
    transport: transport.post,
  });
  t.equal(await codeOf(ok.start()), 'resolved', 'a private JWK is accepted');
});

t.test('an unreachable authorization server is named by host, never with the form', async (t) => {
  const c = await credentialsFor([grant({ tokenEndpoint: 'https://127.0.0.1:9/token' })]);
  t.equal(
    await codeOf(c.authorize(grant({ tokenEndpoint: 'https://127.0.0.1:9/token' }), target())),
    'ERR_OAUTH_UNREACHABLE: the authorization server cannot be reached: 127.0.0.1:9 (ECONNREFUSED)',
  );
});

t.test('a bearer grant (dpop: false) gets a Bearer token and sends no proof', async (t) => {
  const c = await credentialsFor([grant({ dpop: false })]);
  const auth = await c.authorize(grant({ dpop: false }), target());
  t.match(auth.headers, { authorization: /^Bearer / });
  t.notOk('dpop' in auth.headers);
  t.equal(c.thumbprint(), undefined, 'no DPoP key is made when no grant needs one');
  const res = await call('POST', '/v1/summaries', { ...auth.headers });
  await res.body.dump();
  t.same([res.statusCode, rs.verdicts.at(-1)!.reason], [401, 'not a DPoP token'], 'this API wants DPoP');
});
