import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { type Duplex, Transform } from 'node:stream';
import { authorizeHttp, intentUrl } from '../authorize/authorize.ts';
import type { Reason } from '../errors.ts';
import type { HttpGrant } from '../manifest/types.ts';
import { plainErrorResponse } from './aws-errors.ts';
import { auditBase, durationMs, type SidecarContext } from './context.ts';
import type { DestinationFloor } from './destinations.ts';
import { checkLiteral, type Dialer, type Resolver, resolveDestination } from './dns.ts';
import { formatAuthority } from './forward-front.ts';
import { hostOf, httpGrantRecord } from './http-grant.ts';
import {
  agentResponseHeaders,
  buildUpstreamHeaders,
  classifyHttp,
  explainMiss,
} from './http-grant-request.ts';
import { openPinnedSocket } from './http-upstream.ts';
import type { InjectSecrets } from './inject.ts';
import type { NormalizedRequest } from './request.ts';

// WebSocket upgrades for grants that say `websocket: true` (RFC 6455). The opening handshake is an
// HTTP-grant request like any other — classified, authorized (one use per connection), resolved
// once, the credential injected, sent to the checked address — and Errand switches to relaying
// bytes only when the API answers a valid 101 (Sec-WebSocket-Accept checked, §4.2.2). Every other
// upgrade, and every upgrade on a grant without the switch, is refused and the connection closed
// (SECURITY-CASES J1–J3). While relaying: client frames must be masked (§5.3), each direction is
// capped, echoes of the secret from the API are overwritten in place (same length, so frame lengths
// stay valid), and the connection ends at the task deadline like every tunnel.

export const WS_LIMITS = {
  /** Bytes relayed in each direction over one connection. */
  maxBytesPerDirection: 64 * 1024 * 1024,
  /** The API's answer to the opening handshake: size and time. */
  maxResponseHeadBytes: 16 * 1024,
  responseTimeoutMs: 10_000,
  /** A message from the API reassembled for scrubbing (grants that inject a secret). */
  maxMessageBytes: 1024 * 1024,
} as const;

/** Overwrites every occurrence of each needle with as many `*` (lengths unchanged); returns the
 *  number of occurrences. */
export function replaceInPlace(payload: Buffer, needles: readonly Buffer[]): number {
  let count = 0;
  for (const n of needles) {
    let at = payload.indexOf(n);
    while (at !== -1) {
      payload.fill(0x2a, at, at + n.length);
      count++;
      at = payload.indexOf(n, at + n.length);
    }
  }
  return count;
}

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** RFC 6455 §4.2.2: the accept value the server must return for a key. */
export const expectedAccept = (key: string): string =>
  createHash('sha1')
    .update(key + GUID)
    .digest('base64');

type Deny = { readonly ok: false; readonly reason: Reason; readonly message: string };

/** The opening handshake's own rules (RFC 6455 §4.1): GET, Upgrade: websocket, version 13, a key of
 *  16 random bytes in base64. Anything else (h2c, TLS/1.0, odd versions) is not a WebSocket. */
export function checkWebSocketRequest(req: NormalizedRequest): { ok: true; key: string } | Deny {
  const upgrade = (req.headers.get('upgrade') ?? '').toLowerCase();
  if (upgrade !== 'websocket' || req.headers.has('http2-settings'))
    return { ok: false, reason: 'upgrade_denied', message: 'only WebSocket upgrades can be granted' };
  if (req.method !== 'GET')
    return { ok: false, reason: 'upgrade_denied', message: 'a WebSocket opening handshake is a GET' };
  if (req.headers.get('sec-websocket-version') !== '13')
    return { ok: false, reason: 'upgrade_denied', message: 'only WebSocket version 13 is supported' };
  const key = req.headers.get('sec-websocket-key') ?? '';
  if (!/^[A-Za-z0-9+/]{22}==$/.test(key))
    return { ok: false, reason: 'upgrade_denied', message: 'Sec-WebSocket-Key must be 16 bytes in base64' };
  return { ok: true, key };
}

