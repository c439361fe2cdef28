// The review commands through main(): exact output lines and exit codes. Manifests are written
// with a deadline 42½ minutes from now, since the loader refuses expired or far-off manifests.
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { CliIo } from '../../src/cli/io.ts';
import { main } from '../../src/cli/main.ts';
import { parseInstant } from '../../src/manifest/instant.ts';
import { signManifest } from '../../src/manifest/jws.ts';
import { parseSigningKey } from '../../src/manifest/keys.ts';
import { loadManifestText } from '../../src/manifest/load.ts';
import { sarifViolations } from '../fixtures/review/sarif-check.ts';

const FIXTURES = new URL('../fixtures/review/', import.meta.url).pathname;
const expiresAt = new Date(Date.now() + 42.5 * 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
const fixture = (name: string) =>
  readFileSync(join(FIXTURES, name), 'utf8').replaceAll('__EXPIRES_AT__', expiresAt);

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const seedText = fixture('seed.yaml');
const seedLoaded = loadManifestText(seedText, { now: Date.now(), fileName: 'seed.yaml' });
if (!seedLoaded.ok) throw new Error(`seed fixture does not load: ${JSON.stringify(seedLoaded.problems)}`);
const signed = await signManifest(seedLoaded, {
  key: parseSigningKey(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()),
  now: Date.now(),
});

const dir = t.testdir({
  'seed.yaml': seedText,
  'risky.yaml': fixture('risky.yaml'),
  'invalid.yaml': fixture('invalid.yaml'),
  'big.yaml': fixture('big.yaml'),
  'seed-wider.yaml': fixture('seed-wider.yaml'),
  'http-only.yaml': seedText.replace(/\naws:\n(?: {2}.*\n)+/, '\n'),
  'seed.jws': signed,
  'trust.pem': publicKey.export({ type: 'spki', format: 'pem' }).toString(),
});

const run = async (...argv: string[]) => {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { stdout: (s) => void out.push(s), stderr: (s) => void err.push(s), env: {}, cwd: dir };
  const code = await main(argv, io);
  return { code, out: out.join(''), err: err.join('') };
};

const POST_WARNING = [
  "seed.yaml:19:15: warning ERRAND011 write-action: grant 'post-summary' allows POST https://api.acme.dev/v1/summaries",
  "seed.yaml:21:15: warning ERRAND023 bearer-credential: grant 'post-summary' injects static secret 'summaries-token' into Authorization: it is not bound to this task or user, and works for whoever holds it",
].join('\n');

t.test('lint: the seed manifest passes the default fail level with two warnings', async (t) => {
  const r = await run('manifest', 'lint', 'seed.yaml');
  t.equal(r.code, 0);
  t.equal(
    r.out,
    `${POST_WARNING}\n1 file, 2 findings (0 error, 0 security, 2 warning, 0 suggestion); fail level security: passed\n`,
  );
  t.equal(r.err, '');
});

t.test('lint: --fail-level warning turns the same warning into exit 1', async (t) => {
  const r = await run('manifest', 'lint', '--fail-level', 'warning', 'seed.yaml');
  t.equal(r.code, 1);
  t.match(r.out, /fail level warning: failed\n$/);
});

t.test('lint: several files, findings located at line and column', async (t) => {
  const r = await run('manifest', 'lint', 'seed.yaml', 'risky.yaml');
  t.equal(r.code, 1);
  t.equal(
    r.out,
    [
      POST_WARNING,
      "risky.yaml:16:22: security ERRAND006 broad-resource: grant 'read-tmp' covers every ARN matching 'arn:aws:s3:::acme-scratch/tmp/*'",
      "risky.yaml:17:13: warning ERRAND015 unlimited-uses: grant 'read-tmp' may be used any number of times until the deadline",
      "risky.yaml:18:7: suggestion ERRAND020 unbounded-write-body: grant 'write-out' sets no maxBodyBytes for s3:PutObject on arn:aws:s3:::acme-scratch/out/result.json",
      "risky.yaml:19:15: warning ERRAND011 write-action: grant 'write-out' allows s3:PutObject (IAM access level Write) on arn:aws:s3:::acme-scratch/out/result.json",
      'risky.yaml:24:7: warning ERRAND016 passthrough-host: passthrough to pypi.org:443: an uninspected TLS tunnel without use limits',
      '2 files, 7 findings (0 error, 1 security, 5 warning, 1 suggestion); fail level security: failed',
      '',
    ].join('\n'),
  );
  const errorsOnly = await run('manifest', 'lint', '--fail-level', 'error', 'seed.yaml', 'risky.yaml');
  t.equal(errorsOnly.code, 0);
});

t.test('lint: a file that does not load is exit 2 with its problem', async (t) => {
  const r = await run('manifest', 'lint', 'seed.yaml', 'invalid.yaml');
  t.equal(r.code, 2);
  t.equal(
    r.out,
    [
      POST_WARNING,
      'invalid.yaml:13:15: error ERRAND000 manifest-invalid: ERR_MANIFEST_INVALID "s3:GetObjekt" is not an IAM action of s3 (fix: did you mean "s3:GetObject"?)',
      '2 files, 3 findings (1 error, 0 security, 2 warning, 0 suggestion); fail level security: not loaded',
      '',
    ].join('\n'),
  );
  const missing = await run('manifest', 'lint', 'nope.yaml');
  t.equal(missing.code, 2);
  t.match(
    missing.out,
    /^nope\.yaml:1:1: error ERRAND000 manifest-invalid: ERR_MANIFEST_READ cannot read the file \(ENOENT\)\n/,
  );
});

t.test('lint: an oversized session policy is an ERROR', async (t) => {
  const r = await run('manifest', 'lint', '--format', 'json', 'big.yaml');
  t.equal(r.code, 1);
  t.same(JSON.parse(r.out).findings, [
    {
      file: 'big.yaml',
      ruleId: 'ERRAND002',
      rule: 'policy-too-large',
      severity: 'ERROR',
      message:
        'the session policy for all 1 AWS grants is 3006 characters of minified JSON; STS accepts at most 2048',
      path: '/aws/grants',
      line: 13,
      column: 5,
    },
  ]);
});

t.test('lint: SARIF output is structurally valid SARIF 2.1.0', async (t) => {
  const r = await run('manifest', 'lint', '--format', 'sarif', 'seed.yaml', 'risky.yaml', 'invalid.yaml');
  t.equal(r.code, 2);
  const log = JSON.parse(r.out);
  t.same(sarifViolations(log), []);
  const results = log.runs[0].results;
  t.equal(results.length, 8);
  t.same(results[0].locations[0].physicalLocation, {
    artifactLocation: { uri: 'seed.yaml' },
    region: { startLine: 19, startColumn: 15 },
  });
  t.same(
    results.map((x: { ruleId: string; level: string }) => `${x.ruleId}:${x.level}`),
    [
      'ERRAND011:warning',
      'ERRAND023:warning',
      'ERRAND006:warning',
      'ERRAND015:warning',
      'ERRAND020:note',
      'ERRAND011:warning',
      'ERRAND016:warning',
      'ERRAND000:error',
    ],
  );
});

t.test('lint: a signed manifest needs the trust key, and loads with it', async (t) => {
  const without = await run('manifest', 'lint', 'seed.jws');
  t.equal(without.code, 2);
  t.match(
    without.out,
    /^seed\.jws:1:1: error ERRAND000 manifest-invalid: ERR_JWS_KEY this is a signed manifest/,
  );
  const withKey = await run('manifest', 'lint', '--trust-key', 'trust.pem', 'seed.jws');
  t.equal(withKey.code, 0);
  t.match(withKey.out, /^seed\.jws:\d+:\d+: warning ERRAND011 write-action: grant 'post-summary'/);
  const badKey = await run('manifest', 'lint', '--trust-key', 'absent.pem', 'seed.jws');
  t.equal(badKey.code, 2);
  t.match(badKey.err, /^errand manifest lint: ERR_JWS_KEY: /);
});

t.test('--at judges the deadline and the signature at another time than now', async (t) => {
  const at = (ms: number) => new Date(ms).toISOString();
  const deadline = Date.parse(expiresAt);
  const after = await run('manifest', 'lint', '--at', at(deadline + 2 * 3_600_000), 'seed.yaml');
  t.equal(after.code, 0, 'expired is a warning: below the default fail level');
  t.match(
    after.out,
    `seed.yaml:8:14: warning ERRAND021 expired: the manifest expired at ${expiresAt}, 2 hours ago`,
  );
  const early = await run('manifest', 'lint', '--at', at(deadline - 13 * 3_600_000), 'seed.yaml');
  t.match(
    early.out,
    `seed.yaml:8:14: error ERRAND022 ttl-over-limit: the manifest is valid for 13 hours from now (until ${expiresAt}); Errand runs at most 12 hours`,
  );
  const inside = await run('manifest', 'lint', '--at', at(deadline - 60_000), 'seed.yaml');
  t.notMatch(inside.out, /ERRAND02[12]/, 'a minute before the deadline: neither');
  // The offset is honoured: the same instant written in another zone judges the same.
  const zoned = new Date(deadline + 2 * 3_600_000 + 5.5 * 3_600_000).toISOString().replace('Z', '+05:30');
  t.equal((await run('manifest', 'lint', '--at', zoned, 'seed.yaml')).out, after.out);
  const signedAfter = await run(
    'manifest',
    'explain',
    '--trust-key',
    'trust.pem',
    '--at',
    at(deadline + 60_000),
    'seed.jws',
  );
  t.equal(signedAfter.code, 2, 'the signature has expired by then');
  t.equal(signedAfter.out, '');
  t.match(signedAfter.err, /^seed\.jws:1:1: ERR_JWS_EXPIRED \/exp: exp \S+ has passed\n$/);
});

t.test('--at takes an RFC 3339 time with its offset and nothing else', async (t) => {
  for (const value of [
    'tomorrow',
    '2026-12-01',
    '2026-12-01T09:00:00',
    '2026-12-01 09:00:00Z',
    '2026-02-30T09:00:00Z',
    '2026-12-01T24:00:00Z',
    '2026-12-01T09:00:60Z',
    '2026-12-01T09:00:00+24:00',
  ]) {
    for (const command of ['lint', 'explain', 'policy']) {
      const r = await run('manifest', command, '--at', value, 'seed.yaml');
      t.equal(r.code, 2, `${command} ${value}`);
      t.ok(
        r.err.startsWith(
          `errand manifest ${command}: --at must be an RFC 3339 date and time with its offset, like 2026-12-01T09:00:00Z, not '${value}'\n`,
        ),
        r.err.split('\n')[0] ?? '',
      );
    }
  }
  t.equal(parseInstant('2026-12-01T10:00:00+01:00'), Date.UTC(2026, 11, 1, 9), 'positive offset');
  t.equal(parseInstant('2026-12-01T03:30:00-05:30'), Date.UTC(2026, 11, 1, 9), 'negative offset');
  t.equal(
    parseInstant('2026-12-01t09:00:00.25z'),
    Date.UTC(2026, 11, 1, 9, 0, 0, 250),
    'fraction, lower case',
  );
  t.equal(parseInstant('2028-02-29T00:00:00Z'), Date.UTC(2028, 1, 29), 'a leap day');
  t.equal(parseInstant('2026-02-29T00:00:00Z'), undefined, 'not a leap year');
  t.equal(parseInstant('2026-00-10T00:00:00Z'), undefined, 'month 0');
});

const usageRows: [string[], string][] = [
  [
    ['manifest', 'lint'],
    'errand manifest lint: expected at least one manifest file\nusage: errand manifest lint',
  ],
  [
    ['manifest', 'lint', '--format', 'xml', 'a'],
    "errand manifest lint: --format must be one of text, json, sarif, not 'xml'\n",
  ],
  [
    ['manifest', 'lint', '--fail-level', 'fatal', 'a'],
    "errand manifest lint: --fail-level must be one of error, security, warning, suggestion, not 'fatal'\n",
  ],
  [['manifest', 'lint', '--frobnicate', 'a'], "errand manifest lint: Unknown option '--frobnicate'"],
  [['manifest', 'explain'], 'errand manifest explain: expected exactly one manifest file\n'],
  [['manifest', 'explain', 'a', 'b'], 'errand manifest explain: expected exactly one manifest file\n'],
  [
    ['manifest', 'explain', '--format', 'html', 'a'],
    "errand manifest explain: --format must be one of text, markdown, json, not 'html'\n",
  ],
  [['manifest', 'policy'], 'errand manifest policy: expected exactly one manifest file\n'],
  [
    ['manifest', 'diff', 'a'],
    'errand manifest diff: expected two manifest files: the old one, then the new one\n',
  ],
  [
    ['manifest', 'diff', '--format', 'text', '--format', 'yaml', 'a', 'b'],
    'errand manifest diff: --format must be one of text, json',
  ],
];

t.test('usage errors exit 2 and say what is wrong', async (t) => {
  for (const [argv, message] of usageRows) {
    const r = await run(...argv);
    t.equal(r.code, 2, argv.join(' '));
    t.ok(r.err.startsWith(message), `${argv.join(' ')}: ${r.err.split('\n')[0]}`);
    t.equal(r.out, '');
  }
});

t.test('explain: text, markdown and json', async (t) => {
  const text = await run('manifest', 'explain', 'seed.yaml');
  t.equal(text.code, 0);
  const lines = text.out.split('\n');
  t.same(lines.slice(0, 3), [
    'Task tsk_01JD8Q7ZK3: Summarize report.pdf for alice',
    '  user      alice@example.com (session sess_8f2c)',
    `  until     ${expiresAt} (for 42 minutes from now)`,
  ]);
  t.match(lines[3], /^ {2}manifest {2}sha256 [0-9a-f]{64}, UNSIGNED$/);
  t.same(lines.slice(4, 13), [
    '',
    'AWS in us-east-1 as arn:aws:iam::111122223333:role/errand-task, one STS session for all grants',
    '  read-report  read         s3:GetObject on arn:aws:s3:::acme-uploads/users/alice/report.pdf',
    '                            1 use',
    '',
    'HTTP',
    '  post-summary  WRITE        POST https://api.acme.dev/v1/summaries',
    '                             1 use; injects secret summaries-token into Authorization; body at most 1048576 bytes',
    '',
  ]);
  t.notMatch(text.out, 'Bearer', 'the value template stays out');
  const md = await run('manifest', 'explain', '--format', 'markdown', 'seed.yaml');
  t.equal(md.code, 0);
  t.match(md.out, /^# Task `tsk_01JD8Q7ZK3`\n/);
  const json = await run('manifest', 'explain', '--format', 'json', 'seed.yaml');
  t.equal(JSON.parse(json.out).task.remaining, 'for 42 minutes from now');
  const signedExplain = await run('manifest', 'explain', '--trust-key', 'trust.pem', 'seed.jws');
  t.match(signedExplain.out, /, signed\n/);
});

t.test('explain: a file that does not load prints its problems and exits 2', async (t) => {
  const r = await run('manifest', 'explain', 'invalid.yaml');
  t.equal(r.code, 2);
  t.equal(r.out, '');
  t.equal(
    r.err,
    'invalid.yaml:13:15: ERR_MANIFEST_INVALID /aws/grants/0/action: "s3:GetObjekt" is not an IAM action of s3 (fix: did you mean "s3:GetObject"?)\n',
  );
});

t.test('policy: each session with its AssumeRole parameters, the policy and its size', async (t) => {
  const r = await run('manifest', 'policy', 'seed.yaml');
  t.equal(r.code, 0);
  const lines = r.out.split('\n');
  t.same(lines.slice(0, 2), [
    'session task (read-report): 215 of 2048 characters minified',
    'AssumeRole arn:aws:iam::111122223333:role/errand-task as tsk_01JD8Q7ZK3 for 900 s, SourceIdentity alice@example.com',
  ]);
  t.match(
    lines[2],
    /^tags errand-manifest=[0-9a-f]{16} errand-session=sess_8f2c errand-task=tsk_01JD8Q7ZK3 errand-user=alice@example\.com$/,
  );
  t.same(JSON.parse(lines.slice(3).join('\n')).Statement[0].Condition, {
    DateLessThan: { 'aws:CurrentTime': expiresAt },
  });
  const risky = await run('manifest', 'policy', 'risky.yaml');
  t.equal(risky.code, 0);
  t.match(
    risky.out,
    /^session grant:read-tmp \(read-tmp\): \d+ of 2048 characters minified\nAssumeRole \S+ as tsk_risky\.read-tmp /,
  );
  t.match(
    risky.out,
    /\nsession grant:write-out \(write-out\): \d+ of 2048 characters minified\nAssumeRole \S+ as tsk_risky\.write-out /,
  );
});

t.test('policy: a manifest without AWS grants has no session', async (t) => {
  const r = await run('manifest', 'policy', 'http-only.yaml');
  t.same(r, { code: 0, out: 'no AWS grants: no STS session\n', err: '' });
});

t.test('policy: an oversized policy exits 1 and says so', async (t) => {
  const r = await run('manifest', 'policy', 'big.yaml');
  t.equal(r.code, 1);
  t.match(
    r.out,
    /^session task \(read-reports\): 3006 of 2048 characters minified, TOO LARGE for STS\nrefused: ERR_MANIFEST_POLICY_TOO_LARGE \/aws\/grants: the session policy for all 1 AWS grants is 3006 characters of minified JSON; STS accepts at most 2048\n\{/,
  );
  const invalid = await run('manifest', 'policy', 'invalid.yaml');
  t.equal(invalid.code, 2);
  t.match(invalid.err, /^invalid\.yaml:13:15: ERR_MANIFEST_INVALID/);
});

t.test('diff: widening exits 1, the reverse exits 0, identical exits 0', async (t) => {
  const wider = await run('manifest', 'diff', 'seed.yaml', 'seed-wider.yaml');
  t.equal(wider.code, 1);
  t.equal(
    wider.out,
    [
      "+ widened  /aws/grants/0/uses: grant 'read-report' more uses: 1 → 3",
      "+ widened  /aws/grants/1: grant 'write-summary' added: s3:PutObject on arn:aws:s3:::acme-uploads/users/alice/report.summary.txt, 1 use",
      '2 widened, 0 narrowed, 0 changed: the new manifest grants more',
      '',
    ].join('\n'),
  );
  const narrower = await run('manifest', 'diff', 'seed-wider.yaml', 'seed.yaml');
  t.equal(narrower.code, 0);
  t.match(narrower.out, /\n0 widened, 2 narrowed, 0 changed: the new manifest grants nothing new\n$/);
  const same = await run('manifest', 'diff', 'seed.yaml', 'seed.yaml');
  t.equal(same.code, 0);
  t.equal(same.out, 'no changes: the new manifest grants nothing new\n');
  const json = await run('manifest', 'diff', '--format', 'json', 'seed.yaml', 'seed-wider.yaml');
  t.equal(JSON.parse(json.out).widens, true);
  const signedSide = await run('manifest', 'diff', '--trust-key', 'trust.pem', 'seed.jws', 'seed.yaml');
  t.equal(signedSide.code, 0);
});

t.test('diff: unreadable or invalid input exits 2 with the problems of each side', async (t) => {
  const r = await run('manifest', 'diff', 'nope.yaml', 'invalid.yaml');
  t.equal(r.code, 2);
  t.equal(r.out, '');
  t.equal(
    r.err,
    [
      'nope.yaml:1:1: ERR_MANIFEST_READ cannot read the file (ENOENT)',
      'invalid.yaml:13:15: ERR_MANIFEST_INVALID /aws/grants/0/action: "s3:GetObjekt" is not an IAM action of s3 (fix: did you mean "s3:GetObject"?)',
      '',
    ].join('\n'),
  );
});
