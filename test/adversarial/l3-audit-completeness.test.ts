// L3: audit completeness and fail-closed. A stream of requests of every kind (parser errors that never
// reach a handler, front and classifier refusals, policy denials, an exhausted grant, allowed requests)
// leaves exactly one decision record per request, in order, with unique request ids, one result record
// per forward, and a chain that verifies. When the audit sink cannot accept a record, an allowed
// request is refused with 503 audit_unavailable and not forwarded; a denied one is still denied.

import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import t from 'tap';
import { request } from 'undici';
import type { AuditSink } from '../../src/audit/audit-log.ts';
import { verifyAuditText } from '../../src/audit/verify.ts';
import { createAwsEndpointHandler } from '../../src/proxy/aws-endpoint.ts';
import { listen } from '../../src/proxy/listen.ts';
import { AGENT_AUTH } from '../helpers/adversarial.ts';
import {
  API_HOST,
  apiGrant,
  forwardHarness,
  httpManifest,
  httpRequest,
  tunnelExchange,
} from '../helpers/forward.ts';
import { awsGrant, manifestWith } from '../helpers/manifests.ts';
import { rawExchange } from '../helpers/raw-http.ts';
import { startRecordingUpstream } from '../helpers/recording-upstream.ts';
import { inMinutes, startTestSidecar } from '../helpers/sidecar.ts';

const manifest = () =>
  manifestWith(
    [
      awsGrant({ id: 'read-a', action: 's3:GetObject', resources: ['arn:aws:s3:::acme-uploads/a'] }),
      awsGrant({ id: 'read-b', action: 's3:GetObject', resources: ['arn:aws:s3:::acme-uploads/b'] }),
    ],
    [],
    inMinutes(30),
  );

const line = (port: number, method: string, path: string, extra: string[] = []) =>
  [
    `${method} ${path} HTTP/1.1`,
    `Host: 127.0.0.1:${port}`,
    `Authorization: ${AGENT_AUTH}`,
    'x-amz-content-sha256: UNSIGNED-PAYLOAD',
    ...extra,
    '',
    '',
  ].join('\r\n');

t.test('one decision record per request, of every kind, and one result per forward', async (t) => {
  const upstream = await startRecordingUpstream();
  t.teardown(() => upstream.close());
  const sc = await startTestSidecar({ manifest: manifest(), upstreamUrl: upstream.url });
  t.teardown(() => sc.stop());
  const p = sc.port;
  const steps: { name: string; bytes: string; status: number; reason: string }[] = [
    {
      name: 'parser: CL + TE',
      bytes: line(p, 'GET', '/acme-uploads/a', ['Content-Length: 1', 'Transfer-Encoding: chunked']),
      status: 400,
      reason: 'ambiguous_framing',
    },
    {
      name: 'parser: bad header token',
      bytes: line(p, 'GET', '/acme-uploads/a', ['Bad Header: x']),
      status: 400,
      reason: 'malformed_request',
    },
    {
      name: 'parser: 20 KB header',
      bytes: line(p, 'GET', '/acme-uploads/a', [`X-Big: ${'b'.repeat(20_000)}`]),
      status: 431,
      reason: 'header_too_large',
    },
    {
      name: 'front: HTTP/1.0',
      bytes: `GET /acme-uploads/a HTTP/1.0\r\nHost: 127.0.0.1:${p}\r\n\r\n`,
      status: 505,
      reason: 'version_not_supported',
    },
    {
      name: 'front: foreign Host',
      bytes: line(p, 'GET', '/acme-uploads/a').replace(`Host: 127.0.0.1:${p}`, 'Host: s3.amazonaws.com'),
      status: 400,
      reason: 'bad_host',
    },
    {
      name: 'classifier: presigned query',
      bytes: line(p, 'GET', '/acme-uploads/a?X-Amz-Signature=00'),
      status: 400,
      reason: 'auth_material_from_agent',
    },
    {
      name: 'policy: not granted',
      bytes: line(p, 'GET', '/acme-uploads/c'),
      status: 403,
      reason: 'aws_op_not_granted',
    },
    { name: 'allowed', bytes: line(p, 'GET', '/acme-uploads/a'), status: 200, reason: 'allowed' },
    {
      name: 'policy: grant exhausted',
      bytes: line(p, 'GET', '/acme-uploads/a'),
      status: 403,
      reason: 'grant_exhausted',
    },
    { name: 'allowed, HEAD', bytes: line(p, 'HEAD', '/acme-uploads/b'), status: 200, reason: 'allowed' },
    { name: 'allowed, GET', bytes: line(p, 'GET', '/acme-uploads/b'), status: 200, reason: 'allowed' },
  ];
  for (const s of steps) {
    const r = await rawExchange(p, s.bytes, { expect: 1 });
    t.equal(r.statuses[0], s.status, `${s.name}: ${s.status}`);
  }
  await new Promise((r) => setTimeout(r, 100));
  const records = await sc.auditRecords();
  const decisions = records.filter((r) => r['event'] === 'egress_decision');
  t.same(
    decisions.map((r) => r['reason']),
    steps.map((s) => s.reason),
    'one decision per request, in order, with its reason',
  );
  const ids = decisions.map((r) => r['request_id']);
  t.equal(new Set(ids).size, ids.length, 'request ids are unique');
  const results = records.filter((r) => r['event'] === 'egress_result');
  t.same(
    results.map((r) => r['request_id']),
    decisions.filter((r) => r['decision'] === 'allow').map((r) => r['request_id']),
    'one result record per allowed request, for that request',
  );
  t.equal(upstream.requests.length, 3, 'exactly the allowed requests were forwarded');
  for (const r of decisions.slice(0, 3))
    t.match(r['message'], /^parser: HPE_/, 'parser errors are recorded with the parser code');
  t.same(verifyAuditText(await readFile(join(sc.dir, 'audit.jsonl'), 'utf8')), {
    ok: true,
    records: records.length,
  });
});

