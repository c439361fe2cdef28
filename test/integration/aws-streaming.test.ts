import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import t from 'tap';
import { request } from 'undici';
import { AGENT_AUTH } from '../helpers/adversarial.ts';
import { type Moto, startMoto } from '../helpers/moto.ts';
import { freePort } from '../helpers/ports.ts';
import { inMinutes } from '../helpers/sidecar.ts';

// Bodies stream through Errand both ways: a large PUT and a large GET leave Errand's peak memory
// within a bound that does not grow with the body (nothing is buffered to hash or to relay). And
// upstream TLS is verified: an AWS endpoint with an untrusted certificate gets no request at all.

const SIZE = 256 * 1024 * 1024;
const RSS_BOUND = 64 * 1024 * 1024;
const ERRAND = join(import.meta.dirname, '..', '..', 'bin', 'errand.js');

const vmHwm = async (pid: number): Promise<number> => {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
};

/** Bytes of a fixed pattern, generated as they are read. */
const pattern = (size: number): Readable => {
  const block = Buffer.alloc(1024 * 1024, 'errand-');
  let left = size;
  return new Readable({
    read() {
      if (left <= 0) return this.push(null);
      const n = Math.min(left, block.length);
      left -= n;
      this.push(block.subarray(0, n));
    },
  });
};

let moto: Moto;
let dir: string;
let sink: Server;
let sinkPort = 0;
let received = 0;
t.before(async () => {
  moto = await startMoto();
  dir = await mkdtemp(join(tmpdir(), 'errand-stream-'));
  // An S3 stand-in that drains uploads and serves large downloads, holding nothing.
  sink = createServer((req, res) => {
    if (req.method === 'GET') {
      // A download is as large as the last upload.
      res.writeHead(200, { 'content-length': String(received), 'content-type': 'application/octet-stream' });
      pattern(received).pipe(res);
      return;
    }
    req.on('data', (c: Buffer) => {
      received += c.length;
    });
    req.on('end', () => res.writeHead(200, { etag: '"sink"' }).end());
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  sinkPort = (sink.address() as AddressInfo).port;
});
t.teardown(async () => {
  sink?.close();
  await moto?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function startErrand(
  s3Endpoint: string,
  extraEnv: Record<string, string> = {},
): Promise<{ child: ChildProcess; port: number }> {
  const yaml = `apiVersion: errand.dev/v1
kind: TaskManifest
task: { id: tsk_stream, purpose: stream, user: { subject: alice@example.com, session: s1 }, expiresAt: ${inMinutes(30)} }
aws:
  region: us-east-1
  roleArn: ${moto.roleArn}
  grants:
    - { id: put-big, action: s3:PutObject, resource: "arn:aws:s3:::acme-uploads/out/big.bin", uses: unlimited }
    - { id: get-big, action: s3:GetObject, resource: "arn:aws:s3:::acme-uploads/out/big.bin", uses: unlimited }
`;
  await writeFile(join(dir, 'task.yaml'), yaml);
  const [port, ops] = [await freePort(), await freePort()];
  const child = spawn(
    process.execPath,
    [
      ERRAND,
      'run',
      '--manifest',
      join(dir, 'task.yaml'),
      '--unsafe-allow-unsigned-manifest',
      '--listen',
      `127.0.0.1:${port}`,
      '--ops-listen',
      `127.0.0.1:${ops}`,
      '--state-dir',
      join(dir, `state-${port}`),
      '--log-level',
      'error',
    ],
    {
      env: { PATH: process.env['PATH'] ?? '', ...moto.env(), AWS_ENDPOINT_URL_S3: s3Endpoint, ...extraEnv },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${ops}/readyz`)).status === 200) return { child, port };
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  child.kill('SIGKILL');
  throw new Error('errand did not become ready');
}

t.test('uploads and downloads stream: peak memory does not grow with the body size', async (t) => {
  const { child, port } = await startErrand(`http://127.0.0.1:${sinkPort}`);
  t.teardown(() => child.kill('SIGKILL'));
  const roundTrip = async (size: number) => {
    received = 0;
    const put = await request(`http://127.0.0.1:${port}/acme-uploads/out/big.bin`, {
      method: 'PUT',
      headers: {
        authorization: AGENT_AUTH,
        'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
        'content-length': String(size),
      },
      body: pattern(size),
    });
    t.equal(put.statusCode, 200);
    await put.body.text();
    t.ok(
      received >= size,
      `the upstream received all ${size} bytes, re-framed in signed chunks (${received} on the wire)`,
    );
    let got = 0;
    const get = await request(`http://127.0.0.1:${port}/acme-uploads/out/big.bin`, {
      headers: { authorization: AGENT_AUTH, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
    });
    for await (const c of get.body) got += (c as Buffer).length;
    t.equal(got, received, 'the download arrived whole');
    return vmHwm(child.pid!);
  };
  // Warm up with a small round trip (JIT, pools, GC heap sizing), then send eight times as much.
  const warm = await roundTrip(SIZE / 8);
  const peak = await roundTrip(SIZE);
  const grew = Math.round((peak - warm) / 1048576);
  t.ok(
    peak - warm <= RSS_BOUND,
    `peak RSS grew ${grew} MiB more for ${SIZE / 1048576} MiB each way than for ${SIZE / 8 / 1048576} MiB (bound ${RSS_BOUND / 1048576} MiB)`,
  );
});

t.test('an AWS endpoint with an untrusted certificate gets nothing; the agent gets 502', async (t) => {
  const key = join(dir, 'self.key');
  const cert = join(dir, 'self.crt');
  const made = spawnSync('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
    '-keyout',
    key,
    '-out',
    cert,
  ]);
  t.equal(made.status, 0, 'a self-signed certificate');
  let requests = 0;
  const tls = createTlsServer({ key: await readFile(key), cert: await readFile(cert) }, (_q, r) => {
    requests++;
    r.end('ok');
  });
  await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r));
  t.teardown(() => tls.close());
  const { child, port } = await startErrand(`https://127.0.0.1:${(tls.address() as AddressInfo).port}`);
  t.teardown(() => child.kill('SIGKILL'));
  const r = await request(`http://127.0.0.1:${port}/acme-uploads/out/big.bin`, {
    headers: { authorization: AGENT_AUTH },
  });
  t.equal(r.statusCode, 502);
  t.match(await r.body.text(), /upstream_error/);
  t.equal(requests, 0, 'no request (and no credential) reached the untrusted endpoint');
});
