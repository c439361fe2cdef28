import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import t from 'tap';
import { buildRequest, parseResponseHead, tunnelLoop } from '../../bench/lib/tunnel-loop.ts';

// The benchmark's CONNECT client: its pure parts as tables, and the loop itself against a small
// CONNECT proxy on loopback that terminates TLS with a certificate for the tunnel's host, as an
// intercepting proxy does, and answers by path.

const execFileP = promisify(execFile);

t.test('buildRequest: Host first, the given headers after, a Host among them dropped', async (t) => {
  const rows: [string, string, Record<string, string>, string][] = [
    ['/a', 'h.test', {}, 'GET /a HTTP/1.1\r\nhost: h.test\r\n\r\n'],
    [
      '/b/c.txt',
      '127.0.0.1:8443',
      { 'x-one': '1', Host: 'other.test', 'user-agent': 'ua' },
      'GET /b/c.txt HTTP/1.1\r\nhost: 127.0.0.1:8443\r\nx-one: 1\r\nuser-agent: ua\r\n\r\n',
    ],
  ];
  for (const [path, host, headers, want] of rows)
    t.equal(buildRequest(path, host, headers).toString('latin1'), want, `${path} ${host}`);
});

t.test('parseResponseHead: status, head size and body length, or why not', async (t) => {
  const ok = 'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nContent-Length: 1024\r\n\r\n';
  const rows: [string, string | Buffer, ReturnType<typeof parseResponseHead>][] = [
    ['a whole head', `${ok}body`, { kind: 'head', status: 200, headBytes: ok.length, bodyBytes: 1024 }],
    [
      'a 404 with a body',
      'HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n',
      { kind: 'head', status: 404, headBytes: 45, bodyBytes: 0 },
    ],
    [
      'HTTP/1.0, length last',
      'HTTP/1.0 200 OK\r\ncontent-length:\t7 \r\n\r\n',
      { kind: 'head', status: 200, headBytes: 39, bodyBytes: 7 },
    ],
    ['half a head', 'HTTP/1.1 200 OK\r\ncontent-le', { kind: 'need_more' }],
    ['nothing yet', '', { kind: 'need_more' }],
    [
      'no Content-Length',
      'HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n',
      { kind: 'bad', message: 'the answer has no Content-Length' },
    ],
    [
      'a length only in another field',
      'HTTP/1.1 200 OK\r\nx-content-length: 5\r\n\r\n',
      { kind: 'bad', message: 'the answer has no Content-Length' },
    ],
    [
      'chunked',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\ncontent-length: 3\r\n\r\n',
      { kind: 'bad', message: 'a Transfer-Encoding answer is not read here' },
    ],
    [
      'not HTTP',
      'SSH-2.0-OpenSSH_9.6\r\n\r\n',
      { kind: 'bad', message: 'not an HTTP/1.1 response: SSH-2.0-OpenSSH_9.6' },
    ],
    [
      'no end of head in 64 KiB',
      Buffer.alloc(65 * 1024, 'a'),
      { kind: 'bad', message: 'response head too large' },
    ],
  ];
  for (const [name, input, want] of rows)
    t.same(parseResponseHead(typeof input === 'string' ? Buffer.from(input, 'latin1') : input), want, name);
});

interface Seen {
  readonly connects: string[];
  readonly servernames: (string | false | null)[];
  readonly heads: IncomingHttpHeaders[];
}

/** Answers by path: /ok in two writes (head, then the body in pieces), /teapot 418, /chunked without
 *  a length, /extra with more bytes than its length says, /split with its head in two pieces. */
function answer(seen: Seen) {
  return (req: IncomingMessage, res: ServerResponse) => {
    seen.heads.push(req.headers);
    if (req.url === '/ok') {
      res.writeHead(200, { 'content-length': '10' });
      res.flushHeaders();
      res.write('hello');
      setImmediate(() => res.end('world'));
    } else if (req.url === '/teapot') res.writeHead(418, { 'content-length': '0' }).end();
    else if (req.url === '/chunked') res.writeHead(200).end('no length');
    else if (req.url === '/extra') {
      const socket = res.socket!;
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokEXTRA');
      res.detachSocket(socket);
    } else if (req.url === '/split') {
      // The head in two TLS records: a detached socket, so only one request per tunnel.
      const socket = res.socket!;
      res.detachSocket(socket);
      socket.write('HTTP/1.1 200 OK\r\ncontent-');
      setTimeout(() => socket.write('length: 2\r\n\r\nok'), 20);
    } else res.writeHead(404, { 'content-length': '0' }).end();
  };
}

async function makeLeaf(dir: string, name: string): Promise<{ key: string; cert: string }> {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  // biome-ignore format: option pairs
  await execFileP('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-subj', `/CN=${name}`, '-addext', `subjectAltName=${name === '127.0.0.1' ? 'IP' : 'DNS'}:${name}`,
    '-keyout', key, '-out', cert,
  ]);
  return { key: await readFile(key, 'utf8'), cert: await readFile(cert, 'utf8') };
}

