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
// (MAX_LINE_BYTES) and passes data through as views; the unsigned encoder holds nothing, the
// signed one at most one chunk.

import { createHash, createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { ErrandError } from '../errors.ts';

/** sha256 of the empty string, hex: the "hash of the chunk headers" in every chunk string-to-sign. */
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
/** The encoder's default chunk size, the one AWS SDKs write: AWS recommends at least 64 KiB. */
export const DEFAULT_CHUNK_SIZE = 64 * 1024;
/** The chunk size of the body Errand sends upstream. S3 takes fixed or variable chunks of at least
 *  8 KiB but the last (sigv4-streaming); 1 MiB makes the per-chunk cost (a size line, and when
 *  signing an HMAC and a held chunk) small beside the data, at 1 MiB held per signed upload. */
export const UPSTREAM_CHUNK_SIZE = 1024 * 1024;
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

/** A push decoder of the agent's aws-chunked body: `push` each piece of the body as it arrives,
 *  `end` when the body ends. Data goes to `emit` as views of the pushed pieces (no copy); the
 *  framing lines are found by index, so the cost per piece does not depend on its size. Throws an
 *  ErrandError with an ERR_AWS_CHUNKED_* code at the first byte that breaks the framing. */
export interface AwsChunkedDecoder {
  push(input: Uint8Array, emit: (data: Uint8Array) => void): void;
  end(): void;
  /** The checksum trailers, in the order received; throws if the body has not ended. */
  trailers(): readonly AwsChunkedTrailer[];
}

export function createAwsChunkedDecoder(options: AwsChunkedDecodeOptions): AwsChunkedDecoder {
  const expectedTrailers = new Set(options.trailerNames);
  const sizeLine = options.chunkSignatures ? SIZE_SIGNED : SIZE_UNSIGNED;
  const received: AwsChunkedTrailer[] = [];
  let state: State = 'size';
  // A framing line split across pieces: its bytes so far (at most MAX_LINE_BYTES).
  let partial: Buffer | undefined;
  let remaining = 0; // data bytes left in the current chunk
  let total = 0; // data bytes seen so far
  let trailerSigned = false;
  let finished = false;

  // A line ends at LF, which must follow CR; a CR anywhere else is refused by the line grammars.
  const onLine = (text: string): void => {
    if (state === 'size') {
      if (!sizeLine.test(text)) {
        throw framing(`invalid chunk size line ${JSON.stringify(text.slice(0, 40))}`);
      }
      const semicolon = text.indexOf(';');
      const size = Number.parseInt(semicolon < 0 ? text : text.slice(0, semicolon), 16);
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

  /** Reads framing-line bytes from `input` at `i`; returns the index after what it consumed. */
  const readLine = (input: Uint8Array, i: number): number => {
    const have = partial?.length ?? 0;
    // Look for LF no further than a line may reach: MAX_LINE_BYTES bytes before it (CR included).
    const window = Math.min(input.length, i + MAX_LINE_BYTES - have + 1);
    const found = input.subarray(i, window).indexOf(0x0a);
    const lf = found < 0 ? -1 : i + found;
    if (lf < 0) {
      if (window - i + have > MAX_LINE_BYTES) throw framing('a framing line is too long');
      const piece = Buffer.from(input.buffer, input.byteOffset + i, input.length - i);
      partial = partial === undefined ? Buffer.from(piece) : Buffer.concat([partial, piece]);
      return input.length;
    }
    const tail = Buffer.from(input.buffer, input.byteOffset + i, lf - i);
    const line = partial === undefined ? tail : Buffer.concat([partial, tail]);
    partial = undefined;
    if (line.length === 0 || line[line.length - 1] !== 0x0d) throw framing('a line must end with CRLF');
    onLine(line.toString('latin1', 0, line.length - 1));
    return lf + 1;
  };

  return {
    push(input, emit) {
      let i = 0;
      while (i < input.length) {
        switch (state) {
          case 'data': {
            const take = Math.min(remaining, input.length - i);
            emit(input.subarray(i, i + take));
            i += take;
            total += take;
            remaining -= take;
            if (remaining === 0) state = 'data-cr';
            break;
          }
          case 'data-cr':
          case 'data-lf':
            if (input[i++] !== (state === 'data-cr' ? 0x0d : 0x0a))
              throw framing('chunk data must end with CRLF');
            state = state === 'data-cr' ? 'data-lf' : 'size';
            break;
          case 'done':
            throw framing('bytes after the end of the body');
          default:
            i = readLine(input, i);
        }
      }
    },
    end() {
      if (state !== 'done') throw framing('the body ended before the final chunk and trailer');
      finished = true;
    },
    trailers() {
      if (!finished) throw framing('the trailers are read before the body ended');
      return [...received];
    },
  };
}

/** Decodes the agent's aws-chunked body from an iterable (the push decoder above, for callers that
 *  pull). Yields data as it arrives (views of the input). */
export function decodeAwsChunked(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: AwsChunkedDecodeOptions,
): AwsChunkedDecoding {
  const decoder = createAwsChunkedDecoder(options);
  let started = false;

  async function* run(): AsyncGenerator<Uint8Array> {
    // One pass only: a second iteration would read a source that is already consumed.
    if (started) throw framing('the body can be read once');
    started = true;
    const out: Uint8Array[] = [];
    const emit = (data: Uint8Array): void => {
      out.push(data);
    };
    for await (const input of source) {
      decoder.push(input, emit);
      yield* out;
      out.length = 0;
    }
    decoder.end();
  }

  return { [Symbol.asyncIterator]: run, trailers: () => decoder.trailers() };
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
  /** The pushed pieces are the encoder's once pushed: nothing else reads them afterwards (Node's
   *  HTTP parser hands every body read over as a fresh buffer of its own). A held chunk is then
   *  sent as one buffer, its size line and data copied together (one upstream write per chunk
   *  instead of one per piece), and every piece that is a whole buffer is freed at once
   *  (ArrayBuffer transfer) instead of waiting for V8's next full collection. */
  readonly releaseInput?: boolean;
  /** With `releaseInput`: where a held chunk is joined (default: a fresh buffer). The buffer is
   *  the caller's again only once the upstream has written it (src/proxy/chunk-buffer-pool.ts). */
  readonly chunkBuffer?: (length: number) => Buffer;
}

const sha256Hex = (data: Uint8Array | string): string => createHash('sha256').update(data).digest('hex');
const hmacHex = (key: Uint8Array | KeyObject, text: string): string =>
  createHmac('sha256', key).update(text).digest('hex');

/** The chunk string-to-sign (sigv4-streaming, "Defining the Chunk Body"), from the data's sha256. */
const chunkStringToSign = (signing: ChunkSigning, previousSignature: string, dataSha256: string): string =>
  `AWS4-HMAC-SHA256-PAYLOAD\n${signing.amzDate}\n${signing.scope}\n${previousSignature}\n${EMPTY_SHA256}\n${dataSha256}`;

/** The signature of one chunk (sigv4-streaming, "Defining the Chunk Body"). */
export function signChunk(signing: ChunkSigning, previousSignature: string, data: Uint8Array): string {
  return hmacHex(signing.key, chunkStringToSign(signing, previousSignature, sha256Hex(data)));
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

/** A push encoder of Errand's aws-chunked body: `push` the data as it arrives, `end` once it has
 *  ended. Chunk sizes are fixed by `decodedLength` and `chunkSize` (so the Content-Length is known
 *  before the first byte). Unsigned chunks stream through as they arrive; a signed chunk is held
 *  until it is complete (its signature precedes its data), as slices of the input. Pieces under
 *  COALESCE_BYTES are copied together, so a body sent a byte at a time neither piles up small
 *  views nor becomes one upstream write (one TLS record) per byte.
 *  The last data chunk, signed or not, is held until `end`: the upstream gets the end of the data
 *  only once the whole agent body has been checked (a body of one chunk reaches it only then). */
export interface AwsChunkedEncoder {
  push(input: Uint8Array, emit: (bytes: Uint8Array) => void): void;
  end(emit: (bytes: Uint8Array) => void): void;
}

/** Pieces shorter than this are copied into a shared buffer rather than held as views. */
const COALESCE_BYTES = 8 * 1024;

export function createAwsChunkedEncoder(options: AwsChunkedEncodeOptions): AwsChunkedEncoder {
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  checkChunkSize(chunkSize);
  checkTrailerNames(options.trailerNames);
  const signing = options.signing;
  const key = signing === undefined ? undefined : createSecretKey(signing.key);
  const declared = options.decodedLength;
  let previous = signing?.seedSignature ?? '';
  let total = 0; // data bytes pushed so far
  let chunkLeft = 0; // data bytes still due in the current chunk
  let chunkFull = 0; // the size of the current chunk
  let holding = false; // the current chunk is held until complete (signed, or the last one)
  let last = false; // the current chunk is the last data chunk
  let separator = ''; // the CRLF ending the previous chunk, sent with the next size line
  // The current chunk's data not yet sent, and (signed) its running hash.
  let held: Uint8Array[] = [];
  let hash = createHash('sha256');
  let staging: Buffer | undefined;
  let stagingStart = 0;
  let stagingEnd = 0;

  const sizeLine = (size: number, signature?: string): Buffer =>
    Buffer.from(
      signature === undefined
        ? `${separator}${size.toString(16)}\r\n`
        : `${separator}${size.toString(16)};chunk-signature=${signature}\r\n`,
      'latin1',
    );
  // The key object (made once per body) is a copy the session's wipe cannot reach: each signature first checks that
  // the session's bytes still hold the key (a wiped key is all zeros), so an upload in flight
  // when the sessions are wiped signs no further chunk.
  const chunkSignature = (dataSha256: string): string => {
    if (signing!.key.every((b) => b === 0)) throw new ErrandError('ERR_CREDENTIALS_WIPED');
    return hmacHex(key!, chunkStringToSign(signing!, previous, dataSha256));
  };

  const flushStaging = (): void => {
    if (staging !== undefined && stagingEnd > stagingStart) {
      held.push(staging.subarray(stagingStart, stagingEnd));
      stagingStart = stagingEnd;
    }
  };
  const collect = (piece: Uint8Array): void => {
    if (piece.length >= COALESCE_BYTES) {
      flushStaging();
      held.push(piece);
      return;
    }
    if (staging === undefined || staging.length - stagingEnd < piece.length) {
      flushStaging();
      staging = Buffer.allocUnsafe(Math.max(COALESCE_BYTES * 8, piece.length));
      stagingStart = 0;
      stagingEnd = 0;
    }
    staging.set(piece, stagingEnd);
    stagingEnd += piece.length;
  };
  const release = (emit: (bytes: Uint8Array) => void): void => {
    flushStaging();
    for (const piece of held) emit(piece);
    held = [];
  };
  // A piece that is a whole buffer of the input is freed; views of a larger buffer (the input
  // split between chunks, the staging buffer) are left to the collector.
  const free = (piece: Uint8Array): void => {
    const buffer = piece.buffer;
    if (
      buffer instanceof ArrayBuffer &&
      buffer !== staging?.buffer &&
      piece.byteOffset === 0 &&
      piece.byteLength === buffer.byteLength
    )
      buffer.transfer(0);
  };
  const joinHeld = (line: Buffer, size: number): Buffer => {
    flushStaging();
    // The bytes joined are the bytes hashed: a piece that lost its memory since (length 0) is
    // refused, and every byte of the unzeroed buffer is written before it is sent.
    let length = 0;
    for (const piece of held) length += piece.length;
    if (length !== size)
      throw new ErrandError('ERR_AWS_CHUNKED_LENGTH', 'a chunk changed before it was sent');
    const out = options.chunkBuffer?.(line.length + size) ?? Buffer.allocUnsafe(line.length + size);
    let at = line.copy(out, 0);
    for (const piece of held) {
      out.set(piece, at);
      at += piece.length;
    }
    for (const piece of held) free(piece);
    held = [];
    return out;
  };
  const sendHeld = (size: number, emit: (bytes: Uint8Array) => void): void => {
    let line: Buffer;
    if (signing === undefined) line = sizeLine(size);
    else {
      previous = chunkSignature(hash.digest('hex'));
      hash = createHash('sha256');
      line = sizeLine(size, previous);
    }
    separator = '\r\n';
    if (options.releaseInput === true) emit(joinHeld(line, size));
    else {
      emit(line);
      release(emit);
    }
  };

  return {
    push(input, emit) {
      if (input.length > declared - total) {
        throw new ErrandError('ERR_AWS_CHUNKED_LENGTH', 'the body carries more data than declared');
      }
      let i = 0;
      while (i < input.length) {
        if (chunkLeft === 0) {
          chunkLeft = Math.min(chunkSize, declared - total);
          chunkFull = chunkLeft;
          last = total + chunkFull === declared;
          holding = signing !== undefined || last;
          if (!holding) {
            emit(sizeLine(chunkLeft));
            separator = '\r\n';
          }
        }
        const take = Math.min(chunkLeft, input.length - i);
        const piece = input.subarray(i, i + take);
        i += take;
        total += take;
        chunkLeft -= take;
        collect(piece);
        if (!holding) {
          // Small pieces go out once COALESCE_BYTES have gathered, or with the end of the chunk.
          if (
            piece.length >= COALESCE_BYTES ||
            stagingEnd - stagingStart >= COALESCE_BYTES ||
            chunkLeft === 0
          )
            release(emit);
        } else {
          if (signing !== undefined) hash.update(piece);
          if (chunkLeft === 0 && !last) sendHeld(chunkFull, emit);
        }
      }
    },
    end(emit) {
      if (total !== declared) {
        throw new ErrandError(
          'ERR_AWS_CHUNKED_LENGTH',
          `the body carries ${total} bytes, x-amz-decoded-content-length says ${declared}`,
        );
      }
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
      if (last) sendHeld(chunkFull, emit);
      let tail = trailers.map((t) => `${t.name}:${t.value}\r\n`).join('');
      if (signing === undefined) emit(Buffer.from(`${separator}0\r\n${tail}\r\n`, 'latin1'));
      else {
        previous = chunkSignature(EMPTY_SHA256);
        if (trailers.length > 0)
          tail += `${TRAILER_SIGNATURE}:${signTrailer(signing, previous, trailers)}\r\n`;
        emit(Buffer.from(`${separator}0;chunk-signature=${previous}\r\n${tail}\r\n`, 'latin1'));
      }
    },
  };
}

/** Writes `data` as an aws-chunked body in fixed chunks of `chunkSize` (the last may be shorter),
 *  signed or unsigned, with the declared checksum trailers (the push encoder above, for callers
 *  that pull). Throws ERR_AWS_CHUNKED_LENGTH when the data is not exactly `decodedLength` bytes,
 *  ERR_AWS_CHUNKED_TRAILER when the trailers differ from the declared ones. */
export async function* encodeAwsChunked(
  data: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: AwsChunkedEncodeOptions,
): AsyncGenerator<Uint8Array> {
  const encoder = createAwsChunkedEncoder(options);
  const out: Uint8Array[] = [];
  const emit = (bytes: Uint8Array): void => {
    out.push(bytes);
  };
  for await (const input of data) {
    encoder.push(input, emit);
    yield* out;
    out.length = 0;
  }
  encoder.end(emit);
  yield* out;
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
