// H3: tampering through the files Errand reads. Errand reads the manifest and the trust key once, at
// start, and never again: a manifest file rewritten after start (even with a validly signed manifest
// that grants more), replaced by a symlink, or removed, and a swapped trust key change nothing it
// decides. The state it writes is private: the state directory 0700, the audit log and the use journal
// 0600, and a state directory or file Errand owns that others could write is tightened at start.
// (Which volumes the agent container mounts at all is the chart's part: test/adversarial/n1-*.)

import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportSPKI, generateKeyPair } from 'jose';
import t from 'tap';
import { request } from 'undici';
import { verifyAuditText } from '../../src/audit/verify.ts';
import { AGENT_AUTH } from '../helpers/adversarial.ts';
import { parseAudit, signTask, spawnErrand, waitReady } from '../helpers/errand-process.ts';
import { type Moto, startMoto } from '../helpers/moto.ts';
import { inMinutes } from '../helpers/sidecar.ts';

let moto: Moto;
let dir: string;
t.before(async () => {
  moto = await startMoto();
  dir = await mkdtemp(join(tmpdir(), 'errand-h3-'));
});
t.teardown(async () => {
  await moto?.stop();
  await rm(dir, { recursive: true, force: true });
});

const manifestYaml = (extraGrant = '') => `apiVersion: errand.dev/v1
kind: TaskManifest
task:
  id: tsk_h3
  purpose: read one report
  user: { subject: alice@example.com, session: sess_h3 }
  expiresAt: ${inMinutes(30)}
aws:
  region: us-east-1
  roleArn: ${moto.roleArn}
  grants:
    - { id: read-report, action: s3:GetObject, resource: "arn:aws:s3:::acme-uploads/users/alice/report.pdf", uses: unlimited }
${extraGrant}`;

const mode = async (path: string) => ((await stat(path)).mode & 0o777).toString(8);

t.test('the manifest and trust key are read once: changes after start have no effect', async (t) => {
  const task = await signTask(dir, manifestYaml());
  const state = join(dir, 'state');
  const e = await spawnErrand(
    ['--manifest', task.manifest, '--trust-key', task.trustKey, '--state-dir', state],
    moto.env(),
  );
  t.teardown(() => e.kill9());
  t.equal((await waitReady(e)).status, 200, e.stderr());
  const get = async (key: string) => {
    const r = await request(`${e.endpoint}/acme-uploads/${key}`, {
      headers: { authorization: AGENT_AUTH, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
    });
    return { status: r.statusCode, deny: r.headers['x-egress-deny'], body: await r.body.text() };
  };
  t.equal((await get('users/alice/report.pdf')).status, 200);
  t.equal((await get('users/bob/secret.txt')).deny, 'aws_op_not_granted');

  // A validly signed manifest that grants more, written over the file Errand started from.
  await task.sign(
    manifestYaml(
      '    - { id: read-bob, action: s3:GetObject, resource: "arn:aws:s3:::acme-uploads/users/bob/secret.txt", uses: unlimited }\n',
    ),
    task.manifest,
  );
  t.match(await readFile(task.manifest, 'utf8'), /^eyJ/, 'the file now holds the wider manifest');
  const bob = await get('users/bob/secret.txt');
  t.equal(bob.status, 403, 'the rewritten manifest grants nothing');
  t.equal(bob.deny, 'aws_op_not_granted');
  t.equal((await get('users/alice/report.pdf')).status, 200, 'the original grant still works');

  // The file replaced by a symlink, then removed; the trust key swapped for an attacker's.
  await rm(task.manifest);
  await symlink('/etc/hostname', task.manifest);
  const attacker = await generateKeyPair('ES256', { extractable: true });
  await writeFile(task.trustKey, await exportSPKI(attacker.publicKey));
  t.equal((await get('users/bob/secret.txt')).status, 403);
  await rm(task.manifest);
  t.equal(
    (await get('users/alice/report.pdf')).status,
    200,
    'still serving the manifest it verified at start',
  );
  t.equal((await waitReady(e)).status, 200, 'still ready');

  t.equal((await e.stop()).code, 0);
  const text = await readFile(join(state, 'audit.jsonl'), 'utf8');
  t.same(verifyAuditText(text), { ok: true, records: text.trimEnd().split('\n').length });
  const hashes = new Set(
    parseAudit(text)
      .map((r) => r['manifest_sha256'])
      .filter((h) => h !== undefined),
  );
  t.equal(hashes.size, 1, 'every record names the one manifest Errand started with');

  // What Errand created is private.
  t.equal(await mode(state), '700', 'state directory 0700');
  t.equal(await mode(join(state, 'audit.jsonl')), '600', 'audit log 0600');
  const journal = (await readdir(state)).find((f) => f.endsWith('.journal'))!;
  t.equal(await mode(join(state, journal)), '600', 'use journal 0600');
});

t.test('a state directory and files others could write are tightened at start', async (t) => {
  const task = await signTask(dir, manifestYaml());
  const state = join(dir, 'state-loose');
  await mkdir(state);
  await chmod(state, 0o777);
  await writeFile(join(state, 'audit.jsonl'), '');
  await chmod(join(state, 'audit.jsonl'), 0o666);
  const e = await spawnErrand(
    ['--manifest', task.manifest, '--trust-key', task.trustKey, '--state-dir', state],
    moto.env(),
  );
  t.teardown(() => e.kill9());
  t.equal((await waitReady(e)).status, 200, e.stderr());
  t.equal(await mode(state), '700', 'the directory is now 0700');
  t.equal(await mode(join(state, 'audit.jsonl')), '600', 'the audit log is now 0600');
  t.equal((await e.stop()).code, 0);
});
