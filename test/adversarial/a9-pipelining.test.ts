import t from 'tap';
import { harness, REPORT_KEY, s3Request } from '../helpers/adversarial.ts';

// A9: pipelined requests are each authorized on their own; the second use of a once-grant and an
// ungranted request in the same TCP write are refused and never forwarded.
t.test('two pipelined requests: the first is forwarded, the second refused', async (t) => {
  const h = await harness(t);
  const get = s3Request(h, 'GET', `/acme-uploads/${REPORT_KEY}`);
  const del = s3Request(h, 'DELETE', `/acme-uploads/${REPORT_KEY}`);
  const r = await h.raw(get + del);
  t.same(r.statuses, [200, 403], 'responses in order');
  t.equal(h.upstream.requests.length, 1, 'only the granted request reached the upstream');
  t.equal(h.upstream.requests[0]?.method, 'GET');
  t.same(await h.reasons(), ['allowed', 'aws_op_not_granted']);
});

t.test('the same once-grant twice in one write: exactly one is forwarded', async (t) => {
  const h = await harness(t);
  const get = s3Request(h, 'GET', `/acme-uploads/${REPORT_KEY}`);
  const r = await h.raw(get + get);
  t.same(r.statuses, [200, 403]);
  t.match(r.text, /grant_exhausted/);
  t.equal(h.upstream.requests.length, 1);
});
