import t from 'tap';
import {
  apiGrant,
  denyReasons,
  forwardHarness,
  httpManifest,
  httpRequest,
  tunnelExchange,
} from '../helpers/forward.ts';

// J2: WebSocket upgrades are refused unless the grant says `websocket: true`. Errand does not relay
// WebSocket streams yet (docs/proxy.md), so even such a grant gets a clear refusal today, never a
// half-inspected tunnel; the grant's use is not spent on it.

t.test('websocket upgrades', async (t) => {
  const h = await forwardHarness(
    t,
    httpManifest([
      apiGrant({ id: 'plain', path: '/v1/plain', uses: 1 }),
      apiGrant({ id: 'ws', path: '/v1/ws', uses: 1, websocket: true }),
    ]),
  );
  const headers = [
    'Connection: Upgrade',
    'Upgrade: websocket',
    'Sec-WebSocket-Version: 13',
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
  ];
  for (const path of ['/v1/plain', '/v1/ws']) {
    const r = await tunnelExchange(h, 'api.acme.test:443', httpRequest('GET', path, { headers }));
    t.same(r.statuses, [403], `${path}: 403`);
    t.same(denyReasons(r.text), ['upgrade_denied'], `${path}: upgrade_denied`);
  }
  h.nothingReached(t, { resolvedOk: true });
  const plain = await tunnelExchange(h, 'api.acme.test:443', httpRequest('GET', '/v1/plain'));
  t.same(plain.statuses, [200], 'the refused upgrade did not spend the grant');
});
