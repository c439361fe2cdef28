// `npm run bench`: Errand and its baselines measured side by side in one run, interleaved, reported
// as ratios (docs/benchmarks.md says what each number means and how to reproduce it).
//
// Steps: parse the command line; check the tools and the two cores; pin this process to the load
// core; run each scenario (each starts and stops its own processes); write bench/results/*.json;
// with --docs, rewrite the generated section of docs/benchmarks.md and its charts.

import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { basename, join, relative, resolve } from 'node:path';
import { parseBenchArgs, type ScenarioId, USAGE } from './lib/args.ts';
import { type BenchContext, LOAD_CPU, TIERS } from './lib/context.ts';
import { REPO } from './lib/errand.ts';
import { Children } from './lib/processes.ts';
import { renderRunSection, renderScenarioChart, replaceSection } from './lib/report.ts';
import type { BenchRun, Machine, ScenarioResult } from './lib/results.ts';
import { runDecision } from './scenarios/decision.ts';
import { runForwardProxy } from './scenarios/forward-proxy.ts';
import { runLargeTransfer } from './scenarios/large-transfer.ts';
import { runMemory } from './scenarios/memory.ts';
import { runSmallGet } from './scenarios/small-get.ts';
import { runStart } from './scenarios/start.ts';

const SCENARIO_RUNNERS: Readonly<Record<ScenarioId, (ctx: BenchContext) => Promise<ScenarioResult>>> = {
  'small-get': runSmallGet,
  'forward-proxy': runForwardProxy,
  'large-transfer': runLargeTransfer,
  decision: runDecision,
  start: runStart,
  memory: runMemory,
};

const TITLES: Readonly<Record<ScenarioId, string>> = {
  'small-get': 'Allowed small GET, endpoint mode, SigV4 on',
  'forward-proxy': 'Small GET through the forward proxy and through CONNECT + TLS interception',
  'large-transfer': 'Large S3 PUT and GET: pass-through payload modes and chunk re-signing',
  decision: 'Decision with 10,000 grants',
  start: 'Start to ready, including AssumeRole',
  memory: 'Idle memory and memory under 1,000 req/s',
};

const versionOf = (command: string, args: readonly string[]): string => {
  try {
    const out = execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return out.split('\n')[0]!.trim();
  } catch (error) {
    // wrk -v exits 1 after printing its version.
    const out = String((error as { stdout?: string }).stdout ?? '')
      .split('\n')[0]
      ?.trim();
    return out || 'missing';
  }
};

