import t from 'tap';
import {
  apiGrant,
  denyReasons,
  forwardHarness,
  httpManifest,
  httpRequest,
  tunnelExchange,
} from '../helpers/forward.ts';

// D5: slashes are never merged. A path matches a grant only literally, and the literal path is what
// is sent: `//v1//repos` is not `/v1/repos`, and a grant that names `//` gets exactly `//`.

t.test('repeated slashes match literally', async (t) => {
  const h = await forwardHarness(
    t,
    httpManifest([
      apiGrant({ id: 'repos', path: '/v1/repos/org/repo/issues', uses: 'unlimited' }),
      apiGrant({ id: 'odd', path: '/v1//odd', uses: 'unlimited' }),
    ]),
  );
  for (const path of [
    '//v1//repos/org/repo/issues',
    '/v1/repos//org/repo/issues',
    '/v1/repos/org/repo/issues/',
  ]) {
    const r = await tunnelExchange(h, 'api.acme.test:443', httpRequest('GET', path));
    t.same(denyReasons(r.text), ['not_in_manifest'], `${path}: not_in_manifest`);
  }
  t.equal(h.upstream.requests.length, 0);
  const odd = await tunnelExchange(h, 'api.acme.test:443', httpRequest('GET', '/v1//odd'));
  t.same(odd.statuses, [200]);
  t.equal(h.upstream.requests[0]?.url, '/v1//odd', 'the matched bytes are the sent bytes');
});
