import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type AddressInfo,
  createServer as createNetServer,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import type { Duplex } from 'node:stream';
import type { OAuthCredentials } from '../credentials/oauth/oauth-credentials.ts';
import { REASONS, type Reason } from '../errors.ts';
import { createAwsEndpointHandler } from './aws-endpoint.ts';
import { type ProxyHosts, planConnect, proxyHostsOf } from './connect.ts';
import type { SidecarContext } from './context.ts';
import { createDestinationFloor, type DestinationFloor } from './destinations.ts';
import { type Dialer, type Resolver, resolveDestination } from './dns.ts';
import { normalizeProxyRequest, normalizeTunnelRequest } from './forward-front.ts';
import { type FrontResult, parseAuthority } from './front.ts';
import { createHttpGrantHandler, respondPlain } from './http-grant.ts';
import { createPinnedUpstream } from './http-upstream.ts';
import type { InjectSecrets } from './inject.ts';
import { LIMITS } from './limits.ts';
import { listen, refuseClientErrors } from './listen.ts';
import { createHardenedServer, createInterceptor, MITM_LIMITS, type Tunnel } from './mitm.ts';
import type { PodCa } from './pod-ca.ts';
import { MAX_HELLO_BYTES, readClientHelloSni } from './transparent.ts';
import { createWebSocketHandler, refuseOnSocket } from './websocket.ts';

// The forward proxy (agents set HTTP_PROXY / HTTPS_PROXY to http://127.0.0.1:4751). Absolute-form
// http:// requests go through the HTTP-grant pipeline; CONNECT opens an intercepted tunnel for a
// host the manifest names (HTTP grants, and AWS endpoints re-signed exactly as on the endpoint
// listener), a blind tunnel for a passthrough entry, or nothing: 403 and close, no name resolved,
// nothing dialled (SECURITY-CASES C11).

export const FORWARD_LIMITS = {
  /** Open CONNECT tunnels at once (429 beyond it, like smokescreen's tunnel limiter). */
  maxTunnels: 256,
  /** A tunnel with no bytes either way for this long is closed. */
  tunnelIdleMs: 60_000,
} as const;

export interface ForwardProxyOptions {
  readonly ctx: SidecarContext;
  readonly host: string;
  readonly port: number;
  readonly ca: PodCa;
  readonly secrets: InjectSecrets;
  readonly oauth?: OAuthCredentials;
  readonly resolver: Resolver;
  readonly dialer: Dialer;
  readonly upstreamCa?: string | undefined;
  readonly maxTunnels?: number;
  /** The transparent listener (connections redirected by iptables/nftables); off when undefined. */
  readonly transparent?: { readonly host: string; readonly port: number };
}

export interface ForwardProxy {
  readonly port: number;
  /** The transparent listener's port, when it runs. */
  readonly transparentPort: number | undefined;
  readonly hosts: ProxyHosts;
  readonly ca: PodCa;
  /** Open tunnels (intercepted and blind). */
  tunnels(): number;
  /** Tears down every open tunnel (the task deadline). */
  closeTunnels(): void;
  close(): Promise<void>;
}

const STATUS_TEXT: Partial<Record<number, string>> = {
  400: 'Bad Request',
  421: 'Misdirected Request',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  403: 'Forbidden',
  408: 'Request Timeout',
  429: 'Too Many Requests',
  502: 'Bad Gateway',
};

