// Signing and verifying manifests end to end, and the key formats a verifier and a signer accept.
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { decodeProtectedHeader } from 'jose';
import t from 'tap';
import { stringify } from 'yaml';
import { ErrandError } from '../../src/errors.ts';
import {
  DEFAULT_AUDIENCE,
  isCompactJws,
  JWS_TYP,
  loadManifestJws,
  MAX_JWS_CHARS,
  signManifest,
  verifyManifestJws,
} from '../../src/manifest/jws.ts';
import {
  ALLOWED_ALGORITHMS,
  algorithmsFor,
  MAX_KEY_FILE_BYTES,
  parseSigningKey,
  parseTrustKey,
  readKeyFile,
} from '../../src/manifest/keys.ts';
import { type LoadResult, loadManifestFile, loadManifestText } from '../../src/manifest/load.ts';
import { checker, EXPIRES_AT, NOW, seed, seedWith, toYaml } from '../fixtures/manifests/build.ts';
import { craft, ecKeys, edKeys, rawSign, rsaKeys, TYP, trust } from '../fixtures/manifests/jws.ts';

const loadedSeed = (): Extract<LoadResult, { ok: true }> => {
  const r = loadManifestText(toYaml(seed()), { now: NOW, checker });
  if (!r.ok) throw new Error('seed must load');
  return r;
};
const payloadOf = (jws: string) => JSON.parse(Buffer.from(jws.split('.')[1]!, 'base64url').toString('utf8'));

t.test('sign → verify round trips for every allowed algorithm', async (t) => {
  const rows = [
    { name: 'ES256 (P-256)', keys: ecKeys('P-256'), alg: 'ES256' },
    { name: 'ES384 (P-384)', keys: ecKeys('P-384'), alg: 'ES384' },
    { name: 'EdDSA (Ed25519)', keys: edKeys(), alg: 'EdDSA' },
    { name: 'PS256 (RSA 2048)', keys: rsaKeys(), alg: 'PS256' },
    { name: 'RS256 (RSA 2048)', keys: rsaKeys(), alg: 'RS256' },
  ] as const;
  const loaded = loadedSeed();
  for (const row of rows) {
    const key = parseSigningKey(row.keys.privatePem);
    const jws = await signManifest(loaded, { key, now: NOW, alg: row.alg });
    t.same(decodeProtectedHeader(jws), { alg: row.alg, typ: JWS_TYP }, `${row.name}: header`);
    const verified = await verifyManifestJws(jws, {
      trustKey: trust(row.keys),
      audience: 'errand',
      now: NOW,
      checker,
    });
    t.same(verified.manifest, loaded.loaded.manifest, `${row.name}: same manifest`);
    t.equal(verified.signed, true);
    t.not(verified.sha256, loaded.loaded.sha256, 'the hash is over the payload, not the YAML');
  }
});

t.test('the signer writes the documented claims', async (t) => {
  const keys = ecKeys();
  const key = { ...parseSigningKey(keys.privatePem), kid: 'orch-1' };
  const withSchema = loadManifestText(
    toYaml(seedWith((m) => void Object.assign(m, { $schema: '../schema/manifest.schema.json' }))),
    { now: NOW, checker },
  );
  if (!withSchema.ok) return t.fail('must load');
  const jws = await signManifest(withSchema, {
    key,
    now: NOW,
    audience: 'errand-pod-7',
    issuer: 'orchestrator',
    jti: 'j-1',
    notBefore: NOW,
  });
  t.same(decodeProtectedHeader(jws), { alg: 'ES256', typ: JWS_TYP, kid: 'orch-1' });
  t.same(payloadOf(jws), {
    iss: 'orchestrator',
    aud: 'errand-pod-7',
    iat: NOW / 1000,
    nbf: NOW / 1000,
    exp: Date.parse(EXPIRES_AT) / 1000,
    jti: 'j-1',
    tid: 'tsk_01JD8Q7ZK3',
    manifest: seed(),
  });
  t.equal(DEFAULT_AUDIENCE, 'errand');
  const plain = await signManifest(loadedSeed(), { key: parseSigningKey(keys.privatePem), now: NOW });
  t.same(Object.keys(payloadOf(plain)), ['aud', 'iat', 'exp', 'tid', 'manifest']);
  t.equal(payloadOf(plain).aud, 'errand');
  const jwksTrust = parseTrustKey(
    JSON.stringify({ keys: [{ ...keys.publicKey.export({ format: 'jwk' }), kid: 'orch-1' }] }),
  );
  const ok = await loadManifestJws(jws, {
    trustKey: jwksTrust,
    audience: 'errand-pod-7',
    issuer: 'orchestrator',
    now: NOW,
    checker,
  });
  t.equal(ok.ok, true);
});

