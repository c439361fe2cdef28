import { readFileSync } from 'node:fs';
import t from 'tap';
import {
  type FileResult,
  type Finding,
  findingsFromProblems,
  formatLintJson,
  formatLintText,
  lintExitCode,
  lintManifest,
  listOf,
  locateFindings,
  unboundedReason,
} from '../../src/manifest/lint.ts';
import {
  atOrAbove,
  CREDENTIAL_RETURNING_ACTIONS,
  DEFAULT_FAIL_LEVEL,
  describeActions,
  isCredentialReturning,
  RULE_LIST,
  writeKindOfAction,
} from '../../src/manifest/lint-rules.ts';
import type { Manifest } from '../../src/manifest/types.ts';
import { awsGrant, EXPIRES_AT_MS, httpGrant, loaded, manifest, NOW } from '../fixtures/review/manifests.ts';

const actionsOf = (m: Manifest) => describeActions((m.aws?.grants ?? []).map((g) => g.action));

// The review fixtures inject a static secret into every HTTP grant; the bearer-credential rule
// (ERRAND023) that this raises has its own table in oauth-lint.test.ts.
const lint = async (m: Manifest, now = NOW) =>
  lintManifest(loaded(m), { now, actions: await actionsOf(m) })
    .filter((f) => f.ruleId !== 'ERRAND023')
    .map((f) => [f.ruleId, f.severity, f.path, f.message]);

const READ_ONLY_HTTP = httpGrant({ id: 'get-status', method: 'GET', url: 'https://api.acme.dev/v1/status' });
const quiet = (o: Parameters<typeof manifest>[0]) => manifest({ httpGrants: [READ_ONLY_HTTP], ...o });

t.test('a read-only manifest has no findings', async (t) => {
  t.same(await lint(quiet({})), []);
});

t.test('the seed manifest: a POST is a write, and it has no body cap', async (t) => {
  t.same(await lint(manifest()), [
    [
      'ERRAND020',
      'SUGGESTION',
      '/http/grants/0',
      "grant 'post-summary' sets no maxBodyBytes for POST https://api.acme.dev/v1/summaries",
    ],
    [
      'ERRAND011',
      'WARNING',
      '/http/grants/0/method',
      "grant 'post-summary' allows POST https://api.acme.dev/v1/summaries",
    ],
  ]);
});