t.test(
  'audit sink failure: allowed requests are refused 503 and not forwarded; denials stay denials',
  async (t) => {
    const upstream = await startRecordingUpstream();
    t.teardown(() => upstream.close());
    const sc = await startTestSidecar({ manifest: manifest(), upstreamUrl: upstream.url });
    t.teardown(() => sc.stop());
    // The same handler, with an audit sink that refuses every record (a disk that fails).
    const failing: AuditSink = {
      write: () => Promise.reject(new Error('EIO: the audit disk failed')),
      healthy: false,
      close: async () => undefined,
    };
    const ctx = { ...sc.sidecar.context, audit: failing };
    const server = await listen(createAwsEndpointHandler(ctx), {
      host: '127.0.0.1',
      port: 0,
      listener: 'aws',
      audit: failing,
      newRequestId: ctx.newRequestId,
      baseRecord: () => ({}),
    });
    t.teardown(() => server.close());
    ctx.endpointAuthorities.add(`127.0.0.1:${server.port}`);
    const get = async (path: string) => {
      const r = await request(`http://127.0.0.1:${server.port}${path}`, {
        headers: { authorization: AGENT_AUTH, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
      });
      return { status: r.statusCode, deny: r.headers['x-egress-deny'], body: await r.body.text() };
    };
    const allowed = await get('/acme-uploads/a');
    t.equal(allowed.status, 503);
    t.equal(allowed.deny, 'audit_unavailable');
    t.match(allowed.body, 'Errand cannot record this request, so it does not forward it');
    t.equal((await get('/acme-uploads/b')).deny, 'audit_unavailable');
    t.equal((await get('/acme-uploads/c')).status, 403, 'a denial is still a denial');
    const malformed = await rawExchange(
      server.port,
      'GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
    );
    t.same(malformed.statuses, [400], 'a parser error is still refused');
    t.equal(upstream.requests.length, 0, 'nothing was forwarded unrecorded');
  },
);

t.test('HTTP grants: each allow record is in the audit log before the API sees the request', async (t) => {
  const h = await forwardHarness(t, httpManifest([apiGrant({ id: 'g', path: '/v1/g', uses: 3 })]));
  const auditFile = join(dirname(h.caDir), 'audit.jsonl');
  // Per request reaching the API: [its position, the allow records the log held when it arrived].
  const atArrival: [number, number][] = [];
  h.upstream.answer(() => {
    // Read synchronously when the request arrives: what the log held before Errand forwarded it.
    const lines = readFileSync(auditFile, 'utf8').split('\n');
    atArrival.push([
      atArrival.length + 1,
      lines.filter((l) => l.includes('"event":"egress_decision"') && l.includes('"decision":"allow"')).length,
    ]);
    return { status: 200, body: 'ok' };
  });
  const get = httpRequest('GET', '/v1/g');
  const r = await tunnelExchange(h, `${API_HOST}:443`, [get, get, get]);
  t.same(r.statuses, [200, 200, 200]);
  t.equal(atArrival.length, 3);
  // Pipelined requests are decided together, so a log may hold more than the requests seen so far.
  for (const [nth, allows] of atArrival)
    t.ok(allows >= nth, `request ${nth} arrived with ${allows} allow records written`);
  const results = (await h.auditRecords()).filter((x) => x['event'] === 'egress_result');
  t.equal(results.length, 3, 'and one result record per forward');
});
