import { constants } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { createSecureContext, TLSSocket } from 'node:tls';
import type { Reason } from '../errors.ts';
import { LIMITS } from './limits.ts';
import { refuseClientErrors } from './listen.ts';
import type { PodCa } from './pod-ca.ts';

// TLS interception of a CONNECT tunnel to a host the manifest names. The first byte must open a TLS
// handshake record (B10); the ClientHello's SNI must be the CONNECT host (B8: no leaf is minted for
// any other name, and a missing SNI gets no certificate at all); ALPN offers http/1.1 only (A18).
// The decrypted stream is served by an HTTP server of its own, configured like the listeners, whose
// requests each go through the full pipeline (B13); the tunnel's authority travels with the socket.

export interface Tunnel {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  readonly aws: boolean;
  readonly listener: 'connect' | 'transparent';
}

export const MITM_LIMITS = {
  /** From the tunnel's 200 to a completed TLS handshake. */
  handshakeTimeoutMs: 10_000,
} as const;

/** TLS record content type 22: handshake (RFC 8446 §5.1). */
const TLS_HANDSHAKE = 0x16;

export interface InterceptorOptions {
  readonly ca: PodCa;
  /** One decrypted request, with the tunnel it arrived in. */
  readonly onRequest: (req: IncomingMessage, res: ServerResponse, tunnel: Tunnel) => Promise<void>;
  /** An upgrade request (Connection: upgrade) inside the tunnel; the caller owns the socket. */
  readonly onUpgrade: (req: IncomingMessage, socket: Duplex, head: Buffer, tunnel: Tunnel) => void;
  /** A tunnel that ended before any request could be read (recorded by the caller). */
  readonly onRefused: (tunnel: Tunnel, reason: Reason, message: string) => void;
  /** A request refused inside the tunnel before any handler saw it (a parser error, a header
   *  timeout, CONNECT): answered here, recorded by the caller with `reason`; returns the request id. */
  readonly onClientError: (tunnel: Tunnel | undefined, code: string, reason: string) => string;
}

export interface Interceptor {
  /** Takes over the client side of an accepted CONNECT (after Errand's 200). */
  intercept(socket: Duplex, head: Buffer, tunnel: Tunnel): void;
  readonly server: Server;
}

/** An HTTP server that is never bound: sockets Errand accepted elsewhere (a decrypted tunnel, a
 *  redirected connection) are handed to it. Configured like the listeners (listen.ts). */
export function createHardenedServer(): Server {
  const server = createServer({
    maxHeaderSize: LIMITS.maxHeaderBytes,
    headersTimeout: LIMITS.headersTimeoutMs,
    requestTimeout: 0,
    keepAliveTimeout: LIMITS.keepAliveTimeoutMs,
    joinDuplicateHeaders: false,
    requireHostHeader: true,
    insecureHTTPParser: false,
    rejectNonStandardBodyWrites: true,
    connectionsCheckingInterval: 1_000,
  });
  server.maxHeadersCount = LIMITS.maxHeaderCount * 2;
  server.setTimeout(LIMITS.idleTimeoutMs, (socket: Duplex) => socket.destroy());
  // This server is never listen()ed: sockets are handed to it. Node starts the periodic check that
  // enforces headersTimeout (408, then close) when a server emits 'listening', so without this a
  // client inside a tunnel could trickle its headers for as long as the idle timeout allows (A15).
  server.emit('listening');
  return server;
}

