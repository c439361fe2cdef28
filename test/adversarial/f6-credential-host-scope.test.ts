import t from 'tap';
import {
  denyReasons,
  forwardHarness,
  httpManifest,
  httpRequest,
  injectGrant,
  PUBLIC_TEST_ADDRESS,
  SECRET,
  tunnelExchange,
} from '../helpers/forward.ts';

// F6: a credential is injected only for the exact normalized authority its grant names: not a
// suffix, not a subdomain, not another port, not the host's IP address.

t.test('credentials stay on their host', async (t) => {
  const h = await forwardHarness(t, httpManifest([{ ...injectGrant('post', '/v1/x'), uses: 'unlimited' }]));
  for (const [target, reason] of [
    ['api.acme.test.evil.net:443', 'not_in_manifest'],
    ['x.api.acme.test:443', 'not_in_manifest'],
    ['api.acme.test:8443', 'port_denied'],
    [`${PUBLIC_TEST_ADDRESS}:443`, 'not_in_manifest'],
  ] as const) {
    const r = await h.raw(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
    t.same(denyReasons(r.text), [reason], `${target}: ${reason}`);
  }
  const viaIp = await h.raw(
    httpRequest('POST', `http://${PUBLIC_TEST_ADDRESS}/v1/x`, { host: PUBLIC_TEST_ADDRESS, body: 'x' }),
  );
  t.same(denyReasons(viaIp.text), ['not_in_manifest'], 'the host’s address over the proxy listener');
  h.nothingReached(t);
  const dotted = await tunnelExchange(
    h,
    'api.acme.test.:443',
    httpRequest('POST', '/v1/x', { host: 'api.acme.test.', body: 'x' }),
    {
      servername: 'api.acme.test',
    },
  );
  t.same(dotted.statuses, [200], 'the trailing-dot spelling is the same authority');
  t.equal(h.upstream.requests.length, 1);
  t.equal(h.upstream.requests[0]!.headers.authorization, `Bearer ${SECRET}`);
  t.equal(h.upstream.requests[0]!.headers.host, 'api.acme.test', 'sent with the canonical authority');
});
