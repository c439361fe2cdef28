import type { Children } from './processes.ts';

// What every scenario gets from the runner. Core 0 carries the load generator, the upstream and the
// runner itself; core 1 carries the subject under test (Errand or a baseline), alone.

export const LOAD_CPU = 0;
export const SUBJECT_CPU = 1;

export interface Tier {
  readonly name: 'quick' | 'full';
  readonly rounds: number;
  /** wrk run per subject per round. */
  readonly wrkSeconds: number;
  /** Load on each subject before the first round: V8 keeps compiling on background threads for
   *  seconds after start (about 55 µs of CPU per request 2 s in, 6 µs after 12 s), which would
   *  count against the subject with the most code, not its steady state. */
  readonly warmupSeconds: number;
  /** Fixed-rate latency run per subject per round. */
  readonly latencySeconds: number;
  readonly latencyRate: number;
  /** Transfer sizes: throughput is measured at the first, peak memory at all. */
  readonly transferBytes: readonly number[];
  readonly memorySeconds: number;
  readonly memoryRate: number;
  readonly startRounds: number;
  readonly decisionSamples: number;
}

const MiB = 1024 * 1024;

export const TIERS: Readonly<Record<Tier['name'], Tier>> = {
  quick: {
    name: 'quick',
    rounds: 3,
    wrkSeconds: 1,
    warmupSeconds: 5,
    latencySeconds: 0.5,
    latencyRate: 200,
    transferBytes: [64 * MiB],
    memorySeconds: 6,
    memoryRate: 1000,
    startRounds: 3,
    decisionSamples: 20_000,
  },
  full: {
    name: 'full',
    rounds: 5,
    wrkSeconds: 5,
    warmupSeconds: 12,
    latencySeconds: 5,
    latencyRate: 200,
    transferBytes: [1024 * MiB, 256 * MiB, 4096 * MiB],
    memorySeconds: 60,
    memoryRate: 1000,
    startRounds: 5,
    decisionSamples: 200_000,
  },
};

export interface BenchContext {
  readonly tier: Tier;
  /** The Node binary Errand and the Node baselines run on (the pinned Node 24). */
  readonly node: string;
  /** A scratch directory for this run (manifests, audit logs, keys, scripts); removed after. */
  readonly dir: string;
  readonly children: Children;
  readonly log: (message: string) => void;
}

/** The order subjects run in round `round`: rotated each round, so no subject always goes first. */
export function roundOrder<T>(subjects: readonly T[], round: number): T[] {
  const n = subjects.length;
  if (n === 0) return [];
  const k = round % n;
  return [...subjects.slice(k), ...subjects.slice(0, k)];
}
