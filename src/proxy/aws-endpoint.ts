import { type IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { auditPrefix } from '../audit/audit-log.ts';
import { authorizeAws } from '../authorize/authorize.ts';
import { awsBodyNeeded, classifyAws, detectAwsService, protocolOfService } from '../classify/aws.ts';
import type { AwsIntent } from '../classify/types.ts';
import { ErrandError, type Reason } from '../errors.ts';
import { type SessionKey, sessionNameOf } from '../manifest/policy.ts';
import { type AwsProtocol, awsErrorResponse } from './aws-errors.ts';
import { buildAwsUpstreamRequest } from './aws-upstream-request.ts';
import { auditBase, durationMs, type SidecarContext } from './context.ts';
import { type FrontResult, normalizeRequest } from './front.ts';
import { LIMITS } from './limits.ts';
import { redactText } from './redact.ts';
import type { Listener, NormalizedRequest } from './request.ts';
import { scrubText } from './scrub.ts';
import { OMITTED_ANSWER_HEADERS, relayHeaders } from './upstream.ts';

// The AWS endpoint listener (agents set AWS_ENDPOINT_URL=http://127.0.0.1:4750). One request, in
// order: parse, classify, authorize (taking the use), record, sign, forward, stream back, record.

interface Outcome {
  decision: 'allow' | 'deny' | 'error';
  reason: Reason;
  message: string;
  grantIds?: readonly string[];
  intent?: AwsIntent;
  upstream?: { status?: number; requestId?: string; contacted: boolean; bytesOut?: number };
}

/** Reads a body Errand must see before it can classify, refusing more than `limit` bytes. */
async function readBounded(req: IncomingMessage, limit: number): Promise<Uint8Array | 'too_large'> {
  const declared = Number(req.headers['content-length'] ?? Number.NaN);
  if (declared > limit) return 'too_large';
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return 'too_large';
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Connection failures after which nothing of the request reached the endpoint. */
const CONNECT_FAILURES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/** Who AWS will see sign an allowed request (CloudTrail's userIdentity): the assumed-role session ARN,
 *  derived from the role and the RoleSessionName Errand mints with, and the SourceIdentity. */
function stsIdentity(ctx: SidecarContext, grantIds: readonly string[]) {
  const aws = ctx.loaded.manifest.aws;
  if (!aws) return undefined;
  const [, , , , account, resource] = aws.roleArn.split(':');
  const roleName = resource?.split('/').at(-1);
  const task = ctx.loaded.manifest.task;
  const keys: SessionKey[] =
    aws.isolation === 'grant' ? grantIds.map((g) => `grant:${g}` as const) : ['task'];
  return {
    source_identity: task.user.subject,
    session_arns: keys.map(
      (k) => `arn:aws:sts::${account}:assumed-role/${roleName}/${sessionNameOf(task.id, k)}`,
    ),
  };
}

/** The smallest body cap among the grants that allowed a request (undefined: no cap). */
function smallestBodyCap(ctx: SidecarContext, grantIds: readonly string[]): number | undefined {
  let smallest: number | undefined;
  for (const id of grantIds) {
    const cap = ctx.index.byId.get(id)?.maxBodyBytes;
    if (cap !== undefined && (smallest === undefined || cap < smallest)) smallest = cap;
  }
  return smallest;
}

/** The grants of a request that have no use left (usually none: no array then). */
function spentGrants(ctx: SidecarContext, grantIds: readonly string[]): string[] | undefined {
  let spent: string[] | undefined;
  for (const id of grantIds) {
    if (ctx.ledger.remaining(id) !== 0) continue;
    spent ??= [];
    spent.push(id);
  }
  return spent;
}

const NO_KEYS: readonly string[] = Object.freeze([]);

/** The names of a request's query parameters, for its record (most requests have none). */
const queryKeysOf = (request: NormalizedRequest): readonly string[] =>
  request.query.length === 0 ? NO_KEYS : request.query.map(([k]) => k);

/** Errors of building or streaming the upstream request, as the agent sees them. */
function mapBuildError(error: unknown): { reason: Reason; message: string } {
  const code = error instanceof ErrandError ? error.code : undefined;
  if (code === 'ERR_BODY_TOO_LARGE')
    return {
      reason: 'body_too_large',
      message: `the body is larger than the grant allows (${(error as ErrandError).detail ?? ''})`,
    };
  if (code?.startsWith('ERR_AWS_') || code === 'ERR_SIGN_INPUT') {
    return { reason: 'malformed_request', message: (error as ErrandError).message };
  }
  return {
    reason: 'credentials_unavailable',
    message: 'Errand has no usable credentials for this task right now',
  };
}

/** A Writable that keeps what it is given (an answer Errand must read whole before relaying). */
function collect(chunks: Buffer[]): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      callback();
    },
  });
}

