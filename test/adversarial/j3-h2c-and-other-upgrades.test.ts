import t from 'tap';
import {
  apiGrant,
  denyReasons,
  forwardHarness,
  httpManifest,
  httpRequest,
  tunnelExchange,
} from '../helpers/forward.ts';

// J3: h2c (with HTTP2-Settings) and any other Upgrade value are refused; Upgrade and HTTP2-Settings
// are never forwarded, on either listener.

t.test('h2c and other upgrades', async (t) => {
  const h = await forwardHarness(t, httpManifest([apiGrant({ id: 'x', path: '/v1/x', uses: 'unlimited' })]));
  const variants = [
    ['Connection: Upgrade, HTTP2-Settings', 'Upgrade: h2c', 'HTTP2-Settings: AAMAAABkAAQAAP__'],
    ['Connection: Upgrade', 'Upgrade: TLS/1.0'],
    ['HTTP2-Settings: AAMAAABkAAQAAP__'],
  ];
  for (const headers of variants) {
    const r = await tunnelExchange(h, 'api.acme.test:443', httpRequest('GET', '/v1/x', { headers }));
    t.same(denyReasons(r.text), ['upgrade_denied'], `tunnel: ${headers.join(' / ')}`);
    const p = await h.raw(httpRequest('GET', 'http://api.acme.test/v1/x', { headers }));
    t.same(denyReasons(p.text), ['upgrade_denied'], `proxy listener: ${headers.join(' / ')}`);
  }
  h.nothingReached(t, { resolvedOk: true });
});
