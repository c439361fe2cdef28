// The aws-chunked content coding of S3 streaming uploads: a strict, streaming decoder for the
// agent's body and an encoder that writes Errand's own framing. Errand never forwards the agent's
// framing, chunk signatures or trailers as bytes: it decodes them, keeps only the data and the
// checksum trailers that x-amz-trailer declared, and frames them again itself.
//
// References (Amazon S3 API Reference):
// - "Signature Calculations for the Authorization Header: Transferring Payload in Multiple Chunks
//   (Chunked Upload) (AWS Signature Version 4)" (sigv4-streaming): chunk = hex(size)
//   ";chunk-signature=" signature CRLF data CRLF, ending with a zero-size chunk; the chunk
//   string-to-sign "AWS4-HMAC-SHA256-PAYLOAD" date scope previous-signature sha256("") sha256(data).
// - "Signature calculations for trailing headers (chunked uploads)" (sigv4-streaming-trailers):
//   trailer lines after the final chunk, signed with "AWS4-HMAC-SHA256-TRAILER" over the trailer
//   lines joined by LF, sent as x-amz-trailer-signature.
// - "Checking object integrity" (x-amz-checksum-* trailers of the unsigned-trailer mode).
//
// Memory is bounded whatever the body size: the decoder holds at most one framing line
// (MAX_LINE_BYTES) and passes data through as views; the encoder holds at most one chunk.

import { createHash, createHmac } from 'node:crypto';
import { ErrandError } from '../errors.ts';

/** sha256 of the empty string, hex: the "hash of the chunk headers" in every chunk string-to-sign. */
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
/** The chunk size Errand writes: AWS recommends at least 64 KiB, requires at least 8 KiB. */
export const DEFAULT_CHUNK_SIZE = 64 * 1024;
export const MIN_CHUNK_SIZE = 8 * 1024;
/** Longest framing line accepted: a signed size line is at most 16 + 17 + 64 characters. */
export const MAX_LINE_BYTES = 256;
/** S3 accepts one checksum per request; a second trailer has no legitimate use. */
export const MAX_TRAILERS = 1;

/** The checksum trailers S3 verifies, with the length of their base64 value (4, 4, 8, 20, 32 bytes). */
export const CHECKSUM_TRAILERS: Readonly<Record<string, number>> = {
  'x-amz-checksum-crc32': 8,
  'x-amz-checksum-crc32c': 8,
  'x-amz-checksum-crc64nvme': 12,
  'x-amz-checksum-sha1': 28,
  'x-amz-checksum-sha256': 44,
};

const TRAILER_SIGNATURE = 'x-amz-trailer-signature';

export interface AwsChunkedTrailer {
  readonly name: string;
  readonly value: string;
}

/** What the request headers say about an aws-chunked body. */
export interface AwsChunkedHeaders {
  readonly decodedLength: number;
  /** Lower-case checksum trailer names from x-amz-trailer (zero or one). */
  readonly trailerNames: readonly string[];
}

const DECIMAL = /^(0|[1-9][0-9]{0,15})$/;

const headersError = (detail: string): ErrandError => new ErrandError('ERR_AWS_CHUNKED_HEADERS', detail);

/** Reads Content-Encoding, x-amz-decoded-content-length and x-amz-trailer of an aws-chunked request
 *  (names lower-case, as in NormalizedRequest.headers). Anything ambiguous is refused. */
export function parseAwsChunkedHeaders(headers: ReadonlyMap<string, string>): AwsChunkedHeaders {
  const codings = (headers.get('content-encoding') ?? '').split(',').map((c) => c.trim().toLowerCase());
  const chunked = codings.filter((c) => c === 'aws-chunked').length;
  if (chunked !== 1) throw headersError('Content-Encoding must name aws-chunked exactly once');
  const decoded = headers.get('x-amz-decoded-content-length');
  if (decoded === undefined || !DECIMAL.test(decoded) || !Number.isSafeInteger(Number(decoded))) {
    throw headersError('x-amz-decoded-content-length must be a decimal byte count');
  }
  const trailer = headers.get('x-amz-trailer');
  const trailerNames = trailer === undefined ? [] : trailer.split(',').map((n) => n.trim().toLowerCase());
  if (trailerNames.length > MAX_TRAILERS) throw headersError('x-amz-trailer may name one checksum');
  for (const name of trailerNames) {
    if (CHECKSUM_TRAILERS[name] === undefined) {
      throw headersError('x-amz-trailer may name only an x-amz-checksum-* trailer S3 knows');
    }
  }
  return { decodedLength: Number(decoded), trailerNames };
}