const table: { name: string; m: Manifest; now?: number; findings: unknown[] }[] = [
  {
    name: 'a credential-returning action is an ERROR (sts by service)',
    m: quiet({ awsGrants: [awsGrant({ id: 'whoami', action: 'sts:GetCallerIdentity', resources: ['*'] })] }),
    findings: [
      [
        'ERRAND001',
        'ERROR',
        '/aws/grants/0/action',
        "grant 'whoami' names sts:GetCallerIdentity, whose response carries credentials; Errand refuses it at request time",
      ],
    ],
  },
  {
    name: 'ecr:GetAuthorizationToken is credential-returning',
    m: quiet({
      awsGrants: [
        awsGrant({ id: 'ecr', action: 'ecr:GetAuthorizationToken', resources: ['*'], broad: true }),
      ],
    }),
    findings: [
      [
        'ERRAND001',
        'ERROR',
        '/aws/grants/0/action',
        "grant 'ecr' names ecr:GetAuthorizationToken, whose response carries credentials; Errand refuses it at request time",
      ],
      [
        'ERRAND005',
        'ERROR',
        '/aws/grants/0/broadResource',
        "grant 'ecr' resource pattern '*' is unbounded: it matches every resource",
      ],
    ],
  },
  {
    name: 'a write action with a body cap: one WARNING',
    m: quiet({
      awsGrants: [
        awsGrant({
          id: 'write-out',
          action: 's3:PutObject',
          resources: ['arn:aws:s3:::acme-out/out/result.json'],
          maxBodyBytes: 1024,
        }),
      ],
    }),
    findings: [
      [
        'ERRAND011',
        'WARNING',
        '/aws/grants/0/action',
        "grant 'write-out' allows s3:PutObject (IAM access level Write) on arn:aws:s3:::acme-out/out/result.json",
      ],
    ],
  },
  {
    name: 'a write action without a body cap also gets the SUGGESTION',
    m: quiet({
      awsGrants: [
        awsGrant({
          id: 'put',
          action: 'dynamodb:PutItem',
          resources: ['arn:aws:dynamodb:us-east-1:111122223333:table/orders'],
        }),
      ],
    }),
    findings: [
      [
        'ERRAND020',
        'SUGGESTION',
        '/aws/grants/0',
        "grant 'put' sets no maxBodyBytes for dynamodb:PutItem on arn:aws:dynamodb:us-east-1:111122223333:table/orders",
      ],
      [
        'ERRAND011',
        'WARNING',
        '/aws/grants/0/action',
        "grant 'put' allows dynamodb:PutItem (IAM access level Write) on arn:aws:dynamodb:us-east-1:111122223333:table/orders",
      ],
    ],
  },
  {
    name: 'a delete is its own rule, with no body suggestion',
    m: quiet({ awsGrants: [awsGrant({ id: 'rm', action: 's3:DeleteObject' })] }),
    findings: [
      [
        'ERRAND012',
        'WARNING',
        '/aws/grants/0/action',
        "grant 'rm' allows s3:DeleteObject (IAM access level Write) on arn:aws:s3:::acme-uploads/users/alice/report.pdf",
      ],
    ],
  },
  {
    name: 'permissions management is a SECURITY_WARNING',
    m: quiet({ awsGrants: [awsGrant({ id: 'acl', action: 's3:PutObjectAcl' })] }),
    findings: [
      [
        'ERRAND007',
        'SECURITY_WARNING',
        '/aws/grants/0/action',
        "grant 'acl' allows s3:PutObjectAcl (IAM access level Permissions management, Write) on arn:aws:s3:::acme-uploads/users/alice/report.pdf",
      ],
    ],
  },
  {
    name: 'iam:PassRole counts as permissions management',
    m: quiet({
      awsGrants: [
        awsGrant({
          id: 'pass',
          action: 'iam:PassRole',
          resources: ['arn:aws:iam::111122223333:role/worker'],
        }),
      ],
    }),
    findings: [
      [
        'ERRAND007',
        'SECURITY_WARNING',
        '/aws/grants/0/action',
        "grant 'pass' allows iam:PassRole (IAM access level Write) on arn:aws:iam::111122223333:role/worker",
      ],
    ],
  },
  {
    name: 'tagging is a WARNING',
    m: quiet({ awsGrants: [awsGrant({ id: 'tag', action: 's3:PutObjectTagging' })] }),
    findings: [
      [
        'ERRAND013',
        'WARNING',
        '/aws/grants/0/action',
        "grant 'tag' allows s3:PutObjectTagging (IAM access level Tagging, Write) on arn:aws:s3:::acme-uploads/users/alice/report.pdf",
      ],
    ],
  },
  {
    name: 'a broad resource under one bucket is a SECURITY_WARNING',
    m: quiet({ awsGrants: [awsGrant({ id: 'tmp', broad: true, resources: ['arn:aws:s3:::acme/tmp/*'] })] }),
    findings: [
      [
        'ERRAND006',
        'SECURITY_WARNING',
        '/aws/grants/0/broadResource',
        "grant 'tmp' covers every ARN matching 'arn:aws:s3:::acme/tmp/*'",
      ],
    ],
  },
  {
    name: 'a wildcard bucket is unbounded: ERROR',
    m: quiet({
      awsGrants: [awsGrant({ id: 'any', broad: true, resources: ['arn:aws:s3:::acme-*/report.pdf'] })],
    }),
    findings: [
      [
        'ERRAND005',
        'ERROR',
        '/aws/grants/0/broadResource',
        "grant 'any' resource pattern 'arn:aws:s3:::acme-*/report.pdf' is unbounded: the bucket name is a wildcard",
      ],
    ],
  },
  {
    name: 'cross-account and cross-region resources',
    m: quiet({
      awsGrants: [
        awsGrant({
          id: 'other',
          action: 'dynamodb:GetItem',
          resources: ['arn:aws:dynamodb:eu-west-1:444455556666:table/t'],
        }),
      ],
    }),
    findings: [
      [
        'ERRAND008',
        'SECURITY_WARNING',
        '/aws/grants/0/resource',
        "grant 'other' resource arn:aws:dynamodb:eu-west-1:444455556666:table/t is in account 444455556666; the role is in account 111122223333",
      ],
      [
        'ERRAND019',
        'WARNING',
        '/aws/grants/0/resource',
        "grant 'other' resource arn:aws:dynamodb:eu-west-1:444455556666:table/t is in region eu-west-1; aws.region is us-east-1",
      ],
    ],
  },
  {
    name: 'unlimited uses, on AWS and HTTP grants',
    m: manifest({
      awsGrants: [awsGrant({ uses: 'unlimited' })],
      httpGrants: [
        httpGrant({ id: 'poll', method: 'GET', url: 'https://api.acme.dev/v1/jobs', uses: 'unlimited' }),
      ],
    }),
    findings: [
      [
        'ERRAND015',
        'WARNING',
        '/aws/grants/0/uses',
        "grant 'read-report' may be used any number of times until the deadline",
      ],
      [
        'ERRAND015',
        'WARNING',
        '/http/grants/0/uses',
        "grant 'poll' may be used any number of times until the deadline",
      ],
    ],
  },
  {
    name: 'a secret over plain http is an ERROR; the plain URL itself a SECURITY_WARNING',
    m: manifest({
      httpGrants: [
        httpGrant({ url: 'http://api.acme.dev/v1/summaries', unsafeAllowPlainHttp: true, maxBodyBytes: 10 }),
      ],
    }),
    findings: [
      [
        'ERRAND004',
        'ERROR',
        '/http/grants/0/inject',
        "grant 'post-summary' injects secret 'summaries-token' into Authorization of POST http://api.acme.dev/v1/summaries, which is plain http",
      ],
      [
        'ERRAND011',
        'WARNING',
        '/http/grants/0/method',
        "grant 'post-summary' allows POST http://api.acme.dev/v1/summaries",
      ],
      [
        'ERRAND009',
        'SECURITY_WARNING',
        '/http/grants/0/url',
        "grant 'post-summary' allows POST http://api.acme.dev/v1/summaries over plain http",
      ],
    ],
  },
  {
    name: 'private addresses, url patterns, websockets, HTTP DELETE',
    m: manifest({
      httpGrants: [
        httpGrant({
          id: 'rm-job',
          method: 'DELETE',
          url: 'https://jobs.internal.test/v1/jobs/*',
          pattern: true,
          websocket: true,
          unsafeAllowPrivateAddress: true,
        }),
      ],
    }),
    findings: [
      [
        'ERRAND012',
        'WARNING',
        '/http/grants/0/method',
        "grant 'rm-job' allows DELETE https://jobs.internal.test/v1/jobs/*",
      ],
      [
        'ERRAND010',
        'SECURITY_WARNING',
        '/http/grants/0/unsafeAllowPrivateAddress',
        "grant 'rm-job' may reach private, loopback and link-local addresses for https://jobs.internal.test/v1/jobs/*",
      ],
      [
        'ERRAND017',
        'WARNING',
        '/http/grants/0/urlPattern',
        "grant 'rm-job' matches DELETE https://jobs.internal.test/v1/jobs/* where each * is any one path segment",
      ],
      [
        'ERRAND018',
        'WARNING',
        '/http/grants/0/websocket',
        "grant 'rm-job' allows a WebSocket to https://jobs.internal.test/v1/jobs/*",
      ],
    ],
  },
  {
    name: 'passthrough hosts',
    m: quiet({ passthrough: [{ host: 'pypi.org', port: 443 }] }),
    findings: [
      [
        'ERRAND016',
        'WARNING',
        '/http/passthrough/0',
        'passthrough to pypi.org:443: an uninspected TLS tunnel without use limits',
      ],
    ],
  },
  {
    name: 'more than an hour left is long-lived',
    m: quiet({}),
    now: EXPIRES_AT_MS - (3 * 60 + 5) * 60_000,
    findings: [
      [
        'ERRAND014',
        'WARNING',
        '/task/expiresAt',
        'the manifest is valid for 3 hours 5 minutes from now (until 2026-11-29T20:05:00Z); more than 1 hour',
      ],
    ],
  },
  {
    name: 'exactly an hour left is not',
    m: quiet({}),
    now: EXPIRES_AT_MS - 60 * 60_000,
    findings: [],
  },
  {
    name: 'STS parameter problems and an oversized policy are ERRORs',
    m: quiet({
      subject: 'auth0|5f7c',
      awsGrants: [
        awsGrant({
          resources: Array.from(
            { length: 40 },
            (_, i) => `arn:aws:s3:::acme-uploads/users/alice/reports/2026/q${i}.pdf`,
          ),
        }),
      ],
    }),
    findings: [
      [
        'ERRAND002',
        'ERROR',
        '/aws/grants',
        'the session policy for all 1 AWS grants is 2596 characters of minified JSON; STS accepts at most 2048',
      ],
      [
        'ERRAND003',
        'ERROR',
        '/task/user/subject',
        "'auth0|5f7c' cannot be the value of STS session tag errand-user (at most 256 letters, digits, spaces and _ . : / = + - @)",
      ],
      [
        'ERRAND003',
        'ERROR',
        '/task/user/subject',
        "task.user.subject 'auth0|5f7c' cannot be an STS SourceIdentity (2 to 64 characters of A-Z a-z 0-9 _ + = , . @ -)",
      ],
    ],
  },
];

