import t from 'tap';
import { harness } from '../helpers/adversarial.ts';

// A8: only HTTP/1.1 with a well-formed request line is accepted; HTTP/0.9, 1.0, h2 preface and
// asterisk-form are refused (Node hands 0.9 and Host-less 1.0 to handlers: Errand checks itself).
t.test('odd request lines and versions are refused', async (t) => {
  const h = await harness(t);
  const host = `Host: 127.0.0.1:${h.port}`;
  const rows: [string, number[]][] = [
    [`GET /a b HTTP/1.1\r\n${host}\r\n\r\n`, [400]],
    [`GET /a\tb HTTP/1.1\r\n${host}\r\n\r\n`, [400]],
    [`get / HTTP/1.1\r\n${host}\r\n\r\n`, [400]],
    [`GET / HTTP/1.01\r\n${host}\r\n\r\n`, [400, 505]],
    ['GET /\r\n\r\n', [400, 505]],
    ['GET / HTTP/1.0\r\n\r\n', [400, 505]],
    [`GET /acme-uploads/users/alice/report.pdf HTTP/1.0\r\n${host}\r\n\r\n`, [505]],
    ['PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', [400, 505]],
    [`OPTIONS * HTTP/1.1\r\n${host}\r\n\r\n`, [400]],
    [`TRACE /acme-uploads/users/alice/report.pdf HTTP/1.1\r\n${host}\r\n\r\n`, [400]],
  ];
  for (const [req, statuses] of rows) {
    const r = await h.raw(req);
    t.ok(statuses.includes(r.statuses[0] ?? 0), `${JSON.stringify(req.slice(0, 40))} → ${r.statuses[0]}`);
  }
  t.equal(h.upstream.requests.length, 0);
});
