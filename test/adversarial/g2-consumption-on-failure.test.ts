import t from 'tap';
import { request } from 'undici';
import { AGENT_AUTH, harness, REPORT_KEY } from '../helpers/adversarial.ts';

const headers = {
  authorization: AGENT_AUTH,
  'x-amz-date': '20261129T000000Z',
  'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
};

// G2: the use is taken at authorization, not on success: an upstream 500 does not refund it, and the
// SDK's automatic retry of a once-grant is refused with a message that says why.
t.test('an upstream 500 consumes the use; the retry is refused as exhausted', async (t) => {
  const h = await harness(t);
  h.upstream.answer(() => ({
    status: 500,
    headers: { 'content-type': 'application/xml' },
    body: '<Error><Code>InternalError</Code></Error>',
  }));
  const first = await request(`http://127.0.0.1:${h.port}/acme-uploads/${REPORT_KEY}`, { headers });
  t.equal(first.statusCode, 500, 'the upstream error is relayed');
  await first.body.text();
  const retry = await request(`http://127.0.0.1:${h.port}/acme-uploads/${REPORT_KEY}`, { headers });
  t.equal(retry.statusCode, 403, 'not 5xx: SDKs must not retry the deny');
  t.match(
    await retry.body.text(),
    /<Code>AccessDenied<\/Code><Message>Errand denied this request \(grant_exhausted\): grant read-report .* repeating or retrying this call will not be allowed/,
  );
  t.equal(h.upstream.requests.length, 1);
});

t.test('an agent that aborts mid-body still spent the use', async (t) => {
  const h = await harness(t);
  const { connect } = await import('node:net');
  await new Promise<void>((resolve) => {
    const s = connect(h.port, '127.0.0.1', () => {
      s.write(
        `PUT /acme-uploads/out/summary.txt HTTP/1.1\r\nHost: 127.0.0.1:${h.port}\r\nAuthorization: ${AGENT_AUTH}\r\nx-amz-date: 20261129T000000Z\r\nx-amz-content-sha256: UNSIGNED-PAYLOAD\r\nContent-Length: 100\r\n\r\nhalf`,
      );
      setTimeout(() => {
        s.destroy();
        resolve();
      }, 300);
    });
  });
  const again = await request(`http://127.0.0.1:${h.port}/acme-uploads/out/summary.txt`, {
    method: 'PUT',
    headers: { ...headers, 'content-length': '2' },
    body: 'ok',
  });
  t.equal(again.statusCode, 403);
  t.equal(again.headers['x-egress-deny'], 'grant_exhausted');
  await again.body.text();
});
