import t from 'tap';
import { apiGrant, forwardHarness, httpManifest, httpRequest, tunnelExchange } from '../helpers/forward.ts';

// B10: an intercepted tunnel must start with a TLS handshake record; plaintext HTTP inside it (whose
// Host would otherwise pick the destination) closes the tunnel with nothing forwarded.

t.test('plaintext inside a CONNECT tunnel is closed', async (t) => {
  const h = await forwardHarness(t, httpManifest([apiGrant({ id: 'x', path: '/v1/x' })]));
  for (const payload of [
    httpRequest('GET', 'http://evil.test/', { host: 'evil.test' }),
    httpRequest('GET', '/v1/x'),
    '\x80\x01\x03\x01', // SSLv2-style hello: not a TLS record
  ]) {
    const r = await tunnelExchange(h, 'api.acme.test:443', payload, { plain: true });
    t.equal(r.connectStatus, 200);
    t.equal(r.text, '', 'nothing comes back but the close');
  }
  h.nothingReached(t);
  t.same(await h.reasons(), ['malformed_request', 'malformed_request', 'malformed_request']);
});
