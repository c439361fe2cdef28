import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, exportSPKI, generateKeyPair } from 'jose';
import t from 'tap';
import { verifyAuditText } from '../../src/audit/verify.ts';
import { main } from '../../src/cli/main.ts';
import { captureIo } from '../helpers/cli.ts';
import { type Moto, startMoto } from '../helpers/moto.ts';
import { droppingServer, freePort } from '../helpers/ports.ts';
import { PLACEHOLDER_CREDENTIALS, runAwsCli } from '../helpers/real-clients.ts';
import { inMinutes } from '../helpers/sidecar.ts';

// `errand run` as the pod runs it: a real process, a signed manifest, its own credentials from the
// environment, the emulator as AWS. /readyz is 200 only once the STS session exists; SIGTERM drains,
// drops the credentials, closes the audit log and exits 0.

const ERRAND = join(import.meta.dirname, '..', '..', 'bin', 'errand.js');

const manifestYaml = (roleArn: string) => `apiVersion: errand.dev/v1
kind: TaskManifest
task:
  id: tsk_run_test
  purpose: read one report
  user: { subject: alice@example.com, session: sess_run }
  expiresAt: ${inMinutes(30)}
aws:
  region: us-east-1
  roleArn: ${roleArn}
  grants:
    - id: read-report
      action: s3:GetObject
      resource: arn:aws:s3:::acme-uploads/users/alice/report.pdf
`;

