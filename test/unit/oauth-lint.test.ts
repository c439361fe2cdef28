// Review of OAuth grants: lint flags bearer credentials (ERRAND023) and tokens over plain http
// (ERRAND004); explain says where the user's token is exchanged, for what, and whether it is bound.
import t from 'tap';
import { explainManifest, formatExplainText } from '../../src/manifest/explain.ts';
import { lintManifest } from '../../src/manifest/lint.ts';
import type { HttpGrant, OAuthInject } from '../../src/manifest/types.ts';
import { httpGrant, loaded, manifest, NOW } from '../fixtures/review/manifests.ts';

const OAUTH: OAuthInject = {
  tokenEndpoint: 'https://auth.acme.dev/oauth/token',
  clientId: 'errand',
  clientKey: 'errand-key',
  subjectToken: 'alice-token',
  subjectTokenType: 'access_token',
  actorToken: 'errand-identity',
  actorTokenType: 'jwt',
  resource: 'https://api.acme.dev',
  scope: 'summaries:write',
  dpop: true,
};
const oauthGrant = (over: Partial<OAuthInject> = {}, grant: Partial<HttpGrant> = {}): HttpGrant => {
  const { inject: _inject, ...rest } = httpGrant({ maxBodyBytes: 1024, ...grant });
  return { ...rest, oauth: { ...OAUTH, ...over } };
};
const lintOf = (g: HttpGrant) =>
  lintManifest(loaded(manifest({ noAws: true, httpGrants: [g] })), { now: NOW, actions: new Map() })
    .filter((f) => f.ruleId !== 'ERRAND011' && f.ruleId !== 'ERRAND009')
    .map((f) => [f.ruleId, f.severity, f.path, f.message]);

t.test('lint: bearer credentials are flagged, a DPoP-bound token is not', async (t) => {
  const rows: { name: string; grant: HttpGrant; findings: unknown[] }[] = [
    {
      name: 'a static secret',
      grant: httpGrant({ maxBodyBytes: 1024 }),
      findings: [
        [
          'ERRAND023',
          'WARNING',
          '/http/grants/0/inject',
          "grant 'post-summary' injects static secret 'summaries-token' into Authorization: it is not bound to this task or user, and works for whoever holds it",
        ],
      ],
    },
    {
      name: 'an OAuth token without DPoP',
      grant: oauthGrant({ dpop: false }),
      findings: [
        [
          'ERRAND023',
          'WARNING',
          '/http/grants/0/inject/oauth/dpop',
          "grant 'post-summary' obtains an OAuth token for the user without DPoP: it is scoped to the grant but works for whoever holds it until it expires",
        ],
      ],
    },
    { name: 'a DPoP-bound OAuth token', grant: oauthGrant(), findings: [] },
    {
      name: 'an OAuth token over plain http',
      grant: oauthGrant({}, { url: 'http://api.acme.dev/v1/summaries', unsafeAllowPlainHttp: true }),
      findings: [
        [
          'ERRAND004',
          'ERROR',
          '/http/grants/0/inject/oauth',
          "grant 'post-summary' sends an OAuth access token and DPoP proofs with POST http://api.acme.dev/v1/summaries, which is plain http",
        ],
      ],
    },
  ];
  for (const row of rows) t.same(lintOf(row.grant), row.findings, row.name);
});

t.test('explain: where the token comes from, for what, and whether it is bound; names only', async (t) => {
  const g = oauthGrant({
    audience: 'summaries',
    authorizationDetails: [{ type: 'summary', actions: ['create'] }],
  });
  const e = explainManifest(loaded(manifest({ noAws: true, httpGrants: [g] })), {
    now: NOW,
    actions: new Map(),
  });
  t.same(e.http!.grants[0]!.oauth, {
    tokenEndpoint: 'https://auth.acme.dev/oauth/token',
    clientId: 'errand',
    subjectToken: 'alice-token',
    actorToken: 'errand-identity',
    resource: 'https://api.acme.dev',
    audience: 'summaries',
    scope: 'summaries:write',
    authorizationDetailsTypes: ['summary'],
    dpop: true,
  });
  t.match(
    formatExplainText(e),
    '1 use; OAuth token for the user, exchanged at https://auth.acme.dev/oauth/token as client errand (user token alice-token, actor token errand-identity), for https://api.acme.dev, audience summaries, scope "summaries:write", details summary, DPoP-bound to a key only Errand holds; body at most 1024 bytes',
  );
  const bearer = explainManifest(
    loaded(
      manifest({
        noAws: true,
        httpGrants: [oauthGrant({ dpop: false, actorToken: undefined, scope: undefined })],
      }),
    ),
    { now: NOW, actions: new Map() },
  );
  t.match(
    formatExplainText(bearer),
    'OAuth token for the user, exchanged at https://auth.acme.dev/oauth/token as client errand (user token alice-token), for https://api.acme.dev, BEARER (no DPoP)',
  );
});
