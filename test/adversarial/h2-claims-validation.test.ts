// H2: claims validation (SECURITY-CASES #83; RFC 7519 §4.1, RFC 8725 §3.8-3.10; duplicate-claim
// JSON interoperability). Every token here carries a valid signature by the trusted key, so each
// refusal comes from the claims alone.
import t from 'tap';
import { CLOCK_SKEW_SECONDS, loadManifestJws } from '../../src/manifest/jws.ts';
import type { Problem } from '../../src/manifest/load.ts';
import { checker, NOW, seedWith } from '../fixtures/manifests/build.ts';
import { b64, claimsFor, craft, EXP, ecKeys, rawSign, TYP, trust } from '../fixtures/manifests/jws.ts';

const issuer = ecKeys();
const trustKey = trust(issuer);
const es256 = (input: string) => rawSign('ES256', issuer.privateKey, input);
const header = { alg: 'ES256', typ: TYP };
const nowSeconds = NOW / 1000;

const verify = async (
  payload: Record<string, unknown> | string,
  opts: { now?: number; audience?: string; issuer?: string } = {},
): Promise<Problem[] | 'loaded'> => {
  const r = await loadManifestJws(craft(header, payload, es256), {
    trustKey,
    audience: opts.audience ?? 'errand',
    now: opts.now ?? NOW,
    checker,
    ...(opts.issuer !== undefined ? { issuer: opts.issuer } : {}),
  });
  return r.ok ? 'loaded' : [...r.problems];
};
const refusal = (code: Problem['code'], path: string, message: string): Problem[] => [
  { code, path, line: 1, column: 1, message },
];

t.test('control: the signer-shaped claims verify, and the result says signed', async (t) => {
  const r = await loadManifestJws(craft(header, claimsFor(), es256), {
    trustKey,
    audience: 'errand',
    now: NOW,
    checker,
  });
  t.equal(r.ok, true);
  if (r.ok) {
    t.equal(r.loaded.signed, true);
    t.equal(r.loaded.expiresAtMs, EXP * 1000);
  }
});

t.test('exp: required, a number, in the future, and the manifest deadline', async (t) => {
  const { exp: _drop, ...noExp } = claimsFor();
  t.same(await verify(noExp), refusal('ERR_JWS_EXP', '/exp', 'the payload has no exp claim'));
  t.same(
    await verify(claimsFor(undefined, { exp: String(EXP) })),
    refusal(
      'ERR_JWS_EXP',
      '/exp',
      `exp is "${EXP}"; it must be a NumericDate, seconds as a JSON number (RFC 7519 §2)`,
    ),
  );
  t.same(
    await verify(claimsFor(undefined, { exp: null })),
    refusal(
      'ERR_JWS_EXP',
      '/exp',
      'exp is null; it must be a NumericDate, seconds as a JSON number (RFC 7519 §2)',
    ),
  );
  t.same(
    await verify(JSON.stringify(claimsFor()).replace(`"exp":${EXP}`, '"exp":1e400')),
    refusal(
      'ERR_JWS_EXP',
      '/exp',
      'exp is null; it must be a NumericDate, seconds as a JSON number (RFC 7519 §2)',
    ),
    'an exp that overflows to Infinity',
  );
  t.same(
    await verify(claimsFor(), { now: EXP * 1000 }),
    refusal('ERR_JWS_EXPIRED', '/exp', 'exp 2026-11-29T20:05:00.000Z has passed'),
    'at the deadline exactly: no grace on exp',
  );
  t.same(
    await verify(claimsFor(), { now: EXP * 1000 + 3_600_000 }),
    refusal('ERR_JWS_EXPIRED', '/exp', 'exp 2026-11-29T20:05:00.000Z has passed'),
  );
  t.same(
    await verify(claimsFor(undefined, { exp: EXP + 3600 })),
    refusal(
      'ERR_JWS_CLAIMS',
      '/exp',
      `exp ${EXP + 3600} is not the manifest deadline task.expiresAt 2026-11-29T20:05:00Z (${EXP})`,
    ),
    'a token that outlives its manifest',
  );
});

