import t from 'tap';
import { harness, s3Request } from '../helpers/adversarial.ts';

// A11: a denied request's body is consumed as a body, never parsed as a second request.
t.test('a request hidden in a denied body is never parsed or forwarded', async (t) => {
  const h = await harness(t);
  const hidden = `GET /acme-uploads/users/alice/report.pdf HTTP/1.1\r\nHost: 127.0.0.1:${h.port}\r\n\r\n`;
  const denied = s3Request(
    h,
    'PUT',
    '/acme-uploads/users/bob/x.txt',
    [`Content-Length: ${hidden.length}`],
    hidden,
  );
  const r = await h.raw(denied);
  t.equal(r.statuses[0], 403);
  t.equal(r.statuses.length, 1, 'only one response: the body was not a request');
  t.equal(h.upstream.requests.length, 0);
});

t.test('after a 400 the socket is closed', async (t) => {
  const h = await harness(t);
  const r = await h.raw(
    `GET / HTTP/1.1\r\nHost: 127.0.0.1:${h.port}\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx${s3Request(h, 'GET', '/acme-uploads/users/alice/report.pdf')}`,
  );
  t.same(r.statuses, [400]);
  t.ok(r.closed);
  t.equal(h.upstream.requests.length, 0);
});
