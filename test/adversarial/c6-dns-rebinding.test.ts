import t from 'tap';
import {
  apiGrant,
  denyReasons,
  forwardHarness,
  httpManifest,
  httpRequest,
  PUBLIC_TEST_ADDRESS,
  tunnelExchange,
} from '../helpers/forward.ts';

// C6: a name is resolved once per request, the answer checked, and that checked address is the one
// dialled: nothing below Errand (undici, TLS) resolves it again. A name that rebinds to metadata on
// the next lookup reaches nothing.

t.test('resolve once, dial the checked address', async (t) => {
  const h = await forwardHarness(t, httpManifest([apiGrant({ id: 'x', path: '/v1/x', uses: 3 })]));
  // TTL 0 rebinding: the first answer is public, every later one is IMDS.
  h.net.names.set('api.acme.test', [PUBLIC_TEST_ADDRESS]);
  const first = await tunnelExchange(h, 'api.acme.test:443', httpRequest('GET', '/v1/x'));
  const lookups = h.net.resolved.length;
  t.same(first.statuses, [200], 'the first request reaches the public address');
  t.equal(lookups, 1, 'resolved exactly once for it');
  t.same(h.net.dialed, [`${PUBLIC_TEST_ADDRESS}:443`], 'the checked address was dialled, nothing else');

  h.net.names.set('api.acme.test', ['169.254.169.254']);
  const second = await tunnelExchange(h, 'api.acme.test:443', httpRequest('GET', '/v1/x'));
  t.same(denyReasons(second.text), ['dest_ip_denied'], 'after the rebind the request is refused');
  t.same(h.net.dialed, [`${PUBLIC_TEST_ADDRESS}:443`], 'and nothing new was dialled');
  t.equal(h.upstream.requests.length, 1);

  // A public A with a private AAAA: every answer is checked, not only the one a happy-eyeballs
  // connect would try first.
  h.net.names.set('api.acme.test', [PUBLIC_TEST_ADDRESS, 'fd00::1']);
  const dual = await tunnelExchange(h, 'api.acme.test:443', httpRequest('GET', '/v1/x'));
  t.same(denyReasons(dual.text), ['dest_ip_denied']);
  t.equal(h.net.resolved.length, 3, 'one lookup per request');
});