/** Body bytes written into an agent's response by countingWrite. */
const BYTES_OUT = Symbol('errand.bytesOut');
type CountedResponse = ServerResponse & { [BYTES_OUT]?: number };
const responseWrite = ServerResponse.prototype.write as (
  this: ServerResponse,
  chunk: unknown,
  encoding?: unknown,
  callback?: unknown,
) => boolean;

/** ServerResponse's write, counting the body bytes: one function shared by every response (no
 *  closure per request); undici writes each answer chunk through it. */
function countingWrite(this: CountedResponse, chunk: unknown, encoding?: unknown, callback?: unknown) {
  this[BYTES_OUT] = (this[BYTES_OUT] ?? 0) + (chunk as { length: number }).length;
  return responseWrite.call(this, chunk, encoding, callback);
}

/** The agent's response, counting the body bytes written into it (read back with bytesOutOf). */
function countWrites(res: ServerResponse): Writable {
  (res as CountedResponse)[BYTES_OUT] = 0;
  res.write = countingWrite as ServerResponse['write'];
  return res;
}

const bytesOutOf = (res: ServerResponse): number => (res as CountedResponse)[BYTES_OUT] ?? 0;

/** Multipart: an upload started through a grant may take its parts without another use (E8);
 *  Complete and Abort end it. */
function trackUpload(
  uploads: Map<string, string>,
  intent: AwsIntent,
  grantIds: readonly string[],
  status: number,
  body: Buffer | undefined,
) {
  if (status < 200 || status >= 300) return;
  if (intent.operation === 'CreateMultipartUpload' && body) {
    const uploadId = /<UploadId>([^<]{1,1024})<\/UploadId>/.exec(body.toString('utf8'))?.[1];
    if (uploadId && grantIds[0]) uploads.set(uploadId, grantIds[0]);
  } else if (
    (intent.operation === 'CompleteMultipartUpload' || intent.operation === 'AbortMultipartUpload') &&
    intent.uploadId
  ) {
    uploads.delete(intent.uploadId);
  }
}

/** How a request enters the AWS pipeline: the endpoint listener normalizes origin-form requests
 *  against its own authorities; an intercepted tunnel (forward proxy) normalizes against the
 *  CONNECT authority, a real AWS host, and classifyAws checks that host. */
export interface AwsEntry {
  readonly listener: Listener;
  readonly normalize: (req: IncomingMessage, id: string) => FrontResult;
}

