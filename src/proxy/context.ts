import { performance } from 'node:perf_hooks';
import type { AuditSink } from '../audit/audit-log.ts';
import type { GrantIndex } from '../authorize/authorize.ts';
import type { UseLedger } from '../authorize/use-ledger.ts';
import type { SigningKeyCache } from '../credentials/sign-aws.ts';
import type { LoadedManifest } from '../manifest/types.ts';
import type { Metrics } from '../ops/metrics.ts';
import type { Upstream } from './upstream.ts';

// Everything a request handler needs, created once at start by `errand run` (or a test) and owned
// by the sidecar. No module-level state: two sidecars in one process do not share anything.

export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  readonly expiration?: Date;
}

export interface CredentialProvider {
  /** Credentials of the STS session that carries these grants (one task session, or the grant's own). */
  credentialsFor(grantIds: readonly string[]): Promise<AwsCredentials>;
  /** The same session's derived SigV4 keys (cached per day, region and service; wiped with the
   *  session), when the provider keeps them: saves deriving a key on every request. */
  signingKeysFor?(grantIds: readonly string[]): Promise<SigningKeyCache | undefined>;
  /** The same session's credentials and keys when it is live now, without a Promise (asked on every
   *  request); undefined when it must be minted first: then credentialsFor and signingKeysFor. */
  liveSessionFor?(
    grantIds: readonly string[],
  ): { readonly credentials: AwsCredentials; readonly keys: SigningKeyCache } | undefined;
  /** Every secret value currently held, for redaction and canary checks. */
  secrets(): readonly string[];
  /** undefined when credentials can be had now; else a short, secret-free reason (not ready). */
  problem?(): string | undefined;
  /** These grants have no uses left: a session that carries only them (isolation: grant) is dropped. */
  release?(spentGrantIds: readonly string[]): void;
}

export interface AwsOrigin {
  readonly scheme: 'http' | 'https';
  readonly host: string;
  readonly port: number;
  /** Path prefix of a custom endpoint URL (usually ''). */
  readonly basePath: string;
}

export interface SidecarContext {
  readonly loaded: LoadedManifest;
  readonly index: GrantIndex;
  readonly ledger: UseLedger;
  readonly audit: AuditSink;
  readonly upstream: Upstream;
  /** Multipart uploads started through a grant: upload id → grant id. */
  readonly uploads: Map<string, string>;
  readonly credentials: CredentialProvider;
  readonly awsOrigin: (service: string) => AwsOrigin;
  readonly now: () => number;
  /** `host:port` values the endpoint listener answers to (127.0.0.1:4750, localhost:4750). */
  readonly endpointAuthorities: Set<string>;
  /** Set when the manifest was not signed: every audit record says so. */
  readonly unsignedManifest: boolean;
  readonly newRequestId: () => string;
  /** What the AWS classifier needs to know of this endpoint: region and account from the manifest. */
  readonly classifyContext: {
    readonly region: string;
    readonly accountId: string;
    readonly expectedAuthorities: ReadonlySet<string>;
  };
  readonly metrics: Metrics;
}

/** The fields every request record of this sidecar starts with (OCSF API Activity class, task,
 *  user, manifest), plus the unsigned-manifest warning on every record when it applies. */
export const auditBase = (ctx: SidecarContext, listener: string) => ({
  class: 'api_activity',
  listener,
  task_id: ctx.loaded.manifest.task.id,
  user: ctx.loaded.manifest.task.user.subject,
  user_session: ctx.loaded.manifest.task.user.session,
  manifest_sha256: ctx.loaded.sha256,
  ...(ctx.unsignedManifest ? { warning: 'unsigned manifest (--unsafe-allow-unsigned-manifest)' } : {}),
});

/** A record's `duration_ms`: the milliseconds since `started` (a performance.now() reading), to the µs. */
export const durationMs = (started: number): number =>
  Math.round((performance.now() - started) * 1000) / 1000;
