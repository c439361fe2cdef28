// N2: Errand absent, not yet ready, or crashed. The agent must have no way out then. The chart makes
// Errand a native sidecar (an init container with restartPolicy Always) whose startupProbe is /readyz:
// the kubelet starts the agent's containers only once Errand is ready, restarts Errand if it dies, and
// the egress rules (installed by init containers before Errand) stay in the pod's network namespace,
// sending the agent's connections to a loopback port nobody answers. Here: the rendered pod says so, and
// a real `errand run` is not ready without its STS session and leaves nothing listening once killed.
// Pending: watching a kubelet hold the agent back needs a cluster (Kubernetes >= 1.29, sidecars on).

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { signTask, spawnErrand, waitReady } from '../helpers/errand-process.ts';
import { KUBES, readRender } from '../helpers/golden-pod.ts';
import { canConnect, droppingServer } from '../helpers/ports.ts';
import { inMinutes } from '../helpers/sidecar.ts';

for (const kube of KUBES) {
  t.test(
    `Kubernetes ${kube}: the agent starts only after Errand is ready, and Errand comes back`,
    async (t) => {
      for (const mode of ['none', 'initContainer', 'cni'] as const) {
        const r = await readRender(kube, mode);
        const init = r.pod.initContainers;
        const errand = init.find((c) => c.name === 'errand');
        t.ok(errand, `${mode}: Errand is an init container`);
        t.equal(errand?.restartPolicy, 'Always', `${mode}: a native sidecar, restarted when it dies`);
        const probe = errand?.startupProbe?.httpGet;
        const opsPort = errand?.ports?.find((p) => p.name === probe?.port)?.containerPort;
        t.equal(probe?.path, '/readyz', `${mode}: the startupProbe is /readyz`);
        t.ok(
          errand?.args?.includes(`--ops-listen=0.0.0.0:${opsPort}`),
          `${mode}: on the ops listener (${opsPort})`,
        );
        t.notOk(
          r.pod.containers.some((c) => c.name === 'errand'),
          `${mode}: the agent containers come after every init container`,
        );
        t.equal(
          init.at(-1)?.name,
          'errand',
          `${mode}: nothing of the agent's runs between the rules and Errand`,
        );
        // The use journal survives a restart of the Errand container (an emptyDir lives as long as the pod).
        const stateArg = errand?.args?.find((a) => a.startsWith('--state-dir='))?.split('=')[1];
        const mount = errand?.volumeMounts?.find((v) => v.mountPath === stateArg);
        t.ok(mount, `${mode}: --state-dir is a mounted volume`);
        const volume = (
          r.docs.find((d) => d['kind'] === 'Job') as {
            spec: { template: { spec: { volumes: { name: string; emptyDir?: unknown }[] } } };
          }
        ).spec.template.spec.volumes.find((v) => v.name === mount?.name);
        t.ok(volume?.emptyDir, `${mode}: an emptyDir, so counts survive an Errand restart`);
        t.notOk(
          r.pod.containers.some((c) => c.volumeMounts?.some((v) => v.name === mount?.name)),
          `${mode}: and no agent container mounts it (H3)`,
        );
      }
    },
  );
}

t.test('errand run: not ready without its STS session; killed, nothing answers in its place', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'errand-n2-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const task = await signTask(
    dir,
    `apiVersion: errand.dev/v1
kind: TaskManifest
task: { id: tsk_n2, purpose: absent sidecar, user: { subject: alice@example.com, session: s1 }, expiresAt: ${inMinutes(30)} }
aws:
  region: us-east-1
  roleArn: arn:aws:iam::123456789012:role/errand-task
  grants:
    - { id: read-report, action: s3:GetObject, resource: "arn:aws:s3:::acme-uploads/users/alice/report.pdf" }
`,
  );
  const sts = await droppingServer(); // STS that never answers
  t.teardown(sts.close);
  const dead = sts.port;
  const e = await spawnErrand(
    ['--manifest', task.manifest, '--trust-key', task.trustKey, '--state-dir', join(dir, 'state')],
    {
      AWS_ENDPOINT_URL: `http://127.0.0.1:${dead}`,
      AWS_ACCESS_KEY_ID: 'AKIAERRANDSOURCE0000',
      AWS_SECRET_ACCESS_KEY: 'not-a-real-secret-key-for-this-test',
    },
  );
  t.teardown(() => e.kill9());
  // Until the STS failure shows (a loaded machine starts slowly), never 200 in between.
  const ready = await waitReady(e, 20_000, (r) => /credentials failed: (?!starting)/.test(r.body));
  t.equal(ready.status, 503, 'the startupProbe fails: the kubelet would not start the agent');
  t.match(ready.body, /\[-\]credentials failed: .*ERR_STS_UNREACHABLE/);
  await e.kill9();
  t.notOk(await canConnect(e.awsPort), 'killed: the AWS endpoint refuses connections (no fallback route)');
  t.notOk(await canConnect(e.opsPort), 'and the ops listener is gone (the kubelet restarts Errand)');
});
