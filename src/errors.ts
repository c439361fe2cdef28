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
