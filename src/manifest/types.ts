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

/** Token types an OAuth token file may hold (RFC 8693 §3, urn:ietf:params:oauth:token-type:*). */
export type OAuthTokenType = 'access_token' | 'jwt' | 'id_token';

/** An access token Errand obtains for one HTTP grant: OAuth 2.0 Token Exchange (RFC 8693) of the
 *  user's token, client authentication with private_key_jwt (RFC 7523), optionally bound to
 *  Errand's in-memory key with DPoP (RFC 9449). Secrets are named, never held, here. */
export interface OAuthInject {
  /** Canonical https URL. */
  readonly tokenEndpoint: string;
  /** When set, the audience of the client assertion (else the token endpoint). */
  readonly issuer?: string;
  readonly clientId: string;
  /** Secret name: Errand's private key (PEM PKCS#8 or JWK). */
  readonly clientKey: string;
  /** Secret name: the user's token, exchanged as subject_token. */
  readonly subjectToken: string;
  readonly subjectTokenType: OAuthTokenType;
  /** Secret name: Errand's workload identity token, sent as actor_token. */
  readonly actorToken?: string;
  readonly actorTokenType: OAuthTokenType;
  /** RFC 8693 audience: a logical name of the API. */
  readonly audience?: string;
  /** RFC 8707 resource indicator: the grant URL's origin unless the manifest names a URL on it. */
  readonly resource: string;
  /** Space-separated scope tokens (RFC 6749 §3.3). */
  readonly scope?: string;
  /** RFC 9396 authorization_details, as written. */
  readonly authorizationDetails?: readonly Readonly<Record<string, unknown>>[];
  /** Sender-constrain the token with DPoP (default true). */
  readonly dpop: boolean;
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
  /** Source `inject.oauth`: the credential is an OAuth token Errand obtains (never with `inject`). */
  readonly oauth?: OAuthInject;
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
