// Which of the agent's headers Errand forwards (and signs) on an AWS request. An allowlist per
// operation: a header is forwarded only when the operation's model binds it and Errand judges it
// harmless, or it is a protocol header every request of that protocol may carry. Headers that change
// what the operation does (ACLs, encryption, storage class, …) are forwarded only when the grant
// names them (`sensitiveHeaders`). Anything else is a deny, never silently stripped: S3 rejects
// unsigned x-amz-* headers, and whatever Errand forwards it signs (SECURITY-CASES E3, J5).

import type { Operation, RouteProtocol } from './aws-routes.ts';
import { sortNames } from './sort-names.ts';
import type { ClassifyDeny } from './types.ts';

/** Transport and client-identification headers the proxy drops: framing is regenerated, and the
 *  upstream request identifies Errand, not the agent's SDK. */
export const DROPPED_AWS_HEADERS: readonly string[] = Object.freeze([
  'accept',
  'accept-encoding',
  'amz-sdk-invocation-id',
  'amz-sdk-request',
  'connection',
  'content-length',
  'expect',
  'host',
  'keep-alive',
  'transfer-encoding',
  'user-agent',
  'x-amz-user-agent',
]);

/** The agent's own SigV4 material: dropped, Errand signs with the task's session. The
 *  Authorization credential scope is checked against the service and region first. */
export const AGENT_AUTH_HEADERS: readonly string[] = Object.freeze([
  'authorization',
  'x-amz-date',
  'x-amz-security-token',
]);

// Framing: never forwarded even when a model binds them (PutObject binds Content-Length).
const FRAMING = new Set([
  'content-length',
  'transfer-encoding',
  'host',
  'connection',
  'expect',
  'keep-alive',
]);

/** Headers that change what the operation does or who can read the result: a grant must allow
 *  each explicitly (S3 PutObject/CopyObject/CreateBucket/… API reference: ACLs, SSE, SSE-C, object
 *  lock, storage class, tagging, website redirect, requester pays, MFA delete, governance bypass). */
const SENSITIVE_EXACT = new Set([
  'x-amz-acl',
  'x-amz-bucket-object-lock-enabled',
  'x-amz-bucket-object-lock-token',
  'x-amz-bypass-governance-retention',
  'x-amz-confirm-remove-self-bucket-access',
  'x-amz-metadata-directive',
  'x-amz-mfa',
  'x-amz-object-ownership',
  'x-amz-request-payer',
  'x-amz-skip-destination-validation',
  'x-amz-storage-class',
  'x-amz-tagging',
  'x-amz-tagging-directive',
  'x-amz-transition-default-minimum-object-size',
  'x-amz-website-redirect-location',
  'x-amz-write-offset-bytes',
]);
const SENSITIVE_PREFIXES = [
  'x-amz-grant-',
  'x-amz-server-side-encryption',
  'x-amz-copy-source-server-side-encryption-',
  'x-amz-object-lock-',
];

/** Bound by some operation and harmless there: conditions, ranges, response shaping, integrity,
 *  the copy source (its read is authorized as a need of its own), Lambda invocation options and
 *  Bedrock inference options. */
const HARMLESS_BOUND = new Set([
  'accept',
  'cache-control',
  'content-disposition',
  'content-encoding',
  'content-language',
  'content-md5',
  'content-type',
  'expires',
  'if-match',
  'if-modified-since',
  'if-none-match',
  'if-unmodified-since',
  'range',
  'x-amz-checksum-algorithm',
  'x-amz-checksum-crc32',
  'x-amz-checksum-crc32c',
  'x-amz-checksum-crc64nvme',
  'x-amz-checksum-mode',
  'x-amz-checksum-sha1',
  'x-amz-checksum-sha256',
  'x-amz-checksum-type',
  'x-amz-client-context',
  'x-amz-copy-source',
  'x-amz-copy-source-if-match',
  'x-amz-copy-source-if-modified-since',
  'x-amz-copy-source-if-none-match',
  'x-amz-copy-source-if-unmodified-since',
  'x-amz-copy-source-range',
  'x-amz-create-session-mode',
  'x-amz-expected-bucket-owner',
  'x-amz-if-match-initiated-time',
  'x-amz-if-match-last-modified-time',
  'x-amz-if-match-size',
  'x-amz-invocation-type',
  'x-amz-log-type',
  'x-amz-max-parts',
  'x-amz-mp-object-size',
  'x-amz-object-attributes',
  'x-amz-optional-object-attributes',
  'x-amz-part-number-marker',
  'x-amz-sdk-checksum-algorithm',
  'x-amz-source-expected-bucket-owner',
  'x-amzn-bedrock-accept',
  'x-amzn-bedrock-guardrailidentifier',
  'x-amzn-bedrock-guardrailversion',
  'x-amzn-bedrock-performanceconfig-latency',
  'x-amzn-bedrock-trace',
]);

