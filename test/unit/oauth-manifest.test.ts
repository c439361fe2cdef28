// The manifest form of OAuth credentials (`inject.oauth`): what loads, with which defaults, and what
// is refused with which message and fix.
import t from 'tap';
import { type LoadResult, loadManifestText } from '../../src/manifest/load.ts';
import { checker, NOW, type Source, seedWith, toYaml } from '../fixtures/manifests/build.ts';

const OAUTH = {
  tokenEndpoint: 'https://auth.acme.dev/oauth/token',
  clientId: 'errand',
  clientKey: 'errand-client-key',
  subjectToken: 'alice-token',
  scope: 'summaries:write',
};

const withOAuth = (over: Record<string, unknown> = {}, grant: Record<string, unknown> = {}): Source =>
  seedWith((m) => {
    m.http.grants[0].inject = { oauth: { ...OAUTH, ...over } };
    Object.assign(m.http.grants[0], grant);
  });

const load = (source: Source): LoadResult => loadManifestText(toYaml(source), { now: NOW, checker });
const problemsOf = (source: Source) => {
  const r = load(source);
  return r.ok ? 'loaded' : r.problems.map(({ code, path, message, fix }) => ({ code, path, message, fix }));
};

t.test('an OAuth grant loads with its defaults: DPoP on, resource = the grant origin', async (t) => {
  const r = load(withOAuth());
  if (!r.ok) return t.fail(JSON.stringify(r.problems));
  const g = r.loaded.manifest.http!.grants[0]!;
  t.equal(g.inject, undefined, 'no static secret');
  t.same(g.oauth, {
    tokenEndpoint: 'https://auth.acme.dev/oauth/token',
    clientId: 'errand',
    clientKey: 'errand-client-key',
    subjectToken: 'alice-token',
    subjectTokenType: 'access_token',
    actorTokenType: 'jwt',
    resource: 'https://api.acme.dev',
    scope: 'summaries:write',
    dpop: true,
  });
  t.ok(Object.isFrozen(g.oauth));
});

t.test('every field as written', async (t) => {
  const r = load(
    withOAuth({
      issuer: 'https://auth.acme.dev',
      subjectTokenType: 'jwt',
      actorToken: 'errand-identity',
      actorTokenType: 'access_token',
      audience: 'summaries-api',
      resource: 'https://api.acme.dev/v1/',
      authorizationDetails: [{ type: 'summary', actions: ['create'], locations: ['https://api.acme.dev'] }],
      dpop: false,
    }),
  );
  if (!r.ok) return t.fail(JSON.stringify(r.problems));
  t.same(r.loaded.manifest.http!.grants[0]!.oauth, {
    ...OAUTH,
    issuer: 'https://auth.acme.dev',
    subjectTokenType: 'jwt',
    actorToken: 'errand-identity',
    actorTokenType: 'access_token',
    audience: 'summaries-api',
    resource: 'https://api.acme.dev/v1/',
    authorizationDetails: [{ type: 'summary', actions: ['create'], locations: ['https://api.acme.dev'] }],
    dpop: false,
  });
});

