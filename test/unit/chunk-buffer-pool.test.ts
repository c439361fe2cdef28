import { once } from 'node:events';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo, createServer as createTcpServer, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import t, { type Test } from 'tap';
import { decodeAwsChunked, signChunk, UPSTREAM_CHUNK_SIZE } from '../../src/credentials/aws-chunked.ts';
import { deriveSigningKey } from '../../src/credentials/sign-aws.ts';
import { buildAwsUpstreamRequest } from '../../src/proxy/aws-upstream-request.ts';
import { createChunkBufferPool } from '../../src/proxy/chunk-buffer-pool.ts';
import { createUpstream } from '../../src/proxy/upstream.ts';
import { TEST_CREDENTIALS } from '../helpers/sidecar.ts';
import { PLAIN_HTTP_ORIGIN, PUT_INTENT, unsignedPutRequest } from '../helpers/upload-intent.ts';

// Chunk buffers reused once the upstream socket has written them. What a user would notice if the
// proof were wrong: an upload whose bytes change on the way (a buffer refilled while its write is
// still queued). So every row sends through real sockets to an upstream that reads slowly, which
// keeps writes queued, and checks each byte that arrives.

const CHUNK = 256 * 1024;

/** A plain TCP upstream that reads one HTTP/1.1 request slowly (a pause after every 128 KiB) and
 *  answers 200 once `Content-Length` body bytes have arrived. Resolves with the body. */