/** Protocol headers any operation of the protocol may carry although no member binds them:
 *  payload hash and aws-chunked framing (SigV4 "Signature calculations for S3": streaming
 *  uploads), flexible checksums ("Checking object integrity"), the JSON target and query-mode
 *  headers (Smithy awsJson1_0 / awsQueryCompatible), and the X-Ray trace header. */
const PROTOCOL_COMMON = [
  'content-encoding',
  'content-md5',
  'content-type',
  'x-amz-checksum-crc32',
  'x-amz-checksum-crc32c',
  'x-amz-checksum-crc64nvme',
  'x-amz-checksum-sha1',
  'x-amz-checksum-sha256',
  'x-amz-content-sha256',
  'x-amz-decoded-content-length',
  'x-amz-sdk-checksum-algorithm',
  'x-amz-trailer',
  'x-amzn-trace-id',
];
const PROTOCOL_HEADERS: Readonly<Record<RouteProtocol, ReadonlySet<string>>> = {
  restXml: new Set(PROTOCOL_COMMON),
  restJson1: new Set(PROTOCOL_COMMON),
  awsJson1_0: new Set([...PROTOCOL_COMMON, 'x-amz-target', 'x-amzn-query-mode']),
  awsJson1_1: new Set([...PROTOCOL_COMMON, 'x-amz-target']),
  awsQuery: new Set(PROTOCOL_COMMON),
};

export function isSensitiveHeader(name: string): boolean {
  return SENSITIVE_EXACT.has(name) || SENSITIVE_PREFIXES.some((p) => name.startsWith(p));
}

/** How Errand treats a header an operation's model binds: for the completeness test and docs. */
export function boundHeaderPolicy(name: string): 'sensitive' | 'harmless' | 'dropped' | 'refused' {
  if (FRAMING.has(name)) return 'dropped';
  if (isSensitiveHeader(name)) return 'sensitive';
  if (HARMLESS_BOUND.has(name)) return 'harmless';
  return 'refused';
}

export interface SelectedHeaders {
  readonly ok: true;
  readonly forward: readonly (readonly [string, string])[];
  readonly sensitive: readonly string[];
  readonly awsChunked: boolean;
}

/** Removes the aws-chunked coding (RFC 9110 §8.4 list) from Content-Encoding; '' when none remain. */
function withoutAwsChunked(value: string): { rest: string; chunked: boolean } {
  const codings = value
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c !== '');
  const rest = codings.filter((c) => c.toLowerCase() !== 'aws-chunked');
  return { rest: rest.join(', '), chunked: rest.length !== codings.length };
}

/** Decides, header by header, what to forward for `op` (sorted by name; never hash order). */
export function selectAwsHeaders(
  headers: ReadonlyMap<string, string>,
  protocol: RouteProtocol,
  op: Operation,
): SelectedHeaders | ClassifyDeny {
  const forward: [string, string][] = [];
  const sensitive: string[] = [];
  let awsChunked = false;
  const protocolHeaders = PROTOCOL_HEADERS[protocol];
  for (const name of sortNames([...headers.keys()])) {
    const value = headers.get(name)!;
    if (AGENT_AUTH_HEADERS.includes(name) || FRAMING.has(name)) continue;
    const bound =
      op.headers.has(name) || op.prefixHeaders.some((p) => name.startsWith(p) && name.length > p.length);
    if (name === 'content-encoding') {
      const { rest, chunked } = withoutAwsChunked(value);
      awsChunked ||= chunked;
      if (rest !== '') forward.push([name, rest]);
      continue;
    }
    if (name === 'x-amz-content-sha256' && value.startsWith('STREAMING-')) awsChunked = true;
    if (bound) {
      if (isSensitiveHeader(name)) {
        sensitive.push(name);
        forward.push([name, value]);
        continue;
      }
      const prefixBound = op.prefixHeaders.some((p) => name.startsWith(p));
      if (HARMLESS_BOUND.has(name) || prefixBound) {
        forward.push([name, value]);
        continue;
      }
      return {
        ok: false,
        reason: 'header_not_allowed',
        message: `${op.name} takes header ${name}, but Errand does not forward it`,
      };
    }
    if (DROPPED_AWS_HEADERS.includes(name)) continue;
    if (protocolHeaders.has(name)) {
      forward.push([name, value]);
      continue;
    }
    return {
      ok: false,
      reason: 'header_not_allowed',
      message: `header ${name.slice(0, 64)} is not part of ${op.name}; Errand forwards only the headers the operation takes`,
    };
  }
  return { ok: true, forward, sensitive, awsChunked };
}
