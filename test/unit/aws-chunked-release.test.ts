import { once } from 'node:events';
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import t from 'tap';
import {
  type ChunkSigning,
  createAwsChunkedEncoder,
  decodeAwsChunked,
  UPSTREAM_CHUNK_SIZE,
} from '../../src/credentials/aws-chunked.ts';
import { buildAwsUpstreamRequest } from '../../src/proxy/aws-upstream-request.ts';
import { TEST_CREDENTIALS } from '../helpers/sidecar.ts';
import { PLAIN_HTTP_ORIGIN, PUT_INTENT, unsignedPutRequest } from '../helpers/upload-intent.ts';

// Held chunks of a body whose pieces are the encoder's own (the HTTP parser's copies of the agent's
// body): sent as one buffer per chunk, byte for byte what the view-by-view encoder sends, with the
// pieces' memory freed once copied out, and only those pieces.

const SIGNING: ChunkSigning = {
  key: Buffer.alloc(32, 7),
  amzDate: '20261129T200000Z',
  scope: '20261129/us-east-1/s3/aws4_request',
  seedSignature: 'a'.repeat(64),
};

const dataOf = (length: number): Buffer => Buffer.from(Array.from({ length }, (_, i) => (i * 31 + 7) % 251));
/** Fresh buffers (each its own ArrayBuffer), as Node's HTTP parser hands a body over. */
const freshPieces = (data: Buffer, size: number): Buffer[] => {
  const out: Buffer[] = [];
  for (let at = 0; at < data.length; at += size) out.push(Buffer.from(data.subarray(at, at + size)));
  return out;
};

/** Runs the encoder over `pieces`; returns what it emitted, piece by piece. */
const encode = (
  pieces: readonly Uint8Array[],
  options: { decodedLength: number; signing?: ChunkSigning; releaseInput?: boolean; chunkSize?: number },
): Uint8Array[] => {
  const encoder = createAwsChunkedEncoder({ trailerNames: [], chunkSize: UPSTREAM_CHUNK_SIZE, ...options });
  const out: Uint8Array[] = [];
  const emit = (bytes: Uint8Array): void => {
    out.push(Buffer.from(bytes));
  };
  for (const piece of pieces) encoder.push(piece, emit);
  encoder.end(emit);
  return out;
};

t.test('released pieces: the same bytes, one buffer per held chunk, whole pieces freed', async (t) => {
  const MiB = UPSTREAM_CHUNK_SIZE;
  const rows = [
    // 33 pieces, none across a chunk boundary: all freed; 3 chunks and the end.
    {
      name: 'signed, 64 KiB pieces',
      length: 2 * MiB + 12_345,
      piece: 65_536,
      signed: true,
      freed: 33,
      writes: 4,
    },
    // 18 pieces; the one across the 1 MiB boundary is split, so it stays with the collector.
    {
      name: 'signed, uneven pieces',
      length: MiB + 99_999,
      piece: 65_000,
      signed: true,
      freed: 17,
      writes: 3,
    },
    // Pieces under 8 KiB are copied into the staging buffer: nothing of theirs is held.
    { name: 'signed, pieces under 8 KiB', length: 300_000, piece: 3_000, signed: true, freed: 0, writes: 2 },
    // 4 KiB pieces fill the 64 KiB staging buffer exactly: staged views are whole buffers.
    { name: 'signed, 4 KiB pieces', length: 2 * MiB, piece: 4_096, signed: true, freed: 0, writes: 3 },
    // Unsigned chunks stream as they come (a size line and 16 pieces); only the last is held.
    { name: 'unsigned, two chunks', length: 2 * MiB, piece: 65_536, signed: false, freed: 16, writes: 19 },
  ];
  for (const row of rows) {
    const data = dataOf(row.length);
    const options = { decodedLength: row.length, ...(row.signed ? { signing: SIGNING } : {}) };
    const views = encode(freshPieces(data, row.piece), options);
    const pieces = freshPieces(data, row.piece);
    const joined = encode(pieces, { ...options, releaseInput: true });
    t.ok(Buffer.concat(joined).equals(Buffer.concat(views)), `${row.name}: the bytes sent are unchanged`);
    const decoded: Buffer[] = [];
    for await (const c of decodeAwsChunked([Buffer.concat(joined)], {
      decodedLength: row.length,
      trailerNames: [],
      chunkSignatures: row.signed,
      trailerSignature: false,
    }))
      decoded.push(Buffer.from(c));
    t.ok(Buffer.concat(decoded).equals(data), `${row.name}: the data, unchanged`);
    t.equal(pieces.filter((p) => p.buffer.byteLength === 0).length, row.freed, `${row.name}: pieces freed`);
    t.equal(joined.length, row.writes, `${row.name}: buffers emitted`);
  }
});

