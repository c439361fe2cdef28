// M2: crash resistance. A real `errand run` takes every malformed input of the framing catalogue (A1–A16)
// plus random bytes and slow partial requests, from many connections at once, repeatedly. Expect: the
// process never exits, never answers 500, writes no stack trace, its memory stays bounded, and it
// still serves a granted request afterwards. (The bounded-time fuzzer of the same front is
// test/fuzz/request-front.test.ts.)

import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { AGENT_AUTH } from '../helpers/adversarial.ts';
import { signTask, spawnErrand, waitReady } from '../helpers/errand-process.ts';
import { type Moto, startMoto } from '../helpers/moto.ts';
import { inMinutes } from '../helpers/sidecar.ts';

let moto: Moto;
let dir: string;
t.before(async () => {
  moto = await startMoto();
  dir = await mkdtemp(join(tmpdir(), 'errand-m2-'));
});
t.teardown(async () => {
  await moto?.stop();
  await rm(dir, { recursive: true, force: true });
});

const rss = async (pid: number) =>
  Number(/VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;

/** The framing catalogue's inputs, for one endpoint authority. */
const corpus = (host: string): string[] => {
  const h = `Host: ${host}\r\nAuthorization: ${AGENT_AUTH}\r\nx-amz-content-sha256: UNSIGNED-PAYLOAD\r\n`;
  const path = '/acme-uploads/users/alice/report.pdf';
  return [
    `POST /v1 HTTP/1.1\r\n${h}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG`, // A1
    `POST /v1 HTTP/1.1\r\n${h}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`, // A2
    `POST /v1 HTTP/1.1\r\n${h}\tTransfer-Encoding: chunked\r\n\r\n`,
    `POST /v1 HTTP/1.1\r\n${h}Transfer-Encoding: xchunked\r\n\r\n`,
    `POST /v1 HTTP/1.1\r\n${h}Transfer-Encoding: chunked, identity\r\n\r\n`,
    `POST /v1 HTTP/1.1\r\n${h}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked-false\r\n\r\n`,
    `PUT ${path} HTTP/1.1\r\n${h}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello`, // A3
    `PUT ${path} HTTP/1.1\r\n${h}Content-Length: 1 2\r\n\r\n`,
    `PUT ${path} HTTP/1.1\r\n${h}Content-Length: +5\r\n\r\nhello`,
    `PUT ${path} HTTP/1.1\r\n${h}Content-Length: 1000000000000000000000\r\n\r\n`,
    `GET ${path} HTTP/1.1\r\n${h}X-Foo: a\r\n b\r\n\r\n`, // A4
    `GET ${path} HTTP/1.1\n${h.replaceAll('\r\n', '\n')}\n`, // A5
    `GET ${path} HTTP/1.1\r\n${h}\rX\r\n\r\n`,
    `PUT ${path} HTTP/1.1\r\n${h}Transfer-Encoding: chunked\r\n\r\n3;x\nabc\r\n0\r\n\r\n`, // A6
    `PUT ${path} HTTP/1.1\r\n${h}Transfer-Encoding: chunked\r\n\r\n+3\r\nabc\r\n0\r\n\r\n`,
    `PUT ${path} HTTP/1.1\r\n${h}Transfer-Encoding: chunked\r\n\r\n5;a="b; c\r\n`,
    `PUT ${path} HTTP/1.1\r\n${h}Transfer-Encoding: chunked\r\n\r\n5;${'x'.repeat(100_000)}\r\n`,
    `GET ${path} HTTP/1.1\r\n${h}X-A: b\x00c\r\n\r\n`, // A7
    `GET ${path} HTTP/1.1\r\nHost: ${host}\x00.evil.test\r\n\r\n`,
    `GET /a b HTTP/1.1\r\n${h}\r\n`, // A8
    `get / HTTP/1.1\r\n${h}\r\n`,
    `GET / HTTP/1.01\r\n${h}\r\n`,
    'GET /\r\n\r\n',
    'GET / HTTP/1.0\r\n\r\n',
    'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
    `OPTIONS * HTTP/1.1\r\n${h}\r\n`,
    `GET ${path} HTTP/1.1\r\n${h}\r\nDELETE ${path} HTTP/1.1\r\n${h}\r\n`, // A9
    `GET ${path} HTTP/1.1\r\n${h}X-Big: ${'b'.repeat(20_000)}\r\n\r\n`, // A13
    `GET ${path} HTTP/1.1\r\n${h}${'X-A: b\r\n'.repeat(5000)}\r\n`,
    `GET /${'a'.repeat(65_536)} HTTP/1.1\r\n${h}\r\n`,
    `PUT ${path} HTTP/1.1\r\n${h}Content-Length: 10\r\n\r\n${'x'.repeat(100_000)}`, // A14
    `GET ${path} HTTP/1.1\r\n${h}Host: evil.test\r\n\r\n`, // A16
    `GET ${path} HTTP/1.1\r\n${h}Expect: 100-continue\r\nExpect: foo\r\n\r\n`,
    `GET http://evil.test${path} HTTP/1.1\r\n${h}\r\n`,
    `GET //evil.test${path} HTTP/1.1\r\n${h}\r\n`,
    `GET ${path} HTTP/1.1\r\n${h}Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nConnection: Upgrade, HTTP2-Settings\r\n\r\n`,
    `GET ${path}?__proto__=1&constructor=2 HTTP/1.1\r\n${h}__proto__: x\r\n\r\n`,
  ];
};

/** Sends bytes (optionally in slow pieces), reads until close or a short idle, never throws. */
const send = (port: number, bytes: Buffer, slow = false): Promise<string> =>
  new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    const arm = (ms: number) => {
      clearTimeout(timer);
      timer = setTimeout(done, ms);
    };
    socket.on('data', (c) => {
      chunks.push(c);
      arm(100);
    });
    socket.on('close', done);
    socket.on('error', done);
    socket.on('connect', async () => {
      arm(800);
      if (!slow) return void socket.write(bytes);
      for (let i = 0; i < bytes.length && !socket.destroyed; i += 7) {
        socket.write(bytes.subarray(i, i + 7));
        await new Promise((r) => setTimeout(r, 3));
      }
      arm(300);
    });
  });

