import t from 'tap';
import {
  explainManifest,
  formatDuration,
  formatExplainJson,
  formatExplainMarkdown,
  formatExplainText,
} from '../../src/manifest/explain.ts';
import { describeActions } from '../../src/manifest/lint-rules.ts';
import type { Manifest } from '../../src/manifest/types.ts';
import { awsGrant, EXPIRES_AT_MS, httpGrant, loaded, manifest, NOW } from '../fixtures/review/manifests.ts';

const explain = async (m: Manifest, now = NOW) =>
  explainManifest(loaded(m), {
    now,
    actions: await describeActions((m.aws?.grants ?? []).map((g) => g.action)),
  });

const SEED_TEXT = `Task tsk_01JD8Q7ZK3: Summarize report.pdf for alice
  user      alice@example.com (session sess_8f2c)
  until     2026-11-29T20:05:00Z (for 42 minutes from now)
  manifest  sha256 a3f1c0ffee5eed0123456789abcdef0123456789abcdef0123456789abcdef01, UNSIGNED

AWS in us-east-1 as arn:aws:iam::111122223333:role/errand-task, one STS session for all grants
  read-report  read         s3:GetObject on arn:aws:s3:::acme-uploads/users/alice/report.pdf
                            1 use

HTTP
  post-summary  WRITE        POST https://api.acme.dev/v1/summaries
                             1 use; injects secret summaries-token into Authorization

STS session policies (what AWS itself enforces)
  task (read-report): 215 of 2048 characters
    {
      "Version": "2012-10-17",
      "Statement": [
        {
          "Effect": "Allow",
          "Action": "s3:GetObject",
          "Resource": "arn:aws:s3:::acme-uploads/users/alice/report.pdf",
          "Condition": {
            "DateLessThan": {
              "aws:CurrentTime": "2026-11-29T20:05:00Z"
            }
          }
        }
      ]
    }
`;

t.test('text: the seed manifest, as a reviewer reads it', async (t) => {
  t.equal(formatExplainText(await explain(manifest())), SEED_TEXT);
});

t.test(
  'text: writes, multipart, prefixes, headers, caps, patterns and unsafe switches are spelled out',
  async (t) => {
    const m = manifest({
      isolation: 'grant',
      awsGrants: [
        awsGrant({
          id: 'write-result',
          action: 's3:PutObject',
          resources: ['arn:aws:s3:::acme-out/out/result.json'],
          uses: 3,
          allowHeaders: ['x-amz-server-side-encryption'],
          maxBodyBytes: 1048576,
        }),
        awsGrant({
          id: 'list-mine',
          action: 's3:ListBucket',
          resources: ['arn:aws:s3:::acme-uploads'],
          conditions: { s3Prefix: 'users/alice/' },
        }),
        awsGrant({ id: 'tmp', broad: true, resources: ['arn:aws:s3:::acme/tmp/*'], uses: 'unlimited' }),
      ],
      httpGrants: [
        httpGrant({
          id: 'rm-job',
          method: 'DELETE',
          url: 'http://jobs.internal.test/v1/jobs/*',
          pattern: true,
          websocket: true,
          unsafeAllowPlainHttp: true,
          unsafeAllowPrivateAddress: true,
          maxBodyBytes: 10,
        }),
      ],
      passthrough: [{ host: 'pypi.org', port: 443 }],
    });
    const text = formatExplainText(await explain(m));
    const lines = text.split('\n');
    t.same(lines.slice(5, 13), [
      'AWS in us-east-1 as arn:aws:iam::111122223333:role/errand-task, one STS session per grant',
      '  write-result  WRITE        s3:PutObject on arn:aws:s3:::acme-out/out/result.json',
      '                             3 uses; with multipart upload (s3:AbortMultipartUpload, s3:ListMultipartUploadParts); agent may send x-amz-server-side-encryption; body at most 1048576 bytes',
      '  list-mine     read         s3:ListBucket on arn:aws:s3:::acme-uploads',
      '                             1 use; only prefix "users/alice/"',
      '  tmp           read         s3:GetObject on arn:aws:s3:::acme/tmp/*',
      '                             unlimited uses; BROAD: wildcard pattern',
      '',
    ]);
    t.same(lines.slice(13, 20), [
      'HTTP',
      '  rm-job  DELETE       DELETE http://jobs.internal.test/v1/jobs/*',
      '                       1 use; injects secret summaries-token into Authorization; PATTERN: each * is any one path segment; WebSocket allowed; PLAIN HTTP; PRIVATE ADDRESSES allowed; body at most 10 bytes',
      '',
      'Passthrough (uninspected TLS tunnels, no use limit)',
      '  pypi.org:443',
      '',
    ]);
    t.match(text, /\n {2}grant:write-result \(write-result\): \d+ of 2048 characters\n/);
    t.match(text, /\n {2}grant:list-mine \(list-mine\): \d+ of 2048 characters\n/);
    t.match(text, /\n {2}grant:tmp \(tmp\): \d+ of 2048 characters\n/);
  },
);