t.test('nbf and iat: numbers, not in the future beyond a small named skew', async (t) => {
  t.equal(CLOCK_SKEW_SECONDS, 30);
  t.equal(
    await verify(claimsFor(undefined, { nbf: nowSeconds + CLOCK_SKEW_SECONDS })),
    'loaded',
    'within skew',
  );
  t.same(
    await verify(claimsFor(undefined, { nbf: nowSeconds + CLOCK_SKEW_SECONDS + 1 })),
    refusal('ERR_JWS_NOT_YET_VALID', '/nbf', 'nbf 2026-11-29T19:00:31.000Z is in the future'),
  );
  t.same(
    await verify(claimsFor(undefined, { nbf: nowSeconds + 600 })),
    refusal('ERR_JWS_NOT_YET_VALID', '/nbf', 'nbf 2026-11-29T19:10:00.000Z is in the future'),
  );
  t.same(
    await verify(claimsFor(undefined, { nbf: 'now' })),
    refusal('ERR_JWS_CLAIMS', '/nbf', 'nbf is "now"; it must be a NumericDate'),
  );
  t.same(
    await verify(claimsFor(undefined, { iat: nowSeconds + 600 })),
    refusal('ERR_JWS_CLAIMS', '/iat', 'iat 2026-11-29T19:10:00.000Z is in the future'),
  );
  t.same(
    await verify(claimsFor(undefined, { iat: '2026-11-29' })),
    refusal('ERR_JWS_CLAIMS', '/iat', 'iat is "2026-11-29"; it must be a NumericDate'),
  );
});

t.test('duplicated claims are refused wherever they appear in the payload', async (t) => {
  const text = JSON.stringify(claimsFor());
  const rows: [string, string][] = [
    ['a second exp far in the future', text.replace('"exp":', `"exp":${EXP + 86400},"exp":`)],
    ['a second aud', text.replace('"aud":"errand"', '"aud":"other","aud":"errand"')],
    ['a second manifest, last', `${text.slice(0, -1)},"manifest":{}}`],
    [
      'a second resource inside the manifest',
      text.replace('"resource":', '"resource":"arn:aws:s3:::evil/x","resource":'),
    ],
  ];
  for (const [name, payload] of rows) {
    const r = await verify(payload);
    t.same(
      r === 'loaded' ? r : r.map((p) => [p.code, p.path, p.message.replace(/\(column \d+\)/, '(column N)')]),
      [
        [
          'ERR_JWS_DUPLICATE',
          '',
          'the JWS payload repeats a member (column N); parsers disagree on which one counts',
        ],
      ],
      name,
    );
  }
});

t.test('aud must name this Errand', async (t) => {
  t.same(
    await verify(claimsFor(), { audience: 'errand-pod-b' }),
    refusal('ERR_JWS_AUDIENCE', '/aud', 'the manifest is for "errand", not "errand-pod-b"'),
  );
  t.equal(
    await verify(claimsFor(undefined, { aud: ['other', 'errand'] })),
    'loaded',
    'a list that includes us',
  );
  const missing = 'the aud claim is missing or not a string (or list of strings)';
  const { aud: _drop, ...noAud } = claimsFor();
  t.same(await verify(noAud), refusal('ERR_JWS_AUDIENCE', '/aud', missing));
  t.same(await verify(claimsFor(undefined, { aud: [] })), refusal('ERR_JWS_AUDIENCE', '/aud', missing));
  t.same(
    await verify(claimsFor(undefined, { aud: ['errand', 7] })),
    refusal('ERR_JWS_AUDIENCE', '/aud', missing),
  );
});

t.test('iss, sub and jti have types; iss must match when an issuer is configured', async (t) => {
  t.equal(await verify(claimsFor(undefined, { iss: 'orchestrator' }), { issuer: 'orchestrator' }), 'loaded');
  t.same(
    await verify(claimsFor(undefined, { iss: 'someone-else' }), { issuer: 'orchestrator' }),
    refusal('ERR_JWS_CLAIMS', '/iss', 'iss "someone-else" is not the trusted issuer "orchestrator"'),
  );
  t.same(
    await verify(claimsFor(), { issuer: 'orchestrator' }),
    refusal('ERR_JWS_CLAIMS', '/iss', 'iss undefined is not the trusted issuer "orchestrator"'),
  );
  t.same(
    await verify(claimsFor(undefined, { iss: 5 })),
    refusal('ERR_JWS_CLAIMS', '/iss', 'iss is not a string'),
  );
  t.same(
    await verify(claimsFor(undefined, { jti: 'x'.repeat(257) })),
    refusal('ERR_JWS_CLAIMS', '/jti', 'jti must be a string of at most 256 characters'),
  );
  t.same(
    await verify(claimsFor(undefined, { scope: 'admin' })),
    refusal('ERR_JWS_CLAIMS', '/scope', 'unsupported claim(s): "scope"'),
  );
});

