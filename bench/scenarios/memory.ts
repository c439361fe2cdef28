import { join } from 'node:path';
import { podLimitedNode } from '../lib/cgroup.ts';
import { type BenchContext, LOAD_CPU, SUBJECT_CPU } from '../lib/context.ts';
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
import { memory } from '../lib/proc.ts';
import { driveRate } from '../lib/rate.ts';
import { judge, type Metric, RoundTable, type ScenarioResult } from '../lib/results.ts';
import { slope } from '../lib/stats.ts';

// Scenario 6: Errand's resident memory idle (after start, settled), and under a steady 1,000 req/s
// of the small GET: sampled every second; the trend is the least-squares slope of the second half.

const MiB = 1024 * 1024;
const SETTLE_MS = 2000;
/** "No growth trend": what a 60 s window can tell from GC noise; see docs/benchmarks.md. */
const MAX_SLOPE_MIB_PER_MIN = 1;
const TREND_MIN_SECONDS = 30;

/** A series as a metric's rounds, one "NN s" key per sample (the report draws it as a line). */
const bySecond = (samples: readonly [number, number][]): Record<string, number[]> =>
  Object.fromEntries(samples.map(([s, v]) => [`${String(s).padStart(2, '0')} s`, [v]]));

export async function runMemory(ctx: BenchContext): Promise<ScenarioResult> {
  const { tier, children, node } = ctx;
  const servers = join(import.meta.dirname, '..', 'servers');
  const upstream = await children.start('upstream', LOAD_CPU, node, [join(servers, 'upstream.ts')]);
  const sts = await children.start('sts', LOAD_CPU, node, [join(servers, 'sts-stand-in.ts')]);
  const manifest = await signBenchManifest(
    ctx.dir,
    benchManifest(new Date(Date.now() + 2 * 3600_000), []),
    node,
  );
  const entry = await errandEntry(node);
  const { note } = entry;
  const idle = new RoundTable(['errand']);
  const env = standInEnv(
    `http://127.0.0.1:${sts.ready['port'] as number}`,
    `http://127.0.0.1:${upstream.ready['port'] as number}`,
  );
  // `node` itself, or the wrapper that runs it in the pod's memory limit.
  const start = (command: string, name = 'errand') =>
    startErrand(children, {
      node: command,
      ...runsAs(entry),
      cpu: SUBJECT_CPU,
      dir: ctx.dir,
      manifest,
      awsEnv: env,
      name,
    });
  // Idle: a fresh Errand per round, settled, before any request.
  for (let round = 0; round < tier.rounds; round++) {
    const e = await start(node);
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    idle.set('errand', round, (await memory(e.pid)).rss / MiB);
    await children.stop(e.child);
  }

  // Under load: one Errand, the fixed rate for the tier's duration; then the same in a memory cgroup
  // of the chart's default limit, as a pod runs it (where this machine allows one).
  const underLoad = async (command: string, name: string) => {
    const e = await start(command, name);
    const samples: [number, number][] = [[0, (await memory(e.pid)).rss / MiB]];
    const result = await driveRate({
      origin: `http://127.0.0.1:${e.port}`,
      path: SMALL_PATH,
      headers: AGENT_GET_HEADERS,
      rate: tier.memoryRate,
      seconds: tier.memorySeconds,
      everySecond: async (second) => {
        samples.push([second, (await memory(e.pid)).rss / MiB]);
      },
    });
    await children.stop(e.child);
    if (result.failed > 0) throw new Error(`${name}: ${result.failed} requests failed under load`);
    const secondHalf = samples.filter(([s]) => s >= tier.memorySeconds / 2);
    return { samples, result, perMinute: slope(secondHalf) * 60 };
  };
  const { samples, result, perMinute } = await underLoad(node, 'errand');
  const limited = await podLimitedNode(node, ctx.dir, 'errand-limited');
  let inLimit: Awaited<ReturnType<typeof underLoad>> | undefined;
  try {
    if ('command' in limited.node) inLimit = await underLoad(limited.node.command, 'errand-limited');
  } finally {
    if ('remove' in limited.node) await limited.node.remove();
  }
  const limitId = `in the chart's ${limited.limit} limit`;
  const series: Metric = {
    id: 'rss-under-load',
    title: `RSS under ${tier.memoryRate} req/s, sampled each second`,
    unit: 'MiB',
    better: 'lower',
    rounds: bySecond(samples),
  };
  const limitedSeries: Metric[] = inLimit
    ? [
        {
          id: 'rss-under-load-limited',
          title: `RSS under ${tier.memoryRate} req/s ${limitId} (a memory cgroup, as a pod runs it), sampled each second`,
          unit: 'MiB',
          better: 'lower',
          rounds: bySecond(inLimit.samples),
        },
      ]
    : [];
  // A slope is quoted only for a run long enough to have one, as the growth target is judged.
  const limitedNote = inLimit
    ? `${limitId}: peak ${Math.max(...inLimit.samples.map(([, v]) => v)).toFixed(1)} MiB` +
      (tier.memorySeconds >= TREND_MIN_SECONDS
        ? `, slope ${inLimit.perMinute.toFixed(2)} MiB/min over the second half`
        : '')
    : `not measured ${limitId}: ${'reason' in limited.node ? limited.node.reason : ''}`;
  const idleM = idle.metric('idle', 'Idle RSS after start (fresh process per round)', 'MiB', 'lower');
  const achieved = result.ok / tier.memorySeconds;
  return {
    id: 'memory',
    title: 'Idle memory and memory under 1,000 req/s',
    status: 'measured',
    note: [
      note,
      ...(result.skipped > 0
        ? [`Errand fell behind: ${result.skipped} requests were not sent (256 already in flight)`]
        : []),
      limitedNote,
    ].join('; '),
    method:
      `Idle: VmRSS of a fresh \`errand run\` ${SETTLE_MS / 1000} s after /readyz, one process per round. Under ` +
      `load: the small GET at ${tier.memoryRate} req/s (open loop, 16 connections) for ${tier.memorySeconds} s; ` +
      `${result.ok} answered (${achieved.toFixed(0)} req/s). Trend: least-squares slope of VmRSS over the ` +
      `second half of the run, in MiB per minute. Then the same run for an Errand in a memory cgroup of ` +
      "the chart's default limit (needs root; judged by no target).",
    metrics: [idleM, series, ...limitedSeries],
    comparisons: [],
    targets: [
      judge(
        'idle',
        'idle RSS ≤ 80 MB',
        (idleM.rounds['errand'] ?? []).map((m) => (m * MiB) / 1e6),
        '<=',
        80,
        'MB',
      ),
      judge(
        'growth',
        `no growth trend under load (slope ≤ ${MAX_SLOPE_MIB_PER_MIN} MiB/min)`,
        // A short run is all heap warm-up: only a run of TREND_MIN_SECONDS or more is judged.
        tier.memorySeconds >= TREND_MIN_SECONDS ? [perMinute] : [],
        '<=',
        MAX_SLOPE_MIB_PER_MIN,
        'MiB/min',
      ),
    ],
  };
}
