// The AWS endpoint misbehaving: refusing connections, resetting before or in the middle of a response,
// stalling before its headers or in its body. For each: what the agent sees (status, AWS error code,
// Errand's reason), what the audit records (the allow decision before the forward, then the result
// with its reason), the upstream-error metric, and that the use taken stays taken (G2: a failed
// forward is not refunded, or a retry storm could replay it).

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import t, { type Test } from 'tap';
import { request } from 'undici';
import { createAwsEndpointHandler } from '../../src/proxy/aws-endpoint.ts';
import { listen } from '../../src/proxy/listen.ts';
import { createUpstream } from '../../src/proxy/upstream.ts';
import { AGENT_AUTH } from '../helpers/adversarial.ts';
import { awsGrant, manifestWith } from '../helpers/manifests.ts';
import { freePort } from '../helpers/ports.ts';
import { inMinutes, startTestSidecar, type TestSidecar } from '../helpers/sidecar.ts';

const GRANTS = ['a', 'b', 'c', 'd'].map((k) =>
  awsGrant({ id: `read-${k}`, action: 's3:GetObject', resources: [`arn:aws:s3:::acme-uploads/${k}`] }),
);
const manifest = () => manifestWith(GRANTS, [], inMinutes(30));

const get = async (endpoint: string, path: string) => {
  const r = await request(`${endpoint}${path}`, {
    headers: { authorization: AGENT_AUTH, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
  });
  try {
    return { status: r.statusCode, headers: r.headers, body: await r.body.text(), error: undefined };
  } catch (error) {
    return { status: r.statusCode, headers: r.headers, body: '', error: error as Error };
  }
};

/** An AWS endpoint stand-in whose behaviour each test sets; counts the requests it received. */
async function startFaultyUpstream(
  behave: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ url: string; received: () => number; server: Server }> {
  let received = 0;
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    received++;
    behave(req, res);
  });
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
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received: () => received,
    server,
  };
}

const lastResult = async (sc: TestSidecar) =>
  (await sc.auditRecords()).filter((r) => r['event'] === 'egress_result').at(-1);

const upstreamErrors = async (sc: TestSidecar) =>
  Number(
    /errand_upstream_errors_total\{service="s3"\} (\d+)/.exec(
      await sc.sidecar.metrics.registry.metrics(),
    )?.[1] ?? 0,
  );

t.test('connection refused: 502 BadGateway upstream_error, the use stays taken', async (t) => {
  const dead = await freePort();
  const sc = await startTestSidecar({ manifest: manifest(), upstreamUrl: `http://127.0.0.1:${dead}` });
  t.teardown(() => sc.stop());
  const r = await get(sc.endpoint, '/acme-uploads/a');
  t.equal(r.status, 502);
  t.equal(r.headers['x-egress-deny'], 'upstream_error');
  t.match(
    r.body,
    '<Code>BadGateway</Code><Message>Errand denied this request (upstream_error): the AWS endpoint could not be reached</Message>',
  );
  t.notMatch(
    r.body,
    /ECONNREFUSED|127\.0\.0\.1|:\d{4,5}/,
    'no internal address or error text for the agent (K1)',
  );
  const records = await sc.auditRecords();
  t.match(
    records.find((x) => x['event'] === 'egress_decision'),
    { decision: 'allow', grant_ids: ['read-a'] },
  );
  t.match(
    await lastResult(sc),
    { decision: 'error', reason: 'upstream_error', grant_ids: ['read-a'], upstream: { contacted: false } },
    'a refused connection reached nothing',
  );
  t.equal(await upstreamErrors(sc), 1);
  const again = await get(sc.endpoint, '/acme-uploads/a');
  t.equal(again.status, 403, 'no refund: the retry is refused');
  t.equal(again.headers['x-egress-deny'], 'grant_exhausted');
});

t.test('reset before the response: 502 upstream_error', async (t) => {
  const up = await startFaultyUpstream((req) => req.socket.destroy());
  const sc = await startTestSidecar({ manifest: manifest(), upstreamUrl: up.url });
  t.teardown(() => sc.stop());
  const r = await get(sc.endpoint, '/acme-uploads/b');
  t.equal(r.status, 502);
  t.equal(r.headers['x-egress-deny'], 'upstream_error');
  t.equal(up.received(), 1, 'sent once, never retried by Errand');
  t.match(await lastResult(sc), { decision: 'error', reason: 'upstream_error' });
  t.equal(sc.sidecar.context.ledger.remaining('read-b'), 0);
});

