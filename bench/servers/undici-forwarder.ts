// Baseline "minimal undici stream forwarder": a node:http server that forwards each request with
// undici's `stream` API over a keep-alive pool and writes the answer straight into the response,
// dropping hop-by-hop headers (RFC 9110 §7.6.1). The same HTTP stack Errand uses, and nothing else:
// the difference to Errand is what Errand's checks, signing and audit cost.
//
//   node bench/servers/undici-forwarder.ts --target http://127.0.0.1:PORT
//
// Prints {"ready":true,"port":N} once it listens on 127.0.0.1.

import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { type Dispatcher, Pool } from 'undici';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
]);

const { values } = parseArgs({ options: { target: { type: 'string' } } });
if (!values.target) throw new Error('--target URL is required');
const pool = new Pool(values.target, { connections: 64, keepAliveTimeout: 60_000 });

const endToEnd = (headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>) => {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name.toLowerCase())) out[name] = value;
  }
  return out;
};

const server = createServer((req, res) => {
  const hasBody =
    req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  pool
    .stream(
      {
        path: req.url ?? '/',
        method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
        headers: endToEnd(req.headers),
        body: hasBody ? req : null,
      },
      ({ statusCode, headers }) => {
        res.writeHead(statusCode, endToEnd(headers));
        return res;
      },
    )
    .catch(() => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ ready: true, port: (server.address() as AddressInfo).port })}\n`);
});
process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  void pool.close();
});