t.test('refused OAuth forms, each with the field and the fix', async (t) => {
  const rows: { name: string; source: Source; expect: { path: string; message: string; fix?: string }[] }[] =
    [
      {
        name: 'a static secret and oauth together',
        source: seedWith((m) => {
          m.http.grants[0].inject.oauth = OAUTH;
        }),
        expect: [
          {
            path: '/http/grants/0/inject',
            message:
              'inject needs either header and value (a secret from the secrets directory) or oauth (a token Errand obtains), not both',
            fix: 'write header and value, or oauth',
          },
        ],
      },
      {
        name: 'a header next to oauth',
        source: seedWith((m) => {
          m.http.grants[0].inject = { header: 'X-Token', oauth: OAUTH };
        }),
        expect: [
          {
            path: '/http/grants/0/inject/header',
            message:
              'with inject.oauth, Errand sends the token in Authorization (and the DPoP proof in DPoP) itself',
            fix: 'remove inject.header',
          },
        ],
      },
      {
        name: 'a plain-http token endpoint',
        source: withOAuth({ tokenEndpoint: 'http://auth.acme.dev/token' }),
        expect: [
          {
            path: '/http/grants/0/inject/oauth/tokenEndpoint',
            message: '"http://auth.acme.dev/token" is not valid here',
            fix: "expected the authorization server's token endpoint, a canonical https URL such as https://auth.example.com/oauth/token",
          },
        ],
      },
      {
        name: 'a token endpoint that is not canonical',
        source: withOAuth({ tokenEndpoint: 'https://auth.acme.dev:443/token' }),
        expect: [
          {
            path: '/http/grants/0/inject/oauth/tokenEndpoint',
            message: 'the URL is not canonical: the default port 443 is implied',
            fix: 'write https://auth.acme.dev/token',
          },
        ],
      },
      {
        name: 'an issuer with a query',
        source: withOAuth({ issuer: 'https://auth.acme.dev/?tenant=1' }),
        expect: [
          {
            path: '/http/grants/0/inject/oauth/issuer',
            message:
              'the issuer must be an https URL without user information, query or fragment (RFC 8414 section 2)',
            fix: 'write the issuer exactly as the authorization server publishes it',
          },
        ],
      },
      {
        name: 'a token for another API',
        source: withOAuth({ resource: 'https://admin.acme.dev/' }),
        expect: [
          {
            path: '/http/grants/0/inject/oauth/resource',
            message:
              'the token would be for "https://admin.acme.dev", but the grant calls "https://api.acme.dev"',
            fix: 'use a resource on https://api.acme.dev, or leave resource out (it defaults to https://api.acme.dev)',
          },
        ],
      },
      {
        name: 'a resource with a fragment',
        source: withOAuth({ resource: 'https://api.acme.dev/#x' }),
        expect: [
          {
            path: '/http/grants/0/inject/oauth/resource',
            message: 'the URL must not have a fragment (#…): it is never sent to the server',
            fix: 'write https://api.acme.dev/',
          },
        ],
      },
      {
        name: 'the user token as actor token',
        source: withOAuth({ actorToken: 'alice-token' }),
        expect: [
          {
            path: '/http/grants/0/inject/oauth/actorToken',
            message:
              "the actor token is Errand's own workload identity; it cannot be the user's subject token",
            fix: 'name the file that holds the workload identity token, or leave actorToken out',
          },
        ],
      },
      {
        name: 'the user token as client key',
        source: withOAuth({ clientKey: 'alice-token' }),
        expect: [
          {
            path: '/http/grants/0/inject/oauth/clientKey',
            message: "the client key is Errand's private key; it cannot be the user's subject token",
            fix: 'name the file that holds the private key',
          },
        ],
      },
      {
        name: 'a secret name that walks out of the secrets directory',
        source: withOAuth({ subjectToken: '../alice' }),
        expect: [
          {
            path: '/http/grants/0/inject/oauth/subjectToken',
            message: '"../alice" is not valid here',
            fix: 'expected a secret name: 1-128 characters from A-Z a-z 0-9 . _ -, starting with a letter or digit (a file name in the secrets directory)',
          },
        ],
      },
      {
        name: 'a scope with a double space and a quote',
        source: withOAuth({ scope: 'a  "b"' }),
        expect: [
          {
            path: '/http/grants/0/inject/oauth/scope',
            message: '"a  \\"b\\"" is not valid here',
            fix: 'expected the OAuth scopes the token needs, space-separated (RFC 6749 section 3.3), e.g. summaries:write',
          },
        ],
      },
      {
        name: 'authorization details without a type, and too large',
        source: withOAuth({
          authorizationDetails: [{ actions: ['x'] }, { type: 't', blob: 'x'.repeat(5000) }],
        }),
        expect: [
          {
            path: '/http/grants/0/inject/oauth/authorizationDetails',
            message: 'authorizationDetails is longer than 4096 characters once serialized',
            fix: 'ask for the details this one grant needs',
          },
          {
            path: '/http/grants/0/inject/oauth/authorizationDetails/0',
            message: 'missing required key "type"',
            fix: 'add type: the authorization details type, 1-128 printable ASCII characters',
          },
        ],
      },
      {
        name: 'no client key, and an unknown key',
        source: seedWith((m) => {
          m.http.grants[0].inject = {
            oauth: {
              tokenEndpoint: OAUTH.tokenEndpoint,
              clientId: 'e',
              subjectToken: 's',
              clientSecret: 'x',
            },
          };
        }),
        expect: [
          {
            path: '/http/grants/0/inject/oauth',
            message: 'missing required key "clientKey"',
            fix: "add clientKey: the secret (a file in the secrets directory) holding Errand's private key, PEM (PKCS#8) or JWK, for private_key_jwt client authentication (RFC 7523)",
          },
          {
            path: '/http/grants/0/inject/oauth/clientSecret',
            message: 'unknown key "clientSecret"',
            fix: 'allowed keys here: tokenEndpoint, issuer, clientId, clientKey, subjectToken, subjectTokenType, actorToken, actorTokenType, audience, resource, scope, authorizationDetails, dpop',
          },
        ],
      },
      {
        name: 'a subject token type that is not one Errand sends',
        source: withOAuth({ subjectTokenType: 'saml2' }),
        expect: [
          {
            path: '/http/grants/0/inject/oauth/subjectTokenType',
            message: 'must be one of "access_token", "jwt", "id_token", not "saml2"',
            fix: undefined,
          },
        ],
      },
    ];
  for (const row of rows) {
    const got = problemsOf(row.source);
    t.same(
      got,
      row.expect.map((e) => ({ code: 'ERR_MANIFEST_INVALID', fix: undefined, ...e })),
      row.name,
    );
  }
});