const have = (command: string): boolean => {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

function machine(node: string, loadBefore: number): Omit<Machine, 'loadAfter'> {
  return {
    node: execFileSync(node, ['--version'], { encoding: 'utf8' }).trim().replace(/^v/, ''),
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    kernel: release(),
    memoryBytes: totalmem(),
    loadBefore,
    tools: {
      wrk: versionOf('wrk', ['-v']).replace(/^wrk /, '').split(' ')[0] ?? 'missing',
      tinyproxy: versionOf('tinyproxy', ['-v']).replace(/^tinyproxy /, ''),
      mitmproxy: versionOf('mitmdump', ['--version']).replace(/^Mitmproxy:\s*/, ''),
    },
  };
}

const stamp = (d: Date): string =>
  d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');

/** Rewrites the generated section of docs/benchmarks.md from one or more runs, newest last, with
 *  each run's charts in docs/benchmarks/<results file name>/. */
async function writeDocs(runs: readonly { run: BenchRun; file: string }[]): Promise<void> {
  const sections: string[] = [];
  for (const { run, file } of runs) {
    const name = basename(file, '.json');
    const chartDir = join(REPO, 'docs', 'benchmarks', name);
    await mkdir(chartDir, { recursive: true });
    const charts: Record<string, string> = {};
    for (const s of run.scenarios) {
      if (s.status !== 'measured' || s.metrics.length === 0) continue;
      await writeFile(join(chartDir, `${s.id}.svg`), renderScenarioChart(s, run));
      charts[s.id] = `benchmarks/${name}/${s.id}.svg`;
    }
    sections.push(`### Run ${name}\n\nNumbers from \`${file}\`.\n\n${renderRunSection(run, charts)}`);
  }
  const docFile = join(REPO, 'docs', 'benchmarks.md');
  const doc = await readFile(docFile, 'utf8').catch(() => '# Benchmarks\n');
  await writeFile(docFile, replaceSection(doc, sections.join('\n\n')));
}

async function main(argv: readonly string[]): Promise<number> {
  const parsed = parseBenchArgs(argv);
  if (!parsed.ok) {
    process.stderr.write(`bench: ${parsed.error}\n${USAGE}`);
    return 2;
  }
  const { args } = parsed;
  if (args.render !== undefined) {
    const runs: { run: BenchRun; file: string }[] = [];
    for (const file of args.render.split(',')) {
      const run = JSON.parse(await readFile(file, 'utf8')) as BenchRun;
      if (run.schema !== 1) throw new Error(`${file} is not a bench results file (schema ${run.schema})`);
      runs.push({ run, file: relative(REPO, resolve(file)) });
    }
    await writeDocs(runs);
    process.stderr.write(`bench: rendered ${args.render} into docs/benchmarks.md\n`);
    return 0;
  }
  const missing = ['wrk', 'taskset'].filter((c) => !have(c));
  if (missing.length > 0) {
    process.stderr.write(`bench: ${missing.join(', ')} not found; run scripts/setup-bench.sh as root\n`);
    return 2;
  }
  if (cpus().length < 2) {
    process.stderr.write('bench: needs two cores (load on one, the subject on the other)\n');
    return 2;
  }
  const base = TIERS[args.tier];
  const tier = args.rounds === undefined ? base : { ...base, rounds: args.rounds };
  // The runner is part of the load: it lives on the load core with wrk and the upstream.
  execFileSync('taskset', ['-a', '-cp', String(LOAD_CPU), String(process.pid)], { stdio: 'ignore' });

  const node = process.execPath;
  const startedAt = new Date();
  const before = machine(node, loadavg()[0]!);
  const log = (message: string) => process.stderr.write(`${message}\n`);
  log(`bench: ${tier.name} tier, ${tier.rounds} rounds, Node ${before.node}, ${before.cpu}`);
  const dir = await mkdtemp(join(tmpdir(), 'errand-bench-'));
  const children = new Children();
  // Ctrl-C: stop every child, measure nothing more and write no results file (an interrupted run's
  // half-failed scenarios are not a result anyone should quote). The run directory goes in the
  // finally below, once the scenario that was running has let go of it.
  let interrupted = false;
  const stop = () => {
    interrupted = true;
    void children.stopAll().catch(() => undefined);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);

  const scenarios: ScenarioResult[] = [];
  try {
    for (const id of args.only) {
      if (interrupted) break;
      log(`bench: ${id}`);
      const t0 = performance.now();
      try {
        scenarios.push(await SCENARIO_RUNNERS[id]({ tier, node, dir, children, log }));
      } catch (error) {
        log(`bench: ${id} failed: ${(error as Error).stack ?? String(error)}`);
        scenarios.push({
          id,
          title: TITLES[id],
          status: 'failed',
          note: (error as Error).message.slice(0, 500),
          method: '',
          metrics: [],
          comparisons: [],
          targets: [],
        });
      } finally {
        await children.stopAll();
      }
      log(`bench: ${id} took ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
  } finally {
    await children.stopAll();
    await rm(dir, { recursive: true, force: true });
  }
  if (interrupted) {
    log('bench: interrupted; no results written');
    return 130;
  }

  // BENCH_COMMIT names the commit of an exported tree (git archive) that has no .git of its own.
  let commit = process.env['BENCH_COMMIT'] ?? 'unknown';
  if (commit === 'unknown') {
    try {
      commit = execFileSync('git', ['rev-parse', 'HEAD'], {
        cwd: REPO,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
    } catch {
      // not a git checkout
    }
  }
  const run: BenchRun = {
    schema: 1,
    tier: tier.name,
    rounds: tier.rounds,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    commit,
    machine: { ...before, loadAfter: loadavg()[0]! },
    scenarios,
  };
  const resultsDir = join(REPO, 'bench', 'results');
  await mkdir(resultsDir, { recursive: true });
  const name = `${tier.name}-${stamp(startedAt)}.json`;
  await writeFile(join(resultsDir, name), `${JSON.stringify(run, null, 2)}\n`);
  log(`bench: wrote bench/results/${name}`);
  if (args.docs) {
    await writeDocs([{ run, file: `bench/results/${name}` }]);
    log('bench: rewrote the results section of docs/benchmarks.md and docs/benchmarks/*.svg');
  }
  for (const s of scenarios) {
    if (s.status !== 'measured') log(`${s.id}: ${s.status}: ${s.note ?? ''}`);
    for (const t of s.targets) {
      const verdict = t.met === undefined ? 'not measured' : t.met ? 'met' : 'MISSED';
      log(`${s.id}: ${t.text}: ${t.value.toPrecision(3)} ${t.unit} → ${verdict}`);
    }
  }
  return scenarios.some((s) => s.status === 'failed') ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