for (const c of table) {
  t.test(c.name, async (t) => {
    t.same(await lint(c.m, c.now), c.findings);
  });
}

t.test('isolation grant: a shared STS problem is reported once, not once per session', async (t) => {
  const m = quiet({
    isolation: 'grant',
    session: 'a|b',
    awsGrants: [awsGrant({ id: 'a' }), awsGrant({ id: 'b' })],
  });
  t.same(
    (await lint(m)).map((f) => f[0]),
    ['ERRAND003'],
  );
});

t.test('unboundedReason covers each way a pattern escapes one owner', async (t) => {
  t.same(
    [
      '*',
      'not-an-arn*',
      'arn:aws:*:::x',
      'arn:aws:dynamodb:us-east-1:*:table/t',
      'arn:aws:dynamodb:us-east-1:111122223333:*',
      'arn:aws:dynamodb:us-east-1:111122223333:table/*',
      'arn:aws:dynamodb:*:111122223333:table/t',
      'arn:aws:dynamodb:us-east-1:111122223333:table/orders-*',
      'arn:aws:s3:::acme/*',
    ].map(unboundedReason),
    [
      'it matches every resource',
      'it is not an ARN, so it may match anything',
      'the partition or service is a wildcard',
      'the account is a wildcard',
      'the resource type is a wildcard',
      'it matches every table',
      undefined,
      undefined,
      undefined,
    ],
  );
});

