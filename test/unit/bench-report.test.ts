import t from 'tap';
import { parseCpuTicks, parseSchedstatNanos, parseStatusBytes } from '../../bench/lib/proc.ts';
import {
  BEGIN,
  END,
  renderMetric,
  renderRunSection,
  renderScenarioChart,
  renderTargets,
  replaceSection,
  scenarioPanels,
  timeSeries,
} from '../../bench/lib/report.ts';
import {
  type BenchRun,
  compare,
  judge,
  type Metric,
  notMeasured,
  type ScenarioResult,
} from '../../bench/lib/results.ts';
import { escapeXml, formatNumber, panelScale, renderChart } from '../../bench/lib/svg.ts';
import { parseWrkOutput, wrkScript } from '../../bench/lib/wrk.ts';

// The parts of the benchmark that turn measurements into what a reader sees: wrk and /proc parsing,
// the SVG charts and the generated section of docs/benchmarks.md.

const WRK = `Running 2s test @ http://127.0.0.1:4750
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.23ms  345.00us   9.87ms   88.00%
  5166 requests in 2.00s, 7.55MB read
  Socket errors: connect 0, read 12, write 1, timeout 2
  Non-2xx or 3xx responses: 3
Requests/sec:   2583.00
Transfer/sec:      3.75MB
`;

t.test('parseWrkOutput reads totals and every error count', async (t) => {
  t.same(parseWrkOutput(WRK), {
    requests: 5166,
    seconds: 2,
    rps: 2583,
    non2xx: 3,
    readErrors: 12,
    otherErrors: 3,
  });
  const clean = WRK.replace(/ {2}Socket errors.*\n {2}Non-2xx.*\n/, '').replace('2.00s', '1.50m');
  t.same(parseWrkOutput(clean), {
    requests: 5166,
    seconds: 90,
    rps: 2583,
    non2xx: 0,
    readErrors: 0,
    otherErrors: 0,
  });
  t.throws(
    () => parseWrkOutput('wrk: connection refused'),
    /wrk output not understood: wrk: connection refused/,
  );
});

t.test('wrkScript sets Host under the one key wrk checks, so no second Host is sent', async (t) => {
  t.match(
    wrkScript('http://127.0.0.1:9/b/k', { host: '127.0.0.1:9' }),
    /^wrk\.headers\["Host"\] = "127\.0\.0\.1:9"$/m,
  );
});

t.test('wrkScript quotes every value as a Lua string', async (t) => {
  t.equal(
    wrkScript('http://127.0.0.1:9/b/k', { authorization: 'AWS4 "x"\\y' }),
    'wrk.method = "GET"\nwrk.path = "http://127.0.0.1:9/b/k"\nwrk.headers["authorization"] = "AWS4 \\"x\\"\\\\y"\n',
  );
});

t.test('/proc parsers: CPU ticks past a hostile comm, memory fields in bytes', async (t) => {
  const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
  // comm may hold spaces and ')' itself; fields 14 and 15 (utime, stime) are 14 and 15 here.
  t.equal(parseCpuTicks(`1234 (node) x) S ${fields.slice(1).join(' ')}`), 14 + 15);
  t.throws(() => parseCpuTicks('1234 (node) S 1 2'), /unreadable \/proc stat line/);
  t.equal(parseSchedstatNanos('429456 0 1\n'), 429456, 'schedstat: nanoseconds on a CPU');
  t.throws(() => parseSchedstatNanos('x 0 1'), /unreadable schedstat line/);
  const status = 'Name:\tnode\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n';
  t.equal(parseStatusBytes(status, 'VmRSS'), 102400 * 1024);
  t.equal(parseStatusBytes(status, 'VmHWM'), 204800 * 1024);
  t.ok(Number.isNaN(parseStatusBytes('Name:\tnode\n', 'VmRSS')), 'a missing field is NaN');
});

