// `errand schema`, `errand manifest sign` and `errand manifest verify` through main(), with real
// keys and files; exit codes 0 (ok), 1 (invalid), 2 (usage or unreadable input).
import { readFileSync } from 'node:fs';
import { decodeProtectedHeader } from 'jose';
import t from 'tap';
import { main } from '../../src/cli/main.ts';
import { summarize } from '../../src/cli/manifest-verify.ts';
import { seed, seedWith, toYaml } from '../fixtures/manifests/build.ts';
import { ecKeys, edKeys } from '../fixtures/manifests/jws.ts';
import { captureIo } from '../helpers/cli.ts';

// The CLI reads the real clock, so the manifests here expire an hour from now.
const inAnHour = new Date(Math.floor(Date.now() / 1000) * 1000 + 3_600_000)
  .toISOString()
  .replace('.000Z', 'Z');
const fresh = () =>
  seedWith((m) => {
    m.task.expiresAt = inAnHour;
  });
const issuer = ecKeys();
const other = edKeys();

const files = (t: { testdir: (fixture: Record<string, string>) => string }) =>
  t.testdir({
    'm.yaml': toYaml(fresh()),
    'bad.yaml': toYaml(
      seedWith((m) => {
        m.task.expiresAt = inAnHour;
        m.aws.grants[0].action = 's3:GetObjekt';
      }),
    ),
    'old.yaml': toYaml(seed()),
    'issuer.pem': issuer.privatePem,
    'issuer.pub': issuer.publicPem,
    'issuer.jwk': JSON.stringify({ ...issuer.privateKey.export({ format: 'jwk' }), kid: 'orch-1' }),
    'other.pub': other.publicPem,
    'garbage.key': 'not a key',
  });

const run = async (argv: string[], cwd: string) => {
  const c = captureIo();
  const io = { ...c.io, cwd };
  const code = await main(argv, io);
  return { code, out: c.out(), err: c.err() };
};

t.test('errand schema prints the JSON Schema and takes no arguments', async (t) => {
  const ok = await run(['schema'], process.cwd());
  t.equal(ok.code, 0);
  t.same(
    JSON.parse(ok.out),
    JSON.parse(readFileSync(new URL('../../schema/manifest.schema.json', import.meta.url), 'utf8')),
  );
  const extra = await run(['schema', '--pretty'], process.cwd());
  t.equal(extra.code, 2);
  t.equal(extra.err, 'errand schema: unexpected argument "--pretty"\nusage: errand schema\n');
});

t.test('sign then verify: exit 0, a JWS on stdout, a one-line summary', async (t) => {
  const dir = files(t);
  const signed = await run(['manifest', 'sign', 'm.yaml', '--key', 'issuer.pem'], dir);
  t.equal(signed.code, 0, signed.err);
  t.match(signed.out, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\n$/);
  t.same(decodeProtectedHeader(signed.out.trim()), { alg: 'ES256', typ: 'errand-manifest+jwt' });
  const payload = JSON.parse(Buffer.from(signed.out.split('.')[1]!, 'base64url').toString());
  t.match(payload.jti, /^[0-9a-f-]{36}$/, 'a fresh jti by default');
  t.equal(payload.aud, 'errand');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(`${dir}/m.jws`, signed.out);
  const verified = await run(['manifest', 'verify', 'm.jws', '--trust-key', 'issuer.pub'], dir);
  t.equal(verified.code, 0, verified.err);
  t.match(
    verified.out,
    new RegExp(
      `^ok: task tsk_01JD8Q7ZK3 for alice@example\\.com \\(session sess_8f2c\\); 1 AWS grant, 1 HTTP grant, 0 passthrough hosts; expires ${inAnHour}; sha256 [0-9a-f]{64}\\n$`,
    ),
  );
  t.equal(verified.err, '');
});