t.test('findings are located at the nearest position the locator knows', async (t) => {
  const located = locateFindings(
    [
      {
        ruleId: 'ERRAND015',
        rule: 'unlimited-uses',
        severity: 'WARNING',
        message: 'b',
        path: '/aws/grants/0/uses',
      },
      { ruleId: 'ERRAND014', rule: 'long-lived', severity: 'WARNING', message: 'a', path: '/task/expiresAt' },
    ],
    (p) =>
      p === '/task/expiresAt'
        ? { line: 6, column: 14 }
        : p === '/aws/grants/0'
          ? { line: 12, column: 7 }
          : undefined,
  );
  t.same(
    located.map((f) => [f.path, f.line, f.column]),
    [
      ['/task/expiresAt', 6, 14],
      ['/aws/grants/0/uses', 12, 7],
    ],
  );
  const unknown = locateFindings(
    [{ ruleId: 'X', rule: 'x', severity: 'ERROR', message: 'm', path: '/a' }],
    () => undefined,
  );
  t.equal(unknown[0]?.line, undefined);
});

t.test('loader problems become ERRAND000 findings', async (t) => {
  t.same(
    findingsFromProblems([
      {
        code: 'ERR_MANIFEST_INVALID',
        path: '/aws/grants/0/action',
        line: 14,
        column: 15,
        message: "unknown action 's3:GetObjekt'",
        fix: 's3:GetObject',
      },
      { code: 'ERR_MANIFEST_READ', path: '', line: 0, column: 0, message: 'cannot read the file (ENOENT)' },
    ]),
    [
      {
        ruleId: 'ERRAND000',
        rule: 'manifest-invalid',
        severity: 'ERROR',
        message: 'ERR_MANIFEST_READ cannot read the file (ENOENT)',
        path: '',
      },
      {
        ruleId: 'ERRAND000',
        rule: 'manifest-invalid',
        severity: 'ERROR',
        message: "ERR_MANIFEST_INVALID unknown action 's3:GetObjekt' (fix: s3:GetObject)",
        path: '/aws/grants/0/action',
        line: 14,
        column: 15,
      },
    ],
  );
});

