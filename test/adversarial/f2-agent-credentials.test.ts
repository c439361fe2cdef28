import t from 'tap';
import {
  apiGrant,
  forwardHarness,
  httpManifest,
  httpRequest,
  injectGrant,
  SECRET,
  tunnelExchange,
} from '../helpers/forward.ts';

// F2: the agent's own credentials never reach the API (data must not land in an attacker's
// account); only the manifest's credential is injected, and only into the header the grant names.
// Placeholders in bodies and queries are never substituted.

const AGENT_HEADERS = [
  'Authorization: Bearer attacker-token',
  'Cookie: session=attacker',
  'Proxy-Authorization: Basic YTpi',
  'DPoP: eyJhbGciOiJFUzI1NiJ9.attacker.proof',
  'X-Api-Key: attacker-key',
  'X-Amz-Security-Token: attacker-session',
];

t.test('agent credentials are dropped', async (t) => {
  const h = await forwardHarness(
    t,
    httpManifest([injectGrant('post', '/v1/summaries'), apiGrant({ id: 'get', path: '/v1/items' })]),
  );
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a placeholder the agent hopes Errand fills in
  const body = 'token=${secret:acme-token}&x={{SECRET}}';
  const r = await tunnelExchange(
    h,
    'api.acme.test:443',
    httpRequest('POST', '/v1/summaries', { headers: AGENT_HEADERS, body }),
  );
  t.same(r.statuses, [200]);
  const seen = h.upstream.requests[0]!;
  t.equal(seen.headers.authorization, `Bearer ${SECRET}`, 'the manifest credential replaces the agent’s');
  for (const name of ['cookie', 'proxy-authorization', 'dpop', 'x-api-key', 'x-amz-security-token'])
    t.equal(seen.headers[name], undefined, `${name} is dropped`);
  t.equal(seen.body.toString(), body, 'placeholders in the body are sent as written, never filled in');

  const g = await tunnelExchange(
    h,
    'api.acme.test:443',
    httpRequest('GET', '/v1/items', { headers: AGENT_HEADERS }),
  );
  t.same(g.statuses, [200]);
  t.equal(
    h.upstream.requests[1]!.headers.authorization,
    undefined,
    'a grant without inject sends no Authorization',
  );
  t.equal(h.upstream.requests[1]!.headers.cookie, undefined);
});
