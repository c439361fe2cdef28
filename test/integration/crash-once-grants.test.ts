// kill -9 of `errand run` while once-grants are being used, then a restart on the same --state-dir and
// manifest. What a security reviewer needs to see afterwards: no grant reached the upstream twice across
// both runs, every request the upstream received has an allow decision on disk, the restarted Errand
// refuses what the first one consumed (and, after a torn journal line, may refuse more, never allow
// more), and `errand audit verify` passes on the whole file while naming the tear the crash left.

import { appendFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import t from 'tap';
import { request } from 'undici';
import { main } from '../../src/cli/main.ts';
import { AGENT_AUTH } from '../helpers/adversarial.ts';
import { captureIo } from '../helpers/cli.ts';
import { parseAudit, type SignedTask, signTask, spawnErrand, waitReady } from '../helpers/errand-process.ts';
import { type Moto, startMoto } from '../helpers/moto.ts';
import { inMinutes } from '../helpers/sidecar.ts';

const GRANTS = 50;
const key = (i: number) => String(i).padStart(2, '0');

interface Received {
  readonly method: string;
  readonly url: string;
  bytes: number;
  complete: boolean;
}

let moto: Moto;
let dir: string;
let task: SignedTask;
let upstream: Server;
let upstreamUrl = '';
const received: Received[] = [];

t.before(async () => {
  moto = await startMoto();
  dir = await mkdtemp(join(tmpdir(), 'errand-crash-'));
  const grants = Array.from(
    { length: GRANTS },
    (_, i) => `    - { id: g${key(i)}, action: s3:GetObject, resource: "arn:aws:s3:::bkt/${key(i)}" }`,
  );
  task = await signTask(
    dir,
    `apiVersion: errand.dev/v1
kind: TaskManifest
task:
  id: tsk_crash
  purpose: read fifty objects once each, write one large object once
  user: { subject: alice@example.com, session: sess_crash }
  expiresAt: ${inMinutes(30)}
aws:
  region: us-east-1
  roleArn: ${moto.roleArn}
  grants:
${grants.join('\n')}
    - { id: put-big, action: s3:PutObject, resource: "arn:aws:s3:::bkt/big" }
`,
  );
  // S3 stand-in: records every request as it starts, answers reads after a short random delay (so
  // several are in flight when the kill comes), drains uploads.
  upstream = createServer((req, res) => {
    const r: Received = { method: req.method ?? '', url: req.url ?? '', bytes: 0, complete: false };
    received.push(r);
    req.on('data', (c: Buffer) => {
      r.bytes += c.length;
    });
    req.on('end', () => {
      r.complete = true;
      setTimeout(
        () => {
          if (!res.destroyed) res.writeHead(200, { 'content-type': 'text/plain' }).end(`object ${r.url}`);
        },
        20 + Math.floor(Math.random() * 200),
      );
    });
    req.on('error', () => undefined);
    res.on('error', () => undefined);
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});
t.teardown(async () => {
  upstream?.closeAllConnections();
  upstream?.close();
  await moto?.stop();
  await rm(dir, { recursive: true, force: true });
});

const errandArgs = (state: string) => [
  '--manifest',
  task.manifest,
  '--trust-key',
  task.trustKey,
  '--state-dir',
  state,
  '--log-level',
  'warn',
];
const errandEnv = () => ({ ...moto.env(), AWS_ENDPOINT_URL_S3: upstreamUrl });

const get = async (endpoint: string, k: string) => {
  const r = await request(`${endpoint}/bkt/${k}`, {
    headers: { authorization: AGENT_AUTH, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
  });
  return { status: r.statusCode, body: await r.body.text() };
};

const verifyFile = async (file: string) => {
  const io = captureIo();
  const code = await main(['audit', 'verify', file], io.io);
  return { code, out: io.out() };
};

t.test('kill -9 during a stream of once-grant reads, restart on the same state dir', async (t) => {
  const state = join(dir, 'state-reads');
  const audit = join(state, 'audit.jsonl');
  const reads = () => received.filter((r) => r.method === 'GET' && r.url.startsWith('/bkt/'));
  const first = await spawnErrand(errandArgs(state), errandEnv());
  t.teardown(() => first.kill9());
  const ready = await waitReady(first);
  t.equal(ready.status, 200, `first run ready: ${ready.body} ${first.stderr()}`);

  // A stream: one request every 8 ms, each for its own once-grant; kill -9 once the upstream has
  // seen 20 of them, with more in flight on both sides.
  const killed = new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (reads().length >= 20) {
        clearInterval(timer);
        resolve(first.kill9());
      }
    }, 2);
  });
  const sent: Promise<unknown>[] = [];
  for (let i = 0; i < GRANTS && first.child.exitCode === null && first.child.signalCode === null; i++) {
    sent.push(get(first.endpoint, key(i)).catch((e: Error) => e));
    await new Promise((r) => setTimeout(r, 8));
  }
  await killed;
  await Promise.all(sent);
  t.equal((await first.exited).signal, 'SIGKILL');
  const run1 = new Set(reads().map((r) => r.url));
  t.ok(run1.size >= 20 && run1.size < GRANTS, `the kill came mid-stream (${run1.size} forwarded)`);

  // What a kill mid-write leaves (the bytes of a record being appended when the process died), on top
  // of whatever the real kill left: a torn audit line and a torn journal record "g4", which could be
  // the start of g40…g49.
  await appendFile(audit, '{"v":1,"seq":9999,"time":"2026-01-01T00:00:00.000Z","prev":"0123');
  const journalFile = join(state, (await readdir(state)).find((f) => f.endsWith('.journal'))!);
  const journalBefore = await readFile(journalFile, 'utf8');
  await appendFile(journalFile, 'g4');
  const brokenBeforeRestart = await verifyFile(audit);
  t.equal(brokenBeforeRestart.code, 1, 'before the restart, verify fails on the torn line and says why');
  t.match(brokenBeforeRestart.out, /chain broken: torn write: the last record was cut short/);

  // Run 2: same state dir, same manifest; every grant asked again.
  const second = await spawnErrand(errandArgs(state), errandEnv());
  t.teardown(() => second.kill9());
  t.equal((await waitReady(second)).status, 200, `second run ready: ${second.stderr()}`);
  const before2 = reads().length;
  const answers = await Promise.all(Array.from({ length: GRANTS }, (_, i) => get(second.endpoint, key(i))));
  const run2 = reads()
    .slice(before2)
    .map((r) => r.url);
  t.equal((await second.stop()).code, 0, 'SIGTERM ends the second run cleanly');

  // 1. No grant reached the upstream twice, across both runs.
  const counts = new Map<string, number>();
  for (const r of reads()) counts.set(r.url, (counts.get(r.url) ?? 0) + 1);
  t.same(
    [...counts].filter(([, n]) => n > 1),
    [],
    'no object was forwarded twice',
  );
  for (const url of run2) t.notOk(run1.has(url), `${url}: forwarded in run 2, not in run 1`);

  // 2. Run 2 refuses exactly what run 1 made durable (its journal at the kill), plus g40…g49 for the
  // torn "g4"; it serves every other grant.
  const consumed = new Set(
    journalBefore
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => l.split(' ')[0]),
  );
  for (const url of run1)
    t.ok(consumed.has(`g${url.slice(5)}`), `${url}: forwarded only after its use was on disk`);
  for (const [i, a] of answers.entries()) {
    const url = `/bkt/${key(i)}`;
    if (consumed.has(`g${key(i)}`) || i >= 40)
      t.match(a, { status: 403, body: /grant_exhausted/ }, `${url}: refused after the restart`);
    else {
      t.equal(a.status, 200, `${url}: never used before the crash, served now`);
      t.ok(run2.includes(url), `${url}: the 200 came from the upstream`);
    }
  }
  // 3. Every request the upstream received has an allow decision on disk.
  const records = parseAudit(await readFile(audit, 'utf8'));
  const allowed = new Set(
    records
      .filter((r) => r['event'] === 'egress_decision' && r['decision'] === 'allow')
      .map((r) => String(r['path'])),
  );
  for (const r of reads()) t.ok(allowed.has(r.url), `${r.url}: forwarded and recorded as allowed`);

  // 4. The whole file verifies, and names the tear.
  const verified = await verifyFile(audit);
  t.equal(verified.code, 0, verified.out);
  t.match(
    verified.out,
    /chain verified, \d+ records\n {2}torn write at line \d+ \(1 line, \d+ bytes: a write cut short by a crash or a full disk\): the chain is re-anchored by the audit_opened record at line \d+\n$/,
  );
  t.equal(records.filter((r) => r['event'] === 'audit_opened').length, 2, 'one audit_opened per run');
});

