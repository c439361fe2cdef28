// The owner of the task's STS sessions: it mints them with AssumeRole, refreshes them while the task
// lives, and forgets them at the deadline, on drop(key) and on wipe().
//
// - `isolation: task`: one session for every grant, minted by start().
// - `isolation: grant`: one session per AWS grant, minted on first use, dropped when that grant's
//   uses are spent.
//
// Why these rules (STS API Reference, AssumeRole): DurationSeconds is at least 900, so a session can
// outlive the task; the session policy carries a DateLessThan aws:CurrentTime condition (AWS refuses
// the credentials after the deadline), and this module never mints or refreshes at or after the
// deadline and discards everything it holds when the deadline comes.
//
// Memory: JavaScript strings cannot be overwritten. Wiping drops every reference to the access key,
// secret and token (the garbage collector reclaims them later) and overwrites the derived signing
// keys, which are Buffers, with zeros. docs/credentials.md says what this does and does not guarantee.

import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { ErrandError, type ErrorCode } from '../errors.ts';
import { type AwsCredentials, SigningKeyCache } from './sign-aws.ts';
import { type AssumeRoleResult, createStsQueryClient, stsEndpoint } from './sts-query.ts';

/** Which session serves a grant: the task's, or the grant's own (same shape as src/manifest/policy.ts). */
export type SessionKey = 'task' | `grant:${string}`;

/** The AssumeRole input for one session, in STS's field names (what sessionParameters() returns). */
export interface AssumeRoleParameters {
  readonly RoleArn: string;
  readonly RoleSessionName: string;
  readonly DurationSeconds: number;
  readonly Policy: string;
  readonly SourceIdentity: string;
  readonly Tags: readonly { readonly Key: string; readonly Value: string }[];
}

/** The part of an STS client this module uses (createStsClient's, or a fake in unit tests). Errors
 *  are read by classifyStsError: the AWS error code as `name`, `$metadata.httpStatusCode`, or a
 *  socket error's `code`. */
export interface StsClientLike {
  assumeRole(
    parameters: AssumeRoleParameters,
    options?: { abortSignal?: AbortSignal },
  ): Promise<AssumeRoleResult>;
}

export interface StsSessionsOptions {
  readonly isolation: 'task' | 'grant';
  /** The manifest deadline, epoch ms. */
  readonly deadlineMs: number;
  /** The grant ids of the manifest's AWS section. */
  readonly grantIds: readonly string[];
  /** The AssumeRole input of a session (sessionParameters(loaded, policy) of its compiled policy). */
  readonly parametersFor: (key: SessionKey) => AssumeRoleParameters;
  readonly client: StsClientLike;
  readonly now?: () => number;
  /** Runs fn after ms; returns a cancel function. */
  readonly setTimer?: (fn: () => void, ms: number) => () => void;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Uniform in [0, 1): the jitter of the backoff. */
  readonly random?: () => number;
  readonly retry?: RetryPolicy;
}

export interface RetryPolicy {
  /** Calls per mint, the first included. */
  readonly attempts: number;
  readonly baseMs: number;
  readonly capMs: number;
  /** After a mint failed every attempt: how long before the next one (no STS storm from requests). */
  readonly cooldownMs: number;
}

/** Bounded: 4 calls over at most ~1.4 s of backoff, then 30 s of not-ready before trying again. */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseMs: 200, capMs: 5000, cooldownMs: 30_000 };
/** Refresh when a third of the lifetime is left, and at least 5 minutes before expiry. */
export const REFRESH_MARGIN_MS = 5 * 60_000;
/** The shortest wait before a refresh, whatever the session's expiry says. */
export const MIN_REFRESH_DELAY_MS = 30_000;
/** setTimeout's longest delay (2^31 - 1 ms); longer waits are re-armed. */
const MAX_TIMER_MS = 2_147_483_647;

export interface TaskSession {
  readonly key: SessionKey;
  readonly credentials: AwsCredentials;
  /** Derived signing keys of these credentials: pass to signAwsRequest. Wiped with the session. */
  readonly signingKeys: SigningKeyCache;
  readonly expiresAt: Date;
}

