import t from 'tap';
import { harness, OUT_KEY, s3Request } from '../helpers/adversarial.ts';

// A12: no `100 Continue` before authorization; a denied upload is refused before its body is read.
t.test('a denied PUT with Expect gets 403 at once and no 100 Continue', async (t) => {
  const h = await harness(t);
  const r = await h.raw(
    s3Request(h, 'PUT', '/acme-uploads/users/bob/denied.bin', [
      'Expect: 100-continue',
      'Content-Length: 5368709120',
    ]),
    { idleMs: 1000 },
  );
  t.equal(r.statuses[0], 403);
  t.notMatch(r.text, /100 Continue/);
  t.equal(h.upstream.requests.length, 0);
});

t.test('an allowed PUT with Expect gets 100 Continue only after authorization', async (t) => {
  const h = await harness(t);
  const head = s3Request(h, 'PUT', `/acme-uploads/${OUT_KEY}`, ['Expect: 100-continue', 'Content-Length: 5']);
  const r = await h.raw([head, 'hello'], { gapMs: 300 });
  t.match(r.text, /^HTTP\/1\.1 100 Continue\r\n/);
  t.equal(r.statuses.at(-1), 200);
  t.equal(h.upstream.requests.length, 1);
  // UNSIGNED-PAYLOAD to a plain-http upstream is re-framed by Errand with signed chunks.
  t.match(
    h.upstream.requests[0]?.body.toString(),
    /^5;chunk-signature=[0-9a-f]{64}\r\nhello\r\n0;chunk-signature=[0-9a-f]{64}\r\n\r\n$/,
  );
});

t.test('Expect other than 100-continue is 417', async (t) => {
  const h = await harness(t);
  const r = await h.raw(
    s3Request(h, 'PUT', `/acme-uploads/${OUT_KEY}`, ['Expect: foo', 'Content-Length: 5'], 'hello'),
  );
  t.equal(r.statuses[0], 417);
  t.equal(h.upstream.requests.length, 0);
});