export interface AwsChunkedDecodeOptions extends AwsChunkedHeaders {
  /** Every chunk carries `;chunk-signature=<64 hex>` (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]);
   *  otherwise no chunk may carry an extension (STREAMING-UNSIGNED-PAYLOAD-TRAILER). The agent's
   *  signatures are checked for form only and discarded: they were made with placeholder keys. */
  readonly chunkSignatures: boolean;
  /** The trailer ends with `x-amz-trailer-signature:<64 hex>` (the -TRAILER signed mode). */
  readonly trailerSignature: boolean;
}

/** The decoded data of an aws-chunked body, and its trailers once the data has been read to the end. */
export interface AwsChunkedDecoding extends AsyncIterable<Uint8Array> {
  /** The checksum trailers, in the order received; throws if the body has not been read to the end. */
  trailers(): readonly AwsChunkedTrailer[];
}

const framing = (detail: string): ErrandError => new ErrandError('ERR_AWS_CHUNKED_FRAMING', detail);
const trailerError = (detail: string): ErrandError => new ErrandError('ERR_AWS_CHUNKED_TRAILER', detail);

// Size lines: lower-case hex without sign, spaces or leading zeros (every SDK writes
// `size.toString(16)`), then exactly the one extension the mode requires, or none.
const SIZE_UNSIGNED = /^(0|[1-9a-f][0-9a-f]{0,15})$/;
const SIZE_SIGNED = /^(0|[1-9a-f][0-9a-f]{0,15});chunk-signature=[0-9a-f]{64}$/;
// Trailer field name: an RFC 9110 §5.1 token, so that any named field (Authorization, x-amz-meta-*)
// is reported as an undeclared trailer; only exact lower-case declared names are accepted.
const TRAILER_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):(.*)$/;
const SIGNATURE_VALUE = /^[0-9a-f]{64}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** A checksum value is canonical base64 of the algorithm's length: anything else is not a checksum. */
const isChecksumValue = (name: string, value: string): boolean =>
  value.length === CHECKSUM_TRAILERS[name] &&
  BASE64.test(value) &&
  Buffer.from(value, 'base64').toString('base64') === value;

type State = 'size' | 'data' | 'data-cr' | 'data-lf' | 'trailer' | 'done';

/** Decodes the agent's aws-chunked body. Yields data as it arrives (views of the input); throws an
 *  ErrandError with an ERR_AWS_CHUNKED_* code at the first byte that breaks the framing. */
export function decodeAwsChunked(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: AwsChunkedDecodeOptions,
): AwsChunkedDecoding {
  const expectedTrailers = new Set(options.trailerNames);
  const received: AwsChunkedTrailer[] = [];
  let started = false;
  let finished = false;

  async function* run(): AsyncGenerator<Uint8Array> {
    // One pass only: a second iteration would read a source that is already consumed.
    if (started) throw framing('the body can be read once');
    started = true;
    let state: State = 'size';
    // Read through a function: onLine changes the state, which flow analysis cannot see.
    const now = (): State => state;
    let line: number[] = [];
    let remaining = 0; // data bytes left in the current chunk
    let total = 0; // data bytes seen so far
    let trailerSigned = false;

    // A line ends at LF, which must follow CR; a CR anywhere else is refused by the line grammars.
    const onLine = (text: string): void => {
      if (state === 'size') {
        if (!(options.chunkSignatures ? SIZE_SIGNED : SIZE_UNSIGNED).test(text)) {
          throw framing(`invalid chunk size line ${JSON.stringify(text.slice(0, 40))}`);
        }
        const size = Number.parseInt(text.split(';', 1)[0]!, 16);
        if (size > options.decodedLength - total) {
          throw new ErrandError('ERR_AWS_CHUNKED_LENGTH', 'the chunks carry more data than declared');
        }
        if (size === 0) {
          if (total !== options.decodedLength) {
            throw new ErrandError(
              'ERR_AWS_CHUNKED_LENGTH',
              `the chunks carry ${total} bytes, x-amz-decoded-content-length says ${options.decodedLength}`,
            );
          }
          state = 'trailer';
          return;
        }
        remaining = size;
        state = 'data';
        return;
      }
      // state === 'trailer'
      if (text === '') {
        for (const name of expectedTrailers) {
          if (!received.some((t) => t.name === name))
            throw trailerError(`the declared trailer ${name} is missing`);
        }
        if (options.trailerSignature && expectedTrailers.size > 0 && !trailerSigned) {
          throw framing('the trailer signature is missing');
        }
        state = 'done';
        return;
      }
      if (trailerSigned) throw trailerError('nothing may follow the trailer signature');
      const match = TRAILER_LINE.exec(text);
      if (match === null) throw framing('invalid trailer line');
      const [, name, value] = match as unknown as [string, string, string];
      if (name === TRAILER_SIGNATURE && options.trailerSignature && expectedTrailers.size > 0) {
        if (!SIGNATURE_VALUE.test(value)) throw framing('invalid trailer signature');
        trailerSigned = true;
        return;
      }
      if (!expectedTrailers.has(name)) throw trailerError(`trailer ${name.slice(0, 64)} was not declared`);
      if (received.some((t) => t.name === name)) throw trailerError(`trailer ${name} is repeated`);
      if (!isChecksumValue(name, value)) throw trailerError(`trailer ${name} is not a valid checksum`);
      received.push({ name, value });
    };

    for await (const input of source) {
      let i = 0;
      while (i < input.length) {
        if (now() === 'data') {
          const take = Math.min(remaining, input.length - i);
          yield input.subarray(i, i + take);
          i += take;
          total += take;
          remaining -= take;
          if (remaining === 0) state = 'data-cr';
          continue;
        }
        const byte = input[i++]!;
        if (state === 'data-cr' || state === 'data-lf') {
          if (byte !== (state === 'data-cr' ? 0x0d : 0x0a)) throw framing('chunk data must end with CRLF');
          state = state === 'data-cr' ? 'data-lf' : 'size';
          continue;
        }
        if (now() === 'done') throw framing('bytes after the end of the body');
        if (byte === 0x0a) {
          if (line.at(-1) !== 0x0d) throw framing('a line must end with CRLF');
          line.pop();
          const text = Buffer.from(line).toString('latin1');
          line = [];
          onLine(text);
          continue;
        }
        if (line.length >= MAX_LINE_BYTES) throw framing('a framing line is too long');
        line.push(byte);
      }
    }
    if (now() !== 'done') throw framing('the body ended before the final chunk and trailer');
    finished = true;
  }

  return {
    [Symbol.asyncIterator]: run,
    trailers(): readonly AwsChunkedTrailer[] {
      if (!finished) throw framing('the trailers are read before the body ended');
      return [...received];
    },
  };
}

