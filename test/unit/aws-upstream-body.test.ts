import { once } from 'node:events';
import { PassThrough, Readable } from 'node:stream';
import t from 'tap';
import {
  type AwsChunkedTrailer,
  createAwsChunkedEncoder,
  decodeAwsChunked,
  signChunk,
  signTrailer,
  UPSTREAM_CHUNK_SIZE,
} from '../../src/credentials/aws-chunked.ts';
import { deriveSigningKey } from '../../src/credentials/sign-aws.ts';
import { buildAwsUpstreamRequest } from '../../src/proxy/aws-upstream-request.ts';
import type { AwsOrigin } from '../../src/proxy/context.ts';
import { TEST_CREDENTIALS } from '../helpers/sidecar.ts';
import { PLAIN_HTTP_ORIGIN, PUT_INTENT, putRequest } from '../helpers/upload-intent.ts';

// The streamed body of an S3 PUT as Errand sends it upstream: one Transform from the agent's body
// (cap, aws-chunked decoder, Errand's framing), read the way undici reads it. Each row checks the
// bytes sent, the lengths declared, and what happens to the agent's stream when a side fails.

const NOW = new Date('2026-11-29T20:00:00Z');
const HTTP = PLAIN_HTTP_ORIGIN;
const HTTPS: AwsOrigin = { scheme: 'https', host: 's3.us-east-1.amazonaws.com', port: 443, basePath: '' };
const INTENT = PUT_INTENT;
const CRC: AwsChunkedTrailer = { name: 'x-amz-checksum-crc32', value: 'NSRBwg==' };

const requestWith = putRequest;

/** Bytes whose value depends on their position, cut into uneven pieces like socket reads. */
const dataOf = (length: number): Buffer => Buffer.from(Array.from({ length }, (_, i) => (i * 31 + 7) % 251));
const piecesOf = (buf: Buffer, size: number): Buffer[] => {
  const out: Buffer[] = [];
  for (let at = 0; at < buf.length; at += size) out.push(buf.subarray(at, at + size));
  return out;
};
/** The agent's unsigned aws-chunked framing, with SDK-sized chunks. */
const agentFramed = (data: Buffer, chunk: number, trailers: AwsChunkedTrailer[]): Buffer =>
  Buffer.concat([
    ...piecesOf(data, chunk).flatMap((p) => [
      Buffer.from(`${p.length.toString(16)}\r\n`),
      p,
      Buffer.from('\r\n'),
    ]),
    Buffer.from(`0\r\n${trailers.map((x) => `${x.name}:${x.value}\r\n`).join('')}\r\n`),
  ]);

const drain = async (body: unknown): Promise<Buffer> => {
  const out: Buffer[] = [];
  for await (const c of body as Readable) out.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(out);
};
/** The error the body stream fails with (undici aborts the upstream request with it). */
const failureOf = async (body: unknown): Promise<unknown> => {
  try {
    await drain(body);
  } catch (error) {
    return error;
  }
  return undefined;
};

