import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type BenchContext, SUBJECT_CPU } from '../lib/context.ts';
import { largestLoadableManifest, timeDecisions } from '../lib/decision.ts';
import { signBenchManifest } from '../lib/errand.ts';
import { compare, judge, RoundTable, type ScenarioResult } from '../lib/results.ts';
import { latencyPercentiles } from '../lib/stats.ts';

// Scenario 4: one decision with 10,000 grants (hits and misses) against the same with 10 grants;
// and loading the largest manifest the loader accepts, cold, in a fresh process.

const PER_GRANT = 70;

export async function runDecision(ctx: BenchContext): Promise<ScenarioResult> {
  const { tier } = ctx;
  const cases = ['10 hit', '10k hit', '10 miss', '10k miss'] as const;
  const p50 = new RoundTable(cases);
  const p99 = new RoundTable(cases);
  // Two loads of the same manifest: the signed JWS `errand run` reads at start (JSON payload), and the
  // YAML source the review commands (lint, explain, diff) read.
  const LOADS = ['signed JWS (run)', 'YAML source (review)'] as const;
  const load = new RoundTable(LOADS);
  const expiresAt = new Date(Date.now() + 3600_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const file = join(ctx.dir, 'largest.yaml');
  await writeFile(file, largestLoadableManifest(expiresAt, PER_GRANT));
  const bytes = (await stat(file)).size;
  const signedDir = join(ctx.dir, 'load-signed');
  await mkdir(signedDir, { recursive: true });
  const signed = await signBenchManifest(signedDir, largestLoadableManifest(expiresAt, PER_GRANT), ctx.node);
  const loaderScript = join(import.meta.dirname, '..', 'servers', 'load-manifest.ts');

  for (let round = 0; round < tier.rounds; round++) {
    for (const c of cases) {
      const grants = c.startsWith('10k') ? 10_000 : 10;
      const times = timeDecisions(grants, tier.decisionSamples, c.endsWith('hit'));
      const pct = latencyPercentiles([...times.ns].map((ns) => ns / 1000));
      p50.set(c, round, pct.p50);
      p99.set(c, round, pct.p99);
    }
    const order = round % 2 === 0 ? LOADS : [...LOADS].reverse();
    for (const which of order) {
      const args = which === 'signed JWS (run)' ? [signed.jwsFile, signed.trustKeyFile] : [file];
      const loaded = await ctx.children.start('load-manifest', SUBJECT_CPU, ctx.node, [
        loaderScript,
        ...args,
      ]);
      if (loaded.ready['ok'] !== true)
        throw new Error(`the largest manifest did not load: ${JSON.stringify(loaded.ready['problems'])}`);
      load.set(which, round, loaded.ready['ms'] as number);
      ctx.log(`  round ${round + 1}: load ${which} ${(loaded.ready['ms'] as number).toFixed(1)} ms`);
    }
  }
  const p50M = p50.metric('decision-p50', 'Decision time, median', 'µs', 'lower');
  const p99M = p99.metric('decision-p99', 'Decision time, p99', 'µs', 'lower');
  const loadM = load.metric('load', `Cold load of a ${Math.round(bytes / 1024)} KiB manifest`, 'ms', 'lower');
  const hit = compare(p50M, '10k hit', '10 hit');
  const miss = compare(p50M, '10k miss', '10 miss');
  return {
    id: 'decision',
    title: 'Decision with 10,000 grants',
    status: 'measured',
    note:
      'the manifest schema caps a task at 64 AWS grants of at most 100 resources (256 KiB), so a 10,000-grant ' +
      'manifest cannot be loaded: the decision is measured on loaded-form values, and the load on the largest ' +
      `manifest the loader accepts (64 grants × ${PER_GRANT} exact ARNs, ${Math.round(bytes / 1024)} KiB).`,
    method:
      `authorizeAws timed call by call (${tier.decisionSamples} calls per case per round, in the runner) for ` +
      's3:GetObject intents that hit a grant (spread over all grants) or miss (an object no grant names), ' +
      'with 10 and 10,000 exact-ARN grants of unlimited uses. Load: loadManifestFile once in a fresh process ' +
      '(module imports not included), of the signed JWS as `errand run` reads it (signature verified, JSON ' +
      'payload checked) and of the YAML source as the review commands read it.',
    metrics: [p50M, p99M, loadM],
    comparisons: [hit, miss, compare(p99M, '10k hit', '10 hit'), compare(p99M, '10k miss', '10 miss')],
    targets: [
      judge(
        'decision-p99-hit',
        'p99 ≤ 10 µs (10,000 grants, hits)',
        p99M.rounds['10k hit'] ?? [],
        '<=',
        10,
        'µs',
      ),
      judge(
        'decision-p99-miss',
        'p99 ≤ 10 µs (10,000 grants, misses)',
        p99M.rounds['10k miss'] ?? [],
        '<=',
        10,
        'µs',
      ),
      judge('decision-scale-hit', 'median(10k) / median(10) ≤ 2 (hits)', hit.perRound, '<=', 2, '×'),
      judge('decision-scale-miss', 'median(10k) / median(10) ≤ 2 (misses)', miss.perRound, '<=', 2, '×'),
      judge(
        'load',
        'loading the manifest ≤ 100 ms (signed JWS, as errand run)',
        loadM.rounds['signed JWS (run)'] ?? [],
        '<=',
        100,
        'ms',
      ),
      judge(
        'load-yaml',
        'loading the manifest ≤ 100 ms (YAML source, as the review commands)',
        loadM.rounds['YAML source (review)'] ?? [],
        '<=',
        100,
        'ms',
      ),
    ],
  };
}
