// G8 (SECURITY-CASES §G8): defense in depth through the STS session policy. Fault: Errand's
// authorizer allows everything, so every request the agent sends is signed with the task session.
// Expect: AWS still refuses whatever the manifest did not grant, because the session was minted
// with a policy equal to the grants ("the resulting session's permissions are the intersection of
// the role's identity-based policy and the session policies", STS AssumeRole). AWS is played by
// an independent IAM evaluator; the role may do anything, the worst case.
import t from 'tap';
import { compileSessionPolicies } from '../../src/manifest/policy.ts';
import { awsGrant, manifest } from '../fixtures/review/manifests.ts';
import { type SimRequest, simulate } from '../fixtures/review/simulate.ts';

const OUT = 'arn:aws:s3:::acme-out/out/result.json';
const IN = 'arn:aws:s3:::acme-uploads/users/alice/report.pdf';
const SECRETS = 'arn:aws:s3:::confidential/secrets.csv';
const NOW = { 'aws:CurrentTime': '2026-11-29T20:00:00Z' };

// The manifest of the E cases: read one object, write one object.
const grants = [
  awsGrant({ id: 'read-report', action: 's3:GetObject', resources: [IN] }),
  awsGrant({ id: 'write-result', action: 's3:PutObject', resources: [OUT] }),
];

// Each attack with the IAM authorizations S3 evaluates for it (S3 API reference, "Permissions"
// of each operation). S3 performs the request only if every one of them is allowed.
const attacks: { id: string; name: string; needs: SimRequest[] }[] = [
  {
    id: 'E2',
    name: 'CopyObject into the granted key reads another object (x-amz-copy-source)',
    needs: [
      { action: 's3:PutObject', resource: OUT },
      { action: 's3:GetObject', resource: SECRETS },
    ],
  },
  {
    id: 'E2',
    name: 'UploadPartCopy into the granted key reads another object',
    needs: [
      { action: 's3:PutObject', resource: OUT },
      { action: 's3:GetObject', resource: SECRETS },
    ],
  },
  {
    id: 'E2',
    name: 'CopyObject of an old version of the granted read object',
    needs: [
      { action: 's3:PutObject', resource: OUT },
      { action: 's3:GetObjectVersion', resource: IN },
    ],
  },
  {
    id: 'E3',
    name: 'PutObjectAcl makes the written object public',
    needs: [{ action: 's3:PutObjectAcl', resource: OUT }],
  },
  {
    id: 'E3',
    name: 'PutObject with x-amz-acl: public-read also needs s3:PutObjectAcl',
    needs: [
      { action: 's3:PutObject', resource: OUT },
      { action: 's3:PutObjectAcl', resource: OUT },
    ],
  },
  {
    id: 'E3',
    name: 'PutObject with x-amz-tagging also needs s3:PutObjectTagging',
    needs: [
      { action: 's3:PutObject', resource: OUT },
      { action: 's3:PutObjectTagging', resource: OUT },
    ],
  },
  {
    id: 'E3',
    name: 'PutObject with an object-lock retention also needs s3:PutObjectRetention',
    needs: [
      { action: 's3:PutObject', resource: OUT },
      { action: 's3:PutObjectRetention', resource: OUT },
    ],
  },
  {
    id: 'E3',
    name: 'PutObjectLegalHold on the written object',
    needs: [{ action: 's3:PutObjectLegalHold', resource: OUT }],
  },
  {
    id: 'E7',
    name: 'a write to the same key in another bucket',
    needs: [{ action: 's3:PutObject', resource: 'arn:aws:s3:::attacker-drop/out/result.json' }],
  },
  {
    id: 'E7',
    name: 'a read from another bucket',
    needs: [{ action: 's3:GetObject', resource: SECRETS }],
  },
  {
    id: 'E7',
    name: 'listing another bucket',
    needs: [{ action: 's3:ListBucket', resource: 'arn:aws:s3:::confidential' }],
  },
  {
    id: 'E7',
    name: 'a bucket policy on the written bucket',
    needs: [{ action: 's3:PutBucketPolicy', resource: 'arn:aws:s3:::acme-out' }],
  },
  {
    id: 'E1',
    name: 'a delete of the granted write key',
    needs: [{ action: 's3:DeleteObject', resource: OUT }],
  },
  {
    id: 'E12',
    name: 'S3 Express CreateSession (returns credentials)',
    needs: [
      {
        action: 's3express:CreateSession',
        resource: 'arn:aws:s3express:us-east-1:111122223333:bucket/b--use1-az4--x-s3',
      },
    ],
  },
];