/** Checks client-to-server frames as they stream: masked (§5.3), no reserved bits (no extension
 *  was negotiated), within the byte cap. Fails the stream otherwise. */
export function createClientFrameCheck(maxBytes: number): Transform {
  let header: number[] = [];
  let headerLength = 2;
  let payloadLeft = 0;
  let total = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      total += chunk.length;
      if (total > maxBytes) return done(new Error('WebSocket byte cap'));
      let at = 0;
      while (at < chunk.length) {
        if (payloadLeft > 0) {
          const take = Math.min(payloadLeft, chunk.length - at);
          payloadLeft -= take;
          at += take;
          continue;
        }
        header.push(chunk[at++]!);
        if (header.length === 2) {
          if ((header[0]! & 0x70) !== 0) return done(new Error('reserved bits set'));
          if ((header[1]! & 0x80) === 0) return done(new Error('unmasked client frame'));
          const len7 = header[1]! & 0x7f;
          headerLength = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + 4;
        }
        if (header.length === headerLength) {
          const len7 = header[1]! & 0x7f;
          const b = Buffer.from(header);
          const length =
            len7 === 126 ? b.readUInt16BE(2) : len7 === 127 ? Number(b.readBigUInt64BE(2)) : len7;
          if (length > maxBytes) return done(new Error('frame larger than the cap'));
          payloadLeft = length;
          header = [];
          headerLength = 2;
        }
      }
      done(null, chunk);
    },
  });
}

/** Bytes received and not yet parsed, kept as the chunks they came in (copied once, when read). */
class ByteQueue {
  #chunks: Buffer[] = [];
  length = 0;
  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.length += chunk.length;
  }
  /** The first `n` bytes (n <= length), removed from the queue. */
  take(n: number): Buffer {
    const first = this.#chunks[0];
    let out: Buffer;
    if (first !== undefined && first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
    } else {
      const all = Buffer.concat(this.#chunks, this.length);
      out = all.subarray(0, n);
      this.#chunks = all.length > n ? [all.subarray(n)] : [];
    }
    this.length -= n;
    return out;
  }
  /** The first `n` bytes without removing them. */
  peek(n: number): Buffer {
    const first = this.#chunks[0];
    if (first !== undefined && first.length >= n) return first.subarray(0, n);
    const all = Buffer.concat(this.#chunks, this.length);
    this.#chunks = [all];
    return all.subarray(0, n);
  }
}

/** An unmasked frame with FIN set and the shortest length encoding (RFC 6455 §5.2). */
function serverFrame(opcode: number, payload: Buffer): Buffer {
  const n = payload.length;
  const head =
    n < 126
      ? Buffer.from([0x80 | opcode, n])
      : n < 0x10000
        ? Buffer.from([0x80 | opcode, 126, n >> 8, n & 0xff])
        : Buffer.concat([Buffer.from([0x80 | opcode, 127]), Buffer.alloc(8)]);
  if (n >= 0x10000) head.writeBigUInt64BE(BigInt(n), 2);
  return Buffer.concat([head, payload]);
}

/** Scrubs the API's WebSocket messages whole. A byte-stream scrubber cannot see a secret split
 *  over two frames of one fragmented message (a frame header sits between the halves), so data
 *  frames are parsed, a fragmented message is reassembled up to `maxMessageBytes`, scrubbed, and
 *  sent on as one frame (an intermediary may change fragmentation when no extension is
 *  negotiated, RFC 6455 §5.4; none is). Control frames (at most 125 bytes, §5.5) are scrubbed and
 *  sent at once, also between fragments. A larger message, a masked or reserved-bit frame, or
 *  broken fragmentation fails the stream: the connection ends rather than relaying unchecked bytes.
 *  `scrub` replaces in place (same length) and counts. */
export function createServerMessageScrubber(
  scrub: (payload: Buffer) => Buffer,
  maxMessageBytes: number,
): Transform {
  const queue = new ByteQueue();
  let message: { opcode: number; parts: Buffer[]; size: number } | undefined;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      queue.push(chunk);
      const out: Buffer[] = [];
      while (queue.length >= 2) {
        const [b0, b1] = queue.peek(2) as unknown as [number, number];
        if ((b0 & 0x70) !== 0) return done(new Error('reserved bits set'));
        if ((b1 & 0x80) !== 0) return done(new Error('masked server frame'));
        const len7 = b1 & 0x7f;
        const headLength = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0);
        if (queue.length < headLength) break;
        const head = queue.peek(headLength);
        const big = len7 === 127 ? head.readBigUInt64BE(2) : 0n;
        const length = len7 === 126 ? head.readUInt16BE(2) : len7 === 127 ? Number(big) : len7;
        const fin = (b0 & 0x80) !== 0;
        const opcode = b0 & 0x0f;
        const control = opcode >= 0x8;
        if (control && (length > 125 || !fin)) return done(new Error('invalid control frame'));
        if (!control && big > BigInt(maxMessageBytes)) return done(new Error('message larger than the cap'));
        if (!control && (message?.size ?? 0) + length > maxMessageBytes)
          return done(new Error('message larger than the cap'));
        if (queue.length < headLength + length) break;
        queue.take(headLength);
        const payload = queue.take(length);
        if (control) {
          if (opcode > 0xa) return done(new Error('unknown opcode'));
          out.push(serverFrame(opcode, scrub(payload)));
        } else if (opcode === 0x0) {
          if (!message) return done(new Error('continuation without a message'));
          message.parts.push(payload);
          message.size += length;
          if (fin) {
            out.push(serverFrame(message.opcode, scrub(Buffer.concat(message.parts, message.size))));
            message = undefined;
          }
        } else if (opcode === 0x1 || opcode === 0x2) {
          if (message) return done(new Error('a new message inside a fragmented one'));
          if (fin) out.push(serverFrame(opcode, scrub(payload)));
          else message = { opcode, parts: [payload], size: length };
        } else return done(new Error('unknown opcode'));
      }
      done(null, out.length === 0 ? undefined : out.length === 1 ? out[0] : Buffer.concat(out));
    },
  });
}