t.test('sign options reach the token: JWK key with kid, audience, issuer, alg, jti', async (t) => {
  const dir = files(t);
  const signed = await run(
    [
      'manifest',
      'sign',
      'm.yaml',
      '--key',
      'issuer.jwk',
      '--audience',
      'errand-pod-7',
      '--issuer',
      'orchestrator',
      '--alg',
      'ES256',
      '--jti',
      'job-42',
    ],
    dir,
  );
  t.equal(signed.code, 0, signed.err);
  t.same(decodeProtectedHeader(signed.out.trim()), {
    alg: 'ES256',
    typ: 'errand-manifest+jwt',
    kid: 'orch-1',
  });
  const payload = JSON.parse(Buffer.from(signed.out.split('.')[1]!, 'base64url').toString());
  t.same([payload.aud, payload.iss, payload.jti], ['errand-pod-7', 'orchestrator', 'job-42']);
  const kid = await run(['manifest', 'sign', 'm.yaml', '--key', 'issuer.pem', '--kid', 'k9'], dir);
  t.equal(decodeProtectedHeader(kid.out.trim()).kid, 'k9');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(`${dir}/pod7.jws`, signed.out);
  const wrongAudience = await run(['manifest', 'verify', 'pod7.jws', '--trust-key', 'issuer.pub'], dir);
  t.equal(wrongAudience.code, 1);
  t.equal(
    wrongAudience.err,
    'pod7.jws:1:1: ERR_JWS_AUDIENCE /aud: the manifest is for "errand-pod-7", not "errand"\n',
  );
  const rightAudience = await run(
    [
      'manifest',
      'verify',
      'pod7.jws',
      '--trust-key',
      'issuer.pub',
      '--audience',
      'errand-pod-7',
      '--issuer',
      'orchestrator',
    ],
    dir,
  );
  t.equal(rightAudience.code, 0, rightAudience.err);
  const wrongIssuer = await run(
    [
      'manifest',
      'verify',
      'pod7.jws',
      '--trust-key',
      'issuer.pub',
      '--audience',
      'errand-pod-7',
      '--issuer',
      'someone',
    ],
    dir,
  );
  t.equal(wrongIssuer.code, 1);
  t.equal(
    wrongIssuer.err,
    'pod7.jws:1:1: ERR_JWS_CLAIMS /iss: iss "orchestrator" is not the trusted issuer "someone"\n',
  );
});

t.test(
  'sign: invalid manifests exit 1 with positioned problems; usage and unreadable input exit 2',
  async (t) => {
    const dir = files(t);
    const invalid = await run(['manifest', 'sign', 'bad.yaml', '--key', 'issuer.pem'], dir);
    t.equal(invalid.code, 1);
    t.equal(invalid.out, '');
    t.equal(
      invalid.err,
      'bad.yaml:16:15: ERR_MANIFEST_INVALID /aws/grants/0/action: "s3:GetObjekt" is not an IAM action of s3 (fix: did you mean "s3:GetObject"?)\n',
    );
    const expired = await run(['manifest', 'sign', 'old.yaml', '--key', 'issuer.pem'], dir);
    t.equal(expired.code, 1);
    t.match(
      expired.err,
      /^old\.yaml:9:14: ERR_MANIFEST_EXPIRED \/task\/expiresAt: the manifest expired at 2026-11-29T20:05:00Z/,
    );
    const rows: [string, string[], string][] = [
      ['no --key', ['m.yaml'], 'errand manifest sign: --key is required\nusage: errand manifest sign'],
      [
        'no file',
        ['--key', 'issuer.pem'],
        'errand manifest sign: expected exactly one manifest file\nusage:',
      ],
      [
        'two files',
        ['m.yaml', 'old.yaml', '--key', 'issuer.pem'],
        'errand manifest sign: expected exactly one manifest file',
      ],
      [
        'an unknown option',
        ['m.yaml', '--key', 'issuer.pem', '--force'],
        "errand manifest sign: Unknown option '--force'",
      ],
      [
        'an algorithm off the list',
        ['m.yaml', '--key', 'issuer.pem', '--alg', 'HS256'],
        'errand manifest sign: --alg must be one of ES256, ES384, EdDSA, PS256, RS256\n',
      ],
      [
        'an algorithm the key cannot make',
        ['m.yaml', '--key', 'issuer.pem', '--alg', 'EdDSA'],
        'errand manifest sign: ERR_JWS_KEY: the trusted key cannot be used: alg EdDSA does not fit this key (it signs ES256)\n',
      ],
      [
        'a missing key file',
        ['m.yaml', '--key', 'nope.pem'],
        'errand manifest sign: ERR_JWS_KEY: the trusted key cannot be used: cannot read the key file (ENOENT)\n',
      ],
      [
        'a public key as signing key',
        ['m.yaml', '--key', 'issuer.pub'],
        'errand manifest sign: ERR_JWS_KEY: the trusted key cannot be used: a signing key must be a PEM PRIVATE KEY\n',
      ],
      [
        'a missing manifest',
        ['nope.yaml', '--key', 'issuer.pem'],
        'nope.yaml:1:1: ERR_MANIFEST_READ cannot read the file (ENOENT)\n',
      ],
    ];
    for (const [name, args, err] of rows) {
      const r = await run(['manifest', 'sign', ...args], dir);
      t.equal(r.code, 2, name);
      t.equal(r.out, '', `${name}: nothing on stdout`);
      t.ok(r.err.startsWith(err), `${name}: ${r.err}`);
    }
  },
);

