// The one error catalogue. Every failure Errand reports carries a stable code from here, a fixed
// client-facing text and a default HTTP status. Details (causes, positions, upstream text) travel
// in `detail` and go to the audit record or the CLI user, never into an agent-facing response body
// unless the code says so.

export const ERRORS = {
  // Manifest: loading and validation (CLI and startup).
  ERR_MANIFEST_READ: { status: 500, text: 'the manifest file cannot be read' },
  ERR_MANIFEST_TOO_LARGE: { status: 400, text: 'the manifest is larger than the limit' },
  ERR_MANIFEST_SYNTAX: { status: 400, text: 'the manifest is not well-formed YAML or JSON' },
  ERR_MANIFEST_INVALID: { status: 400, text: 'the manifest does not follow the schema' },
  ERR_MANIFEST_EXPIRED: { status: 400, text: 'the manifest has expired' },
  ERR_MANIFEST_POLICY_TOO_LARGE: {
    status: 400,
    text: 'the compiled session policy exceeds 2,048 characters',
  },
  ERR_MANIFEST_STS_PARAMETER: {
    status: 400,
    text: 'the manifest yields an STS session parameter that STS would refuse',
  },
  // Manifest: signatures.
  ERR_JWS_MALFORMED: { status: 400, text: 'the signed manifest is not a compact JWS' },
  ERR_JWS_ALG_NOT_ALLOWED: { status: 400, text: 'the JWS algorithm is not allowed' },
  ERR_JWS_TYP: { status: 400, text: 'the JWS typ is not an Errand manifest' },
  ERR_JWS_SIGNATURE: { status: 400, text: 'the JWS signature does not verify with the trusted key' },
  ERR_JWS_EXPIRED: { status: 400, text: 'the signed manifest has expired' },
  ERR_JWS_NOT_YET_VALID: { status: 400, text: 'the signed manifest is not yet valid' },
  ERR_JWS_AUDIENCE: { status: 400, text: 'the signed manifest is for another audience' },
  ERR_JWS_CLAIMS: { status: 400, text: 'the signed manifest claims are invalid' },
  ERR_JWS_KEY: { status: 400, text: 'the trusted key cannot be used' },
  ERR_JWS_CRIT: { status: 400, text: 'the JWS names critical extensions Errand does not understand' },
  ERR_JWS_EMBEDDED_KEY: { status: 400, text: 'the JWS header carries its own key or key location' },
  ERR_JWS_EXP: { status: 400, text: 'the signed manifest has no numeric exp claim' },
  ERR_JWS_DUPLICATE: { status: 400, text: 'the JWS header or payload repeats a member' },
  ERR_JWS_TASK_MISMATCH: { status: 400, text: 'the JWS tid claim is not the manifest task id' },
  // AWS credentials: STS sessions (src/credentials/sts-sessions.ts).
  ERR_STS_UNREACHABLE: { status: 503, text: 'STS cannot be reached' },
  ERR_STS_THROTTLED: { status: 503, text: 'STS is throttling AssumeRole' },
  ERR_STS_ACCESS_DENIED: { status: 503, text: 'STS refused to let Errand assume the task role' },
  ERR_STS_POLICY_MALFORMED: { status: 503, text: 'STS refused the session policy as malformed' },
  ERR_STS_POLICY_TOO_LARGE: { status: 503, text: 'STS refused the session policy as too large once packed' },
  ERR_STS_REGION_DISABLED: { status: 503, text: 'STS is not activated in this region for the account' },
  ERR_STS_FAILED: { status: 503, text: 'STS AssumeRole failed' },
  ERR_CREDENTIALS_NOT_READY: { status: 503, text: 'Errand has no usable AWS session for this task yet' },
  ERR_CREDENTIALS_EXPIRED: { status: 403, text: 'the task deadline has passed: its AWS sessions are gone' },
  ERR_CREDENTIALS_WIPED: { status: 503, text: 'the AWS sessions were wiped (Errand is shutting down)' },
  ERR_CREDENTIALS_SESSION: { status: 500, text: 'no AWS session serves this set of grants' },
  // AWS credentials: SigV4 signing and aws-chunked bodies.
  ERR_BODY_TOO_LARGE: { status: 413, text: 'the request body is larger than the grant allows' },
  ERR_SIGN_INPUT: { status: 500, text: 'the request cannot be signed as given' },
  ERR_AWS_PAYLOAD_MODE: { status: 400, text: 'the x-amz-content-sha256 payload mode is not accepted' },
  ERR_AWS_CHUNKED_HEADERS: { status: 400, text: 'the aws-chunked request headers are invalid' },
  ERR_AWS_CHUNKED_FRAMING: { status: 400, text: 'the aws-chunked body framing is invalid' },
  ERR_AWS_CHUNKED_LENGTH: {
    status: 400,
    text: 'the aws-chunked body length does not match x-amz-decoded-content-length',
  },
  ERR_AWS_CHUNKED_TRAILER: { status: 400, text: 'the aws-chunked trailer is not allowed' },
  // HTTP credentials: OAuth token exchange (RFC 8693) and DPoP (RFC 9449), src/credentials/oauth.
  ERR_OAUTH_UNREACHABLE: { status: 503, text: 'the authorization server cannot be reached' },
  ERR_OAUTH_EXCHANGE: { status: 503, text: 'the authorization server refused the token exchange' },
  ERR_OAUTH_RESPONSE: {
    status: 503,
    text: 'the authorization server sent a token response Errand does not accept',
  },
  ERR_OAUTH_EXPIRED: { status: 403, text: 'the task deadline has passed: its OAuth tokens are gone' },
  ERR_OAUTH_WIPED: {
    status: 503,
    text: 'the OAuth tokens and the DPoP key were wiped (Errand is shutting down)',
  },
  ERR_OAUTH_TARGET: { status: 500, text: 'the request is not one the OAuth token of the grant is for' },
  // Audit log and use journal (src/audit, src/authorize/use-ledger.ts): Errand does not serve without them.
  ERR_AUDIT_UNAVAILABLE: { status: 503, text: 'the audit log cannot be written' },
  ERR_STATE_UNAVAILABLE: { status: 503, text: 'the use journal in the state directory cannot be written' },
  // CLI usage.
  ERR_USAGE: { status: 400, text: 'invalid command line' },
  ERR_CONFIG: { status: 400, text: 'invalid configuration' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

export class ErrandError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly detail: string | undefined;
  constructor(code: ErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(detail ? `${ERRORS[code].text}: ${detail}` : ERRORS[code].text, options);
    this.name = 'ErrandError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.detail = detail;
  }
}

// Reason codes of request decisions (SECURITY-CASES §0.2). A deny always carries one.
export const REASONS = {
  allowed: { status: 200 },
  malformed_request: { status: 400 },
  ambiguous_framing: { status: 400 },
  bad_host: { status: 400 },
  host_mismatch: { status: 421 },
  sni_mismatch: { status: 421 },
  dest_ip_denied: { status: 403 },
  port_denied: { status: 403 },
  dns_denied: { status: 403 },
  not_in_manifest: { status: 403 },
  aws_op_not_granted: { status: 403 },
  aws_op_unknown: { status: 403 },
  header_not_allowed: { status: 403 },
  query_not_allowed: { status: 403 },
  scheme_denied: { status: 403 },
  grant_exhausted: { status: 403 },
  manifest_expired: { status: 403 },
  manifest_invalid: { status: 403 },
  upgrade_denied: { status: 403 },
  body_too_large: { status: 413 },
  timeout: { status: 408 },
  credential_returning_action: { status: 403 },
  auth_material_from_agent: { status: 400 },
  resource_limit: { status: 429 },
  header_too_large: { status: 431 },
  uri_too_long: { status: 414 },
  version_not_supported: { status: 505 },
  expectation_failed: { status: 417 },
  not_ready: { status: 503 },
  audit_unavailable: { status: 503 },
  upstream_error: { status: 502 },
  upstream_timeout: { status: 504 },
  credentials_unavailable: { status: 503 },
} as const;

export type Reason = keyof typeof REASONS;