export function createAwsEndpointHandler(ctx: SidecarContext, entry?: AwsEntry) {
  const listener: Listener = entry?.listener ?? 'aws';
  // Built once: the manifest, and so these fields, do not change while the sidecar runs.
  const base = auditPrefix(auditBase(ctx, listener));
  // The signing identity per grant set (a handful: one per grant, or one for the task session).
  const identities = new Map<string, ReturnType<typeof stsIdentity>>();
  const identityOf = (grantIds: readonly string[]) => {
    const key = grantIds.length === 1 ? (grantIds[0] as string) : grantIds.join('\n');
    let identity = identities.get(key);
    if (identity === undefined && !identities.has(key)) {
      identity = stsIdentity(ctx, grantIds);
      identities.set(key, identity);
    }
    return identity;
  };

  // K3/L2: an endpoint echoing what Errand signed (key id, session token) is scrubbed like an HTTP grant's.
  // An indexed scan first: most values hold no secret, and need no iterator or copy.
  const scrubSecrets = (value: string) => {
    const secrets = ctx.credentials.secrets();
    for (let i = 0; i < secrets.length; i++) {
      if (value.includes(secrets[i] as string)) return scrubText(value, secrets);
    }
    return value;
  };

  const record = (
    id: string,
    req: IncomingMessage,
    normalized: NormalizedRequest | undefined,
    o: Outcome,
    started: number,
  ) => {
    // One clock read for the metric and the record.
    const elapsedMs = performance.now() - started;
    ctx.metrics.observeRequest(
      { listener, service: o.intent?.service ?? 'unknown', decision: o.decision, reason: o.reason },
      elapsedMs / 1000,
    );
    for (const g of o.grantIds ?? []) {
      // An unlimited grant's gauge is set once at start (-1) and never moves.
      const left = ctx.ledger.remaining(g);
      if (left !== 'unlimited') ctx.metrics.setUsesRemaining(g, left);
    }
    // The records of one event-loop turn share one write(2); step 7 waits for it before forwarding
    // (docs/decisions/0003-audit-durability.md).
    return ctx.audit.write(
      {
        event: 'egress_decision',
        request_id: id,
        decision: o.decision,
        reason: o.reason,
        message: o.message,
        grant_ids: o.grantIds ?? [],
        method: req.method,
        path: normalized?.rawPath ?? req.url?.slice(0, 256),
        query_keys: normalized === undefined ? undefined : queryKeysOf(normalized),
        aws: o.intent
          ? {
              service: o.intent.service,
              region: o.intent.region,
              operation: o.intent.operation,
              resources: o.intent.needs.map((n) => `${n.action} ${n.resource}`),
            }
          : undefined,
        sts: o.decision === 'allow' ? identityOf(o.grantIds ?? []) : undefined,
        upstream: o.upstream ?? { contacted: false },
        duration_ms: Math.round(elapsedMs * 1000) / 1000,
      },
      { shareWrite: true, prefix: base },
    );
  };

  // The result of a forwarded request: compact (the decision record before it, found by request_id,
  // holds who, what and why), never awaited and never synced on its own: it gates nothing, and the
  // next background sync (or the drain) takes it to disk. docs/decisions/0003-audit-durability.md.
  const recordResult = (fields: Record<string, unknown>) => {
    ctx.audit.write(fields, { noSync: true }).catch(() => undefined);
  };

  const respondError = (
    res: ServerResponse,
    protocol: AwsProtocol,
    reason: Reason,
    message: string,
    id: string,
    head: boolean,
  ) => {
    const r = awsErrorResponse(protocol, reason, message, id);
    const framingBroken =
      reason === 'ambiguous_framing' || reason === 'malformed_request' || reason === 'version_not_supported';
    if (!res.headersSent) {
      res.writeHead(r.status, {
        ...r.headers,
        'content-length': String(Buffer.byteLength(r.body)),
        ...(framingBroken ? { connection: 'close' } : {}),
      });
    }
    res.end(head ? undefined : r.body);
  };

  return async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const id = ctx.newRequestId();
    let protocol: AwsProtocol = 'restXml';
    let normalized: NormalizedRequest | undefined;
    const head = req.method === 'HEAD';

    const denyWith = async (o: Outcome) => {
      respondError(res, protocol, o.reason, o.message, id, head);
      // A denied body is drained, not parsed: after it the socket stays usable only if framing was clean.
      if (!req.complete) req.resume();
      await record(id, req, normalized, o, started).catch(() => undefined);
    };

    // 1. Parse once into the normalized request.
    const front = entry
      ? entry.normalize(req, id)
      : normalizeRequest(req, {
          id,
          listener: 'aws',
          expectedAuthorities: ctx.endpointAuthorities,
          origin: { scheme: 'http', host: '127.0.0.1', port: 0 },
        });
    if (!front.ok) return denyWith({ decision: 'deny', reason: front.reason, message: front.message });
    normalized = front.request;

    // 2. Which service (from protocol evidence; the agent's credential scope must agree).
    const detected = detectAwsService(normalized);
    if (!detected.ok)
      return denyWith({ decision: 'deny', reason: detected.reason, message: detected.message });
    protocol = protocolOfService(detected.service);

    // 3. The deadline is checked before any body is read.
    if (ctx.now() >= ctx.loaded.expiresAtMs) {
      return denyWith({
        decision: 'deny',
        reason: 'manifest_expired',
        message: 'this task has ended (its manifest expired); no AWS call is allowed any more',
      });
    }

    // 3b. Not ready (no STS session yet): refused before any use is taken; 503 lets the SDK retry.
    const notReady = ctx.credentials.problem?.();
    if (notReady !== undefined) {
      return denyWith({
        decision: 'error',
        reason: 'credentials_unavailable',
        message: 'Errand has no usable credentials for this task right now; try again shortly',
      });
    }

    // 4. Bodies that decide the operation or resource are read (bounded) before classifying.
    let body: Uint8Array | undefined;
    const need = awsBodyNeeded(normalized, detected.service);
    if (need.needed) {
      if (normalized.headers.has('expect')) res.writeContinue();
      const read = await readBounded(req, Math.min(need.limit, LIMITS.maxClassifiedBodyBytes));
      if (read === 'too_large') {
        return denyWith({
          decision: 'deny',
          reason: 'body_too_large',
          message: 'the request body is larger than Errand reads to classify it',
        });
      }
      body = read;
    }

    // 5. Classify: request → operation, IAM action(s), resource(s), headers to forward.
    const classified = classifyAws(normalized, ctx.classifyContext, body, detected);
    if (!classified.ok)
      return denyWith({ decision: 'deny', reason: classified.reason, message: classified.message });
    const intent = classified.intent;

    // 6. Authorize and take the use(s), in one synchronous step.
    const decision = authorizeAws(
      { intent, sensitiveHeaders: intent.sensitiveHeaders, uploads: ctx.uploads },
      ctx.index,
      ctx.ledger,
      ctx.now(),
      ctx.loaded.expiresAtMs,
    );
    if (!decision.allow) {
      return denyWith({ decision: 'deny', reason: decision.reason, message: decision.message, intent });
    }

    // 7. The decision is written, and a counted use synced, before anything leaves (fail closed;
    //    docs/decisions/0003-audit-durability.md).
    try {
      const recorded = record(
        id,
        req,
        normalized,
        {
          decision: 'allow',
          reason: 'allowed',
          message: decision.message,
          grantIds: decision.grantIds,
          intent,
          upstream: { contacted: false },
        },
        started,
      );
      // Unlimited grants take no use: nothing to journal, and no second promise to wait for.
      await (decision.taken.length === 0
        ? recorded
        : Promise.all([ctx.ledger.persist(decision.taken, id), recorded]));
    } catch {
      return denyWith({
        decision: 'error',
        reason: 'audit_unavailable',
        message: 'Errand cannot record this request, so it does not forward it',
        grantIds: decision.grantIds,
        intent,
      });
    }

    // 8. Sign the authorized request with the task's STS session.
    let upstreamReq: ReturnType<typeof buildAwsUpstreamRequest>;
    try {
      // A live session is used without a Promise; one to mint (or refused) takes the waiting path.
      const live = ctx.credentials.liveSessionFor?.(decision.grantIds);
      const credentials = live?.credentials ?? (await ctx.credentials.credentialsFor(decision.grantIds));
      const signingKeys = live ? live.keys : await ctx.credentials.signingKeysFor?.(decision.grantIds);
      const maxBodyBytes = smallestBodyCap(ctx, decision.grantIds);
      upstreamReq = buildAwsUpstreamRequest({
        request: normalized,
        intent,
        origin: ctx.awsOrigin(intent.service),
        credentials,
        body: body ?? (req as AsyncIterable<Uint8Array>),
        bodyBuffered: body !== undefined,
        now: new Date(ctx.now()),
        ...(maxBodyBytes !== undefined ? { maxBodyBytes } : {}),
        ...(signingKeys ? { signingKeys } : {}),
      });
    } catch (error) {
      const mapped = mapBuildError(error);
      return denyWith({
        decision: 'error',
        reason: mapped.reason,
        message: mapped.message,
        grantIds: decision.grantIds,
        intent,
      });
    }

    // 9. Forward; stream the answer back (error bodies are buffered and redacted).
    if (!need.needed && normalized.headers.has('expect')) res.writeContinue();
    let status: number | undefined;
    let upstreamRequestId: string | undefined;
    let bytesOut = 0;
    // Answers Errand must see whole (errors to redact, CreateMultipartUpload to track) are collected;
    // anything else streams straight into the agent's response.
    let held: Buffer[] | undefined;
    let heldHeaders: Record<string, string | string[]> = {};
    try {
      await ctx.upstream.stream(upstreamReq, (answer) => {
        status = answer.statusCode;
        const rid = answer.headers['x-amz-request-id'] ?? answer.headers['x-amzn-requestid'];
        upstreamRequestId = rid === undefined || rid === '' ? undefined : String(rid);
        const headers = relayHeaders(answer.headers, OMITTED_ANSWER_HEADERS, scrubSecrets);
        if (status >= 300 || intent.operation === 'CreateMultipartUpload') {
          held = [];
          heldHeaders = headers;
          return collect(held);
        }
        res.writeHead(status, headers);
        return countWrites(res);
      });
      if (held === undefined) bytesOut = bytesOutOf(res);
      if (held !== undefined && status !== undefined) {
        const buf = Buffer.concat(held);
        const text =
          status >= 300 && buf.length <= LIMITS.maxUpstreamErrorBodyBytes
            ? redactText(buf.toString('utf8'), ctx.credentials.secrets())
            : undefined;
        trackUpload(ctx.uploads, intent, decision.grantIds, status, buf);
        const outBody = status >= 300 ? Buffer.from(text ?? '') : buf;
        heldHeaders['content-length'] = String(outBody.length);
        delete heldHeaders['content-encoding'];
        res.writeHead(status, heldHeaders);
        res.end(head ? undefined : outBody);
        bytesOut = outBody.length;
      } else if (status !== undefined) {
        trackUpload(ctx.uploads, intent, decision.grantIds, status, undefined);
      }
    } catch (error) {
      // The agent closed its connection mid-answer: undici stops reading the upstream answer and
      // aborts it. Nothing failed upstream: the result records what was relayed, as before.
      if ((error as { code?: string }).code === 'ERR_STREAM_PREMATURE_CLOSE' && res.destroyed) {
        recordResult({
          event: 'egress_result',
          request_id: id,
          decision: 'allow',
          reason: 'allowed',
          grant_ids: decision.grantIds,
          upstream: {
            contacted: true,
            status,
            request_id: upstreamRequestId,
            bytes_out: held === undefined ? bytesOutOf(res) : bytesOut,
            agent_closed: true,
          },
          duration_ms: durationMs(started),
        });
        return;
      }
      const bodyFault = error instanceof ErrandError ? mapBuildError(error) : undefined;
      const timedOut =
        /Timeout/i.test((error as Error).name ?? '') ||
        /timeout/i.test((error as { code?: string }).code ?? '');
      const reason: Reason = bodyFault?.reason ?? (timedOut ? 'upstream_timeout' : 'upstream_error');
      if (!bodyFault) ctx.metrics.upstreamError(intent.service);
      if (res.headersSent) res.destroy();
      else {
        const message =
          bodyFault?.message ??
          (timedOut ? 'the AWS endpoint did not answer in time' : 'the AWS endpoint could not be reached');
        respondError(res, protocol, reason, message, id, head);
        // The agent's body was not read to its end: this connection's framing is spent.
        if (bodyFault) res.once('finish', () => req.socket.destroy());
      }
      recordResult({
        event: 'egress_result',
        request_id: id,
        decision: 'error',
        reason,
        grant_ids: decision.grantIds,
        // A refused or unresolvable connection never reached the endpoint; anything later did.
        upstream: { contacted: !CONNECT_FAILURES.has(String((error as { code?: string }).code)), status },
        duration_ms: durationMs(started),
      });
      return;
    }

    // 10. A per-grant session whose grant is spent is dropped now (isolation: grant).
    const spent = spentGrants(ctx, decision.grantIds);
    if (spent !== undefined) ctx.credentials.release?.(spent);

    // 11. The result record.
    recordResult({
      event: 'egress_result',
      request_id: id,
      decision: 'allow',
      reason: 'allowed',
      grant_ids: decision.grantIds,
      upstream: { contacted: true, status, request_id: upstreamRequestId, bytes_out: bytesOut },
      duration_ms: durationMs(started),
    });
  };
}
