// H1: unsigned / alg:none / algorithm confusion (SECURITY-CASES #82; jsonwebtoken CVE-2022-23540,
// CVE-2022-23541, GHSA-c7hr-j4mj-j2w6; RFC 8725 §2.1, §3.1, §3.11). The trusted key pins the
// algorithm; whatever the header claims, any deviation is a refusal with its own code.
import { createPublicKey } from 'node:crypto';
import t from 'tap';
import { ErrandError } from '../../src/errors.ts';
import { loadManifestJws, verifyManifestJws } from '../../src/manifest/jws.ts';
import { parseTrustKey } from '../../src/manifest/keys.ts';
import type { Problem } from '../../src/manifest/load.ts';
import { checker, NOW, seedWith } from '../fixtures/manifests/build.ts';
import {
  b64,
  claimsFor,
  craft,
  ecKeys,
  edKeys,
  rawSign,
  rsaKeys,
  TYP,
  trust,
} from '../fixtures/manifests/jws.ts';

const issuer = ecKeys();
const attacker = ecKeys();
const trustKey = trust(issuer);
const es256 = (input: string) => rawSign('ES256', issuer.privateKey, input);
const claims = claimsFor();

const verify = async (jws: string, key = trustKey): Promise<Problem[] | 'loaded'> => {
  const r = await loadManifestJws(jws, { trustKey: key, audience: 'errand', now: NOW, checker });
  return r.ok ? 'loaded' : [...r.problems];
};
const refusal = (code: Problem['code'], message: string, fix?: string): Problem[] => [
  { code, path: '', line: 1, column: 1, message, ...(fix !== undefined ? { fix } : {}) },
];
const SIGNATURE = refusal('ERR_JWS_SIGNATURE', 'the signature does not verify with the trusted key');
const USE_ALLOWED = 'sign with one of ES256, ES384, EdDSA, PS256, RS256';

t.test('control: the issuer-signed token verifies', async (t) => {
  t.equal(await verify(craft({ alg: 'ES256', typ: TYP }, claims, es256)), 'loaded');
});

t.test(
  'alg none in any spelling, with or without a signature, is refused before any key is used',
  async (t) => {
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      const message = `alg "${alg}" means unsigned; a manifest must be signed`;
      t.same(
        await verify(craft({ alg, typ: TYP }, claims, 'unsigned')),
        refusal('ERR_JWS_ALG_NOT_ALLOWED', message),
        alg,
      );
      t.same(
        await verify(craft({ alg, typ: TYP }, claims, es256)),
        refusal('ERR_JWS_ALG_NOT_ALLOWED', message),
        `${alg} with a signature attached`,
      );
    }
    t.same(
      await verify(craft({ typ: TYP }, claims, 'unsigned')),
      refusal('ERR_JWS_ALG_NOT_ALLOWED', 'the JWS header has no alg'),
      'no alg at all',
    );
    await t.rejects(
      verifyManifestJws(craft({ alg: 'none', typ: TYP }, claims, 'unsigned'), {
        trustKey,
        audience: 'errand',
        now: NOW,
        checker,
      }),
      new ErrandError('ERR_JWS_ALG_NOT_ALLOWED', 'alg "none" means unsigned; a manifest must be signed'),
    );
  },
);

t.test('HS256 signed with the issuer public key as the HMAC secret (key confusion) is refused', async (t) => {
  const secrets: [string, string | Uint8Array][] = [
    ['the PEM text', issuer.publicPem],
    ['the DER bytes', issuer.publicKey.export({ type: 'spki', format: 'der' })],
    ['the JWK JSON', JSON.stringify(issuer.publicKey.export({ format: 'jwk' }))],
  ];
  for (const alg of ['HS256', 'HS384', 'HS512', 'hs256']) {
    for (const [name, secret] of secrets) {
      const jws = craft({ alg, typ: TYP }, claims, (input) => rawSign('HS256', secret, input));
      t.same(
        await verify(jws),
        refusal(
          'ERR_JWS_ALG_NOT_ALLOWED',
          `alg "${alg}" (HMAC) is refused: a public key must never serve as a shared secret`,
          USE_ALLOWED,
        ),
        `${alg} keyed with ${name}`,
      );
    }
  }
});

t.test('a symmetric trust key is refused outright, so HMAC can never be configured', async (t) => {
  t.throws(
    () => parseTrustKey(JSON.stringify({ kty: 'oct', k: b64('issuer-public-key') })),
    new ErrandError(
      'ERR_JWS_KEY',
      'the JWK: symmetric (oct) keys are refused: a shared secret lets every verifier sign too',
    ),
  );
});

