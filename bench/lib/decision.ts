import { authorizeAws, indexGrants } from '../../src/authorize/authorize.ts';
import { UseLedger } from '../../src/authorize/use-ledger.ts';
import type { AwsIntent } from '../../src/classify/types.ts';
import type { AwsGrant, Manifest } from '../../src/manifest/types.ts';

// The decision alone (authorize: intent × grant index × use counters × deadline), timed call by call
// in-process. Manifests are built as loaded values: the schema caps a manifest at 64 grants of at most
// 100 resources (and 256 KiB), so 10,000 grants cannot come through the loader; the decision code
// has no such cap, and this measures how it scales.

const DEADLINE = Date.parse('2026-11-29T23:00:00Z');
const NOW = DEADLINE - 3600_000;

const objectArn = (i: number): string =>
  `arn:aws:s3:::bench-bucket/objects/${String(i).padStart(6, '0')}.bin`;

/** A loaded-form manifest of `n` s3:GetObject grants, one exact object each, unlimited uses. */
export function manifestWithGrants(n: number): Manifest {
  const grants: AwsGrant[] = Array.from({ length: n }, (_, i) => ({
    id: `g${i}`,
    action: 's3:GetObject',
    resources: [objectArn(i)],
    broad: false,
    uses: 'unlimited',
    conditions: {},
    allowHeaders: [],
  }));
  return {
    apiVersion: 'errand.dev/v1',
    kind: 'TaskManifest',
    task: {
      id: 'tsk_bench',
      purpose: 'decision benchmark',
      user: { subject: 'bench@example.com', session: 'sess_bench' },
      expiresAt: new Date(DEADLINE).toISOString(),
    },
    aws: {
      region: 'us-east-1',
      roleArn: 'arn:aws:iam::123456789012:role/errand-task',
      isolation: 'task',
      grants,
    },
  };
}

const intentFor = (arn: string): AwsIntent => ({
  kind: 'aws',
  service: 's3',
  region: 'us-east-1',
  operation: 'GetObject',
  needs: [{ action: 's3:GetObject', resource: arn }],
});

export interface DecisionTimes {
  /** Nanoseconds per decision, one per call. */
  readonly ns: Float64Array;
}

/** Times `samples` decisions against `grants` grants: hits spread over every grant, or misses
 *  (an object no grant names). Throws if a decision is not the one expected. */
export function timeDecisions(grants: number, samples: number, hit: boolean): DecisionTimes {
  const m = manifestWithGrants(grants);
  const index = indexGrants(m);
  const ledger = UseLedger.inMemory(m.aws!.grants);
  const intents = Array.from({ length: Math.min(samples, 4096) }, (_, i) =>
    intentFor(hit ? objectArn((i * 7919) % grants) : objectArn(grants + 1 + i)),
  );
  const input = { sensitiveHeaders: [] as string[], uploads: new Map<string, string>() };
  const ns = new Float64Array(samples);
  for (let i = 0; i < samples; i++) {
    const intent = intents[i % intents.length]!;
    const t0 = process.hrtime.bigint();
    const d = authorizeAws({ ...input, intent }, index, ledger, NOW, DEADLINE);
    ns[i] = Number(process.hrtime.bigint() - t0);
    if (d.allow !== hit)
      throw new Error(`decision ${i}: expected ${hit ? 'allow' : 'deny'}, got ${d.reason}`);
  }
  return { ns };
}

/** The largest manifest the loader accepts, as YAML: 64 grants × `perGrant` exact object ARNs. */
export function largestLoadableManifest(expiresAt: string, perGrant: number): string {
  const lines = [
    'apiVersion: errand.dev/v1',
    'kind: TaskManifest',
    'task:',
    '  id: tsk_bench',
    '  purpose: Largest manifest the loader accepts',
    '  user: { subject: bench@example.com, session: sess_bench }',
    `  expiresAt: ${expiresAt}`,
    'aws:',
    '  region: us-east-1',
    '  roleArn: arn:aws:iam::123456789012:role/errand-task',
    '  grants:',
  ];
  let k = 0;
  for (let g = 0; g < 64; g++) {
    lines.push(`    - id: g${g}`, '      action: s3:GetObject', '      uses: unlimited', '      resource:');
    for (let r = 0; r < perGrant; r++) lines.push(`        - ${objectArn(k++)}`);
  }
  return `${lines.join('\n')}\n`;
}
