import type { Socket } from 'node:net';
import { isIP } from 'node:net';
import type { Readable } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
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

/** Opens a connection to the checked address through the injected dialer; for https, TLS verified
 *  against the destination's name (SNI = that name), http/1.1 only. */
export function openPinnedSocket(
  dest: PinnedDestination,
  opts: { dialer: Dialer; ca?: string | undefined },
): Promise<Socket> {
  return opts.dialer(dest.address, dest.port).then(
    (raw: Socket) =>
      new Promise<Socket>((resolve, reject) => {
        if (dest.scheme === 'http') {
          resolve(raw);
          return;
        }
        const socket = tlsConnect({
          socket: raw,
          host: dest.host,
          ...(isIP(dest.host) === 0 ? { servername: dest.host } : {}),
          ...(opts.ca ? { ca: opts.ca } : {}),
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
        socket.once('secureConnect', () => {
          socket.setTimeout(0);
          socket.removeListener('error', fail);
          resolve(socket);
        });
      }),
  );
}

export function createPinnedUpstream(opts: { dialer: Dialer; ca?: string | undefined }): PinnedUpstream {
  const connectorFor =
    (dest: PinnedDestination): buildConnector.connector =>
    (_options, callback) => {
      openPinnedSocket(dest, opts).then(
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
    const key = `${dest.scheme}://${host}:${dest.port}@${dest.address}`;
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
      await Promise.allSettled(all.map((p) => p.close()));
    },
  };
}
