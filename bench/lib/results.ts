import { type Summary, summarize } from './stats.ts';

// The shape of one benchmark run (bench/results/*.json) and the comparisons made from it. Pure.
//
// Every measurement is taken once per round for every subject (Errand and its baselines, interleaved
// in one run); a comparison pairs the subject's and the baseline's values of the SAME round, so a
// machine that is busier in one round moves both sides of that round's ratio together.

export type Better = 'higher' | 'lower';

export interface Metric {
  readonly id: string;
  readonly title: string;
  readonly unit: string;
  readonly better: Better;
  /** Subject (errand, splice, direct, …) → one value per round, in round order (NaN: round failed). */
  readonly rounds: Readonly<Record<string, readonly number[]>>;
}

export type ComparisonKind = 'ratio' | 'difference';

export interface Comparison {
  readonly metric: string;
  readonly kind: ComparisonKind;
  readonly subject: string;
  readonly baseline: string;
  /** subject ÷ baseline (ratio) or subject − baseline (difference), per round. */
  readonly perRound: readonly number[];
  readonly summary: Summary;
  /** The unit of the values: '×' for a ratio, the metric's unit for a difference. */
  readonly unit: string;
}

export type TargetOp = '<=' | '>=';

export interface Target {
  readonly id: string;
  /** The target as the issue states it, e.g. "CPU/request ≤ 1.5× the undici forwarder". */
  readonly text: string;
  /** The measured median (of a comparison or of a metric). */
  readonly value: number;
  readonly min: number;
  readonly max: number;
  readonly op: TargetOp;
  readonly limit: number;
  readonly unit: string;
  /** True when the median meets the limit; undefined when nothing was measured. */
  readonly met: boolean | undefined;
}

export type ScenarioStatus = 'measured' | 'pending' | 'skipped' | 'failed';

export interface ScenarioResult {
  readonly id: string;
  readonly title: string;
  readonly status: ScenarioStatus;
  /** Why it is pending, skipped or failed; or a caveat about the measurement. */
  readonly note?: string;
  /** What the numbers mean: subjects, load, what a round is. */
  readonly method: string;
  readonly metrics: readonly Metric[];
  readonly comparisons: readonly Comparison[];
  readonly targets: readonly Target[];
}

export interface Machine {
  readonly node: string;
  readonly cpu: string;
  readonly cores: number;
  readonly kernel: string;
  readonly memoryBytes: number;
  /** 1-minute load average before and after the run: other work on the machine skews the numbers. */
  readonly loadBefore: number;
  readonly loadAfter: number;
  readonly tools: Readonly<Record<string, string>>;
}

export interface BenchRun {
  readonly schema: 1;
  readonly tier: 'quick' | 'full';
  readonly rounds: number;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly commit: string;
  readonly machine: Machine;
  readonly scenarios: readonly ScenarioResult[];
}

const valuesOf = (metric: Metric, subject: string): readonly number[] => {
  const values = metric.rounds[subject];
  if (values === undefined) throw new Error(`metric ${metric.id} has no subject ${subject}`);
  return values;
};

/** Pairs subject and baseline round by round; a round missing on either side is left out. */
export function compare(
  metric: Metric,
  subject: string,
  baseline: string,
  kind: ComparisonKind = 'ratio',
): Comparison {
  const a = valuesOf(metric, subject);
  const b = valuesOf(metric, baseline);
  const perRound: number[] = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    if (kind === 'ratio' && y === 0) continue;
    perRound.push(kind === 'ratio' ? x / y : x - y);
  }
  return {
    metric: metric.id,
    kind,
    subject,
    baseline,
    perRound,
    summary: summarize(perRound),
    unit: kind === 'ratio' ? '×' : metric.unit,
  };
}

/** A target judged on the median of the given per-round values (a comparison's or a metric's). */
export function judge(
  id: string,
  text: string,
  values: readonly number[],
  op: TargetOp,
  limit: number,
  unit: string,
): Target {
  const s = summarize(values);
  const met = s.n === 0 ? undefined : op === '<=' ? s.median <= limit : s.median >= limit;
  return { id, text, value: s.median, min: s.min, max: s.max, op, limit, unit, met };
}

/** A scenario that could not be measured in this run, with the reason. */
export function notMeasured(
  id: string,
  title: string,
  status: Exclude<ScenarioStatus, 'measured'>,
  note: string,
  method: string,
): ScenarioResult {
  return { id, title, status, note, method, metrics: [], comparisons: [], targets: [] };
}

/** Metric helper: a per-subject table of per-round values, filled as rounds complete. */
export class RoundTable {
  readonly #rounds = new Map<string, number[]>();

  constructor(subjects: readonly string[]) {
    for (const s of subjects) this.#rounds.set(s, []);
  }

  /** Records the value of `subject` in round `round` (0-based); gaps stay NaN. */
  set(subject: string, round: number, value: number): void {
    const values = this.#rounds.get(subject);
    if (values === undefined) throw new Error(`unknown subject ${subject}`);
    while (values.length <= round) values.push(Number.NaN);
    values[round] = value;
  }

  metric(id: string, title: string, unit: string, better: Better): Metric {
    return {
      id,
      title,
      unit,
      better,
      rounds: Object.fromEntries([...this.#rounds].map(([s, v]) => [s, [...v]])),
    };
  }
}
