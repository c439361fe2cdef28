// E11 at the credentials layer (SECURITY-CASES #63): Errand never emits a query-signed URL. The
// signer has no presign operation, refuses query-authentication parameters in what it is asked to
// sign, and puts the signature and the session's access key only in the Authorization header.

import fc from 'fast-check';
import t from 'tap';
import * as chunked from '../../src/credentials/aws-chunked.ts';
import * as sign from '../../src/credentials/sign-aws.ts';
import * as sts from '../../src/credentials/sts-sessions.ts';

const CREDENTIALS = {
  accessKeyId: 'ASIAE11CANARYKEY0001',
  secretAccessKey: 'e11CanarySecret/0123456789abcdefABCDEF',
  sessionToken: 'e11CanaryToken0123456789',
};

const base: sign.SignAwsInput = {
  method: 'GET',
  protocol: 'https:',
  hostname: 's3.us-east-1.amazonaws.com',
  path: '/acme-uploads/users/alice/report.pdf',
  query: [],
  headers: {},
  service: 's3',
  region: 'us-east-1',
  payloadHash: chunked.EMPTY_SHA256,
  credentials: CREDENTIALS,
  now: new Date('2026-11-29T20:00:00Z'),
};

t.test('no module of the credentials layer offers to presign', async (t) => {
  const names = [...Object.keys(sign), ...Object.keys(chunked), ...Object.keys(sts)];
  t.same(
    names.filter((n) => /presign|signurl|signedurl/i.test(n)),
    [],
  );
});

t.test('query authentication parameters are never signed, whatever their case', async (t) => {
  const params = [
    'X-Amz-Algorithm',
    'X-Amz-Credential',
    'X-Amz-Signature',
    'X-Amz-Security-Token',
    'X-Amz-Date',
    'X-Amz-SignedHeaders',
    'X-Amz-Expires',
    'x-amz-signature',
    'AWSAccessKeyId',
    'Signature',
  ];
  for (const p of params) {
    t.throws(() => sign.signAwsRequest({ ...base, query: [[p, 'x']] }), {
      code: 'ERR_SIGN_INPUT',
      message: new RegExp(`query parameter ${p} is query authentication`),
    });
  }
});

t.test('property: the signature, the key id and the token travel only in headers', async (t) => {
  const pairs = fc.array(
    fc.tuple(
      fc
        .string({ minLength: 1, maxLength: 12 })
        .filter((k) => !/^(x-amz-|awsaccesskeyid$|signature$)/i.test(k)),
      fc.string({ maxLength: 12 }),
    ),
    { maxLength: 5 },
  );
  fc.assert(
    fc.property(pairs, (query) => {
      const signed = sign.signAwsRequest({ ...base, query });
      const url = `${signed.path}?${signed.querystring}`;
      const signature = /Signature=([0-9a-f]{64})$/.exec(signed.headers['authorization'] ?? '')?.[1] ?? '';
      return (
        signature.length === 64 &&
        !url.includes(signature) &&
        !url.includes(CREDENTIALS.accessKeyId) &&
        !url.includes(CREDENTIALS.sessionToken) &&
        !/x-amz-(signature|credential|security-token)/i.test(url)
      );
    }),
    { numRuns: 200 },
  );
  t.pass('no signature or credential in any URL');
});

t.test('the secret never appears in what is sent', async (t) => {
  const signed = sign.signAwsRequest({ ...base, payloadHash: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD' });
  const sent = JSON.stringify({ headers: signed.headers, path: signed.path, query: signed.querystring });
  t.notOk(sent.includes(CREDENTIALS.secretAccessKey));
  t.ok(
    sent.includes(CREDENTIALS.accessKeyId),
    'the key id is in the Authorization header, as SigV4 requires',
  );
  t.equal(
    Object.keys(signed.headers)
      .filter((h) => JSON.stringify(signed.headers[h]).includes('ASIAE11'))
      .join(),
    'authorization',
  );
});
