import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import t from 'tap';
import { Agent } from 'undici';
import { clockTicksPerSecond, cpuTicks, memory, resetPeakRss } from '../../bench/lib/proc.ts';
import { patternSha256, prepareBody, timedGet, timedPut } from '../../bench/lib/transfer.ts';

// The benchmark's I/O against the real things it reads and talks to: this process's /proc entries,
// and the bench upstream (bench/servers/upstream.ts) on loopback, answering PUTs and GETs as S3 does.

const UPSTREAM = join(import.meta.dirname, '..', '..', 'bench', 'servers', 'upstream.ts');
const MiB = 1024 * 1024;

t.test(
  '/proc readers: CPU ticks grow with work, RSS is read, the peak resets to the current RSS',
  async (t) => {
    const hz = clockTicksPerSecond();
    t.ok(Number.isInteger(hz) && hz > 0, `USER_HZ ${hz}`);
    const before = await cpuTicks(process.pid);
    const until = performance.now() + 100;
    while (performance.now() < until) {
      // burn 100 ms of CPU: at least a few ticks must appear
    }
    t.ok((await cpuTicks(process.pid)) - before >= 1, 'ticks counted');
    const m = await memory(process.pid);
    t.ok(m.rss > 10 * MiB && m.hwm >= m.rss, `rss ${m.rss}, hwm ${m.hwm}`);
    const ballast = Buffer.alloc(64 * MiB, 1);
    const peak = (await memory(process.pid)).hwm;
    t.ok(peak >= m.rss + 32 * MiB, 'a 64 MiB buffer raises the peak');
    ballast.fill(0);
    await resetPeakRss(process.pid);
    const after = await memory(process.pid);
    t.ok(after.hwm <= after.rss + MiB, 'after the reset the peak is the current RSS');
    await t.rejects(cpuTicks(2 ** 22 + 12345), /ENOENT/, 'a process that does not exist');
  },
);

let upstream: ChildProcess;
let base = '';
t.before(async () => {
  upstream = spawn(process.execPath, [UPSTREAM], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve) => {
    createInterface({ input: upstream.stdout! }).once('line', resolve);
  });
  base = `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}`;
});
t.teardown(() => {
  upstream.kill('SIGTERM');
});

t.test('timedPut and timedGet through the bench upstream, in every payload mode', async (t) => {
  const dispatcher = new Agent();
  t.teardown(() => dispatcher.close());
  const size = 3 * MiB + 7;
  const url = `${base}/bench-bucket/big/${size}.bin`;
  for (const mode of ['raw', 'client-hash', 'unsigned', 'trailer'] as const) {
    const r = await timedPut(
      url,
      prepareBody(mode, size, () => patternSha256(size)),
      {},
      size,
      dispatcher,
    );
    t.ok(r.bytesPerSecond > 0 && r.seconds > 0, `${mode}: ${Math.round(r.bytesPerSecond / MiB)} MiB/s`);
    t.ok(
      r.firstByteMs >= 0 && r.firstByteMs < 10_000,
      `${mode}: first byte after ${r.firstByteMs.toFixed(1)} ms`,
    );
  }
  const got = await timedGet(url, {}, size, dispatcher);
  t.ok(got.bytesPerSecond > 0);
  t.ok(Number.isNaN(got.firstByteMs), 'a GET has no upstream first-byte time');
});

t.test('a transfer the upstream does not answer as expected fails with what it got', async (t) => {
  const dispatcher = new Agent();
  t.teardown(() => dispatcher.close());
  await t.rejects(
    timedPut(
      `${base}/other-bucket/k`,
      prepareBody('raw', 10, () => ''),
      {},
      10,
      dispatcher,
    ),
    /PUT http:\/\/127\.0\.0\.1:\d+\/other-bucket\/k: 404 .*NoSuchKey/s,
  );
  await t.rejects(
    timedGet(`${base}/bench-bucket/big/100.bin`, {}, 200, dispatcher),
    /GET http:\/\/127\.0\.0\.1:\d+\/bench-bucket\/big\/100\.bin: 200, 100 of 200 bytes/,
  );
  const small = await timedGet(`${base}/bench-bucket/small.txt`, {}, 1024, dispatcher);
  t.ok(small.seconds > 0, 'the 1 KiB object of the small GET');
});
