import t from 'tap';
import { harness } from '../helpers/adversarial.ts';

// A13: header sections, header counts and request-targets are bounded.
t.test('oversized headers, too many headers and long URIs are refused', async (t) => {
  const h = await harness(t);
  const host = `Host: 127.0.0.1:${h.port}`;
  const big = await h.raw(
    `GET /acme-uploads/a HTTP/1.1\r\n${host}\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`,
  );
  t.equal(big.statuses[0], 431, 'one 20 KB header');
  const many = Array.from({ length: 5000 }, (_, i) => `X-${i}: a`).join('\r\n');
  const lots = await h.raw(`GET /acme-uploads/a HTTP/1.1\r\n${host}\r\n${many}\r\n\r\n`);
  t.ok([400, 431].includes(lots.statuses[0] ?? 0), `5,000 headers → ${lots.statuses[0]}`);
  const uri = await h.raw(`GET /acme-uploads/${'a'.repeat(12 * 1024)} HTTP/1.1\r\n${host}\r\n\r\n`);
  t.ok([414, 431].includes(uri.statuses[0] ?? 0), `12 KB target → ${uri.statuses[0]}`);
  const hostBig = await h.raw(`GET /acme-uploads/a HTTP/1.1\r\nHost: ${'h'.repeat(8 * 1024)}\r\n\r\n`);
  t.ok([400, 431].includes(hostBig.statuses[0] ?? 0), '8 KB Host');
  t.equal(h.upstream.requests.length, 0);
});
