import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { connect } from 'node:net';
import t, { type Test } from 'tap';
import { request } from 'undici';
import { AGENT_AUTH } from '../helpers/adversarial.ts';
import { awsGrant, manifestWith } from '../helpers/manifests.ts';
import { inMinutes, startTestSidecar, TEST_CREDENTIALS, type TestSidecar } from '../helpers/sidecar.ts';

// The answer relay of the AWS endpoint: a success streams from the upstream straight into the
// agent's response (undici's stream API, no Readable in between), counted into the result record;
// an answer Errand must read whole (an error to redact) is collected first; an agent that hangs up
// mid-answer is not an upstream failure.

const GRANTS = [
  awsGrant({ id: 'read-big', action: 's3:GetObject', resources: ['arn:aws:s3:::acme-uploads/big'] }),
  awsGrant({ id: 'read-denied', action: 's3:GetObject', resources: ['arn:aws:s3:::acme-uploads/denied'] }),
  awsGrant({ id: 'read-slow', action: 's3:GetObject', resources: ['arn:aws:s3:::acme-uploads/slow'] }),
];
const BIG = 3 * 1024 * 1024 + 17;

async function startUpstream(t: Test, behave: (req: IncomingMessage, res: ServerResponse) => void) {
  const sockets = new Set<Socket>();
  const server = createServer(behave);
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const results = async (sc: TestSidecar) =>
  (await sc.auditRecords()).filter((r) => r['event'] === 'egress_result');

const upstreamErrors = async (sc: TestSidecar) =>
  Number(
    /errand_upstream_errors_total\{service="s3"\} (\d+)/.exec(
      await sc.sidecar.metrics.registry.metrics(),
    )?.[1] ?? 0,
  );

const until = async (check: () => Promise<boolean>) => {
  for (let i = 0; i < 300 && !(await check()); i++) await new Promise((r) => setTimeout(r, 10));
};

t.test('relay: bodies stream byte for byte, counted; errors are collected and redacted', async (t) => {
  const body = Buffer.alloc(BIG);
  for (let i = 0; i < body.length; i++) body[i] = (i * 7) & 0xff;
  let slowRes: ServerResponse | undefined;
  const url = await startUpstream(t, (req, res) => {
    if (req.url?.startsWith('/acme-uploads/big')) {
      // Chunked (no Content-Length): bytes_out can only come from counting what was relayed.
      // Also a cookie, a forged deny header and a header echoing the key id Errand signed with (K3, L2).
      const keyId = /Credential=([^/]+)\//.exec(String(req.headers.authorization))?.[1] ?? '';
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'x-amz-request-id': 'RID-BIG',
        'set-cookie': 'sid=1',
        'x-egress-deny': 'forged',
        'x-amz-meta-echo': `signed by ${keyId}`,
      });
      for (let off = 0; off < body.length; off += 65_536) res.write(body.subarray(off, off + 65_536));
      res.end();
    } else if (req.url?.startsWith('/acme-uploads/denied')) {
      // An error naming the session's key id: relayed only after redaction.
      const keyId = /Credential=([^/]+)\//.exec(String(req.headers.authorization))?.[1] ?? '';
      const xml = `<Error><Code>AccessDenied</Code><Message>denied for ${keyId}</Message></Error>`;
      res.writeHead(403, { 'content-type': 'application/xml', 'content-length': String(xml.length) });
      res.end(xml);
    } else {
      res.writeHead(200, { 'content-length': String(1024 * 1024) });
      res.write(Buffer.alloc(1000, 'y'));
      slowRes = res;
    }
  });
  const sc = await startTestSidecar({ manifest: manifestWith(GRANTS, [], inMinutes(30)), upstreamUrl: url });
  t.teardown(() => sc.stop());
  const headers = { authorization: AGENT_AUTH, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' };

  const big = await request(`${sc.endpoint}/acme-uploads/big`, { headers });
  const got = Buffer.from(await big.body.arrayBuffer());
  t.equal(big.statusCode, 200);
  t.equal(got.length, BIG, 'every byte relayed');
  t.ok(got.equals(body), 'in order, unchanged');
  t.equal(big.headers['x-amz-request-id'], 'RID-BIG');
  t.equal(big.headers['set-cookie'], undefined, 'no cookie of a session Errand opened');
  t.equal(big.headers['x-egress-deny'], undefined, 'no header pretending to be Errand');
  t.match(big.headers['x-amz-meta-echo'], /^signed by \S/, 'other headers relayed');
  t.notOk(
    String(big.headers['x-amz-meta-echo']).includes(TEST_CREDENTIALS.accessKeyId),
    'the key id Errand signed with is scrubbed from relayed headers',
  );
  await until(async () => (await results(sc)).length === 1);
  t.match((await results(sc))[0], {
    decision: 'allow',
    reason: 'allowed',
    grant_ids: ['read-big'],
    upstream: { contacted: true, status: 200, request_id: 'RID-BIG', bytes_out: BIG },
  });

  const denied = await request(`${sc.endpoint}/acme-uploads/denied`, { headers });
  const text = await denied.body.text();
  t.equal(denied.statusCode, 403);
  t.match(text, /<Code>AccessDenied<\/Code>/);
  t.notOk(text.includes(TEST_CREDENTIALS.accessKeyId), 'the key id Errand signed with is redacted');
  t.match(text, /denied for \S/, 'the rest of the message is relayed');
  t.equal(denied.headers['content-length'], String(Buffer.byteLength(text)), 'length of what was relayed');
  await until(async () => (await results(sc)).length === 2);
  t.match((await results(sc))[1], {
    decision: 'allow',
    upstream: { status: 403, bytes_out: Buffer.byteLength(text) },
  });

  // The agent hangs up mid-answer: recorded as what it is, not as an upstream failure.
  const errorsBefore = await upstreamErrors(sc);
  const socket = connect(sc.port, '127.0.0.1');
  socket.write(
    `GET /acme-uploads/slow HTTP/1.1\r\nhost: 127.0.0.1:${sc.port}\r\nauthorization: ${AGENT_AUTH}\r\nx-amz-content-sha256: UNSIGNED-PAYLOAD\r\n\r\n`,
  );
  await new Promise<void>((resolve) => socket.once('data', () => resolve()));
  socket.destroy();
  await until(async () => (await results(sc)).length === 3);
  t.match((await results(sc))[2], {
    decision: 'allow',
    reason: 'allowed',
    grant_ids: ['read-slow'],
    // The 1,000 bytes the upstream sent went out with the head, before the agent hung up.
    upstream: { contacted: true, status: 200, agent_closed: true, bytes_out: 1000 },
  });
  t.equal(await upstreamErrors(sc), errorsBefore, 'not counted as an upstream error');
  await until(async () => slowRes?.destroyed === true);
  t.equal(slowRes?.destroyed, true, 'the upstream answer is abandoned, not read to its end');
});