t.test(
  'an algorithm that does not fit the trusted key is refused, even when it is on the list',
  async (t) => {
    const rsa = rsaKeys();
    const rows: [string, string, (input: string) => Buffer][] = [
      ['ES384 against a P-256 key', 'ES384', (i) => rawSign('ES384', ecKeys('P-384').privateKey, i)],
      ['RS256 against a P-256 key', 'RS256', (i) => rawSign('RS256', rsa.privateKey, i)],
      ['EdDSA against a P-256 key', 'EdDSA', (i) => rawSign('EdDSA', edKeys().privateKey, i)],
    ];
    for (const [name, alg, signer] of rows) {
      t.same(
        await verify(craft({ alg, typ: TYP }, claims, signer)),
        refusal(
          'ERR_JWS_ALG_NOT_ALLOWED',
          `alg ${alg} does not fit the trusted key, which verifies only ES256`,
        ),
        name,
      );
    }
    t.same(
      await verify(craft({ alg: 'ES256K', typ: TYP }, claims, es256)),
      refusal('ERR_JWS_ALG_NOT_ALLOWED', 'alg "ES256K" is not allowed', USE_ALLOWED),
    );
    t.same(
      await verify(
        craft({ alg: 'PS256', typ: TYP }, claims, (i) => rawSign('RS256', rsa.privateKey, i)),
        trust(rsa),
      ),
      SIGNATURE,
      'an RS256 signature presented as PS256 does not verify',
    );
  },
);

t.test('a valid signature over another payload, and a signature by another key, do not verify', async (t) => {
  const mine = craft({ alg: 'ES256', typ: TYP }, claims, es256);
  const wider = seedWith((m) => {
    m.aws.grants[0].uses = 'unlimited';
  });
  const other = craft({ alg: 'ES256', typ: TYP }, claimsFor(wider), es256);
  const [header, , signature] = mine.split('.');
  const [, payload] = other.split('.');
  t.same(
    await verify(`${header}.${payload}.${signature}`),
    SIGNATURE,
    'payload swapped under a valid signature',
  );
  t.same(
    await verify(
      craft({ alg: 'ES256', typ: TYP }, claimsFor(wider), (i) => rawSign('ES256', attacker.privateKey, i)),
    ),
    SIGNATURE,
    'signed by a key nobody trusts',
  );
  t.same(await verify(`${header}.${payload}.`), SIGNATURE, 'signature stripped');
});

t.test(
  'embedded keys and key locations in the header are refused, even when they sign correctly',
  async (t) => {
    const attackerJwk = attacker.publicKey.export({ format: 'jwk' });
    const bySelf = (i: string) => rawSign('ES256', attacker.privateKey, i);
    const fix = 'remove the key headers; identify the key with kid';
    const rows: [string, Record<string, unknown>][] = [
      ['jwk', { jwk: attackerJwk }],
      ['jku', { jku: 'https://attacker.test/jwks.json' }],
      ['x5u', { x5u: 'https://attacker.test/cert.pem' }],
      ['x5c', { x5c: ['MIIB...'] }],
      ['x5t', { x5t: 'abc' }],
    ];
    for (const [name, extra] of rows) {
      t.same(
        await verify(craft({ alg: 'ES256', typ: TYP, ...extra }, claims, bySelf)),
        refusal(
          'ERR_JWS_EMBEDDED_KEY',
          `the JWS header carries ${name}; only the configured trust key may verify a manifest`,
          fix,
        ),
        name,
      );
    }
    t.same(
      await verify(
        craft({ alg: 'ES256', typ: TYP, jwk: issuer.publicKey.export({ format: 'jwk' }) }, claims, es256),
      ),
      refusal(
        'ERR_JWS_EMBEDDED_KEY',
        'the JWS header carries jwk; only the configured trust key may verify a manifest',
        fix,
      ),
      'even the issuer key itself, embedded',
    );
  },
);

t.test('unknown critical extensions are refused (RFC 7515 §4.1.11)', async (t) => {
  t.same(
    await verify(craft({ alg: 'ES256', typ: TYP, crit: ['b64'], b64: false }, claims, es256)),
    refusal(
      'ERR_JWS_CRIT',
      'the JWS marks ["b64"] critical; Errand understands no JWS extensions (RFC 7515 §4.1.11)',
    ),
  );
  t.same(
    await verify(craft({ alg: 'ES256', typ: TYP, crit: ['exp'] }, claims, es256)),
    refusal(
      'ERR_JWS_CRIT',
      'the JWS marks ["exp"] critical; Errand understands no JWS extensions (RFC 7515 §4.1.11)',
    ),
  );
});

