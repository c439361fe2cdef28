// The agent's own signing material. Errand re-signs every AWS request, so the agent's signature is
// dropped; but the credential scope it signed for must name the service Errand detected and the
// manifest's region (a request the agent meant for another region or service is refused, never
// re-targeted: SECURITY-CASES E10, E14). Presigned (query-string) auth is refused outright.

import type { ClassifyDeny } from './types.ts';

/** Query-string auth parameters, lower-case: SigV4 presigned URLs ("Authenticating requests:
 *  using query parameters") and SigV2 (AWSAccessKeyId, Signature, Expires). Compared
 *  case-insensitively: a request carrying any of them is refused with `auth_material_from_agent`. */
export const QUERY_AUTH_PARAMETERS: readonly string[] = Object.freeze([
  'awsaccesskeyid',
  'expires',
  'signature',
  'signaturemethod',
  'signatureversion',
  'x-amz-algorithm',
  'x-amz-credential',
  'x-amz-date',
  'x-amz-expires',
  'x-amz-security-token',
  'x-amz-signature',
  'x-amz-signedheaders',
]);

export interface CredentialScope {
  readonly date: string;
  readonly region: string;
  readonly service: string;
}

/** Refuses a query (or query-protocol form) that carries auth parameters. */
export function refuseQueryAuth(
  pairs: readonly (readonly [string, string])[],
  where: 'query' | 'form body',
): ClassifyDeny | undefined {
  const found = pairs.find(([k]) => QUERY_AUTH_PARAMETERS.includes(k.toLowerCase()));
  if (!found) return undefined;
  return {
    ok: false,
    reason: 'auth_material_from_agent',
    message: `the ${where} carries the auth parameter ${found[0].slice(0, 32)}; presigned or agent-signed requests are not accepted, Errand signs every request itself`,
  };
}

// AWS4-HMAC-SHA256 Credential=AKID/YYYYMMDD/region/service/aws4_request, SignedHeaders=…, Signature=…
// ("Authorization header", AWS SigV4 reference: "Create a signed AWS API request").
const SCOPE = /^[A-Za-z0-9]{1,128}\/([0-9]{8})\/([a-z0-9-]{1,32})\/([a-z0-9-]{1,64})\/aws4_request$/;

/** The credential scope of a SigV4 Authorization header; `undefined` when there is none. */
export function parseCredentialScope(
  authorization: string | undefined,
): { ok: true; scope: CredentialScope | undefined } | ClassifyDeny {
  if (authorization === undefined) return { ok: true, scope: undefined };
  const m = /^AWS4-HMAC-SHA256 +(.*)$/.exec(authorization);
  if (!m) {
    return {
      ok: false,
      reason: 'malformed_request',
      message: 'the Authorization header is not AWS Signature Version 4 (AWS4-HMAC-SHA256)',
    };
  }
  const fields = m[1]!.split(',').map((f) => f.trim());
  const credentials = fields.filter((f) => f.startsWith('Credential='));
  const scope = credentials.length === 1 ? SCOPE.exec(credentials[0]!.slice('Credential='.length)) : null;
  if (!scope) {
    return {
      ok: false,
      reason: 'malformed_request',
      message: 'the Authorization header has no valid Credential=KEY/DATE/REGION/SERVICE/aws4_request scope',
    };
  }
  return { ok: true, scope: { date: scope[1]!, region: scope[2]!, service: scope[3]! } };
}
