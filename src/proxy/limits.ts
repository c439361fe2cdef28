// Named bounds on everything an agent controls. Each is a default an operator may lower; none is
// unbounded.
export const LIMITS = {
  /** Total bytes of the request line and headers (Node's parser answers 431 beyond it). */
  maxHeaderBytes: 16 * 1024,
  /** Header lines per request. */
  maxHeaderCount: 128,
  /** Request-target length (414 beyond it). */
  maxUriBytes: 8 * 1024,
  /** Whole header section must arrive within this (slowloris). */
  headersTimeoutMs: 10_000,
  /** A socket with no bytes either way for this long is closed (slow bodies, idle keep-alive). */
  idleTimeoutMs: 60_000,
  /** Keep-alive between requests. */
  keepAliveTimeoutMs: 5_000,
  /** Bodies Errand must read before it can classify (JSON/query protocols, DeleteObjects). */
  maxClassifiedBodyBytes: 16 * 1024 * 1024, // DynamoDB BatchWriteItem requests reach 16 MB
  /** Upstream error bodies are buffered to redact them; larger ones are replaced. */
  maxUpstreamErrorBodyBytes: 64 * 1024,
  /** Concurrent agent connections per listener (429 beyond it). */
  maxConnections: 512,
  /** Time to drain in-flight requests on SIGTERM. */
  drainMs: 10_000,
  /** Upstream connect / first-byte bounds. */
  upstreamConnectTimeoutMs: 10_000,
  upstreamHeadersTimeoutMs: 60_000,
  upstreamBodyTimeoutMs: 60_000,
} as const;
