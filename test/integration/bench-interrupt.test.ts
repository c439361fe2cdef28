import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import t from 'tap';

// Ctrl-C during `npm run bench` stops every process the run started and writes no results file: the
// half-failed scenarios of an interrupted run are not a result anyone should quote.

const REPO = join(import.meta.dirname, '..', '..');
const RESULTS = join(REPO, 'bench', 'results');

t.test('an interrupted bench stops, exits 130 and writes no results', async (t) => {
  const before = new Set(await readdir(RESULTS).catch(() => []));
  // decision runs in the runner; memory starts Errand and its servers: one of them is running when
  // the signal arrives, whichever way the timing falls.
  // Outside the coverage run: the runner is a tool whose scenarios this test does not exercise.
  const child = spawn(process.execPath, [join(REPO, 'bench', 'run.ts'), '--only', 'decision,memory'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, _TAPJS_PROCESSINFO_COVERAGE_: '0' },
  });
  let stderr = '';
  const lines = createInterface({ input: child.stderr });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve) => {
    lines.on('line', (line) => {
      stderr += `${line}\n`;
      if (line === 'bench: decision') resolve();
    });
    child.once('exit', () => resolve());
  });
  child.kill('SIGINT');
  const code = await exited;
  t.equal(code, 130, `exit code (stderr: ${stderr.slice(-400)})`);
  t.match(stderr, /bench: interrupted; no results written/);
  t.notMatch(stderr, /bench: wrote /);
  const after = await readdir(RESULTS).catch(() => []);
  t.same(
    after.filter((f) => !before.has(f)),
    [],
    'no new file in bench/results',
  );
});
