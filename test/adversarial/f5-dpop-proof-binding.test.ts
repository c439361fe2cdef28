// SECURITY-CASES F5 (DPoP proof binding), through the whole sidecar: an agent behind the forward
// proxy calls an API whose credential is an OAuth token Errand exchanged for the user (a real
// oidc-provider) and binds with DPoP; a resource server verifies token and proof (RFC 9449).
// Expect: htm/htu of the *forwarded* request (no query), a fresh jti per request, ath of the token,
// one nonce retry that takes no second use, and nothing of the token, the proof or the key ever
// reaching the agent or the audit log.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import t, { type Test } from 'tap';
import type { HttpGrant, Manifest } from '../../src/manifest/types.ts';
import { startSidecar } from '../../src/sidecar.ts';
import {
  API_HOST,
  apiGrant,
  createTestCa,
  createTestNetwork,
  httpManifest,
  httpRequest,
  PUBLIC_TEST_ADDRESS,
  tunnelExchange,
} from '../helpers/forward.ts';
import {
  CLIENT_ID,
  startAuthorizationServer,
  startResourceServer,
  USER,
  WORKLOAD,
} from '../helpers/oauth-servers.ts';
import { staticCredentials } from '../helpers/sidecar.ts';

const API = `https://${API_HOST}`;
const ca = await createTestCa();
const as = await startAuthorizationServer({ ca, resources: { [API]: 'summaries:write summaries:read' } });
const rs = await startResourceServer({
  ca,
  names: [API_HOST],
  origin: () => API,
  as,
  routes: {
    'POST /v1/summaries': 'summaries:write',
    'GET /v1/summaries': 'summaries:read',
    'GET /v1/summaries/latest': 'summaries:read',
  },
});
t.teardown(() => Promise.all([as.close(), rs.close()]));

const oauthGrant = (
  over: Partial<HttpGrant> & { id: string; path: string; method?: string },
  scope: string,
) =>
  apiGrant({
    ...over,
    oauth: {
      tokenEndpoint: as.tokenEndpoint,
      issuer: as.issuer,
      clientId: CLIENT_ID,
      clientKey: 'errand-key',
      subjectToken: 'alice-token',
      subjectTokenType: 'jwt',
      actorToken: 'errand-identity',
      actorTokenType: 'jwt',
      resource: API,
      scope,
      dpop: true,
    },
  });

