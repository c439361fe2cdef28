import t from 'tap';
import { harness, REPORT_KEY } from '../helpers/adversarial.ts';

// A16: a repeated header Errand reads or signs is refused (Node keeps the first Host but rawHeaders
// keeps both; joining x-amz-copy-source hides two sources in one value).
t.test('duplicate security-relevant headers are refused with 400', async (t) => {
  const h = await harness(t);
  const host = `Host: 127.0.0.1:${h.port}`;
  const dups = [
    `${host}\r\nHost: evil.test`,
    `${host}\r\nAuthorization: a\r\nAuthorization: b`,
    `${host}\r\nx-amz-copy-source: b1/k1\r\nx-amz-copy-source: b2/k2`,
    `${host}\r\nX-Amz-Target: DynamoDB_20120810.GetItem\r\nX-Amz-Target: DynamoDB_20120810.DeleteItem`,
    `${host}\r\nDPoP: a\r\nDPoP: b`,
    `${host}\r\nContent-Type: a\r\nContent-Type: b`,
  ];
  for (const d of dups) {
    const r = await h.raw(`GET /acme-uploads/${REPORT_KEY} HTTP/1.1\r\n${d}\r\n\r\n`);
    t.equal(r.statuses[0], 400, JSON.stringify(d.split('\r\n').at(-1)));
    t.match(r.text, /ambiguous_framing|malformed_request/);
  }
  t.equal(h.upstream.requests.length, 0);
});
