import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import t from 'tap';
import { buildBundle } from '../../scripts/build.ts';
import { verifyAuditText } from '../../src/audit/verify.ts';
import { type Moto, startMoto } from '../helpers/moto.ts';
import { freePort } from '../helpers/ports.ts';
import { describeRun, PLACEHOLDER_CREDENTIALS, runProcess } from '../helpers/real-clients.ts';
import { inMinutes } from '../helpers/sidecar.ts';

// The bundle as the image runs it: `node dist/errand.mjs`, built from this checkout,
// signs a manifest, runs against the emulator's STS, becomes ready, serves one granted call, refuses an ungranted one,
// and ends cleanly on SIGTERM. Built under .cache (git-ignored) so the IAM data package in
// node_modules is found from the bundle's directory, as /app/node_modules is in the image.

const REPO = join(import.meta.dirname, '..', '..');
// The test runner records coverage of every child process and maps the bundle back to src/ through
// its source map, where esbuild's function positions differ by a column from the sources': every
// function would count twice, once uncovered. The bundle's processes are measured by what they do.
const NO_COVERAGE = { _TAPJS_PROCESSINFO_COVERAGE_: '0' };
const WARM = join(REPO, 'scripts', 'warm-compile-cache.mjs');

const manifestYaml = (roleArn: string) => `apiVersion: errand.dev/v1
kind: TaskManifest
task:
  id: tsk_bundle_test
  purpose: read one report through the bundle
  user: { subject: alice@example.com, session: sess_bundle }
  expiresAt: ${inMinutes(30)}
aws:
  region: us-east-1
  roleArn: ${roleArn}
  grants:
    - id: read-report
      action: s3:GetObject
      resource: arn:aws:s3:::acme-uploads/users/alice/report.pdf
`;

let moto: Moto;
let dir: string;
let outdir: string;
let bundle: string;
let cache: string;
t.before(async () => {
  await mkdir(join(REPO, '.cache'), { recursive: true });
  outdir = await mkdtemp(join(REPO, '.cache', 'bundle-test-'));
  dir = await mkdtemp(join(tmpdir(), 'errand-bundle-'));
  const [built, started] = await Promise.all([buildBundle(outdir), startMoto()]);
  bundle = built.file;
  cache = join(outdir, 'compile-cache');
  moto = started;
});
t.teardown(async () => {
  await moto?.stop();
  await rm(dir, { recursive: true, force: true });
  await rm(outdir, { recursive: true, force: true });
});