// ---- encoder ----

/** What Errand needs to sign chunks: the SigV4 signing key and the seed request's date, scope and
 *  signature (the chain starts from Errand's own seed, never from the agent's). */
export interface ChunkSigning {
  readonly key: Uint8Array;
  /** x-amz-date of the seed request, e.g. 20130524T000000Z. */
  readonly amzDate: string;
  /** Credential scope, e.g. 20130524/us-east-1/s3/aws4_request. */
  readonly scope: string;
  readonly seedSignature: string;
}

export interface AwsChunkedEncodeOptions {
  /** Data bytes the body must carry (the x-amz-decoded-content-length Errand sends). */
  readonly decodedLength: number;
  readonly chunkSize?: number;
  /** Present: signed chunks (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]); absent: unsigned framing. */
  readonly signing?: ChunkSigning;
  /** The trailers Errand declared in x-amz-trailer; `trailers()` must return exactly these. */
  readonly trailerNames: readonly string[];
  /** Read once the data has ended (the decoder's trailers become known only then). */
  readonly trailers?: () => readonly AwsChunkedTrailer[];
}

const sha256Hex = (data: Uint8Array | string): string => createHash('sha256').update(data).digest('hex');
const hmacHex = (key: Uint8Array, text: string): string =>
  createHmac('sha256', key).update(text).digest('hex');

/** The signature of one chunk (sigv4-streaming, "Defining the Chunk Body"). */
export function signChunk(signing: ChunkSigning, previousSignature: string, data: Uint8Array): string {
  return hmacHex(
    signing.key,
    [
      'AWS4-HMAC-SHA256-PAYLOAD',
      signing.amzDate,
      signing.scope,
      previousSignature,
      EMPTY_SHA256,
      sha256Hex(data),
    ].join('\n'),
  );
}

/** The signature of the trailer (sigv4-streaming-trailers): the hash covers each `name:value` + LF. */
export function signTrailer(
  signing: ChunkSigning,
  previousSignature: string,
  trailers: readonly AwsChunkedTrailer[],
): string {
  const canonical = trailers.map((t) => `${t.name}:${t.value}\n`).join('');
  return hmacHex(
    signing.key,
    [
      'AWS4-HMAC-SHA256-TRAILER',
      signing.amzDate,
      signing.scope,
      previousSignature,
      sha256Hex(canonical),
    ].join('\n'),
  );
}

const CRLF = Buffer.from('\r\n', 'latin1');

