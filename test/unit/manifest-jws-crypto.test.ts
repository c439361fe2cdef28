// JWS signatures with node:crypto against an independent implementation (jose), for every pinned
// algorithm: what Errand signs, jose verifies; what jose signs, Errand verifies; a changed byte, a
// signature of the wrong size and a second encoding of a valid signature are refused.

import { CompactSign, compactVerify } from 'jose';
import t from 'tap';
import { loadManifestJws, signManifest } from '../../src/manifest/jws.ts';
import { signJws, verifyJwsSignature } from '../../src/manifest/jws-crypto.ts';
import { type JwsAlgorithm, parseSigningKey } from '../../src/manifest/keys.ts';
import { loadManifestText } from '../../src/manifest/load.ts';
import { checker, NOW, seed, toYaml } from '../fixtures/manifests/build.ts';
import { ecKeys, edKeys, rsaKeys, trust } from '../fixtures/manifests/jws.ts';

const rows: { alg: JwsAlgorithm; keys: ReturnType<typeof ecKeys> }[] = [
  { alg: 'ES256', keys: ecKeys('P-256') },
  { alg: 'ES384', keys: ecKeys('P-384') },
  { alg: 'EdDSA', keys: edKeys() },
  { alg: 'PS256', keys: rsaKeys() },
  { alg: 'RS256', keys: rsaKeys() },
];

const b64 = (text: string) => Buffer.from(text).toString('base64url');

t.test('node:crypto signatures interoperate with jose for every pinned algorithm', async (t) => {
  for (const { alg, keys } of rows) {
    const input = `${b64(JSON.stringify({ alg }))}.${b64('{"a":1}')}`;
    const ours = signJws(alg, keys.privateKey, input);
    const verified = await compactVerify(`${input}.${ours.toString('base64url')}`, keys.publicKey, {
      algorithms: [alg],
    });
    t.equal(new TextDecoder().decode(verified.payload), '{"a":1}', `${alg}: jose verifies what Errand signs`);

    const theirs = await new CompactSign(new TextEncoder().encode('{"b":2}'))
      .setProtectedHeader({ alg })
      .sign(keys.privateKey);
    const [h, p, s] = theirs.split('.') as [string, string, string];
    t.equal(
      verifyJwsSignature(alg, keys.publicKey, `${h}.${p}`, Buffer.from(s, 'base64url')),
      true,
      `${alg}: Errand verifies what jose signs`,
    );

    const flipped = Buffer.from(ours);
    flipped[flipped.length - 1]! ^= 1;
    t.equal(verifyJwsSignature(alg, keys.publicKey, input, flipped), false, `${alg}: a changed signature`);
    t.equal(verifyJwsSignature(alg, keys.publicKey, `${input}x`, ours), false, `${alg}: a changed input`);
    t.equal(
      verifyJwsSignature(alg, keys.publicKey, input, ours.subarray(1)),
      false,
      `${alg}: a short signature`,
    );
    t.equal(verifyJwsSignature(alg, keys.publicKey, input, new Uint8Array()), false, `${alg}: no signature`);
  }
});

t.test('a key of another type verifies nothing (selectKey never lets one through)', async (t) => {
  const ed = edKeys();
  const input = `${b64('{}')}.${b64('{}')}`;
  const signature = signJws('EdDSA', ed.privateKey, input);
  t.equal(verifyJwsSignature('EdDSA', ed.publicKey, input, signature), true, 'its own scheme');
  t.equal(verifyJwsSignature('ES256', ed.publicKey, input, signature), false, 'an ECDSA scheme');
  t.equal(verifyJwsSignature('RS256', ed.publicKey, input, signature), false, 'an RSA scheme');
});

t.test('a second encoding of a valid signature is refused', async (t) => {
  const loaded = loadManifestText(toYaml(seed()), { now: NOW, checker });
  if (!loaded.ok) return t.fail('the seed must load');
  const keys = edKeys();
  const jws = await signManifest(loaded, { key: parseSigningKey(keys.privatePem), now: NOW });
  const opts = { trustKey: trust(keys), audience: 'errand', now: NOW, checker };
  t.equal((await loadManifestJws(jws, opts)).ok, true, 'as signed');
  // An Ed25519 signature is 64 bytes: its last base64url character carries 4 unused bits, which a
  // lenient decoder ignores. Setting one gives a different text for the same bytes.
  const last = jws.at(-1)!;
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const twin = `${jws.slice(0, -1)}${alphabet[alphabet.indexOf(last) | 1]}`;
  t.same(Buffer.from(twin.split('.')[2]!, 'base64url'), Buffer.from(jws.split('.')[2]!, 'base64url'));
  const r = await loadManifestJws(twin, opts);
  t.same(r.ok ? [] : r.problems.map((p) => [p.code, p.message]), [
    ['ERR_JWS_SIGNATURE', 'the signature does not verify with the trusted key'],
  ]);
});
