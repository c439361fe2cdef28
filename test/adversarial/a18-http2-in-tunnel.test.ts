import t from 'tap';
import { harness, REPORT_KEY } from '../helpers/adversarial.ts';

// A18: Errand speaks HTTP/1.1 only. The h2 preface and h2c upgrades are refused on the endpoint
// listener; the intercepted-TLS listener offers only http/1.1 in ALPN (tested with the forward proxy).
t.test('the h2 connection preface is refused', async (t) => {
  const h = await harness(t);
  const r = await h.raw('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04\x00\x00\x00\x00\x00');
  t.ok([400, 505].includes(r.statuses[0] ?? 0));
  t.ok(r.closed);
  t.equal(h.upstream.requests.length, 0);
});

t.test('h2c and other upgrades are refused, never forwarded', async (t) => {
  const h = await harness(t);
  for (const up of [
    'Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\nConnection: Upgrade, HTTP2-Settings',
    'Upgrade: TLS/1.0\r\nConnection: Upgrade',
    'Upgrade: websocket\r\nConnection: Upgrade',
  ]) {
    const r = await h.raw(
      `GET /acme-uploads/${REPORT_KEY} HTTP/1.1\r\nHost: 127.0.0.1:${h.port}\r\n${up}\r\n\r\n`,
    );
    t.equal(r.statuses[0], 403, up.split('\r\n')[0] ?? up);
    t.match(r.text, /upgrade_denied/);
  }
  t.equal(h.upstream.requests.length, 0);
});
