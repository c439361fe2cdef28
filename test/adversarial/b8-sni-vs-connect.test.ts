import t from 'tap';
import { apiGrant, forwardHarness, httpManifest, httpRequest, tunnelExchange } from '../helpers/forward.ts';

// B8: the ClientHello's server name must be the CONNECT host. Another name, an IP or none: the
// handshake is aborted, no certificate is minted for the other name, nothing is forwarded.

t.test('SNI must equal the CONNECT host', async (t) => {
  const h = await forwardHarness(t, httpManifest([apiGrant({ id: 'x', path: '/v1/x', uses: 'unlimited' })]));
  const before = h.sidecar.forward!.ca.minted();
  for (const [name, servername] of [
    ['another name', 'evil.test'],
    ['no server name', false],
    ['a fronting name', 'cloudflare-ech.com'],
  ] as const) {
    const r = await tunnelExchange(h, 'api.acme.test:443', httpRequest('GET', '/v1/x'), { servername });
    t.equal(r.connectStatus, 200, `${name}: the CONNECT itself was for a granted host`);
    t.ok(r.tlsFailed, `${name}: the handshake is aborted`);
    t.same(r.statuses, [], `${name}: no HTTP answer`);
  }
  t.equal(h.sidecar.forward!.ca.minted(), before, 'no certificate was minted for a mismatched name');
  h.nothingReached(t);
  const reasons = await h.reasons();
  t.same(reasons, ['sni_mismatch', 'sni_mismatch', 'sni_mismatch']);

  const upper = await tunnelExchange(h, 'api.acme.test:443', httpRequest('GET', '/v1/x'), {
    servername: 'API.ACME.TEST',
  });
  t.same(upper.statuses, [200], 'server names compare case-insensitively (DNS names)');
});
