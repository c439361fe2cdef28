import { createHash } from 'node:crypto';
import fc from 'fast-check';
import t from 'tap';
import { EMPTY_SHA256 } from '../../src/credentials/aws-chunked.ts';
import {
  amzDateOf,
  awsEncodePathSegment,
  awsEncodeQuery,
  awsEncodeS3Key,
  choosePayloadMode,
  computeSignature,
  deriveSigningKey,
  type SignAwsInput,
  SigningKeyCache,
  signAwsRequest,
} from '../../src/credentials/sign-aws.ts';

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

// ---- the official SigV4 test suite (AWS General Reference, "Signature Version 4 test suite"),
// service "service", region us-east-1, 2015-08-30T12:36:00Z ----

const SUITE_CREDENTIALS = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
};
const SUITE_KEY = deriveSigningKey(SUITE_CREDENTIALS, '20150830', 'us-east-1', 'service');
const H = { host: 'example.amazonaws.com', 'x-amz-date': '20150830T123600Z' };
const suite: [string, string, string, [string, string][], Record<string, string>, string, string][] = [
  ['get-vanilla', 'GET', '/', [], H, '', '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31'],
  [
    'get-vanilla-query-order-key-case',
    'GET',
    '/',
    [
      ['Param2', 'value2'],
      ['Param1', 'value1'],
    ],
    H,
    '',
    'b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500',
  ],
  [
    'get-vanilla-query-unreserved',
    'GET',
    '/',
    [
      [
        '-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz',
        '-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz',
      ],
    ],
    H,
    '',
    '9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197',
  ],
  [
    'get-vanilla-utf8-query',
    'GET',
    '/',
    [['ሴ', 'bar']],
    H,
    '',
    '2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04',
  ],
  [
    'get-unreserved',
    'GET',
    '/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz',
    [],
    H,
    '',
    '07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f',
  ],
  ['get-utf8', 'GET', '/ሴ', [], H, '', '8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85'],
  [
    'get-header-value-trim',
    'GET',
    '/',
    [],
    { ...H, 'my-header1': 'value1', 'my-header2': '"a   b   c"' },
    '',
    'acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736',
  ],
  [
    'get-header-value-order',
    'GET',
    '/',
    [],
    { ...H, 'my-header1': 'value4,value1,value3,value2' },
    '',
    '08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01',
  ],
  [
    'post-vanilla',
    'POST',
    '/',
    [],
    H,
    '',
    '5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b',
  ],
  [
    'post-vanilla-query',
    'POST',
    '/',
    [['Param1', 'value1']],
    H,
    '',
    '28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11',
  ],
  [
    'post-vanilla-query-nonunreserved',
    'POST',
    '/',
    [
      ['@#$%^', ''],
      ['+', '/,?><`";:\\|][{}'],
    ],
    H,
    '',
    '66c82657c86e26fb25238d0e69f011edc4c6df5ae71119d7cb98ed9b87393c1e',
  ],
  [
    'post-vanilla-query-space',
    'POST',
    '/',
    [['p', '']],
    H,
    '',
    'e71688addb58a26418614085fb730ba3faa623b461c17f48f2fbdb9361b94a9b',
  ],
  [
    'post-header-value-case',
    'POST',
    '/',
    [],
    { ...H, 'my-header1': 'VALUE1' },
    '',
    'cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d',
  ],
  [
    'post-sts-header-before',
    'POST',
    '/',
    [],
    {
      ...H,
      'x-amz-security-token':
        'AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==',
    },
    '',
    '85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead',
  ],
  [
    'post-x-www-form-urlencoded',
    'POST',
    '/',
    [],
    { ...H, 'content-type': 'application/x-www-form-urlencoded' },
    'Param1=value1',
    'ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a',
  ],
];

t.test('computeSignature matches the official SigV4 test suite', async (t) => {
  for (const [name, method, path, query, headers, body, expected] of suite) {
    const s = computeSignature({
      method,
      path,
      query,
      headers,
      service: 'service',
      region: 'us-east-1',
      payloadHash: sha256(body),
      amzDate: '20150830T123600Z',
      key: SUITE_KEY,
    });
    t.equal(s.signature, expected, name);
    t.equal(s.scope, '20150830/us-east-1/service/aws4_request', `${name}: scope`);
  }
});

// ---- the S3 examples (Amazon S3 API Reference, "Signature Calculations for the Authorization
// Header: Transferring Payload in a Single Chunk" and "… in Multiple Chunks"), 2013-05-24 ----

