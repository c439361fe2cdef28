import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Metrics } from './metrics.ts';

// The ops listener: /livez, /readyz (?verbose names each check), /metrics. GET and HEAD only; nothing
// here changes Errand's state, and nothing here is on the agent's listeners (SECURITY-CASES H4).

export interface ReadinessCheck {
  readonly name: string;
  /** undefined when passing, else a short, secret-free reason. */
  readonly check: () => string | undefined;
}

export async function startOpsServer(opts: {
  host: string;
  port: number;
  checks: readonly ReadinessCheck[];
  metrics: Metrics;
}): Promise<{ server: Server; port: number; close: () => Promise<void> }> {
  const server = createServer({ headersTimeout: 5_000, requestTimeout: 10_000 }, async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://ops');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    if (url.pathname === '/livez') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (url.pathname === '/readyz') {
      const results = opts.checks.map((c) => ({ name: c.name, problem: c.check() }));
      const ready = results.every((r) => r.problem === undefined);
      const body = url.searchParams.has('verbose')
        ? `${results.map((r) => (r.problem === undefined ? `[+]${r.name} ok` : `[-]${r.name} failed: ${r.problem}`)).join('\n')}\n${ready ? 'readyz check passed' : 'readyz check failed'}\n`
        : ready
          ? 'ok\n'
          : 'not ready\n';
      res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(body);
      return;
    }
    if (url.pathname === '/metrics') {
      const text = await opts.metrics.registry.metrics();
      res.writeHead(200, { 'content-type': opts.metrics.registry.contentType }).end(text);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