t.test('the secret value template never appears, only the secret name', async (t) => {
  const e = await explain(manifest());
  for (const out of [formatExplainText(e), formatExplainMarkdown(e), formatExplainJson(e)]) {
    t.notMatch(out, 'Bearer');
    t.notMatch(out, '${secret:');
    t.match(out, 'summaries-token');
  }
});

t.test('a credential-returning grant is shown as refused and is in no policy', async (t) => {
  const m = manifest({
    awsGrants: [awsGrant(), awsGrant({ id: 'whoami', action: 'sts:GetCallerIdentity', resources: ['*'] })],
  });
  const e = await explain(m);
  t.same(
    e.aws?.grants.map((g) => [g.id, g.refused]),
    [
      ['read-report', false],
      ['whoami', true],
    ],
  );
  t.match(
    formatExplainText(e),
    '  whoami       read         sts:GetCallerIdentity on *\n' +
      '                            REFUSED: its response carries credentials, so Errand never performs it; 1 use\n',
  );
  t.same(e.policies[0]?.grantIds, ['read-report']);
});

t.test('an expired manifest says so', async (t) => {
  const e = await explain(manifest(), EXPIRES_AT_MS + 5 * 60_000);
  t.equal(e.task.remaining, 'expired 5 minutes ago');
  t.equal(e.task.remainingMs, -5 * 60_000);
});

t.test('an oversized policy is flagged in the title', async (t) => {
  const big = manifest({
    awsGrants: [
      awsGrant({
        resources: Array.from({ length: 60 }, (_, i) => `arn:aws:s3:::acme/reports/2026/q${i}.pdf`),
      }),
    ],
  });
  t.match(
    formatExplainText(await explain(big)),
    /\n {2}task \(read-report\): \d{4} of 2048 characters, TOO LARGE\n/,
  );
});

t.test('manifests with only AWS, only HTTP, or no grants', async (t) => {
  const awsOnly = formatExplainText(await explain(manifest({ noHttp: true, awsGrants: [] })));
  t.match(awsOnly, 'one STS session for all grants\n  (no grants)\n');
  t.notMatch(awsOnly, 'HTTP');
  t.notMatch(awsOnly, 'STS session policies');
  const httpOnly = await explain(manifest({ noAws: true, httpGrants: [] }));
  t.equal(httpOnly.aws, undefined);
  t.same(httpOnly.policies, []);
  t.match(formatExplainText(httpOnly), '\nHTTP\n  (no grants)\n');
  t.notMatch(formatExplainMarkdown(httpOnly), '## STS session policies');
  t.match(formatExplainMarkdown(httpOnly), '## HTTP\n\nNo grants.\n');
  t.match(
    formatExplainMarkdown(await explain(manifest({ awsGrants: [] }))),
    'one STS session for all grants.\n\nNo grants.\n',
  );
});