const S3_CREDENTIALS = {
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
};
const S3_DATE = new Date('2013-05-24T00:00:00Z');
const s3Input = (over: Partial<SignAwsInput>): SignAwsInput => ({
  method: 'GET',
  protocol: 'https:',
  hostname: 'examplebucket.s3.amazonaws.com',
  path: '/',
  query: [],
  headers: {},
  service: 's3',
  region: 'us-east-1',
  payloadHash: EMPTY_SHA256,
  credentials: S3_CREDENTIALS,
  now: S3_DATE,
  ...over,
});

t.test('signAwsRequest matches the S3 documentation examples', async (t) => {
  const rows: [string, SignAwsInput, string, string][] = [
    [
      'GET Object with Range',
      s3Input({ path: '/test.txt', headers: { range: 'bytes=0-9' } }),
      'host;range;x-amz-content-sha256;x-amz-date',
      'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
    ],
    [
      'GET Bucket lifecycle',
      s3Input({ query: [['lifecycle', '']] }),
      'host;x-amz-content-sha256;x-amz-date',
      'fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543',
    ],
    [
      'GET Bucket (list objects)',
      s3Input({
        query: [
          ['max-keys', '2'],
          ['prefix', 'J'],
        ],
      }),
      'host;x-amz-content-sha256;x-amz-date',
      '34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7',
    ],
    [
      'PUT Object chunked upload, seed signature',
      s3Input({
        method: 'PUT',
        hostname: 's3.amazonaws.com',
        path: '/examplebucket/chunkObject.txt',
        payloadHash: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
        headers: {
          'content-encoding': 'aws-chunked',
          'content-length': '66824',
          'x-amz-decoded-content-length': '66560',
          'x-amz-storage-class': 'REDUCED_REDUNDANCY',
        },
      }),
      'content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class',
      '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9',
    ],
    [
      'PUT Object with a trailing checksum, seed signature',
      s3Input({
        method: 'PUT',
        hostname: 's3.amazonaws.com',
        path: '/examplebucket/chunkObject.txt',
        payloadHash: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
        headers: {
          'content-encoding': 'aws-chunked',
          'x-amz-decoded-content-length': '66560',
          'x-amz-storage-class': 'REDUCED_REDUNDANCY',
          'x-amz-trailer': 'x-amz-checksum-crc32c',
        },
      }),
      'content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer',
      '106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e',
    ],
  ];
  for (const [name, input, signedHeaders, signature] of rows) {
    const signed = signAwsRequest(input);
    t.equal(
      signed.headers['authorization'],
      `AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=${signedHeaders}, Signature=${signature}`,
      name,
    );
    t.equal(signed.headers['x-amz-date'], '20130524T000000Z', `${name}: x-amz-date`);
    t.equal(signed.headers['x-amz-content-sha256'], input.payloadHash, `${name}: x-amz-content-sha256`);
  }
  // PUT Object signs a Date header, which signAwsRequest refuses to take (it sets x-amz-date itself):
  // the shared canonical step is checked directly.
  const put = computeSignature({
    method: 'PUT',
    path: '/test%24file.text',
    query: [],
    headers: {
      date: 'Fri, 24 May 2013 00:00:00 GMT',
      host: 'examplebucket.s3.amazonaws.com',
      'x-amz-content-sha256': sha256('Welcome to Amazon S3.'),
      'x-amz-date': '20130524T000000Z',
      'x-amz-storage-class': 'REDUCED_REDUNDANCY',
    },
    service: 's3',
    region: 'us-east-1',
    payloadHash: sha256('Welcome to Amazon S3.'),
    amzDate: '20130524T000000Z',
    key: deriveSigningKey(S3_CREDENTIALS, '20130524', 'us-east-1', 's3'),
  });
  t.equal(put.signature, '98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd', 'PUT Object');
});

