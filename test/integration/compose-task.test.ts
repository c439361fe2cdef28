// The moving parts of `docker compose up`, run here without Docker: deploy/compose/prepare-task.ts seeds
// the emulator and issues a signed manifest, `errand run` starts from exactly the flags the compose
// file gives it, and deploy/compose/agent.sh (the scripted agent, with placeholder keys) sees one
// allowed call and three refusals. Only the containers and networks themselves are not exercised
// here; compose-stack.test.ts checks those statically.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { BUCKET, issueManifestText, OBJECTS, prepareTask } from '../../deploy/compose/prepare-task.ts';
import { loadManifestFile } from '../../src/manifest/load.ts';
import { startMoto } from '../helpers/moto.ts';
import { freePort, LOOPBACK } from '../helpers/ports.ts';
import { PLACEHOLDER_CREDENTIALS, runProcess } from '../helpers/real-clients.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const ERRAND = join(ROOT, 'bin', 'errand.js');
const PREPARE = join(ROOT, 'deploy', 'compose', 'prepare-task.ts');
const AGENT = join(ROOT, 'deploy', 'compose', 'agent.sh');
const EXAMPLE = join(ROOT, 'examples', 'summarize-report.yaml');
const READY_TIMEOUT_MS = 30_000;

t.test(
  'issueManifestText changes the deadline and the role, and refuses a manifest without them',
  async (t) => {
    const example = await readFile(EXAMPLE, 'utf8');
    const out = issueManifestText(example, {
      expiresAt: new Date('2030-01-02T03:04:05.678Z'),
      roleArn: 'arn:aws:iam::123456789012:role/errand-task',
    });
    t.match(out, /^ {2}expiresAt: 2030-01-02T03:04:05Z$/m);
    t.match(out, /^ {2}roleArn: arn:aws:iam::123456789012:role\/errand-task$/m);
    t.equal(out.split('\n').length, example.split('\n').length, 'no line added or lost');
    t.throws(
      () => issueManifestText('apiVersion: errand.dev/v1\n', { expiresAt: new Date(), roleArn: 'x' }),
      /the example manifest has no expiresAt or roleArn line to set/,
    );
  },
);

t.test('prepare-task as the container runs it: refuses a missing setting with exit 1', async (t) => {
  const r = await runProcess(process.execPath, [PREPARE], { env: { PATH: '/usr/bin:/bin' } });
  t.equal(r.code, 1);
  t.equal(r.stderr, 'prepare-task: AWS_ENDPOINT_URL is not set\n');
});

