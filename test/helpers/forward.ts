import { completeResponses } from './raw-http.ts';
import 'reflect-metadata';
import { createHash, webcrypto } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import * as x509 from '@peculiar/x509';
import type { Test } from 'tap';
import type { HttpGrant, Manifest, Passthrough } from '../../src/manifest/types.ts';
import type { Dialer, Resolver } from '../../src/proxy/dns.ts';
import { type SessionCredentials, type Sidecar, startSidecar } from '../../src/sidecar.ts';
import { httpGrant } from './manifests.ts';
import { type RawResult, rawExchange } from './raw-http.ts';
import { type RecordingUpstream, startRecordingUpstream } from './recording-upstream.ts';
import { inMinutes, staticCredentials } from './sidecar.ts';

// The forward proxy under test: an in-process sidecar with the proxy on a free loopback port, a
// test network (an injected resolver and dialer that count every call and only ever connect to
// 127.0.0.1), and TLS upstreams with a test CA generated here. SECURITY-CASES §0.3: a deny test
// asserts that nothing was resolved, nothing dialled and no upstream saw a request.

const crypto = webcrypto as unknown as Parameters<typeof x509.X509CertificateGenerator.create>[1];
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** A public-looking address from TEST-NET-3 (RFC 5737): never routed, so a bug cannot reach anyone. */
export const PUBLIC_TEST_ADDRESS = '203.0.113.10';
export const API_HOST = 'api.acme.test';
export const SECRET = 'acme-summaries-token-0123456789abcdef';

const pem = (label: string, der: ArrayBuffer) =>
  `-----BEGIN ${label}-----\n${Buffer.from(der)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '')}\n-----END ${label}-----\n`;

export interface TestCa {
  readonly certPem: string;
  /** A key and certificate (with the CA) for `names`. */
  issue(names: readonly string[], opts?: { expired?: boolean }): Promise<{ key: string; cert: string }>;
}

/** A CA for the upstream side of the tests (the sidecar trusts it through upstreamCa). */
export async function createTestCa(): Promise<TestCa> {
  const keys = await webcrypto.subtle.generateKey(ALG, false, ['sign', 'verify']);
  const now = Date.now();
  const ca = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: '01',
      name: 'CN=Errand test upstream CA',
      notBefore: new Date(now - 3600_000),
      notAfter: new Date(now + 24 * 3600_000),
      keys,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
      ],
    },
    crypto,
  );
  let serial = 1;
  return {
    certPem: ca.toString('pem'),
    async issue(names, opts = {}) {
      const leafKeys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
      const leaf = await x509.X509CertificateGenerator.create(
        {
          serialNumber: (++serial).toString(16).padStart(2, '0'),
          subject: `CN=${names[0]}`,
          issuer: ca.subject,
          notBefore: new Date(now - (opts.expired ? 48 : 1) * 3600_000),
          notAfter: new Date(now + (opts.expired ? -24 : 24) * 3600_000),
          signingKey: keys.privateKey,
          publicKey: leafKeys.publicKey,
          signingAlgorithm: ALG,
          extensions: [
            new x509.SubjectAlternativeNameExtension(
              names.map((n) => ({
                type: /^[0-9.]+$/.test(n) ? ('ip' as const) : ('dns' as const),
                value: n,
              })),
            ),
            new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
          ],
        },
        crypto,
      );
      return {
        key: pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', leafKeys.privateKey)),
        cert: `${leaf.toString('pem')}\n${ca.toString('pem')}`,
      };
    },
  };
}

export interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface TlsUpstream {
  readonly port: number;
  readonly requests: Seen[];
  answer(
    fn: (r: Seen) => { status: number; headers?: Record<string, string | string[]>; body?: string },
  ): void;
  /** Handles upgrade requests (default: the socket is destroyed). */
  onUpgrade(fn: (req: IncomingMessage, socket: Duplex, head: Buffer) => void): void;
  close(): Promise<void>;
}