t.test('the request to send: exactly the given headers plus the SigV4 ones, sorted', async (t) => {
  const signed = signAwsRequest(
    s3Input({
      method: 'PUT',
      protocol: 'http:',
      hostname: '127.0.0.1',
      port: 9000,
      path: '/b/tmp/../secrets/x',
      query: [
        ['uploadId', 'a b+c'],
        ['partNumber', '1'],
      ],
      headers: { 'content-length': '5', 'user-agent': 'agent/1.0' },
      payloadHash: sha256('hello'),
      credentials: { ...S3_CREDENTIALS, sessionToken: 'TOKEN/+=' },
    }),
  );
  t.same(Object.keys(signed.headers), [
    'authorization',
    'content-length',
    'host',
    'user-agent',
    'x-amz-content-sha256',
    'x-amz-date',
    'x-amz-security-token',
  ]);
  t.equal(signed.headers['host'], '127.0.0.1:9000');
  t.equal(signed.headers['x-amz-security-token'], 'TOKEN/+=');
  t.match(
    signed.headers['authorization'],
    /SignedHeaders=content-length;host;user-agent;x-amz-content-sha256;x-amz-date;x-amz-security-token,/,
    'every header sent is signed, user-agent included',
  );
  t.equal(signed.path, '/b/tmp/../secrets/x', 'an S3 key is sent without dot-segment removal');
  t.equal(signed.querystring, 'uploadId=a%20b%2Bc&partNumber=1', 'the query is sent in order, AWS-encoded');
  t.equal(signed.chunkSigning, undefined, 'no chunk signing for a plain payload');

  const ipv6 = signAwsRequest(s3Input({ hostname: '::1', protocol: 'https:', port: 443 }));
  t.equal(ipv6.headers['host'], '[::1]', 'IPv6 literal in brackets, default port omitted');
});

t.test('non-S3 services get the canonical (double-encoded) path, as the SDK signs it', async (t) => {
  const s = computeSignature({
    method: 'GET',
    path: '/a%20b/c',
    query: [],
    headers: H,
    service: 'execute-api',
    region: 'us-east-1',
    payloadHash: EMPTY_SHA256,
    amzDate: '20150830T123600Z',
    key: SUITE_KEY,
  });
  t.equal(s.canonicalRequest.split('\n')[1], '/a%2520b/c');
  const s3 = computeSignature({
    method: 'GET',
    path: '/a%20b//c',
    query: [],
    headers: H,
    service: 's3',
    region: 'us-east-1',
    payloadHash: EMPTY_SHA256,
    amzDate: '20150830T123600Z',
    key: SUITE_KEY,
  });
  t.equal(s3.canonicalRequest.split('\n')[1], '/a%20b//c', 'S3: the path as sent');
  const dup = computeSignature({
    method: 'GET',
    path: '/',
    query: [
      ['a', '2'],
      ['b', ''],
      ['a', '1'],
      ['a', '3'],
    ],
    headers: H,
    service: 'sqs',
    region: 'us-east-1',
    payloadHash: EMPTY_SHA256,
    amzDate: '20150830T123600Z',
    key: SUITE_KEY,
  });
  t.equal(dup.canonicalRequest.split('\n')[2], 'a=1&a=2&a=3&b=', 'repeated names sorted by value');
});

