import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { type PodLimited, podLimitedNode, quantityBytes } from '../lib/cgroup.ts';
import { type BenchContext, LOAD_CPU, roundOrder, SUBJECT_CPU } from '../lib/context.ts';
import {
  AGENT_GET_HEADERS,
  benchManifest,
  errandEntry,
  runsAs,
  SMALL_PATH,
  signBenchManifest,
  standInEnv,
  startErrand,
} from '../lib/errand.ts';
import { measureLatency } from '../lib/latency.ts';
import { clockTicksPerSecond, cpuNanos, cpuTicks } from '../lib/proc.ts';
import { freePort } from '../lib/processes.ts';
import { compare, judge, RoundTable, type ScenarioResult } from '../lib/results.ts';
import { measureSigning } from '../lib/signing.ts';
import { latencyPercentiles } from '../lib/stats.ts';
import { runWrk, wrkScript } from '../lib/wrk.ts';

// Scenario 1: an allowed small GET (S3 GetObject of 1 KiB) in endpoint mode, SigV4 on, against
// the direct path and four bare proxies, interleaved round by round.

export const SMALL_GET_ID = 'small-get';
const ERRAND_TMPFS = 'errand, state on tmpfs';
const TMPFS = '/dev/shm';
const CONNECTIONS = 32;
const SIGN_CALLS = 20_000;
const TITLE = 'Allowed small GET, endpoint mode, SigV4 on';

interface Subject {
  readonly id: string;
  readonly port: number;
  /** The process whose CPU is the cost of this subject (undefined for direct). */
  readonly pid: number | undefined;
  /** Request-target: origin-form, or absolute-form for a forward proxy. */
  readonly path: string;
  /** Closes each connection after its answer (tinyproxy): wrk counts a read error per request. */
  readonly closes?: boolean;
}

const canConnect = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });

async function startTinyproxy(ctx: BenchContext): Promise<{ port: number; pid: number } | undefined> {
  const port = await freePort();
  const conf = join(ctx.dir, 'tinyproxy.conf');
  // Forward proxy on loopback only; no logging beyond errors, no Via header (nothing Errand adds).
  await writeFile(
    conf,
    [
      `Port ${port}`,
      'Listen 127.0.0.1',
      'Allow 127.0.0.1',
      'Timeout 60',
      'MaxClients 256',
      'LogLevel Error',
      `LogFile "${join(ctx.dir, 'tinyproxy.log')}"`,
      'DisableViaHeader Yes',
      '',
    ].join('\n'),
  );
  try {
    const s = await ctx.children.start('tinyproxy', SUBJECT_CPU, 'tinyproxy', ['-d', '-c', conf], {
      probe: () => canConnect(port),
    });
    return { port, pid: s.pid };
  } catch (error) {
    ctx.log(`tinyproxy not started (${(error as Error).message.slice(0, 120)}); run scripts/setup-bench.sh`);
    return undefined;
  }
}

export async function runSmallGet(ctx: BenchContext): Promise<ScenarioResult> {
  const tmpfs = existsSync(TMPFS) ? await mkdtemp(join(TMPFS, 'errand-bench-')) : undefined;
  const limited = await podLimitedNode(ctx.node, ctx.dir, 'errand-limited');
  try {
    return await measureSmallGet(ctx, tmpfs, limited);
  } finally {
    await ctx.children.stopAll();
    if (tmpfs) await rm(tmpfs, { recursive: true, force: true });
    if ('remove' in limited.node) await limited.node.remove();
  }
}

