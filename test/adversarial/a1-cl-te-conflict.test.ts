import t from 'tap';
import { harness, REPORT_KEY } from '../helpers/adversarial.ts';

// A1: Content-Length and Transfer-Encoding together must be refused (RFC 9112 §6.3), in either order.
t.test('CL.TE conflict is refused with 400 and close; nothing is forwarded', async (t) => {
  const h = await harness(t);
  const variants = [
    ['Content-Length: 6', 'Transfer-Encoding: chunked'],
    ['Transfer-Encoding: chunked', 'Content-Length: 6'],
    ['Content-Length: 0', 'Transfer-Encoding: chunked'],
  ];
  for (const headers of variants) {
    const r = await h.raw(
      `POST /acme-uploads/${REPORT_KEY} HTTP/1.1\r\nHost: 127.0.0.1:${h.port}\r\n${headers.join('\r\n')}\r\n\r\n0\r\n\r\nG`,
    );
    t.equal(r.statuses[0], 400, headers.join(' + '));
    t.ok(r.closed, 'the connection is closed');
    t.equal(r.statuses.length, 1, 'the smuggled G never becomes a second request');
  }
  t.equal(h.upstream.requests.length, 0, 'nothing reached the upstream');
  t.ok((await h.reasons()).every((r) => r === 'ambiguous_framing' || r === 'malformed_request'));
});
