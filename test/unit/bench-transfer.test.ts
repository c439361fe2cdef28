import { createHash } from 'node:crypto';
import t from 'tap';
import { patternBlocks, patternSha256, prepareBody } from '../../bench/lib/transfer.ts';
import { decodeAwsChunked, parseAwsChunkedHeaders } from '../../src/credentials/aws-chunked.ts';

// The large-transfer client: bodies of exactly the declared size, the declared hash, and aws-chunked
// framing whose Content-Length and CRC32 trailer an S3 decoder accepts.

const SIZE = 3 * 1024 * 1024 + 12345;

const collect = async (stream: AsyncIterable<Uint8Array>) => {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
};

t.test('patternBlocks yields exactly size bytes; patternSha256 is their hash', async (t) => {
  const bytes = Buffer.concat([...patternBlocks(SIZE)]);
  t.equal(bytes.length, SIZE);
  t.equal(patternSha256(SIZE), createHash('sha256').update(bytes).digest('hex'));
  t.equal([...patternBlocks(0)].length, 0);
});

t.test('payload modes: headers and bodies as an SDK sends them', async (t) => {
  const raw = await collect(prepareBody('raw', SIZE, () => 'unused').body());
  const rows: [Parameters<typeof prepareBody>[0], Record<string, string>][] = [
    ['raw', { 'content-length': String(SIZE) }],
    ['client-hash', { 'content-length': String(SIZE), 'x-amz-content-sha256': 'f'.repeat(64) }],
    ['unsigned', { 'content-length': String(SIZE), 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' }],
  ];
  for (const [mode, headers] of rows) {
    const p = prepareBody(mode, SIZE, () => 'f'.repeat(64));
    t.same(p.headers, headers, mode);
    t.ok((await collect(p.body())).equals(raw), `${mode}: the plain body`);
  }
});

t.test('trailer mode: aws-chunked with a CRC32 trailer that decodes to the body', async (t) => {
  const p = prepareBody('trailer', SIZE, () => 'unused');
  t.equal(p.headers['x-amz-content-sha256'], 'STREAMING-UNSIGNED-PAYLOAD-TRAILER');
  const framed = await collect(p.body());
  t.equal(framed.length, Number(p.headers['content-length']), 'Content-Length is the framed length');
  const decoded = decodeAwsChunked([framed], {
    ...parseAwsChunkedHeaders(new Map(Object.entries(p.headers))),
    chunkSignatures: false,
    trailerSignature: false,
  });
  const data = await collect(decoded);
  t.ok(data.equals(Buffer.concat([...patternBlocks(SIZE)])), 'the data is the pattern');
  const trailers = decoded.trailers();
  t.equal(trailers.length, 1);
  t.equal(trailers[0]?.name, 'x-amz-checksum-crc32');
  t.match(trailers[0]?.value ?? '', /^[A-Za-z0-9+/]{6}==$/);
});
