import t from 'tap';
import { harness } from '../helpers/adversarial.ts';

// A3: duplicate (even identical), signed, hex, spaced or overflowing Content-Length values are refused.
t.test('ambiguous Content-Length is refused with 400; nothing is forwarded', async (t) => {
  const h = await harness(t);
  const variants = [
    'Content-Length: 5\r\nContent-Length: 6',
    'Content-Length: 5\r\nContent-Length: 5',
    'Content-Length: 1 2',
    'Content-Length: +5',
    'Content-Length: 0x5',
    'Content-Length: 1000000000000000000000',
    ' Content-Length: 4',
    'Content-Length : 4',
  ];
  for (const cl of variants) {
    const r = await h.raw(
      `PUT /acme-uploads/out/summary.txt HTTP/1.1\r\nHost: 127.0.0.1:${h.port}\r\n${cl}\r\n\r\nhello`,
    );
    t.equal(r.statuses[0], 400, JSON.stringify(cl));
    t.ok(r.closed, 'closed');
  }
  t.equal(h.upstream.requests.length, 0, 'nothing reached the upstream');
});