interface Running {
  child: ChildProcess;
  awsPort: number;
  opsPort: number;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

async function runErrand(args: string[], env: Record<string, string>): Promise<Running> {
  const [awsPort, opsPort] = [await freePort(), await freePort()];
  let out = '';
  let err = '';
  const child = spawn(
    process.execPath,
    [ERRAND, 'run', ...args, '--listen', `127.0.0.1:${awsPort}`, '--ops-listen', `127.0.0.1:${opsPort}`],
    {
      env: { PATH: process.env['PATH'] ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr!.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, awsPort, opsPort, stdout: () => out, stderr: () => err, exited };
}

async function readyz(
  port: number,
  deadlineMs = 20_000,
  settled: (r: { status: number; body: string }) => boolean = () => false,
): Promise<{ status: number; body: string }> {
  const until = Date.now() + deadlineMs;
  let last = { status: 0, body: '' };
  while (Date.now() < until) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/readyz?verbose`);
      last = { status: r.status, body: await r.text() };
      if (r.status === 200 || settled(last)) return last;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  return last;
}

let moto: Moto;
let dir: string;
t.before(async () => {
  moto = await startMoto();
  dir = await mkdtemp(join(tmpdir(), 'errand-run-'));
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  await writeFile(join(dir, 'key.jwk'), JSON.stringify(await exportJWK(privateKey)));
  await writeFile(join(dir, 'pub.pem'), await exportSPKI(publicKey));
  await writeFile(join(dir, 'task.yaml'), manifestYaml(moto.roleArn));
  const sign = captureIo();
  if (
    (await main(['manifest', 'sign', join(dir, 'task.yaml'), '--key', join(dir, 'key.jwk')], sign.io)) !== 0
  )
    throw new Error(sign.err());
  await writeFile(join(dir, 'task.jws'), sign.out());
});
t.teardown(async () => {
  await moto?.stop();
  await rm(dir, { recursive: true, force: true });
});

t.test('signed manifest: ready after the STS session, serves, SIGTERM ends cleanly', async (t) => {
  const state = join(dir, 'state-signed');
  const e = await runErrand(
    ['--manifest', join(dir, 'task.jws'), '--trust-key', join(dir, 'pub.pem'), '--state-dir', state],
    moto.env(),
  );
  t.teardown(() => e.child.kill('SIGKILL'));
  const ready = await readyz(e.opsPort);
  t.equal(ready.status, 200, `ready: ${ready.body} ${e.stderr()}`);
  t.match(ready.body, /\[\+\]credentials ok/);
  const live = await fetch(`http://127.0.0.1:${e.opsPort}/livez`);
  t.equal(live.status, 200);
  const metrics = await (await fetch(`http://127.0.0.1:${e.opsPort}/metrics`)).text();
  t.match(metrics, /errand_grant_uses_remaining\{grant="read-report"\} 1/);
  t.match(
    metrics,
    /errand_sts_session_expiry_timestamp_seconds\{session="task"\} \d{10}/,
    'the STS session expiry is exported',
  );

  const env = {
    AWS_ACCESS_KEY_ID: PLACEHOLDER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: PLACEHOLDER_CREDENTIALS.secretAccessKey,
    AWS_REGION: 'us-east-1',
  };
  const get = await runAwsCli(
    [
      's3api',
      'get-object',
      '--bucket',
      'acme-uploads',
      '--key',
      'users/alice/report.pdf',
      join(dir, 'out.pdf'),
    ],
    { env, endpointUrl: `http://127.0.0.1:${e.awsPort}` },
  );
  t.equal(get.code, 0, get.stderr);
  const after = await (await fetch(`http://127.0.0.1:${e.opsPort}/metrics`)).text();
  t.match(after, /errand_grant_uses_remaining\{grant="read-report"\} 0/);
  t.match(after, /errand_requests_total\{listener="aws",service="s3",decision="allow",reason="allowed"\} 1/);

  e.child.kill('SIGTERM');
  t.equal(await e.exited, 0, 'exit 0 on SIGTERM');
  const audit = await readFile(join(state, 'audit.jsonl'), 'utf8');
  t.same(verifyAuditText(audit), { ok: true, records: audit.trimEnd().split('\n').length });
  t.match(audit, /"event":"sidecar_stopped"/);
  const allow = audit
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((r) => r['event'] === 'egress_decision' && r['decision'] === 'allow');
  t.same(
    allow?.['sts'],
    {
      source_identity: 'alice@example.com',
      session_arns: ['arn:aws:sts::123456789012:assumed-role/errand-task/tsk_run_test'],
    },
    'the allow record names the STS session AWS logs the call under, and the user',
  );
  t.notMatch(audit, /"warning"/, 'no unsigned-manifest warning on a signed run');
  for (const line of audit.trimEnd().split('\n'))
    t.notMatch(line, /ASIA[A-Z0-9]{12,}/, 'no STS key id in the audit log');
  t.match(e.stdout(), /"event":"egress_decision"/, 'audit records also go to stdout');
});

t.test('STS refusing: not ready, with a clear reason; requests get 503, never forwarded', async (t) => {
  const state = join(dir, 'state-sts-down');
  const sts = await droppingServer(); // STS that never answers
  t.teardown(sts.close);
  const deadPort = sts.port;
  const e = await runErrand(
    ['--manifest', join(dir, 'task.jws'), '--trust-key', join(dir, 'pub.pem'), '--state-dir', state],
    {
      ...moto.env(),
      AWS_ENDPOINT_URL_STS: `http://127.0.0.1:${deadPort}`,
    },
  );
  t.teardown(() => e.child.kill('SIGKILL'));
  // Until the failure shows (a loaded machine starts slowly); a 200 at any point fails the test.
  const ready = await readyz(e.opsPort, 20_000, (r) => /credentials failed: (?!starting)/.test(r.body));
  t.equal(ready.status, 503);
  t.match(ready.body, /\[-\]credentials failed: .*ERR_STS_UNREACHABLE/);
  t.match(e.stderr(), /STS session could not be minted/);
  const r = await fetch(`http://127.0.0.1:${e.awsPort}/acme-uploads/users/alice/report.pdf`, {
    headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
  });
  t.equal(r.status, 503, 'a request while not ready is refused (503: the SDK may retry later)');
  t.match(await r.text(), /credentials_unavailable/);
  const uses = await (await fetch(`http://127.0.0.1:${e.opsPort}/metrics`)).text();
  t.match(uses, /errand_grant_uses_remaining\{grant="read-report"\} 1/, 'no use was taken while not ready');
  e.child.kill('SIGTERM');
  t.equal(await e.exited, 0);
});

t.test('an unsigned manifest runs only with the unsafe switch, and every record says so', async (t) => {
  const refused = captureIo();
  t.equal(await main(['run', '--manifest', join(dir, 'task.yaml')], refused.io), 2);
  t.match(refused.err(), /--trust-key <file> is required/);
  const state = join(dir, 'state-unsigned');
  const e = await runErrand(
    ['--manifest', join(dir, 'task.yaml'), '--unsafe-allow-unsigned-manifest', '--state-dir', state],
    moto.env(),
  );
  t.teardown(() => e.child.kill('SIGKILL'));
  t.equal((await readyz(e.opsPort)).status, 200);
  t.match(e.stderr(), /UNSAFE: running an unsigned manifest/);
  await fetch(`http://127.0.0.1:${e.awsPort}/acme-uploads/users/bob/secret.txt`);
  e.child.kill('SIGTERM');
  await e.exited;
  const records = (await readFile(join(state, 'audit.jsonl'), 'utf8'))
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const decisions = records.filter((r) => r['event'] === 'egress_decision');
  t.ok(decisions.length > 0);
  for (const r of decisions) t.match(r['warning'], /unsigned manifest/);
});

t.test('NODE_TLS_REJECT_UNAUTHORIZED=0 in the environment is refused at start', async (t) => {
  const io = captureIo({ NODE_TLS_REJECT_UNAUTHORIZED: '0' });
  t.equal(
    await main(['run', '--manifest', join(dir, 'task.jws'), '--trust-key', join(dir, 'pub.pem')], io.io),
    2,
  );
  t.match(io.err(), /ERR_CONFIG: .*NODE_TLS_REJECT_UNAUTHORIZED=0/);
});
