import t from 'tap';
import { request } from 'undici';
import { AGENT_AUTH, harness, REPORT_KEY, s3Request } from '../helpers/adversarial.ts';

// G1: a once-grant under 200 concurrent attempts on separate sockets, plus 10 pipelined on one
// socket: exactly one reaches the upstream; every other attempt is refused with grant_exhausted.
t.test('200 concurrent attempts on a once grant: exactly one succeeds', async (t) => {
  const h = await harness(t);
  const attempts = Array.from({ length: 200 }, () =>
    request(`http://127.0.0.1:${h.port}/acme-uploads/${REPORT_KEY}`, {
      headers: {
        authorization: AGENT_AUTH,
        'x-amz-date': '20261129T000000Z',
        'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
      },
      reset: true,
    }).then(async (r) => {
      const body = await r.body.text();
      return { status: r.statusCode, deny: r.headers['x-egress-deny'], body };
    }),
  );
  const results = await Promise.all(attempts);
  t.equal(results.filter((r) => r.status === 200).length, 1, 'one success');
  t.equal(
    results.filter((r) => r.status === 403 && r.deny === 'grant_exhausted').length,
    199,
    '199 × grant_exhausted',
  );
  t.equal(h.upstream.requests.length, 1, 'exactly one upstream request');
  const pipelined = await h.raw(s3Request(h, 'GET', `/acme-uploads/${REPORT_KEY}`).repeat(10));
  t.same(pipelined.statuses, Array(10).fill(403), 'ten pipelined after it are all refused');
  t.equal(h.upstream.requests.length, 1);
});
