import t from 'tap';
import {
  latencyPercentiles,
  median,
  percentileOfSorted,
  slope,
  sortedFinite,
  summarize,
} from '../../bench/lib/stats.ts';

// The statistics every benchmark number goes through: nearest-rank percentiles, medians, min–max,
// and the least-squares slope the memory run judges growth by.

t.test('median: odd, even, unsorted, with NaN left out, and empty', async (t) => {
  const rows: [number[], number][] = [
    [[3, 1, 2], 2],
    [[4, 1, 3, 2], 2.5],
    [[10, Number.NaN, 30, 20], 20],
    [[5], 5],
    [[Number.POSITIVE_INFINITY, 1, 3], 2],
  ];
  for (const [values, expected] of rows) t.equal(median(values), expected, `median of ${values.join(', ')}`);
  t.ok(Number.isNaN(median([])), 'no samples: NaN, not 0');
  t.ok(Number.isNaN(median([Number.NaN])), 'only NaN: NaN');
});

t.test('percentileOfSorted: nearest rank over 1..100', async (t) => {
  const s = Array.from({ length: 100 }, (_, i) => i + 1);
  const rows: [number, number][] = [
    [0, 1],
    [1, 1],
    [50, 50],
    [90, 90],
    [99, 99],
    [99.5, 100],
    [100, 100],
  ];
  for (const [p, expected] of rows) t.equal(percentileOfSorted(s, p), expected, `p${p}`);
  t.equal(percentileOfSorted([7], 99), 7, 'one sample is every percentile');
  t.ok(Number.isNaN(percentileOfSorted([], 50)), 'empty: NaN');
});

t.test('summarize and sortedFinite keep only finite values', async (t) => {
  t.same(summarize([5, 1, Number.NaN, 3]), { median: 3, min: 1, max: 5, n: 3 });
  t.same(sortedFinite([3, Number.NaN, -1, 2]), [-1, 2, 3]);
  const empty = summarize([Number.NaN]);
  t.equal(empty.n, 0);
  t.ok(Number.isNaN(empty.median) && Number.isNaN(empty.min) && Number.isNaN(empty.max));
});

t.test('latencyPercentiles of a skewed run', async (t) => {
  // 990 fast answers and 10 slow ones: p99 is the last fast one, max the slowest.
  const samples = [
    ...Array.from({ length: 990 }, () => 100),
    ...Array.from({ length: 10 }, (_, i) => 5000 + i),
  ];
  t.same(latencyPercentiles(samples), { p50: 100, p90: 100, p99: 100, max: 5009, n: 1000 });
  t.equal(latencyPercentiles([...samples, 6000]).p99, 5000, 'one more slow sample moves p99 into the tail');
});

t.test('slope: flat, rising, falling, noisy and degenerate series', async (t) => {
  const rows: [string, [number, number][], number][] = [
    [
      'flat',
      [
        [0, 5],
        [1, 5],
        [2, 5],
      ],
      0,
    ],
    [
      'rising 2 per step',
      [
        [0, 1],
        [1, 3],
        [2, 5],
        [3, 7],
      ],
      2,
    ],
    [
      'falling',
      [
        [0, 10],
        [2, 6],
      ],
      -2,
    ],
    [
      'noise around a rise',
      [
        [0, 0],
        [1, 2],
        [2, 1],
        [3, 3],
      ],
      0.8,
    ],
  ];
  for (const [name, points, expected] of rows)
    t.ok(Math.abs(slope(points) - expected) < 1e-9, `${name}: ${slope(points)}`);
  t.ok(Number.isNaN(slope([[1, 1]])), 'one point: no slope');
  t.ok(
    Number.isNaN(
      slope([
        [1, 1],
        [1, 5],
      ]),
    ),
    'one distinct x: no slope',
  );
  t.equal(
    slope([
      [0, 0],
      [1, Number.NaN],
      [2, 2],
    ]),
    1,
    'a NaN sample is left out',
  );
});
