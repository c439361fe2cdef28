import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import t from 'tap';
import { createUpstream } from '../../src/proxy/upstream.ts';

// The endpoint's upstream client: request() hands back a readable answer, stream() writes the answer
// into the Writable its callback returns; both bounded by the timeouts given.

t.test('request() and stream() deliver the same answer; a stalled answer times out', async (t) => {
  const server = createServer((req, res) => {
    if (req.url === '/stall') return void res.writeHead(200, { 'content-length': '10' }).write('abc');
    res.writeHead(201, { 'x-amz-request-id': 'RID', 'content-type': 'text/plain' });
    res.end(`answer to ${req.method} ${req.url}`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const upstream = createUpstream({ timeoutMs: { connect: 500, headers: 500, body: 200 } });
  t.teardown(async () => {
    await upstream.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  const req = { origin, path: '/k?x=1', method: 'GET', headers: {}, body: undefined };

  const answer = await upstream.request(req);
  t.same(
    [answer.statusCode, answer.headers['x-amz-request-id'], await answer.body.text()],
    [201, 'RID', 'answer to GET /k?x=1'],
  );

  const chunks: Buffer[] = [];
  let head: { statusCode: number; id: unknown } | undefined;
  await upstream.stream(req, (h) => {
    head = { statusCode: h.statusCode, id: h.headers['x-amz-request-id'] };
    return new Writable({
      write(chunk: Buffer, _e, cb) {
        chunks.push(chunk);
        cb();
      },
    });
  });
  t.same(head, { statusCode: 201, id: 'RID' });
  t.equal(Buffer.concat(chunks).toString(), 'answer to GET /k?x=1');

  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  await t.rejects(
    upstream.stream({ ...req, path: '/stall' }, () => sink),
    { code: 'UND_ERR_BODY_TIMEOUT' },
    'a body that stops is an error, not a hang',
  );
  t.equal(sink.destroyed, true, 'and the Writable is destroyed');
});