const f = (severity: Finding['severity'], line?: number): Finding => ({
  ruleId: 'ERRAND011',
  rule: 'write-action',
  severity,
  message: 'm',
  path: '/p',
  ...(line === undefined ? {} : { line, column: 3 }),
});

t.test('fail levels and exit codes', async (t) => {
  t.equal(DEFAULT_FAIL_LEVEL, 'security');
  const rows: [FileResult[], string, number][] = [
    [[{ file: 'a', loaded: true, findings: [] }], 'suggestion', 0],
    [[{ file: 'a', loaded: true, findings: [f('SUGGESTION')] }], 'warning', 0],
    [[{ file: 'a', loaded: true, findings: [f('SUGGESTION')] }], 'suggestion', 1],
    [[{ file: 'a', loaded: true, findings: [f('WARNING')] }], 'security', 0],
    [[{ file: 'a', loaded: true, findings: [f('WARNING')] }], 'warning', 1],
    [[{ file: 'a', loaded: true, findings: [f('SECURITY_WARNING')] }], 'security', 1],
    [[{ file: 'a', loaded: true, findings: [f('SECURITY_WARNING')] }], 'error', 0],
    [[{ file: 'a', loaded: true, findings: [f('ERROR')] }], 'error', 1],
    [
      [
        { file: 'a', loaded: true, findings: [f('ERROR')] },
        { file: 'b', loaded: false, findings: [f('ERROR')] },
      ],
      'error',
      2,
    ],
  ];
  for (const [results, level, code] of rows) {
    t.equal(
      lintExitCode(results, level as 'error'),
      code,
      `${results.map((r) => r.findings.map((x) => x.severity)).join('/')} at ${level}`,
    );
  }
  t.ok(atOrAbove('ERROR', 'suggestion'));
  t.notOk(atOrAbove('SUGGESTION', 'error'));
});

