import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type BenchContext, LOAD_CPU, roundOrder, SUBJECT_CPU } from '../lib/context.ts';
import {
  benchManifest,
  errandEntry,
  isReady,
  REPO,
  runsAs,
  type SignedManifest,
  signBenchManifest,
  standInEnv,
  startErrand,
} from '../lib/errand.ts';
import { POLL_MS } from '../lib/processes.ts';
import { compare, judge, RoundTable, type ScenarioResult } from '../lib/results.ts';

// Scenario 5: process start to ready (/readyz 200: manifest verified, task STS session minted,
// listeners up), against `node -e 0` on the same core. AssumeRole goes to the local AWS emulator
// (moto, as the integration tests run it) when it is installed, and to the bench STS stand-in too.

const timeNodeE0 = (node: string): Promise<number> =>
  new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn('taskset', ['-c', String(SUBJECT_CPU), node, '-e', '0'], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', () => resolve(performance.now() - t0));
  });

export async function runStart(ctx: BenchContext): Promise<ScenarioResult> {
  const { tier, children, node } = ctx;
  const sts = await children.start('sts', LOAD_CPU, node, [
    join(import.meta.dirname, '..', 'servers', 'sts-stand-in.ts'),
  ]);
  const standIn = standInEnv(`http://127.0.0.1:${sts.ready['port'] as number}`, 'http://127.0.0.1:9');
  const expires = new Date(Date.now() + 2 * 3600_000);
  const standInManifest = await signBenchManifest(ctx.dir, benchManifest(expires, []), node);

  // The emulator, when installed: its STS checks the source credentials and the trust policy.
  let moto: { env: Record<string, string>; manifest: SignedManifest; stop: () => Promise<void> } | undefined;
  let note: string | undefined;
  if (existsSync(join(REPO, '.venv', 'bin', 'python'))) {
    const { startMoto } = await import('../../test/helpers/moto.ts');
    const m = await startMoto();
    const dir = join(ctx.dir, 'moto-manifest');
    await import('node:fs/promises').then((fs) => fs.mkdir(dir, { recursive: true }));
    moto = {
      env: m.env(),
      manifest: await signBenchManifest(dir, benchManifest(expires, [], m.roleArn), node),
      stop: () => m.stop(),
    };
  } else {
    note =
      'the AWS emulator is not installed (bash scripts/setup.sh): AssumeRole went to the bench STS stand-in only';
  }
  const errand = await errandEntry(node);
  const subjects = ['node -e 0', 'errand (STS stand-in)', ...(moto ? ['errand (emulator STS)'] : [])];
  const table = new RoundTable(subjects);
  try {
    for (let round = 0; round < tier.startRounds; round++) {
      for (const s of roundOrder(subjects, round)) {
        if (s === 'node -e 0') {
          table.set(s, round, await timeNodeE0(node));
          continue;
        }
        const useMoto = s === 'errand (emulator STS)' && moto;
        const t0 = performance.now();
        const e = await startErrand(children, {
          node,
          ...runsAs(errand),
          cpu: SUBJECT_CPU,
          dir: ctx.dir,
          manifest: useMoto ? moto!.manifest : standInManifest,
          awsEnv: useMoto ? moto!.env : standIn,
          name: `start-${round}`,
        });
        table.set(s, round, performance.now() - t0);
        if (!(await isReady(e.opsPort))) throw new Error(`${s} said ready, then not`);
        await children.stop(e.child);
      }
      ctx.log(`  round ${round + 1} done`);
    }
  } finally {
    await moto?.stop();
  }
  const metric = table.metric('start', 'Process start to ready', 'ms', 'lower');
  const subject = moto ? 'errand (emulator STS)' : 'errand (STS stand-in)';
  const ratio = compare(metric, subject, 'node -e 0');
  return {
    id: 'start',
    title: 'Start to ready, including AssumeRole',
    status: 'measured',
    note: note ? `${errand.note}; ${note}` : errand.note,
    method:
      '`errand run` with a signed manifest on the subject core, timed from spawn to the first 200 from ' +
      `/readyz (polled every ${POLL_MS} ms, so up to ${POLL_MS} ms late); \`node -e 0\` timed from spawn to ` +
      'exit on the same core. Both are spawned through taskset.',
    metrics: [metric],
    comparisons: [ratio, ...(moto ? [compare(metric, 'errand (STS stand-in)', 'node -e 0')] : [])],
    targets: [
      judge('start', `start to ready ≤ 6× the bare Node start (${subject})`, ratio.perRound, '<=', 6, '×'),
    ],
  };
}
