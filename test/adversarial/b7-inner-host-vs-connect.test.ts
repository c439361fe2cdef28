import t from 'tap';
import {
  denyReasons,
  forwardHarness,
  httpManifest,
  httpRequest,
  injectGrant,
  SECRET,
  tunnelExchange,
} from '../helpers/forward.ts';

// B7: inside a tunnel opened for api.acme.test, a request whose Host (or absolute-form target) names
// anything else is 421 Misdirected Request: no credential injected, nothing dialled.

t.test('inner authority must be the CONNECT authority', async (t) => {
  const h = await forwardHarness(t, httpManifest([injectGrant('post', '/v1/x')]));
  const cases: [string, string, string | undefined][] = [
    ['Host: evil.test', '/v1/x', 'evil.test'],
    ['Host: an IP literal', '/v1/x', '10.0.0.1:443'],
    ['Host: another port', '/v1/x', 'api.acme.test:8443'],
    ['absolute-form to evil.test', 'https://evil.test/v1/x', 'api.acme.test'],
    ['absolute-form over http', 'http://api.acme.test/v1/x', 'api.acme.test'],
  ];
  for (const [name, target, host] of cases) {
    const r = await tunnelExchange(h, 'api.acme.test:443', httpRequest('POST', target, { host, body: 'x' }));
    t.same(r.statuses, [421], `${name}: 421`);
    t.same(denyReasons(r.text), ['host_mismatch'], `${name}: host_mismatch`);
    t.notMatch(r.text, SECRET, `${name}: the credential never appears`);
  }
  h.nothingReached(t);

  const same = await tunnelExchange(
    h,
    'api.acme.test:443',
    httpRequest('POST', 'https://api.acme.test/v1/x', { body: 'x' }),
  );
  t.same(same.statuses, [200], 'absolute-form naming the tunnel authority is the same request');
  t.equal(h.upstream.requests[0]?.headers.authorization, `Bearer ${SECRET}`);
});
