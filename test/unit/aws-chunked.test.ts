import fc from 'fast-check';
import t from 'tap';
import {
  type AwsChunkedDecodeOptions,
  type AwsChunkedTrailer,
  awsChunkedEncodedLength,
  type ChunkSigning,
  createAwsChunkedEncoder,
  decodeAwsChunked,
  encodeAwsChunked,
  parseAwsChunkedHeaders,
} from '../../src/credentials/aws-chunked.ts';
import { deriveSigningKey } from '../../src/credentials/sign-aws.ts';
import { ErrandError } from '../../src/errors.ts';

// The worked example of the Amazon S3 API Reference, "Signature Calculations for the Authorization
// Header: Transferring Payload in Multiple Chunks", Example: PUT Object (65 KiB of 'a', 64 KiB
// chunks), and its trailer counterpart in "Signature calculations for trailing headers".
const EXAMPLE_CREDENTIALS = {
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
};
const EXAMPLE_KEY = deriveSigningKey(EXAMPLE_CREDENTIALS, '20130524', 'us-east-1', 's3');
const exampleSigning = (seedSignature: string): ChunkSigning => ({
  key: EXAMPLE_KEY,
  amzDate: '20130524T000000Z',
  scope: '20130524/us-east-1/s3/aws4_request',
  seedSignature,
});
const SEED = '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9';
const SIGS = [
  'ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648',
  '0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497',
  'b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9',
];
const TRAILER_SEED = '106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e';
const TRAILER_SIGS = [
  'b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2',
  '1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7',
  '2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992',
];
const TRAILER_SIGNATURE = 'd81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435';
const CRC32C = { name: 'x-amz-checksum-crc32c', value: 'sOO8/Q==' };

const A64K = Buffer.alloc(65536, 'a');
const A1K = Buffer.alloc(1024, 'a');

async function* chunksOf(...parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield p;
}
const collect = async (source: AsyncIterable<Uint8Array>): Promise<Buffer> => {
  const out: Uint8Array[] = [];
  for await (const c of source) out.push(Buffer.from(c));
  return Buffer.concat(out);
};
const split = (buf: Buffer, cuts: number[]): Uint8Array[] => {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const parts: Uint8Array[] = [];
  let at = 0;
  for (const p of points) {
    parts.push(buf.subarray(at, p));
    at = p;
  }
  parts.push(buf.subarray(at));
  return parts;
};

const documentedBody = (sigs: string[], trailer?: string): Buffer =>
  Buffer.concat([
    Buffer.from(`10000;chunk-signature=${sigs[0]}\r\n`),
    A64K,
    Buffer.from(`\r\n400;chunk-signature=${sigs[1]}\r\n`),
    A1K,
    Buffer.from(`\r\n0;chunk-signature=${sigs[2]}\r\n${trailer ?? ''}\r\n`),
  ]);

t.test('the encoder reproduces the documented PUT Object chunked upload byte for byte', async (t) => {
  const body = await collect(
    encodeAwsChunked(chunksOf(Buffer.alloc(66560, 'a')), {
      decodedLength: 66560,
      chunkSize: 65536,
      signing: exampleSigning(SEED),
      trailerNames: [],
    }),
  );
  t.equal(body.length, 66824, 'Content-Length 66824 as in the example');
  t.ok(body.equals(documentedBody(SIGS)), 'same bytes as the documented body');
  t.equal(
    awsChunkedEncodedLength({ decodedLength: 66560, chunkSize: 65536, signed: true, trailerNames: [] }),
    66824,
  );
});

t.test('the encoder reproduces the documented trailing-header upload byte for byte', async (t) => {
  const body = await collect(
    encodeAwsChunked(chunksOf(Buffer.alloc(30000, 'a'), Buffer.alloc(36560, 'a')), {
      decodedLength: 66560,
      chunkSize: 65536,
      signing: exampleSigning(TRAILER_SEED),
      trailerNames: [CRC32C.name],
      trailers: () => [CRC32C],
    }),
  );
  const expected = documentedBody(
    TRAILER_SIGS,
    `${CRC32C.name}:${CRC32C.value}\r\nx-amz-trailer-signature:${TRAILER_SIGNATURE}\r\n`,
  );
  t.ok(body.equals(expected), 'same bytes as the documented body');
  t.equal(
    awsChunkedEncodedLength({
      decodedLength: 66560,
      chunkSize: 65536,
      signed: true,
      trailerNames: [CRC32C.name],
    }),
    expected.length,
  );
});

