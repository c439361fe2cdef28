import t from 'tap';
import {
  apiGrant,
  denyReasons,
  forwardHarness,
  httpManifest,
  httpRequest,
  tunnelExchange,
} from '../helpers/forward.ts';

// D4: a fragment is never valid in a request-target (RFC 9112 §3.2): 400, on both listeners.

t.test('fragments', async (t) => {
  const h = await forwardHarness(
    t,
    httpManifest([apiGrant({ id: 'items', path: '/v1/items', uses: 'unlimited' })]),
  );
  for (const target of ['/v1/items#x', '/v1/items#/../admin', '/v1/items?a=1#frag']) {
    const r = await tunnelExchange(h, 'api.acme.test:443', httpRequest('GET', target));
    t.same(r.statuses, [400], `tunnel ${target}: 400`);
    t.same(denyReasons(r.text), ['malformed_request']);
    const p = await h.raw(httpRequest('GET', `http://api.acme.test${target}`));
    t.same(p.statuses, [400], `proxy ${target}: 400`);
  }
  h.nothingReached(t, { resolvedOk: true });
});
