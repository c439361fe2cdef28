import fc from 'fast-check';
import t from 'tap';
import { largestLoadableManifest, manifestWithGrants, timeDecisions } from '../../bench/lib/decision.ts';
import { authorizeAws, type GrantIndex, indexGrants } from '../../src/authorize/authorize.ts';
import { UseLedger } from '../../src/authorize/use-ledger.ts';
import type { AwsIntent } from '../../src/classify/types.ts';
import { loadManifestText, MAX_MANIFEST_BYTES } from '../../src/manifest/load.ts';
import type { AwsGrant } from '../../src/manifest/types.ts';
import { awsGrant, manifestWith } from '../helpers/manifests.ts';

// Issue 7, "decision with 10,000 grants": the grant index looks exact ARNs up instead of scanning
// every grant of an action. These tests pin that the indexed decision is what scanning gave (the
// outcome and grant, in manifest order, as an independent model says), and the benchmark's inputs.

const getObject = (arn: string, extra: Partial<AwsIntent> = {}): AwsIntent => ({
  kind: 'aws',
  service: 's3',
  region: 'us-east-1',
  operation: 'GetObject',
  needs: [{ action: 's3:GetObject', resource: arn }],
  ...extra,
});

const decide = (index: GrantIndex, ledger: UseLedger, intent: AwsIntent) =>
  authorizeAws({ intent, sensitiveHeaders: [], uploads: new Map() }, index, ledger, 0, 1);

t.test('10,000 grants: a hit finds its grant, a miss names the first three and the count', async (t) => {
  const m = manifestWithGrants(10_000);
  const index = indexGrants(m);
  const ledger = UseLedger.inMemory(m.aws!.grants);
  const rows: [string, boolean, string, readonly string[], RegExp][] = [
    ['arn:aws:s3:::bench-bucket/objects/009999.bin', true, 'allowed', ['g9999'], /^allowed by g9999$/],
    ['arn:aws:s3:::bench-bucket/objects/000000.bin', true, 'allowed', ['g0'], /^allowed by g0$/],
    [
      'arn:aws:s3:::bench-bucket/objects/010000.bin',
      false,
      'aws_op_not_granted',
      [],
      /only as: g0 \(s3:GetObject on arn:aws:s3:::bench-bucket\/objects\/000000\.bin\); g1 .*; g2 .*; and 9997 more\.$/,
    ],
  ];
  for (const [arn, allow, reason, grantIds, message] of rows) {
    const d = decide(index, ledger, getObject(arn));
    t.equal(d.allow, allow, arn);
    t.equal(d.reason, reason);
    t.same(d.grantIds, grantIds);
    t.match(d.message, message);
  }
});

t.test('exact and pattern grants of one action keep manifest order', async (t) => {
  const grants: AwsGrant[] = [
    awsGrant({ id: 'broad-first', action: 's3:GetObject', resources: ['arn:aws:s3:::b/*'], broad: true }),
    awsGrant({ id: 'exact-second', action: 's3:GetObject', resources: ['arn:aws:s3:::b/k'] }),
    awsGrant({
      id: 'both',
      action: 's3:GetObject',
      resources: ['arn:aws:s3:::b/k', 'arn:aws:s3:::b/?'],
      broad: true,
    }),
  ];
  const m = manifestWith(grants);
  const index = indexGrants(m);
  t.same(index.awsExact.get('s3:GetObject')?.get('arn:aws:s3:::b/k'), [grants[1], grants[2]]);
  t.same(index.awsPatterns.get('s3:GetObject'), [grants[0], grants[2]], 'a grant is listed once');
  const ledger = UseLedger.inMemory(grants);
  // Each grant has one use: three reads of b/k take them in manifest order, the fourth is refused.
  const taken = [1, 2, 3, 4].map(() => decide(index, ledger, getObject('arn:aws:s3:::b/k')));
  t.same(
    taken.map((d) => (d.allow ? d.grantIds[0] : d.reason)),
    ['broad-first', 'exact-second', 'both', 'grant_exhausted'],
  );
});