t.test(
  'reset mid-response: the agent sees the connection cut, the audit says so, Errand serves on',
  async (t) => {
    const up = await startFaultyUpstream((_req, res) => {
      res.writeHead(200, { 'content-length': '100000', 'content-type': 'application/octet-stream' });
      res.write(Buffer.alloc(1000, 'x'), () => setTimeout(() => res.socket?.destroy(), 20));
    });
    const sc = await startTestSidecar({ manifest: manifest(), upstreamUrl: up.url });
    t.teardown(() => sc.stop());
    const r = await get(sc.endpoint, '/acme-uploads/c');
    t.equal(r.status, 200, 'the headers had already been relayed');
    t.ok(r.error, `the body ended early: ${r.error?.message}`);
    t.match(await lastResult(sc), {
      decision: 'error',
      reason: 'upstream_error',
      upstream: { contacted: true, status: 200 },
    });
    t.equal(await upstreamErrors(sc), 1);
    // The sidecar is still there for the next request.
    const next = await get(sc.endpoint, '/acme-uploads/nope');
    t.equal(next.status, 403);
  },
);

/** The endpoint handler of `sc` behind its own listener, with an upstream whose timeouts are short
 *  (LIMITS has 60 s; the mapping of an undici timeout to the agent's answer is what is tested). */
async function withShortTimeouts(t: Test, sc: TestSidecar, ms: number): Promise<string> {
  const upstream = createUpstream({ timeoutMs: { connect: ms, headers: ms, body: ms } });
  const ctx = { ...sc.sidecar.context, upstream };
  const server = await listen(createAwsEndpointHandler(ctx), {
    host: '127.0.0.1',
    port: 0,
    listener: 'aws',
    audit: ctx.audit,
    newRequestId: ctx.newRequestId,
    baseRecord: () => ({}),
  });
  ctx.endpointAuthorities.add(`127.0.0.1:${server.port}`);
  t.teardown(async () => {
    server.server.closeAllConnections();
    await server.close();
    await upstream.close();
  });
  return `http://127.0.0.1:${server.port}`;
}

t.test('stalling before the headers: 504 GatewayTimeout upstream_timeout', async (t) => {
  const up = await startFaultyUpstream(() => undefined);
  const sc = await startTestSidecar({ manifest: manifest(), upstreamUrl: up.url });
  t.teardown(() => sc.stop());
  const endpoint = await withShortTimeouts(t, sc, 300);
  const started = Date.now();
  const r = await get(endpoint, '/acme-uploads/d');
  t.equal(r.status, 504);
  t.equal(r.headers['x-egress-deny'], 'upstream_timeout');
  t.match(
    r.body,
    '<Code>GatewayTimeout</Code><Message>Errand denied this request (upstream_timeout): the AWS endpoint did not answer in time</Message>',
  );
  t.ok(Date.now() - started < 5000, 'answered after the bound, not hung');
  t.match(await lastResult(sc), { decision: 'error', reason: 'upstream_timeout' });
  t.equal(await upstreamErrors(sc), 1);
  t.equal(sc.sidecar.context.ledger.remaining('read-d'), 0, 'the use stays taken');
});

t.test('stalling in the body: the agent connection is cut, the audit records the timeout', async (t) => {
  const up = await startFaultyUpstream((_req, res) => {
    res.writeHead(200, { 'content-length': '5000' });
    res.write('partial');
  });
  const sc = await startTestSidecar({ manifest: manifest(), upstreamUrl: up.url });
  t.teardown(() => sc.stop());
  const endpoint = await withShortTimeouts(t, sc, 300);
  const r = await get(endpoint, '/acme-uploads/a');
  t.equal(r.status, 200);
  t.ok(r.error, `the body ended early: ${r.error?.message}`);
  t.match(await lastResult(sc), { decision: 'error', reason: 'upstream_timeout', upstream: { status: 200 } });
});