t.test('formatNumber and escapeXml', async (t) => {
  const rows: [number, string][] = [
    [12345.6, '12\u2009346'],
    [123.4, '123'],
    [12.34, '12.3'],
    [1.234, '1.23'],
    [0.01234, '0.0123'],
    [0, '0'],
    [Number.NaN, 'n/a'],
  ];
  for (const [n, s] of rows) t.equal(formatNumber(n), s, String(n));
  t.equal(escapeXml(`<a href="x">&'</a>`), '&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;');
});

const metric: Metric = {
  id: 'cpu',
  title: 'CPU per request',
  unit: 'µs',
  better: 'lower',
  rounds: { errand: [300, 330, 310], 'undici-forwarder': [60, 66, 62] },
};
const cmp = compare(metric, 'errand', 'undici-forwarder');
const scenario: ScenarioResult = {
  id: 'small-get',
  title: 'Small <GET>',
  status: 'measured',
  method: 'what it measures',
  metrics: [metric],
  comparisons: [cmp],
  targets: [judge('cpu-vs-undici', 'CPU/request ≤ 1.5× the undici forwarder', cmp.perRound, '<=', 1.5, '×')],
};
const run: BenchRun = {
  schema: 1,
  tier: 'quick',
  rounds: 3,
  startedAt: '2026-11-29T12:00:00.000Z',
  finishedAt: '2026-11-29T12:02:00.000Z',
  commit: '0123456789abcdef0123',
  machine: {
    node: '24.9.0',
    cpu: 'Test CPU',
    cores: 2,
    kernel: '6.1.0',
    memoryBytes: 24 * 2 ** 30,
    loadBefore: 0.5,
    loadAfter: 1.25,
    tools: { wrk: '4.1.0' },
  },
  scenarios: [
    scenario,
    notMeasured('forward-proxy', 'Forward proxy', 'pending', 'not built yet', 'the proxy path'),
  ],
};

t.test('renderChart: one bar per subject, whiskers, reference line, escaped text', async (t) => {
  const svg = renderScenarioChart(scenario, run);
  t.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="900" height="\d+"/);
  t.match(svg, /<text x="10" y="22" class="title">Small &lt;GET&gt;<\/text>/);
  t.equal((svg.match(/class="bar( accent)?"/g) ?? []).length, 2, 'two bars');
  t.equal((svg.match(/class="bar accent"/g) ?? []).length, 1, "Errand's bar is the accent one");
  t.equal((svg.match(/class="whisker"/g) ?? []).length, 6, 'a whisker (three lines) per bar');
  t.match(svg, />310 \(300–330\)</, 'median and range of errand');
  t.match(svg, /median of 3 interleaved rounds/);
  t.ok(svg.trimEnd().endsWith('</svg>'));
  const withRef = renderChart('R', [
    { title: 'ratio', unit: '×', bars: [{ label: 'a', value: 2 }], references: [{ value: 1, label: '1×' }] },
  ]);
  t.match(withRef, /class="ref"/);
  t.match(withRef, />1×</);
  t.equal(
    panelScale({
      title: '',
      unit: '',
      bars: [{ label: 'a', value: 2, max: 10 }],
      references: [{ value: 4, label: '' }],
    }),
    4.6,
    'the scale fits bars and references, not whiskers',
  );
  const cut = renderChart('C', [
    {
      title: 't',
      unit: 'ms',
      bars: [
        { label: 'a', value: 2, min: 1, max: 50 },
        { label: 'b', value: 4, min: 3, max: 4.5 },
      ],
    },
  ]);
  t.equal((cut.match(/class="whisker cut"/g) ?? []).length, 1, 'an outlier whisker is cut at the edge');
  t.match(cut, />2\.00 \(1\.00–50\.0\)</, 'the text still gives the whole range');
  t.equal(
    panelScale({ title: '', unit: '', bars: [{ label: 'a', value: Number.NaN }] }),
    1,
    'nothing measured: a unit scale',
  );
});