export interface StsStatus {
  /** True when a request could be signed now (or, with isolation: grant, minted on first use). */
  readonly ready: boolean;
  readonly state: 'starting' | 'ready' | 'not-ready' | 'expired' | 'wiped';
  readonly lastError?: { readonly code: ErrorCode; readonly message: string; readonly at: string };
  readonly sessions: readonly { readonly key: SessionKey; readonly expiresAt: string }[];
  /** The earliest expiry of the sessions held. */
  readonly expiresAt?: string;
}

// ---- STS errors: a pure classification, secret-free ----

export interface StsFailure {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  /** The AWS error name and HTTP status only: never the upstream message (it may name ARNs). */
  readonly detail: string;
}

const NAMES: Readonly<Record<string, readonly [ErrorCode, boolean]>> = {
  AccessDenied: ['ERR_STS_ACCESS_DENIED', false],
  AccessDeniedException: ['ERR_STS_ACCESS_DENIED', false],
  InvalidClientTokenId: ['ERR_STS_ACCESS_DENIED', false],
  SignatureDoesNotMatch: ['ERR_STS_ACCESS_DENIED', false],
  MalformedPolicyDocument: ['ERR_STS_POLICY_MALFORMED', false],
  MalformedPolicyDocumentException: ['ERR_STS_POLICY_MALFORMED', false],
  PackedPolicyTooLarge: ['ERR_STS_POLICY_TOO_LARGE', false],
  PackedPolicyTooLargeException: ['ERR_STS_POLICY_TOO_LARGE', false],
  RegionDisabledException: ['ERR_STS_REGION_DISABLED', false],
  Throttling: ['ERR_STS_THROTTLED', true],
  ThrottlingException: ['ERR_STS_THROTTLED', true],
  RequestLimitExceeded: ['ERR_STS_THROTTLED', true],
  TooManyRequestsException: ['ERR_STS_THROTTLED', true],
  // Errand's own (source) credentials: an IRSA token rotates, a Pod Identity agent restarts.
  ExpiredToken: ['ERR_STS_FAILED', true],
  ExpiredTokenException: ['ERR_STS_FAILED', true],
  CredentialsProviderError: ['ERR_STS_FAILED', true],
  TimeoutError: ['ERR_STS_UNREACHABLE', true],
};
// Socket-level failures (Node system error codes): STS was not reached.
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ECONNABORTED',
]);
const SAFE_NAME = /^[A-Za-z][A-Za-z0-9.]{0,63}$/;

/** Maps an AssumeRole failure to a catalogue code, whether retrying can help, and a safe detail. */
export function classifyStsError(error: unknown): StsFailure {
  const e = (typeof error === 'object' && error !== null ? error : {}) as {
    name?: unknown;
    code?: unknown;
    $metadata?: { httpStatusCode?: unknown };
  };
  const name = typeof e.name === 'string' && SAFE_NAME.test(e.name) ? e.name : 'Error';
  const status = typeof e.$metadata?.httpStatusCode === 'number' ? e.$metadata.httpStatusCode : undefined;
  const detail = status === undefined ? name : `${name} (HTTP ${status})`;
  const known = NAMES[name];
  if (known !== undefined) return { code: known[0], retryable: known[1], detail };
  if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) {
    return { code: 'ERR_STS_UNREACHABLE', retryable: true, detail: e.code };
  }
  if (status === 429) return { code: 'ERR_STS_THROTTLED', retryable: true, detail };
  if (status !== undefined && status >= 500) return { code: 'ERR_STS_FAILED', retryable: true, detail };
  if (status !== undefined) return { code: 'ERR_STS_FAILED', retryable: false, detail };
  // No HTTP answer at all: the request never completed.
  return { code: 'ERR_STS_UNREACHABLE', retryable: true, detail };
}

/** Full-jitter exponential backoff before call `attempt` + 1 (AWS Architecture Blog, "Exponential
 *  Backoff And Jitter"; the AWS SDKs' standard retry mode does the same). */
export function backoffMs(policy: RetryPolicy, attempt: number, random: number): number {
  return Math.floor(random * Math.min(policy.capMs, policy.baseMs * 2 ** attempt));
}