t.test('verify: invalid tokens exit 1, usage and unreadable input exit 2', async (t) => {
  const dir = files(t);
  const signed = await run(['manifest', 'sign', 'm.yaml', '--key', 'issuer.pem'], dir);
  const [h, p, s] = signed.out.trim().split('.') as [string, string, string];
  const otherPayload = await run(
    ['manifest', 'sign', 'm.yaml', '--key', 'issuer.pem', '--audience', 'x'],
    dir,
  );
  const { writeFileSync } = await import('node:fs');
  writeFileSync(`${dir}/m.jws`, signed.out);
  writeFileSync(`${dir}/spliced.jws`, `${h}.${otherPayload.out.split('.')[1]}.${s}`);
  writeFileSync(
    `${dir}/none.jws`,
    `${Buffer.from('{"alg":"none","typ":"errand-manifest+jwt"}').toString('base64url')}.${p}.`,
  );
  const invalid: [string, string[], string][] = [
    [
      'a payload spliced under another signature',
      ['spliced.jws', '--trust-key', 'issuer.pub'],
      'spliced.jws:1:1: ERR_JWS_SIGNATURE the signature does not verify with the trusted key\n',
    ],
    [
      'alg none',
      ['none.jws', '--trust-key', 'issuer.pub'],
      'none.jws:1:1: ERR_JWS_ALG_NOT_ALLOWED alg "none" means unsigned; a manifest must be signed\n',
    ],
    [
      'another issuer key',
      ['m.jws', '--trust-key', 'other.pub'],
      'm.jws:1:1: ERR_JWS_ALG_NOT_ALLOWED alg ES256 does not fit the trusted key, which verifies only EdDSA\n',
    ],
    [
      'an unsigned YAML manifest',
      ['m.yaml', '--trust-key', 'issuer.pub'],
      'm.yaml:1:1: ERR_JWS_MALFORMED this is not a compact JWS (fix: sign it with errand manifest sign)\n',
    ],
  ];
  for (const [name, args, err] of invalid) {
    const r = await run(['manifest', 'verify', ...args], dir);
    t.same([r.code, r.out, r.err], [1, '', err], name);
  }
  const usage: [string, string[], string][] = [
    [
      'no --trust-key',
      ['m.jws'],
      'errand manifest verify: --trust-key is required\nusage: errand manifest verify',
    ],
    [
      'no file',
      ['--trust-key', 'issuer.pub'],
      'errand manifest verify: expected exactly one signed manifest file',
    ],
    [
      'an unknown option',
      ['m.jws', '--trust-key', 'issuer.pub', '--insecure'],
      "errand manifest verify: Unknown option '--insecure'",
    ],
    [
      'an unreadable trust key',
      ['m.jws', '--trust-key', 'nope.pub'],
      'errand manifest verify: ERR_JWS_KEY: the trusted key cannot be used: cannot read the key file (ENOENT)\n',
    ],
    [
      'a private key as trust key',
      ['m.jws', '--trust-key', 'issuer.pem'],
      'errand manifest verify: ERR_JWS_KEY: the trusted key cannot be used: this PEM holds a private key; give the verifier only the public key\n',
    ],
    [
      'a trust key that is not a key',
      ['m.jws', '--trust-key', 'garbage.key'],
      'errand manifest verify: ERR_JWS_KEY: the trusted key cannot be used: a trust key is a PEM public key, a JWK or a JWK Set\n',
    ],
    [
      'a missing JWS file',
      ['nope.jws', '--trust-key', 'issuer.pub'],
      'nope.jws:1:1: ERR_MANIFEST_READ cannot read the file (ENOENT)\n',
    ],
  ];
  for (const [name, args, err] of usage) {
    const r = await run(['manifest', 'verify', ...args], dir);
    t.equal(r.code, 2, name);
    t.ok(r.err.startsWith(err), `${name}: ${r.err}`);
  }
});

t.test('the summary counts grants and passthrough hosts', async (t) => {
  t.equal(
    summarize({
      manifest: {
        apiVersion: 'errand.dev/v1',
        kind: 'TaskManifest',
        task: {
          id: 't1',
          purpose: 'p',
          user: { subject: 'al', session: 's' },
          expiresAt: '2026-11-29T20:05:00Z',
        },
        http: { grants: [], passthrough: [{ host: 'pypi.org', port: 443 }] },
      },
      sha256: 'ab',
      expiresAtMs: 0,
      signed: true,
    }),
    'ok: task t1 for al (session s); 0 AWS grants, 0 HTTP grants, 1 passthrough host; expires 2026-11-29T20:05:00Z; sha256 ab',
  );
});