async function slowUpstream(t: Test): Promise<{ port: number; body: Promise<Buffer> }> {
  let deliver: (body: Buffer) => void = () => {};
  const body = new Promise<Buffer>((resolve) => {
    deliver = resolve;
  });
  const server = createTcpServer((socket: Socket) => {
    const parts: Buffer[] = [];
    let received = 0;
    let sinceBreak = 0;
    socket.on('data', (piece: Buffer) => {
      parts.push(piece);
      received += piece.length;
      sinceBreak += piece.length;
      const raw = Buffer.concat(parts);
      const headEnd = raw.indexOf('\r\n\r\n');
      if (headEnd >= 0) {
        const length = Number(/content-length: *(\d+)/i.exec(raw.subarray(0, headEnd).toString())![1]);
        if (received - headEnd - 4 >= length) {
          deliver(raw.subarray(headEnd + 4));
          socket.end('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n');
          return;
        }
      }
      if (sinceBreak >= 128 * 1024) {
        sinceBreak = 0;
        socket.pause();
        setTimeout(() => socket.resume(), 3);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  return { port: (server.address() as AddressInfo).port, body };
}

/** Chunk `i` of a body: every byte tells which chunk it belongs to and where in it. */
const chunkOf = (i: number, into: Buffer): Buffer => {
  for (let at = 0; at < into.length; at++) into[at] = (i * 37 + at) % 251;
  return into;
};

t.test(
  'through undici to a slow upstream: every chunk arrives intact, four buffers serve them all',
  async (t) => {
    const chunks = 24;
    const upstream = await slowUpstream(t);
    const pool = createChunkBufferPool(CHUNK);
    let next = 0;
    const body = new Readable({
      read() {
        if (next === chunks) push(null);
        else push(chunkOf(next++, pool.take(CHUNK)));
      },
    });
    const watched = pool.watch(body);
    const push = (bytes: Uint8Array | null): void => {
      if (bytes === null) body.push(null);
      else watched(bytes);
    };
    const client = createUpstream();
    t.teardown(() => client.close());
    const answer = await client.request({
      origin: `http://127.0.0.1:${upstream.port}`,
      path: '/',
      method: 'PUT',
      headers: { 'content-length': String(chunks * CHUNK) },
      body,
    });
    await answer.body.text();
    const received = await upstream.body;
    t.equal(received.length, chunks * CHUNK, 'every byte arrived');
    const expected = Buffer.allocUnsafe(CHUNK);
    const damaged = Array.from({ length: chunks }, (_, i) => i).filter(
      (i) => !received.subarray(i * CHUNK, (i + 1) * CHUNK).equals(chunkOf(i, expected)),
    );
    t.same(damaged, [], 'no chunk was overwritten while its write was queued');
    t.ok(pool.stats.allocated <= 4, `at most four buffers allocated (${pool.stats.allocated})`);
    t.equal(pool.stats.reused + pool.stats.allocated, chunks, 'the rest were reused');
  },
);

t.test('without a proof the pool never reuses: a reader that never pauses the body', async (t) => {
  const pool = createChunkBufferPool(CHUNK, 2);
  const body = new Readable({ read() {} });
  const push = pool.watch(body);
  for (let i = 0; i < 5; i++) push(chunkOf(i, pool.take(CHUNK)));
  body.push(null);
  const seen: Buffer[] = [];
  for await (const piece of body) seen.push(Buffer.from(piece as Buffer));
  t.equal(pool.stats.reused, 0, 'nothing reused');
  t.equal(pool.stats.allocated, 5, 'two pooled, then fresh buffers beyond the pool');
  const expected = Buffer.concat([0, 1, 2, 3, 4].map((i) => chunkOf(i, Buffer.allocUnsafe(CHUNK))));
  t.ok(Buffer.concat(seen).equals(expected), 'each chunk kept its bytes');
});

t.test("a 'resume' that finds the body paused again proves nothing", async (t) => {
  const pool = createChunkBufferPool(CHUNK);
  const body = new Readable({ read() {} });
  const push = pool.watch(body);
  const first = pool.take(CHUNK);
  body.on('data', () => {});
  push(first);
  await new Promise((resolve) => setImmediate(resolve)); // read out (emitted as 'data')
  body.pause(); // handed before this pause
  body.resume(); // its 'resume' comes a tick later ...
  body.pause(); // ... and finds the body paused: an earlier drain's, not this write's
  await new Promise((resolve) => setImmediate(resolve));
  const second = pool.take(CHUNK);
  t.not(second.buffer, first.buffer, 'the first buffer is still in flight');
  t.equal(pool.stats.reused, 0, 'nothing reused yet');
  body.resume(); // a resume that finds the body flowing: written
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(pool.take(CHUNK).buffer, first.buffer, 'reused after a real resume');
  t.equal(pool.stats.reused, 1);
  t.equal(pool.take(CHUNK * 2).length, CHUNK * 2, 'a length over the capacity gets a fresh buffer');
});

t.test("a re-signed upload from Node's HTTP server through undici: the same bytes, signed", async (t) => {
  const data = Buffer.alloc(9 * UPSTREAM_CHUNK_SIZE + 777);
  for (let at = 0; at < data.length; at++) data[at] = (at * 31 + (at >> 20)) % 251;
  const upstream = await slowUpstream(t);
  const agent = createServer();
  agent.listen(0, '127.0.0.1');
  await once(agent, 'listening');
  t.teardown(() => agent.close());
  const arrived = once(agent, 'request') as Promise<[IncomingMessage, ServerResponse]>;
  const put = httpRequest({
    host: '127.0.0.1',
    port: (agent.address() as AddressInfo).port,
    method: 'PUT',
    headers: { 'content-length': data.length },
  });
  put.on('error', () => {});
  put.end(data);
  const [req, res] = await arrived;
  const sent = buildAwsUpstreamRequest({
    request: unsignedPutRequest(data.length),
    intent: PUT_INTENT,
    origin: { ...PLAIN_HTTP_ORIGIN, port: upstream.port },
    credentials: TEST_CREDENTIALS,
    body: req,
    bodyBuffered: false,
    now: new Date('2026-11-29T20:00:00Z'),
  });
  const client = createUpstream();
  t.teardown(() => client.close());
  const answer = await client.request(sent);
  await answer.body.text();
  res.end();
  const wire = await upstream.body;
  const decoded: Buffer[] = [];
  for await (const piece of decodeAwsChunked([wire], {
    decodedLength: data.length,
    trailerNames: [],
    chunkSignatures: true,
    trailerSignature: false,
  }))
    decoded.push(Buffer.from(piece));
  t.ok(Buffer.concat(decoded).equals(data), "the agent's bytes, unchanged");
  const signing = {
    key: deriveSigningKey(TEST_CREDENTIALS, '20261129', 'us-east-1', 's3'),
    amzDate: '20261129T200000Z',
    scope: '20261129/us-east-1/s3/aws4_request',
    seedSignature: '',
  };
  let previous = /Signature=([0-9a-f]{64})$/.exec(sent.headers['authorization']!)![1]!;
  const unsigned: number[] = [];
  for (let at = 0, i = 0; at < data.length; at += UPSTREAM_CHUNK_SIZE, i++) {
    previous = signChunk(signing, previous, data.subarray(at, at + UPSTREAM_CHUNK_SIZE));
    if (!wire.includes(`;chunk-signature=${previous}\r\n`)) unsigned.push(i);
  }
  t.same(unsigned, [], 'every chunk carries its signature in the chain');
});
