import t from 'tap';
import {
  apiGrant,
  denyReasons,
  forwardHarness,
  httpManifest,
  httpRequest,
  tunnelExchange,
} from '../helpers/forward.ts';

// D10: TRACE (which would echo the injected token back), WebDAV methods, QUERY and CONNECT inside an
// intercepted tunnel are refused whatever the grants; methods Node's parser does not know are 400.

t.test('odd methods', async (t) => {
  const h = await forwardHarness(
    t,
    httpManifest([apiGrant({ id: 'any', path: '/v1/items', uses: 'unlimited' })]),
  );
  for (const method of ['TRACE', 'PROPFIND', 'QUERY', 'MKCOL']) {
    const r = await tunnelExchange(h, 'api.acme.test:443', httpRequest(method, '/v1/items'));
    t.same(r.statuses, [403], `${method}: 403`);
    t.same(denyReasons(r.text), ['not_in_manifest'], `${method}: not_in_manifest`);
    const p = await h.raw(httpRequest(method, 'http://api.acme.test/v1/items'));
    t.same(p.statuses, [403], `${method} on the proxy listener: 403`);
  }
  const track = await tunnelExchange(h, 'api.acme.test:443', httpRequest('TRACK', '/v1/items'));
  t.same(track.statuses, [400], 'TRACK does not even parse');
  const connect = await tunnelExchange(
    h,
    'api.acme.test:443',
    'CONNECT evil.test:443 HTTP/1.1\r\nHost: evil.test:443\r\n\r\n',
  );
  t.same(connect.statuses, [403], 'CONNECT inside a tunnel: 403');
  t.same(denyReasons(connect.text), ['not_in_manifest']);
  h.nothingReached(t, { resolvedOk: true });
});