t.test('text output: one line per finding and a summary', async (t) => {
  const results: FileResult[] = [
    { file: 'a.yaml', loaded: true, findings: [f('WARNING', 9), f('SECURITY_WARNING')] },
    { file: 'b.yaml', loaded: true, findings: [] },
  ];
  t.equal(
    formatLintText(results, 'security'),
    [
      'a.yaml:9:3: warning ERRAND011 write-action: m',
      'a.yaml: security ERRAND011 write-action: m',
      'b.yaml: no findings',
      '2 files, 2 findings (0 error, 1 security, 1 warning, 0 suggestion); fail level security: failed',
      '',
    ].join('\n'),
  );
  t.match(
    formatLintText([{ file: 'c', loaded: false, findings: [f('ERROR')] }], 'error'),
    /1 file, 1 finding \(1 error.*: not loaded\n$/,
  );
  t.match(formatLintText([{ file: 'c', loaded: true, findings: [] }], 'error'), /0 findings .*: passed\n$/);
});

t.test('json output carries the verdict and every finding with its file', async (t) => {
  const out = JSON.parse(
    formatLintJson([{ file: 'a.yaml', loaded: true, findings: [f('WARNING', 9)] }], 'warning'),
  );
  t.same(out, {
    failLevel: 'warning',
    exitCode: 1,
    files: [{ file: 'a.yaml', loaded: true, findings: 1 }],
    findings: [
      {
        file: 'a.yaml',
        ruleId: 'ERRAND011',
        rule: 'write-action',
        severity: 'WARNING',
        message: 'm',
        path: '/p',
        line: 9,
        column: 3,
      },
    ],
  });
});

t.test('the rule catalogue: unique ids and names, ordered, each with text', async (t) => {
  const ids = RULE_LIST.map((r) => r.id);
  t.same(ids, [...ids].sort());
  t.equal(new Set(ids).size, ids.length);
  t.equal(new Set(RULE_LIST.map((r) => r.name)).size, ids.length);
  for (const r of RULE_LIST) {
    t.match(r.id, /^ERRAND\d{3}$/);
    t.match(r.name, /^[a-z]+(-[a-z]+)*$/);
    t.ok(r.summary.length > 10 && r.help.length > 10, r.id);
  }
});

t.test(
  'credential-returning actions: the list names real IAM actions, checks are case-insensitive',
  async (t) => {
    const known = await describeActions(CREDENTIAL_RETURNING_ACTIONS);
    const notIam = CREDENTIAL_RETURNING_ACTIONS.filter((a) => !known.has(a));
    t.same(notIam, ['sso:GetRoleCredentials'], 'only the SSO portal call is outside IAM');
    t.ok(isCredentialReturning('STS:AssumeRole'));
    t.ok(isCredentialReturning('s3express:createsession'));
    t.notOk(isCredentialReturning('s3:GetObject'));
    t.notOk(isCredentialReturning('stsx:Thing'));
  },
);

t.test('write kinds from IAM access levels; unknown actions count as reads', async (t) => {
  const catalog = await describeActions(['s3:GetObject', 's3:DeleteObject', 's3:PutBucketPolicy']);
  t.equal(writeKindOfAction('s3:GetObject', catalog), undefined);
  t.equal(writeKindOfAction('s3:DeleteObject', catalog), 'delete');
  t.equal(writeKindOfAction('s3:PutBucketPolicy', catalog), 'permissions');
  t.equal(writeKindOfAction('s3:Nope', catalog), undefined);
  t.equal(catalog.has('s3:Nope'), false);
});

t.test('listOf shortens long lists', async (t) => {
  t.equal(listOf(['a', 'b', 'c']), 'a, b, c');
  t.equal(listOf(['a', 'b', 'c', 'd', 'e']), 'a, b, c and 2 more');
});

t.test('docs/manifest-review.md lists every rule exactly as the catalogue does', async (t) => {
  const doc = readFileSync(new URL('../../docs/manifest-review.md', import.meta.url), 'utf8');
  const rows = doc.split('\n').filter((l) => /^\| ERRAND\d{3} \|/.test(l));
  t.same(
    rows,
    RULE_LIST.map((r) => `| ${r.id} | ${r.name} | ${r.severity} | ${r.summary} | ${r.help} |`),
  );
});
