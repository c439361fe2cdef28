// DPoP proofs (RFC 9449 §4): htu from the forwarded parts, ath, the proof's header and claims, the
// key that cannot be exported, nonces and the use_dpop_nonce challenge.
import { createHash } from 'node:crypto';
import { calculateJwkThumbprint, decodeProtectedHeader, EmbeddedJWK, exportJWK, jwtVerify } from 'jose';
import t from 'tap';
import {
  dpopAth,
  dpopChallengeParams,
  dpopHtu,
  dpopHtuOfUrl,
  generateDpopKey,
  isUseDpopNonce,
  MAX_DPOP_NONCE_LENGTH,
  readDpopNonce,
  signDpopProof,
} from '../../src/credentials/oauth/dpop.ts';

t.test(
  'htu is scheme, authority and path of the forwarded request: no query, fragment or userinfo',
  async (t) => {
    const rows: { name: string; target: Parameters<typeof dpopHtu>[0]; htu: string }[] = [
      {
        name: 'default https port elided',
        target: { scheme: 'https', host: 'api.acme.dev', port: 443, rawPath: '/v1/s' },
        htu: 'https://api.acme.dev/v1/s',
      },
      {
        name: 'other port kept',
        target: { scheme: 'https', host: 'api.acme.dev', port: 8443, rawPath: '/v1/s' },
        htu: 'https://api.acme.dev:8443/v1/s',
      },
      {
        name: 'http default port',
        target: { scheme: 'http', host: 'api.acme.dev', port: 80, rawPath: '/' },
        htu: 'http://api.acme.dev/',
      },
      {
        name: 'an empty path is /',
        target: { scheme: 'https', host: 'api.acme.dev', port: 443, rawPath: '' },
        htu: 'https://api.acme.dev/',
      },
      {
        name: 'a query that slipped into the path is cut',
        target: { scheme: 'https', host: 'api.acme.dev', port: 443, rawPath: '/a?x=1#f' },
        htu: 'https://api.acme.dev/a',
      },
      {
        name: 'IPv6 in brackets',
        target: { scheme: 'https', host: '2001:db8::1', port: 443, rawPath: '/a' },
        htu: 'https://[2001:db8::1]/a',
      },
      {
        name: 'percent-encoding as forwarded',
        target: { scheme: 'https', host: 'api.acme.dev', port: 443, rawPath: '/a%2Fb' },
        htu: 'https://api.acme.dev/a%2Fb',
      },
    ];
    for (const r of rows) t.equal(dpopHtu(r.target), r.htu, r.name);
    t.equal(
      dpopHtuOfUrl('https://user:pw@auth.acme.dev:443/token?x=1#y'),
      'https://auth.acme.dev/token',
      'from a URL',
    );
    t.equal(dpopHtuOfUrl('https://[::1]:9443/t'), 'https://[::1]:9443/t');
  },
);

t.test('ath is base64url(sha256(token))', async (t) => {
  t.equal(
    dpopAth('Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU'),
    'fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo',
    'RFC 9449 §7.1 example',
  );
  t.equal(dpopAth('abc'), createHash('sha256').update('abc').digest('base64url'));
});

t.test('a proof carries the public key only, typ dpop+jwt, and exactly the claims given', async (t) => {
  const key = await generateDpopKey();
  t.equal(key.privateKey.extractable, false, 'the private key cannot be exported');
  await t.rejects(exportJWK(key.privateKey), 'exporting it fails');
  t.same(Object.keys(key.publicJwk).sort(), ['crv', 'kty', 'x', 'y'], 'no private member in the public JWK');
  t.equal(key.thumbprint, await calculateJwkThumbprint(key.publicJwk));
  const proof = await signDpopProof(key, {
    htm: 'POST',
    htu: 'https://api.acme.dev/v1/s',
    iat: 1_790_000_000,
    jti: 'j-1',
    ath: dpopAth('tok'),
    nonce: 'n-1',
  });
  const header = decodeProtectedHeader(proof);
  t.same(header, { typ: 'dpop+jwt', alg: 'ES256', jwk: key.publicJwk });
  const { payload } = await jwtVerify(proof, EmbeddedJWK, {
    typ: 'dpop+jwt',
    currentDate: new Date(1_790_000_000_000),
  });
  t.same(payload, {
    jti: 'j-1',
    htm: 'POST',
    htu: 'https://api.acme.dev/v1/s',
    iat: 1_790_000_000,
    ath: dpopAth('tok'),
    nonce: 'n-1',
  });
  const bare = await signDpopProof(key, { htm: 'GET', htu: 'https://a.dev/', iat: 1, jti: 'j-2' });
  const { payload: p2 } = await jwtVerify(bare, EmbeddedJWK, { currentDate: new Date(1000) });
  t.same(Object.keys(p2).sort(), ['htm', 'htu', 'iat', 'jti'], 'no ath or nonce unless given');
  const other = await generateDpopKey();
  t.not(other.thumbprint, key.thumbprint, 'each task gets its own key');
});

t.test('nonces: one well-formed value or nothing', async (t) => {
  const rows: [string | string[] | undefined, string | undefined, string][] = [
    ['eyJ7S_zG.eyJH0-Z.HX4w-7v', 'eyJ7S_zG.eyJH0-Z.HX4w-7v', 'RFC 9449 example'],
    [undefined, undefined, 'absent'],
    ['', undefined, 'empty'],
    ['a b', undefined, 'a space'],
    ['a"b', undefined, 'a quote'],
    ['a\\b', undefined, 'a backslash'],
    ['n\r\nx-evil: 1', undefined, 'CRLF'],
    [['a', 'b'], undefined, 'two header fields'],
    ['x'.repeat(MAX_DPOP_NONCE_LENGTH + 1), undefined, 'too long'],
  ];
  for (const [value, want, name] of rows) t.equal(readDpopNonce(value), want, name);
});

t.test('use_dpop_nonce is recognised in a DPoP challenge only, on a 401 only', async (t) => {
  const rows: [number, string | string[] | undefined, boolean, string][] = [
    [
      401,
      'DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"',
      true,
      'RFC 9449 §9 example',
    ],
    [401, 'DPoP algs="ES256", error=use_dpop_nonce', true, 'token form'],
    [401, 'Bearer realm="x", DPoP algs="ES256 PS256", error="use_dpop_nonce"', true, 'second challenge'],
    [
      401,
      ['Bearer realm="x"', 'dpop error="use_dpop_nonce"'],
      true,
      'two header fields, scheme case-insensitive',
    ],
    [401, 'Bearer error="use_dpop_nonce"', false, 'a Bearer challenge does not count'],
    [
      401,
      'DPoP error="invalid_token", Bearer error="use_dpop_nonce"',
      false,
      'the error belongs to the other challenge',
    ],
    [401, 'DPoP error="invalid_token"', false, 'another error'],
    [400, 'DPoP error="use_dpop_nonce"', false, 'not a 401'],
    [401, undefined, false, 'no challenge'],
  ];
  for (const [status, value, want, name] of rows) t.equal(isUseDpopNonce(status, value), want, name);
  t.same(
    [...(dpopChallengeParams('DPoP realm="a\\"b", error="x"') ?? [])],
    [
      ['realm', 'a"b'],
      ['error', 'x'],
    ],
    'quoted-pair unescaped',
  );
  t.equal(dpopChallengeParams('Bearer realm="x"'), undefined, 'no DPoP challenge');
});
