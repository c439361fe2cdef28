import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { AuditSink } from '../audit/audit-log.ts';
import { LIMITS } from './limits.ts';

// One place that configures Node's HTTP server the way an untrusted client requires: strict parser,
// bounded headers, short header timeout, no automatic 100-continue (A12: Node would send it before
// Errand decided), a connection cap, and parse errors answered with 400/431 + close and recorded.

export type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

export interface ListenOptions {
  readonly host: string;
  readonly port: number;
  readonly listener: string;
  readonly audit: AuditSink;
  readonly newRequestId: () => string;
  readonly baseRecord: () => Record<string, unknown>;
}

const PARSE_ERRORS: Readonly<Record<string, { status: number; reason: string }>> = {
  HPE_HEADER_OVERFLOW: { status: 431, reason: 'header_too_large' },
  HPE_UNEXPECTED_CONTENT_LENGTH: { status: 400, reason: 'ambiguous_framing' },
  HPE_INVALID_TRANSFER_ENCODING: { status: 400, reason: 'ambiguous_framing' },
  HPE_INVALID_CONTENT_LENGTH: { status: 400, reason: 'ambiguous_framing' },
  HPE_CHUNK_EXTENSIONS_OVERFLOW: { status: 400, reason: 'ambiguous_framing' },
  HPE_INVALID_CHUNK_SIZE: { status: 400, reason: 'ambiguous_framing' },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, reason: 'timeout' },
};

const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
};

/** How a request Node's parser gave up on is refused: a header timeout is 408, oversized headers 431. */
function parserRefusal(code: string | undefined): { readonly status: number; readonly reason: string } {
  return PARSE_ERRORS[code ?? ''] ?? { status: 400, reason: 'malformed_request' };
}

/**
 * The 'clientError' listener of every server Errand runs, bound or handed sockets: a request Node's
 * parser gave up on (malformed, oversized, a header timeout) is recorded with `record(socket, code,
 * reason)`, which returns its request id, then answered on the raw socket (there is no response
 * object) with the status, the reason and the id, and the connection closed. A connection reset
 * by the client, or one Errand already ended (the tail of a request it refused), is only closed.
 */
export function refuseClientErrors(
  record: (socket: Duplex, code: string, reason: string) => string,
): (error: NodeJS.ErrnoException, socket: Duplex) => void {
  return (error, socket) => {
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const refusal = parserRefusal(error.code);
    const id = record(socket, error.code ?? 'error', refusal.reason);
    const body = `Errand refused a malformed request (${refusal.reason})\nrequest id: ${id}\n`;
    socket.end(
      `HTTP/1.1 ${refusal.status} ${STATUS_TEXT[refusal.status] ?? 'Bad Request'}\r\ncontent-type: text/plain\r\n` +
        `x-egress-deny: ${refusal.reason}\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  };
}

export async function listen(
  handler: Handler,
  opts: ListenOptions,
): Promise<{ server: Server; port: number; close: () => Promise<void> }> {
  const server = createServer({
    maxHeaderSize: LIMITS.maxHeaderBytes,
    headersTimeout: LIMITS.headersTimeoutMs,
    requestTimeout: 0, // large uploads are bounded by the idle timeout instead
    keepAliveTimeout: LIMITS.keepAliveTimeoutMs,
    joinDuplicateHeaders: false,
    requireHostHeader: true,
    insecureHTTPParser: false,
    rejectNonStandardBodyWrites: true,
    connectionsCheckingInterval: 1_000, // header and request timeouts are enforced within a second
  });
  server.maxHeadersCount = LIMITS.maxHeaderCount * 2;
  server.maxConnections = LIMITS.maxConnections;
  server.setTimeout(LIMITS.idleTimeoutMs, (socket: Socket) => socket.destroy());

  const run = (req: IncomingMessage, res: ServerResponse) => {
    handler(req, res).catch(() => {
      // A handler bug must not crash the sidecar nor leave the agent hanging.
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain', connection: 'close' });
      res.end('Errand internal error\n');
    });
  };
  server.on('request', run);
  // Registering checkContinue stops Node answering 100 itself; the handler calls writeContinue()
  // only after the request is authorized.
  server.on('checkContinue', run);
  server.on('checkExpectation', run);

  server.on(
    'clientError',
    refuseClientErrors((_socket, code, reason) => {
      const id = opts.newRequestId();
      opts.audit
        .write({
          ...opts.baseRecord(),
          event: 'egress_decision',
          listener: opts.listener,
          request_id: id,
          decision: 'deny',
          reason,
          message: `parser: ${code}`,
          upstream: { contacted: false },
        })
        .catch(() => undefined);
      return id;
    }),
  );

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
