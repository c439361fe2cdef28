// The compiled session policy, evaluated by an independent IAM engine, allows exactly what the
// manifest grants: each granted action on each granted object before the deadline, nothing else.
import t from 'tap';
import { compileSessionPolicies, type PolicyDocument } from '../../src/manifest/policy.ts';
import { awsGrant, EXPIRES_AT, manifest } from '../fixtures/review/manifests.ts';
import { type SimRequest, simulate } from '../fixtures/review/simulate.ts';

const BEFORE = '2026-11-29T20:04:59Z';
const AT = EXPIRES_AT;
const AFTER = '2026-11-29T20:05:01Z';

const REPORT = 'arn:aws:s3:::acme-uploads/users/alice/report.pdf';
const SUMMARY = 'arn:aws:s3:::acme-out/summaries/alice.json';
const ORDERS = 'arn:aws:dynamodb:us-east-1:111122223333:table/orders';

const grants = [
  awsGrant({ id: 'read-report', action: 's3:GetObject', resources: [REPORT] }),
  awsGrant({ id: 'write-summary', action: 's3:PutObject', resources: [SUMMARY] }),
  awsGrant({
    id: 'list-mine',
    action: 's3:ListBucket',
    resources: ['arn:aws:s3:::acme-uploads'],
    conditions: { s3Prefix: 'users/alice/' },
  }),
  awsGrant({ id: 'get-order', action: 'dynamodb:GetItem', resources: [ORDERS] }),
];

const at = (time: string, extra: Record<string, string> = {}) => ({ 'aws:CurrentTime': time, ...extra });

