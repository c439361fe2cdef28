// E9: aws-chunked / trailing-checksum bodies from current SDKs (SECURITY-CASES #61). Through the
// whole sidecar to a recording upstream on plain http: Errand decodes the agent's framing and writes
// its own, signing every chunk from its own seed signature; it never forwards the agent's chunk
// signatures or undeclared trailers, and a lying x-amz-decoded-content-length is refused.

import t, { type Test } from 'tap';
import { decodeAwsChunked, signChunk, signTrailer } from '../../src/credentials/aws-chunked.ts';
import { deriveSigningKey } from '../../src/credentials/sign-aws.ts';
import { type Harness, harness, OUT_KEY } from '../helpers/adversarial.ts';
import { TEST_CREDENTIALS } from '../helpers/sidecar.ts';

const DATA = 'summary: the report says hello\n';
const CRC = 'x-amz-checksum-crc32:AAAAAA==';
const AGENT_SIG = 'a'.repeat(64);

const put = (h: Harness, contentSha256: string, extra: string[], body: string): string =>
  [
    `PUT /acme-uploads/${OUT_KEY} HTTP/1.1`,
    `Host: 127.0.0.1:${h.port}`,
    `Authorization: ${h.auth}`,
    'x-amz-date: 20261129T000000Z',
    `x-amz-content-sha256: ${contentSha256}`,
    'Content-Encoding: aws-chunked',
    `Content-Length: ${Buffer.byteLength(body, 'latin1')}`,
    ...extra,
    '',
    body,
  ].join('\r\n');

const unsignedBody = (data: string, trailers: string[]): string =>
  `${data.length.toString(16)}\r\n${data}\r\n0\r\n${trailers.map((x) => `${x}\r\n`).join('')}\r\n`;

/** Checks the body the upstream received: Errand's framing, every chunk signature chained from the
 *  seed signature in its Authorization header, made with the session's key. */
const verifyForwarded = async (
  t: Test,
  h: Harness,
  trailers: { name: string; value: string }[],
): Promise<void> => {
  t.equal(h.upstream.requests.length, 1, 'one upstream request');
  const r = h.upstream.requests[0]!;
  const auth = String(r.headers['authorization']);
  const [, date, region, service] =
    /Credential=[^/]+\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request/.exec(auth) ?? [];
  const seed = /Signature=([0-9a-f]{64})$/.exec(auth)?.[1] ?? '';
  t.equal(r.headers['content-encoding'], 'aws-chunked');
  t.equal(r.headers['x-amz-decoded-content-length'], String(DATA.length));
  t.equal(Number(r.headers['content-length']), r.body.length, 'Content-Length is the framed length');
  t.notOk(r.body.toString('latin1').includes(AGENT_SIG), 'no agent chunk signature forwarded');
  t.notOk(r.body.toString('latin1').includes('x-amz-meta'), 'no undeclared trailer forwarded');
  const decoding = decodeAwsChunked([r.body], {
    decodedLength: DATA.length,
    trailerNames: trailers.map((x) => x.name),
    chunkSignatures: true,
    trailerSignature: trailers.length > 0,
  });
  const chunks: Buffer[] = [];
  for await (const c of decoding) chunks.push(Buffer.from(c));
  t.equal(Buffer.concat(chunks).toString(), DATA, 'the agent data, unchanged');
  t.same(decoding.trailers(), trailers, 'only the declared checksum trailer');

  const signing = {
    key: deriveSigningKey(TEST_CREDENTIALS, date!, region!, service!),
    amzDate: String(r.headers['x-amz-date']),
    scope: `${date}/${region}/${service}/aws4_request`,
    seedSignature: seed,
  };
  const first = signChunk(signing, seed, Buffer.from(DATA));
  const final = signChunk(signing, first, new Uint8Array(0));
  let expected = `${DATA.length.toString(16)};chunk-signature=${first}\r\n${DATA}\r\n0;chunk-signature=${final}\r\n`;
  expected += trailers.map((x) => `${x.name}:${x.value}\r\n`).join('');
  if (trailers.length > 0) expected += `x-amz-trailer-signature:${signTrailer(signing, final, trailers)}\r\n`;
  t.equal(r.body.toString('latin1'), `${expected}\r\n`, 'chunks signed from Errand’s own seed');
};

