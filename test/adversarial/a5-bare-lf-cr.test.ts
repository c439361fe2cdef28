import t from 'tap';
import { harness } from '../helpers/adversarial.ts';

// A5: bare LF, bare CR and broken terminators are refused.
t.test('bare LF / CR terminators are refused with 400', async (t) => {
  const h = await harness(t);
  const host = `127.0.0.1:${h.port}`;
  const variants = [
    `GET /acme-uploads/users/alice/report.pdf HTTP/1.1\nHost: ${host}\n\n`,
    `GET /acme-uploads/users/alice/report.pdf HTTP/1.1\r\nHost: ${host}\r\n\rX\r\n\r\n`,
    `GET /acme-uploads/users/alice/report.pdf HTTP/1.1\r\nHost: ${host}\r\nContent\rLength: 3\r\n\r\nabc`,
    `GET /acme-uploads/users/alice/report.pdf HTTP/1.1\nHost: ${host}\r\n\r\n`,
  ];
  for (const v of variants) {
    const r = await h.raw(v);
    t.equal(r.statuses[0], 400, JSON.stringify(v.slice(0, 60)));
  }
  t.equal(h.upstream.requests.length, 0);
});
