import { createHash } from 'node:crypto';
import { IncomingMessage } from 'node:http';
import { finished, Readable, Transform } from 'node:stream';
import type { ClassifiedAwsIntent } from '../classify/types.ts';
import {
  type AwsChunkedDecoder,
  type AwsChunkedEncodeOptions,
  type AwsChunkedEncoder,
  awsChunkedEncodedLength,
  createAwsChunkedDecoder,
  createAwsChunkedEncoder,
  parseAwsChunkedHeaders,
  UPSTREAM_CHUNK_SIZE,
} from '../credentials/aws-chunked.ts';
import {
  awsEncodePathSegment,
  awsEncodeS3Key,
  choosePayloadMode,
  type SigningKeyCache,
  signAwsRequest,
  UNSIGNED_PAYLOAD,
} from '../credentials/sign-aws.ts';
import { ErrandError } from '../errors.ts';
import { type ChunkBufferPool, createChunkBufferPool } from './chunk-buffer-pool.ts';
import type { AwsCredentials, AwsOrigin } from './context.ts';
import { decodeOnce } from './front.ts';
import type { NormalizedRequest } from './request.ts';
import type { UpstreamRequest } from './upstream.ts';

// Builds the one request Errand sends upstream from the authorized intent: the path and query in
// the canonical AWS encoding (so the bytes sent are the bytes signed), the classifier's header set,
// Errand's own framing of the body, and Errand's signature. Nothing is copied from the raw request.

export interface BuildInput {
  readonly request: NormalizedRequest;
  readonly intent: ClassifiedAwsIntent;
  readonly origin: AwsOrigin;
  readonly credentials: AwsCredentials;
  /** The agent's body: buffered (already read to classify) or the request stream. */
  readonly body: Uint8Array | AsyncIterable<Uint8Array>;
  readonly bodyBuffered: boolean;
  readonly now: Date;
  readonly signingKeys?: SigningKeyCache;
  /** The smallest maxBodyBytes of the grants that allowed the request, if any set one. */
  readonly maxBodyBytes?: number;
}

/** The path to send: S3 path-style `/{bucket}/{key}` with the key decoded once and re-encoded
 *  canonically (E5: no dot-segment removal, no slash merging); other REST paths segment by segment. */
export function upstreamPath(req: NormalizedRequest, intent: ClassifiedAwsIntent, basePath: string): string {
  if (intent.service === 's3') {
    if (!intent.s3) return `${basePath}/`;
    const key = intent.s3.rawKey === undefined ? undefined : decodeOnce(intent.s3.rawKey);
    if (intent.s3.rawKey !== undefined && key === undefined)
      throw new ErrandError('ERR_SIGN_INPUT', 'the key does not decode');
    return `${basePath}/${intent.s3.bucket}${key === undefined ? '' : `/${awsEncodeS3Key(key)}`}`;
  }
  if (req.rawPath === '/' || req.rawPath === '') return `${basePath}/`;
  const segments = req.rawPath
    .slice(1)
    .split('/')
    .map((s) => {
      const d = decodeOnce(s);
      if (d === undefined) throw new ErrandError('ERR_SIGN_INPUT', 'a path segment does not decode');
      return awsEncodePathSegment(d);
    });
  return `${basePath}/${segments.join('/')}`;
}

/** Pipes the agent's body into ours. The agent's stream ending early aborts ours (and with it the
 *  upstream request, so a partial body is never complete there); ours failing for the upstream's
 *  sake ends the agent's too. A body fault (an ErrandError) only stops reading: the caller answers
 *  the agent and then closes its connection, whose framing is spent. */
function connect(source: Readable, body: Transform): void {
  source.pipe(body);
  finished(source, (error) => {
    if (error) body.destroy(error);
  });
  finished(body, (error) => {
    source.unpipe(body);
    if (error && !(error instanceof ErrandError)) source.destroy();
  });
}

/** The longest size line of a chunk: the previous chunk's CRLF, the size in hex, the signature. */
const MAX_SIZE_LINE = 2 + 16 + ';chunk-signature='.length + 64 + 2;

/** How the agent's body becomes the upstream body: an optional aws-chunked decoder, then an
 *  optional encoder of Errand's framing (absent: the data passes through). */
interface BodyStages {
  readonly limit: number | undefined;
  readonly decoder?: AwsChunkedDecoder;
  readonly encoder?: AwsChunkedEncoder;
  /** The encoder's chunk buffers, reused once the upstream has written them. */
  readonly pool?: ChunkBufferPool;
}

