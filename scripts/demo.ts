// `npm start`: the whole story on one screen. Starts the local AWS emulator (moto, authentication on),
// signs the example manifest with a throwaway orchestrator key, runs `errand run` exactly as a pod
// would, then plays a scripted agent that holds only placeholder keys: one allowed call, a refused
// second use, a refused neighbouring object, a refused delete, and the audit lines they produced.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, exportSPKI, generateKeyPair } from 'jose';
import { startMoto } from '../test/helpers/moto.ts';
import { freePort } from '../test/helpers/ports.ts';
import { PLACEHOLDER_CREDENTIALS, runAwsCli } from '../test/helpers/real-clients.ts';

const ROOT = join(import.meta.dirname, '..');
const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const say = (s = '') => process.stdout.write(`${s}\n`);

function ensureTools(): void {
  if (existsSync(join(ROOT, '.venv', 'bin', 'python')) && existsSync('/usr/bin/aws')) return;
  say('First run: installing the emulator and the AWS CLI (bash scripts/setup.sh)…');
  const r = spawnSync('bash', [join(ROOT, 'scripts', 'setup.sh')], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('scripts/setup.sh failed; see above');
}

async function waitReady(opsPort: number, errandLog: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(`http://127.0.0.1:${opsPort}/readyz?verbose`);
      if (r.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`errand did not become ready:\n${errandLog()}`);
}

async function main(): Promise<void> {
  ensureTools();
  const dir = await mkdtemp(join(tmpdir(), 'errand-demo-'));
  say(bold('1. The AWS emulator (moto, request authentication on)'));
  const moto = await startMoto();
  say(`   ${moto.endpoint}: bucket acme-uploads with users/alice/report.pdf and users/bob/secret.txt`);

  // The orchestrator's side: the example manifest for this task, signed with its key.
  const example = await readFile(join(ROOT, 'examples', 'summarize-report.yaml'), 'utf8');
  const expiresAt = new Date(Date.now() + 15 * 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const manifest = example
    .replace(/expiresAt: .*/, `expiresAt: ${expiresAt}`)
    .replace(/roleArn: .*/, `roleArn: ${moto.roleArn}`);
  await writeFile(join(dir, 'task.yaml'), manifest);
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  await writeFile(join(dir, 'orchestrator.jwk'), JSON.stringify(await exportJWK(privateKey)));
  await writeFile(join(dir, 'orchestrator.pub.pem'), await exportSPKI(publicKey));
  const signed = spawnSync(
    process.execPath,
    [
      join(ROOT, 'bin', 'errand.js'),
      'manifest',
      'sign',
      join(dir, 'task.yaml'),
      '--key',
      join(dir, 'orchestrator.jwk'),
    ],
    { encoding: 'utf8' },
  );
  if (signed.status !== 0) throw new Error(`signing failed: ${signed.stderr}`);
  await writeFile(join(dir, 'task.jws'), signed.stdout);
  say(
    bold(
      '\n2. The task manifest as the reviewer sees it (errand manifest explain); the orchestrator then signs it (ES256 JWS)',
    ),
  );
  const explain = spawnSync(
    process.execPath,
    [join(ROOT, 'bin', 'errand.js'), 'manifest', 'explain', join(dir, 'task.yaml')],
    { encoding: 'utf8' },
  );
  say(
    explain.stdout
      .split('\n')
      .filter((l) => l.trim() !== '')
      .slice(0, 14)
      .map((l) => `   ${l}`)
      .join('\n'),
  );

  // The sidecar, as the pod runs it: its own credentials are the emulator's source user.
  const [awsPort, opsPort] = [await freePort(), await freePort()];
  const auditFile = join(dir, 'audit.jsonl');
  let log = '';
  const errand = spawn(
    process.execPath,
    [
      join(ROOT, 'bin', 'errand.js'),
      'run',
      '--manifest',
      join(dir, 'task.jws'),
      '--trust-key',
      join(dir, 'orchestrator.pub.pem'),
      '--listen',
      `127.0.0.1:${awsPort}`,
      '--ops-listen',
      `127.0.0.1:${opsPort}`,
      '--state-dir',
      join(dir, 'state'),
      '--audit-file',
      auditFile,
    ],
    { env: { ...process.env, ...moto.env(), ERRAND_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  errand.stdout.on('data', () => undefined);
  errand.stderr.on('data', (c: Buffer) => {
    log += c.toString();
  });
  try {
    await waitReady(opsPort, () => log);
    say(
      bold(
        `\n3. Errand is ready: AWS endpoint 127.0.0.1:${awsPort}, STS session minted with the session policy`,
      ),
    );

    // The agent: placeholder keys, AWS_ENDPOINT_URL at Errand. Nothing else.
    const env = {
      AWS_ACCESS_KEY_ID: PLACEHOLDER_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: PLACEHOLDER_CREDENTIALS.secretAccessKey,
      AWS_REGION: 'us-east-1',
      AWS_DEFAULT_REGION: 'us-east-1',
    };
    const endpointUrl = `http://127.0.0.1:${awsPort}`;
    say(bold('\n4. The agent (AWS CLI v2 with placeholder keys, --endpoint-url at Errand)'));
    const steps: [string, string[]][] = [
      [
        'read the granted report',
        [
          's3api',
          'get-object',
          '--bucket',
          'acme-uploads',
          '--key',
          'users/alice/report.pdf',
          join(dir, 'report.pdf'),
        ],
      ],
      [
        'read it a second time',
        [
          's3api',
          'get-object',
          '--bucket',
          'acme-uploads',
          '--key',
          'users/alice/report.pdf',
          join(dir, 'again.pdf'),
        ],
      ],
      [
        "read bob's file next to it",
        [
          's3api',
          'get-object',
          '--bucket',
          'acme-uploads',
          '--key',
          'users/bob/secret.txt',
          join(dir, 'bob.txt'),
        ],
      ],
      [
        'delete the report',
        ['s3api', 'delete-object', '--bucket', 'acme-uploads', '--key', 'users/alice/report.pdf'],
      ],
    ];
    for (const [what, args] of steps) {
      const r = await runAwsCli(args, { env, endpointUrl });
      say(`\n   $ aws ${args.slice(0, 6).join(' ')}    # ${what}`);
      if (r.code === 0) say(`   ✔ allowed: ${r.stdout.replace(/\s+/g, ' ').slice(0, 110)}`);
      else say(`   ✘ ${r.stderr.trim().replace(/\n+/g, ' ').slice(0, 400)}`);
    }

    say(bold('\n5. The audit log (hash-chained; one record per decision)'));
    await new Promise((r) => setTimeout(r, 200));
    const records = (await readFile(auditFile, 'utf8'))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const r of records.filter((x) => x['event'] === 'egress_decision')) {
      const aws = r['aws'] as { operation?: string; resources?: string[] } | undefined;
      say(
        `   ${r['time']} ${String(r['decision']).padEnd(5)} ${String(r['reason']).padEnd(18)} ${aws?.operation ?? ''} ${aws?.resources?.join(' ') ?? ''}`,
      );
    }
    const verify = spawnSync(
      process.execPath,
      [join(ROOT, 'bin', 'errand.js'), 'audit', 'verify', auditFile],
      { encoding: 'utf8' },
    );
    say(`   $ errand audit verify → ${verify.stdout.trim().replace(dir, '…')}`);
  } finally {
    errand.kill('SIGTERM');
    await new Promise((r) => errand.once('exit', r));
    await moto.stop();
    await rm(dir, { recursive: true, force: true });
  }
  say(bold('\nErrand stopped on SIGTERM: credentials dropped, audit log closed.'));
}

main().catch((error: unknown) => {
  process.stderr.write(`demo failed: ${(error as Error).message}\n`);
  process.exitCode = 1;
});
