import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { denyReasons } from '../helpers/forward.ts';
import { freePort, waitUntil } from '../helpers/ports.ts';
import { rawExchange } from '../helpers/raw-http.ts';
import { inMinutes } from '../helpers/sidecar.ts';

// `errand run --proxy-listen … --ca-dir … --secrets-dir …` as a real process: the CA files appear,
// the proxy refuses what the manifest does not name, SIGTERM ends it with 0; a missing secret stops
// it before it serves anything.

const ERRAND = join(import.meta.dirname, '..', '..', 'bin', 'errand.js');

const manifest = `apiVersion: errand.dev/v1
kind: TaskManifest
task:
  id: tsk_proxy_run
  purpose: post one summary
  user: { subject: alice@example.com, session: sess_run }
  expiresAt: ${inMinutes(30)}
http:
  grants:
    - id: post-summary
      method: POST
      url: https://api.acme.test/v1/summaries
      inject: { header: Authorization, value: "Bearer \${secret:summaries-token}" }
`;

function run(args: string[]) {
  let out = '';
  let err = '';
  const child = spawn(process.execPath, [ERRAND, 'run', ...args], {
    env: { PATH: process.env['PATH'] ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, exited, out: () => out, err: () => err };
}

t.test('errand run with the forward proxy', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'errand-proxy-run-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'task.yaml'), manifest);
  await mkdir(join(dir, 'secrets'));
  const [aws, proxy, ops] = [await freePort(), await freePort(), await freePort()];
  const base = [
    '--manifest',
    join(dir, 'task.yaml'),
    '--unsafe-allow-unsigned-manifest',
    '--listen',
    `127.0.0.1:${aws}`,
    '--ops-listen',
    `127.0.0.1:${ops}`,
    '--proxy-listen',
    `127.0.0.1:${proxy}`,
    '--state-dir',
    join(dir, 'state'),
    '--ca-dir',
    join(dir, 'ca'),
    '--secrets-dir',
    join(dir, 'secrets'),
  ];

  const missing = run(base);
  t.not(await missing.exited, 0, 'a missing secret stops errand run');
  t.match(missing.err() + missing.out(), /secret summaries-token/);

  await writeFile(join(dir, 'secrets', 'summaries-token'), 'sk-test-0123456789abcdef\n', { mode: 0o600 });
  const p = run(base);
  t.teardown(() => p.child.kill('SIGKILL'));
  await waitUntil('the proxy listener', async () => p.out().includes('sidecar_started'), {
    timeoutMs: 20_000,
  });
  const ca = await readFile(join(dir, 'ca', 'ca.pem'), 'utf8');
  t.match(ca, /^-----BEGIN CERTIFICATE-----/);
  t.match(await readFile(join(dir, 'ca', 'ca-bundle.pem'), 'utf8'), ca.trim());
  const r = await rawExchange(proxy, 'CONNECT evil.test:443 HTTP/1.1\r\nHost: evil.test:443\r\n\r\n');
  t.same(r.statuses, [403]);
  t.same(denyReasons(r.text), ['not_in_manifest']);
  const ok = await rawExchange(
    proxy,
    'CONNECT api.acme.test:443 HTTP/1.1\r\nHost: api.acme.test:443\r\n\r\n',
    { idleMs: 200 },
  );
  t.same(ok.statuses, [200], 'a granted host gets its tunnel');
  p.child.kill('SIGTERM');
  t.equal(await p.exited, 0, 'SIGTERM ends it cleanly');
  t.notMatch(p.out() + p.err(), 'sk-test-0123456789abcdef', 'the secret is never printed');
});
