// The audit log's disk full, at start and while serving. At start Errand must not serve at all: it
// stops with a clear error naming the file, before any listener binds. While serving, a request whose
// decision cannot be made durable is refused with 503 audit_unavailable and never forwarded; the log
// stays failed (and /readyz says so) until Errand restarts on a disk with room, and the chain still
// verifies afterwards. The running case needs a small tmpfs, mounted here as root; without that
// permission it is skipped with the reason. The start case uses /dev/full and needs nothing.

import { spawnSync } from 'node:child_process';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { main } from '../../src/cli/main.ts';
import { ErrandError } from '../../src/errors.ts';
import { AGENT_AUTH } from '../helpers/adversarial.ts';
import { captureIo } from '../helpers/cli.ts';
import { parseAudit, signTask, spawnErrand } from '../helpers/errand-process.ts';
import { awsGrant, manifestWith } from '../helpers/manifests.ts';
import { canConnect } from '../helpers/ports.ts';
import { startRecordingUpstream } from '../helpers/recording-upstream.ts';
import { inMinutes, startTestSidecar } from '../helpers/sidecar.ts';

const GRANTS = Array.from({ length: 40 }, (_, i) =>
  awsGrant({ id: `read-${i}`, action: 's3:GetObject', resources: [`arn:aws:s3:::acme-uploads/${i}`] }),
);

const get = async (endpoint: string, path: string) => {
  const r = await request(`${endpoint}${path}`, {
    headers: { authorization: AGENT_AUTH, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
  });
  return { status: r.statusCode, deny: r.headers['x-egress-deny'], body: await r.body.text() };
};

let dir: string;
t.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'errand-disk-'));
});
t.teardown(() => rm(dir, { recursive: true, force: true }));

t.test('at start: an audit log that cannot be written stops errand run before it listens', async (t) => {
  const task = await signTask(
    dir,
    `apiVersion: errand.dev/v1
kind: TaskManifest
task: { id: tsk_disk, purpose: disk full, user: { subject: alice@example.com, session: s1 }, expiresAt: ${inMinutes(30)} }
aws:
  region: us-east-1
  roleArn: arn:aws:iam::123456789012:role/errand-task
  grants:
    - { id: read-report, action: s3:GetObject, resource: "arn:aws:s3:::acme-uploads/users/alice/report.pdf" }
`,
  );
  const e = await spawnErrand(
    [
      '--manifest',
      task.manifest,
      '--trust-key',
      task.trustKey,
      '--state-dir',
      join(dir, 'state-start'),
      '--audit-file',
      '/dev/full',
    ],
    // No STS is needed: Errand stops before it mints anything.
    { AWS_ENDPOINT_URL: 'http://127.0.0.1:9' },
  );
  t.teardown(() => e.kill9());
  const { code } = await e.exited;
  t.equal(code, 2, 'exit 2');
  t.equal(
    e.stderr(),
    'errand: ERR_AUDIT_UNAVAILABLE: the audit log cannot be written: /dev/full: ENOSPC\n',
    'one line naming the code, the file and the cause',
  );
  t.notOk(await canConnect(e.awsPort), 'the AWS endpoint never listened');
  t.notOk(await canConnect(e.opsPort), 'nor the ops listener');
});

// The running case mounts a 128 KiB tmpfs: it needs root with CAP_SYS_ADMIN, else it is skipped.
const mnt = join(await mkdtemp(join(tmpdir(), 'errand-tmpfs-')), 'mnt');
spawnSync('mkdir', ['-p', mnt]);
const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=128k,mode=0700', 'errand-test', mnt], {
  encoding: 'utf8',
});
const cannotMount =
  mounted.status === 0
    ? false
    : `mounting a 128 KiB tmpfs needs root with CAP_SYS_ADMIN (mount: ${(mounted.stderr || mounted.error?.message || 'failed').trim()})`;
t.teardown(() => {
  if (mounted.status === 0 && spawnSync('umount', [mnt]).status !== 0) spawnSync('umount', ['-l', mnt]);
  return rm(dirname(mnt), { recursive: true, force: true });
});

