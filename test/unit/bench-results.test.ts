import t from 'tap';
import { parseBenchArgs } from '../../bench/lib/args.ts';
import { roundOrder } from '../../bench/lib/context.ts';
import { compare, judge, type Metric, notMeasured, RoundTable } from '../../bench/lib/results.ts';

// Ratios and differences pair the subject and the baseline of the same round; targets are judged
// on the median; the command line refuses what it does not know.

const metric = (rounds: Record<string, number[]>): Metric => ({
  id: 'rps',
  title: 'Throughput',
  unit: 'req/s',
  better: 'higher',
  rounds,
});

t.test('compare pairs rounds: ratio and difference, with gaps and zero baselines left out', async (t) => {
  const m = metric({ errand: [50, 60, Number.NaN, 80], splice: [100, 100, 100, 0] });
  const ratio = compare(m, 'errand', 'splice');
  t.same(ratio.perRound, [0.5, 0.6], 'round 3 has no errand value, round 4 a zero baseline');
  t.same(ratio.summary, { median: 0.55, min: 0.5, max: 0.6, n: 2 });
  t.equal(ratio.unit, '×');
  const diff = compare(m, 'errand', 'splice', 'difference');
  t.same(diff.perRound, [-50, -40, 80]);
  t.equal(diff.unit, 'req/s', 'a difference keeps the metric unit');
  t.throws(() => compare(m, 'errand', 'tinyproxy'), /metric rps has no subject tinyproxy/);
});

t.test('per-round pairing is not the ratio of medians', async (t) => {
  // A busy round slows both sides: paired ratios stay at 0.5, the ratio of medians would not.
  const m = metric({ errand: [50, 10, 50], splice: [100, 20, 100] });
  t.same(compare(m, 'errand', 'splice').perRound, [0.5, 0.5, 0.5]);
});

t.test('judge: the median decides; limits are inclusive; nothing measured is no verdict', async (t) => {
  const rows: [number[], '<=' | '>=', number, boolean | undefined][] = [
    [[1.2, 1.4, 1.6], '<=', 1.5, true],
    [[1.2, 1.6, 1.7], '<=', 1.5, false],
    [[0.7, 0.7, 0.9], '>=', 0.7, true],
    [[0.6, 0.69, 0.9], '>=', 0.7, false],
    [[], '<=', 1, undefined],
  ];
  for (const [values, op, limit, met] of rows) {
    const target = judge('x', 'text', values, op, limit, '×');
    t.equal(target.met, met, `${values.join(', ')} ${op} ${limit}`);
  }
  const j = judge('cpu', 'CPU ≤ 1.5×', [2, 1, 3], '<=', 1.5, '×');
  t.same(
    { value: j.value, min: j.min, max: j.max, text: j.text },
    { value: 2, min: 1, max: 3, text: 'CPU ≤ 1.5×' },
  );
});

t.test('RoundTable fills rounds in any order and hands out copies', async (t) => {
  const table = new RoundTable(['a', 'b']);
  table.set('a', 1, 10);
  table.set('b', 0, 5);
  const m = table.metric('m', 'M', 'ms', 'lower');
  t.equal(m.rounds['a']!.length, 2);
  t.ok(Number.isNaN(m.rounds['a']![0]!), 'a missing round is NaN');
  t.equal(m.rounds['a']![1], 10);
  table.set('a', 0, 7);
  t.ok(Number.isNaN(m.rounds['a']![0]!), 'a metric already taken does not change');
  t.throws(() => table.set('c', 0, 1), /unknown subject c/);
});

t.test('notMeasured carries its status and reason, and no numbers', async (t) => {
  const s = notMeasured('forward-proxy', 'Forward', 'pending', 'not built yet', 'what it measures');
  t.same(
    { status: s.status, note: s.note, metrics: s.metrics, targets: s.targets },
    { status: 'pending', note: 'not built yet', metrics: [], targets: [] },
  );
});

t.test('roundOrder rotates so no subject always goes first', async (t) => {
  const subjects = ['a', 'b', 'c'];
  t.same(roundOrder(subjects, 0), ['a', 'b', 'c']);
  t.same(roundOrder(subjects, 1), ['b', 'c', 'a']);
  t.same(roundOrder(subjects, 3), ['a', 'b', 'c']);
  t.same(roundOrder([], 2), []);
});

t.test('parseBenchArgs: tiers, scenario selection, rounds, and refusals with their message', async (t) => {
  const ok = (argv: string[]) => {
    const r = parseBenchArgs(argv);
    if (!r.ok) throw new Error(r.error);
    return r.args;
  };
  t.same(ok([]), {
    tier: 'quick',
    only: ['small-get', 'forward-proxy', 'large-transfer', 'decision', 'start', 'memory'],
    rounds: undefined,
    docs: false,
    render: undefined,
  });
  t.same(ok(['--full', '--docs', '--only', 'memory,decision', '--rounds', '7']), {
    tier: 'full',
    only: ['decision', 'memory'],
    rounds: 7,
    docs: true,
    render: undefined,
  });
  t.equal(ok(['--render', 'bench/results/full.json']).render, 'bench/results/full.json');
  const refusals: [string[], string][] = [
    [['--only', 'everything'], '--only: unknown scenario everything'],
    [['--only'], '--only: unknown scenario (none given)'],
    [['--rounds', '2'], '--rounds wants an integer from 3 to 50'],
    [['--rounds', 'many'], '--rounds wants an integer from 3 to 50'],
    [['--fast'], 'unknown option --fast'],
    [['--render'], '--render needs a results file'],
  ];
  for (const [argv, error] of refusals) t.same(parseBenchArgs(argv), { ok: false, error }, argv.join(' '));
});