/** An https server on 127.0.0.1 presenting a certificate for `names`, recording what it receives. */
export async function startTlsUpstream(
  ca: TestCa,
  names: readonly string[],
  opts: { expired?: boolean } = {},
): Promise<TlsUpstream> {
  const { key, cert } = await ca.issue(names, opts);
  const requests: Seen[] = [];
  let answer: Parameters<TlsUpstream['answer']>[0] = (r) => ({
    status: 200,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ok: true, method: r.method, url: r.url }),
  });
  const server = createHttpsServer({ key, cert }, async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const seen = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      body: Buffer.concat(chunks),
    };
    requests.push(seen);
    const a = answer(seen);
    res.writeHead(a.status, a.headers ?? {});
    res.end(a.body ?? '');
  });
  let upgrade: ((req: IncomingMessage, socket: Duplex, head: Buffer) => void) | undefined;
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    requests.push({
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      body: Buffer.alloc(0),
    });
    if (upgrade) upgrade(req, socket, head);
    else socket.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    onUpgrade: (fn) => {
      upgrade = fn;
    },
    requests,
    answer: (fn) => {
      answer = fn;
    },
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export interface TestNetwork {
  readonly resolver: Resolver;
  readonly dialer: Dialer;
  /** Names looked up, in order. */
  readonly resolved: string[];
  /** `address:port` dialled, in order. */
  readonly dialed: string[];
  /** Answers for a name (addresses), or a thrown error when absent. */
  readonly names: Map<string, readonly string[]>;
  /** Where a dial to `address:port` really goes: a port on 127.0.0.1. */
  readonly routes: Map<string, number>;
}

/** The sidecar's only view of the network in tests. A dial to anything without a route fails: no
 *  test ever reaches an address outside 127.0.0.1. */
export function createTestNetwork(): TestNetwork {
  const resolved: string[] = [];
  const dialed: string[] = [];
  const names = new Map<string, readonly string[]>();
  const routes = new Map<string, number>();
  return {
    resolved,
    dialed,
    names,
    routes,
    resolver: async (host) => {
      resolved.push(host);
      const answer = names.get(host);
      if (!answer) throw new Error(`ENOTFOUND ${host}`);
      return answer;
    },
    dialer: (address, port) => {
      dialed.push(`${address}:${port}`);
      const local = routes.get(`${address}:${port}`) ?? (address === '127.0.0.1' ? port : undefined);
      if (local === undefined) return Promise.reject(new Error('no route in the test network'));
      return new Promise<Socket>((resolve, reject) => {
        const s = connect({ host: '127.0.0.1', port: local });
        s.once('connect', () => resolve(s));
        s.once('error', reject);
      });
    },
  };
}

export interface ForwardHarness {
  readonly sidecar: Sidecar;
  readonly proxyPort: number;
  readonly proxyUrl: string;
  readonly caDir: string;
  readonly caFile: string;
  readonly bundleFile: string;
  readonly net: TestNetwork;
  readonly upstream: TlsUpstream;
  /** A plain-http upstream for api.acme.test:80 (grants with unsafeAllowPlainHttp). */
  readonly plain: RecordingUpstream;
  readonly testCa: TestCa;
  /** Exact bytes to the proxy listener. */
  raw(payload: string | Buffer | (string | Buffer)[], opts?: { idleMs?: number }): Promise<RawResult>;
  /** Asserts the §0.3 oracle: no upstream request, nothing dialled (and, unless allowed, nothing resolved). */
  nothingReached(t: Test, opts?: { resolvedOk?: boolean }): void;
  auditRecords(): Promise<Record<string, unknown>[]>;
  /** Decision reasons of the audit, in order (after a short settle). */
  reasons(): Promise<string[]>;
}

/** A grant for `https://api.acme.test{path}` (default port: the test network routes it). */
export const apiGrant = (
  over: Partial<HttpGrant> & { id: string; path: string; method?: string },
): HttpGrant =>
  httpGrant({
    method: over.method ?? 'GET',
    url: `https://${API_HOST}${over.path}`,
    ...over,
  });

export const injectGrant = (id: string, path: string, method = 'POST'): HttpGrant =>
  apiGrant({
    id,
    path,
    method,
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a ${secret:NAME} placeholder is manifest data
    inject: { header: 'Authorization', value: 'Bearer ${secret:acme-token}', secret: 'acme-token' },
  });