/** One Transform from the agent's body to the upstream body: the cap (A14), the decoder and the
 *  encoder run as synchronous steps on each piece, so a piece costs no promise and no generator
 *  step, and the stream's own back-pressure bounds what is queued between the agent and the
 *  upstream. An ErrandError from any step destroys our body: the upstream request is aborted. */
function transformBody(source: AsyncIterable<Uint8Array>, stages: BodyStages): Readable {
  const { limit, decoder, encoder, pool } = stages;
  let total = 0;
  let push = (bytes: Uint8Array): void => {
    body.push(bytes);
  };
  const send = (bytes: Uint8Array): void => push(bytes);
  const data = encoder === undefined ? send : (bytes: Uint8Array) => encoder.push(bytes, send);
  const body = new Transform({
    // Up to a chunk of Errand's framing may wait for the upstream, as Readable.from's 16 pieces of
    // 64 KiB did: fewer pauses of the agent's socket while the upstream write catches up.
    readableHighWaterMark: UPSTREAM_CHUNK_SIZE,
    transform(chunk: Buffer, _encoding, callback) {
      try {
        total += chunk.length;
        if (limit !== undefined && total > limit)
          throw new ErrandError('ERR_BODY_TOO_LARGE', `more than ${limit} bytes`);
        if (decoder === undefined) data(chunk);
        else decoder.push(chunk, data);
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
    flush(callback) {
      try {
        decoder?.end();
        encoder?.end(send);
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
  });
  if (pool !== undefined) push = pool.watch(body);
  // The agent's body is read only once the upstream reads ours (as a pull would): a request that
  // fails before sending leaves the agent's stream untouched.
  const read = body._read;
  let started = false;
  body._read = function (this: Transform, size: number): void {
    if (!started) {
      started = true;
      connect(source instanceof Readable ? source : Readable.from(source), body);
    }
    read.call(this, size);
  };
  return body;
}

export function buildAwsUpstreamRequest(input: BuildInput): UpstreamRequest {
  const { request, intent, origin } = input;
  // x-amz-content-sha256 is set by the signer from the payload mode below; leaving it out here
  // rather than deleting it later keeps this object out of V8's slow (dictionary) mode.
  const headers: Record<string, string> = {};
  for (const [name, value] of intent.forwardHeaders)
    if (name !== 'x-amz-content-sha256') headers[name] = value;
  const declaredLength = request.headers.get('content-length');
  const chunkedFraming = request.headers.has('transfer-encoding');
  const bufferedBody = input.bodyBuffered ? (input.body as Uint8Array) : undefined;
  const hasBody = bufferedBody
    ? bufferedBody.length > 0
    : chunkedFraming || (declaredLength !== undefined && declaredLength !== '0');
  if (
    input.maxBodyBytes !== undefined &&
    declaredLength !== undefined &&
    Number(declaredLength) > input.maxBodyBytes
  ) {
    throw new ErrandError(
      'ERR_BODY_TOO_LARGE',
      `Content-Length ${declaredLength} is over ${input.maxBodyBytes}`,
    );
  }

  // The payload mode: S3 bodies without a declared hash are treated as unsigned (signed chunks on
  // plain http); buffered JSON/query bodies are hashed.
  let agentSha = request.headers.get('x-amz-content-sha256');
  if (agentSha === undefined && hasBody && !bufferedBody) agentSha = UNSIGNED_PAYLOAD;
  const plan = choosePayloadMode(agentSha, origin.scheme === 'https', hasBody);
  if (!plan.ok) throw new ErrandError('ERR_AWS_PAYLOAD_MODE', plan.message);

  let payloadHash: string;
  let contentLength: number | undefined;
  let makeBody: (chunkSigning: AwsChunkedEncodeOptions['signing']) => UpstreamRequest['body'];
  const stream = (stages: Omit<BodyStages, 'limit'> = {}) =>
    transformBody(input.body as AsyncIterable<Uint8Array>, { limit: input.maxBodyBytes, ...stages });
  if (plan.mode === 'empty') {
    payloadHash = plan.contentSha256;
    makeBody = () => undefined;
    if (hasBody) contentLength = bufferedBody?.length ?? Number(declaredLength ?? 0);
  } else if (plan.mode === 'hash-body') {
    const buf = bufferedBody ?? new Uint8Array(0);
    payloadHash = createHash('sha256').update(buf).digest('hex');
    contentLength = buf.length;
    makeBody = () => buf;
  } else if (plan.mode === 'declared' || plan.mode === 'unsigned') {
    payloadHash = plan.contentSha256;
    if (bufferedBody) {
      contentLength = bufferedBody.length;
      makeBody = () => bufferedBody;
    } else if (!hasBody) {
      // A GET or HEAD (the SDK still declares the empty hash), or an empty PUT: nothing to stream,
      // so no Transform; an explicit `Content-Length: 0` is kept.
      if (declaredLength !== undefined) contentLength = 0;
      makeBody = () => undefined;
    } else {
      contentLength = declaredLength === undefined ? undefined : Number(declaredLength);
      makeBody = () => stream();
    }
  } else {
    // aws-chunked: decode the agent's framing (if any) and write Errand's own (E9).
    const agent = plan.agentFraming === 'aws-chunked' ? parseAwsChunkedHeaders(request.headers) : undefined;
    const decodedLength = agent?.decodedLength ?? Number(declaredLength ?? Number.NaN);
    if (!Number.isSafeInteger(decodedLength)) {
      throw new ErrandError(
        'ERR_AWS_CHUNKED_HEADERS',
        'Errand needs the body length (Content-Length) to frame an unsigned body on a plain-http upstream',
      );
    }
    if (input.maxBodyBytes !== undefined && decodedLength > input.maxBodyBytes) {
      throw new ErrandError('ERR_BODY_TOO_LARGE', `${decodedLength} bytes is over ${input.maxBodyBytes}`);
    }
    const trailerNames = plan.trailer ? (agent?.trailerNames ?? []) : [];
    payloadHash = plan.contentSha256;
    const codings = (headers['content-encoding'] ?? '')
      .split(',')
      .map((c) => c.trim())
      .filter((c) => c !== '' && c !== 'aws-chunked');
    headers['content-encoding'] = ['aws-chunked', ...codings].join(',');
    headers['x-amz-decoded-content-length'] = String(decodedLength);
    if (trailerNames.length > 0) headers['x-amz-trailer'] = trailerNames.join(',');
    else delete headers['x-amz-trailer'];
    contentLength = awsChunkedEncodedLength({
      decodedLength,
      chunkSize: UPSTREAM_CHUNK_SIZE,
      signed: plan.signedChunks,
      trailerNames,
    });
    makeBody = (signing) => {
      const decoder = agent
        ? createAwsChunkedDecoder({
            ...agent,
            chunkSignatures: plan.agentChunkSignatures,
            trailerSignature: plan.agentTrailerSignature,
          })
        : undefined;
      // The agent's body straight from Node's HTTP parser, whose every body read is a fresh
      // buffer that only this body reads: the encoder frees each once its chunk is copied out,
      // into buffers reused once the upstream has written them.
      const pool =
        decoder === undefined && input.body instanceof IncomingMessage
          ? createChunkBufferPool(UPSTREAM_CHUNK_SIZE + MAX_SIZE_LINE)
          : undefined;
      const encoder = createAwsChunkedEncoder({
        decodedLength,
        chunkSize: UPSTREAM_CHUNK_SIZE,
        trailerNames,
        ...(plan.signedChunks && signing ? { signing } : {}),
        ...(decoder ? { trailers: () => decoder.trailers() } : {}),
        ...(pool ? { releaseInput: true, chunkBuffer: pool.take } : {}),
      });
      return stream(decoder ? { decoder, encoder } : { encoder, ...(pool ? { pool } : {}) });
    };
  }

  const path = upstreamPath(request, intent, origin.basePath);
  const query = request.query.filter(([k]) => k !== 'x-id');
  const signed = signAwsRequest({
    method: request.method,
    protocol: origin.scheme === 'https' ? 'https:' : 'http:',
    hostname: origin.host,
    port: origin.port,
    path,
    query,
    headers,
    service: intent.service,
    region: intent.region,
    payloadHash,
    credentials: input.credentials,
    now: input.now,
    ...(input.signingKeys ? { signingKeys: input.signingKeys } : {}),
  });
  const sendHeaders: Record<string, string> = { ...signed.headers };
  if (contentLength !== undefined) sendHeaders['content-length'] = String(contentLength);
  const hostForOrigin = origin.host.includes(':') ? `[${origin.host}]` : origin.host;
  return {
    origin: `${origin.scheme}://${hostForOrigin}:${origin.port}`,
    path: signed.querystring === '' ? signed.path : `${signed.path}?${signed.querystring}`,
    method: request.method,
    headers: sendHeaders,
    body: makeBody(signed.chunkSigning),
  };
}