const readyz = async (port: number, child: ChildProcess): Promise<number> => {
  const until = Date.now() + 20_000;
  while (Date.now() < until && child.exitCode === null) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/readyz`);
      await r.arrayBuffer();
      if (r.status === 200) return 200;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return 0;
};

t.test('the build writes an ESM entry, its chunks and linked source maps, no TypeScript left', async (t) => {
  const entry = await readFile(bundle, 'utf8');
  t.match(entry, /^#!\/usr\/bin\/env node\n/, 'keeps the shebang of bin/errand.js');
  t.match(entry, /\/\/# sourceMappingURL=errand\.mjs\.map\s*$/, 'links its source map');
  const chunks = (await readdir(join(outdir, 'chunks'))).filter((f) => f.endsWith('.mjs'));
  t.ok(
    chunks.some((f) => f.startsWith('pod-ca-')),
    'the forward proxy CA is a chunk of its own, loaded only with --proxy-listen',
  );
  for (const file of [bundle, ...chunks.map((f) => join(outdir, 'chunks', f))]) {
    const text = await readFile(file, 'utf8');
    t.notMatch(
      text,
      /(?:from|import)\s*\(?["'][^"']*\.ts["']/,
      `${file}: no TypeScript source is left to load`,
    );
  }
  // The compile cache, warmed as the image warms it, and used by the run below.
  const usage = await runProcess(process.execPath, [WARM], { env: NO_COVERAGE });
  t.equal(usage.code, 2, 'the warm script refuses to run without its two directories');
  t.match(usage.stderr, /usage: node scripts\/warm-compile-cache\.mjs <dist dir> <cache dir>/);
  const warm = await runProcess(process.execPath, [WARM, outdir, cache], { env: NO_COVERAGE });
  t.equal(warm.code, 0, describeRun('warm-compile-cache', warm));
  t.match(warm.stdout, new RegExp(`: ${chunks.length} chunks\\n$`), 'every chunk was compiled');
  t.ok((await readdir(cache, { recursive: true })).length > chunks.length, 'the cache holds their code');
  const map = JSON.parse(await readFile(`${bundle}.map`, 'utf8')) as { sources: string[] };
  t.ok(
    map.sources.some((s) => s.endsWith('bin/errand.js')),
    'the map points at the sources',
  );
});

t.test('errand run from the bundle: ready, one granted GET, one refusal, SIGTERM exits 0', async (t) => {
  // The production path: a manifest signed by the bundle's own `manifest sign`, verified at start.
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  await writeFile(join(dir, 'task.yaml'), manifestYaml(moto.roleArn));
  await writeFile(join(dir, 'key.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  await writeFile(join(dir, 'pub.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
  const sign = await runProcess(
    process.execPath,
    [bundle, 'manifest', 'sign', join(dir, 'task.yaml'), '--key', join(dir, 'key.pem')],
    { env: NO_COVERAGE },
  );
  t.equal(sign.code, 0, describeRun('errand manifest sign', sign));
  await writeFile(join(dir, 'task.jws'), sign.stdout);

  const [awsPort, opsPort] = [await freePort(), await freePort()];
  const state = join(dir, 'state');
  let stderr = '';
  const child = spawn(
    process.execPath,
    [
      bundle,
      'run',
      '--manifest',
      join(dir, 'task.jws'),
      '--trust-key',
      join(dir, 'pub.pem'),
      '--listen',
      `127.0.0.1:${awsPort}`,
      '--ops-listen',
      `127.0.0.1:${opsPort}`,
      '--state-dir',
      state,
    ],
    {
      env: { PATH: process.env['PATH'] ?? '', NODE_COMPILE_CACHE: cache, ...moto.env(), ...NO_COVERAGE },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  t.teardown(() => child.kill('SIGKILL'));
  t.equal(await readyz(opsPort, child), 200, `ready: ${stderr}`);

  const s3 = new S3Client({
    region: 'us-east-1',
    endpoint: `http://127.0.0.1:${awsPort}`,
    forcePathStyle: true,
    credentials: PLACEHOLDER_CREDENTIALS,
    maxAttempts: 1,
  });
  t.teardown(() => s3.destroy());
  const got = await s3.send(new GetObjectCommand({ Bucket: 'acme-uploads', Key: 'users/alice/report.pdf' }));
  const body = Buffer.from(await got.Body!.transformToByteArray());
  t.equal(body.subarray(0, 8).toString('latin1'), '%PDF-1.4', 'the granted object arrives, signed by Errand');
  const refused = await s3
    .send(new GetObjectCommand({ Bucket: 'acme-uploads', Key: 'users/bob/secret.txt' }))
    .then(
      () => undefined,
      (e: { name?: string; $metadata?: { httpStatusCode?: number } }) => e,
    );
  t.equal(refused?.$metadata?.httpStatusCode, 403, 'an object outside the grant is refused');
  t.equal(refused?.name, 'AccessDenied', 'as the S3 error an SDK understands');

  child.kill('SIGTERM');
  t.equal(await exited, 0, 'exit 0 on SIGTERM');
  const audit = await readFile(join(state, 'audit.jsonl'), 'utf8');
  t.same(
    verifyAuditText(audit),
    { ok: true, records: audit.trimEnd().split('\n').length },
    'the audit chain verifies',
  );
  t.match(audit, /"decision":"allow"/, 'the allowed call is audited');
  t.match(audit, /"decision":"deny"/, 'the refusal is audited');
  t.match(audit, /"event":"sidecar_stopped"/, 'the stop is audited');
});
