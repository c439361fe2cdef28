import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { Transform } from 'node:stream';
import { authorizeHttp } from '../authorize/authorize.ts';
import type { OAuthCredentials } from '../credentials/oauth/oauth-credentials.ts';
import { sendWithOAuth } from '../credentials/oauth/proxy-send.ts';
import { ErrandError, type Reason } from '../errors.ts';
import type { HttpGrant } from '../manifest/types.ts';
import { plainErrorResponse } from './aws-errors.ts';
import { auditBase, durationMs, type SidecarContext } from './context.ts';
import type { DestinationFloor } from './destinations.ts';
import { checkLiteral, type Resolver, resolveDestination } from './dns.ts';
import { formatAuthority } from './forward-front.ts';
import {
  agentResponseHeaders,
  buildUpstreamHeaders,
  classifyHttp,
  explainMiss,
} from './http-grant-request.ts';
import type { PinnedUpstream } from './http-upstream.ts';
import type { InjectSecrets } from './inject.ts';
import type { NormalizedRequest } from './request.ts';
import { createScrubber } from './scrub.ts';

// One HTTP-grant request, in order: floor check of literal destinations, classify, authorize (taking
// the use), resolve once and check the address, record, build the upstream request from the
// normalized request only, inject the credential, forward to the checked address, scrub what comes
// back, record. The authority is the one the request was normalized for (absolute-form or the
// CONNECT target), never the agent's Host header.

export interface HttpGrantDeps {
  readonly ctx: SidecarContext;
  readonly secrets: InjectSecrets;
  readonly resolver: Resolver;
  readonly floor: DestinationFloor;
  readonly upstream: PinnedUpstream;
  /** Tokens and DPoP proofs for grants with inject.oauth (docs/oauth.md). */
  readonly oauth?: OAuthCredentials;
}

interface Outcome {
  readonly decision: 'allow' | 'deny' | 'error';
  readonly reason: Reason;
  readonly message: string;
  readonly grantIds?: readonly string[];
}

/** The audit fields of a request through an HTTP grant, plain or WebSocket: one shape for both. */
export function httpGrantRecord(
  ctx: SidecarContext,
  normalized: NormalizedRequest,
  o: {
    readonly decision: string;
    readonly reason: Reason;
    readonly message: string;
    readonly grantIds?: readonly string[];
  },
  upstream: Record<string, unknown>,
  started: number,
  event: string,
) {
  return {
    ...auditBase(ctx, normalized.listener),
    event,
    request_id: normalized.id,
    decision: o.decision,
    reason: o.reason,
    message: o.message,
    grant_ids: o.grantIds ?? [],
    method: normalized.method,
    scheme: normalized.scheme,
    authority: formatAuthority(normalized),
    path: normalized.rawPath.slice(0, 512),
    upstream,
    duration_ms: durationMs(started),
  };
}

const FRAMING_BROKEN: ReadonlySet<Reason> = new Set([
  'ambiguous_framing',
  'malformed_request',
  'version_not_supported',
  'bad_host',
  'host_mismatch',
  'uri_too_long',
  'header_too_large',
  'expectation_failed',
  'body_too_large',
]);

/** Largest unread body drained after a deny instead of closing the connection. */
const DRAIN_LIMIT = 64 * 1024;

/** Writes a plain-text deny; closes the connection when the request's framing cannot be trusted. */
export function respondPlain(
  req: IncomingMessage,
  res: ServerResponse,
  reason: Reason,
  message: string,
  id: string,
): void {
  const r = plainErrorResponse(reason, message, id);
  // A small unread body is drained so the connection stays usable; a large or chunked one is not
  // worth reading: the connection is closed instead (A11).
  const unread =
    !req.complete &&
    (req.headers['transfer-encoding'] !== undefined ||
      Number(req.headers['content-length'] ?? 0) > DRAIN_LIMIT);
  const close = FRAMING_BROKEN.has(reason) || reason === 'upgrade_denied' || unread;
  if (!res.headersSent) {
    res.writeHead(r.status, {
      ...r.headers,
      'content-length': String(Buffer.byteLength(r.body)),
      ...(close ? { connection: 'close' } : {}),
      ...(reason === 'resource_limit' ? { 'retry-after': '1' } : {}),
    });
  }
  res.end(req.method === 'HEAD' ? undefined : r.body);
  // A denied body is drained (bounded by the idle timeout), never parsed as a request (A11).
  if (close) res.once('finish', () => req.socket.destroy());
  else if (!req.complete) req.resume();
}

