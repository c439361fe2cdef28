// Baseline "bare node http-proxy": the http-proxy package as a reverse proxy in front of the
// upstream, with a keep-alive agent (what anyone deploying it would configure; without one it opens
// a TCP connection per request). No checks, no signing, no audit.
//
//   node bench/servers/http-proxy.ts --target http://127.0.0.1:PORT
//
// Prints {"ready":true,"port":N} once it listens on 127.0.0.1.

import { Agent, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import httpProxy from 'http-proxy';

const { values } = parseArgs({ options: { target: { type: 'string' } } });
if (!values.target) throw new Error('--target URL is required');

const agent = new Agent({ keepAlive: true, maxSockets: 64 });
const proxy = httpProxy.createProxyServer({ target: values.target, agent, xfwd: false });
proxy.on('error', (_error, _req, res) => {
  if ('writeHead' in res && !res.headersSent) res.writeHead(502);
  res.end();
});
const server = createServer((req, res) => proxy.web(req, res));
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ ready: true, port: (server.address() as AddressInfo).port })}\n`);
});
process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  agent.destroy();
});