t.test('re-signed chunks: 1 MiB chunks, exact lengths, a signature chain from the seed', async (t) => {
  const data = dataOf(2 * UPSTREAM_CHUNK_SIZE + 12345);
  const sent = buildAwsUpstreamRequest({
    request: requestWith({
      'content-length': String(data.length),
      'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
    }),
    intent: INTENT,
    origin: HTTP,
    credentials: TEST_CREDENTIALS,
    body: Readable.from(piecesOf(data, 65_000)),
    bodyBuffered: false,
    now: NOW,
  });
  t.equal(sent.headers['x-amz-content-sha256'], 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD');
  t.equal(sent.headers['x-amz-decoded-content-length'], String(data.length));
  const wire = await drain(sent.body);
  t.equal(String(wire.length), sent.headers['content-length'], 'Content-Length is the framed length');
  const sizes = [...wire.toString('latin1').matchAll(/(?:^|\r\n)([0-9a-f]+);chunk-signature=/g)].map((m) =>
    Number.parseInt(m[1]!, 16),
  );
  t.same(sizes, [UPSTREAM_CHUNK_SIZE, UPSTREAM_CHUNK_SIZE, 12345, 0], 'two 1 MiB chunks, the rest, the end');

  const decoded = await drain(
    decodeAwsChunked([wire], {
      decodedLength: data.length,
      trailerNames: [],
      chunkSignatures: true,
      trailerSignature: false,
    }),
  );
  t.ok(decoded.equals(data), 'the agent data, unchanged');

  // Each chunk signature chains from the Authorization signature with the session's key.
  const signing = {
    key: deriveSigningKey(TEST_CREDENTIALS, '20261129', 'us-east-1', 's3'),
    amzDate: '20261129T200000Z',
    scope: '20261129/us-east-1/s3/aws4_request',
  };
  let previous = /Signature=([0-9a-f]{64})$/.exec(sent.headers['authorization']!)![1]!;
  let at = 0;
  for (const size of sizes) {
    previous = signChunk({ ...signing, seedSignature: '' }, previous, data.subarray(at, at + size));
    at += size;
    t.ok(wire.includes(`;chunk-signature=${previous}\r\n`), `chunk of ${size} bytes signed in the chain`);
  }
});

t.test('trailer pass-through: decoded and framed again with the declared checksum', async (t) => {
  const data = dataOf(UPSTREAM_CHUNK_SIZE + 70_000);
  const framed = agentFramed(data, 65_536, [CRC]);
  const sent = buildAwsUpstreamRequest({
    request: requestWith({
      'content-encoding': 'aws-chunked',
      'content-length': String(framed.length),
      'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
      'x-amz-decoded-content-length': String(data.length),
      'x-amz-trailer': CRC.name,
    }),
    intent: { ...INTENT, awsChunked: true },
    origin: HTTPS,
    credentials: TEST_CREDENTIALS,
    // Cut across the agent's framing lines, as TCP does.
    body: Readable.from(piecesOf(framed, 40_001)),
    bodyBuffered: false,
    now: NOW,
  });
  const wire = await drain(sent.body);
  t.equal(String(wire.length), sent.headers['content-length'], 'Content-Length is the framed length');
  t.ok(
    wire.subarray(0, 7).equals(Buffer.from('100000\r')),
    'Errand frames 1 MiB chunks, not the agent chunks',
  );
  t.ok(wire.toString('latin1').endsWith(`\r\n0\r\n${CRC.name}:${CRC.value}\r\n\r\n`), 'the checksum trailer');
  const decoding = decodeAwsChunked([wire], {
    decodedLength: data.length,
    trailerNames: [CRC.name],
    chunkSignatures: false,
    trailerSignature: false,
  });
  t.ok((await drain(decoding)).equals(data), 'the agent data, unchanged');
  t.same(decoding.trailers(), [CRC]);
});

t.test('pass-through bodies stream unchanged; a plain iterable works as a source', async (t) => {
  const data = dataOf(300_000);
  const sent = buildAwsUpstreamRequest({
    request: requestWith({
      'content-length': String(data.length),
      'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
    }),
    intent: INTENT,
    origin: HTTPS,
    credentials: TEST_CREDENTIALS,
    body: piecesOf(data, 7_000) as unknown as AsyncIterable<Uint8Array>,
    bodyBuffered: false,
    now: NOW,
  });
  t.equal(sent.headers['content-length'], String(data.length));
  t.ok((await drain(sent.body)).equals(data));
});

t.test('a body growing past the grant cap fails with ERR_BODY_TOO_LARGE', async (t) => {
  const sent = buildAwsUpstreamRequest({
    request: requestWith({ 'transfer-encoding': 'chunked', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' }),
    intent: INTENT,
    origin: HTTPS,
    credentials: TEST_CREDENTIALS,
    body: Readable.from(piecesOf(dataOf(10_000), 4_000)),
    bodyBuffered: false,
    now: NOW,
    maxBodyBytes: 6_000,
  });
  t.match(await failureOf(sent.body), {
    name: 'ErrandError',
    code: 'ERR_BODY_TOO_LARGE',
    detail: 'more than 6000 bytes',
  });
});

const resignedFrom = (agent: Readable, length: number) =>
  buildAwsUpstreamRequest({
    request: requestWith({ 'content-length': String(length), 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' }),
    intent: INTENT,
    origin: HTTP,
    credentials: TEST_CREDENTIALS,
    body: agent,
    bodyBuffered: false,
    now: NOW,
  }).body as Readable;

t.test('the agent body is read only once the upstream reads', async (t) => {
  const agent = new PassThrough();
  agent.write(dataOf(1000));
  const body = resignedFrom(agent, 1000);
  await new Promise((r) => setImmediate(r));
  t.equal(agent.readableLength, 1000, 'nothing taken from the agent before the upstream reads');
  agent.end();
  t.equal((await drain(body)).length > 1000, true, 'then the whole body is framed');
});

t.test('the agent stream ending early aborts the upstream body', async (t) => {
  const agent = new PassThrough();
  const body = resignedFrom(agent, 100_000);
  const failed = failureOf(body);
  agent.write(dataOf(10_000));
  await new Promise((r) => setImmediate(r));
  agent.destroy(new Error('agent went away'));
  t.match(await failed, { message: 'agent went away' }, 'the upstream body fails with the cause');
});

t.test('an upstream failure ends the agent stream; a body fault leaves it to the caller', async (t) => {
  const upstreamSide = new PassThrough();
  const body = resignedFrom(upstreamSide, 100_000);
  body.resume();
  upstreamSide.write(dataOf(10_000));
  await new Promise((r) => setImmediate(r));
  body.destroy(new Error('upstream reset'));
  await once(upstreamSide, 'close');
  t.ok(upstreamSide.destroyed, 'the agent stream is destroyed with the upstream request');

  const faulty = new PassThrough();
  const refused = resignedFrom(faulty, 5);
  const failed = failureOf(refused);
  faulty.write(dataOf(6));
  t.match(await failed, { code: 'ERR_AWS_CHUNKED_LENGTH', message: /more data than declared/ });
  t.notOk(faulty.destroyed, 'the agent stream stays for the caller to answer and close');
  t.equal(faulty.listenerCount('data'), 0, 'and is no longer read');
});

t.test('a body that ends short or breaks its framing fails with the codec code', async (t) => {
  const short = resignedFrom(Readable.from([dataOf(900)]), 1000);
  t.match(await failureOf(short), {
    code: 'ERR_AWS_CHUNKED_LENGTH',
    message: /the body carries 900 bytes, x-amz-decoded-content-length says 1000/,
  });
  const framed = buildAwsUpstreamRequest({
    request: requestWith({
      'content-encoding': 'aws-chunked',
      'content-length': '20',
      'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
      'x-amz-decoded-content-length': '5',
    }),
    intent: { ...INTENT, awsChunked: true },
    origin: HTTPS,
    credentials: TEST_CREDENTIALS,
    body: Readable.from([Buffer.from('5\r\nhello\r\n0\r\n')]),
    bodyBuffered: false,
    now: NOW,
  });
  t.match(await failureOf(framed.body), {
    code: 'ERR_AWS_CHUNKED_FRAMING',
    message: /the body ended before the final chunk and trailer/,
  });
});

t.test('the encoder streams unsigned chunks but holds the last until the body ends', async (t) => {
  const sent: string[] = [];
  const encoder = createAwsChunkedEncoder({
    decodedLength: 20_000,
    chunkSize: 8192,
    trailerNames: [CRC.name],
    trailers: () => [CRC],
  });
  const emit = (bytes: Uint8Array): void => {
    sent.push(Buffer.from(bytes).toString('latin1'));
  };
  encoder.push(Buffer.alloc(10_000, 'a'), emit);
  t.same(
    sent.join('').length,
    '2000\r\n'.length + 8192 + '\r\n2000\r\n'.length,
    'the first chunk and the second size line; 1,808 bytes wait to make a larger write',
  );
  encoder.push(Buffer.alloc(10_000, 'b'), emit);
  const before = sent.join('').length;
  encoder.push(new Uint8Array(0), emit);
  t.equal(sent.join('').length, before, 'an empty piece sends nothing');
  t.notOk(sent.join('').includes('\r\n0\r\n'), 'the end is not sent before end()');
  const heldBefore = sent.join('');
  encoder.end(emit);
  const tail = sent.join('').slice(heldBefore.length);
  t.match(
    tail,
    /^\r\ne20\r\nb{3616}\r\n0\r\nx-amz-checksum-crc32:NSRBwg==\r\n\r\n$/,
    'the last chunk, then the end',
  );
});

t.test('a body sent a byte at a time goes upstream in pieces of at least 8 KiB', async (t) => {
  const data = dataOf(100_000);
  for (const signed of [false, true]) {
    const out: Uint8Array[] = [];
    const emit = (bytes: Uint8Array): void => {
      out.push(Buffer.from(bytes));
    };
    const encoder = createAwsChunkedEncoder({
      decodedLength: data.length,
      chunkSize: 65_536,
      trailerNames: [],
      ...(signed
        ? {
            signing: {
              key: deriveSigningKey(TEST_CREDENTIALS, '20261129', 'us-east-1', 's3'),
              amzDate: '20261129T200000Z',
              scope: '20261129/us-east-1/s3/aws4_request',
              seedSignature: 'a'.repeat(64),
            },
          }
        : {}),
    });
    for (let i = 0; i < 70_000; i++) encoder.push(data.subarray(i, i + 1), emit);
    const dataPieces = out.filter((b) => b.length > 100);
    t.ok(
      dataPieces.every((b) => b.length >= 8192),
      `${signed ? 'signed' : 'unsigned'}: no small data write`,
    );
    t.ok(out.length <= 12, `${signed ? 'signed' : 'unsigned'}: ${out.length} writes for 70,000 pushes`);
    encoder.push(data.subarray(70_000), emit);
    encoder.end(emit);
    const decoded = await drain(
      decodeAwsChunked([Buffer.concat(out)], {
        decodedLength: data.length,
        trailerNames: [],
        chunkSignatures: signed,
        trailerSignature: false,
      }),
    );
    t.ok(decoded.equals(data), `${signed ? 'signed' : 'unsigned'}: the data, in order`);
  }
});

t.test('the encoder signs the trailer after the final chunk, chained', async (t) => {
  const signing = {
    key: deriveSigningKey(TEST_CREDENTIALS, '20261129', 'us-east-1', 's3'),
    amzDate: '20261129T200000Z',
    scope: '20261129/us-east-1/s3/aws4_request',
    seedSignature: 'a'.repeat(64),
  };
  const out: Buffer[] = [];
  const encoder = createAwsChunkedEncoder({
    decodedLength: 3,
    signing,
    trailerNames: [CRC.name],
    trailers: () => [CRC],
  });
  encoder.push(Buffer.from('abc'), (b) => out.push(Buffer.from(b)));
  t.equal(out.length, 0, 'a one-chunk body is held');
  encoder.end((b) => out.push(Buffer.from(b)));
  const first = signChunk(signing, signing.seedSignature, Buffer.from('abc'));
  const final = signChunk(signing, first, new Uint8Array(0));
  t.equal(
    Buffer.concat(out).toString('latin1'),
    `3;chunk-signature=${first}\r\nabc\r\n0;chunk-signature=${final}\r\n${CRC.name}:${CRC.value}\r\n` +
      `x-amz-trailer-signature:${signTrailer(signing, final, [CRC])}\r\n\r\n`,
  );
});

t.test('a request without a body gets no upstream body stream (GET, empty PUT)', async (t) => {
  const EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
  const rows: { name: string; method: string; headers: Record<string, string>; length?: string }[] = [
    { name: 'GET without Content-Length', method: 'GET', headers: {} },
    { name: 'PUT with Content-Length: 0', method: 'PUT', headers: { 'content-length': '0' }, length: '0' },
  ];
  for (const row of rows) {
    const agentBody = new PassThrough();
    const built = buildAwsUpstreamRequest({
      request: { ...requestWith({ 'x-amz-content-sha256': EMPTY, ...row.headers }), method: row.method },
      intent: INTENT,
      origin: HTTPS,
      credentials: TEST_CREDENTIALS,
      body: agentBody,
      bodyBuffered: false,
      now: NOW,
    });
    t.equal(built.body, undefined, `${row.name}: nothing is streamed`);
    t.equal(built.headers['content-length'], row.length, `${row.name}: the declared length`);
    t.equal(built.headers['x-amz-content-sha256'], EMPTY, `${row.name}: signed as the empty payload`);
    t.equal(agentBody.readableFlowing, null, `${row.name}: the agent's stream is not read`);
  }
});