t.test(
  'a value sampled each second is a line with its start and its end level, not a bar per second',
  async (t) => {
    const rss: Metric = {
      id: 'rss-under-load',
      title: 'RSS under load',
      unit: 'MiB',
      better: 'lower',
      rounds: Object.fromEntries(
        Array.from({ length: 13 }, (_, s) => [
          `${String(s).padStart(2, '0')} s`,
          [s < 3 ? 70 + s * 30 : 150],
        ]),
      ),
    };
    t.same(timeSeries(rss)?.slice(0, 4), [
      [0, 70],
      [1, 100],
      [2, 130],
      [3, 150],
    ]);
    t.equal(timeSeries(metric), undefined, 'subjects and rounds are no series');
    t.equal(
      timeSeries({ ...rss, rounds: { '00 s': [1, 2], '01 s': [3, 4] } }),
      undefined,
      'one value per second',
    );
    t.equal(timeSeries({ ...rss, rounds: { '00 s': [1] } }), undefined, 'one sample is no line');

    const memory: ScenarioResult = { ...scenario, metrics: [rss], comparisons: [], targets: [] };
    t.match(scenarioPanels(memory), [{ kind: 'line', title: 'RSS under load', points: [[0, 70]] }]);
    const svg = renderScenarioChart(memory, run);
    t.equal((svg.match(/<polyline /g) ?? []).length, 1, 'one line');
    t.equal((svg.match(/class="bar/g) ?? []).length, 0, 'no bars');
    t.match(svg, /start 70\.0 at 0 s/);
    t.match(svg, />150 MiB</, 'the level at the end');
    t.notMatch(svg, /peak/, 'a peak equal to the end is not labelled twice');
    const spiked = renderChart('S', [
      {
        kind: 'line',
        title: 'rss',
        unit: 'MiB',
        points: [
          [0, 10],
          [1, 90],
          [2, 40],
        ],
      },
    ]);
    t.match(spiked, /peak 90\.0 at 1 s/, 'a peak above the end level is labelled');

    const table = renderMetric(rss);
    t.match(table, /^\*\*RSS under load\*\* \(MiB, lower is better\): peak 150 MiB at 3 s\n/);
    t.match(table, /\| second \| 0 \| 5 \| 10 \| 12 \|/, 'every 5 s and the last second');
    t.match(table, /\| MiB \| 70\.0 \| 150 \| 150 \| 150 \|/);
  },
);

t.test('renderTargets and the run section say met or missed with the numbers', async (t) => {
  t.equal(
    renderTargets(scenario.targets),
    '| target | measured: median (min–max) | limit | verdict |\n|---|---|---|---|\n' +
      '| CPU/request ≤ 1.5× the undici forwarder | 5.00× (5.00–5.00×) | ≤ 1.50× | **missed** |',
  );
  const section = renderRunSection(run, { 'small-get': 'benchmarks/small-get.svg' });
  t.match(
    section,
    /quick tier, 3 interleaved rounds, commit 0123456789ab\): Node 24\.9\.0, Test CPU, 2 cores, 24 GiB/,
  );
  t.match(section, /load average 0\.50 before, 1\.25 after; wrk 4\.1\.0\./);
  t.match(section, /\| Forward proxy \| — \| — \| pending \|/);
  t.match(section, /\*\*pending\*\*: not built yet/);
  t.match(section, /!\[Small <GET>\]\(benchmarks\/small-get\.svg\)/);
  t.match(section, /\| errand \| 310 µs \(300–330\) \| 300, 330, 310 \|/);
});

t.test('replaceSection rewrites only the generated part, or appends one', async (t) => {
  const doc = `# Benchmarks\n\nprose before\n\n${BEGIN}\nold numbers\n${END}\n\nprose after\n`;
  t.equal(
    replaceSection(doc, 'new numbers'),
    `# Benchmarks\n\nprose before\n\n${BEGIN}\nnew numbers\n${END}\n\nprose after\n`,
  );
  t.equal(replaceSection('# B\n', 'n'), `# B\n\n${BEGIN}\nn\n${END}\n`);
  t.equal(
    replaceSection(`${END}\n${BEGIN}\n`, 'n'),
    `${END}\n${BEGIN}\n\n${BEGIN}\nn\n${END}\n`,
    'markers out of order: append',
  );
});