t.test('signAwsRequest refuses what it would have to rewrite to sign', async (t) => {
  const rows: [string, Partial<SignAwsInput>, RegExp][] = [
    ['a lower-case method', { method: 'get' }, /method is not an upper-case token/],
    ['an unknown protocol', { protocol: 'ftp:' as 'http:' }, /protocol is not http or https/],
    ['an upper-case host name', { hostname: 'Example.com' }, /hostname is not a lower-case host name/],
    ['a host name with a path', { hostname: 'a.test/evil' }, /hostname is not/],
    ['port 0', { port: 0 }, /port is out of range/],
    ['port 65536', { port: 65536 }, /port is out of range/],
    ['a service with a slash', { service: 's3/x' }, /invalid service or region/],
    ['a region with a newline', { region: 'us-east-1\n' }, /invalid service or region/],
    [
      'an upper-case payload hash',
      { payloadHash: EMPTY_SHA256.toUpperCase() },
      /neither a hex sha256 nor a payload keyword/,
    ],
    [
      'an unknown payload keyword',
      { payloadHash: 'STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD' },
      /neither a hex sha256/,
    ],
    [
      'UNSIGNED-PAYLOAD over http',
      { protocol: 'http:', payloadHash: 'UNSIGNED-PAYLOAD' },
      /unsigned payload is sent only over TLS/,
    ],
    [
      'an unsigned trailer over http',
      { protocol: 'http:', payloadHash: 'STREAMING-UNSIGNED-PAYLOAD-TRAILER' },
      /only over TLS/,
    ],
    ['a relative path', { path: 'test.txt' }, /not in canonical AWS URI encoding/],
    ['a raw space in the path', { path: '/a b' }, /not in canonical AWS URI encoding/],
    ['lower-case percent hex', { path: '/a%2fb' }, /not in canonical AWS URI encoding/],
    ['an encoded unreserved character', { path: '/%41' }, /percent-encodes an unreserved character/],
    ['an encoded slash in an S3 key', { path: '/b/a%2Fb' }, /sends \/ literally, not as %2F/],
    ['a query in the path', { path: '/a?x=1' }, /not in canonical AWS URI encoding/],
    [
      'a dot segment for a non-S3 service',
      { service: 'dynamodb', path: '/a/../b' },
      /the path has a dot segment/,
    ],
    [
      'an empty segment for a non-S3 service',
      { service: 'dynamodb', path: '//a' },
      /the path has an empty segment/,
    ],
    ['an upper-case header name', { headers: { Range: 'bytes=0-1' } }, /header name "Range" is invalid/],
    [
      'a header value with CRLF',
      { headers: { 'x-amz-meta-a': 'b\r\nx-amz-acl: public-read' } },
      /x-amz-meta-a has a control character/,
    ],
    ['a header value with NUL', { headers: { 'x-amz-meta-a': 'b\u0000' } }, /has a control character/],
    [
      'an agent authorization header',
      { headers: { authorization: 'AWS4-HMAC-SHA256 Credential=AKIA' } },
      /authorization is set by the signer/,
    ],
    [
      'an agent x-amz-date',
      { headers: { 'x-amz-date': '20990101T000000Z' } },
      /x-amz-date is set by the signer/,
    ],
    [
      'an agent security token',
      { headers: { 'x-amz-security-token': 'x' } },
      /x-amz-security-token is set by the signer/,
    ],
    ['a Date header', { headers: { date: 'Fri, 24 May 2013 00:00:00 GMT' } }, /date is set by the signer/],
    ['transfer-encoding', { headers: { 'transfer-encoding': 'chunked' } }, /transfer-encoding is hop-by-hop/],
    ['expect', { headers: { expect: '100-continue' } }, /expect is hop-by-hop/],
    [
      'a host header for another host',
      { headers: { host: 'evil.test' } },
      /host header differs from the hostname/,
    ],
    [
      'a content hash that is not the payload hash',
      { headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } },
      /differs from the payload hash/,
    ],
    [
      'SigV4 query authentication',
      { query: [['X-Amz-Signature', 'x']] },
      /X-Amz-Signature is query authentication/,
    ],
    ['a query credential', { query: [['x-amz-credential', 'x']] }, /is query authentication/],
    [
      'SigV2 query authentication',
      { query: [['AWSAccessKeyId', 'AKIA']] },
      /AWSAccessKeyId is query authentication/,
    ],
    ['a lone surrogate in the query', { query: [['k', '\ud800']] }, /not well-formed Unicode/],
    ['an empty query name', { query: [['', 'v']] }, /query parameter has an empty name/],
    [
      'an empty secret',
      { credentials: { accessKeyId: 'AKIA', secretAccessKey: '' } },
      /credentials are incomplete/,
    ],
    [
      'an empty session token',
      { credentials: { ...S3_CREDENTIALS, sessionToken: '' } },
      /credentials are incomplete/,
    ],
    ['an invalid clock', { now: new Date(Number.NaN) }, /signing time is invalid/],
  ];
  for (const [name, over, message] of rows) {
    t.throws(
      () => signAwsRequest(s3Input(over)),
      { name: 'ErrandError', code: 'ERR_SIGN_INPUT', message },
      name,
    );
  }
  // The host header, when given, must be exactly the one computed; then it is accepted.
  t.doesNotThrow(() => signAwsRequest(s3Input({ headers: { host: 'examplebucket.s3.amazonaws.com' } })));
});