t.test(
  'while serving: 503 audit_unavailable, nothing forwarded unrecorded, until a restart',
  { skip: cannotMount },
  async (t) => {
    const upstream = await startRecordingUpstream();
    t.teardown(() => upstream.close());
    const manifest = manifestWith(GRANTS, [], inMinutes(30));
    const sc = await startTestSidecar({ manifest, upstreamUrl: upstream.url, stateDir: mnt, ops: true });
    let stopped = false;
    t.teardown(() => (stopped ? undefined : sc.stop()));
    t.equal((await get(sc.endpoint, '/acme-uploads/0')).status, 200, 'served while there is room');

    // Fill the file system: a filler file takes every free page.
    const filler = join(mnt, 'filler');
    await writeFile(filler, Buffer.alloc(256 * 1024)).catch((e: NodeJS.ErrnoException) =>
      t.equal(e.code, 'ENOSPC', 'the disk is full'),
    );
    for (;;) {
      const ok = await appendFile(filler, Buffer.alloc(512)).then(
        () => true,
        () => false,
      );
      if (!ok) break;
    }

    // The next requests: some may still fit in the last page of the log; then the log fails.
    const outcomes: {
      i: number;
      status: number;
      deny: unknown;
      forwardedBefore: number;
      forwardedAfter: number;
    }[] = [];
    for (let i = 1; i < GRANTS.length; i++) {
      const before = upstream.requests.length;
      const r = await get(sc.endpoint, `/acme-uploads/${i}`);
      outcomes.push({
        i,
        status: r.status,
        deny: r.deny,
        forwardedBefore: before,
        forwardedAfter: upstream.requests.length,
      });
      if (r.status === 503) {
        t.match(
          r.body,
          '<Code>ServiceUnavailable</Code><Message>Errand denied this request (audit_unavailable): Errand cannot record this request, so it does not forward it</Message>',
        );
        break;
      }
    }
    const failed = outcomes.at(-1)!;
    t.equal(failed.status, 503, `the log failed after ${outcomes.length} more requests`);
    t.equal(failed.deny, 'audit_unavailable');
    t.equal(failed.forwardedAfter, failed.forwardedBefore, 'the refused request was not forwarded');

    // The log stays failed, even once there is room again: fail closed until a restart.
    await rm(filler);
    const forwarded = upstream.requests.length;
    const later = await get(sc.endpoint, `/acme-uploads/${failed.i + 1}`);
    t.equal(later.status, 503);
    t.equal(later.deny, 'audit_unavailable');
    t.equal((await get(sc.endpoint, '/acme-uploads/not-granted')).status, 403, 'a deny is still a deny');
    t.equal(upstream.requests.length, forwarded, 'nothing forwarded while the log is failed');
    const ready = await fetch(`http://127.0.0.1:${sc.sidecar.opsPort}/readyz?verbose`);
    t.equal(ready.status, 503);
    t.match(await ready.text(), '[-]audit failed: the audit log cannot be written');
    const live = await fetch(`http://127.0.0.1:${sc.sidecar.opsPort}/livez`);
    t.equal(live.status, 200, 'alive: the container is not restarted by kubelet for this');

    // Every request the upstream received has an allow decision on disk.
    await sc.stop();
    stopped = true;
    const allowed = new Set(
      parseAudit(await readFile(join(mnt, 'audit.jsonl'), 'utf8'))
        .filter((r) => r['event'] === 'egress_decision' && r['decision'] === 'allow')
        .map((r) => r['path']),
    );
    for (const r of upstream.requests)
      t.ok(allowed.has(r.url), `${r.url}: forwarded with its allow decision on disk`);

    // A restart on the same state dir, now with room: the chain goes on and verifies.
    const again = await startTestSidecar({ manifest, upstreamUrl: upstream.url, stateDir: mnt });
    t.teardown(() => again.stop());
    t.equal((await get(again.endpoint, `/acme-uploads/${GRANTS.length - 1}`)).status, 200);
    t.equal(
      (await get(again.endpoint, `/acme-uploads/${failed.i}`)).deny,
      'grant_exhausted',
      'the refused request kept its use (the journal, unlike the log, still had room in its page)',
    );
    await again.stop();
    const io = captureIo();
    t.equal(await main(['audit', 'verify', join(mnt, 'audit.jsonl')], io.io), 0, io.out());
  },
);

t.test('in-process: startSidecar refuses an unwritable log with ERR_AUDIT_UNAVAILABLE', async (t) => {
  const upstream = await startRecordingUpstream();
  t.teardown(() => upstream.close());
  // A state dir whose audit.jsonl is a directory: open() fails with EISDIR.
  const state = join(dir, 'state-eisdir');
  spawnSync('mkdir', ['-p', join(state, 'audit.jsonl')]);
  const error = await startTestSidecar({
    manifest: manifestWith(GRANTS, [], inMinutes(30)),
    upstreamUrl: upstream.url,
    stateDir: state,
  }).catch((e: unknown) => e);
  t.ok(error instanceof ErrandError);
  t.match(error, { code: 'ERR_AUDIT_UNAVAILABLE', message: /audit\.jsonl: EISDIR$/ });
});
