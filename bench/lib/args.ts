// Command line of `npm run bench` (node bench/run.ts). Pure: argv in, options or a usage error out.

export const USAGE = `usage: npm run bench -- [--full] [--only <scenario>[,<scenario>…]] [--rounds N] [--docs]
  --full      the full tier (5 rounds, 1 GiB / 256 MiB / 4 GiB transfers, 60 s memory run; ~17 min)
              instead of the quick tier (3 rounds, 64 MiB, 6 s; about three minutes)
  --only      run only these scenarios: small-get, forward-proxy, large-transfer, decision,
              start, memory
  --rounds N  override the tier's number of interleaved rounds (at least 3)
  --docs      also rewrite the results section of docs/benchmarks.md and its SVG charts
  --render F  measure nothing: rewrite that section and the charts from results file(s) F[,F…]
Results are written to bench/results/<tier>-<time>.json.
`;

export const SCENARIOS = [
  'small-get',
  'forward-proxy',
  'large-transfer',
  'decision',
  'start',
  'memory',
] as const;
export type ScenarioId = (typeof SCENARIOS)[number];

export interface BenchArgs {
  readonly tier: 'quick' | 'full';
  readonly only: readonly ScenarioId[];
  readonly rounds: number | undefined;
  readonly docs: boolean;
  /** A results file to render into the docs instead of measuring. */
  readonly render: string | undefined;
}

export type ParsedArgs =
  | { readonly ok: true; readonly args: BenchArgs }
  | { readonly ok: false; readonly error: string };

const isScenario = (s: string): s is ScenarioId => (SCENARIOS as readonly string[]).includes(s);

export function parseBenchArgs(argv: readonly string[]): ParsedArgs {
  let tier: BenchArgs['tier'] = 'quick';
  let only: ScenarioId[] = [...SCENARIOS];
  let rounds: number | undefined;
  let docs = false;
  let render: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--full') tier = 'full';
    else if (arg === '--quick') tier = 'quick';
    else if (arg === '--docs') docs = true;
    else if (arg === '--render') {
      render = argv[++i];
      if (render === undefined || render === '') return { ok: false, error: '--render needs a results file' };
    } else if (arg === '--only') {
      const names = (argv[++i] ?? '').split(',').filter((s) => s !== '');
      const unknown = names.filter((n) => !isScenario(n));
      if (names.length === 0 || unknown.length > 0)
        return { ok: false, error: `--only: unknown scenario ${unknown.join(', ') || '(none given)'}` };
      only = SCENARIOS.filter((s) => names.includes(s));
    } else if (arg === '--rounds') {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 3 || n > 50)
        return { ok: false, error: '--rounds wants an integer from 3 to 50' };
      rounds = n;
    } else return { ok: false, error: `unknown option ${arg}` };
  }
  return { ok: true, args: { tier, only, rounds, docs, render } };
}