export async function startForwardProxy(opts: ForwardProxyOptions): Promise<ForwardProxy> {
  const { ctx } = opts;
  const m = ctx.loaded.manifest;
  const hosts = proxyHostsOf(m);
  const floor: DestinationFloor = createDestinationFloor();
  const pinned = createPinnedUpstream({ dialer: opts.dialer, ca: opts.upstreamCa });
  const httpGrant = createHttpGrantHandler({
    ctx,
    secrets: opts.secrets,
    ...(opts.oauth !== undefined ? { oauth: opts.oauth } : {}),
    resolver: opts.resolver,
    floor,
    upstream: pinned,
  });
  const open = new Set<Duplex>();
  const maxTunnels = opts.maxTunnels ?? FORWARD_LIMITS.maxTunnels;
  const baseRecord = (listener: string) => ({
    class: 'api_activity',
    listener,
    task_id: m.task.id,
    user: m.task.user.subject,
    user_session: m.task.user.session,
    manifest_sha256: ctx.loaded.sha256,
    ...(ctx.unsignedManifest ? { warning: 'unsigned manifest (--unsafe-allow-unsigned-manifest)' } : {}),
  });
  const audit = (fields: Record<string, unknown>) => ctx.audit.write(fields).catch(() => undefined);
  /** The record of a request refused before anything was contacted; `extra` says what it asked for. */
  const recordDeny = (
    listener: string,
    id: string,
    reason: string,
    message: string,
    extra: Record<string, unknown> = {},
  ) =>
    audit({
      ...baseRecord(listener),
      event: 'egress_decision',
      request_id: id,
      decision: 'deny',
      reason,
      message,
      ...extra,
      upstream: { contacted: false },
    });
  /** Records a request refused before any handler saw it (parser error, header timeout); its id. */
  const recordClientError = (
    listener: string,
    authority: string | undefined,
    code: string,
    reason: string,
  ) => {
    const id = ctx.newRequestId();
    void recordDeny(listener, id, reason, `parser: ${code}`, { authority });
    return id;
  };

  /** A request refused by the front (framing, host, target): answered and recorded here. */
  const refuseFront = (
    req: IncomingMessage,
    res: ServerResponse,
    listener: string,
    id: string,
    reason: Reason,
    message: string,
  ) => {
    respondPlain(req, res, reason, message, id);
    ctx.metrics.observeRequest({ listener, service: 'http', decision: 'deny', reason }, 0);
    return recordDeny(listener, id, reason, message, { method: req.method, target: req.url?.slice(0, 256) });
  };

  // Requests inside intercepted tunnels. The AWS handler of a tunnel is built on its first request
  // and kept with the tunnel (it only closes over the tunnel's authority), not rebuilt per request.
  const awsHandlers = new WeakMap<Tunnel, ReturnType<typeof createAwsEndpointHandler>>();
  const awsHandlerFor = (tunnel: Tunnel) => {
    let handler = awsHandlers.get(tunnel);
    if (handler) return handler;
    const authority = { scheme: 'https' as const, host: tunnel.host, port: tunnel.port };
    // The AWS pipeline, entered with the tunnel's authority; legacy global S3 names are read as
    // the regional ones they stand for (the upstream is Errand's configured endpoint anyway).
    const alias = hosts.s3GlobalAlias.get(tunnel.host);
    handler = createAwsEndpointHandler(ctx, {
      listener: tunnel.listener,
      normalize: (r, id) => {
        const front = normalizeTunnelRequest(r, id, tunnel.listener, authority);
        return front.ok && alias
          ? { ok: true, request: Object.freeze({ ...front.request, host: alias }) }
          : front;
      },
    });
    awsHandlers.set(tunnel, handler);
    return handler;
  };
  const onTunnelRequest = async (req: IncomingMessage, res: ServerResponse, tunnel: Tunnel) => {
    if (tunnel.aws) return awsHandlerFor(tunnel)(req, res);
    const authority = { scheme: 'https' as const, host: tunnel.host, port: tunnel.port };
    const id = ctx.newRequestId();
    const front = normalizeTunnelRequest(req, id, tunnel.listener, authority);
    if (!front.ok) return refuseFront(req, res, tunnel.listener, id, front.reason, front.message);
    return httpGrant(req, res, front.request);
  };

  // WebSocket upgrades (grants with websocket: true); every other upgrade is refused there too.
  const webSocket = createWebSocketHandler({
    ctx,
    secrets: opts.secrets,
    resolver: opts.resolver,
    dialer: opts.dialer,
    floor,
    upstreamCa: opts.upstreamCa,
    track: (socket) => track(socket),
  });
  const refuseUpgrade = (socket: Duplex, listener: string, id: string, reason: Reason, message: string) => {
    refuseOnSocket(socket, reason, message, id);
    ctx.metrics.observeRequest({ listener, service: 'websocket', decision: 'deny', reason }, 0);
    void recordDeny(listener, id, reason, message);
  };
  const onUpgrade = (
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    listener: 'forward' | 'connect' | 'transparent',
    normalize: (id: string) => FrontResult,
    aws = false,
  ) => {
    const id = ctx.newRequestId();
    // Nothing reads the socket once Node hands it over: hold the client's bytes until a decision.
    socket.pause();
    socket.on('error', () => socket.destroy());
    if (aws)
      return refuseUpgrade(
        socket,
        listener,
        id,
        'upgrade_denied',
        'AWS endpoints are not reached by upgrade',
      );
    const front = normalize(id);
    if (!front.ok) return refuseUpgrade(socket, listener, id, front.reason, front.message);
    webSocket(req, socket, head, front.request).catch(() => socket.destroy());
  };

  const interceptor = createInterceptor({
    ca: opts.ca,
    onRequest: onTunnelRequest,
    onUpgrade: (req, socket, head, tunnel) =>
      onUpgrade(
        req,
        socket,
        head,
        tunnel.listener,
        (id) =>
          normalizeTunnelRequest(req, id, tunnel.listener, {
            scheme: 'https',
            host: tunnel.host,
            port: tunnel.port,
          }),
        tunnel.aws,
      ),
    onRefused: (tunnel, reason, message) => {
      ctx.metrics.observeRequest(
        { listener: tunnel.listener, service: 'tunnel', decision: 'deny', reason },
        0,
      );
      void audit({
        ...baseRecord(tunnel.listener),
        event: 'tunnel_refused',
        request_id: tunnel.id,
        decision: 'deny',
        reason,
        message,
        authority: `${tunnel.host}:${tunnel.port}`,
        upstream: { contacted: false },
      });
    },
    onClientError: (tunnel, code, reason) =>
      recordClientError(
        tunnel?.listener ?? 'connect',
        tunnel ? `${tunnel.host}:${tunnel.port}` : undefined,
        code,
        reason,
      ),
  });

  // Absolute-form requests on the proxy listener.
  const onProxyRequest = async (req: IncomingMessage, res: ServerResponse) => {
    const id = ctx.newRequestId();
    const front = normalizeProxyRequest(req, id);
    if (!front.ok) return refuseFront(req, res, 'forward', id, front.reason, front.message);
    if (hosts.awsHosts.has(front.request.host)) {
      return refuseFront(
        req,
        res,
        'forward',
        id,
        'scheme_denied',
        'AWS endpoints are reached over https: set HTTPS_PROXY so the client sends CONNECT',
      );
    }
    return httpGrant(req, res, front.request);
  };

  const server = await listen(onProxyRequest, {
    host: opts.host,
    port: opts.port,
    listener: 'forward',
    audit: ctx.audit,
    newRequestId: ctx.newRequestId,
    baseRecord: () => baseRecord('forward'),
  });

  const refuseConnect = (socket: Duplex, id: string, reason: Reason, message: string, target: string) => {
    const status: number = REASONS[reason].status;
    const body = `Errand denied this CONNECT (${reason}): ${message}\nrequest id: ${id}\n`;
    if (socket.writable) {
      socket.end(
        `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Forbidden'}\r\ncontent-type: text/plain; charset=utf-8\r\nx-egress-deny: ${reason}\r\nx-request-id: ${id}\r\n${status === 429 ? 'retry-after: 1\r\n' : ''}content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    }
    setTimeout(() => socket.destroy(), 1_000).unref();
    ctx.metrics.observeRequest({ listener: 'connect', service: 'tunnel', decision: 'deny', reason }, 0);
    void recordDeny('connect', id, reason, message, { method: 'CONNECT', authority: target.slice(0, 256) });
  };

  const track = (socket: Duplex) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  };

  const openIntercepted = (socket: Duplex, head: Buffer, tunnel: Tunnel) => {
    void audit({
      ...baseRecord(tunnel.listener),
      event: 'tunnel_opened',
      request_id: tunnel.id,
      decision: 'allow',
      reason: 'allowed',
      message: 'intercepted: each request inside is authorized on its own',
      method: tunnel.listener === 'connect' ? 'CONNECT' : undefined,
      authority: `${tunnel.host}:${tunnel.port}`,
      upstream: { contacted: false },
    });
    socket.once(
      'close',
      () => void audit({ ...baseRecord(tunnel.listener), event: 'tunnel_closed', request_id: tunnel.id }),
    );
    interceptor.intercept(socket, head, tunnel);
  };

  /** A blind tunnel: resolved once, checked against the floor, the checked address dialled; `head`
   *  (bytes the client already sent) goes first. CONNECT answers 200 only once the dial worked. */
  const openPassthrough = async (
    socket: Duplex,
    head: Buffer,
    id: string,
    host: string,
    port: number,
    listener: 'connect' | 'transparent',
    refuse: (reason: Reason, message: string) => void,
  ) => {
    const dest = await resolveDestination(host, opts.resolver, floor, false);
    if (!dest.ok) return refuse(dest.reason, dest.message);
    let upstream: Duplex;
    try {
      upstream = await opts.dialer(dest.address, port);
    } catch {
      return refuse('upstream_error', 'the destination could not be reached');
    }
    if (socket.destroyed) {
      upstream.destroy();
      return;
    }
    upstream.on('error', () => socket.destroy());
    socket.once('close', () => upstream.destroy());
    upstream.once('close', () => socket.destroy());
    if (listener === 'connect') socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) upstream.write(head);
    socket.pipe(upstream);
    upstream.pipe(socket);
    void audit({
      ...baseRecord(listener),
      event: 'tunnel_opened',
      request_id: id,
      decision: 'allow',
      reason: 'allowed',
      message: 'passthrough: a blind tunnel, not inspected, no credential',
      method: listener === 'connect' ? 'CONNECT' : undefined,
      authority: `${host}:${port}`,
      upstream: { contacted: true },
    });
    socket.once(
      'close',
      () => void audit({ ...baseRecord(listener), event: 'tunnel_closed', request_id: id }),
    );
  };

  server.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
    onUpgrade(req, socket, head, 'forward', (id) => normalizeProxyRequest(req, id)),
  );

  server.server.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const id = ctx.newRequestId();
    const target = req.url ?? '';
    socket.on('error', () => socket.destroy());
    // 1. Bounds and the deadline before anything else.
    // Python's http.client (urllib3, requests, botocore) sends its CONNECT as HTTP/1.0: accepted, a
    // CONNECT has no body whose framing could be read two ways.
    if (req.httpVersion !== '1.1' && req.httpVersion !== '1.0')
      return refuseConnect(socket, id, 'malformed_request', 'CONNECT must be HTTP/1.1', target);
    if (open.size >= maxTunnels)
      return refuseConnect(socket, id, 'resource_limit', 'too many open tunnels; retry later', target);
    if (ctx.now() >= ctx.loaded.expiresAtMs)
      return refuseConnect(
        socket,
        id,
        'manifest_expired',
        'this task has ended (its manifest expired)',
        target,
      );

    // 2. What may this CONNECT open, from the manifest alone (no DNS yet). A Host header, when sent,
    //    must name the same authority (B11): two destinations in one request are refused.
    const plan = planConnect(target, hosts, floor);
    const hostHeader = req.headers.host;
    if (plan.kind !== 'deny' && hostHeader !== undefined) {
      const named = parseAuthority(hostHeader);
      if (!named || named.host !== plan.host || (named.port ?? 443) !== plan.port)
        return refuseConnect(
          socket,
          id,
          'bad_host',
          'the Host header names another authority than CONNECT',
          target,
        );
    }
    if (plan.kind === 'deny') return refuseConnect(socket, id, plan.reason, plan.message, target);
    track(socket);
    (socket as Socket).setTimeout(FORWARD_LIMITS.tunnelIdleMs, () => socket.destroy());

    // 3a. Intercepted: TLS terminated with a leaf for exactly this host.
    if (plan.kind === 'intercept') {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      openIntercepted(socket, head, {
        id,
        host: plan.host,
        port: plan.port,
        aws: plan.aws,
        listener: 'connect',
      });
      return;
    }

    // 3b. Passthrough: resolved once, checked against the floor, the checked address dialled.
    void openPassthrough(socket, head, id, plan.host, plan.port, 'connect', (reason, message) =>
      refuseConnect(socket, id, reason, message, target),
    );
  });

  // The transparent listener: connections redirected from the agent's UID, no CONNECT. TLS is routed
  // by its SNI exactly as a CONNECT to that name on port 443; plain HTTP by each request's Host, as
  // an absolute-form request to that name on port 80 (docs/proxy.md).
  let transparent: { server: NetServer; port: number } | undefined;
  const plainServer = createHardenedServer();
  const runPlain = (req: IncomingMessage, res: ServerResponse) => {
    onTransparentHttp(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain', connection: 'close' });
      res.end('Errand internal error\n');
    });
  };
  plainServer.on('request', runPlain);
  // No automatic 100 Continue: the handler answers it only once the request is authorized (A12).
  plainServer.on('checkContinue', runPlain);
  plainServer.on('checkExpectation', runPlain);
  plainServer.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
    onUpgrade(req, socket, head, 'transparent', (id) => {
      const named = parseAuthority(req.headers.host ?? '');
      if (!named)
        return {
          ok: false,
          reason: 'bad_host',
          message: 'Host header is required and must be a valid authority',
        };
      return normalizeTunnelRequest(req, id, 'transparent', {
        scheme: 'http',
        host: named.host,
        port: named.port ?? 80,
      });
    }),
  );
  plainServer.on(
    'clientError',
    refuseClientErrors((_socket, code, reason) => recordClientError('transparent', undefined, code, reason)),
  );
  const onTransparentHttp = async (req: IncomingMessage, res: ServerResponse) => {
    const id = ctx.newRequestId();
    const named = parseAuthority(req.headers.host ?? '');
    if (!named)
      return refuseFront(
        req,
        res,
        'transparent',
        id,
        'bad_host',
        'Host header is required and must be a valid authority',
      );
    const authority = { scheme: 'http' as const, host: named.host, port: named.port ?? 80 };
    const front = normalizeTunnelRequest(req, id, 'transparent', authority);
    if (!front.ok) return refuseFront(req, res, 'transparent', id, front.reason, front.message);
    return httpGrant(req, res, front.request);
  };
  const refuseTransparent = (
    socket: Duplex,
    id: string,
    reason: Reason,
    message: string,
    authority: string,
  ) => {
    socket.destroy();
    ctx.metrics.observeRequest({ listener: 'transparent', service: 'tunnel', decision: 'deny', reason }, 0);
    void recordDeny('transparent', id, reason, message, { authority: authority.slice(0, 256) });
  };
  const onTransparentConnection = (socket: Socket) => {
    const id = ctx.newRequestId();
    socket.on('error', () => socket.destroy());
    if (open.size >= maxTunnels)
      return refuseTransparent(socket, id, 'resource_limit', 'too many open tunnels', '');
    if (ctx.now() >= ctx.loaded.expiresAtMs)
      return refuseTransparent(
        socket,
        id,
        'manifest_expired',
        'this task has ended (its manifest expired)',
        '',
      );
    let buf = Buffer.alloc(0);
    const timer = setTimeout(
      () => refuseTransparent(socket, id, 'timeout', 'nothing was sent in time', ''),
      MITM_LIMITS.handshakeTimeoutMs,
    );
    timer.unref();
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const hello = readClientHelloSni(buf);
      if (hello.kind === 'need_more' && buf.length < MAX_HELLO_BYTES) return;
      socket.removeListener('data', onData);
      socket.pause();
      clearTimeout(timer);
      if (hello.kind === 'not_tls') {
        // Plain HTTP: each request's Host names its destination; authorized one by one.
        socket.unshift(buf);
        plainServer.emit('connection', socket);
        socket.resume();
        return;
      }
      if (hello.kind !== 'sni') {
        return refuseTransparent(
          socket,
          id,
          'sni_mismatch',
          'a redirected TLS connection must name its server (SNI)',
          '',
        );
      }
      const plan = planConnect(`${hello.host}:443`, hosts, floor);
      if (plan.kind === 'deny')
        return refuseTransparent(socket, id, plan.reason, plan.message, `${hello.host}:443`);
      track(socket);
      socket.setTimeout(FORWARD_LIMITS.tunnelIdleMs, () => socket.destroy());
      if (plan.kind === 'intercept') {
        openIntercepted(socket, buf, {
          id,
          host: plan.host,
          port: 443,
          aws: plan.aws,
          listener: 'transparent',
        });
        return;
      }
      void openPassthrough(socket, buf, id, plan.host, 443, 'transparent', (reason, message) =>
        refuseTransparent(socket, id, reason, message, `${plan.host}:443`),
      );
    };
    socket.on('data', onData);
  };
  if (opts.transparent) {
    const t = createNetServer(onTransparentConnection);
    t.maxConnections = LIMITS.maxConnections;
    await new Promise<void>((resolve, reject) => {
      t.once('error', reject);
      t.listen(opts.transparent!.port, opts.transparent!.host, () => resolve());
    });
    transparent = { server: t, port: (t.address() as AddressInfo).port };
  }

  // Open tunnels do not outlive the task (G4).
  const untilDeadline = ctx.loaded.expiresAtMs - ctx.now();
  const deadline = setTimeout(
    () => {
      for (const s of open) s.destroy();
    },
    Math.max(0, Math.min(untilDeadline, 2 ** 31 - 1)),
  );
  deadline.unref();

  return {
    port: server.port,
    transparentPort: transparent?.port,
    hosts,
    ca: opts.ca,
    tunnels: () => open.size,
    closeTunnels() {
      for (const s of open) s.destroy();
    },
    async close() {
      clearTimeout(deadline);
      for (const s of open) s.destroy();
      await server.close();
      server.server.closeAllConnections();
      interceptor.server.closeAllConnections();
      if (transparent) await new Promise<void>((r) => transparent!.server.close(() => r()));
      plainServer.closeAllConnections();
      await pinned.close();
    },
  };
}
