// The shipped examples, linted as a reviewer would see them a few minutes before their deadline:
// none carries an ERROR, and each shows exactly the risks it was written to show.
import { readdirSync, readFileSync } from 'node:fs';
import t from 'tap';
import { lintManifest } from '../../src/manifest/lint.ts';
import { describeActions } from '../../src/manifest/lint-rules.ts';
import { loadManifestText } from '../../src/manifest/load.ts';
import { compileSessionPolicies, POLICY_SIZE_LIMIT } from '../../src/manifest/policy.ts';

const EXAMPLES = new URL('../../examples/', import.meta.url);

const expected: Record<string, string[]> = {
  'dynamodb-lookup.yaml': [],
  'grant-isolated-write.yaml': ['ERRAND011'],
  'list-with-prefix.yaml': ['ERRAND006', 'ERRAND016', 'ERRAND016'],
  'summarize-report.yaml': ['ERRAND011', 'ERRAND023'],
};

for (const name of readdirSync(EXAMPLES)
  .filter((f) => f.endsWith('.yaml'))
  .sort()) {
  t.test(name, async (t) => {
    const text = readFileSync(new URL(name, EXAMPLES), 'utf8');
    const deadline = Date.parse(/expiresAt: (\S+)/.exec(text)?.[1] ?? '');
    const now = deadline - 10 * 60_000;
    const result = loadManifestText(text, { now, fileName: name });
    if (!result.ok) {
      t.fail(`${name} does not load: ${JSON.stringify(result.problems)}`);
      return;
    }
    const actions = await describeActions((result.loaded.manifest.aws?.grants ?? []).map((g) => g.action));
    const findings = lintManifest(result.loaded, { now, actions, locate: result.locate });
    t.same(
      findings.map((f) => f.ruleId),
      expected[name] ?? ['(add this example to the table)'],
    );
    t.notOk(
      findings.some((f) => f.severity === 'ERROR'),
      'no ERROR',
    );
    t.ok(
      findings.every((f) => (f.line ?? 0) > 0),
      'every finding located',
    );
    for (const p of compileSessionPolicies(result.loaded.manifest)) {
      t.ok(p.size <= POLICY_SIZE_LIMIT, `${p.sessionKey} fits STS`);
    }
  });
}

t.test('review does not refuse a manifest for its deadline; lint reports it', async (t) => {
  const text = readFileSync(new URL('summarize-report.yaml', EXAMPLES), 'utf8');
  const late = Date.parse('2026-11-30T09:00:00Z');
  t.notOk(loadManifestText(text, { now: late }).ok, 'to run, an expired manifest does not load');
  const review = loadManifestText(text, { now: late, review: true });
  if (!review.ok) return t.fail('to review, it loads');
  const actions = await describeActions(['s3:GetObject']);
  t.same(
    lintManifest(review.loaded, { now: late, actions })
      .filter((f) => f.ruleId === 'ERRAND021')
      .map((f) => f.message),
    ['the manifest expired at 2026-11-29T20:05:00Z, 12 hours 55 minutes ago'],
  );
  const early = Date.parse('2026-11-29T03:00:00Z');
  const far = loadManifestText(text, { now: early, review: true });
  if (!far.ok) return t.fail('a far deadline loads for review');
  const f = lintManifest(far.loaded, { now: early, actions }).find((x) => x.ruleId === 'ERRAND022');
  t.equal(f?.severity, 'ERROR', 'more than 12 h ahead is an error finding');
});
