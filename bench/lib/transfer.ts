import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import { type Dispatcher, request } from 'undici';
import { awsChunkedEncodedLength, encodeAwsChunked } from '../../src/credentials/aws-chunked.ts';

// The client side of the large transfers: bodies generated as they are sent (nothing held), in the
// payload modes an AWS SDK uses, and one timed PUT or GET.

const BLOCK = Buffer.alloc(1024 * 1024, 'errand-bench-pattern-');

/** `size` bytes of a fixed pattern, generated block by block. */
export function* patternBlocks(size: number): Generator<Buffer> {
  let left = size;
  while (left > 0) {
    const n = Math.min(left, BLOCK.length);
    left -= n;
    yield n === BLOCK.length ? BLOCK : BLOCK.subarray(0, n);
  }
}

/** sha256 of the pattern body of `size` bytes, hex (what an SDK declares in client-hash mode). */
export function patternSha256(size: number): string {
  const h = createHash('sha256');
  for (const b of patternBlocks(size)) h.update(b);
  return h.digest('hex');
}

export type PayloadMode = 'client-hash' | 'unsigned' | 'trailer' | 'raw';

export interface PreparedBody {
  readonly headers: Record<string, string>;
  readonly body: () => Readable;
}

/** Headers and body of a PUT in one payload mode; `raw` is the plain body a direct PUT sends. */
export function prepareBody(mode: PayloadMode, size: number, sha256: () => string): PreparedBody {
  const plain = () => Readable.from(patternBlocks(size), { objectMode: false });
  if (mode === 'raw') return { headers: { 'content-length': String(size) }, body: plain };
  if (mode === 'client-hash')
    return { headers: { 'content-length': String(size), 'x-amz-content-sha256': sha256() }, body: plain };
  if (mode === 'unsigned')
    return {
      headers: { 'content-length': String(size), 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
      body: plain,
    };
  // STREAMING-UNSIGNED-PAYLOAD-TRAILER: aws-chunked framing, CRC32 trailer computed while sending.
  const trailerNames = ['x-amz-checksum-crc32'];
  return {
    headers: {
      'content-encoding': 'aws-chunked',
      'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
      'x-amz-decoded-content-length': String(size),
      'x-amz-trailer': 'x-amz-checksum-crc32',
      'content-length': String(awsChunkedEncodedLength({ decodedLength: size, signed: false, trailerNames })),
    },
    body: () => {
      let crc = 0;
      function* counted(): Generator<Buffer> {
        for (const b of patternBlocks(size)) {
          crc = crc32(b, crc);
          yield b;
        }
      }
      const crcBase64 = () => {
        const out = Buffer.alloc(4);
        out.writeUInt32BE(crc >>> 0);
        return out.toString('base64');
      };
      return Readable.from(
        encodeAwsChunked(counted(), {
          decodedLength: size,
          trailerNames,
          trailers: () => [{ name: 'x-amz-checksum-crc32', value: crcBase64() }],
        }),
      );
    },
  };
}

export interface TransferResult {
  readonly seconds: number;
  /** Data bytes (not framing) per second. */
  readonly bytesPerSecond: number;
  /** Milliseconds from the start of the request to the upstream's first body byte (PUT only). */
  readonly firstByteMs: number;
}

const epochMs = (): number => performance.timeOrigin + performance.now();

/** One PUT: the upstream answers with when it saw the first body byte and how many bytes it got. */
export async function timedPut(
  url: string,
  prepared: PreparedBody,
  extraHeaders: Readonly<Record<string, string>>,
  size: number,
  dispatcher: Dispatcher,
): Promise<TransferResult> {
  const t0 = performance.now();
  const started = epochMs();
  const res = await request(url, {
    method: 'PUT',
    headers: { ...extraHeaders, ...prepared.headers },
    body: prepared.body(),
    dispatcher,
  });
  const text = await res.body.text();
  const seconds = (performance.now() - t0) / 1000;
  if (res.statusCode !== 200) throw new Error(`PUT ${url}: ${res.statusCode} ${text.slice(0, 300)}`);
  const received = Number(res.headers['x-bench-received']);
  if (!(received >= size)) throw new Error(`PUT ${url}: the upstream received ${received} of ${size} bytes`);
  const firstByte = Number(res.headers['x-bench-first-byte-ms']);
  return { seconds, bytesPerSecond: size / seconds, firstByteMs: firstByte - started };
}

/** One GET of `size` bytes, read to the end and counted. */
export async function timedGet(
  url: string,
  headers: Readonly<Record<string, string>>,
  size: number,
  dispatcher: Dispatcher,
): Promise<TransferResult> {
  const t0 = performance.now();
  const res = await request(url, { method: 'GET', headers, dispatcher });
  let got = 0;
  for await (const c of res.body) got += (c as Buffer).length;
  const seconds = (performance.now() - t0) / 1000;
  if (res.statusCode !== 200 || got !== size)
    throw new Error(`GET ${url}: ${res.statusCode}, ${got} of ${size} bytes`);
  return { seconds, bytesPerSecond: size / seconds, firstByteMs: Number.NaN };
}