t.test('markdown: tables a pull request renders, cells escaped', async (t) => {
  const m = manifest({
    awsGrants: [awsGrant({ id: 'tag', action: 's3:PutObjectTagging' })],
    httpGrants: [
      httpGrant({ id: 'q', method: 'GET', url: 'https://api.acme.dev/v1/a|b', inject: undefined }),
    ],
    passthrough: [{ host: 'pypi.org', port: 443 }],
  });
  const md = formatExplainMarkdown(await explain({ ...m, task: { ...m.task, purpose: 'Sum `x` | y' } }));
  const lines = md.split('\n');
  t.same(lines.slice(0, 9), [
    '# Task `tsk_01JD8Q7ZK3`',
    '',
    'Sum \\`x\\` \\| y',
    '',
    '| | |',
    '|---|---|',
    '| user | `alice@example.com` (session `sess_8f2c`) |',
    '| until | 2026-11-29T20:05:00Z (for 42 minutes from now) |',
    '| manifest | sha256 `a3f1c0ffee5eed0123456789abcdef0123456789abcdef0123456789abcdef01`, **unsigned** |',
  ]);
  t.ok(
    lines.includes(
      '| `tag` | **TAGGING** | `s3:PutObjectTagging` | `arn:aws:s3:::acme-uploads/users/alice/report.pdf` | 1 use |',
    ),
  );
  t.ok(
    lines.includes('| `q` | read | `GET https://api.acme.dev/v1/a\\|b` | 1 use |'),
    'a pipe in a code span is escaped',
  );
  t.ok(lines.includes('- `pypi.org:443`'));
  t.ok(lines.includes('### task (tag): 222 of 2048 characters'));
  t.equal(lines.at(-2), '```', 'ends with the closing fence');
});

t.test('json: a value with every part a program needs', async (t) => {
  const e = JSON.parse(formatExplainJson(await explain(manifest())));
  t.same(e.task, {
    id: 'tsk_01JD8Q7ZK3',
    purpose: 'Summarize report.pdf for alice',
    user: { subject: 'alice@example.com', session: 'sess_8f2c' },
    expiresAt: '2026-11-29T20:05:00Z',
    remainingMs: 42 * 60_000,
    remaining: 'for 42 minutes from now',
    sha256: 'a3f1c0ffee5eed0123456789abcdef0123456789abcdef0123456789abcdef01',
    signed: false,
  });
  t.same(e.aws.grants[0], {
    id: 'read-report',
    kind: 'read',
    action: 's3:GetObject',
    accessLevels: ['Read'],
    alsoAllows: [],
    refused: false,
    resources: ['arn:aws:s3:::acme-uploads/users/alice/report.pdf'],
    broad: false,
    uses: 1,
    allowHeaders: [],
  });
  t.same(e.http.grants[0], {
    id: 'post-summary',
    kind: 'write',
    method: 'POST',
    url: 'https://api.acme.dev/v1/summaries',
    pattern: false,
    uses: 1,
    inject: { header: 'Authorization', secret: 'summaries-token' },
    websocket: false,
    plainHttp: false,
    privateAddress: false,
  });
  t.same(
    e.policies.map((p: { sessionKey: string; size: number; limit: number }) => [
      p.sessionKey,
      p.size,
      p.limit,
    ]),
    [['task', 215, 2048]],
  );
});

t.test('formatDuration', async (t) => {
  const rows: [number, string][] = [
    [0, 'less than a minute'],
    [59_999, 'less than a minute'],
    [60_000, '1 minute'],
    [42 * 60_000 + 59_000, '42 minutes'],
    [60 * 60_000, '1 hour'],
    [(2 * 60 + 1) * 60_000, '2 hours 1 minute'],
    [-(3 * 60 + 5) * 60_000, '3 hours 5 minutes'],
  ];
  for (const [ms, text] of rows) t.equal(formatDuration(ms), text, String(ms));
});