const moto = await startMoto();
t.teardown(() => moto.stop());
const dir = await mkdtemp(join(tmpdir(), 'errand-compose-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const taskDir = join(dir, 'task');
await mkdir(taskDir);

t.test('prepare-task seeds the emulator and writes a manifest Errand verifies', async (t) => {
  const message = await prepareTask({
    AWS_ENDPOINT_URL: moto.endpoint,
    AWS_ACCESS_KEY_ID: moto.directCredentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: moto.directCredentials.secretAccessKey,
    AWS_REGION: moto.region,
    ERRAND_TASK_DIR: taskDir,
    TASK_ROLE_ARN: moto.roleArn,
    TASK_MINUTES: '30',
    EXAMPLE_MANIFEST: EXAMPLE,
  });
  t.equal(
    message,
    `prepare-task: seeded s3://${BUCKET} at ${moto.endpoint}; wrote ${taskDir}/task.jws and trust-key.pem`,
  );
  const now = Date.now();
  const loaded = await loadManifestFile(join(taskDir, 'task.jws'), {
    now,
    trustKey: join(taskDir, 'trust-key.pem'),
  });
  t.ok(loaded.ok, JSON.stringify(loaded.ok ? '' : loaded.problems));
  if (!loaded.ok) return;
  t.equal(loaded.loaded.signed, true);
  t.equal(loaded.loaded.manifest.aws?.roleArn, moto.roleArn);
  t.ok(Math.abs(loaded.loaded.expiresAtMs - (now + 30 * 60_000)) < 60_000, 'the deadline is 30 minutes out');
  t.match(await readFile(join(taskDir, 'trust-key.pem'), 'utf8'), /^-----BEGIN PUBLIC KEY-----\n/);
  for (const [key, body] of Object.entries(OBJECTS)) {
    const r = await moto.call(moto.directCredentials, {
      service: 's3',
      method: 'GET',
      path: `/${BUCKET}/${key}`,
    });
    t.equal(r.status, 200, key);
    t.equal(r.body.toString(), body, `${key} holds what prepare-task wrote`);
  }
});

// `errand run` with the compose file's flags, the addresses moved to loopback.
const compose = parse(await readFile(join(ROOT, 'deploy', 'docker-compose.yml'), 'utf8'), {
  merge: true,
}) as {
  services: { errand: { command: string[] } };
};
const [awsPort, opsPort] = [await freePort(), await freePort()];
const args = compose.services.errand.command.flatMap((a) => {
  const [name] = a.split('=');
  if (name === '--manifest') return [`--manifest=${join(taskDir, 'task.jws')}`];
  if (name === '--trust-key') return [`--trust-key=${join(taskDir, 'trust-key.pem')}`];
  if (name === '--listen') return [`--listen=${LOOPBACK}:${awsPort}`];
  if (name === '--ops-listen') return [`--ops-listen=${LOOPBACK}:${opsPort}`];
  if (name === '--state-dir') return [`--state-dir=${join(dir, 'state')}`];
  if (name === '--ca-dir') return [`--ca-dir=${join(dir, 'ca')}`];
  if (name === '--proxy-listen') return []; // the forward proxy is not what this test is about
  return [a];
});

let log = '';
let errand: ChildProcess | undefined;
let exited: Promise<number | null> = Promise.resolve(null);
/** Starts `errand run` once prepare-task has written its files. */
function startErrand(): void {
  exited = new Promise((resolve) => {
    errand = spawn(process.execPath, [ERRAND, ...args], {
      env: { ...moto.env(), PATH: '/usr/bin:/bin', HOME: dir, ERRAND_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    errand.stdout?.on('data', (c: Buffer) => {
      log += c.toString();
    });
    errand.stderr?.on('data', (c: Buffer) => {
      log += c.toString();
    });
    errand.on('exit', (code) => resolve(code));
  });
}
t.teardown(() => {
  errand?.kill('SIGKILL');
});

async function waitReady(): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`http://${LOOPBACK}:${opsPort}/readyz`)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`errand did not become ready:\n${log}`);
}

const agentEnv = {
  PATH: '/usr/bin:/bin', // Debian's AWS CLI v2, not a pip-installed v1 that may come first on PATH
  HOME: dir,
  AWS_ACCESS_KEY_ID: PLACEHOLDER_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: PLACEHOLDER_CREDENTIALS.secretAccessKey,
  AWS_REGION: 'us-east-1',
  AWS_DEFAULT_REGION: 'us-east-1',
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_ENDPOINT_URL: `http://${LOOPBACK}:${awsPort}`,
  AGENT_OUT_DIR: dir,
};

t.test('the scripted agent: one allowed call, then the refusals the manifest implies', async (t) => {
  startErrand();
  await waitReady();
  const r = await runProcess('/bin/bash', [AGENT], { env: agentEnv, timeoutMs: 120_000 });
  t.equal(r.code, 0, `${r.stdout}\n${r.stderr}\n${log}`);
  const lines = r.stdout.split('\n').filter((l) => /^(allowed|refused) /.test(l));
  t.same(lines, [
    'allowed  read the granted report',
    'refused  read it a second time (uses: 1)',
    "refused  read bob's file next to it",
    'refused  delete the report',
  ]);
  t.match(r.stdout, /AccessDenied/, 'the refusals carry the AWS error the CLI shows');
  t.equal(r.stdout.trimEnd().split('\n').at(-1), 'agent: every call went as the manifest says');
  t.equal(await readFile(join(dir, 'report.pdf'), 'utf8'), OBJECTS['users/alice/report.pdf']);
  // Run again: the grant is spent, so the first step is refused and the script says so and fails.
  const again = await runProcess('/bin/bash', [AGENT], { env: agentEnv, timeoutMs: 120_000 });
  t.equal(again.code, 1);
  t.match(again.stdout, 'refused  read the granted report');
  t.match(again.stdout, '         UNEXPECTED: wanted allowed');
  t.equal(again.stdout.trimEnd().split('\n').at(-1), 'agent: 1 step(s) did not go as the manifest says');
});

t.test('SIGTERM (docker compose stop): Errand drains and exits 0', async (t) => {
  errand?.kill('SIGTERM');
  t.equal(await exited, 0, log);
});