/** Raised by capBody: the agent's body went over the grant's maxBodyBytes mid-stream. */
class BodyOverCap extends Error {}

/** A body stream that fails once more than `limit` bytes went through; the upstream request is
 *  aborted with it, so a partial body is never committed (A14). */
function capBody(limit: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen > limit) done(new BodyOverCap(`more than ${limit} bytes`));
      else done(null, chunk);
    },
  });
}

export function createHttpGrantHandler(deps: HttpGrantDeps) {
  const { ctx } = deps;
  const m = ctx.loaded.manifest;
  // A literal destination is refused before authorization unless a grant for that exact host opens
  // private ranges (so C1/C4 literals answer dest_ip_denied, and nothing is taken from a grant).
  const privateHosts = new Set(
    (m.http?.grants ?? []).filter((g) => g.unsafeAllowPrivateAddress).map((g) => hostOf(g.url)),
  );
  const opensPrivate = (host: string): boolean => privateHosts.has(host);

  return async function handle(
    req: IncomingMessage,
    res: ServerResponse,
    normalized: NormalizedRequest,
  ): Promise<void> {
    const started = performance.now();
    const id = normalized.id;
    const authority = formatAuthority(normalized);
    let upstreamInfo: Record<string, unknown> = { contacted: false };
    const record = (o: Outcome, event = 'egress_decision') => {
      ctx.metrics.observeRequest(
        { listener: normalized.listener, service: 'http', decision: o.decision, reason: o.reason },
        (performance.now() - started) / 1000,
      );
      // As on the AWS endpoint (docs/decisions/0003-audit-durability.md): decision records of one
      // event-loop turn share one write(2), which step 9 waits for before anything leaves; a result
      // record gates nothing and rides on the next write.
      return ctx.audit.write(
        {
          ...httpGrantRecord(ctx, normalized, o, upstreamInfo, started, event),
          query_keys: normalized.query.map(([k]) => k.slice(0, 64)),
        },
        event === 'egress_decision' ? { shareWrite: true } : { noSync: true },
      );
    };
    const denyWith = async (o: Outcome) => {
      respondPlain(req, res, o.reason, o.message, id);
      await record(o).catch(() => undefined);
    };

    // 1. The deadline, before anything else.
    if (ctx.now() >= ctx.loaded.expiresAtMs) {
      return denyWith({
        decision: 'deny',
        reason: 'manifest_expired',
        message: 'this task has ended (its manifest expired); no call is allowed any more',
      });
    }

    // 2. A literal destination on the floor is refused whatever the manifest says (C1, C4).
    const literal = checkLiteral(normalized.host, deps.floor, opensPrivate(normalized.host));
    if (literal && !literal.ok) return denyWith({ decision: 'deny', ...literal });

    // 3. Classify: method override, query pollution, dot segments, encoded separators.
    const classified = classifyHttp(normalized, ctx.index);
    if (!classified.ok) return denyWith({ decision: 'deny', ...classified });
    const intent = classified.intent;

    // 4. Upgrades (WebSocket, h2c) are not relayed by this path (J1–J3).
    if (normalized.headers.has('upgrade') || normalized.headers.has('http2-settings')) {
      return denyWith({
        decision: 'deny',
        reason: 'upgrade_denied',
        message: 'protocol upgrades are not granted on this URL',
      });
    }

    // 5. Authorize and take the use, in one synchronous step.
    const decision = authorizeHttp(intent, ctx.index, ctx.ledger, ctx.now(), ctx.loaded.expiresAtMs);
    if (!decision.allow) {
      const better = decision.reason === 'not_in_manifest' ? explainMiss(intent, ctx.index) : undefined;
      return denyWith({ decision: 'deny', ...(better ?? decision) });
    }
    const grant = ctx.index.byId.get(decision.grantIds[0]!) as HttpGrant;
    const grantIds = decision.grantIds;

    // 6. Defense in depth: a credential never travels in clear without the unsafe switch (F1).
    if (intent.scheme === 'http' && (grant.inject || grant.oauth) && !grant.unsafeAllowPlainHttp) {
      return denyWith({
        decision: 'deny',
        reason: 'scheme_denied',
        message: 'this grant injects a credential and its URL is not https',
        grantIds,
      });
    }

    // 6b. An OAuth grant goes out only with Errand's token and proof: a handler wired without OAuth
    //     credentials refuses it instead of sending it bare (docs/oauth.md). Nothing is resolved.
    const oauth = grant.oauth === undefined ? undefined : deps.oauth;
    if (grant.oauth !== undefined && oauth === undefined) {
      return denyWith({
        decision: 'error',
        reason: 'credentials_unavailable',
        message: 'Errand holds no OAuth credentials for this grant, so it does not send the request',
        grantIds,
      });
    }

    // 7. Resolve once; every answer must pass the floor; the checked address is dialled.
    const dest = await resolveDestination(
      normalized.host,
      deps.resolver,
      deps.floor,
      grant.unsafeAllowPrivateAddress,
    );
    if (!dest.ok) return denyWith({ decision: 'deny', reason: dest.reason, message: dest.message, grantIds });

    // 8. Body bound known up front.
    const declared = Number(normalized.headers.get('content-length') ?? '0');
    if (grant.maxBodyBytes !== undefined && declared > grant.maxBodyBytes) {
      return denyWith({
        decision: 'deny',
        reason: 'body_too_large',
        message: `the body is larger than the grant allows (${grant.maxBodyBytes} bytes)`,
        grantIds,
      });
    }

    // 9. The use and the decision are on disk before anything leaves (fail closed).
    try {
      await Promise.all([
        ctx.ledger.persist(decision.taken, id),
        record({ decision: 'allow', reason: 'allowed', message: decision.message, grantIds }),
      ]);
    } catch {
      return denyWith({
        decision: 'error',
        reason: 'audit_unavailable',
        message: 'Errand cannot record this request, so it does not forward it',
        grantIds,
      });
    }

    // 10. The upstream request, from the normalized request only.
    let injected: string | undefined;
    try {
      injected = deps.secrets.valueFor(grant);
    } catch {
      return denyWith({
        decision: 'error',
        reason: 'credentials_unavailable',
        message: 'Errand has no credential for this grant',
        grantIds,
      });
    }
    let patterns = deps.secrets.patternsFor(grant);
    const headers = buildUpstreamHeaders(normalized, grant, injected, authority);
    const hasBody = normalized.headers.has('content-length') || normalized.headers.has('transfer-encoding');
    const body = hasBody
      ? grant.maxBodyBytes !== undefined
        ? req.pipe(capBody(grant.maxBodyBytes))
        : req
      : undefined;
    if (normalized.headers.has('expect')) res.writeContinue();
    const path = `${intent.rawPath}${intent.rawQuery === '' ? '' : `?${intent.rawQuery}`}`;

    // 11. Forward to the checked address; stream back, scrubbed when a secret was injected.
    let bytesOut = 0;
    let scrubbed = 0;
    try {
      const destination = {
        scheme: intent.scheme,
        host: intent.host,
        port: intent.port,
        address: dest.address,
      };
      const request = { method: intent.method, path, headers, body };
      // An OAuth grant: Errand's token and a fresh DPoP proof for exactly this request, with one
      // nonce retry inside this one use (src/credentials/oauth, SECURITY-CASES F5).
      const sent =
        oauth !== undefined
          ? await sendWithOAuth(oauth, grant, intent, request, (r) => deps.upstream.request(destination, r))
          : undefined;
      if (sent !== undefined) {
        patterns = sent.patterns;
      }
      const upstream = sent?.result ?? (await deps.upstream.request(destination, request));
      upstreamInfo = {
        contacted: true,
        status: upstream.statusCode,
        ...(sent?.nonceRetry === true ? { dpop_nonce_retry: true } : {}),
      };
      const out = agentResponseHeaders(upstream.headers, patterns);
      const encoded = String(upstream.headers['content-encoding'] ?? 'identity').toLowerCase();
      if (patterns.length > 0 && encoded !== 'identity') {
        // A compressed echo cannot be scrubbed: refuse it rather than relay it blind.
        upstream.body.on('error', () => undefined);
        upstream.body.destroy();
        respondPlain(
          req,
          res,
          'upstream_error',
          'the API answered in a compressed form Errand cannot check',
          id,
        );
        upstreamInfo = { ...upstreamInfo, refused: 'compressed response' };
        await record(
          { decision: 'error', reason: 'upstream_error', message: 'compressed response', grantIds },
          'egress_result',
        ).catch(() => undefined);
        return;
      }
      if (patterns.length > 0) delete out['content-length'];
      res.writeHead(upstream.statusCode, out);
      const scrubber = patterns.length > 0 ? createScrubber(patterns) : undefined;
      const source = scrubber ? upstream.body.pipe(scrubber) : upstream.body;
      source.on('data', (c: Buffer) => {
        bytesOut += c.length;
      });
      await new Promise<void>((resolve, reject) => {
        source.pipe(res);
        upstream.body.on('error', reject);
        res.on('finish', resolve);
        res.on('close', resolve);
      });
      scrubbed = scrubber?.replaced ?? 0;
    } catch (error) {
      if (error instanceof BodyOverCap || (error as { cause?: unknown }).cause instanceof BodyOverCap) {
        const message = `the body is larger than the grant allows (${grant.maxBodyBytes} bytes)`;
        if (res.headersSent) res.destroy();
        else respondPlain(req, res, 'body_too_large', message, id);
        await record(
          { decision: 'error', reason: 'body_too_large', message, grantIds },
          'egress_result',
        ).catch(() => undefined);
        return;
      }
      if (error instanceof ErrandError && !res.headersSent) {
        // No credential for this grant (exchange refused, server unreachable, deadline): nothing
        // was sent upstream; the detail goes to the audit only.
        const reason: Reason =
          error.code === 'ERR_OAUTH_EXPIRED' ? 'manifest_expired' : 'credentials_unavailable';
        const message =
          reason === 'manifest_expired'
            ? 'this task has ended (its manifest expired); no call is allowed any more'
            : 'Errand could not obtain the credential for this grant';
        respondPlain(req, res, reason, message, id);
        await record(
          { decision: 'error', reason, message: `${message}: ${error.message}`, grantIds },
          'egress_result',
        ).catch(() => undefined);
        return;
      }
      const timedOut = /timeout/i.test(`${(error as Error).name} ${(error as { code?: string }).code ?? ''}`);
      const reason: Reason = timedOut ? 'upstream_timeout' : 'upstream_error';
      const message = timedOut ? 'the API did not answer in time' : 'the API could not be reached';
      if (res.headersSent) res.destroy();
      else respondPlain(req, res, reason, message, id);
      await record({ decision: 'error', reason, message, grantIds }, 'egress_result').catch(() => undefined);
      return;
    }

    // 12. The result record.
    upstreamInfo = { ...upstreamInfo, bytes_out: bytesOut, ...(scrubbed > 0 ? { scrubbed } : {}) };
    await record(
      { decision: 'allow', reason: 'allowed', message: decision.message, grantIds },
      'egress_result',
    ).catch(() => undefined);
  };
}

/** The host of a canonical grant URL (IPv6 without brackets). */
export function hostOf(url: string): string {
  const authority = /^https?:\/\/([^/?#]*)/.exec(url)?.[1] ?? '';
  const host = authority.startsWith('[')
    ? authority.slice(1, authority.indexOf(']'))
    : authority.split(':')[0]!;
  return host.toLowerCase();
}

/** `host:port` of a canonical grant URL, with the scheme's default port made explicit. */
export function authorityOf(url: string): { scheme: 'http' | 'https'; host: string; port: number } {
  const m = /^(https?):\/\/([^/?#]*)/.exec(url);
  const scheme = m?.[1] === 'http' ? 'http' : 'https';
  const authority = m?.[2] ?? '';
  const portText = authority.startsWith('[')
    ? authority.slice(authority.indexOf(']') + 2)
    : authority.split(':')[1];
  const port = portText ? Number(portText) : scheme === 'https' ? 443 : 80;
  return { scheme, host: hostOf(url), port };
}
