import t from 'tap';
import { CREDENTIAL_RETURNING_ACTIONS as CLASSIFIER_LIST } from '../../src/classify/credential-actions.ts';
import {
  ADDITIONAL_CREDENTIAL_ACTIONS,
  CREDENTIAL_RETURNING_ACTIONS,
  checkPolicySizes,
  compileSessionPolicies,
  IMPLIED_ACTIONS,
  isCredentialReturning,
  POLICY_SIZE_LIMIT,
  SESSION_DURATION_SECONDS,
  sessionNameOf,
  sessionParameters,
} from '../../src/manifest/policy.ts';
import { awsGrant, EXPIRES_AT, loaded, manifest, ROLE_ARN } from '../fixtures/review/manifests.ts';

const DEADLINE = { DateLessThan: { 'aws:CurrentTime': EXPIRES_AT } };
const OBJ = 'arn:aws:s3:::acme-uploads/users/alice/report.pdf';

t.test('the seed manifest compiles to one exact, minified policy', async (t) => {
  const [p, ...rest] = compileSessionPolicies(manifest());
  t.same(rest, []);
  t.equal(p?.sessionKey, 'task');
  t.same(p?.grantIds, ['read-report']);
  t.equal(
    p?.json,
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject",' +
      '"Resource":"arn:aws:s3:::acme-uploads/users/alice/report.pdf",' +
      '"Condition":{"DateLessThan":{"aws:CurrentTime":"2026-11-29T20:05:00Z"}}}]}',
  );
  t.equal(p?.size, p?.json.length);
  t.same(JSON.parse(p!.json), p!.policy);
});

const statementsOf = (grants: Parameters<typeof awsGrant>[0][]) =>
  compileSessionPolicies(manifest({ awsGrants: grants.map(awsGrant) }))[0]?.policy.Statement;