t.test('an SDK upload (STREAMING-UNSIGNED-PAYLOAD-TRAILER) is re-framed with signed chunks', async (t) => {
  const h = await harness(t);
  const res = await h.raw(
    put(
      h,
      'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
      [`x-amz-decoded-content-length: ${DATA.length}`, 'x-amz-trailer: x-amz-checksum-crc32'],
      unsignedBody(DATA, [CRC]),
    ),
  );
  t.same(res.statuses, [200], res.text.slice(0, 300));
  t.equal(
    h.upstream.requests[0]?.headers['x-amz-content-sha256'],
    'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
    'plain-http upstream: signed chunks and trailer',
  );
  await verifyForwarded(t, h, [{ name: 'x-amz-checksum-crc32', value: 'AAAAAA==' }]);
});

t.test('agent chunk signatures (from its dummy seed) are discarded and replaced', async (t) => {
  const h = await harness(t);
  const body = `${DATA.length.toString(16)};chunk-signature=${AGENT_SIG}\r\n${DATA}\r\n0;chunk-signature=${AGENT_SIG}\r\n\r\n`;
  const res = await h.raw(
    put(h, 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', [`x-amz-decoded-content-length: ${DATA.length}`], body),
  );
  t.same(res.statuses, [200], res.text.slice(0, 300));
  t.equal(h.upstream.requests[0]?.headers['x-amz-content-sha256'], 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD');
  await verifyForwarded(t, h, []);
});

t.test('lying lengths and extra trailers are refused, and S3 never gets a complete upload', async (t) => {
  const rows: [string, string[], string, RegExp][] = [
    [
      'a lying x-amz-decoded-content-length (short)',
      [`x-amz-decoded-content-length: ${DATA.length + 5}`, 'x-amz-trailer: x-amz-checksum-crc32'],
      unsignedBody(DATA, [CRC]),
      /the chunks carry 31 bytes, x-amz-decoded-content-length says 36/,
    ],
    [
      'a lying x-amz-decoded-content-length (long)',
      [`x-amz-decoded-content-length: ${DATA.length - 5}`, 'x-amz-trailer: x-amz-checksum-crc32'],
      unsignedBody(DATA, [CRC]),
      /the aws-chunked body length does not match x-amz-decoded-content-length: the chunks carry more data than declared/,
    ],
    [
      'an extra trailer x-amz-meta-evil',
      [`x-amz-decoded-content-length: ${DATA.length}`, 'x-amz-trailer: x-amz-checksum-crc32'],
      unsignedBody(DATA, [CRC, 'x-amz-meta-evil:1']),
      /the aws-chunked trailer is not allowed: trailer x-amz-meta-evil was not declared/,
    ],
    [
      'a trailer named Authorization',
      [`x-amz-decoded-content-length: ${DATA.length}`, 'x-amz-trailer: x-amz-checksum-crc32'],
      unsignedBody(DATA, [CRC, 'Authorization:AWS4-HMAC-SHA256 Credential=AKIA']),
      /the aws-chunked trailer is not allowed: trailer Authorization was not declared/,
    ],
    [
      'x-amz-trailer naming a non-checksum header',
      [`x-amz-decoded-content-length: ${DATA.length}`, 'x-amz-trailer: x-amz-meta-evil'],
      unsignedBody(DATA, ['x-amz-meta-evil:1']),
      /x-amz-trailer may name only an x-amz-checksum-\* trailer S3 knows/,
    ],
    [
      'no x-amz-decoded-content-length',
      ['x-amz-trailer: x-amz-checksum-crc32'],
      unsignedBody(DATA, [CRC]),
      /x-amz-decoded-content-length must be a decimal byte count/,
    ],
  ];
  for (const [name, extra, body, message] of rows) {
    const h = await harness(t);
    const res = await h.raw(put(h, 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', extra, body));
    t.equal(res.statuses[0], 400, `${name}: 400`);
    t.match(res.text, message, `${name}: the reason`);
    t.equal(h.upstream.requests.length, 0, `${name}: no request completed at the upstream`);
  }
});