t.test('the signer refuses an algorithm its key cannot make', async (t) => {
  const key = parseSigningKey(ecKeys().privatePem);
  await t.rejects(
    signManifest(loadedSeed(), { key, now: NOW, alg: 'EdDSA' }),
    new ErrandError('ERR_JWS_KEY', 'alg EdDSA does not fit this key (it signs ES256)'),
  );
});

t.test('verifyManifestJws throws one ErrandError listing every manifest problem', async (t) => {
  const keys = ecKeys();
  const bad = seedWith((m) => {
    m.aws.grants[0].action = 's3:GetObjekt';
    m.http.grants[0].method = 'TRACE';
  });
  const claims = { aud: 'errand', exp: Date.parse(EXPIRES_AT) / 1000, tid: bad.task.id, manifest: bad };
  const jws = craft({ alg: 'ES256', typ: TYP }, claims, (i) => rawSign('ES256', keys.privateKey, i));
  await t.rejects(
    verifyManifestJws(jws, { trustKey: trust(keys), audience: 'errand', now: NOW, checker }),
    new ErrandError(
      'ERR_MANIFEST_INVALID',
      '/aws/grants/0/action: "s3:GetObjekt" is not an IAM action of s3; /http/grants/0/method: TRACE echoes the request, including injected secrets, back to the agent',
    ),
  );
});

t.test('trust keys: PEM, JWK and JWK Set, with algorithms pinned by the key', async (t) => {
  const ec = ecKeys();
  const ed = edKeys();
  const rsa = rsaKeys();
  t.same(parseTrustKey(ec.publicPem).keys[0]!.algorithms, ['ES256']);
  t.same(parseTrustKey(`\n${ed.publicPem}\n`).keys[0]!.algorithms, ['EdDSA']);
  t.same(parseTrustKey(rsa.publicPem).keys[0]!.algorithms, ['PS256', 'RS256']);
  const rsaJwk = {
    ...rsa.publicKey.export({ format: 'jwk' }),
    alg: 'PS256',
    use: 'sig',
    key_ops: ['verify'],
  };
  t.same(parseTrustKey(JSON.stringify(rsaJwk)).keys[0]!.algorithms, ['PS256'], 'a JWK alg narrows the key');
  const set = parseTrustKey(
    JSON.stringify({
      keys: [
        { ...ec.publicKey.export({ format: 'jwk' }), kid: 'a' },
        { ...ed.publicKey.export({ format: 'jwk' }), kid: 'b' },
      ],
    }),
  );
  t.same(
    set.keys.map((k) => [k.kid, k.algorithms]),
    [
      ['a', ['ES256']],
      ['b', ['EdDSA']],
    ],
  );
  t.same(ALLOWED_ALGORITHMS, ['ES256', 'ES384', 'EdDSA', 'PS256', 'RS256']);
  const refusals: [string, string, string][] = [
    ['garbage', 'hello', 'a trust key is a PEM public key, a JWK or a JWK Set'],
    [
      'a certificate',
      '-----BEGIN CERTIFICATE-----\nMII=\n-----END CERTIFICATE-----',
      'a PEM trust key must be a PUBLIC KEY (SPKI)',
    ],
    [
      'a broken PEM',
      '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----',
      'the PEM public key cannot be read',
    ],
    ['a JSON list', '[1]', 'a trust key is a PEM public key, a JWK or a JWK Set'],
    ['an empty set', '{"keys": []}', 'the JWK Set has no keys'],
    ['a set of 17', JSON.stringify({ keys: Array(17).fill({}) }), 'the JWK Set has more than 16 keys'],
    ['a set member that is not an object', '{"keys": [1]}', 'key 0 of the JWK Set is not an object'],
    [
      'two keys without kids',
      JSON.stringify({
        keys: [ec.publicKey.export({ format: 'jwk' }), ed.publicKey.export({ format: 'jwk' })],
      }),
      'every key of a JWK Set with several keys needs a kid',
    ],
    [
      'two keys with one kid',
      JSON.stringify({
        keys: [
          { ...ec.publicKey.export({ format: 'jwk' }), kid: 'a' },
          { ...ed.publicKey.export({ format: 'jwk' }), kid: 'a' },
        ],
      }),
      'two keys of the JWK Set share a kid',
    ],
    [
      'a JWK for encryption',
      JSON.stringify({ ...ec.publicKey.export({ format: 'jwk' }), use: 'enc' }),
      'the JWK: the JWK use is not "sig"',
    ],
    [
      'a JWK without verify in key_ops',
      JSON.stringify({ ...ec.publicKey.export({ format: 'jwk' }), key_ops: ['sign'] }),
      'the JWK: the JWK key_ops does not include "verify"',
    ],
    [
      'a JWK with a numeric kid',
      JSON.stringify({ ...ec.publicKey.export({ format: 'jwk' }), kid: 7 }),
      'the JWK: the JWK kid is not a string',
    ],
    [
      'a JWK with bad material',
      '{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}',
      'the JWK: the JWK cannot be imported',
    ],
    [
      'a JWK with duplicate members',
      '{"kty": "EC", "kty": "oct"}',
      'the trust key is not valid JSON: duplicate key',
    ],
  ];
  for (const [name, text, detail] of refusals) {
    const error = (() => {
      try {
        parseTrustKey(text);
        return undefined;
      } catch (e) {
        return e as ErrandError;
      }
    })();
    t.equal(error?.code, 'ERR_JWS_KEY', name);
    t.match(error?.message ?? '', `the trusted key cannot be used: ${detail}`, name);
  }
});

