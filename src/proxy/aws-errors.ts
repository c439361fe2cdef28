import { REASONS, type Reason } from '../errors.ts';

// Deny responses shaped like the service's own errors, so an AWS SDK shows the agent a clear,
// non-retried error (status 403 for policy denials: SDKs retry 5xx and throttling, SECURITY-CASES §0.1).
// The message names Errand and the reason code; it never carries internal detail.

export type AwsProtocol = 'restXml' | 'awsJson' | 'awsQuery' | 'restJson';

const CODES: Partial<Record<Reason, string>> = {
  malformed_request: 'InvalidRequest',
  ambiguous_framing: 'InvalidRequest',
  bad_host: 'InvalidRequest',
  auth_material_from_agent: 'InvalidRequest',
  version_not_supported: 'InvalidRequest',
  body_too_large: 'EntityTooLarge',
  header_too_large: 'RequestHeaderSectionTooLarge',
  uri_too_long: 'InvalidURI',
  expectation_failed: 'InvalidRequest',
  timeout: 'RequestTimeout',
  not_ready: 'ServiceUnavailable',
  audit_unavailable: 'ServiceUnavailable',
  credentials_unavailable: 'ServiceUnavailable',
  upstream_error: 'BadGateway',
  upstream_timeout: 'GatewayTimeout',
  resource_limit: 'SlowDown',
};

export interface ErrorResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

const xmlEscape = (s: string): string =>
  s.replace(
    /[<>&'"]/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!,
  );

export function awsErrorResponse(
  protocol: AwsProtocol,
  reason: Reason,
  message: string,
  requestId: string,
): ErrorResponse {
  const status = REASONS[reason].status;
  const jsonCode = CODES[reason] ?? 'AccessDeniedException';
  const xmlCode = CODES[reason] ?? 'AccessDenied';
  const text = `Errand denied this request (${reason}): ${message}`;
  const common = { 'x-egress-deny': reason, 'x-amz-request-id': requestId, 'x-amzn-requestid': requestId };
  if (protocol === 'awsJson' || protocol === 'restJson') {
    return {
      status,
      headers: {
        ...common,
        'content-type': protocol === 'awsJson' ? 'application/x-amz-json-1.0' : 'application/json',
        'x-amzn-errortype': jsonCode,
      },
      body: JSON.stringify({ __type: jsonCode, message: text }),
    };
  }
  if (protocol === 'awsQuery') {
    return {
      status,
      headers: { ...common, 'content-type': 'text/xml' },
      body: `<ErrorResponse><Error><Type>Sender</Type><Code>${xmlCode}</Code><Message>${xmlEscape(text)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
    };
  }
  return {
    status,
    headers: { ...common, 'content-type': 'application/xml' },
    body: `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${xmlCode}</Code><Message>${xmlEscape(text)}</Message><RequestId>${requestId}</RequestId></Error>`,
  };
}

/** Plain-text deny for non-AWS clients (forward proxy). */
export function plainErrorResponse(reason: Reason, message: string, requestId: string): ErrorResponse {
  return {
    status: REASONS[reason].status,
    headers: {
      'content-type': 'text/plain; charset=utf-8',
      'x-egress-deny': reason,
      'x-request-id': requestId,
    },
    body: `Errand denied this request (${reason}): ${message}\nrequest id: ${requestId}\n`,
  };
}