for (const isolation of ['task', 'grant'] as const) {
  const policies = compileSessionPolicies(manifest({ awsGrants: grants, isolation }));
  // Every attack below is signed (the fault); what matters is what AWS then decides.
  t.test(`isolation ${isolation}: the faulted authorizer allows, AWS denies`, async (t) => {
    for (const attack of attacks) {
      for (const policy of policies) {
        const verdicts = await Promise.all(
          attack.needs.map((need) => simulate(policy.policy, { ...need, context: NOW })),
        );
        const denied = verdicts.some((v) => v !== 'Allowed');
        t.ok(
          denied,
          `${attack.id} ${attack.name}: refused in session ${policy.sessionKey} (${verdicts.join(', ')})`,
        );
      }
      const roleOnly = await Promise.all(
        attack.needs.map((need) => simulate(undefined, { ...need, context: NOW })),
      );
      t.same(
        roleOnly,
        attack.needs.map(() => 'Allowed'),
        `${attack.id} ${attack.name}: the role alone would allow it`,
      );
    }
  });
}

t.test('the granted operations still work in the faulted state (the defense is not deny-all)', async (t) => {
  const [task] = compileSessionPolicies(manifest({ awsGrants: grants }));
  t.equal(await simulate(task!.policy, { action: 's3:GetObject', resource: IN, context: NOW }), 'Allowed');
  t.equal(await simulate(task!.policy, { action: 's3:PutObject', resource: OUT, context: NOW }), 'Allowed');
});

t.test('a manifest that names a credential-returning action still gets no such permission', async (t) => {
  // The manifest (wrongly) grants them; Errand refuses them at request time (E12) and the faulted
  // authorizer would not: the session policy must not allow them either.
  const express = 'arn:aws:s3express:us-east-1:111122223333:bucket/b--use1-az4--x-s3';
  const role = 'arn:aws:iam::111122223333:role/admin';
  const policies = compileSessionPolicies(
    manifest({
      awsGrants: [
        ...grants,
        awsGrant({ id: 'express', action: 's3express:CreateSession', resources: [express] }),
        awsGrant({ id: 'assume', action: 'sts:AssumeRole', resources: [role] }),
      ],
    }),
  );
  t.equal(policies.length, 1);
  const policy = policies[0]!.policy;
  t.equal(
    await simulate(policy, { action: 's3express:CreateSession', resource: express, context: NOW }),
    'ImplicitlyDenied',
  );
  t.equal(
    await simulate(policy, { action: 'sts:AssumeRole', resource: role, context: NOW }),
    'ImplicitlyDenied',
  );
  t.equal(await simulate(undefined, { action: 'sts:AssumeRole', resource: role, context: NOW }), 'Allowed');
});

t.test('after the deadline even granted operations are refused by AWS', async (t) => {
  const [task] = compileSessionPolicies(manifest({ awsGrants: grants }));
  const late = { 'aws:CurrentTime': '2026-11-29T20:14:00Z' }; // STS would still honour the 900 s session
  t.equal(
    await simulate(task!.policy, { action: 's3:GetObject', resource: IN, context: late }),
    'ImplicitlyDenied',
  );
  t.equal(
    await simulate(task!.policy, { action: 's3:PutObject', resource: OUT, context: late }),
    'ImplicitlyDenied',
  );
});
