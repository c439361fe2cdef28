import t from 'tap';
import { harness } from '../helpers/adversarial.ts';

// A7: NUL and other control bytes in header names or values are refused.
t.test('control bytes in headers are refused with 400', async (t) => {
  const h = await harness(t);
  const host = `127.0.0.1:${h.port}`;
  const variants = [
    `X-A: b\x00c`,
    `Host2: api.allowed.test\x00.evil.test`,
    `Authorization: Bearer \x01`,
    `X-\x7fA: b`,
    `X-A: b\x1bc`,
  ];
  for (const v of variants) {
    const r = await h.raw(
      `GET /acme-uploads/users/alice/report.pdf HTTP/1.1\r\nHost: ${host}\r\n${v}\r\n\r\n`,
    );
    t.equal(r.statuses[0], 400, JSON.stringify(v));
  }
  const nulHost = await h.raw(
    `GET /acme-uploads/users/alice/report.pdf HTTP/1.1\r\nHost: ${host}\x00.evil.test\r\n\r\n`,
  );
  t.equal(nulHost.statuses[0], 400, 'NUL in Host');
  t.equal(h.upstream.requests.length, 0);
});
