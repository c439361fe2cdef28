// H4: no agent-reachable control plane. On the AWS endpoint listener (what the agent talks to),
// /debug, /metrics, /reload, /grants, /healthz?verbose and friends are ordinary AWS requests and are
// refused as such: an AWS-shaped error, a deny reason, an audit record, nothing upstream, no metrics or
// readiness text. The ops listener (kubelet probes and Prometheus; bound separately) answers GET and
// HEAD only: every other method is 405 with Allow, and none of them changes Errand's state.

import t from 'tap';
import { request } from 'undici';
import { harness } from '../helpers/adversarial.ts';
import { awsGrant, manifestWith } from '../helpers/manifests.ts';
import { startRecordingUpstream } from '../helpers/recording-upstream.ts';
import { inMinutes, startTestSidecar, TEST_CREDENTIALS } from '../helpers/sidecar.ts';

t.test('control-plane paths on the AWS endpoint are refused AWS requests', async (t) => {
  const h = await harness(t);
  const paths: [string, string][] = [
    ['GET', '/debug'],
    ['GET', '/debug/pprof'],
    ['GET', '/metrics'],
    ['GET', '/reload'],
    ['POST', '/reload'],
    ['GET', '/grants'],
    ['DELETE', '/grants'],
    ['GET', '/healthz?verbose'],
    ['GET', '/livez'],
    ['GET', '/readyz?verbose'],
    ['PUT', '/admin/reset'],
    ['POST', '/moto-api/reset-auth'],
  ];
  for (const [method, path] of paths) {
    const r = await request(`${h.sc.endpoint}${path}`, {
      method: method as 'GET',
      headers: { authorization: h.auth, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
      ...(method === 'POST' || method === 'PUT' ? { body: 'reset' } : {}),
    });
    const body = await r.body.text();
    t.ok(r.statusCode === 403 || r.statusCode === 400, `${method} ${path}: refused (${r.statusCode})`);
    t.ok(typeof r.headers['x-egress-deny'] === 'string', `${method} ${path}: with a deny reason`);
    t.match(
      body,
      /^<\?xml version="1.0" encoding="UTF-8"\?>\n<Error><Code>\w+<\/Code><Message>Errand denied this request \(\w+\)/,
    );
    t.notMatch(body, /errand_|readyz check|\[\+\]|ok\n$/, `${method} ${path}: no control-plane answer`);
  }
  t.equal(h.upstream.requests.length, 0, 'nothing reached the upstream (not even /moto-api)');
  t.equal((await h.reasons()).length, paths.length, 'each one is an audited decision');
});

t.test('the ops listener answers GET and HEAD only, and nothing there changes state', async (t) => {
  const upstream = await startRecordingUpstream();
  t.teardown(() => upstream.close());
  const manifest = manifestWith(
    [
      awsGrant({
        id: 'read-report',
        action: 's3:GetObject',
        resources: ['arn:aws:s3:::acme-uploads/report.pdf'],
      }),
    ],
    [],
    inMinutes(30),
  );
  const sc = await startTestSidecar({ manifest, upstreamUrl: upstream.url, ops: true });
  t.teardown(() => sc.stop());
  const ops = `http://127.0.0.1:${sc.sidecar.opsPort}`;
  const snapshot = async () => ({
    metrics: await (await fetch(`${ops}/metrics`)).text(),
    readyz: await (await fetch(`${ops}/readyz?verbose`)).text(),
    uses: sc.sidecar.context.ledger.remaining('read-report'),
    audit: (await sc.auditRecords()).length,
  });
  const before = await snapshot();
  t.match(before.metrics, /errand_grant_uses_remaining\{grant="read-report"\} 1/);
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
    for (const path of ['/livez', '/readyz', '/metrics', '/reload', '/grants', '/debug', '/']) {
      const r = await request(`${ops}${path}`, {
        method: method as 'POST',
        body: method === 'OPTIONS' ? null : 'uses=0',
      });
      t.equal(r.statusCode, 405, `${method} ${path}: 405`);
      t.equal(r.headers['allow'], 'GET, HEAD');
      t.equal(await r.body.text(), 'method not allowed\n');
    }
  }
  for (const path of ['/reload', '/grants', '/debug', '/debug/pprof', '/healthz']) {
    const r = await request(`${ops}${path}`);
    t.equal(r.statusCode, 404, `GET ${path}: not found`);
    await r.body.text();
  }
  const head = await request(`${ops}/readyz`, { method: 'HEAD' });
  t.equal(head.statusCode, 200);
  t.equal(await head.body.text(), '', 'HEAD: no body');
  const after = await snapshot();
  t.same(after, before, 'metrics, readiness, uses and the audit log are unchanged');
  for (const secret of Object.values(TEST_CREDENTIALS))
    t.notOk(after.metrics.includes(secret), 'no credential material in /metrics');
});