export const httpManifest = (grants: HttpGrant[], passthrough: Passthrough[] = []): Manifest => ({
  apiVersion: 'errand.dev/v1',
  kind: 'TaskManifest',
  task: {
    id: 'tsk_proxy',
    purpose: 'test',
    user: { subject: 'alice@example.com', session: 'sess_1' },
    expiresAt: inMinutes(30),
  },
  http: { grants, passthrough },
});

/** Starts a TLS upstream for api.acme.test (routed through the test network as a public address)
 *  and a sidecar with the forward proxy in front of it, torn down with the test. */
export async function forwardHarness(
  t: Test,
  manifest: Manifest,
  opts: {
    credentials?: SessionCredentials;
    awsUpstreamUrl?: string;
    now?: () => number;
    upstreamNames?: readonly string[];
    transparent?: boolean;
  } = {},
): Promise<ForwardHarness> {
  const dir = await mkdtemp(join(tmpdir(), 'errand-forward-'));
  const testCa = await createTestCa();
  const upstream = await startTlsUpstream(testCa, opts.upstreamNames ?? [API_HOST]);
  const plain = await startRecordingUpstream();
  const net = createTestNetwork();
  net.names.set(API_HOST, [PUBLIC_TEST_ADDRESS]);
  net.routes.set(`${PUBLIC_TEST_ADDRESS}:443`, upstream.port);
  net.routes.set(`${PUBLIC_TEST_ADDRESS}:80`, plain.port);
  await writeFile(join(dir, 'acme-token'), `${SECRET}\n`, { mode: 0o600 });
  const auditFile = join(dir, 'audit.jsonl');
  const text = JSON.stringify(manifest);
  const sidecar = await startSidecar({
    loaded: Object.freeze({
      manifest,
      sha256: createHash('sha256').update(text).digest('hex'),
      expiresAtMs: Date.parse(manifest.task.expiresAt),
      signed: true,
    }),
    unsigned: false,
    credentials: opts.credentials ?? staticCredentials(),
    listen: { host: '127.0.0.1', port: 0 },
    proxyListen: { host: '127.0.0.1', port: 0 },
    ...(opts.transparent ? { transparentListen: { host: '127.0.0.1', port: 0 } } : {}),
    caDir: join(dir, 'ca'),
    secretsDir: dir,
    stateDir: dir,
    auditFile,
    env: { AWS_ENDPOINT_URL: opts.awsUpstreamUrl ?? 'http://127.0.0.1:9' },
    upstreamCa: testCa.certPem,
    resolver: net.resolver,
    dialer: net.dialer,
    ...(opts.now ? { now: opts.now } : {}),
  });
  t.teardown(async () => {
    await sidecar.stop();
    await upstream.close();
    await plain.close();
    await rm(dir, { recursive: true, force: true });
  });
  const auditRecords = async () =>
    (await readFile(auditFile, 'utf8'))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return {
    sidecar,
    proxyPort: sidecar.proxyPort!,
    proxyUrl: `http://127.0.0.1:${sidecar.proxyPort}`,
    caDir: join(dir, 'ca'),
    caFile: join(dir, 'ca', 'ca.pem'),
    bundleFile: join(dir, 'ca', 'ca-bundle.pem'),
    net,
    upstream,
    plain,
    testCa,
    auditRecords,
    raw: (payload, o) => rawExchange(sidecar.proxyPort!, payload, { idleMs: 400, ...o }),
    nothingReached(t, o = {}) {
      t.equal(upstream.requests.length + plain.requests.length, 0, 'no upstream saw a request');
      t.same(net.dialed, [], 'nothing was dialled');
      if (!o.resolvedOk) t.same(net.resolved, [], 'no name was resolved');
    },
    async reasons() {
      await new Promise((r) => setTimeout(r, 50));
      return (await auditRecords())
        .filter((r) => r['event'] === 'egress_decision' || r['event'] === 'tunnel_refused')
        .map((r) => String(r['reason']));
    },
  };
}

export interface TunnelExchange {
  /** Status line of the CONNECT answer. */
  readonly connectStatus: number;
  /** Raw text of everything read inside the tunnel (after TLS), latin1. */
  readonly text: string;
  readonly statuses: number[];
  /** The TLS handshake failed (or the tunnel was refused). */
  readonly tlsFailed: boolean;
  readonly connectText: string;
}

