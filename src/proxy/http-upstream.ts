import type { Socket } from 'node:net';
import { isIP } from 'node:net';
import type { Readable } from 'node:stream';
import { createSecureContext, type SecureContext, connect as tlsConnect } from 'node:tls';
import { LRUCache } from 'lru-cache';
import { type buildConnector, type Dispatcher, Pool } from 'undici';
import type { Dialer } from './dns.ts';
import { LIMITS } from './limits.ts';
import type { UpstreamResponse } from './upstream.ts';

// Upstream connections for HTTP grants, pinned to the address Errand resolved and checked: each
// pool is bound to (scheme, host, port, address) and opens its sockets through the injected dialer,
// so nothing inside undici or TLS resolves the name again (SECURITY-CASES C6). TLS is verified
// against the name the grant names (SNI = that name, I2); only http/1.1 is offered. Redirects are
// returned, never followed (F4).

export interface PinnedDestination {
  readonly scheme: 'http' | 'https';
  readonly host: string;
  readonly port: number;
  /** The checked address to dial. */
  readonly address: string;
}

export interface PinnedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: Readable | Uint8Array | undefined;
  readonly signal?: AbortSignal;
}

export interface PinnedUpstream {
  request(dest: PinnedDestination, req: PinnedRequest): Promise<UpstreamResponse>;
  close(): Promise<void>;
}

/** Pools kept (one per destination address); older ones close when evicted. */
export const MAX_PINNED_POOLS = 64;

/** Sessions kept for resumption (one per destination: name, port and checked address). */
export const MAX_TLS_SESSIONS = 256;

/** TLS client state shared by the connections of one upstream: one context (the CA parsed once,
 *  not per connection) and the last session per destination, offered again only to the same name
 *  at the same checked address (RFC 8446 §2.2; the session carries that name's verified chain). */
export interface PinnedTls {
  readonly context: SecureContext;
  readonly sessions: LRUCache<string, Buffer>;
}

export function createPinnedTls(ca: string | undefined): PinnedTls {
  return {
    context: createSecureContext({ ...(ca ? { ca } : {}), minVersion: 'TLSv1.2' }),
    sessions: new LRUCache<string, Buffer>({ max: MAX_TLS_SESSIONS }),
  };
}

const destinationKey = (dest: PinnedDestination): string => {
  const host = dest.host.includes(':') ? `[${dest.host}]` : dest.host;
  return `${dest.scheme}://${host}:${dest.port}@${dest.address}`;
};

/** Opens a connection to the checked address through the injected dialer; for https, TLS verified
 *  against the destination's name (SNI = that name), http/1.1 only. */
export function openPinnedSocket(
  dest: PinnedDestination,
  opts: { dialer: Dialer; ca?: string | undefined; tls?: PinnedTls },
): Promise<Socket> {
  return opts.dialer(dest.address, dest.port).then(
    (raw: Socket) =>
      new Promise<Socket>((resolve, reject) => {
        if (dest.scheme === 'http') {
          resolve(raw);
          return;
        }
        const key = destinationKey(dest);
        const session = opts.tls?.sessions.get(key);
        const socket = tlsConnect({
          socket: raw,
          host: dest.host,
          ...(isIP(dest.host) === 0 ? { servername: dest.host } : {}),
          ...(opts.tls
            ? { secureContext: opts.tls.context, ...(session ? { session } : {}) }
            : opts.ca
              ? { ca: opts.ca }
              : {}),
          rejectUnauthorized: true,
          ALPNProtocols: ['http/1.1'],
          minVersion: 'TLSv1.2',
        });
        const fail = (error: Error) => {
          socket.destroy();
          reject(error);
        };
        socket.setTimeout(LIMITS.upstreamConnectTimeoutMs, () => fail(new Error('TLS handshake timeout')));
        socket.once('error', fail);
        // Only sessions of a verified connection are kept: a TLS 1.2 session can arrive before the
        // chain is checked, so it waits for secureConnect (TLS 1.3 tickets come after it).
        let pending: Buffer | undefined;
        socket.on('session', (s: Buffer) => {
          if (socket.authorized) opts.tls?.sessions.set(key, s);
          else pending = s;
        });
        socket.once('secureConnect', () => {
          if (pending && socket.authorized) opts.tls?.sessions.set(key, pending);
          socket.setTimeout(0);
          socket.removeListener('error', fail);
          resolve(socket);
        });
      }),
  );
}

export function createPinnedUpstream(opts: { dialer: Dialer; ca?: string | undefined }): PinnedUpstream {
  const tls = createPinnedTls(opts.ca);
  const connectorFor =
    (dest: PinnedDestination): buildConnector.connector =>
    (_options, callback) => {
      openPinnedSocket(dest, { dialer: opts.dialer, tls }).then(
        (socket) => callback(null, socket),
        (error: Error) => callback(error, null),
      );
    };

  const pools = new LRUCache<string, Pool>({
    max: MAX_PINNED_POOLS,
    dispose: (pool) => {
      pool.close().catch(() => undefined);
    },
  });
  const poolFor = (dest: PinnedDestination): Pool => {
    const host = dest.host.includes(':') ? `[${dest.host}]` : dest.host;
    const key = destinationKey(dest);
    let pool = pools.get(key);
    if (!pool) {
      pool = new Pool(`${dest.scheme}://${host}:${dest.port}`, {
        connect: connectorFor(dest),
        connections: 8,
        headersTimeout: LIMITS.upstreamHeadersTimeoutMs,
        bodyTimeout: LIMITS.upstreamBodyTimeoutMs,
        keepAliveTimeout: 4_000,
      });
      pools.set(key, pool);
    }
    return pool;
  };

  return {
    async request(dest, req) {
      const res = await poolFor(dest).request({
        path: req.path,
        method: req.method as Dispatcher.HttpMethod,
        headers: req.headers,
        body: req.body,
        signal: req.signal,
      });
      return res as unknown as UpstreamResponse;
    },
    async close() {
      const all = [...pools.values()];
      pools.clear();
      tls.sessions.clear();
      await Promise.allSettled(all.map((p) => p.close()));
    },
  };
}
