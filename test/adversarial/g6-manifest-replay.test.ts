import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, exportSPKI, generateKeyPair } from 'jose';
import t from 'tap';
import { main } from '../../src/cli/main.ts';
import { loadManifestFile } from '../../src/manifest/load.ts';
import { captureIo } from '../helpers/cli.ts';
import { inMinutes } from '../helpers/sidecar.ts';

// G6: a manifest signed for one pod (its audience) is refused by a sidecar configured for another:
// the orchestrator binds each manifest to the pod it creates, so replaying it elsewhere gets nothing.
const yaml = () => `apiVersion: errand.dev/v1
kind: TaskManifest
task:
  id: tsk_replay
  purpose: replay test
  user: { subject: alice@example.com, session: sess_1 }
  expiresAt: ${inMinutes(30)}
aws:
  region: us-east-1
  roleArn: arn:aws:iam::123456789012:role/errand-task
  grants:
    - id: read-report
      action: s3:GetObject
      resource: arn:aws:s3:::acme-uploads/users/alice/report.pdf
`;

t.test('a manifest for pod A does not load in pod B; nothing starts', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'errand-g6-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  await writeFile(join(dir, 'task.yaml'), yaml());
  await writeFile(join(dir, 'key.jwk'), JSON.stringify(await exportJWK(privateKey)));
  await writeFile(join(dir, 'pub.pem'), await exportSPKI(publicKey));
  const sign = captureIo();
  t.equal(
    await main(
      [
        'manifest',
        'sign',
        join(dir, 'task.yaml'),
        '--key',
        join(dir, 'key.jwk'),
        '--audience',
        'errand://tasks/pod-a',
      ],
      sign.io,
    ),
    0,
  );
  await writeFile(join(dir, 'task.jws'), sign.out());

  const inA = await loadManifestFile(join(dir, 'task.jws'), {
    now: Date.now(),
    trustKey: join(dir, 'pub.pem'),
    audience: 'errand://tasks/pod-a',
  });
  t.ok(inA.ok, 'pod A accepts its manifest');
  const inB = await loadManifestFile(join(dir, 'task.jws'), {
    now: Date.now(),
    trustKey: join(dir, 'pub.pem'),
    audience: 'errand://tasks/pod-b',
  });
  t.notOk(inB.ok, 'pod B refuses it');
  if (!inB.ok) t.equal(inB.problems[0]?.code, 'ERR_JWS_AUDIENCE');

  const run = captureIo({ ERRAND_STATE_DIR: join(dir, 'state') });
  const code = await main(
    [
      'run',
      '--manifest',
      join(dir, 'task.jws'),
      '--trust-key',
      join(dir, 'pub.pem'),
      '--audience',
      'errand://tasks/pod-b',
      '--listen',
      '127.0.0.1:0',
      '--ops-listen',
      '127.0.0.1:0',
    ],
    run.io,
  );
  t.equal(code, 2, 'errand run refuses to start');
  t.match(run.err(), /ERR_JWS_AUDIENCE/);
});
