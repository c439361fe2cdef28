import t from 'tap';
import { harness } from '../helpers/adversarial.ts';

// A2: every Transfer-Encoding other than exactly `chunked` is refused, however it is disguised.
t.test('obfuscated Transfer-Encoding is refused; nothing is forwarded', async (t) => {
  const h = await harness(t);
  const variants = [
    'Transfer-Encoding : chunked',
    '\tTransfer-Encoding: chunked',
    'Transfer-Encoding: xchunked',
    'Transfer-Encoding: chunked, identity',
    'Transfer-Encoding: identity,chunked \r\nContent-Length: 36',
    'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked-false\r\nConnection: upgrade',
    'Transfer-Encoding:',
    'Transfer-Encoding:\r\n chunked',
  ];
  for (const te of variants) {
    const r = await h.raw(
      `POST /acme-uploads/out/summary.txt HTTP/1.1\r\nHost: 127.0.0.1:${h.port}\r\n${te}\r\n\r\n0\r\n\r\n`,
    );
    t.ok(r.statuses[0] === 400 || r.statuses[0] === 501, `${JSON.stringify(te)} → ${r.statuses[0]}`);
    t.ok(r.closed, 'closed');
  }
  t.equal(h.upstream.requests.length, 0, 'nothing reached the upstream');
});