/** CONNECT through the proxy, TLS with `servername` (trusting the pod CA), then exact bytes. */
export function tunnelExchange(
  h: Pick<ForwardHarness, 'proxyPort' | 'sidecar'>,
  authority: string,
  payload: string | Buffer | (string | Buffer)[],
  opts: { servername?: string | false; idleMs?: number; connectHeaders?: string[]; plain?: boolean } = {},
): Promise<TunnelExchange> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: h.proxyPort });
    let connectText = '';
    let inner: TLSSocket | undefined;
    const chunks: Buffer[] = [];
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (tlsFailed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      inner?.destroy();
      socket.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      resolve({
        connectStatus: Number(/^HTTP\/1\.1 (\d{3})/.exec(connectText)?.[1] ?? 0),
        text,
        statuses: [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1])),
        tlsFailed,
        connectText,
      });
    };
    const parts = Array.isArray(payload) ? payload : [payload];
    // Done as soon as every request sent has its complete answer (then a short grace to see a
    // close); otherwise after an idle wait long enough for a loaded CI machine.
    const expected = parts
      .map((p) => (typeof p === 'string' ? (p.match(/^[A-Z]+ \S+ HTTP\/1\.[01]\r$/gm) ?? []).length : 0))
      .reduce((a, b) => a + b, 0);
    const arm = () => {
      clearTimeout(timer);
      const complete =
        expected > 0 && completeResponses(Buffer.concat(chunks).toString('latin1')) >= expected;
      // A test's shorter idle wait applies only once nothing more is expected.
      const idle = expected > 0 ? Math.max(opts.idleMs ?? 0, 3000) : (opts.idleMs ?? 3000);
      timer = setTimeout(() => finish(false), complete ? 100 : idle);
    };
    socket.once('connect', () => {
      socket.write(
        [`CONNECT ${authority} HTTP/1.1`, `Host: ${authority}`, ...(opts.connectHeaders ?? []), '', ''].join(
          '\r\n',
        ),
      );
      arm();
    });
    socket.on('error', () => finish(true));
    const onConnectData = (c: Buffer) => {
      connectText += c.toString('latin1');
      if (!connectText.includes('\r\n\r\n')) return;
      socket.removeListener('data', onConnectData);
      if (!/^HTTP\/1\.1 200/.test(connectText)) return finish(true);
      if (opts.plain) {
        socket.on('data', (d: Buffer) => {
          chunks.push(d);
          arm();
        });
        socket.once('close', () => finish(false));
        for (const p of parts) socket.write(p);
        return;
      }
      const servername = opts.servername === undefined ? authority.replace(/:\d+$/, '') : opts.servername;
      inner = tlsConnect({
        socket,
        ...(servername === false ? {} : { servername }),
        ca: h.sidecar.caPem!,
        ALPNProtocols: ['http/1.1'],
        // Hostname checks are the point of B8: verify the chain, let the sidecar decide the name.
        checkServerIdentity: () => undefined,
      });
      inner.once('secureConnect', () => {
        for (const p of parts) inner!.write(p);
        arm();
      });
      inner.on('data', (d: Buffer) => {
        chunks.push(d);
        arm();
      });
      inner.once('error', () => finish(chunks.length === 0));
      inner.once('close', () => finish(chunks.length === 0));
    };
    socket.on('data', onConnectData);
    socket.once('close', () => finish(true));
  });
}

/** One request as exact bytes (for tunnels and the proxy listener). `host: null` sends no Host. */
export const httpRequest = (
  method: string,
  target: string,
  opts: { host?: string | null; headers?: string[]; body?: string } = {},
): string =>
  [
    `${method} ${target} HTTP/1.1`,
    ...(opts.host === null ? [] : [`Host: ${opts.host ?? API_HOST}`]),
    ...(opts.headers ?? []),
    ...(opts.body !== undefined ? [`Content-Length: ${Buffer.byteLength(opts.body)}`] : []),
    '',
    opts.body ?? '',
  ].join('\r\n');

/** The x-egress-deny reasons in a raw answer, in order. */
export const denyReasons = (text: string): string[] =>
  [...text.matchAll(/x-egress-deny: (\S+)/gi)].map((m) => m[1]!);
