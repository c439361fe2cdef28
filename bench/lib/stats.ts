// Summary statistics of benchmark samples. Pure: values in, values out.
//
// Percentiles use the nearest-rank method on the exact sorted samples (every sample is kept: runs
// are bounded, so there is no need for a histogram's bucketing error).

export interface Summary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly n: number;
}

const finite = (values: readonly number[]): number[] => values.filter((v) => Number.isFinite(v));

/** Sorted copy, ascending, without NaN or infinities. */
export function sortedFinite(values: readonly number[]): number[] {
  return finite(values).sort((a, b) => a - b);
}

/** Nearest-rank percentile (p in 0..100) of an ascending array; NaN for an empty one. */
export function percentileOfSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  if (p <= 0) return sorted[0]!;
  if (p >= 100) return sorted[sorted.length - 1]!;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.max(0, rank - 1)]!;
}

/** Median: the middle sample, or the mean of the two middle ones. NaN for no samples. */
export function median(values: readonly number[]): number {
  const s = sortedFinite(values);
  if (s.length === 0) return Number.NaN;
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Median and min–max of the finite samples (rounds of one measurement). */
export function summarize(values: readonly number[]): Summary {
  const s = sortedFinite(values);
  if (s.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, n: 0 };
  return { median: median(s), min: s[0]!, max: s[s.length - 1]!, n: s.length };
}

/** Least-squares slope of y over x (units of y per unit of x); NaN for fewer than two distinct x. */
export function slope(points: readonly (readonly [number, number])[]): number {
  const pts = points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const n = pts.length;
  if (n < 2) return Number.NaN;
  const mx = pts.reduce((a, [x]) => a + x, 0) / n;
  const my = pts.reduce((a, [, y]) => a + y, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (const [x, y] of pts) {
    sxx += (x - mx) ** 2;
    sxy += (x - mx) * (y - my);
  }
  return sxx === 0 ? Number.NaN : sxy / sxx;
}

/** Latency percentiles of one run, from exact samples (any unit; the caller keeps it). */
export interface LatencyPercentiles {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly n: number;
}

export function latencyPercentiles(samples: readonly number[]): LatencyPercentiles {
  const s = sortedFinite(samples);
  return {
    p50: percentileOfSorted(s, 50),
    p90: percentileOfSorted(s, 90),
    p99: percentileOfSorted(s, 99),
    max: percentileOfSorted(s, 100),
    n: s.length,
  };
}