/** When to refresh a session issued at issuedMs that expires at expiresMs. */
export function refreshAtMs(issuedMs: number, expiresMs: number): number {
  return expiresMs - Math.max(REFRESH_MARGIN_MS, (expiresMs - issuedMs) / 3);
}

// ---- parameter checks (STS would refuse these; refuse before calling) ----

const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;

const checkParameters = (p: AssumeRoleParameters): void => {
  const problems: string[] = [];
  if (!/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/.test(p.RoleArn))
    problems.push('RoleArn is not a role ARN');
  if (!SESSION_NAME.test(p.RoleSessionName)) problems.push('RoleSessionName is not 2-64 of [\\w+=,.@-]');
  if (!SESSION_NAME.test(p.SourceIdentity)) problems.push('SourceIdentity is not 2-64 of [\\w+=,.@-]');
  if (p.DurationSeconds !== 900) problems.push('DurationSeconds is not 900');
  if (p.Policy.length === 0) problems.push('Policy is empty');
  if (problems.length > 0)
    throw new ErrandError('ERR_CONFIG', `AssumeRole parameters: ${problems.join('; ')}`);
};

// ---- the owner ----

/** A session's credentials and their derived signing keys (liveSessionFor). */
export interface LiveSession {
  readonly credentials: AwsCredentials;
  readonly keys: SigningKeyCache;
}

interface Entry extends LiveSession {
  readonly expiresAt: number;
  cancel: (() => void)[];
}

interface Failure {
  readonly error: ErrandError;
  readonly retryAt: number;
}

