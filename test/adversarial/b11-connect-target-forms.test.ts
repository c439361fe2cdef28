import t from 'tap';
import { apiGrant, denyReasons, forwardHarness, httpManifest } from '../helpers/forward.ts';

// B11: CONNECT takes authority-form `host:port` only; anything else is 400, a port the manifest does
// not name is 403 port_denied, and a Host header naming another authority is 400.

t.test('CONNECT target forms', async (t) => {
  const h = await forwardHarness(t, httpManifest([apiGrant({ id: 'x', path: '/v1/x' })]));
  const cases: [string, number, string | undefined][] = [
    ['api.acme.test', 400, 'malformed_request'],
    ['api.acme.test:443/x', 400, 'malformed_request'],
    ['http://api.acme.test:443', 400, 'malformed_request'],
    ['user@api.acme.test:443', 400, 'malformed_request'],
    ['2001:db8::1:443', 400, 'malformed_request'],
    ['../../../tmp/x:443', 400, 'malformed_request'],
    ['api.acme.test:0443', 400, 'malformed_request'],
    ['api.acme.test:22', 403, 'port_denied'],
    ['api.acme.test:8443', 403, 'port_denied'],
  ];
  for (const [target, status, reason] of cases) {
    const r = await h.raw(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
    t.same(r.statuses, [status], `${target}: ${status}`);
    t.same(denyReasons(r.text), [reason], `${target}: ${reason}`);
    t.ok(r.closed, `${target}: closed`);
  }
  const host = await h.raw('CONNECT api.acme.test:443 HTTP/1.1\r\nHost: evil.test:443\r\n\r\n');
  t.same(host.statuses, [400], 'a Host naming another authority than the CONNECT target: 400');
  t.same(denyReasons(host.text), ['bad_host']);
  h.nothingReached(t);
});
