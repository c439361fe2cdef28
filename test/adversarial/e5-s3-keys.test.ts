// E5 at the classifier: S3 keys are byte strings. The path is decoded exactly once; no dot-segment
// removal, no slash merging, no Unicode normalization, '+' is a plus. The resource is the exact key,
// and the intent keeps the raw key so the proxy forwards (and signs) the same one.

import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import fc from 'fast-check';
import t from 'tap';
import { classifyAws } from '../../src/classify/aws.ts';
import { decodeS3Key } from '../../src/classify/s3.ts';
import { awsRequest, CTX, SDK_CLIENT_CONFIG, sdkCapture } from '../helpers/classify-request.ts';

const BUCKET = 'amzn-s3-demo-bucket';

const rows: [string, string | undefined][] = [
  // [raw key in the path, the key S3 stores (undefined: refused)]
  ['data/../x', 'data/../x'],
  ['tmp/../secrets/x', 'tmp/../secrets/x'],
  ['tmp/%2e%2e/secrets/x', 'tmp/../secrets/x'],
  ['a//b', 'a//b'],
  ['/k', '/k'],
  ['./k', './k'],
  ['k.', 'k.'],
  ['..', '..'],
  ['a%2Fb', 'a/b'],
  ['a%2520b', 'a%20b'],
  ['a+b', 'a+b'],
  ['a%2Bb', 'a+b'],
  ['a%20b', 'a b'],
  ['caf%C3%A9', 'café'],
  ['cafe%CC%81', 'cafe\u0301'],
  ['a;b=c', 'a;b=c'],
  ['%F0%9F%98%80', '😀'],
  ['a%E9', undefined],
  ['a%ED%A0%80', undefined],
  ['a%00b', undefined],
  ['a%zz', undefined],
  ['a%2', undefined],
];

t.test('traversal-looking keys are literal keys', async (t) => {
  for (const [raw, key] of rows) {
    const c = classifyAws(awsRequest({ method: 'PUT', target: `/${BUCKET}/${raw}` }), CTX, undefined);
    if (key === undefined) {
      t.equal(c.ok || c.reason, 'malformed_request', `${raw} is refused`);
      if (!c.ok) t.match(c.message, /^the object key has an invalid percent-escape or is not valid UTF-8$/);
      continue;
    }
    t.same(
      c.ok && c.intent.needs,
      [{ action: 's3:PutObject', resource: `arn:aws:s3:::${BUCKET}/${key}` }],
      raw,
    );
    t.same(
      c.ok && c.intent.s3,
      { bucket: BUCKET, rawKey: raw },
      `${raw}: the raw key is kept for forwarding`,
    );
  }
});

t.test('NFC and NFD spellings are different objects', async (t) => {
  const nfc = classifyAws(awsRequest({ target: `/${BUCKET}/caf%C3%A9` }), CTX, undefined);
  const nfd = classifyAws(awsRequest({ target: `/${BUCKET}/cafe%CC%81` }), CTX, undefined);
  t.ok(nfc.ok && nfd.ok);
  t.not(nfc.ok && nfc.intent.needs[0]?.resource, nfd.ok && nfd.intent.needs[0]?.resource);
});

t.test('a dot-segment bucket is not a bucket', async (t) => {
  for (const target of ['/../k', '/./k', `/..%2F${BUCKET}/k`]) {
    const c = classifyAws(awsRequest({ target }), CTX, undefined);
    t.equal(c.ok || c.reason, 'malformed_request', target);
  }
});

t.test('property: any key, encoded by the AWS SDK, classifies to exactly that key', async (t) => {
  const capture = sdkCapture();
  const s3 = new S3Client({ ...SDK_CLIENT_CONFIG, forcePathStyle: true, requestHandler: capture.handler });
  // Keys are any Unicode text but NUL, which Errand refuses anywhere in a request.
  const keys = fc.string({ unit: 'binary', minLength: 1, maxLength: 64 }).filter((k) => !k.includes('\0'));
  await fc.assert(
    fc.asyncProperty(keys, async (key) => {
      const { request } = await capture.send(s3, new GetObjectCommand({ Bucket: BUCKET, Key: key }));
      const c = classifyAws(request, CTX, undefined);
      if (!c.ok) throw new Error(`${JSON.stringify(key)}: ${c.reason} ${c.message}`);
      const need = c.intent.needs[0]!;
      if (c.intent.operation !== 'GetObject' || c.intent.needs.length !== 1)
        throw new Error('not one GetObject');
      if (need.resource !== `arn:aws:s3:::${BUCKET}/${key}`) throw new Error(`resource ${need.resource}`);
      if (decodeS3Key(c.intent.s3?.rawKey ?? '') !== key)
        throw new Error('the raw key does not decode to the key');
    }),
    { numRuns: 300 },
  );
  t.pass('300 keys round-trip');
});

t.test('property: a PUT of any key is a PutObject of that key (SDK adds checksums)', async (t) => {
  const capture = sdkCapture();
  const s3 = new S3Client({ ...SDK_CLIENT_CONFIG, forcePathStyle: true, requestHandler: capture.handler });
  const keys = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 32 }).filter((k) => !k.includes('\0'));
  await fc.assert(
    fc.asyncProperty(keys, async (key) => {
      const { request } = await capture.send(
        s3,
        new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: 'x' }),
      );
      const c = classifyAws(request, CTX, undefined);
      if (!c.ok) throw new Error(`${JSON.stringify(key)}: ${c.reason} ${c.message}`);
      if (c.intent.needs[0]?.resource !== `arn:aws:s3:::${BUCKET}/${key}`) throw new Error('wrong resource');
    }),
    { numRuns: 100 },
  );
  t.pass('100 keys');
});