/** Reads an HTTP response head (status line and headers) from a socket, bounded in size and time;
 *  returns the bytes after it untouched. */
export function readResponseHead(
  socket: Duplex,
  limit: number,
  timeoutMs: number,
): Promise<{ status: number; headers: Map<string, string>; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => finish(new Error('timeout')), timeoutMs);
    const finish = (
      error?: Error,
      value?: { status: number; headers: Map<string, string>; rest: Buffer },
    ) => {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose);
      if (error) reject(error);
      else resolve(value!);
    };
    const onError = (e: Error) => finish(e);
    const onClose = () => finish(new Error('closed'));
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) {
        if (buf.length > limit) finish(new Error('response head too large'));
        return;
      }
      socket.pause();
      const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
      const status = /^HTTP\/1\.1 (\d{3})(?: |$)/.exec(lines[0] ?? '');
      if (!status) return finish(new Error('not an HTTP/1.1 response'));
      const headers = new Map<string, string>();
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        if (colon <= 0) return finish(new Error('malformed header'));
        const name = line.slice(0, colon).trim().toLowerCase();
        if (headers.has(name)) return finish(new Error(`repeated ${name}`));
        headers.set(name, line.slice(colon + 1).trim());
      }
      finish(undefined, { status: Number(status[1]), headers, rest: buf.subarray(end + 4) });
    };
    socket.on('data', onData);
    socket.once('error', onError);
    socket.once('close', onClose);
  });
}

/** Whether a grant names a URL: exact, or a pattern whose `*` is one whole path segment (the
 *  authorizer's rule, checked here only to refuse an upgrade before a use is taken). */
