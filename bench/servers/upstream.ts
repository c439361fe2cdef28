// The upstream every endpoint-mode subject forwards to: a minimal local server that answers like
// S3 (GetObject, PutObject; headers S3 sends), over http or https. It holds nothing: uploads are
// counted and dropped, downloads are generated from one fixed block.
//
//   node bench/servers/upstream.ts [--tls-key FILE --tls-cert FILE]
//
// Prints one JSON line {"ready":true,"port":N} on stdout once it listens on 127.0.0.1.
//
// Objects:  GET  /bench-bucket/small.txt        1 KiB body
//           GET  /bench-bucket/big/<bytes>.bin  <bytes> of a fixed pattern
//           PUT  /bench-bucket/big/<bytes>.bin  drained; the answer carries x-bench-first-byte-ms
//                (epoch ms when the first body byte arrived) and x-bench-received (bytes seen)

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';

const SMALL = Buffer.alloc(1024, 'errand-bench-small-object.');
const BLOCK = Buffer.alloc(1024 * 1024, 'errand-bench-pattern-');
const BIG = /^\/bench-bucket\/big\/([0-9]{1,12})\.bin$/;
const LAST_MODIFIED = 'Sun, 29 Nov 2026 12:00:00 GMT';

const epochMs = (): number => performance.timeOrigin + performance.now();

const s3Headers = (extra: Record<string, string>): Record<string, string> => ({
  'x-amz-id-2': 'bench/upstream',
  'x-amz-request-id': `BENCH${randomBytes(6).toString('hex').toUpperCase()}`,
  date: new Date().toUTCString(),
  server: 'AmazonS3',
  ...extra,
});

function notFound(res: ServerResponse): void {
  const body =
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>';
  res.writeHead(404, s3Headers({ 'content-type': 'application/xml', 'content-length': String(body.length) }));
  res.end(body);
}

function sendPattern(res: ServerResponse, size: number): void {
  let left = size;
  const pump = () => {
    while (left > 0) {
      const n = Math.min(left, BLOCK.length);
      left -= n;
      if (!res.write(n === BLOCK.length ? BLOCK : BLOCK.subarray(0, n))) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const url = req.url ?? '';
  if ((req.method === 'GET' || req.method === 'HEAD') && url === '/bench-bucket/small.txt') {
    res.writeHead(
      200,
      s3Headers({
        'content-type': 'text/plain',
        'content-length': String(SMALL.length),
        etag: '"5d41402abc4b2a76b9719d911017c592"',
        'last-modified': LAST_MODIFIED,
        'accept-ranges': 'bytes',
      }),
    );
    res.end(req.method === 'HEAD' ? undefined : SMALL);
    return;
  }
  const big = BIG.exec(url);
  if (big && req.method === 'GET') {
    const size = Number(big[1]);
    res.writeHead(
      200,
      s3Headers({
        'content-type': 'application/octet-stream',
        'content-length': String(size),
        etag: '"bench-big"',
        'last-modified': LAST_MODIFIED,
      }),
    );
    sendPattern(res, size);
    return;
  }
  if (big && req.method === 'PUT') {
    let received = 0;
    let firstByte = Number.NaN;
    req.on('data', (c: Buffer) => {
      if (received === 0) firstByte = epochMs();
      received += c.length;
    });
    req.on('end', () => {
      res.writeHead(
        200,
        s3Headers({
          etag: '"bench-put"',
          'content-length': '0',
          'x-bench-first-byte-ms': firstByte.toFixed(3),
          'x-bench-received': String(received),
        }),
      );
      res.end();
    });
    return;
  }
  req.resume();
  notFound(res);
}

const { values } = parseArgs({
  options: { 'tls-key': { type: 'string' }, 'tls-cert': { type: 'string' } },
});
const keyFile = values['tls-key'];
const certFile = values['tls-cert'];
const server =
  keyFile && certFile
    ? createTlsServer({ key: readFileSync(keyFile), cert: readFileSync(certFile) }, handle)
    : createServer(handle);
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ ready: true, port: (server.address() as AddressInfo).port })}\n`);
});
process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
});