t.test('kill -9 during a large upload: the use stays consumed', async (t) => {
  const state = join(dir, 'state-upload');
  const first = await spawnErrand(errandArgs(state), errandEnv());
  t.teardown(() => first.kill9());
  t.equal((await waitReady(first)).status, 200, first.stderr());
  const puts = () => received.filter((r) => r.method === 'PUT' && r.url === '/bkt/big');
  const SIZE = 256 * 1024 * 1024;
  let left = SIZE;
  const block = Buffer.alloc(256 * 1024, 'u');
  const body = new Readable({
    read() {
      if (left <= 0) return void this.push(null);
      left -= block.length;
      // Slow enough that the kill lands mid-body.
      setTimeout(() => this.push(block), 2);
    },
  });
  const upload = request(`${first.endpoint}/bkt/big`, {
    method: 'PUT',
    headers: {
      authorization: AGENT_AUTH,
      'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
      'content-length': String(SIZE),
    },
    body,
  }).catch((e: Error) => e);
  while (!(puts()[0] && puts()[0]!.bytes > 4 * 1024 * 1024)) await new Promise((r) => setTimeout(r, 5));
  await first.kill9();
  const outcome = await upload;
  t.ok(outcome instanceof Error, `the agent's upload failed with the crash (${String(outcome)})`);
  await new Promise((r) => setTimeout(r, 100));
  t.equal(puts().length, 1);
  t.notOk(puts()[0]!.complete, 'the upstream never saw the upload complete');
  t.ok(puts()[0]!.bytes < SIZE, `${puts()[0]!.bytes} of ${SIZE} bytes arrived`);

  const second = await spawnErrand(errandArgs(state), errandEnv());
  t.teardown(() => second.kill9());
  t.equal((await waitReady(second)).status, 200, second.stderr());
  const again = await request(`${second.endpoint}/bkt/big`, {
    method: 'PUT',
    headers: { authorization: AGENT_AUTH, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'content-length': '5' },
    body: 'hello',
  });
  t.equal(again.statusCode, 403);
  t.match(await again.body.text(), /<Code>AccessDenied<\/Code>.*grant_exhausted/s);
  t.equal(puts().length, 1, 'the retry after the crash never reached the upstream');
  t.equal((await second.stop()).code, 0);
  const verified = await verifyFile(join(state, 'audit.jsonl'));
  t.equal(verified.code, 0, verified.out);
});