export function grantNamesUrl(g: HttpGrant, url: string): boolean {
  if (!g.pattern) return g.url === url;
  const p = g.url.split('/');
  const u = url.split('/');
  return (
    p.length === u.length &&
    p.every((seg, i) =>
      seg === '*' ? /^[^/?#]+$/.test(u[i]!) && u[i] !== '.' && u[i] !== '..' : seg === u[i],
    )
  );
}

export interface WebSocketDeps {
  readonly ctx: SidecarContext;
  readonly secrets: InjectSecrets;
  readonly resolver: Resolver;
  readonly dialer: Dialer;
  readonly floor: DestinationFloor;
  readonly upstreamCa?: string | undefined;
  /** Registers a relayed connection with the tunnel set (deadline teardown, caps). */
  readonly track: (socket: Duplex) => void;
}

/** Writes a plain-text deny on a raw socket and closes it. */
export function refuseOnSocket(socket: Duplex, reason: Reason, message: string, id: string): void {
  const r = plainErrorResponse(reason, message, id);
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const head = Object.entries({
    ...r.headers,
    'content-length': String(Buffer.byteLength(r.body)),
    connection: 'close',
  })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  socket.end(
    `HTTP/1.1 ${r.status} ${reason === 'upgrade_denied' ? 'Forbidden' : 'Error'}\r\n${head}\r\n${r.body}`,
  );
  setTimeout(() => socket.destroy(), 1_000).unref();
}

export function createWebSocketHandler(deps: WebSocketDeps) {
  const { ctx } = deps;
  const m = ctx.loaded.manifest;
  const baseRecord = (listener: string) => auditBase(ctx, listener);
  const wsGrantsFor = (host: string): HttpGrant[] =>
    (m.http?.grants ?? []).filter((g) => g.websocket && hostOf(g.url) === host);

  return async function handleUpgrade(
    _req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    normalized: NormalizedRequest,
  ): Promise<void> {
    const started = performance.now();
    const id = normalized.id;
    const authority = formatAuthority(normalized);
    let upstreamInfo: Record<string, unknown> = { contacted: false };
    const record = (
      o: { decision: string; reason: Reason; message: string; grantIds?: readonly string[] },
      event = 'egress_decision',
    ) =>
      ctx.audit
        .write({ ...httpGrantRecord(ctx, normalized, o, upstreamInfo, started, event), websocket: true })
        .catch(() => undefined);
    const deny = async (reason: Reason, message: string, grantIds?: readonly string[], decision = 'deny') => {
      refuseOnSocket(socket, reason, message, id);
      ctx.metrics.observeRequest(
        { listener: normalized.listener, service: 'websocket', decision, reason },
        0,
      );
      await record({ decision, reason, message, ...(grantIds ? { grantIds } : {}) });
    };

    // 1. The deadline; a literal on the floor; the handshake's own rules; a WebSocket grant for
    //    this host at all (before any use is taken).
    if (ctx.now() >= ctx.loaded.expiresAtMs)
      return deny(
        'manifest_expired',
        'this task has ended (its manifest expired); no call is allowed any more',
      );
    const opensPrivate = wsGrantsFor(normalized.host).some((g) => g.unsafeAllowPrivateAddress);
    const literal = checkLiteral(normalized.host, deps.floor, opensPrivate);
    if (literal && !literal.ok) return deny(literal.reason, literal.message);
    const ws = checkWebSocketRequest(normalized);
    if (!ws.ok) return deny(ws.reason, ws.message);
    // 2. Classify; the URL must be one a WebSocket grant names before any use is taken; then
    //    authorize the opening handshake like any request (one use per connection).
    const classified = classifyHttp(normalized, ctx.index);
    if (!classified.ok) return deny(classified.reason, classified.message);
    const url = intentUrl(classified.intent);
    if (!wsGrantsFor(normalized.host).some((g) => g.method === normalized.method && grantNamesUrl(g, url)))
      return deny('upgrade_denied', 'no grant of this task allows a WebSocket to this URL');
    const decision = authorizeHttp(
      classified.intent,
      ctx.index,
      ctx.ledger,
      ctx.now(),
      ctx.loaded.expiresAtMs,
    );
    if (!decision.allow) {
      const better =
        decision.reason === 'not_in_manifest' ? explainMiss(classified.intent, ctx.index) : undefined;
      return deny((better ?? decision).reason, (better ?? decision).message);
    }
    const grantIds = decision.grantIds;
    const grant = ctx.index.byId.get(grantIds[0]!) as HttpGrant;
    if (!grant.websocket)
      return deny('upgrade_denied', `grant ${grant.id} does not allow WebSocket`, grantIds);
    if (normalized.scheme === 'http' && (grant.inject || grant.oauth) && !grant.unsafeAllowPlainHttp)
      return deny('scheme_denied', 'this grant injects a credential and its URL is not https', grantIds);
    // The handshake path attaches no OAuth token or DPoP proof: an OAuth grant is refused here
    // rather than opened without its credential (docs/oauth.md). Nothing is resolved.
    if (grant.oauth !== undefined)
      return deny(
        'credentials_unavailable',
        'Errand does not send OAuth credentials on a WebSocket handshake, so it does not open it',
        grantIds,
        'error',
      );

    // 3. Resolve once, check, record, then dial the checked address.
    const dest = await resolveDestination(
      normalized.host,
      deps.resolver,
      deps.floor,
      grant.unsafeAllowPrivateAddress,
    );
    if (!dest.ok) return deny(dest.reason, dest.message, grantIds);
    try {
      await Promise.all([
        ctx.ledger.persist(decision.taken, id),
        ctx.audit.write({
          ...baseRecord(normalized.listener),
          event: 'egress_decision',
          request_id: id,
          decision: 'allow',
          reason: 'allowed',
          message: decision.message,
          grant_ids: grantIds,
          method: normalized.method,
          authority,
          path: normalized.rawPath.slice(0, 512),
          websocket: true,
          upstream: { contacted: false },
        }),
      ]);
    } catch {
      return deny(
        'audit_unavailable',
        'Errand cannot record this request, so it does not forward it',
        grantIds,
        'error',
      );
    }
    let injected: string | undefined;
    try {
      injected = deps.secrets.valueFor(grant);
    } catch {
      return deny('credentials_unavailable', 'Errand has no credential for this grant', grantIds, 'error');
    }
    const patterns = deps.secrets.patternsFor(grant);
    const headers = buildUpstreamHeaders(normalized, grant, injected, authority);
    delete headers['accept-encoding'];
    // No extension is negotiated: permessage-deflate would hide an echoed secret from the scrubber.
    for (const name of Object.keys(headers)) if (name.startsWith('sec-websocket-')) delete headers[name];
    const protocol = normalized.headers.get('sec-websocket-protocol');
    const intent = classified.intent;
    const path = `${intent.rawPath}${intent.rawQuery === '' ? '' : `?${intent.rawQuery}`}`;
    const lines = [
      `GET ${path} HTTP/1.1`,
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
      'connection: Upgrade',
      'upgrade: websocket',
      'sec-websocket-version: 13',
      `sec-websocket-key: ${ws.key}`,
      ...(protocol ? [`sec-websocket-protocol: ${protocol}`] : []),
    ];

    let upstream: Socket;
    try {
      upstream = await openPinnedSocket(
        { scheme: intent.scheme, host: intent.host, port: intent.port, address: dest.address },
        { dialer: deps.dialer, ca: deps.upstreamCa },
      );
    } catch {
      upstreamInfo = { contacted: false };
      return deny('upstream_error', 'the API could not be reached', grantIds, 'error');
    }
    upstreamInfo = { contacted: true };
    upstream.on('error', () => upstream.destroy());
    upstream.write(`${lines.join('\r\n')}\r\n\r\n`);

    // 4. Relay only on a valid 101 (J1); anything else ends both connections.
    let answer: Awaited<ReturnType<typeof readResponseHead>>;
    try {
      answer = await readResponseHead(upstream, WS_LIMITS.maxResponseHeadBytes, WS_LIMITS.responseTimeoutMs);
    } catch {
      upstream.destroy();
      return deny('upstream_error', 'the API did not answer the WebSocket handshake', grantIds, 'error');
    }
    upstreamInfo = { contacted: true, status: answer.status };
    const valid =
      answer.status === 101 &&
      (answer.headers.get('upgrade') ?? '').toLowerCase() === 'websocket' &&
      /(^|,)\s*upgrade\s*(,|$)/i.test(answer.headers.get('connection') ?? '') &&
      answer.headers.get('sec-websocket-accept') === expectedAccept(ws.key) &&
      !answer.headers.has('sec-websocket-extensions');
    if (!valid || socket.destroyed) {
      upstream.destroy();
      return deny(
        'upstream_error',
        answer.status === 101
          ? 'the API answered the WebSocket handshake incorrectly'
          : `the API did not accept the WebSocket (status ${answer.status})`,
        grantIds,
        'error',
      );
    }
    const relayed = agentResponseHeaders(
      Object.fromEntries([...answer.headers].filter(([k]) => !k.startsWith('sec-websocket-'))),
      patterns,
    );
    const out = [
      'HTTP/1.1 101 Switching Protocols',
      ...Object.entries(relayed).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${k}: ${x}`)),
      'connection: Upgrade',
      'upgrade: websocket',
      `sec-websocket-accept: ${expectedAccept(ws.key)}`,
      ...(answer.headers.has('sec-websocket-protocol')
        ? [`sec-websocket-protocol: ${answer.headers.get('sec-websocket-protocol')}`]
        : []),
    ];
    socket.write(`${out.join('\r\n')}\r\n\r\n`);

    // 5. Relay: agent frames checked (masked, capped); API bytes capped and scrubbed in place.
    deps.track(socket);
    const fromAgent = createClientFrameCheck(WS_LIMITS.maxBytesPerDirection);
    // With something to scrub, the API's messages are scrubbed whole (fragments reassembled).
    let scrubbed = 0;
    const needles = patterns.map((p) => Buffer.from(p));
    const scrubPayload = (payload: Buffer): Buffer => {
      const r = replaceInPlace(payload, needles);
      scrubbed += r;
      return payload;
    };
    const sameLength =
      patterns.length > 0 ? createServerMessageScrubber(scrubPayload, WS_LIMITS.maxMessageBytes) : undefined;
    let toAgentBytes = 0;
    const cap = new Transform({
      transform(chunk: Buffer, _enc, done) {
        toAgentBytes += chunk.length;
        if (toAgentBytes > WS_LIMITS.maxBytesPerDirection) done(new Error('WebSocket byte cap'));
        else done(null, chunk);
      },
    });
    const end = () => {
      socket.destroy();
      upstream.destroy();
    };
    for (const s of [fromAgent, cap, ...(sameLength ? [sameLength] : [])]) s.on('error', end);
    socket.on('error', end);
    socket.once('close', end);
    upstream.once('close', end);
    if (answer.rest.length > 0) upstream.unshift(answer.rest);
    if (head.length > 0) socket.unshift(head);
    socket.pipe(fromAgent).pipe(upstream);
    (sameLength ? upstream.pipe(cap).pipe(sameLength) : upstream.pipe(cap)).pipe(socket);
    upstream.resume();
    socket.once('close', () => {
      void ctx.audit
        .write({
          ...baseRecord(normalized.listener),
          event: 'egress_result',
          request_id: id,
          decision: 'allow',
          reason: 'allowed',
          grant_ids: grantIds,
          websocket: true,
          upstream: {
            ...upstreamInfo,
            bytes_out: toAgentBytes,
            ...(sameLength ? { scrubbed } : {}),
          },
          duration_ms: durationMs(started),
        })
        .catch(() => undefined);
    });
  };
}