/** A sidecar with the forward proxy in front of the resource server, torn down with the test. */
async function harness(t: Test, manifest: Manifest, clock?: () => number) {
  const dir = await mkdtemp(join(tmpdir(), 'errand-f5-'));
  await writeFile(join(dir, 'alice-token'), as.issued.userToken, { mode: 0o600 });
  await writeFile(join(dir, 'errand-identity'), as.issued.workloadToken, { mode: 0o600 });
  await writeFile(join(dir, 'errand-key'), as.issued.clientKeyPem, { mode: 0o600 });
  const net = createTestNetwork();
  net.names.set(API_HOST, [PUBLIC_TEST_ADDRESS]);
  net.routes.set(`${PUBLIC_TEST_ADDRESS}:443`, rs.port);
  const auditFile = join(dir, 'audit.jsonl');
  const logs: string[] = [];
  const sidecar = await startSidecar({
    loaded: Object.freeze({
      manifest,
      sha256: createHash('sha256').update(JSON.stringify(manifest)).digest('hex'),
      expiresAtMs: Date.parse(manifest.task.expiresAt),
      signed: true,
    }),
    unsigned: false,
    credentials: staticCredentials(),
    listen: { host: '127.0.0.1', port: 0 },
    proxyListen: { host: '127.0.0.1', port: 0 },
    caDir: join(dir, 'ca'),
    secretsDir: dir,
    stateDir: dir,
    auditFile,
    env: { AWS_ENDPOINT_URL: 'http://127.0.0.1:9' },
    upstreamCa: ca.certPem,
    resolver: net.resolver,
    dialer: net.dialer,
    echoAudit: (line) => logs.push(line),
    ...(clock ? { now: clock } : {}),
  });
  t.teardown(async () => {
    await sidecar.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const exchange = (payload: string) =>
    tunnelExchange({ proxyPort: sidecar.proxyPort!, sidecar }, `${API_HOST}:443`, payload, { idleMs: 1500 });
  const audit = async () => {
    await new Promise((r) => setTimeout(r, 50));
    return readFile(auditFile, 'utf8');
  };
  return { sidecar, exchange, audit, logs, net };
}

const post = (body = '{"text":"summary"}', headers: string[] = []) =>
  httpRequest('POST', '/v1/summaries', { headers: ['Content-Type: application/json', ...headers], body });

t.test(
  'htm and htu are the forwarded request’s; every request a fresh jti; ath is the token’s',
  async (t) => {
    const h = await harness(
      t,
      httpManifest([
        oauthGrant({ id: 'post-summary', path: '/v1/summaries', method: 'POST' }, 'summaries:write'),
        oauthGrant({ id: 'latest', path: '/v1/summaries/latest?lang=en', method: 'GET' }, 'summaries:read'),
      ]),
    );
    rs.verdicts.length = 0;
    const [a, b] = await Promise.all([
      h.exchange(post()),
      h.exchange(httpRequest('GET', '/v1/summaries/latest?lang=en')),
    ]);
    t.same([a.statuses, b.statuses], [[200], [200]], 'both calls accepted by the resource server');
    t.same(
      rs.verdicts.map((v) => v.reason),
      ['ok', 'ok'],
    );
    const proofs = rs.verdicts
      .map((v) => ({ method: v.method, proof: decodeJwt(v.dpop!), token: v.authorization!.slice(5) }))
      .sort((x, y) => x.method.localeCompare(y.method));
    t.match(proofs[0]!.proof, { htm: 'GET', htu: `${API}/v1/summaries/latest` }, 'no query in htu');
    t.match(proofs[1]!.proof, { htm: 'POST', htu: `${API}/v1/summaries` });
    t.not(proofs[0]!.proof.jti, proofs[1]!.proof.jti, 'fresh jti per request');
    for (const p of proofs) {
      t.equal(
        p.proof['ath'],
        createHash('sha256').update(p.token).digest('base64url'),
        'ath = hash of the injected token',
      );
    }
    t.not(proofs[0]!.token, proofs[1]!.token, 'each grant has its own token, scoped to it');
    t.same(
      rs.verdicts.map((v) => [v.claims!['sub'], (v.claims!['act'] as { sub: string }).sub]),
      [
        [USER, WORKLOAD],
        [USER, WORKLOAD],
      ],
      'bound to the user, acted by Errand',
    );
  },
);

t.test('a use_dpop_nonce 401 is retried once with the nonce and takes no second use', async (t) => {
  const h = await harness(
    t,
    httpManifest([
      oauthGrant({ id: 'post-summary', path: '/v1/summaries', method: 'POST', uses: 1 }, 'summaries:write'),
    ]),
  );
  rs.requireNonce(true);
  t.teardown(() => rs.requireNonce(false));
  rs.verdicts.length = 0;
  const first = await h.exchange(post());
  t.same(first.statuses, [200], 'the agent sees one answer: the success');
  t.same(
    rs.verdicts.map((v) => v.reason),
    ['use_dpop_nonce', 'ok'],
    'Errand sent the request a second time, with the nonce',
  );
  t.notMatch(first.text, /use_dpop_nonce|dpop-nonce/i, 'the nonce dance stays between Errand and the API');
  const again = await h.exchange(post());
  t.same(again.statuses, [403], 'the one use was taken once');
  t.match(again.text, /grant_exhausted/);
  t.equal(rs.verdicts.length, 2, 'the exhausted call reached nobody');
  const records = (await h.audit())
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const results = records.filter((r) => r['event'] === 'egress_result' && r['decision'] === 'allow');
  t.equal(results.length, 1);
  t.match(
    results[0]!['upstream'],
    { status: 200, dpop_nonce_retry: true },
    'the retry is in the audit record',
  );
});

t.test('the agent never receives the token, a proof, or anything Errand was given', async (t) => {
  const h = await harness(
    t,
    httpManifest([
      oauthGrant({ id: 'post-summary', path: '/v1/summaries', method: 'POST', uses: 2 }, 'summaries:write'),
    ]),
  );
  rs.echo(true);
  t.teardown(() => rs.echo(false));
  rs.verdicts.length = 0;
  // The agent sends its own Authorization and DPoP: they are removed, never forwarded.
  const res = await h.exchange(post('{"x":1}', ['Authorization: DPoP agent-token', 'DPoP: agent.proof.jwt']));
  t.same(res.statuses, [200]);
  const seen = rs.verdicts.at(-1)!;
  t.equal(seen.reason, 'ok', 'the API got Errand’s token and proof, not the agent’s');
  t.notMatch(seen.authorization, /agent-token/);
  t.match(res.text, /"youSent":"DPoP \[redacted\]"/, 'an echoed Authorization header is scrubbed');
  const token = seen.authorization!.slice('DPoP '.length);
  const secrets = [
    token,
    seen.dpop!,
    seen.dpop!.split('.')[2]!,
    as.issued.userToken,
    as.issued.workloadToken,
    as.issued.clientKeyPem.split('\n')[1]!,
  ];
  const audit = await h.audit();
  const logs = h.logs.join('\n');
  for (const [where, text] of [
    ['agent', res.text],
    ['audit', audit],
    ['log', logs],
  ] as const) {
    t.notOk(
      secrets.some((s) => text.includes(s)),
      `nothing secret in what the ${where} sees`,
    );
  }
});

t.test('replayed agent bytes are a new request: new jti, subject to uses (G3)', async (t) => {
  const h = await harness(
    t,
    httpManifest([
      oauthGrant({ id: 'post-summary', path: '/v1/summaries', method: 'POST', uses: 2 }, 'summaries:write'),
    ]),
  );
  rs.verdicts.length = 0;
  const bytes = post();
  const results = [await h.exchange(bytes), await h.exchange(bytes), await h.exchange(bytes)];
  t.same(
    results.map((r) => r.statuses[0]),
    [200, 200, 403],
  );
  const [p1, p2] = rs.verdicts.map((v) => decodeJwt(v.dpop!));
  t.not(p1!.jti, p2!.jti, 'a new proof each time');
});

t.test('the forwarded authority decides, never the Host header (B1)', async (t) => {
  const h = await harness(
    t,
    httpManifest([
      oauthGrant({ id: 'post-summary', path: '/v1/summaries', method: 'POST' }, 'summaries:write'),
    ]),
  );
  const before = as.requests.length;
  rs.verdicts.length = 0;
  const res = await h.exchange(httpRequest('POST', '/v1/summaries', { host: 'evil.example', body: '{}' }));
  t.not(res.statuses[0], 200, 'refused');
  t.same(
    [rs.verdicts.length, as.requests.length - before],
    [0, 0],
    'no token was exchanged and no proof made',
  );
});

t.test('after the deadline: no exchange, no proof, a clear deny', async (t) => {
  let now = Date.now();
  const manifest = httpManifest([
    oauthGrant({ id: 'post-summary', path: '/v1/summaries', method: 'POST' }, 'summaries:write'),
  ]);
  const h = await harness(t, manifest, () => now);
  now = Date.parse(manifest.task.expiresAt) + 1;
  const before = as.requests.length;
  rs.verdicts.length = 0;
  const res = await h.exchange(post());
  // The tunnel itself is refused once the task has ended.
  t.same([res.connectStatus, res.statuses], [403, []]);
  t.match(res.connectText, /manifest_expired/);
  t.same([rs.verdicts.length, as.requests.length - before], [0, 0]);
});

t.test(
  'a refused exchange: 503 credentials_unavailable, the use is spent, nothing reaches the API',
  async (t) => {
    const grant = oauthGrant(
      { id: 'post-summary', path: '/v1/summaries', method: 'POST' },
      'summaries:write',
    );
    const h = await harness(
      t,
      httpManifest([{ ...grant, oauth: { ...grant.oauth!, resource: `${API}/unknown` } }]),
    );
    rs.verdicts.length = 0;
    const res = await h.exchange(post());
    t.same(res.statuses, [503]);
    t.match(res.text, /credentials_unavailable/);
    t.notMatch(res.text, /invalid_target|unknown/, 'the server’s refusal stays in the audit');
    t.equal(rs.verdicts.length, 0);
    t.match(
      await h.audit(),
      /the authorization server refused the token exchange: HTTP 400, error invalid_target/,
    );
  },
);
