import t from 'tap';
import {
  apiGrant,
  denyReasons,
  forwardHarness,
  httpManifest,
  httpRequest,
  tunnelExchange,
} from '../helpers/forward.ts';

// B13: the CONNECT decision authorizes nothing by itself; each request inside one keep-alive tunnel
// is authorized on its own.

t.test('one tunnel, three requests, three decisions', async (t) => {
  const h = await forwardHarness(t, httpManifest([apiGrant({ id: 'read-a', path: '/v1/a' })]));
  const r = await tunnelExchange(h, 'api.acme.test:443', [
    httpRequest('GET', '/v1/a'),
    httpRequest('GET', '/v1/a'),
    httpRequest('DELETE', '/v1/a'),
  ]);
  t.same(r.statuses, [200, 403, 403]);
  t.same(denyReasons(r.text), ['grant_exhausted', 'not_in_manifest']);
  t.equal(h.upstream.requests.length, 1, 'exactly one request reached the API');
  t.same(await h.reasons(), ['allowed', 'grant_exhausted', 'not_in_manifest']);
});
