import t from 'tap';
import { parseRunConfig } from '../../src/ops/config.ts';
import {
  createTestCa,
  denyReasons,
  forwardHarness,
  httpManifest,
  httpRequest,
  injectGrant,
  PUBLIC_TEST_ADDRESS,
  SECRET,
  startTlsUpstream,
  tunnelExchange,
} from '../helpers/forward.ts';

// I2: Errand verifies the API's certificate against the name the grant names (SNI = that name) and
// sends nothing, credential included, to an upstream whose certificate is self-signed, expired,
// for another name or for an IP only. An environment that disables verification is refused.

t.test('upstream certificates are verified', async (t) => {
  const h = await forwardHarness(t, httpManifest([{ ...injectGrant('post', '/v1/x'), uses: 'unlimited' }]));
  const stranger = await createTestCa();
  const bad = [
    { name: 'self-signed (unknown CA)', up: await startTlsUpstream(stranger, ['api.acme.test']) },
    { name: 'expired', up: await startTlsUpstream(h.testCa, ['api.acme.test'], { expired: true }) },
    { name: 'another name', up: await startTlsUpstream(h.testCa, ['evil.test']) },
    { name: 'IP only', up: await startTlsUpstream(h.testCa, [PUBLIC_TEST_ADDRESS]) },
  ];
  t.teardown(() => Promise.all(bad.map((b) => b.up.close())));
  for (const { name, up } of bad) {
    h.net.routes.set(`${PUBLIC_TEST_ADDRESS}:443`, up.port);
    const r = await tunnelExchange(h, 'api.acme.test:443', httpRequest('POST', '/v1/x', { body: 'x' }));
    t.same(r.statuses, [502], `${name}: 502`);
    t.same(denyReasons(r.text), ['upstream_error'], `${name}: upstream_error`);
    t.equal(up.requests.length, 0, `${name}: not one request byte reached it`);
    t.notMatch(r.text, SECRET);
  }
  t.equal(h.upstream.requests.length, 0);
  h.net.routes.set(`${PUBLIC_TEST_ADDRESS}:443`, h.upstream.port);
  const good = await tunnelExchange(h, 'api.acme.test:443', httpRequest('POST', '/v1/x', { body: 'x' }));
  t.same(good.statuses, [200], 'the upstream with a valid certificate for the name is reached');
});

t.test('NODE_TLS_REJECT_UNAUTHORIZED=0 in the environment stops errand run', async (t) => {
  t.throws(
    () =>
      parseRunConfig(['--manifest', 'm.yaml', '--unsafe-allow-unsigned-manifest'], {
        NODE_TLS_REJECT_UNAUTHORIZED: '0',
      }),
    { code: 'ERR_CONFIG', message: /NODE_TLS_REJECT_UNAUTHORIZED=0/ },
  );
});