t.test('the decoder reads the documented bodies and discards the agent signatures', async (t) => {
  const plain = decodeAwsChunked(chunksOf(documentedBody(SIGS)), {
    decodedLength: 66560,
    trailerNames: [],
    chunkSignatures: true,
    trailerSignature: false,
  });
  t.ok((await collect(plain)).equals(Buffer.alloc(66560, 'a')));
  t.same(plain.trailers(), []);

  const trailerBody = documentedBody(
    TRAILER_SIGS,
    `${CRC32C.name}:${CRC32C.value}\r\nx-amz-trailer-signature:${TRAILER_SIGNATURE}\r\n`,
  );
  const withTrailer = decodeAwsChunked(chunksOf(...split(trailerBody, [1, 90, 65600, 66700])), {
    decodedLength: 66560,
    trailerNames: [CRC32C.name],
    chunkSignatures: true,
    trailerSignature: true,
  });
  t.ok((await collect(withTrailer)).equals(Buffer.alloc(66560, 'a')));
  t.same(withTrailer.trailers(), [CRC32C]);
});

t.test('the decoder reads what the JS SDK sends (STREAMING-UNSIGNED-PAYLOAD-TRAILER)', async (t) => {
  // The SDK writes one chunk per stream read, of any size, then `0`, the checksum and an empty line.
  const sdkBody = Buffer.from('5\r\nhello\r\n1\r\n!\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n');
  const decoded = decodeAwsChunked(chunksOf(...split(sdkBody, [3, 4, 20, 21])), {
    decodedLength: 6,
    trailerNames: ['x-amz-checksum-crc32'],
    chunkSignatures: false,
    trailerSignature: false,
  });
  t.equal((await collect(decoded)).toString(), 'hello!');
  t.same(decoded.trailers(), [{ name: 'x-amz-checksum-crc32', value: 'AAAAAA==' }]);
});

const UNSIGNED: AwsChunkedDecodeOptions = {
  decodedLength: 5,
  trailerNames: ['x-amz-checksum-crc32'],
  chunkSignatures: false,
  trailerSignature: false,
};
const SIGNED: AwsChunkedDecodeOptions = {
  decodedLength: 5,
  trailerNames: [],
  chunkSignatures: true,
  trailerSignature: false,
};
const SIGNED_TRAILER: AwsChunkedDecodeOptions = {
  ...SIGNED,
  trailerNames: ['x-amz-checksum-crc32'],
  trailerSignature: true,
};
const SIG = 'a'.repeat(64);
const CK = 'x-amz-checksum-crc32:AAAAAA==\r\n';