t.test('malformed input from many connections at once never brings Errand down', async (t) => {
  const task = await signTask(
    dir,
    `apiVersion: errand.dev/v1
kind: TaskManifest
task: { id: tsk_m2, purpose: crash resistance, user: { subject: alice@example.com, session: s1 }, expiresAt: ${inMinutes(30)} }
aws:
  region: us-east-1
  roleArn: ${moto.roleArn}
  grants:
    - { id: read-report, action: s3:GetObject, resource: "arn:aws:s3:::acme-uploads/users/alice/report.pdf", uses: unlimited }
`,
  );
  const e = await spawnErrand(
    ['--manifest', task.manifest, '--trust-key', task.trustKey, '--state-dir', join(dir, 'state')],
    moto.env(),
  );
  t.teardown(() => e.kill9());
  t.equal((await waitReady(e)).status, 200, e.stderr());
  const pid = e.child.pid!;
  const inputs = corpus(`127.0.0.1:${e.awsPort}`).map((s) => Buffer.from(s, 'latin1'));
  const granted = async () => {
    const r = await request(`${e.endpoint}/acme-uploads/users/alice/report.pdf`, {
      headers: { authorization: AGENT_AUTH, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
    });
    await r.body.arrayBuffer();
    return r.statusCode;
  };
  t.equal(await granted(), 200);
  const before = await rss(pid);

  // 32 connections at a time, the corpus five times over, random bytes and slow writers mixed in.
  const answers: string[] = [];
  const jobs: (() => Promise<void>)[] = [];
  for (let round = 0; round < 5; round++) {
    for (const bytes of inputs)
      jobs.push(async () => void answers.push(await send(e.awsPort, bytes, round === 4)));
    for (let i = 0; i < 20; i++)
      jobs.push(async () => void answers.push(await send(e.awsPort, randomBytes(64 + i * 50))));
    jobs.push(async () => void (await granted()));
  }
  const workers = Array.from({ length: 32 }, async () => {
    for (let job = jobs.shift(); job; job = jobs.shift()) await job();
  });
  await Promise.all(workers);

  t.equal(e.child.exitCode, null, 'still running');
  t.equal(e.child.signalCode, null);
  t.equal(answers.filter((a) => / 500 |internal error/i.test(a)).length, 0, 'never a 500');
  t.notMatch(e.stderr(), /\n\s+at |Uncaught|unhandled|FATAL/i, 'no stack trace or fatal error in the logs');
  const live = await fetch(`http://127.0.0.1:${e.opsPort}/livez`);
  t.equal(live.status, 200);
  t.equal(await granted(), 200, 'a granted request is still served');
  const grew = (await rss(pid)) - before;
  t.ok(grew < 96 * 1024 * 1024, `resident memory grew ${Math.round(grew / 1048576)} MiB (bound 96 MiB)`);
  t.equal((await e.stop()).code, 0, 'and it still stops cleanly');
});
