import t from 'tap';
import {
  apiGrant,
  denyReasons,
  forwardHarness,
  httpManifest,
  httpRequest,
  tunnelExchange,
} from '../helpers/forward.ts';

// J1: an Upgrade on a grant that does not say `websocket: true` is refused before anything is sent,
// and the connection is closed: bytes the agent sends after it are never parsed as a request that a
// smuggling upstream might have let through.

t.test('a refused upgrade closes the connection', async (t) => {
  const h = await forwardHarness(
    t,
    httpManifest([apiGrant({ id: 'ws', path: '/v1/ws', uses: 'unlimited' })]),
  );
  const upgrade = httpRequest('GET', '/v1/ws', {
    headers: [
      'Connection: Upgrade',
      'Upgrade: websocket',
      'Sec-WebSocket-Version: 1337',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
    ],
  });
  const r = await tunnelExchange(h, 'api.acme.test:443', [upgrade, httpRequest('GET', '/internal')]);
  t.same(r.statuses, [403], 'one answer: the refusal; the smuggled request is never read');
  t.same(denyReasons(r.text), ['upgrade_denied']);
  t.match(r.text, /connection: close/i);
  const p = await h.raw([
    httpRequest('GET', 'http://api.acme.test/v1/ws', {
      headers: ['Connection: Upgrade', 'Upgrade: websocket'],
    }),
    httpRequest('GET', 'http://api.acme.test/internal'),
  ]);
  t.same(p.statuses, [403], 'the same on the proxy listener');
  h.nothingReached(t);
});
