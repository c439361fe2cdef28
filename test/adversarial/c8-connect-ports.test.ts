import t from 'tap';
import { apiGrant, denyReasons, forwardHarness, httpManifest } from '../helpers/forward.ts';

// C8: CONNECT opens only the ports the manifest names (443 for an https grant); SMTP, Redis, SSH and
// plain HTTP ports of a granted host are refused before any lookup.

t.test('only granted ports', async (t) => {
  const h = await forwardHarness(t, httpManifest([apiGrant({ id: 'x', path: '/v1/x' })]));
  for (const port of [25, 6379, 22, 8080, 65535]) {
    const r = await h.raw(`CONNECT api.acme.test:${port} HTTP/1.1\r\nHost: api.acme.test:${port}\r\n\r\n`);
    t.same(r.statuses, [403], `port ${port}: 403`);
    t.same(denyReasons(r.text), ['port_denied'], `port ${port}: port_denied`);
    t.ok(r.closed);
  }
  const plain = await h.raw('CONNECT api.acme.test:80 HTTP/1.1\r\nHost: api.acme.test:80\r\n\r\n');
  t.same(denyReasons(plain.text), ['scheme_denied'], 'port 80 of an https-only host: scheme_denied');
  h.nothingReached(t);
});
