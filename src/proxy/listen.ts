import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
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

  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    const known = PARSE_ERRORS[error.code ?? ''] ?? { status: 400, reason: 'malformed_request' };
    const id = opts.newRequestId();
    if (socket.writable && !(error.code === 'ECONNRESET')) {
      const body = `Errand refused a malformed request (${known.reason})\nrequest id: ${id}\n`;
      socket.end(
        `HTTP/1.1 ${known.status} ${known.status === 431 ? 'Request Header Fields Too Large' : known.status === 408 ? 'Request Timeout' : 'Bad Request'}\r\n` +
          `content-type: text/plain\r\nx-egress-deny: ${known.reason}\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    } else {
      socket.destroy();
    }
    if (error.code === 'ECONNRESET') return;
    opts.audit
      .write({
        ...opts.baseRecord(),
        event: 'egress_decision',
        listener: opts.listener,
        request_id: id,
        decision: 'deny',
        reason: known.reason,
        message: `parser: ${error.code ?? 'error'}`,
        upstream: { contacted: false },
      })
      .catch(() => undefined);
  });

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