t.test('AWS URI encoding: unreserved kept, everything else %XX upper-case', async (t) => {
  const rows: [string, string, string, string][] = [
    ['unreserved', 'AZaz09-._~', 'AZaz09-._~', 'AZaz09-._~'],
    ['space and plus', 'a b+c', 'a%20b%2Bc', 'a%20b%2Bc'],
    ['slash', 'dir/file', 'dir%2Ffile', 'dir/file'],
    [
      'reserved',
      "!*'();:@&=$,?#[]%",
      '%21%2A%27%28%29%3B%3A%40%26%3D%24%2C%3F%23%5B%5D%25',
      '%21%2A%27%28%29%3B%3A%40%26%3D%24%2C%3F%23%5B%5D%25',
    ],
    ['UTF-8', 'é€', '%C3%A9%E2%82%AC', '%C3%A9%E2%82%AC'],
    ['traversal-looking S3 key', 'tmp/../secrets/x', 'tmp%2F..%2Fsecrets%2Fx', 'tmp/../secrets/x'],
  ];
  for (const [name, decoded, segment, key] of rows) {
    t.equal(awsEncodePathSegment(decoded), segment, `${name}: segment`);
    t.equal(awsEncodeS3Key(decoded), key, `${name}: S3 key`);
  }
  t.equal(
    awsEncodeS3Key(Uint8Array.of(0xc0, 0xae)),
    '%C0%AE',
    'bytes are encoded as given, not as UTF-8 text',
  );
  t.equal(
    awsEncodeQuery([
      ['acl', ''],
      ['a b', 'c/d'],
    ]),
    'acl=&a%20b=c%2Fd',
  );
  t.throws(() => awsEncodeS3Key('\udc00'), { code: 'ERR_SIGN_INPUT', message: /not well-formed Unicode/ });
});

t.test('property: any S3 key encodes to a path that is signed and sent byte for byte', async (t) => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (key) => {
      const path = `/bucket/${awsEncodeS3Key(key)}`;
      const signed = signAwsRequest(s3Input({ path }));
      return signed.path === path && decodeURIComponent(path) === `/bucket/${key}`;
    }),
    { numRuns: 300 },
  );
  t.pass('encoded keys round-trip');
});

t.test('amzDateOf: ISO 8601 basic, UTC, whole seconds', async (t) => {
  const rows: [string, string][] = [
    ['2026-11-29T20:05:00.999Z', '20261129T200500Z'],
    ['2026-01-02T03:04:05.000Z', '20260102T030405Z'],
    ['1999-12-31T23:59:59.500Z', '19991231T235959Z'],
    // Outside four-digit years: toISOString's own form, digits only.
    ['0999-01-01T00:00:00.000Z', '09990101T000000Z'],
    ['+010000-01-01T00:00:00.000Z', '+0100000101T000000Z'],
  ];
  for (const [iso, expected] of rows) t.equal(amzDateOf(new Date(iso)), expected, iso);
  // The same text as the ISO form with its separators and milliseconds removed, for any instant.
  fc.assert(
    fc.property(fc.date({ min: new Date(-1e14), max: new Date(1e14), noInvalidDate: true }), (d) => {
      return (
        amzDateOf(d) ===
        d
          .toISOString()
          .replace(/[-:]/g, '')
          .replace(/\.\d{3}/, '')
      );
    }),
    { numRuns: 2000 },
  );
});

t.test('the signing-key cache: one key per (date, region, service), wiped to zeros', async (t) => {
  const credentials = { ...S3_CREDENTIALS, sessionToken: 'T' };
  const cache = new SigningKeyCache(credentials);
  const input = s3Input({
    credentials,
    signingKeys: cache,
    payloadHash: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
  });
  const first = signAwsRequest(input);
  const second = signAwsRequest({ ...input, now: new Date('2013-05-24T23:59:59Z') });
  t.equal(cache.size, 1, 'same day, region and service: one derived key');
  t.equal(
    first.headers['authorization'],
    signAwsRequest({ ...input, signingKeys: undefined }).headers['authorization'],
    'cached and fresh keys sign alike',
  );
  signAwsRequest({ ...input, region: 'eu-west-1' });
  t.equal(cache.size, 2);
  const key = second.chunkSigning!.key;
  t.ok(
    key.some((b) => b !== 0),
    'the chunk signer holds the live key',
  );
  t.throws(() => cache.keyFor({ ...credentials }, '20130524', 'us-east-1', 's3'), {
    code: 'ERR_SIGN_INPUT',
    message: /belongs to other credentials/,
  });
  cache.wipe();
  t.ok(
    key.every((b) => b === 0),
    'wipe overwrote the key a chunk signer still held',
  );
  t.equal(cache.size, 0);
  t.throws(() => signAwsRequest(input), { code: 'ERR_CREDENTIALS_WIPED', message: /wiped/ });
});

