import t from 'tap';
import { harness } from '../helpers/adversarial.ts';

// A4: obsolete line folding (RFC 9112 §5.2) is refused, not unfolded.
t.test('obs-fold in any header is refused with 400', async (t) => {
  const h = await harness(t);
  for (const folded of [
    'X-Foo: a\r\n b',
    'Transfer-Encoding:\r\n chunked',
    'Authorization: Bearer x\r\n y',
  ]) {
    const r = await h.raw(
      `GET /acme-uploads/users/alice/report.pdf HTTP/1.1\r\nHost: 127.0.0.1:${h.port}\r\n${folded}\r\n\r\n`,
    );
    t.equal(r.statuses[0], 400, JSON.stringify(folded));
    t.ok(r.closed);
  }
  t.equal(h.upstream.requests.length, 0);
});