type Row = SimRequest & { name: string; expect: 'Allowed' | 'ImplicitlyDenied' };
const rows: Row[] = [
  // What the manifest grants.
  {
    name: 'the granted read',
    action: 's3:GetObject',
    resource: REPORT,
    context: at(BEFORE),
    expect: 'Allowed',
  },
  {
    name: 'the granted write',
    action: 's3:PutObject',
    resource: SUMMARY,
    context: at(BEFORE),
    expect: 'Allowed',
  },
  {
    name: 'abort of the granted multipart write',
    action: 's3:AbortMultipartUpload',
    resource: SUMMARY,
    context: at(BEFORE),
    expect: 'Allowed',
  },
  {
    name: 'list-parts of the granted multipart write',
    action: 's3:ListMultipartUploadParts',
    resource: SUMMARY,
    context: at(BEFORE),
    expect: 'Allowed',
  },
  {
    name: 'the granted list with the granted prefix',
    action: 's3:ListBucket',
    resource: 'arn:aws:s3:::acme-uploads',
    context: at(BEFORE, { 's3:prefix': 'users/alice/' }),
    expect: 'Allowed',
  },
  {
    name: 'the granted item read',
    action: 'dynamodb:GetItem',
    resource: ORDERS,
    context: at(BEFORE),
    expect: 'Allowed',
  },
  // Neighbouring objects.
  {
    name: 'a neighbouring object',
    action: 's3:GetObject',
    resource: 'arn:aws:s3:::acme-uploads/users/alice/report2.pdf',
    context: at(BEFORE),
    expect: 'ImplicitlyDenied',
  },
  {
    name: 'an object whose key extends the granted key',
    action: 's3:GetObject',
    resource: `${REPORT}.bak`,
    context: at(BEFORE),
    expect: 'ImplicitlyDenied',
  },
  {
    name: "another user's object",
    action: 's3:GetObject',
    resource: 'arn:aws:s3:::acme-uploads/users/bob/report.pdf',
    context: at(BEFORE),
    expect: 'ImplicitlyDenied',
  },
  {
    name: 'the same key in another bucket',
    action: 's3:GetObject',
    resource: 'arn:aws:s3:::acme-uploads2/users/alice/report.pdf',
    context: at(BEFORE),
    expect: 'ImplicitlyDenied',
  },
  {
    name: 'another table',
    action: 'dynamodb:GetItem',
    resource: 'arn:aws:dynamodb:us-east-1:111122223333:table/payments',
    context: at(BEFORE),
    expect: 'ImplicitlyDenied',
  },
  // Other actions on the granted objects.
  {
    name: 'a write to the read object',
    action: 's3:PutObject',
    resource: REPORT,
    context: at(BEFORE),
    expect: 'ImplicitlyDenied',
  },
  {
    name: 'a delete of the read object',
    action: 's3:DeleteObject',
    resource: REPORT,
    context: at(BEFORE),
    expect: 'ImplicitlyDenied',
  },
  {
    name: "the read object's ACL",
    action: 's3:GetObjectAcl',
    resource: REPORT,
    context: at(BEFORE),
    expect: 'ImplicitlyDenied',
  },
  {
    name: 'an old version of the read object',
    action: 's3:GetObjectVersion',
    resource: REPORT,
    context: at(BEFORE),
    expect: 'ImplicitlyDenied',
  },
  {
    name: 'a read of the written object',
    action: 's3:GetObject',
    resource: SUMMARY,
    context: at(BEFORE),
    expect: 'ImplicitlyDenied',
  },
  {
    name: 'an ACL change on the written object',
    action: 's3:PutObjectAcl',
    resource: SUMMARY,
    context: at(BEFORE),
    expect: 'ImplicitlyDenied',
  },
  {
    name: 'an item write',
    action: 'dynamodb:PutItem',
    resource: ORDERS,
    context: at(BEFORE),
    expect: 'ImplicitlyDenied',
  },
  {
    name: 'a table query',
    action: 'dynamodb:Query',
    resource: ORDERS,
    context: at(BEFORE),
    expect: 'ImplicitlyDenied',
  },
  // The buckets themselves.
  {
    name: 'listing the written bucket',
    action: 's3:ListBucket',
    resource: 'arn:aws:s3:::acme-out',
    context: at(BEFORE, { 's3:prefix': '' }),
    expect: 'ImplicitlyDenied',
  },
  {
    name: "the read bucket's policy",
    action: 's3:GetBucketPolicy',
    resource: 'arn:aws:s3:::acme-uploads',
    context: at(BEFORE),
    expect: 'ImplicitlyDenied',
  },
  {
    name: 'deleting the read bucket',
    action: 's3:DeleteBucket',
    resource: 'arn:aws:s3:::acme-uploads',
    context: at(BEFORE),
    expect: 'ImplicitlyDenied',
  },
  // ListBucket with another prefix.
  {
    name: "a list of another user's prefix",
    action: 's3:ListBucket',
    resource: 'arn:aws:s3:::acme-uploads',
    context: at(BEFORE, { 's3:prefix': 'users/bob/' }),
    expect: 'ImplicitlyDenied',
  },
  {
    name: 'a list of the parent prefix',
    action: 's3:ListBucket',
    resource: 'arn:aws:s3:::acme-uploads',
    context: at(BEFORE, { 's3:prefix': 'users/' }),
    expect: 'ImplicitlyDenied',
  },
  {
    name: 'a list without a prefix',
    action: 's3:ListBucket',
    resource: 'arn:aws:s3:::acme-uploads',
    context: at(BEFORE),
    expect: 'ImplicitlyDenied',
  },
  // The deadline.
  {
    name: 'the granted read at the deadline',
    action: 's3:GetObject',
    resource: REPORT,
    context: at(AT),
    expect: 'ImplicitlyDenied',
  },
  {
    name: 'the granted read after the deadline',
    action: 's3:GetObject',
    resource: REPORT,
    context: at(AFTER),
    expect: 'ImplicitlyDenied',
  },
  {
    name: 'the granted write after the deadline',
    action: 's3:PutObject',
    resource: SUMMARY,
    context: at(AFTER),
    expect: 'ImplicitlyDenied',
  },
  {
    name: 'the granted list after the deadline',
    action: 's3:ListBucket',
    resource: 'arn:aws:s3:::acme-uploads',
    context: at(AFTER, { 's3:prefix': 'users/alice/' }),
    expect: 'ImplicitlyDenied',
  },
  {
    name: 'the granted item read a day later',
    action: 'dynamodb:GetItem',
    resource: ORDERS,
    context: at('2026-11-30T20:05:00Z'),
    expect: 'ImplicitlyDenied',
  },
];