t.test('choosePayloadMode: one decision per agent declaration, upstream and body', async (t) => {
  const HASH = sha256('hello');
  const rows: [string, string | undefined, boolean, boolean, Record<string, unknown>][] = [
    [
      'no declaration, no body',
      undefined,
      true,
      false,
      { ok: true, mode: 'empty', contentSha256: EMPTY_SHA256 },
    ],
    ['no declaration, a body (JSON/query protocols)', undefined, true, true, { ok: true, mode: 'hash-body' }],
    ['declared hash kept (TLS)', HASH, true, true, { ok: true, mode: 'declared', contentSha256: HASH }],
    ['declared hash kept (http)', HASH, false, true, { ok: true, mode: 'declared', contentSha256: HASH }],
    [
      'declared empty hash, no body',
      EMPTY_SHA256,
      false,
      false,
      { ok: true, mode: 'declared', contentSha256: EMPTY_SHA256 },
    ],
    [
      'declared hash of a body that is not there',
      HASH,
      true,
      false,
      {
        ok: false,
        code: 'ERR_AWS_PAYLOAD_MODE',
        message: 'the declared sha256 is not that of an empty body',
      },
    ],
    [
      'upper-case declared hash',
      HASH.toUpperCase(),
      true,
      true,
      {
        ok: false,
        code: 'ERR_AWS_PAYLOAD_MODE',
        message: 'x-amz-content-sha256 is not a hex sha256 or a payload mode Errand supports',
      },
    ],
    [
      'UNSIGNED-PAYLOAD over TLS',
      'UNSIGNED-PAYLOAD',
      true,
      true,
      { ok: true, mode: 'unsigned', contentSha256: 'UNSIGNED-PAYLOAD' },
    ],
    [
      'UNSIGNED-PAYLOAD without body',
      'UNSIGNED-PAYLOAD',
      false,
      false,
      { ok: true, mode: 'empty', contentSha256: EMPTY_SHA256 },
    ],
    [
      'UNSIGNED-PAYLOAD over http: signed chunks, nothing buffered',
      'UNSIGNED-PAYLOAD',
      false,
      true,
      {
        ok: true,
        mode: 'aws-chunked',
        contentSha256: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
        agentFraming: 'plain',
        agentChunkSignatures: false,
        agentTrailerSignature: false,
        signedChunks: true,
        trailer: false,
      },
    ],
    [
      'unsigned trailer over TLS: re-framed, still unsigned',
      'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
      true,
      true,
      {
        ok: true,
        mode: 'aws-chunked',
        contentSha256: 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
        agentFraming: 'aws-chunked',
        agentChunkSignatures: false,
        agentTrailerSignature: false,
        signedChunks: false,
        trailer: true,
      },
    ],
    [
      'unsigned trailer over http: signed chunks and trailer',
      'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
      false,
      true,
      {
        ok: true,
        mode: 'aws-chunked',
        contentSha256: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
        agentFraming: 'aws-chunked',
        agentChunkSignatures: false,
        agentTrailerSignature: false,
        signedChunks: true,
        trailer: true,
      },
    ],
    [
      "signed chunks: fresh signatures from Errand's seed",
      'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
      true,
      true,
      {
        ok: true,
        mode: 'aws-chunked',
        contentSha256: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
        agentFraming: 'aws-chunked',
        agentChunkSignatures: true,
        agentTrailerSignature: false,
        signedChunks: true,
        trailer: false,
      },
    ],
    [
      'signed chunks and trailer',
      'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
      false,
      true,
      {
        ok: true,
        mode: 'aws-chunked',
        contentSha256: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
        agentFraming: 'aws-chunked',
        agentChunkSignatures: true,
        agentTrailerSignature: true,
        signedChunks: true,
        trailer: true,
      },
    ],
    [
      'a streaming mode without body',
      'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
      true,
      false,
      { ok: false, code: 'ERR_AWS_PAYLOAD_MODE', message: 'a streaming payload mode needs a body' },
    ],
    [
      'SigV4a streaming',
      'STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD',
      true,
      true,
      {
        ok: false,
        code: 'ERR_AWS_PAYLOAD_MODE',
        message: 'x-amz-content-sha256 is not a hex sha256 or a payload mode Errand supports',
      },
    ],
    [
      'garbage',
      'anything',
      true,
      true,
      {
        ok: false,
        code: 'ERR_AWS_PAYLOAD_MODE',
        message: 'x-amz-content-sha256 is not a hex sha256 or a payload mode Errand supports',
      },
    ],
  ];
  for (const [name, declared, tls, body, expected] of rows) {
    t.strictSame(choosePayloadMode(declared, tls, body), expected, name);
  }
});
