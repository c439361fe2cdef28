import t from 'tap';
import { harness, s3Request } from '../helpers/adversarial.ts';

// A6: malformed chunked bodies are refused and never forwarded; agent trailers never reach upstream.
t.test('malformed chunk framing is refused; nothing is forwarded', async (t) => {
  const h = await harness(t);
  const bodies = [
    '3;x\nabc\r\n0\r\n\r\n',
    '3\nabc\r\n0\r\n\r\n',
    '+3\r\nabc\r\n0\r\n\r\n',
    '-0\r\n\r\n',
    ' 3\r\nabc\r\n0\r\n\r\n',
    '5;a="b; c\r\nabcde\r\n0\r\n\r\n',
    '0\r\n\n',
    '0\r\nbadtrailer\r\n\r\n',
  ];
  for (const body of bodies) {
    const r = await h.raw(
      s3Request(h, 'PUT', '/acme-uploads/out/summary.txt', ['Transfer-Encoding: chunked'], body),
      { idleMs: 800 },
    );
    t.not(r.statuses[0], 200, JSON.stringify(body));
  }
  t.equal(h.upstream.requests.length, 0, 'no malformed body reached the upstream');
});

t.test('a megabyte of chunk extensions is refused', async (t) => {
  const h = await harness(t);
  const r = await h.raw(
    s3Request(
      h,
      'PUT',
      '/acme-uploads/out/summary.txt',
      ['Transfer-Encoding: chunked'],
      `1;${'a'.repeat(1024 * 1024)}\r\nx\r\n0\r\n\r\n`,
    ),
    { idleMs: 800 },
  );
  t.not(r.statuses[0], 200);
  t.equal(h.upstream.requests.length, 0);
});
