import t from 'tap';
import {
  apiGrant,
  denyReasons,
  forwardHarness,
  httpManifest,
  httpRequest,
  tunnelExchange,
} from '../helpers/forward.ts';

// B5: a Host that is not `reg-name|IP-literal [":" port]` is refused with 400 before anything else,
// on the proxy listener and inside an intercepted tunnel; a well-formed Host naming another
// authority inside a tunnel is 421.

const BAD_HOSTS = [
  'api.acme.test/../evil',
  'api.acme.test evil.test',
  'evil.test@api.acme.test',
  '',
  '[api.acme.test]',
  'api.acme.test:443@evil',
  'api.acme.test:65536',
  'api.acme.test:0443',
  'api..acme.test',
];

t.test('malformed Host values', async (t) => {
  const h = await forwardHarness(t, httpManifest([apiGrant({ id: 'x', path: '/v1/x', uses: 'unlimited' })]));
  for (const host of BAD_HOSTS) {
    const r = await h.raw(httpRequest('GET', 'http://api.acme.test/v1/x', { host }));
    t.equal(r.statuses[0], 400, `proxy listener, Host ${JSON.stringify(host)}: 400`);
    const inner = await tunnelExchange(h, 'api.acme.test:443', httpRequest('GET', '/v1/x', { host }));
    t.equal(inner.statuses[0], 400, `tunnel, Host ${JSON.stringify(host)}: 400`);
    t.match(denyReasons(inner.text)[0] ?? 'parser', /bad_host|malformed_request|parser/);
  }
  h.nothingReached(t);

  const normal = await tunnelExchange(
    h,
    'api.acme.test:443',
    httpRequest('GET', '/v1/x', { host: 'API.ACME.TEST.' }),
  );
  t.same(normal.statuses, [200], 'upper case and one trailing dot are normalized, then matched');
  const explicit = await tunnelExchange(
    h,
    'api.acme.test:443',
    httpRequest('GET', '/v1/x', { host: 'api.acme.test:443' }),
  );
  t.same(explicit.statuses, [200], 'the default port spelled out is the same authority');
});