// Each row: a body the decoder must refuse, the options, the code and the reason a user would see.
const refusals: [string, string, AwsChunkedDecodeOptions, string, RegExp][] = [
  ['upper-case hex size', `A\r\n`, UNSIGNED, 'ERR_AWS_CHUNKED_FRAMING', /invalid chunk size line "A"/],
  [
    'plus sign in size',
    `+5\r\nhello\r\n0\r\n${CK}\r\n`,
    UNSIGNED,
    'ERR_AWS_CHUNKED_FRAMING',
    /invalid chunk size/,
  ],
  ['minus zero', `-0\r\n${CK}\r\n`, UNSIGNED, 'ERR_AWS_CHUNKED_FRAMING', /invalid chunk size/],
  ['space before size', ` 5\r\nhello\r\n`, UNSIGNED, 'ERR_AWS_CHUNKED_FRAMING', /invalid chunk size/],
  ['space after size', `5 \r\nhello\r\n`, UNSIGNED, 'ERR_AWS_CHUNKED_FRAMING', /invalid chunk size/],
  ['leading zero', `05\r\nhello\r\n`, UNSIGNED, 'ERR_AWS_CHUNKED_FRAMING', /invalid chunk size/],
  ['bare LF after size', `5\nhello\r\n`, UNSIGNED, 'ERR_AWS_CHUNKED_FRAMING', /a line must end with CRLF/],
  ['CR inside the size line', `5\rX\r\nhello`, UNSIGNED, 'ERR_AWS_CHUNKED_FRAMING', /invalid chunk size/],
  [
    'bare LF after data',
    `5\r\nhello\n0\r\n`,
    UNSIGNED,
    'ERR_AWS_CHUNKED_FRAMING',
    /chunk data must end with CRLF/,
  ],
  [
    'data longer than its size',
    `5\r\nhelloX\r\n`,
    UNSIGNED,
    'ERR_AWS_CHUNKED_FRAMING',
    /chunk data must end with CRLF/,
  ],
  [
    'an extension on an unsigned chunk',
    `5;x=y\r\nhello\r\n`,
    UNSIGNED,
    'ERR_AWS_CHUNKED_FRAMING',
    /invalid chunk size/,
  ],
  [
    'a signature on an unsigned chunk',
    `5;chunk-signature=${SIG}\r\n`,
    UNSIGNED,
    'ERR_AWS_CHUNKED_FRAMING',
    /invalid chunk size/,
  ],
  [
    'a signed chunk without signature',
    `5\r\nhello\r\n`,
    SIGNED,
    'ERR_AWS_CHUNKED_FRAMING',
    /invalid chunk size/,
  ],
  [
    'another extension on a signed chunk',
    `5;chunk-signature=${SIG};x=y\r\n`,
    SIGNED,
    'ERR_AWS_CHUNKED_FRAMING',
    /invalid chunk size/,
  ],
  [
    'a quoted extension',
    `5;chunk-signature="${SIG}"\r\n`,
    SIGNED,
    'ERR_AWS_CHUNKED_FRAMING',
    /invalid chunk size/,
  ],
  [
    'an upper-case signature',
    `5;chunk-signature=${'A'.repeat(64)}\r\n`,
    SIGNED,
    'ERR_AWS_CHUNKED_FRAMING',
    /invalid chunk size/,
  ],
  [
    'a short signature',
    `5;chunk-signature=${'a'.repeat(63)}\r\n`,
    SIGNED,
    'ERR_AWS_CHUNKED_FRAMING',
    /invalid chunk size/,
  ],
  [
    'a line longer than the limit',
    `5;${'x'.repeat(300)}`,
    UNSIGNED,
    'ERR_AWS_CHUNKED_FRAMING',
    /a framing line is too long/,
  ],
  [
    'a size beyond the declared length',
    `6\r\nhello!\r\n`,
    UNSIGNED,
    'ERR_AWS_CHUNKED_LENGTH',
    /more data than declared/,
  ],
  [
    'a lying x-amz-decoded-content-length',
    `4\r\nhell\r\n0\r\n${CK}\r\n`,
    UNSIGNED,
    'ERR_AWS_CHUNKED_LENGTH',
    /carry 4 bytes, x-amz-decoded-content-length says 5/,
  ],
  [
    'an undeclared trailer x-amz-meta-evil',
    `5\r\nhello\r\n0\r\n${CK}x-amz-meta-evil:1\r\n\r\n`,
    UNSIGNED,
    'ERR_AWS_CHUNKED_TRAILER',
    /trailer x-amz-meta-evil was not declared/,
  ],
  [
    'a trailer named Authorization',
    `5\r\nhello\r\n0\r\nAuthorization:AWS4-HMAC-SHA256 x\r\n\r\n`,
    UNSIGNED,
    'ERR_AWS_CHUNKED_TRAILER',
    /trailer Authorization was not declared/,
  ],
  [
    'the declared trailer in another case',
    `5\r\nhello\r\n0\r\nX-Amz-Checksum-Crc32:AAAAAA==\r\n\r\n`,
    UNSIGNED,
    'ERR_AWS_CHUNKED_TRAILER',
    /was not declared/,
  ],
  [
    'a repeated trailer',
    `5\r\nhello\r\n0\r\n${CK}${CK}\r\n`,
    UNSIGNED,
    'ERR_AWS_CHUNKED_TRAILER',
    /trailer x-amz-checksum-crc32 is repeated/,
  ],
  [
    'a missing declared trailer',
    `5\r\nhello\r\n0\r\n\r\n`,
    UNSIGNED,
    'ERR_AWS_CHUNKED_TRAILER',
    /declared trailer x-amz-checksum-crc32 is missing/,
  ],
  [
    'a checksum of the wrong length',
    `5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAA\r\n\r\n`,
    UNSIGNED,
    'ERR_AWS_CHUNKED_TRAILER',
    /not a valid checksum/,
  ],
  [
    'a non-canonical base64 checksum',
    `5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAB==\r\n\r\n`,
    UNSIGNED,
    'ERR_AWS_CHUNKED_TRAILER',
    /not a valid checksum/,
  ],
  [
    'a space after the trailer colon',
    `5\r\nhello\r\n0\r\nx-amz-checksum-crc32: AAAAAA==\r\n\r\n`,
    UNSIGNED,
    'ERR_AWS_CHUNKED_TRAILER',
    /not a valid checksum/,
  ],
  [
    'a trailer line without colon',
    `5\r\nhello\r\n0\r\nbadtrailer\r\n\r\n`,
    UNSIGNED,
    'ERR_AWS_CHUNKED_FRAMING',
    /invalid trailer line/,
  ],
  [
    'a trailer where none was declared',
    `5;chunk-signature=${SIG}\r\nhello\r\n0;chunk-signature=${SIG}\r\n${CK}\r\n`,
    SIGNED,
    'ERR_AWS_CHUNKED_TRAILER',
    /was not declared/,
  ],
  [
    'a trailer signature in the unsigned mode',
    `5\r\nhello\r\n0\r\n${CK}x-amz-trailer-signature:${SIG}\r\n\r\n`,
    UNSIGNED,
    'ERR_AWS_CHUNKED_TRAILER',
    /x-amz-trailer-signature was not declared/,
  ],
  [
    'a missing trailer signature',
    `5;chunk-signature=${SIG}\r\nhello\r\n0;chunk-signature=${SIG}\r\n${CK}\r\n`,
    SIGNED_TRAILER,
    'ERR_AWS_CHUNKED_FRAMING',
    /the trailer signature is missing/,
  ],
  [
    'a malformed trailer signature',
    `5;chunk-signature=${SIG}\r\nhello\r\n0;chunk-signature=${SIG}\r\n${CK}x-amz-trailer-signature:xyz\r\n\r\n`,
    SIGNED_TRAILER,
    'ERR_AWS_CHUNKED_FRAMING',
    /invalid trailer signature/,
  ],
  [
    'a trailer after the trailer signature',
    `5;chunk-signature=${SIG}\r\nhello\r\n0;chunk-signature=${SIG}\r\nx-amz-trailer-signature:${SIG}\r\n${CK}\r\n`,
    SIGNED_TRAILER,
    'ERR_AWS_CHUNKED_TRAILER',
    /nothing may follow the trailer signature/,
  ],
  [
    'a final chunk with bare LF (0\\r\\n\\n)',
    `5\r\nhello\r\n0\r\n\n`,
    UNSIGNED,
    'ERR_AWS_CHUNKED_FRAMING',
    /a line must end with CRLF/,
  ],
  [
    'bytes after the end',
    `5\r\nhello\r\n0\r\n${CK}\r\nGET / HTTP/1.1\r\n`,
    UNSIGNED,
    'ERR_AWS_CHUNKED_FRAMING',
    /bytes after the end of the body/,
  ],
  [
    'a body cut short in the data',
    `5\r\nhel`,
    UNSIGNED,
    'ERR_AWS_CHUNKED_FRAMING',
    /ended before the final chunk/,
  ],
  [
    'a body without the final empty line',
    `5\r\nhello\r\n0\r\n${CK}`,
    UNSIGNED,
    'ERR_AWS_CHUNKED_FRAMING',
    /ended before the final chunk/,
  ],
  ['an empty body', '', UNSIGNED, 'ERR_AWS_CHUNKED_FRAMING', /ended before the final chunk/],
];