const defaultSetTimer = (fn: () => void, ms: number): (() => void) => {
  const handle = setTimeout(fn, ms);
  handle.unref();
  return () => clearTimeout(handle);
};
// Background timers (refresh, expiry, deadline) do not keep the process alive; a backoff sleep does:
// someone is waiting for that mint (errand run before it listens, or a request).
const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class StsSessions {
  readonly #o: Required<Omit<StsSessionsOptions, 'retry'>> & { retry: RetryPolicy };
  readonly #live = new Map<SessionKey, Entry>();
  /** Replaced by a refresh, kept until they expire: in-flight uploads may still sign with them. */
  readonly #retired = new Set<Entry>();
  readonly #pending = new Map<SessionKey, Promise<Entry>>();
  readonly #failures = new Map<SessionKey, Failure>();
  readonly #dropped = new Set<SessionKey>();
  readonly #abort = new AbortController();
  #state: 'starting' | 'running' | 'expired' | 'wiped' = 'starting';
  #lastError: { code: ErrorCode; message: string; at: number } | undefined;
  #cancelDeadline: (() => void) | undefined;
  /** secrets() of the sessions held now; undefined after they change. */
  #secrets: readonly string[] | undefined;

  constructor(options: StsSessionsOptions) {
    this.#o = {
      now: Date.now,
      setTimer: defaultSetTimer,
      sleep: defaultSleep,
      random: Math.random,
      ...options,
      retry: options.retry ?? DEFAULT_RETRY,
    };
  }

  /** Arms the deadline and, with isolation: task, mints the task session. Resolves when ready;
   *  rejects with the STS error after the bounded retries (status() then says not-ready). */
  async start(): Promise<void> {
    this.#armDeadline();
    if (this.#o.isolation === 'task') await this.#session('task');
    else this.#assertUsable();
    if (this.#state === 'starting') this.#state = 'running';
  }

  /** The session that carries these grants: the task's, or (isolation: grant) the one grant's. */
  async sessionFor(grantIds: readonly string[]): Promise<TaskSession> {
    const key = this.#keyOf(grantIds);
    const entry = await this.#session(key);
    return {
      key,
      credentials: entry.credentials,
      signingKeys: entry.keys,
      expiresAt: new Date(entry.expiresAt),
    };
  }

  /** The live session that carries these grants, without waiting: undefined when it would have to
   *  be minted (or is refused after a failure), so the caller takes sessionFor. Checks what sessionFor
   *  checks first (grants, deadline, wipe, spent grant, expiry) and throws the same errors. Asked on
   *  every request: no Promise and no copy of the session. */
  liveSessionFor(grantIds: readonly string[]): LiveSession | undefined {
    const key = this.#keyOf(grantIds);
    this.#assertUsable();
    if (this.#dropped.has(key)) throw new ErrandError('ERR_CREDENTIALS_SESSION', 'this grant is spent');
    const live = this.#live.get(key);
    return live !== undefined && this.#o.now() < live.expiresAt ? live : undefined;
  }

  /** Same as sessionFor, credentials only (the proxy's CredentialProvider interface). */
  async credentialsFor(grantIds: readonly string[]): Promise<AwsCredentials> {
    return (await this.sessionFor(grantIds)).credentials;
  }

  /** Every credential value held now (current and retired sessions), for redaction of responses and logs. */
  secrets(): readonly string[] {
    // Built when the sessions held change (#install, #discard), not on every answer scrubbed.
    if (this.#secrets !== undefined) return this.#secrets;
    const out: string[] = [];
    for (const e of [...this.#live.values(), ...this.#retired]) {
      const { accessKeyId, secretAccessKey, sessionToken } = e.credentials;
      out.push(accessKeyId, secretAccessKey, ...(sessionToken === undefined ? [] : [sessionToken]));
    }
    this.#secrets = Object.freeze(out);
    return this.#secrets;
  }

  /** Discards one session for good (its grant's uses are spent): never minted again. */
  drop(key: SessionKey): void {
    this.#dropped.add(key);
    this.#failures.delete(key);
    const entry = this.#live.get(key);
    if (entry !== undefined) this.#discard(entry);
    this.#live.delete(key);
    this.#secrets = undefined;
  }

  /** Discards every session and derived key (SIGTERM): nothing is minted or returned afterwards. */
  wipe(): void {
    this.#end('wiped');
  }

  /** status().ready without building the report: asked on every request. */
  isReady(): boolean {
    return this.#stateNow() === 'ready';
  }

  status(): StsStatus {
    const state = this.#stateNow();
    const sessions = [...this.#live.entries()]
      .map(([key, e]) => ({ key, expiresAt: new Date(e.expiresAt).toISOString() }))
      .sort((a, b) => (a.key < b.key ? -1 : 1));
    const lastError =
      this.#lastError === undefined
        ? {}
        : {
            lastError: {
              code: this.#lastError.code,
              message: this.#lastError.message,
              at: new Date(this.#lastError.at).toISOString(),
            },
          };
    const earliest = Math.min(...[...this.#live.values()].map((e) => e.expiresAt));
    const expiresAt = Number.isFinite(earliest) ? { expiresAt: new Date(earliest).toISOString() } : {};
    return { ready: state === 'ready', state, ...lastError, sessions, ...expiresAt };
  }

  #stateNow(): StsStatus['state'] {
    this.#checkDeadline();
    return this.#state === 'expired' || this.#state === 'wiped'
      ? this.#state
      : this.#o.isolation === 'task'
        ? (this.#live.get('task')?.expiresAt ?? 0) > this.#o.now()
          ? 'ready'
          : this.#failures.has('task')
            ? 'not-ready'
            : 'starting'
        : this.#state === 'starting'
          ? 'starting'
          : 'ready';
  }

  // ---- internals ----

  #keyOf(grantIds: readonly string[]): SessionKey {
    const unknown = grantIds.filter((id) => !this.#o.grantIds.includes(id));
    if (grantIds.length === 0 || unknown.length > 0) {
      throw new ErrandError('ERR_CREDENTIALS_SESSION', 'the request names no AWS grant of this manifest');
    }
    if (this.#o.isolation === 'task') return 'task';
    // One session per grant: a request that needs two grants (CopyObject reads one object and
    // writes another) has no single session whose policy allows both.
    if (grantIds.length !== 1) {
      throw new ErrandError(
        'ERR_CREDENTIALS_SESSION',
        'with isolation: grant a request may use one grant only',
      );
    }
    return `grant:${grantIds[0]}`;
  }

  #checkDeadline(): void {
    if (this.#state !== 'wiped' && this.#state !== 'expired' && this.#o.now() >= this.#o.deadlineMs) {
      this.#end('expired');
    }
  }

  #assertUsable(): void {
    this.#checkDeadline();
    if (this.#state === 'wiped') throw new ErrandError('ERR_CREDENTIALS_WIPED');
    if (this.#state === 'expired') throw new ErrandError('ERR_CREDENTIALS_EXPIRED');
  }

  async #session(key: SessionKey): Promise<Entry> {
    this.#assertUsable();
    if (this.#dropped.has(key)) throw new ErrandError('ERR_CREDENTIALS_SESSION', 'this grant is spent');
    const live = this.#live.get(key);
    if (live !== undefined && this.#o.now() < live.expiresAt) return live;
    const pending = this.#pending.get(key);
    if (pending !== undefined) return pending;
    const failed = this.#failures.get(key);
    if (failed !== undefined && this.#o.now() < failed.retryAt) {
      throw new ErrandError('ERR_CREDENTIALS_NOT_READY', `last AssumeRole: ${failed.error.code}`, {
        cause: failed.error,
      });
    }
    return this.#mint(key);
  }

  #mint(key: SessionKey): Promise<Entry> {
    const minting = this.#mintWithRetries(key).finally(() => this.#pending.delete(key));
    this.#pending.set(key, minting);
    return minting;
  }

  async #mintWithRetries(key: SessionKey): Promise<Entry> {
    this.#armDeadline();
    const parameters = this.#o.parametersFor(key);
    checkParameters(parameters);
    const { retry } = this.#o;
    let failure: StsFailure | undefined;
    for (let attempt = 0; attempt < retry.attempts; attempt++) {
      if (attempt > 0) {
        const wait = backoffMs(retry, attempt - 1, this.#o.random());
        // Never mint at or after the deadline, not even by sleeping into it.
        if (this.#o.now() + wait >= this.#o.deadlineMs) break;
        await this.#o.sleep(wait);
      }
      this.#assertUsable();
      try {
        const output = await this.#o.client.assumeRole(parameters, { abortSignal: this.#abort.signal });
        this.#assertUsable();
        if (this.#dropped.has(key)) throw new ErrandError('ERR_CREDENTIALS_SESSION', 'this grant is spent');
        const entry = this.#install(key, output);
        if (entry !== undefined) return entry;
        // Credentials already expired by this clock (skew), or fields missing: retrying now would
        // get the same; recorded like any STS failure, retried after the cooldown.
        failure = {
          code: 'ERR_STS_FAILED',
          retryable: false,
          detail: 'AssumeRole returned no usable credentials (incomplete, or already expired by this clock)',
        };
        break;
      } catch (error) {
        if (error instanceof ErrandError) throw error;
        failure = classifyStsError(error);
        if (!failure.retryable) break;
      }
    }
    const error = new ErrandError(
      failure?.code ?? 'ERR_STS_FAILED',
      failure?.detail ?? 'no attempt before the deadline',
    );
    this.#lastError = { code: error.code, message: error.message, at: this.#o.now() };
    const retryAt = this.#o.now() + retry.cooldownMs;
    this.#failures.set(key, { error, retryAt });
    // The task session is what /readyz waits for: try again by itself after the cooldown.
    if (key === 'task') this.#schedule(retryAt, () => this.#background(key));
    throw error;
  }

  #install(key: SessionKey, output: AssumeRoleResult): Entry | undefined {
    const c = output.Credentials;
    const expiresAt = c?.Expiration instanceof Date ? c.Expiration.getTime() : Number.NaN;
    const now = this.#o.now();
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !(expiresAt > now)) return undefined;
    const credentials: AwsCredentials = Object.freeze({
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretAccessKey,
      sessionToken: c.SessionToken,
      expiration: new Date(expiresAt),
    });
    const entry: Entry = { credentials, keys: new SigningKeyCache(credentials), expiresAt, cancel: [] };
    const previous = this.#live.get(key);
    if (previous !== undefined) this.#retire(previous);
    this.#live.set(key, entry);
    this.#secrets = undefined;
    this.#failures.delete(key);
    if (this.#state === 'starting') this.#state = 'running';
    // Never sooner than MIN_REFRESH_DELAY_MS: a session that looks short-lived to a skewed clock
    // must not loop AssumeRole.
    const refreshAt = Math.max(refreshAtMs(now, expiresAt), now + MIN_REFRESH_DELAY_MS);
    // Refresh only while the task lives; past the deadline nothing is minted.
    if (refreshAt < this.#o.deadlineMs)
      entry.cancel.push(this.#schedule(refreshAt, () => this.#background(key)));
    entry.cancel.push(
      this.#schedule(expiresAt, () => {
        if (this.#live.get(key) === entry) {
          this.#live.delete(key);
          this.#discard(entry);
        }
      }),
    );
    return entry;
  }

  /** A refresh or a retry after cooldown, with nobody waiting: failures land in status(). */
  #background(key: SessionKey): void {
    if (this.#state === 'wiped' || this.#state === 'expired' || this.#dropped.has(key)) return;
    if (this.#pending.has(key)) return;
    this.#failures.delete(key);
    this.#mint(key).catch(() => {
      // Recorded in #lastError and #failures by #mintWithRetries; the current session, if any,
      // stays in use until it expires.
    });
  }

  #retire(entry: Entry): void {
    for (const cancel of entry.cancel) cancel();
    entry.cancel = [
      this.#schedule(entry.expiresAt, () => {
        this.#retired.delete(entry);
        this.#discard(entry);
      }),
    ];
    this.#retired.add(entry);
  }

  #discard(entry: Entry): void {
    this.#secrets = undefined;
    for (const cancel of entry.cancel) cancel();
    entry.cancel = [];
    entry.keys.wipe();
  }

  #end(state: 'expired' | 'wiped'): void {
    if (this.#state === 'wiped') return;
    this.#state = state;
    this.#abort.abort();
    this.#cancelDeadline?.();
    for (const entry of [...this.#live.values(), ...this.#retired]) this.#discard(entry);
    this.#live.clear();
    this.#retired.clear();
    this.#secrets = undefined;
    this.#failures.clear();
  }

  #armDeadline(): void {
    if (this.#cancelDeadline !== undefined) return;
    this.#cancelDeadline = this.#schedule(this.#o.deadlineMs, () => this.#end('expired'));
  }

  /** Runs fn at atMs by the injected clock, re-arming past setTimeout's longest delay. */
  #schedule(atMs: number, fn: () => void): () => void {
    let cancelled = false;
    let cancel = (): void => {};
    const arm = (): void => {
      const wait = atMs - this.#o.now();
      if (wait <= 0) {
        fn();
        return;
      }
      cancel = this.#o.setTimer(
        () => {
          if (!cancelled) arm();
        },
        Math.min(wait, MAX_TIMER_MS),
      );
    };
    // Deferred by zero: fn never runs inside the caller's own step.
    cancel = this.#o.setTimer(
      () => {
        if (!cancelled) arm();
      },
      Math.max(0, Math.min(atMs - this.#o.now(), MAX_TIMER_MS)),
    );
    return () => {
      cancelled = true;
      cancel();
    };
  }
}

/** The real STS client: Errand's own credentials from the SDK's default Node chain (defaultProvider,
 *  which fromNodeProviderChain wraps: environment, web identity token (IRSA), container endpoint
 *  (EKS Pod Identity, ECS), instance metadata), AssumeRole as one signed query call (sts-query.ts),
 *  one attempt per call (this module retries), bounded timeouts. AWS_ENDPOINT_URL_STS and
 *  AWS_ENDPOINT_URL in Errand's environment set the endpoint, AWS_USE_FIPS_ENDPOINT and
 *  AWS_USE_DUALSTACK_ENDPOINT choose its variant, as they do for the SDKs. */
export function createStsClient(
  region: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): StsClientLike {
  // A bad endpoint setting is a configuration error at start, not an STS failure retried forever.
  try {
    stsEndpoint(region, env);
  } catch (error) {
    throw new ErrandError('ERR_CONFIG', `the STS endpoint: ${(error as Error).message}`);
  }
  return createStsQueryClient({
    region,
    credentials: defaultProvider(),
    env,
    connectTimeoutMs: 3000,
    requestTimeoutMs: 5000,
  });
}