t.test('signing keys: PEM or private JWK; never a public key, an encrypted PEM or a key set', async (t) => {
  const ec = ecKeys();
  const jwk = { ...ec.privateKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256' };
  t.same(parseSigningKey(JSON.stringify(jwk)).kid, 'k1');
  t.same(parseSigningKey(ec.privatePem).algorithms, ['ES256']);
  const refusals: [string, string, string][] = [
    ['a public PEM', ec.publicPem, 'a signing key must be a PEM PRIVATE KEY'],
    [
      'an encrypted PEM',
      '-----BEGIN ENCRYPTED PRIVATE KEY-----\nAA==\n-----END ENCRYPTED PRIVATE KEY-----',
      'encrypted private keys are not supported; decrypt it into a protected location first',
    ],
    [
      'a broken PEM',
      '-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----',
      'the PEM private key cannot be read',
    ],
    [
      'a public JWK',
      JSON.stringify(ec.publicKey.export({ format: 'jwk' })),
      'the JWK: this JWK holds no private key (no "d")',
    ],
    ['a JWK Set', JSON.stringify({ keys: [jwk] }), 'a signing key must be a single JWK object'],
    ['garbage', 'secret', 'a signing key is a PEM private key or a private JWK'],
    ['broken JSON', '{"d": "sec', 'the signing key is not valid JSON'],
  ];
  for (const [name, text, detail] of refusals) {
    t.throws(() => parseSigningKey(text), { code: 'ERR_JWS_KEY' }, name);
    try {
      parseSigningKey(text);
    } catch (e) {
      t.match((e as Error).message, `the trusted key cannot be used: ${detail}`, name);
      t.notMatch((e as Error).message, /sec$|"d"\s*:/, `${name}: no key material in the message`);
    }
  }
  t.throws(
    () => algorithmsFor(generateKeyPairSync('x25519').publicKey),
    new ErrandError(
      'ERR_JWS_KEY',
      'key type x25519 is not accepted; use EC P-256/P-384, Ed25519 or RSA >= 2048 bits',
    ),
    'a key-agreement key never verifies',
  );
});

t.test('key files: read with a size bound, errors name the OS reason only', async (t) => {
  const dir = t.testdir({ 'big.pem': 'x'.repeat(MAX_KEY_FILE_BYTES + 1), 'ok.pem': 'x' });
  await t.rejects(readKeyFile(`${dir}/big.pem`), {
    code: 'ERR_JWS_KEY',
    message: `the trusted key cannot be used: the key file is larger than ${MAX_KEY_FILE_BYTES} bytes`,
  });
  await t.rejects(readKeyFile(`${dir}/none.pem`), {
    code: 'ERR_JWS_KEY',
    message: 'the trusted key cannot be used: cannot read the key file (ENOENT)',
  });
  t.equal(await readKeyFile(`${dir}/ok.pem`), 'x');
});

t.test('with several trusted keys, the JWS must say which with kid', async (t) => {
  const a = ecKeys();
  const b = ecKeys();
  const set = parseTrustKey(
    JSON.stringify({
      keys: [
        { ...a.publicKey.export({ format: 'jwk' }), kid: 'a' },
        { ...b.publicKey.export({ format: 'jwk' }), kid: 'b' },
      ],
    }),
  );
  const claims = {
    aud: 'errand',
    exp: Date.parse(EXPIRES_AT) / 1000,
    tid: 'tsk_01JD8Q7ZK3',
    manifest: seed(),
  };
  const byB = (i: string) => rawSign('ES256', b.privateKey, i);
  const r = await loadManifestJws(craft({ alg: 'ES256', typ: TYP }, claims, byB), {
    trustKey: set,
    audience: 'errand',
    now: NOW,
    checker,
  });
  t.same(r.ok ? [] : r.problems.map((p) => [p.code, p.message, p.fix]), [
    ['ERR_JWS_KEY', 'the JWS has no kid and 2 keys are trusted', 'sign with a kid'],
  ]);
  const ok = await loadManifestJws(craft({ alg: 'ES256', typ: TYP, kid: 'b' }, claims, byB), {
    trustKey: set,
    audience: 'errand',
    now: NOW,
    checker,
  });
  t.equal(ok.ok, true);
  const wrong = await loadManifestJws(craft({ alg: 'ES256', typ: TYP, kid: 'a' }, claims, byB), {
    trustKey: set,
    audience: 'errand',
    now: NOW,
    checker,
  });
  t.same(wrong.ok ? [] : wrong.problems.map((p) => p.code), ['ERR_JWS_SIGNATURE']);
});

t.test('compact JWS detection and size bound', async (t) => {
  t.equal(isCompactJws('eyJh.eyJ4.c2ln\n'), true);
  t.equal(
    isCompactJws('eyJh.eyJ4.'),
    true,
    'an empty signature still looks like a JWS (so alg none is reported)',
  );
  t.equal(isCompactJws(toYaml(seed())), false);
  t.equal(isCompactJws('{"a": 1}'), false);
  t.equal(isCompactJws(`a.${'b'.repeat(MAX_JWS_CHARS)}.c`), false);
  const r = await loadManifestJws(`a.${'b'.repeat(MAX_JWS_CHARS)}.c`, {
    trustKey: trust(ecKeys()),
    audience: 'errand',
    now: NOW,
    checker,
  });
  t.same(r.ok ? [] : r.problems.map((p) => [p.code, p.message]), [
    ['ERR_MANIFEST_TOO_LARGE', `the JWS is ${MAX_JWS_CHARS + 4} characters; the limit is ${MAX_JWS_CHARS}`],
  ]);
});

t.test('an oversized payload under a valid signature is refused by size', async (t) => {
  const keys = ecKeys();
  const text = `{"pad":"${'x'.repeat(257 * 1024)}"}`;
  const r = await loadManifestJws(
    craft({ alg: 'ES256', typ: TYP }, text, (i) => rawSign('ES256', keys.privateKey, i)),
    {
      trustKey: trust(keys),
      audience: 'errand',
      now: NOW,
      checker,
    },
  );
  t.same(r.ok ? [] : r.problems.map((p) => [p.code, p.message]), [
    [
      'ERR_MANIFEST_TOO_LARGE',
      'the JWS payload is not valid JSON: the source is 263178 bytes; the limit is 262144',
    ],
  ]);
});

t.test('loadManifestFile verifies a JWS file with a key object or a key file path', async (t) => {
  const keys = edKeys();
  const jws = await signManifest(loadedSeed(), { key: parseSigningKey(keys.privatePem), now: NOW });
  const dir = t.testdir({ 'm.jws': `${jws}\n`, 'issuer.pub': keys.publicPem, 'm.yaml': stringify(seed()) });
  const byObject = await loadManifestFile(`${dir}/m.jws`, { now: NOW, trustKey: trust(keys), checker });
  t.equal(byObject.ok && byObject.loaded.signed, true);
  const byPath = await loadManifestFile(`${dir}/m.jws`, { now: NOW, trustKey: `${dir}/issuer.pub`, checker });
  t.equal(byPath.ok && byPath.loaded.signed, true);
  const otherAudience = await loadManifestFile(`${dir}/m.jws`, {
    now: NOW,
    trustKey: trust(keys),
    audience: 'elsewhere',
    checker,
  });
  t.same(otherAudience.ok ? [] : otherAudience.problems.map((p) => p.code), ['ERR_JWS_AUDIENCE']);
  const badKeyFile = `${dir}/bad.pub`;
  writeFileSync(badKeyFile, 'not a key');
  const unusable = await loadManifestFile(`${dir}/m.jws`, { now: NOW, trustKey: badKeyFile, checker });
  t.same(unusable.ok ? [] : unusable.problems.map((p) => [p.code, p.message]), [
    ['ERR_JWS_KEY', 'the trusted key cannot be used: a trust key is a PEM public key, a JWK or a JWK Set'],
  ]);
  const unsigned = await loadManifestFile(`${dir}/m.yaml`, { now: NOW, trustKey: trust(keys), checker });
  t.equal(unsigned.ok && unsigned.loaded.signed, false, 'a YAML file stays unsigned; the caller decides');
});