t.test('the decoder refuses every malformed body with a specific code and reason', async (t) => {
  for (const [name, body, options, code, message] of refusals) {
    // Fed whole and one byte at a time: the verdict must not depend on how the bytes arrive.
    for (const parts of [
      [Buffer.from(body, 'latin1')],
      [...Buffer.from(body, 'latin1')].map((b) => Buffer.of(b)),
    ]) {
      const decoding = decodeAwsChunked(chunksOf(...parts), options);
      await t.rejects(
        collect(decoding),
        { name: 'ErrandError', code, message },
        `${name} (${parts.length} parts)`,
      );
    }
  }
});

t.test('trailers are known only once the body is read, and a body is read once', async (t) => {
  const decoding = decodeAwsChunked(chunksOf(Buffer.from(`5\r\nhello\r\n0\r\n${CK}\r\n`)), UNSIGNED);
  t.throws(() => decoding.trailers(), { code: 'ERR_AWS_CHUNKED_FRAMING', message: /before the body ended/ });
  t.equal((await collect(decoding)).toString(), 'hello');
  await t.rejects(collect(decoding), {
    code: 'ERR_AWS_CHUNKED_FRAMING',
    message: /the body can be read once/,
  });
});

t.test('parseAwsChunkedHeaders reads the three headers strictly', async (t) => {
  const ok: [string, Record<string, string>, { decodedLength: number; trailerNames: string[] }][] = [
    [
      'plain',
      { 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': '66560' },
      { decodedLength: 66560, trailerNames: [] },
    ],
    [
      'with gzip and a trailer',
      {
        'content-encoding': 'gzip, aws-chunked',
        'x-amz-decoded-content-length': '0',
        'x-amz-trailer': 'X-Amz-Checksum-CRC32C',
      },
      { decodedLength: 0, trailerNames: ['x-amz-checksum-crc32c'] },
    ],
  ];
  for (const [name, headers, expected] of ok) {
    t.same(parseAwsChunkedHeaders(new Map(Object.entries(headers))), expected, name);
  }
  const bad: [string, Record<string, string>, RegExp][] = [
    [
      'no aws-chunked',
      { 'content-encoding': 'gzip', 'x-amz-decoded-content-length': '5' },
      /aws-chunked exactly once/,
    ],
    [
      'aws-chunked twice',
      { 'content-encoding': 'aws-chunked,aws-chunked', 'x-amz-decoded-content-length': '5' },
      /exactly once/,
    ],
    ['no decoded length', { 'content-encoding': 'aws-chunked' }, /decimal byte count/],
    [
      'signed decoded length',
      { 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': '+5' },
      /decimal byte count/,
    ],
    [
      'hex decoded length',
      { 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': '0x5' },
      /decimal byte count/,
    ],
    [
      'huge decoded length',
      { 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': '9999999999999999' },
      /decimal byte count/,
    ],
    [
      'two trailers',
      {
        'content-encoding': 'aws-chunked',
        'x-amz-decoded-content-length': '5',
        'x-amz-trailer': 'x-amz-checksum-crc32,x-amz-checksum-sha1',
      },
      /one checksum/,
    ],
    [
      'a non-checksum trailer',
      {
        'content-encoding': 'aws-chunked',
        'x-amz-decoded-content-length': '5',
        'x-amz-trailer': 'x-amz-meta-evil',
      },
      /only an x-amz-checksum/,
    ],
  ];
  for (const [name, headers, message] of bad) {
    t.throws(
      () => parseAwsChunkedHeaders(new Map(Object.entries(headers))),
      { code: 'ERR_AWS_CHUNKED_HEADERS', message },
      name,
    );
  }
});

t.test('the encoder refuses data and trailers that differ from what was declared', async (t) => {
  const base = { chunkSize: 8192, trailerNames: [] as string[] };
  await t.rejects(collect(encodeAwsChunked(chunksOf(Buffer.from('hello!')), { ...base, decodedLength: 5 })), {
    code: 'ERR_AWS_CHUNKED_LENGTH',
    message: /more data than declared/,
  });
  await t.rejects(collect(encodeAwsChunked(chunksOf(Buffer.from('hell')), { ...base, decodedLength: 5 })), {
    code: 'ERR_AWS_CHUNKED_LENGTH',
    message: /carries 4 bytes, x-amz-decoded-content-length says 5/,
  });
  const trailerCases: [string, string[], AwsChunkedTrailer[]][] = [
    ['missing', ['x-amz-checksum-crc32'], []],
    ['other name', ['x-amz-checksum-crc32'], [{ name: 'x-amz-checksum-sha1', value: `${'A'.repeat(27)}=` }]],
    ['undeclared', [], [{ name: 'x-amz-checksum-crc32', value: 'AAAAAA==' }]],
    ['bad value', ['x-amz-checksum-crc32'], [{ name: 'x-amz-checksum-crc32', value: 'AAAA\r\nx:' }]],
  ];
  for (const [name, trailerNames, trailers] of trailerCases) {
    await t.rejects(
      collect(
        encodeAwsChunked(chunksOf(Buffer.from('hello')), {
          ...base,
          decodedLength: 5,
          trailerNames,
          trailers: () => trailers,
        }),
      ),
      { code: 'ERR_AWS_CHUNKED_TRAILER', message: /differ from the declared x-amz-trailer/ },
      name,
    );
  }
  await t.rejects(collect(encodeAwsChunked(chunksOf(), { ...base, chunkSize: 1024, decodedLength: 0 })), {
    code: 'ERR_SIGN_INPUT',
    message: /at least 8192/,
  });
  t.throws(
    () => awsChunkedEncodedLength({ decodedLength: 1, signed: false, trailerNames: ['x-amz-meta-a'] }),
    {
      code: 'ERR_SIGN_INPUT',
      message: /at most one x-amz-checksum/,
    },
  );
});

// ---- properties ----

const CHUNK = 8192;
type Mode = { signed: boolean; trailer: boolean };
const modes = fc.record({ signed: fc.boolean(), trailer: fc.boolean() });
const payloads = fc.uint8Array({ maxLength: 3 * CHUNK + 100, size: 'max' });
const cuts = fc.array(fc.nat(), { maxLength: 6 });
const testSigning = exampleSigning(SEED);
const trailerOf = (mode: Mode): AwsChunkedTrailer[] =>
  mode.trailer ? [{ name: 'x-amz-checksum-crc32', value: 'NSRBwg==' }] : [];

const encode = (data: Uint8Array, mode: Mode, inputCuts: number[]): Promise<Buffer> =>
  collect(
    encodeAwsChunked(chunksOf(...split(Buffer.from(data), inputCuts)), {
      decodedLength: data.length,
      chunkSize: CHUNK,
      ...(mode.signed ? { signing: testSigning } : {}),
      trailerNames: trailerOf(mode).map((x) => x.name),
      trailers: () => trailerOf(mode),
    }),
  );
const decodeOptions = (length: number, mode: Mode): AwsChunkedDecodeOptions => ({
  decodedLength: length,
  trailerNames: trailerOf(mode).map((x) => x.name),
  chunkSignatures: mode.signed,
  trailerSignature: mode.signed && mode.trailer,
});

t.test('a key wiped during an upload signs no further chunk', async (t) => {
  // The session's wipe zeroes the signing key's bytes; the encoder's own key object is a copy.
  const key = Buffer.from(EXAMPLE_KEY);
  const encoder = createAwsChunkedEncoder({
    decodedLength: 3 * 8192,
    chunkSize: 8192,
    trailerNames: [],
    signing: { ...exampleSigning(SEED), key },
  });
  const sent: Uint8Array[] = [];
  encoder.push(Buffer.alloc(8192, 1), (b) => sent.push(b));
  t.equal(sent.length, 2, 'the first chunk was signed and sent');
  key.fill(0);
  t.throws(() => encoder.push(Buffer.alloc(8192, 2), (b) => sent.push(b)), {
    code: 'ERR_CREDENTIALS_WIPED',
  });
  t.equal(sent.length, 2, 'nothing more was sent');
});

t.test('property: decode(encode(x)) = x for any bytes and any chunking of input and output', async (t) => {
  await fc.assert(
    fc.asyncProperty(payloads, modes, cuts, cuts, async (data, mode, inputCuts, wireCuts) => {
      const wire = await encode(data, mode, inputCuts);
      const expectedLength = awsChunkedEncodedLength({
        decodedLength: data.length,
        chunkSize: CHUNK,
        signed: mode.signed,
        trailerNames: trailerOf(mode).map((x) => x.name),
      });
      if (wire.length !== expectedLength) return false;
      const decoding = decodeAwsChunked(chunksOf(...split(wire, wireCuts)), decodeOptions(data.length, mode));
      const decoded = await collect(decoding);
      return (
        decoded.equals(Buffer.from(data)) &&
        JSON.stringify(decoding.trailers()) === JSON.stringify(trailerOf(mode))
      );
    }),
    { numRuns: 150 },
  );
  t.pass('round trip holds');
});

// Which bytes of an encoded body are framing (every change must be refused), signature hex (a
// change to a non-hex byte must be refused; the agent's signatures are discarded, so another hex
// digit is not detectable by design) or data and checksum values (not the decoder's to judge).
type Role = 'framing' | 'signature' | 'opaque';
const rolesOf = (wire: Buffer, mode: Mode): Role[] => {
  const roles: Role[] = new Array(wire.length).fill('framing');
  const text = wire.toString('latin1');
  let at = 0;
  const markLine = (): string => {
    const end = text.indexOf('\r\n', at);
    const line = text.slice(at, end);
    const sig =
      line.indexOf('chunk-signature=') >= 0
        ? line.indexOf('=') + 1
        : line.startsWith('x-amz-trailer-signature:')
          ? line.indexOf(':') + 1
          : -1;
    if (sig > 0) for (let i = 0; i < 64; i++) roles[at + sig + i] = 'signature';
    else if (line.startsWith('x-amz-checksum-'))
      for (let i = line.indexOf(':') + 1; i < line.length; i++) roles[at + i] = 'opaque';
    at = end + 2;
    return line;
  };
  for (;;) {
    const size = Number.parseInt(markLine().split(';')[0]!, 16);
    if (size === 0) break;
    for (let i = 0; i < size; i++) roles[at + i] = 'opaque';
    at += size + 2;
  }
  while (markLine() !== '');
  void mode;
  return roles;
};

// Bytes a lenient parser is known to accept (CR, LF, SP, HTAB, '0', ';', ':', '+', '-', '='), a
// case flip, or any byte at all.
const replacements = fc.oneof(
  fc.constant('flip-case' as const),
  fc.constantFrom(0x0d, 0x0a, 0x20, 0x09, 0x30, 0x3b, 0x3a, 0x2b, 0x2d, 0x3d),
  fc.integer({ min: 0, max: 255 }),
);

t.test('property: the decoder refuses every single-byte corruption of the framing', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ maxLength: 2 * CHUNK + 50, size: 'max' }),
      modes,
      fc.nat(),
      replacements,
      async (data, mode, pick, replacement) => {
        const wire = await encode(data, mode, []);
        const roles = rolesOf(wire, mode);
        const positions = roles.flatMap((r, i) => (r === 'opaque' ? [] : [i]));
        const at = positions[pick % positions.length]!;
        const corrupted = Buffer.from(wire);
        const original = wire[at]!;
        corrupted[at] =
          replacement === 'flip-case' || replacement === original ? original ^ 0x20 : replacement;
        if (roles[at] === 'signature' && /[0-9a-f]/.test(String.fromCharCode(corrupted[at]!))) return true;
        try {
          await collect(decodeAwsChunked(chunksOf(corrupted), decodeOptions(data.length, mode)));
          return false;
        } catch (error) {
          return error instanceof ErrandError && error.code.startsWith('ERR_AWS_CHUNKED_');
        }
      },
    ),
    { numRuns: 1000 },
  );
  t.pass('every corruption refused');
});