async function measureSmallGet(
  ctx: BenchContext,
  tmpfs: string | undefined,
  limited: PodLimited,
): Promise<ScenarioResult> {
  const { tier, children, node } = ctx;
  const hz = clockTicksPerSecond();
  const server = (name: string) => join(import.meta.dirname, '..', 'servers', name);

  // Upstream and STS stand-in on the load core; every subject on the subject core.
  const upstream = await children.start('upstream', LOAD_CPU, node, [server('upstream.ts')]);
  const upPort = upstream.ready['port'] as number;
  const upUrl = `http://127.0.0.1:${upPort}`;
  const sts = await children.start('sts', LOAD_CPU, node, [server('sts-stand-in.ts')]);
  const manifest = await signBenchManifest(
    ctx.dir,
    benchManifest(new Date(Date.now() + 2 * 3600_000), []),
    node,
  );
  const bundle = await errandEntry(node);
  const errand = await startErrand(children, {
    ...runsAs(bundle),
    node,
    cpu: SUBJECT_CPU,
    dir: ctx.dir,
    manifest,
    awsEnv: standInEnv(`http://127.0.0.1:${sts.ready['port'] as number}`, upUrl),
  });
  // Diagnostic subject: the same Errand with its audit log and use journal on tmpfs, where fdatasync
  // costs nothing; the difference to Errand is what durability costs on this machine's disk.
  const errandTmpfs = tmpfs
    ? await startErrand(children, {
        ...runsAs(bundle),
        node,
        cpu: SUBJECT_CPU,
        dir: ctx.dir,
        manifest,
        awsEnv: standInEnv(`http://127.0.0.1:${sts.ready['port'] as number}`, upUrl),
        name: 'errand-tmpfs',
        stateRoot: tmpfs,
      })
    : undefined;
  // Diagnostic subject: the same Errand in a memory cgroup of the chart's default limit, as a pod
  // runs it: Node sizes V8's heaps from that limit, which no unconstrained bench machine shows.
  const errandLimited =
    'command' in limited.node
      ? await startErrand(children, {
          ...runsAs(bundle),
          node: limited.node.command,
          cpu: SUBJECT_CPU,
          dir: ctx.dir,
          manifest,
          awsEnv: standInEnv(`http://127.0.0.1:${sts.ready['port'] as number}`, upUrl),
          name: 'errand-limited',
        })
      : undefined;
  if (!('command' in limited.node))
    ctx.log(`Errand in the chart's ${limited.limit} memory limit is not measured: ${limited.node.reason}`);
  const limitedId = `errand, ${limited.limit} memory limit`;
  const splice = await children.start('splice', SUBJECT_CPU, node, [
    server('splice.ts'),
    '--target',
    `127.0.0.1:${upPort}`,
  ]);
  const httpProxy = await children.start('http-proxy', SUBJECT_CPU, node, [
    server('http-proxy.ts'),
    '--target',
    upUrl,
  ]);
  const forwarder = await children.start('undici-forwarder', SUBJECT_CPU, node, [
    server('undici-forwarder.ts'),
    '--target',
    upUrl,
  ]);
  const tinyproxy = await startTinyproxy(ctx);

  const subjects: Subject[] = [
    { id: 'direct', port: upPort, pid: undefined, path: SMALL_PATH },
    { id: 'splice', port: splice.ready['port'] as number, pid: splice.pid, path: SMALL_PATH },
    { id: 'http-proxy', port: httpProxy.ready['port'] as number, pid: httpProxy.pid, path: SMALL_PATH },
    {
      id: 'undici-forwarder',
      port: forwarder.ready['port'] as number,
      pid: forwarder.pid,
      path: SMALL_PATH,
    },
    ...(tinyproxy
      ? [
          {
            id: 'tinyproxy',
            port: tinyproxy.port,
            pid: tinyproxy.pid,
            path: `${upUrl}${SMALL_PATH}`,
            closes: true,
          },
        ]
      : []),
    ...(errandTmpfs
      ? [{ id: ERRAND_TMPFS, port: errandTmpfs.port, pid: errandTmpfs.pid, path: SMALL_PATH }]
      : []),
    ...(errandLimited
      ? [{ id: limitedId, port: errandLimited.port, pid: errandLimited.pid, path: SMALL_PATH }]
      : []),
    { id: 'errand', port: errand.port, pid: errand.pid, path: SMALL_PATH },
  ];
  const ids = subjects.map((s) => s.id);
  const rps = new RoundTable(ids);
  const cpu = new RoundTable(ids);
  const p50 = new RoundTable(ids);
  const p99 = new RoundTable(ids);
  const cpuOne = new RoundTable(ids);
  const signing = new RoundTable(['derive key per request', 'cached signing key']);

  const wrk = (s: Subject, seconds: number) =>
    runWrk({
      cpu: LOAD_CPU,
      url: `http://127.0.0.1:${s.port}`,
      script: wrkScript(s.path, AGENT_GET_HEADERS),
      connections: CONNECTIONS,
      seconds,
      dir: ctx.dir,
      closesConnections: s.closes === true,
    });

  // Warm-up: JIT (see Tier.warmupSeconds), connection pools, the audit file's first extents.
  for (const s of subjects) await wrk(s, tier.warmupSeconds);

  for (let round = 0; round < tier.rounds; round++) {
    for (const s of roundOrder(subjects, round)) {
      const before = s.pid === undefined ? 0 : await cpuTicks(s.pid);
      const w = await wrk(s, tier.wrkSeconds);
      const after = s.pid === undefined ? 0 : await cpuTicks(s.pid);
      rps.set(s.id, round, w.rps);
      cpu.set(s.id, round, s.pid === undefined ? Number.NaN : ((after - before) / hz / w.requests) * 1e6);
      const latencyBefore = s.pid === undefined ? 0 : await cpuNanos(s.pid);
      const l = await measureLatency({
        origin: `http://127.0.0.1:${s.port}`,
        path: s.path,
        headers: AGENT_GET_HEADERS,
        rate: tier.latencyRate,
        seconds: tier.latencySeconds,
        closes: s.closes === true,
      });
      if (l.errors > 0) throw new Error(`${s.id}: ${l.errors} failed requests in the latency run`);
      const latencyAfter = s.pid === undefined ? 0 : await cpuNanos(s.pid);
      cpuOne.set(
        s.id,
        round,
        s.pid === undefined ? Number.NaN : (latencyAfter - latencyBefore) / 1e3 / l.fromIntended.length,
      );
      const pct = latencyPercentiles([...l.fromIntended]);
      p50.set(s.id, round, pct.p50);
      p99.set(s.id, round, pct.p99);
      ctx.log(
        `  round ${round + 1} ${s.id}: ${w.rps.toFixed(0)} req/s, p50 ${pct.p50.toFixed(0)} µs, p99 ${pct.p99.toFixed(0)} µs`,
      );
    }
    signing.set('derive key per request', round, measureSigning(SIGN_CALLS, false));
    signing.set('cached signing key', round, measureSigning(SIGN_CALLS, true));
  }

  const rpsM = rps.metric('rps', `Throughput, wrk 1 thread, ${CONNECTIONS} connections`, 'req/s', 'higher');
  const cpuM = cpu.metric('cpu', 'CPU of the proxy process per request', 'µs', 'lower');
  const p50M = p50.metric(
    'p50',
    `Latency p50 at 1 connection, ${tier.latencyRate} req/s fixed rate`,
    'µs',
    'lower',
  );
  const p99M = p99.metric(
    'p99',
    `Latency p99 at 1 connection, ${tier.latencyRate} req/s fixed rate`,
    'µs',
    'lower',
  );
  // What one request costs a process that sleeps between requests (cold caches, wake-ups): the
  // latency run's CPU, which explains the p50 better than the CPU under load does.
  const cpuOneM = cpuOne.metric(
    'cpu-1conn',
    `CPU of the proxy process per request at 1 connection, ${tier.latencyRate} req/s`,
    'µs',
    'lower',
  );
  const signM = signing.metric('signing', 'SigV4 signing of the request (in-process)', 'µs', 'lower');
  const baselines = ids.filter((id) => id !== 'errand');
  const proxies = baselines.filter((id) => id !== 'direct');
  const comparisons = [
    ...baselines.map((b) => compare(rpsM, 'errand', b)),
    ...proxies.map((b) => compare(cpuM, 'errand', b)),
    ...proxies.map((b) => compare(cpuOneM, 'errand', b)),
    ...baselines.map((b) => compare(p50M, 'errand', b, 'difference')),
    ...baselines.map((b) => compare(p99M, 'errand', b, 'difference')),
  ];
  const find = (metric: string, baseline: string) =>
    comparisons.find((c) => c.metric === metric && c.baseline === baseline)?.perRound ?? [];
  const targets = [
    judge(
      'cpu-vs-undici',
      'CPU/request ≤ 1.5× the undici forwarder',
      find('cpu', 'undici-forwarder'),
      '<=',
      1.5,
      '×',
    ),
    judge('cpu-vs-http-proxy', 'CPU/request ≤ 0.8× http-proxy', find('cpu', 'http-proxy'), '<=', 0.8, '×'),
    judge(
      'signing',
      'signing adds ≤ 12 µs/request (the session key cache, as the endpoint signs)',
      signM.rounds['cached signing key'] ?? [],
      '<=',
      12,
      'µs',
    ),
    judge('rps-vs-splice', 'max rps on one core ≥ 0.7× the splice', find('rps', 'splice'), '>=', 0.7, '×'),
    judge(
      'p50-over-splice',
      'added p50 at 1 connection ≤ 80 µs over the splice',
      find('p50', 'splice'),
      '<=',
      80,
      'µs',
    ),
  ];
  return {
    id: SMALL_GET_ID,
    title: TITLE,
    status: 'measured',
    note: [
      bundle.note,
      ...(tinyproxy ? [] : ['tinyproxy is not installed: run scripts/setup-bench.sh']),
      'command' in limited.node
        ? `"${limitedId}": a memory cgroup of ${quantityBytes(limited.limit)} bytes, the chart's default limit`
        : `Errand in the chart's ${limited.limit} memory limit is not measured: ${limited.node.reason}`,
    ].join('; '),
    method:
      `GET ${SMALL_PATH} (1 KiB) with the headers an AWS SDK sends. Subjects: direct to the upstream; ` +
      'an L4 TCP splice; http-proxy (keep-alive agent); a minimal undici stream forwarder; tinyproxy ' +
      '(forward proxy, absolute-form requests); Errand (`errand run`, signed manifest, audit log and use ' +
      'journal on disk), the same Errand with them on tmpfs (what durability costs), and the same Errand ' +
      "in a memory cgroup of the chart's default limit, as a pod runs it (needs root). " +
      'Throughput: wrk for the round duration. CPU: utime+stime of the subject process over the wrk ' +
      'window divided by the requests wrk completed. Latency: one connection at a fixed rate, measured ' +
      "from each intended send time; its CPU per request is the subject's utime+stime over that run. " +
      'Signing: signAwsRequest timed in-process.',
    metrics: [rpsM, cpuM, p50M, p99M, cpuOneM, signM],
    comparisons,
    targets,
  };
}