const cases: { name: string; grants: Parameters<typeof awsGrant>[0][]; statements: unknown[] }[] = [
  {
    name: 's3:PutObject also allows abort and list-parts of its own multipart upload, on the same ARN',
    grants: [
      { id: 'write-out', action: 's3:PutObject', resources: ['arn:aws:s3:::acme-out/out/result.json'] },
    ],
    statements: [
      {
        Effect: 'Allow',
        Action: ['s3:AbortMultipartUpload', 's3:ListMultipartUploadParts', 's3:PutObject'],
        Resource: 'arn:aws:s3:::acme-out/out/result.json',
        Condition: DEADLINE,
      },
    ],
  },
  {
    name: 's3Prefix becomes a StringEquals s3:prefix condition on the bucket ARN',
    grants: [
      {
        id: 'list-mine',
        action: 's3:ListBucket',
        resources: ['arn:aws:s3:::acme-uploads'],
        conditions: { s3Prefix: 'users/alice/' },
      },
    ],
    statements: [
      {
        Effect: 'Allow',
        Action: 's3:ListBucket',
        Resource: 'arn:aws:s3:::acme-uploads',
        Condition: { ...DEADLINE, StringEquals: { 's3:prefix': 'users/alice/' } },
      },
    ],
  },
  {
    name: 'one action on two objects merges into one statement, resources sorted and deduplicated',
    grants: [
      { id: 'b', resources: ['arn:aws:s3:::acme/b.txt', 'arn:aws:s3:::acme/b.txt'] },
      { id: 'a', resources: ['arn:aws:s3:::acme/a.txt'] },
    ],
    statements: [
      {
        Effect: 'Allow',
        Action: 's3:GetObject',
        Resource: ['arn:aws:s3:::acme/a.txt', 'arn:aws:s3:::acme/b.txt'],
        Condition: DEADLINE,
      },
    ],
  },
  {
    name: 'two actions on the same object merge into one statement',
    grants: [
      { id: 'read', resources: [OBJ] },
      { id: 'tag', action: 's3:GetObjectTagging', resources: [OBJ] },
    ],
    statements: [
      {
        Effect: 'Allow',
        Action: ['s3:GetObject', 's3:GetObjectTagging'],
        Resource: OBJ,
        Condition: DEADLINE,
      },
    ],
  },
  {
    name: 'different actions on different objects never merge (no cross product)',
    grants: [
      { id: 'read', resources: ['arn:aws:s3:::acme/in.txt'] },
      { id: 'write', action: 's3:DeleteObject', resources: ['arn:aws:s3:::acme/out.txt'] },
    ],
    statements: [
      {
        Effect: 'Allow',
        Action: 's3:DeleteObject',
        Resource: 'arn:aws:s3:::acme/out.txt',
        Condition: DEADLINE,
      },
      { Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::acme/in.txt', Condition: DEADLINE },
    ],
  },
  {
    name: 'same action and bucket with and without a prefix condition stay apart',
    grants: [
      { id: 'l1', action: 's3:ListBucket', resources: ['arn:aws:s3:::acme'], conditions: { s3Prefix: 'a/' } },
      { id: 'l2', action: 's3:ListBucket', resources: ['arn:aws:s3:::acme'], conditions: { s3Prefix: 'b/' } },
    ],
    statements: [
      {
        Effect: 'Allow',
        Action: 's3:ListBucket',
        Resource: 'arn:aws:s3:::acme',
        Condition: { ...DEADLINE, StringEquals: { 's3:prefix': 'a/' } },
      },
      {
        Effect: 'Allow',
        Action: 's3:ListBucket',
        Resource: 'arn:aws:s3:::acme',
        Condition: { ...DEADLINE, StringEquals: { 's3:prefix': 'b/' } },
      },
    ],
  },
  {
    name: 'a DynamoDB grant names exactly its table',
    grants: [
      {
        id: 'get-item',
        action: 'dynamodb:GetItem',
        resources: ['arn:aws:dynamodb:us-east-1:111122223333:table/orders'],
      },
    ],
    statements: [
      {
        Effect: 'Allow',
        Action: 'dynamodb:GetItem',
        Resource: 'arn:aws:dynamodb:us-east-1:111122223333:table/orders',
        Condition: DEADLINE,
      },
    ],
  },
  {
    name: 'a broad resource keeps its IAM wildcards as written',
    grants: [{ id: 'tmp', broad: true, resources: ['arn:aws:s3:::acme/tmp/*'] }],
    statements: [
      { Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::acme/tmp/*', Condition: DEADLINE },
    ],
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    t.same(statementsOf(c.grants), c.statements);
  });
}

t.test('every statement is an Allow with the deadline condition', async (t) => {
  const statements = statementsOf([
    { id: 'a' },
    { id: 'b', action: 's3:PutObject', resources: ['arn:aws:s3:::x/y'] },
    { id: 'c', action: 's3:ListBucket', resources: ['arn:aws:s3:::x'], conditions: { s3Prefix: 'p/' } },
  ]);
  t.equal(statements?.length, 3);
  for (const s of statements ?? []) {
    t.equal(s.Effect, 'Allow');
    t.same(s.Condition['DateLessThan'], DEADLINE.DateLessThan);
  }
});

t.test('output does not depend on grant order', async (t) => {
  const grants = [
    awsGrant({ id: 'a', resources: ['arn:aws:s3:::x/1'] }),
    awsGrant({ id: 'b', action: 's3:PutObject', resources: ['arn:aws:s3:::x/2'] }),
    awsGrant({ id: 'c', resources: ['arn:aws:s3:::x/3', 'arn:aws:s3:::x/0'] }),
  ];
  const forward = compileSessionPolicies(manifest({ awsGrants: grants }))[0];
  const backward = compileSessionPolicies(manifest({ awsGrants: [...grants].reverse() }))[0];
  t.equal(forward?.json, backward?.json);
  t.same(backward?.grantIds, ['c', 'b', 'a']);
});

t.test('isolation grant: one session policy per grant, each with only its own action', async (t) => {
  const policies = compileSessionPolicies(
    manifest({
      isolation: 'grant',
      awsGrants: [
        awsGrant({ id: 'read' }),
        awsGrant({ id: 'write', action: 's3:PutObject', resources: ['arn:aws:s3:::out/r.json'] }),
      ],
    }),
  );
  t.same(
    policies.map((p) => [p.sessionKey, p.grantIds, p.policy.Statement.map((s) => s.Action)]),
    [
      ['grant:read', ['read'], ['s3:GetObject']],
      [
        'grant:write',
        ['write'],
        [['s3:AbortMultipartUpload', 's3:ListMultipartUploadParts', 's3:PutObject']],
      ],
    ],
  );
});

t.test('credential-returning grants get no permission in any session policy', async (t) => {
  const grants = [
    awsGrant({ id: 'read' }),
    awsGrant({ id: 'whoami', action: 'sts:GetCallerIdentity', resources: ['*'] }),
    awsGrant({ id: 'assume', action: 'STS:AssumeRole', resources: ['arn:aws:iam::111122223333:role/admin'] }),
    awsGrant({
      id: 'express',
      action: 's3express:CreateSession',
      resources: ['arn:aws:s3express:us-east-1:111122223333:bucket/b--use1-az4--x-s3'],
    }),
  ];
  const [task, ...none] = compileSessionPolicies(manifest({ awsGrants: grants }));
  t.same(none, []);
  t.same(task?.grantIds, ['read']);
  t.same(
    task?.policy.Statement.map((s) => s.Action),
    ['s3:GetObject'],
  );
  t.same(
    compileSessionPolicies(manifest({ awsGrants: grants, isolation: 'grant' })).map((p) => p.sessionKey),
    ['grant:read'],
  );
  t.same(compileSessionPolicies(manifest({ awsGrants: grants.slice(1) })), []);
});

t.test('the compiler refuses at least what the classifier refuses', async (t) => {
  t.same(
    CREDENTIAL_RETURNING_ACTIONS,
    [...new Set([...CLASSIFIER_LIST, ...ADDITIONAL_CREDENTIAL_ACTIONS])].sort(),
  );
  for (const action of [
    ...CREDENTIAL_RETURNING_ACTIONS,
    'sts:GetSessionToken',
    'Cognito-Identity:GetOpenIdToken',
  ]) {
    t.ok(isCredentialReturning(action), action);
  }
  t.notOk(isCredentialReturning('s3:GetObject'));
  t.notOk(isCredentialReturning('iam:GetLoginProfile'));
});

t.test('no AWS section or no AWS grants: no session policy', async (t) => {
  t.same(compileSessionPolicies(manifest({ noAws: true })), []);
  t.same(compileSessionPolicies(manifest({ awsGrants: [] })), []);
});

t.test('characters STS does not accept raw are JSON-escaped; Latin-1 stays as is', async (t) => {
  const [p] = compileSessionPolicies(
    manifest({ awsGrants: [awsGrant({ resources: ['arn:aws:s3:::acme/café/报告.pdf'] })] }),
  );
  t.match(p?.json, '"Resource":"arn:aws:s3:::acme/café/\\u62a5\\u544a.pdf"');
  t.notOk(/[^\t\n\r\u0020-\u00ff]/.test(p!.json), 'only characters STS accepts');
  t.equal(JSON.parse(p!.json).Statement[0].Resource, 'arn:aws:s3:::acme/café/报告.pdf');
  t.equal(p?.size, p?.json.length);
});

t.test('a dollar sign from the manifest is an IAM literal, never a policy variable', async (t) => {
  const D = '$';
  const [p] = compileSessionPolicies(
    manifest({
      awsGrants: [
        awsGrant({ id: 'k', resources: [`arn:aws:s3:::acme/r/${D}{aws:SourceIdentity}/x$`] }),
        awsGrant({
          id: 'l',
          action: 's3:ListBucket',
          resources: ['arn:aws:s3:::acme'],
          conditions: { s3Prefix: `u/${D}{aws:username}/` },
        }),
      ],
    }),
  );
  t.same(
    p?.policy.Statement.map((st) => [st.Resource, st.Condition['StringEquals']]),
    [
      [`arn:aws:s3:::acme/r/${D}{${D}}{aws:SourceIdentity}/x${D}{${D}}`, undefined],
      ['arn:aws:s3:::acme', { 's3:prefix': `u/${D}{${D}}{aws:username}/` }],
    ],
  );
});

t.test('IMPLIED_ACTIONS only widens s3:PutObject, to the two multipart actions IAM names', async (t) => {
  t.same(IMPLIED_ACTIONS, { 's3:PutObject': ['s3:AbortMultipartUpload', 's3:ListMultipartUploadParts'] });
});

const manyObjects = (n: number, prefix = 'arn:aws:s3:::acme-uploads/users/alice/reports/2026/q') =>
  Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(3, '0')}.pdf`);

t.test('checkPolicySizes: none under the limit, a located problem over it', async (t) => {
  t.equal(POLICY_SIZE_LIMIT, 2048);
  t.same(checkPolicySizes(manifest()), []);
  const big = manifest({ awsGrants: [awsGrant({ resources: manyObjects(40) })] });
  const size = compileSessionPolicies(big)[0]!.size;
  t.ok(size > POLICY_SIZE_LIMIT);
  t.same(checkPolicySizes(big), [
    {
      code: 'ERR_MANIFEST_POLICY_TOO_LARGE',
      path: '/aws/grants',
      message: `the session policy for all 1 AWS grants is ${size} characters of minified JSON; STS accepts at most 2048`,
      fix: 'set aws.isolation: grant (one session per grant), or split the task into several manifests',
    },
  ]);
  const perGrant = manifest({
    isolation: 'grant',
    awsGrants: [awsGrant({ id: 'small' }), awsGrant({ id: 'huge', resources: manyObjects(40) })],
  });
  t.same(checkPolicySizes(perGrant), [
    {
      code: 'ERR_MANIFEST_POLICY_TOO_LARGE',
      path: '/aws/grants/1',
      message: `the session policy for grant 'huge' is ${size} characters of minified JSON; STS accepts at most 2048`,
      fix: 'name fewer resources in this grant, or split it into several grants',
    },
  ]);
});

t.test('sessionParameters for the seed manifest', async (t) => {
  const m = manifest();
  const [p] = compileSessionPolicies(m);
  const r = sessionParameters(loaded(m), p!);
  t.same(r, {
    ok: true,
    parameters: {
      RoleArn: ROLE_ARN,
      RoleSessionName: 'tsk_01JD8Q7ZK3',
      DurationSeconds: SESSION_DURATION_SECONDS,
      Policy: p!.json,
      SourceIdentity: 'alice@example.com',
      Tags: [
        { Key: 'errand-manifest', Value: 'a3f1c0ffee5eed01' },
        { Key: 'errand-session', Value: 'sess_8f2c' },
        { Key: 'errand-task', Value: 'tsk_01JD8Q7ZK3' },
        { Key: 'errand-user', Value: 'alice@example.com' },
      ],
    },
  });
  t.equal(SESSION_DURATION_SECONDS, 900);
});

t.test('RoleSessionName per grant: task id and grant id, cut to 64 with a hash suffix', async (t) => {
  t.equal(sessionNameOf('tsk_1', 'task'), 'tsk_1');
  t.equal(sessionNameOf('tsk_1', 'grant:read-report'), 'tsk_1.read-report');
  const longTask = `tsk_${'A'.repeat(40)}`;
  const a = sessionNameOf(longTask, `grant:${'x'.repeat(30)}-one`);
  const b = sessionNameOf(longTask, `grant:${'x'.repeat(30)}-two`);
  t.equal(a.length, 64);
  t.equal(b.length, 64);
  t.not(a, b, 'a hash of the full name keeps truncated names apart');
  t.match(a, /^tsk_A{40}\.x{10}-[0-9a-f]{8}$/);
  const m = manifest({ isolation: 'grant', taskId: longTask, awsGrants: [awsGrant({ id: 'y'.repeat(30) })] });
  const [p] = compileSessionPolicies(m);
  const r = sessionParameters(loaded(m), p!);
  t.equal(r.ok && r.parameters.RoleSessionName, sessionNameOf(longTask, `grant:${'y'.repeat(30)}`));
  t.equal(r.ok && r.parameters.RoleSessionName.length, 64);
});

const refusals: { name: string; m: Parameters<typeof manifest>[0]; problems: unknown[] }[] = [
  {
    name: 'a subject outside the SourceIdentity charset is refused, not rewritten',
    m: { subject: 'auth0|5f7c' },
    problems: [
      {
        code: 'ERR_MANIFEST_STS_PARAMETER',
        path: '/task/user/subject',
        message:
          "task.user.subject 'auth0|5f7c' cannot be an STS SourceIdentity (2 to 64 characters of A-Z a-z 0-9 _ + = , . @ -)",
        fix: 'have the orchestrator map the user to an identifier in that character set, e.g. an email address or an opaque id',
      },
      {
        code: 'ERR_MANIFEST_STS_PARAMETER',
        path: '/task/user/subject',
        message:
          "'auth0|5f7c' cannot be the value of STS session tag errand-user (at most 256 letters, digits, spaces and _ . : / = + - @)",
        fix: 'use only letters, digits, spaces and _ . : / = + - @',
      },
    ],
  },
  {
    name: 'a one-character subject is too short for SourceIdentity',
    m: { subject: 'a' },
    problems: [
      {
        code: 'ERR_MANIFEST_STS_PARAMETER',
        path: '/task/user/subject',
        message:
          "task.user.subject 'a' cannot be an STS SourceIdentity (2 to 64 characters of A-Z a-z 0-9 _ + = , . @ -)",
        fix: 'have the orchestrator map the user to an identifier in that character set, e.g. an email address or an opaque id',
      },
    ],
  },
  {
    name: 'a comma is fine in a session name but not in a tag value',
    m: { taskId: 'tsk,1' },
    problems: [
      {
        code: 'ERR_MANIFEST_STS_PARAMETER',
        path: '/task/id',
        message:
          "'tsk,1' cannot be the value of STS session tag errand-task (at most 256 letters, digits, spaces and _ . : / = + - @)",
        fix: 'use only letters, digits, spaces and _ . : / = + - @',
      },
    ],
  },
  {
    name: 'a task id with a space cannot be a RoleSessionName',
    m: { taskId: 'tsk 1' },
    problems: [
      {
        code: 'ERR_MANIFEST_STS_PARAMETER',
        path: '/task/id',
        message:
          "task.id 'tsk 1' cannot be an STS RoleSessionName (2 to 64 characters of A-Z a-z 0-9 _ + = , . @ -)",
        fix: 'use a task id of 2 to 64 characters from A-Z a-z 0-9 _ + = , . @ -',
      },
    ],
  },
  {
    name: 'a session id with a semicolon cannot be a tag value',
    m: { session: 'sess;drop' },
    problems: [
      {
        code: 'ERR_MANIFEST_STS_PARAMETER',
        path: '/task/user/session',
        message:
          "'sess;drop' cannot be the value of STS session tag errand-session (at most 256 letters, digits, spaces and _ . : / = + - @)",
        fix: 'use only letters, digits, spaces and _ . : / = + - @',
      },
    ],
  },
];

for (const c of refusals) {
  t.test(c.name, async (t) => {
    const m = manifest(c.m);
    const r = sessionParameters(loaded(m), compileSessionPolicies(m)[0]!);
    t.same(r, { ok: false, problems: c.problems });
  });
}

t.test('an oversized policy or a manifest without aws yields no parameters', async (t) => {
  const big = manifest({ awsGrants: [awsGrant({ resources: manyObjects(40) })] });
  const p = compileSessionPolicies(big)[0]!;
  const r = sessionParameters(loaded(big), p);
  t.equal(r.ok, false);
  t.same(!r.ok && r.problems.map((x) => x.code), ['ERR_MANIFEST_POLICY_TOO_LARGE']);
  const none = sessionParameters(loaded(manifest({ noAws: true })), p);
  t.same(!none.ok && none.problems.map((x) => [x.path, x.message]), [
    [
      '/aws/grants',
      `the session policy for all 1 AWS grants is ${p.size} characters of minified JSON; STS accepts at most 2048`,
    ],
    ['/aws', 'the manifest has no aws section, so there is no role to assume'],
  ]);
});

t.test(
  'a write grant that allows ACL, tagging or lock headers gets the actions AWS checks for them',
  async (t) => {
    const { compileSessionPolicies } = await import('../../src/manifest/policy.ts');
    const { awsGrant, manifestWith } = await import('../helpers/manifests.ts');
    const m = manifestWith([
      awsGrant({
        id: 'w',
        action: 's3:PutObject',
        resources: ['arn:aws:s3:::b/k'],
        allowHeaders: [
          'x-amz-acl',
          'x-amz-tagging',
          'x-amz-object-lock-mode',
          'x-amz-server-side-encryption',
        ],
      }),
    ]);
    const [p] = compileSessionPolicies(m);
    t.same(p?.policy.Statement[0]?.Action, [
      's3:AbortMultipartUpload',
      's3:ListMultipartUploadParts',
      's3:PutObject',
      's3:PutObjectAcl',
      's3:PutObjectRetention',
      's3:PutObjectTagging',
    ]);
  },
);