t.test('tid must be the manifest task id, and the manifest must be there', async (t) => {
  t.same(
    await verify(claimsFor(undefined, { tid: 'tsk_other' })),
    refusal('ERR_JWS_TASK_MISMATCH', '/tid', 'tid "tsk_other" is not the manifest task id "tsk_01JD8Q7ZK3"'),
  );
  const { tid: _drop, ...noTid } = claimsFor();
  t.same(await verify(noTid), refusal('ERR_JWS_CLAIMS', '/tid', 'the payload has no tid (task id) claim'));
  const { manifest: _m, ...noManifest } = claimsFor();
  t.same(
    await verify(noManifest),
    refusal('ERR_JWS_CLAIMS', '/manifest', 'the payload has no manifest object'),
  );
  t.same(
    await verify(claimsFor(undefined, { manifest: 'apiVersion: errand.dev/v1' })),
    refusal('ERR_JWS_CLAIMS', '/manifest', 'the payload has no manifest object'),
  );
});

t.test('the payload is strict JSON: not YAML, not an array', async (t) => {
  t.same(
    await verify('aud: errand'),
    refusal('ERR_JWS_MALFORMED', '', 'the JWS payload is not valid JSON: Unresolved plain scalar "aud"'),
  );
  t.same(await verify('[1]'), refusal('ERR_JWS_MALFORMED', '', 'the JWS payload is not a JSON object'));
  t.same(
    await verify(`{'aud': 'errand'}`),
    refusal('ERR_JWS_MALFORMED', '', 'the JWS payload is not valid JSON'),
    'single quotes: YAML accepts them, JSON does not',
  );
});

t.test(
  'a signed manifest goes through the same loader checks (wildcards the issuer must not grant)',
  async (t) => {
    const wildcard = seedWith((m) => {
      m.aws.grants[0].resource = 'arn:aws:s3:::acme-uploads/*';
      m.aws.grants[0].action = 's3:GetObjekt';
    });
    const r = await verify(claimsFor(wildcard));
    t.same(r === 'loaded' ? r : r.map(({ code, path, message, line }) => ({ code, path, message, line })), [
      {
        code: 'ERR_MANIFEST_INVALID',
        path: '/aws/grants/0/action',
        message: '"s3:GetObjekt" is not an IAM action of s3',
        line: 1,
      },
      {
        code: 'ERR_MANIFEST_INVALID',
        path: '/aws/grants/0/resource',
        message: 'resource must name exact ARNs; "arn:aws:s3:::acme-uploads/*" has a wildcard',
        line: 1,
      },
    ]);
    if (r !== 'loaded') {
      const payload = JSON.stringify(claimsFor(wildcard));
      t.equal(r[0]!.column, payload.indexOf('"s3:GetObjekt"') + 1, 'columns point into the decoded payload');
    }
    t.same(await verify(claimsFor(seedWith((m) => void Object.assign(m, { extra: true })))), [
      {
        code: 'ERR_MANIFEST_INVALID',
        path: '/extra',
        line: 1,
        column:
          JSON.stringify(claimsFor(seedWith((m) => void Object.assign(m, { extra: true })))).indexOf(
            '"extra"',
          ) + 1,
        message: 'unknown key "extra"',
        fix: 'allowed keys here: $schema, apiVersion, kind, task, aws, http',
      },
    ]);
  },
);

t.test('the hash covers the exact payload bytes', async (t) => {
  const payload = JSON.stringify(claimsFor());
  const r = await loadManifestJws(craft(header, payload, es256), {
    trustKey,
    audience: 'errand',
    now: NOW,
    checker,
  });
  const { createHash } = await import('node:crypto');
  t.equal(r.ok && r.loaded.sha256, createHash('sha256').update(payload).digest('hex'));
  t.equal(b64(payload).length > 0, true);
});