t.test(
  'property: the indexed decision is the first covering grant with a use left, in manifest order',
  async (t) => {
    const keys = ['a', 'b', 'c', 'a/b', 'ab'];
    const resource = fc.oneof(
      fc.constantFrom(...keys).map((k) => `arn:aws:s3:::bkt/${k}`),
      fc.constantFrom(
        'arn:aws:s3:::bkt/*',
        'arn:aws:s3:::bkt/a*',
        'arn:aws:s3:::bkt/?',
        'arn:aws:s3:::other/*',
      ),
    );
    const grant = fc.record({
      action: fc.constantFrom('s3:GetObject', 's3:ListBucket'),
      resources: fc.uniqueArray(resource, { minLength: 1, maxLength: 3 }),
      uses: fc.oneof(fc.constant('unlimited' as const), fc.integer({ min: 0, max: 2 })),
      prefix: fc.option(fc.constantFrom('a', 'b'), { nil: undefined }),
    });
    const need = fc.record({
      action: fc.constantFrom('s3:GetObject', 's3:ListBucket'),
      key: fc.constantFrom(...keys, 'zzz'),
      prefix: fc.option(fc.constantFrom('a', 'b'), { nil: undefined }),
    });
    // An independent model of IAM-style matching: '*' any run, '?' one character.
    const matches = (pattern: string, arn: string) =>
      new RegExp(
        `^${pattern
          .split('')
          .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\/]/g, '\\$&')))
          .join('')}$`,
        's',
      ).test(arn);
    fc.assert(
      fc.property(
        fc.array(grant, { minLength: 1, maxLength: 8 }),
        fc.array(need, { minLength: 1, maxLength: 12 }),
        (gs, needs) => {
          const grants = gs.map((g, i) =>
            awsGrant({
              id: `g${i}`,
              action: g.action,
              resources: g.resources,
              broad: g.resources.some((r) => r.includes('*') || r.includes('?')),
              uses: g.uses,
              conditions: g.prefix === undefined ? {} : { s3Prefix: g.prefix },
            }),
          );
          const index = indexGrants(manifestWith(grants));
          const ledger = UseLedger.inMemory(grants);
          const left = gs.map((g) => (g.uses === 'unlimited' ? Number.POSITIVE_INFINITY : g.uses));
          for (const n of needs) {
            const arn = `arn:aws:s3:::bkt/${n.key}`;
            const intent: AwsIntent = {
              kind: 'aws',
              service: 's3',
              region: 'us-east-1',
              operation: n.action === 's3:GetObject' ? 'GetObject' : 'ListObjectsV2',
              needs: [{ action: n.action, resource: arn, ...(n.prefix ? { s3Prefix: n.prefix } : {}) }],
            };
            const covering = gs
              .map((g, i) => ({ g, i }))
              .filter(({ g }) => g.action === n.action && g.resources.some((r) => matches(r, arn)))
              .filter(({ g }) => g.prefix === undefined || g.prefix === n.prefix);
            const first = covering.find(({ i }) => left[i]! > 0);
            const expected =
              covering.length === 0
                ? 'aws_op_not_granted'
                : first === undefined
                  ? 'grant_exhausted'
                  : `g${first.i}`;
            if (first) left[first.i]! -= 1;
            const d = decide(index, ledger, intent);
            const got = d.allow ? d.grantIds.join(',') : d.reason;
            if (got !== expected) throw new Error(`${n.action} ${arn}: expected ${expected}, got ${got}`);
          }
        },
      ),
      { numRuns: 300 },
    );
    t.pass('300 random manifests and request sequences decided as the model says');
  },
);

t.test('timeDecisions times every call and refuses an unexpected outcome', async (t) => {
  t.equal(timeDecisions(10, 50, true).ns.length, 50);
  t.ok(
    timeDecisions(10, 50, false).ns.every((ns) => ns > 0),
    'every sample is a positive duration',
  );
});

t.test('largestLoadableManifest: the loader accepts it, within the size limit', async (t) => {
  const text = largestLoadableManifest('2099-01-01T00:00:00Z', 70);
  t.ok(Buffer.byteLength(text) <= MAX_MANIFEST_BYTES, `${Buffer.byteLength(text)} bytes`);
  const r = loadManifestText(text, { now: Date.parse('2098-12-31T23:00:00Z') });
  t.ok(r.ok, r.ok ? 'loaded' : JSON.stringify(r.problems.slice(0, 2)));
  if (r.ok) t.equal(r.loaded.manifest.aws?.grants.length, 64);
  const over = loadManifestText(largestLoadableManifest('2099-01-01T00:00:00Z', 101), {
    now: Date.parse('2098-12-31T23:00:00Z'),
  });
  t.notOk(over.ok, '101 resources in a grant is over the schema limit');
});