t.test('a piece that shares its buffer is never freed, and the default frees nothing', async (t) => {
  const backing = dataOf(3 * UPSTREAM_CHUNK_SIZE);
  // Views of one larger buffer (a caller's data): not the encoder's to free.
  const views = [0, 1, 2].map((i) =>
    backing.subarray(i * UPSTREAM_CHUNK_SIZE, (i + 1) * UPSTREAM_CHUNK_SIZE),
  );
  encode(views, { decodedLength: backing.length, signing: SIGNING, releaseInput: true });
  t.equal(backing.length, 3 * UPSTREAM_CHUNK_SIZE, 'the shared buffer is intact');
  t.equal(backing[backing.length - 1], (((backing.length - 1) * 31 + 7) % 251) as number, 'and its bytes');

  const pieces = freshPieces(dataOf(UPSTREAM_CHUNK_SIZE + 10), 65_536);
  const out = encode(pieces, { decodedLength: UPSTREAM_CHUNK_SIZE + 10, signing: SIGNING });
  t.ok(
    pieces.every((p) => p.buffer.byteLength > 0),
    'without releaseInput every piece stays',
  );
  t.ok(out.length > 3, 'and the chunk goes out piece by piece');
});

t.test('a piece changed before its chunk is sent is refused, nothing of the chunk is sent', async (t) => {
  const pieces = freshPieces(dataOf(UPSTREAM_CHUNK_SIZE + 10), 65_536);
  const encoder = createAwsChunkedEncoder({
    decodedLength: UPSTREAM_CHUNK_SIZE + 10,
    chunkSize: UPSTREAM_CHUNK_SIZE,
    trailerNames: [],
    signing: SIGNING,
    releaseInput: true,
  });
  const out: Uint8Array[] = [];
  const emit = (bytes: Uint8Array): void => {
    out.push(bytes);
  };
  for (const piece of pieces.slice(0, 15)) encoder.push(piece, emit);
  // Someone else frees a held piece: the joined chunk would be short.
  (pieces[3]!.buffer as ArrayBuffer).transfer(0);
  t.throws(() => encoder.push(pieces[15]!, emit), {
    code: 'ERR_AWS_CHUNKED_LENGTH',
    message: /a chunk changed before it was sent/,
  });
  t.equal(out.length, 0, 'nothing emitted');
});

const HTTP = PLAIN_HTTP_ORIGIN;
const INTENT = PUT_INTENT;
const requestWith = unsignedPutRequest;

/** Builds the upstream request for `body` and reads its body the way undici does (flowing). */
const sendUpstream = async (body: IncomingMessage | Readable, length: number) => {
  const sent = buildAwsUpstreamRequest({
    request: requestWith(length),
    intent: INTENT,
    origin: HTTP,
    credentials: TEST_CREDENTIALS,
    body,
    bodyBuffered: false,
    now: new Date('2026-11-29T20:00:00Z'),
  });
  const writes: Buffer[] = [];
  const upstream = sent.body as Readable;
  upstream.on('data', (c: Buffer) => writes.push(Buffer.from(c)));
  await once(upstream, 'end');
  return { writes, wire: Buffer.concat(writes), declared: Number(sent.headers['content-length']) };
};

t.test("the agent's body from Node's HTTP server: one write per re-signed chunk, same bytes", async (t) => {
  const data = dataOf(3 * UPSTREAM_CHUNK_SIZE + 777);
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const { port } = server.address() as AddressInfo;
  const received = once(server, 'request') as Promise<[IncomingMessage, import('node:http').ServerResponse]>;
  const put = httpRequest({
    host: '127.0.0.1',
    port,
    method: 'PUT',
    headers: { 'content-length': data.length },
  });
  put.on('error', () => {});
  put.end(data);
  const [req, res] = await received;
  const fromServer = await sendUpstream(req, data.length);
  res.end();
  // The same body from a plain stream (pieces not the encoder's): sent view by view.
  const fromStream = await sendUpstream(Readable.from(freshPieces(data, 65_536)), data.length);
  t.ok(fromServer.wire.equals(fromStream.wire), 'byte for byte what the view-by-view path sends');
  t.equal(fromServer.wire.length, fromServer.declared, 'the declared Content-Length');
  t.equal(fromServer.writes.length, 5, 'three 1 MiB chunks, the rest, the end: one write each');
  t.ok(fromStream.writes.length > 5, 'a stream that is not the parser keeps its pieces as they are');
});