const taskPolicy = compileSessionPolicies(manifest({ awsGrants: grants }))[0]!.policy;

t.test('isolation task: the simulator agrees with the manifest on every row', async (t) => {
  for (const row of rows) {
    t.equal(await simulate(taskPolicy, row), row.expect, row.name);
  }
});

t.test('the denials come from the session policy: the role alone allows every row', async (t) => {
  for (const row of rows) {
    t.equal(await simulate(undefined, row), 'Allowed', row.name);
  }
});

t.test('isolation grant: each session allows only its own grant', async (t) => {
  const policies = compileSessionPolicies(manifest({ awsGrants: grants, isolation: 'grant' }));
  const byId = new Map<string, PolicyDocument>(policies.map((p) => [p.grantIds[0]!, p.policy]));
  const granted: Record<string, SimRequest> = {
    'read-report': { action: 's3:GetObject', resource: REPORT, context: at(BEFORE) },
    'write-summary': { action: 's3:PutObject', resource: SUMMARY, context: at(BEFORE) },
    'list-mine': {
      action: 's3:ListBucket',
      resource: 'arn:aws:s3:::acme-uploads',
      context: at(BEFORE, { 's3:prefix': 'users/alice/' }),
    },
    'get-order': { action: 'dynamodb:GetItem', resource: ORDERS, context: at(BEFORE) },
  };
  for (const [sessionGrant, policy] of byId) {
    for (const [requestGrant, request] of Object.entries(granted)) {
      t.equal(
        await simulate(policy, request),
        sessionGrant === requestGrant ? 'Allowed' : 'ImplicitlyDenied',
        `session of ${sessionGrant}, request of ${requestGrant}`,
      );
    }
  }
});

t.test(
  'a key that looks like a policy variable allows itself, not what the variable resolves to',
  async (t) => {
    const D = '$';
    const key = `arn:aws:s3:::acme/r/${D}{aws:SourceIdentity}/x`;
    const policy = compileSessionPolicies(manifest({ awsGrants: [awsGrant({ resources: [key] })] }))[0]!
      .policy;
    const context = at(BEFORE, { 'aws:SourceIdentity': 'alice' });
    t.equal(await simulate(policy, { action: 's3:GetObject', resource: key, context }), 'Allowed');
    t.equal(
      await simulate(policy, { action: 's3:GetObject', resource: 'arn:aws:s3:::acme/r/alice/x', context }),
      'ImplicitlyDenied',
    );
    // The same condition-value escape (s3Prefix) is pinned as JSON in manifest-policy.test.ts: this
    // simulator version reads `${D}{${D}}` in a StringEquals value as a backslash-escaped dollar.
  },
);

t.test('a broad resource allows what its pattern covers and nothing beside it', async (t) => {
  const policy = compileSessionPolicies(
    manifest({ awsGrants: [awsGrant({ broad: true, resources: ['arn:aws:s3:::acme/tmp/*'] })] }),
  )[0]!.policy;
  const read = (resource: string) =>
    simulate(policy, { action: 's3:GetObject', resource, context: at(BEFORE) });
  t.equal(await read('arn:aws:s3:::acme/tmp/a.txt'), 'Allowed');
  t.equal(await read('arn:aws:s3:::acme/tmp/../secrets/x'), 'Allowed', 'a literal key under tmp/ to IAM');
  t.equal(await read('arn:aws:s3:::acme/secrets/x'), 'ImplicitlyDenied');
  t.equal(await read('arn:aws:s3:::acme/tmp'), 'ImplicitlyDenied');
});