const checkChunkSize = (chunkSize: number): void => {
  if (!Number.isSafeInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE) {
    throw new ErrandError(
      'ERR_SIGN_INPUT',
      `the chunk size must be an integer of at least ${MIN_CHUNK_SIZE}`,
    );
  }
};

const checkTrailerNames = (names: readonly string[]): void => {
  if (names.length > MAX_TRAILERS || names.some((n) => CHECKSUM_TRAILERS[n] === undefined)) {
    throw new ErrandError('ERR_SIGN_INPUT', 'Errand sends at most one x-amz-checksum-* trailer');
  }
};

/** Writes `data` as an aws-chunked body in fixed chunks of `chunkSize` (the last may be shorter),
 *  signed or unsigned, with the declared checksum trailers. Throws ERR_AWS_CHUNKED_LENGTH when the
 *  data is not exactly `decodedLength` bytes, ERR_AWS_CHUNKED_TRAILER when the trailers differ
 *  from the declared ones. */
export async function* encodeAwsChunked(
  data: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: AwsChunkedEncodeOptions,
): AsyncGenerator<Uint8Array> {
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  checkChunkSize(chunkSize);
  checkTrailerNames(options.trailerNames);
  const signing = options.signing;
  let previous = signing?.seedSignature ?? '';
  let total = 0;

  const frame = (chunk: Uint8Array): Buffer => {
    const size = chunk.length.toString(16);
    if (signing === undefined) return Buffer.from(`${size}\r\n`, 'latin1');
    previous = signChunk(signing, previous, chunk);
    return Buffer.from(`${size};chunk-signature=${previous}\r\n`, 'latin1');
  };

  let buffer = Buffer.allocUnsafe(chunkSize);
  let filled = 0;
  for await (const input of data) {
    total += input.length;
    if (total > options.decodedLength) {
      throw new ErrandError('ERR_AWS_CHUNKED_LENGTH', 'the body carries more data than declared');
    }
    let i = 0;
    while (i < input.length) {
      const take = Math.min(chunkSize - filled, input.length - i);
      buffer.set(input.subarray(i, i + take), filled);
      filled += take;
      i += take;
      if (filled === chunkSize) {
        yield frame(buffer);
        yield buffer;
        yield CRLF;
        buffer = Buffer.allocUnsafe(chunkSize);
        filled = 0;
      }
    }
  }
  if (total !== options.decodedLength) {
    throw new ErrandError(
      'ERR_AWS_CHUNKED_LENGTH',
      `the body carries ${total} bytes, x-amz-decoded-content-length says ${options.decodedLength}`,
    );
  }
  if (filled > 0) {
    const last = buffer.subarray(0, filled);
    yield frame(last);
    yield last;
    yield CRLF;
  }
  yield frame(new Uint8Array(0));

  const trailers = options.trailers?.() ?? [];
  const names = trailers.map((t) => t.name);
  if (
    names.length !== options.trailerNames.length ||
    names.some((n) => !options.trailerNames.includes(n)) ||
    new Set(names).size !== names.length ||
    trailers.some((t) => !isChecksumValue(t.name, t.value))
  ) {
    throw trailerError('the trailers differ from the declared x-amz-trailer');
  }
  let tail = trailers.map((t) => `${t.name}:${t.value}\r\n`).join('');
  if (signing !== undefined && trailers.length > 0) {
    tail += `${TRAILER_SIGNATURE}:${signTrailer(signing, previous, trailers)}\r\n`;
  }
  yield Buffer.from(`${tail}\r\n`, 'latin1');
}

/** The Content-Length of the body encodeAwsChunked writes, known before the first byte is sent
 *  (S3 wants a Content-Length with aws-chunked, unless the request is itself Transfer-Encoding: chunked). */
export function awsChunkedEncodedLength(options: {
  readonly decodedLength: number;
  readonly chunkSize?: number;
  readonly signed: boolean;
  readonly trailerNames: readonly string[];
}): number {
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  checkChunkSize(chunkSize);
  checkTrailerNames(options.trailerNames);
  const extension = options.signed ? ';chunk-signature='.length + 64 : 0;
  const chunk = (size: number): number =>
    size.toString(16).length + extension + 2 + size + (size > 0 ? 2 : 0);
  const full = Math.floor(options.decodedLength / chunkSize);
  const rest = options.decodedLength % chunkSize;
  let length = full * chunk(chunkSize) + (rest > 0 ? chunk(rest) : 0) + chunk(0);
  for (const name of options.trailerNames) length += name.length + 1 + CHECKSUM_TRAILERS[name]! + 2;
  if (options.signed && options.trailerNames.length > 0) length += TRAILER_SIGNATURE.length + 1 + 64 + 2;
  return length + 2;
}