export function createInterceptor(opts: InterceptorOptions): Interceptor {
  const tunnels = new WeakMap<object, Tunnel>();
  // The context every tunnel's handshake starts in, before SNICallback swaps in the leaf's: made
  // once, not per tunnel (a TLSSocket without one builds a default context for each connection).
  // It holds no certificate. Session tickets stay off: with shared ticket keys, offering one
  // host's ticket in a tunnel to another host crashed Errand with SIGSEGV in SSL_read (Node 24.9;
  // docs/decisions/0006), and a per-tunnel context never resumed anything anyway.
  const initial = createSecureContext({ minVersion: 'TLSv1.2', secureOptions: constants.SSL_OP_NO_TICKET });
  const server = createHardenedServer();
  const run = (req: IncomingMessage, res: ServerResponse) => {
    const tunnel = tunnels.get(req.socket);
    const fail = () => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain', connection: 'close' });
      res.end('Errand internal error\n');
    };
    if (!tunnel) return fail();
    opts.onRequest(req, res, tunnel).catch(fail);
  };
  server.on('request', run);
  server.on('checkContinue', run);
  server.on('checkExpectation', run);
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const tunnel = tunnels.get(socket);
    if (!tunnel) {
      socket.destroy();
      return;
    }
    opts.onUpgrade(req, socket, head, tunnel);
  });
  // CONNECT inside an intercepted tunnel is never honoured (D10).
  server.on('connect', (req: IncomingMessage, socket: Duplex) => {
    const tunnel = tunnels.get(socket);
    const id = opts.onClientError(tunnel, 'CONNECT in tunnel', 'malformed_request');
    socket.end(
      `HTTP/1.1 403 Forbidden\r\nx-egress-deny: not_in_manifest\r\nx-request-id: ${id}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`,
    );
    void req;
  });
  server.on(
    'clientError',
    refuseClientErrors((socket, code, reason) => opts.onClientError(tunnels.get(socket), code, reason)),
  );

  const intercept = (socket: Duplex, head: Buffer, tunnel: Tunnel) => {
    let refused = false;
    const refuse = (reason: Reason, message: string) => {
      if (refused) return;
      refused = true;
      opts.onRefused(tunnel, reason, message);
      socket.destroy();
    };
    const timer = setTimeout(
      () => refuse('timeout', 'no TLS handshake in time'),
      MITM_LIMITS.handshakeTimeoutMs,
    );
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    socket.on('error', () => socket.destroy());

    const start = (first: Buffer) => {
      if (first.length === 0 || first[0] !== TLS_HANDSHAKE) {
        refuse('malformed_request', 'the tunnel did not start with a TLS handshake');
        return;
      }
      socket.unshift(first);
      let sniSeen = false;
      let secured = false;
      const tls = new TLSSocket(socket, {
        isServer: true,
        secureContext: initial,
        ALPNProtocols: ['http/1.1'],
        SNICallback: (servername, cb) => {
          sniSeen = true;
          const name = servername.toLowerCase().replace(/\.$/, '');
          if (name !== tunnel.host) {
            refuse('sni_mismatch', `the TLS server name is not ${tunnel.host}, the CONNECT host`);
            cb(new Error('sni mismatch'), undefined);
            return;
          }
          opts.ca.contextFor(name).then(
            (context) => cb(context ? null : new Error('no certificate'), context),
            (error: Error) => cb(error, undefined),
          );
        },
      });
      tls.on('error', () => {
        if (!secured) {
          if (sniSeen) refuse('malformed_request', 'the TLS handshake failed');
          else refuse('sni_mismatch', `the TLS handshake has no server name; it must be ${tunnel.host}`);
        }
        tls.destroy();
      });
      tls.once('secure', () => {
        secured = true;
        clearTimeout(timer);
        const name =
          typeof tls.servername === 'string' ? tls.servername.toLowerCase().replace(/\.$/, '') : '';
        if (name !== tunnel.host) {
          refuse('sni_mismatch', 'the TLS server name is not the CONNECT host');
          tls.destroy();
          return;
        }
        tunnels.set(tls, tunnel);
        server.emit('connection', tls);
      });
    };
    if (head.length > 0) start(head);
    else {
      socket.once('data', (chunk: Buffer) => {
        socket.pause();
        start(chunk);
      });
    }
  };
  return { intercept, server };
}
