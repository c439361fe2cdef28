// The task manifest after loading: validated, defaults applied, frozen. The JSON Schema in
// schema/manifest.schema.json describes the source form; this is the form the rest of Errand reads.

export type Uses = number | 'unlimited';

export interface AwsGrant {
  readonly id: string;
  /** IAM action, `service:Action`, exactly as IAM spells it (e.g. `s3:GetObject`). */
  readonly action: string;
  /** Exact ARNs, or ARN patterns when the source used the broad field `broadResource`. */
  readonly resources: readonly string[];
  /** True when the source spelled `broadResource`: wildcards `*` and `?` allowed, lint warns. */
  readonly broad: boolean;
  readonly uses: Uses;
  readonly conditions: {
    /** For s3:ListBucket: the only `prefix` a list may ask for (an s3:prefix condition). */
    readonly s3Prefix?: string;
  };
  /** Agent-supplied x-amz-* headers this grant lets through (lower-case), e.g. x-amz-server-side-encryption. */
  readonly allowHeaders: readonly string[];
  /** Cap on the request body in bytes, when set. */
  readonly maxBodyBytes?: number;
}

export interface InjectSecret {
  readonly header: string;
  /** The header value with one `${secret:NAME}` placeholder; NAME is a file in the secrets directory. */
  readonly value: string;
  readonly secret: string;
}

export interface HttpGrant {
  readonly id: string;
  readonly method: string;
  /** Exact URL (scheme, host, port, path, query), already canonical. */
  readonly url: string;
  /** True when the source spelled `urlPattern`: `*` stands for exactly one path segment; lint warns. */
  readonly pattern: boolean;
  readonly uses: Uses;
  readonly inject?: InjectSecret;
  readonly websocket: boolean;
  /** Loudly named escape hatches; both off by default. */
  readonly unsafeAllowPlainHttp: boolean;
  readonly unsafeAllowPrivateAddress: boolean;
  readonly maxBodyBytes?: number;
}

export interface Passthrough {
  readonly host: string;
  readonly port: number;
}

export interface Manifest {
  readonly apiVersion: 'errand.dev/v1';
  readonly kind: 'TaskManifest';
  readonly task: {
    readonly id: string;
    readonly purpose: string;
    readonly user: { readonly subject: string; readonly session: string };
    /** ISO 8601 UTC, as written. */
    readonly expiresAt: string;
  };
  readonly aws?: {
    readonly region: string;
    readonly roleArn: string;
    readonly isolation: 'task' | 'grant';
    readonly grants: readonly AwsGrant[];
  };
  readonly http?: {
    readonly grants: readonly HttpGrant[];
    readonly passthrough: readonly Passthrough[];
  };
}

/** A loaded manifest with where it came from: the hash binds audit records and STS tags to it. */
export interface LoadedManifest {
  readonly manifest: Manifest;
  /** sha256 of the exact source bytes (or of the JWS payload), hex. */
  readonly sha256: string;
  /** Deadline as epoch milliseconds. */
  readonly expiresAtMs: number;
  readonly signed: boolean;
}