t.test('tunnelLoop through a CONNECT proxy that intercepts TLS', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tunnel-loop-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const named = await makeLeaf(dir, 's3.test');
  const ip = await makeLeaf(dir, '127.0.0.1');
  const seen: Seen = { connects: [], servernames: [], heads: [] };
  const inner = createServer(answer(seen));
  const proxy = createServer();
  proxy.on('connect', (req: IncomingMessage, socket: Duplex) => {
    seen.connects.push(req.url ?? '');
    if (req.url === 'denied.test:443') {
      socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    const leaf = req.url?.startsWith('127.0.0.1:') ? ip : named;
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    const tls = new TLSSocket(socket, { isServer: true, ...leaf });
    tls.once('secure', () => {
      seen.servernames.push(tls.servername);
      inner.emit('connection', tls);
    });
    tls.on('error', () => tls.destroy());
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => inner.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    proxy.closeAllConnections();
    inner.closeAllConnections();
    proxy.close();
    inner.close();
  });
  const proxyPort = (proxy.address() as AddressInfo).port;
  const base = { proxyPort, workers: 2, seconds: 0.2 };
  const get = (path: string, host: string) => buildRequest(path, host, { 'x-bench': '1' });

  await t.test('a name: SNI sent, the leaf checked, answers read across TLS records', async (t) => {
    let started = 0;
    const r = await tunnelLoop({
      ...base,
      authority: 's3.test:443',
      ca: named.cert,
      request: get('/ok', 's3.test'),
      onStart: () => {
        started = seen.heads.length;
      },
    });
    t.ok(r.requests > 2 && r.rps > 0, `${r.requests} requests, ${r.rps.toFixed(0)}/s`);
    t.equal(started, 0, 'the clock starts once the tunnels are open, before any request');
    t.equal(seen.heads.length, r.requests, 'every answer was counted once, none sent after the clock');
    t.same(seen.connects.slice(-2), ['s3.test:443', 's3.test:443'], 'one tunnel per worker');
    t.same(seen.servernames.slice(-2), ['s3.test', 's3.test']);
    t.match(seen.heads[0], { host: 's3.test', 'x-bench': '1' });
  });

  await t.test('a head split across records is read whole', async (t) => {
    const r = await tunnelLoop({
      ...base,
      workers: 1,
      seconds: 0,
      authority: 's3.test:443',
      ca: named.cert,
      request: get('/split', 's3.test'),
    });
    t.equal(r.requests, 1);
  });

  await t.test('an IP literal: no SNI, the leaf checked against the address', async (t) => {
    const r = await tunnelLoop({
      ...base,
      authority: `127.0.0.1:${proxyPort}`,
      ca: ip.cert,
      request: get('/ok', '127.0.0.1'),
    });
    t.ok(r.requests > 0);
    t.equal(seen.servernames.at(-1), false, 'no server name for an address');
  });

  const fails: [string, Partial<Parameters<typeof tunnelLoop>[0]>, RegExp][] = [
    [
      'a refused CONNECT',
      { authority: 'denied.test:443' },
      /^CONNECT denied\.test:443: HTTP\/1\.1 403 Forbidden$/,
    ],
    ['a leaf of another CA', { ca: ip.cert }, /self-signed|unable to verify|certificate/i],
    ['a non-200 answer', { request: get('/teapot', 's3.test') }, /^status 418$/],
    ['an answer without a length', { request: get('/chunked', 's3.test') }, /Transfer-Encoding/],
    ['bytes beyond the answer', { request: get('/extra', 's3.test') }, /^bytes after the answer$/],
  ];
  for (const [name, over, error] of fails) {
    await t.test(`fails the run: ${name}`, (t) =>
      t.rejects(
        tunnelLoop({
          ...base,
          authority: 's3.test:443',
          ca: named.cert,
          request: get('/ok', 's3.test'),
          ...over,
        }),
        error,
      ),
    );
  }

  await t.test('a tunnel the proxy closes mid-run fails the run', async (t) => {
    const run = tunnelLoop({
      ...base,
      seconds: 5,
      authority: 's3.test:443',
      ca: named.cert,
      request: get('/ok', 's3.test'),
      onStart: () => {
        setTimeout(() => inner.closeAllConnections(), 50);
      },
    });
    // Destroyed mid-answer: the client sees the close, or the reset when bytes were in flight.
    await t.rejects(run, /^(the tunnel closed mid-run|read ECONNRESET)$/);
  });

  await t.test('direct: the same loop with no CONNECT and no TLS', async (t) => {
    const before = seen.connects.length;
    const r = await tunnelLoop({
      ...base,
      proxyPort: (inner.address() as AddressInfo).port,
      authority: 'unused:443',
      ca: '',
      direct: true,
      request: get('/ok', '127.0.0.1'),
    });
    t.ok(r.requests > 0);
    t.equal(seen.connects.length, before, 'no CONNECT was sent');
  });
});