t.test('kid is only ever a label among configured keys, never a path', async (t) => {
  const traversal = '../../../../dev/null';
  t.same(
    await verify(
      craft({ alg: 'ES256', typ: TYP, kid: traversal }, claims, (i) =>
        rawSign('ES256', attacker.privateKey, i),
      ),
    ),
    SIGNATURE,
    'with one key configured, a kid changes nothing: the signature must still verify',
  );
  const jwk = { ...issuer.publicKey.export({ format: 'jwk' }), kid: 'orchestrator-2026' };
  const set = parseTrustKey(JSON.stringify({ keys: [jwk] }));
  t.same(
    await verify(craft({ alg: 'ES256', typ: TYP, kid: traversal }, claims, es256), set),
    refusal('ERR_JWS_KEY', 'no trusted key has kid "../../../../dev/null"'),
  );
  t.equal(
    await verify(craft({ alg: 'ES256', typ: TYP, kid: 'orchestrator-2026' }, claims, es256), set),
    'loaded',
  );
  t.same(
    await verify(craft({ alg: 'ES256', typ: TYP, kid: 'a\nb' }, claims, es256), set),
    refusal('ERR_JWS_MALFORMED', 'the JWS kid must be 1-256 printable ASCII characters'),
  );
});

t.test('the token must be explicitly typed as an Errand manifest (RFC 8725 §3.11)', async (t) => {
  const fix = `sign with typ: ${TYP}`;
  t.same(
    await verify(craft({ alg: 'ES256', typ: 'JWT' }, claims, es256)),
    refusal('ERR_JWS_TYP', 'typ "JWT" is not errand-manifest+jwt', fix),
  );
  t.same(
    await verify(craft({ alg: 'ES256' }, claims, es256)),
    refusal('ERR_JWS_TYP', 'the JWS header has no typ', fix),
  );
  t.same(
    await verify(craft({ alg: 'ES256', typ: 'at+jwt' }, claims, es256)),
    refusal('ERR_JWS_TYP', 'typ "at+jwt" is not errand-manifest+jwt', fix),
    'an access token is not a manifest',
  );
  for (const typ of ['application/errand-manifest+jwt', 'Errand-Manifest+JWT']) {
    t.equal(await verify(craft({ alg: 'ES256', typ }, claims, es256)), 'loaded', `${typ} (RFC 7515 §4.1.9)`);
  }
});

t.test('the header is parsed strictly: duplicates, unknown parameters, non-JSON', async (t) => {
  const rawHeader = (json: string, payload = claims) => {
    const input = `${b64(json)}.${b64(JSON.stringify(payload))}`;
    return `${input}.${b64(es256(input))}`;
  };
  t.same(
    await verify(rawHeader(`{"alg":"ES256","typ":"${TYP}","alg":"none"}`)),
    refusal(
      'ERR_JWS_DUPLICATE',
      'the JWS header repeats a member (column 44); parsers disagree on which one counts',
    ),
  );
  t.same(
    await verify(craft({ alg: 'ES256', typ: TYP, cty: 'JWT' }, claims, es256)),
    refusal('ERR_JWS_MALFORMED', 'unsupported JWS header parameter(s): "cty"'),
  );
  t.same(
    await verify(rawHeader('alg: ES256')),
    refusal('ERR_JWS_MALFORMED', 'the JWS header is not valid JSON: Unresolved plain scalar "alg"'),
  );
  t.same(
    await verify(rawHeader('["ES256"]')),
    refusal('ERR_JWS_MALFORMED', 'the JWS header is not a JSON object'),
  );
  t.same(
    await verify(`${b64(JSON.stringify({ alg: 'ES256', typ: TYP }))}=.e30.sig`),
    refusal(
      'ERR_JWS_MALFORMED',
      'expected three base64url parts separated by dots (header.payload.signature)',
    ),
  );
  t.same(
    await verify(`${b64(Buffer.from([0xff, 0xfe]))}.e30.c2ln`),
    refusal('ERR_JWS_MALFORMED', 'the JWS header is not UTF-8'),
  );
  t.same(
    await verify('eyJhbGciOiJFUzI1NiJ9B.e30.c2ln'),
    refusal('ERR_JWS_MALFORMED', 'the JWS header is not canonical base64url'),
    'trailing bits that decode to the same bytes',
  );
});

t.test('a trust key that could enable confusion is refused when configured', async (t) => {
  const rows: [string, string, string][] = [
    [
      'a private key PEM',
      issuer.privatePem,
      'this PEM holds a private key; give the verifier only the public key',
    ],
    [
      'a private JWK',
      JSON.stringify(issuer.privateKey.export({ format: 'jwk' })),
      'the JWK: this JWK holds a private key; give the verifier only the public key',
    ],
    ['RSA 1024', rsaKeys(1024).publicPem, 'RSA key of 1024 bits; at least 2048 are required'],
    ['secp256k1', ecKeys('secp256k1').publicPem, 'EC curve secp256k1 is not accepted; use P-256 or P-384'],
    [
      'a JWK whose alg does not fit the key',
      JSON.stringify({ ...issuer.publicKey.export({ format: 'jwk' }), alg: 'HS256' }),
      'the JWK alg "HS256" does not fit the key (allowed: ES256)',
    ],
  ];
  for (const [name, text, detail] of rows) {
    t.throws(() => parseTrustKey(text), new ErrandError('ERR_JWS_KEY', detail), name);
  }
  t.same(createPublicKey(issuer.publicPem).asymmetricKeyType, 'ec');
});
