// S3 request → operation, IAM action(s), resource ARN(s). Every operation of the S3 model is
// matched the way S3 routes it: method, path shape (service root, bucket, bucket + key), the query
// literals of its URI template (`?acl`, `?uploads`, `?list-type=2`, …) and its required query and
// header members (CopyObject is a PUT with x-amz-copy-source; UploadPart a PUT with partNumber and
// uploadId). The most specific match wins; `x-id` (added by SDKs, ignored by S3) never counts; a
// query key the chosen operation does not take is refused (SECURITY-CASES E1, E2, E4, E5).

import { partitionOf } from './arn.ts';
import { selectAwsHeaders } from './aws-headers.ts';
import { AWS_SERVICES, type Operation, type Service } from './aws-routes.ts';
import { deny } from './deny.ts';
import { iamActionsFor, S3_VERSION_ACTIONS } from './iam-actions.ts';
import { parseDeleteObjectsXml } from './s3-delete-xml.ts';
import type { AwsNeed, ClassifyDeny } from './types.ts';

type Shape = 'root' | 'bucket' | 'object';

/** DeleteObjects bodies are read to authorize each key: 1,000 keys of up to 1,024 bytes, escaped. */
export const MAX_DELETE_OBJECTS_BODY = 2 * 1024 * 1024;

/** Operations not served on this endpoint, with the reason a user sees. ListDirectoryBuckets
 *  differs from ListBuckets only by its x-id (S3 Express control endpoint); WriteGetObjectResponse
 *  is routed by a host prefix (S3 Object Lambda). */
const UNSUPPORTED: Readonly<Record<string, string>> = {
  ListDirectoryBuckets: 'directory buckets are served by the S3 Express control endpoint, not by Errand',
  WriteGetObjectResponse: 'S3 Object Lambda responses are routed by host prefix and are not supported',
};

const s3 = (): Service => AWS_SERVICES.get('s3')!;

function shapeOf(op: Operation): Shape | undefined {
  const segs = op.segments ?? [];
  if (segs.length === 0) return 'root';
  if (segs.length === 1 && 'label' in segs[0]! && !segs[0].greedy) return 'bucket';
  if (segs.length === 2 && 'label' in segs[1]! && segs[1].greedy) return 'object';
  return undefined;
}

// Bucket naming rules ("General purpose bucket naming rules"); path-style also reaches legacy
// us-east-1 names (up to 255 characters, upper case and underscores). Nothing else: no '%', no
// ':' (access point and Outposts ARNs are not accepted as buckets), and first and last characters
// alphanumeric, so '.' and '..' are never buckets. Length is left to S3.
const LEGACY_BUCKET = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,253}[A-Za-z0-9])?$/;
export const DNS_BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Decodes percent-escapes exactly once; '+' is a literal plus (RFC 3986, not form encoding).
 *  Undefined for an invalid escape, invalid UTF-8 or NUL. No dot-segment removal, no slash
 *  merging: S3 keys are byte strings (SigV4 S3 note: do not normalize URI paths). */
export function decodeS3Key(raw: string): string | undefined {
  try {
    const key = decodeURIComponent(raw);
    return key.includes('\0') ? undefined : key;
  } catch {
    return undefined;
  }
}

export interface S3Address {
  readonly shape: Shape;
  readonly bucket?: string;
  /** The key as it appears in the path, still percent-encoded. */
  readonly rawKey?: string;
  readonly key?: string;
}

/** Path-style `/{bucket}/{key}`, or virtual-hosted with the bucket from the Host. */
export function addressS3(rawPath: string, hostBucket: string | undefined): S3Address | ClassifyDeny {
  let bucket = hostBucket;
  let rawKey: string | undefined;
  if (hostBucket === undefined) {
    if (rawPath === '/') return { shape: 'root' };
    const rest = rawPath.slice(1);
    const slash = rest.indexOf('/');
    bucket = slash === -1 ? rest : rest.slice(0, slash);
    rawKey = slash === -1 ? '' : rest.slice(slash + 1);
    if (!LEGACY_BUCKET.test(bucket)) {
      return deny('malformed_request', `"${bucket.slice(0, 64)}" is not a valid S3 bucket name`);
    }
  } else {
    rawKey = rawPath.slice(1);
  }
  if (rawKey === '') return { shape: 'bucket', bucket: bucket! };
  const key = decodeS3Key(rawKey);
  if (key === undefined) {
    return deny('malformed_request', 'the object key has an invalid percent-escape or is not valid UTF-8');
  }
  return { shape: 'object', bucket: bucket!, rawKey, key };
}

export interface CopySource {
  readonly bucket: string;
  readonly key: string;
  readonly versionId: string | undefined;
}

/** x-amz-copy-source: `bucket/key` or `/bucket/key`, URL-encoded, optional `?versionId=` (CopyObject
 *  API reference). A literal '+' is refused (write %2B or %20): readers disagree on whether it is a
 *  space. Access point and Outposts ARNs are refused: Errand cannot tell which bucket they read. */
export function parseCopySource(value: string): CopySource | ClassifyDeny {
  const text = value.startsWith('/') ? value.slice(1) : value;
  if (/^arn(:|%3A)/i.test(text)) {
    return deny('aws_op_unknown', 'a copy source named by an access point or Outposts ARN is not supported');
  }
  const q = text.indexOf('?');
  const path = q === -1 ? text : text.slice(0, q);
  let versionId: string | undefined;
  if (q !== -1) {
    const m = /^versionId=([^&=]+)$/.exec(text.slice(q + 1));
    const decoded = m ? decodeS3Key(m[1]!) : undefined;
    if (decoded === undefined)
      return deny('malformed_request', 'x-amz-copy-source has a query other than versionId=');
    versionId = decoded;
  }
  const slash = path.indexOf('/');
  const bucket = slash === -1 ? path : path.slice(0, slash);
  const rawKey = slash === -1 ? '' : path.slice(slash + 1);
  if (!LEGACY_BUCKET.test(bucket)) {
    return deny('malformed_request', 'x-amz-copy-source does not start with a valid bucket name');
  }
  if (rawKey.includes('+')) {
    return deny(
      'malformed_request',
      "x-amz-copy-source has a literal '+'; encode it as %2B (or a space as %20)",
    );
  }
  const key = decodeS3Key(rawKey);
  if (key === undefined || key === '') {
    return deny('malformed_request', 'x-amz-copy-source has no key, an invalid escape or invalid UTF-8');
  }
  return { bucket, key, versionId };
}

/** An operation a request of one method and path shape can be, with its required members. */
interface Candidate {
  readonly op: Operation;
  readonly requiredQuery: readonly string[];
  readonly requiredHeaders: readonly string[];
}

/** The served operations by `method shape`, in model order: built once from the route table at
 *  load, read-only afterwards (matching no longer walks every S3 operation per request). */
const CANDIDATES: ReadonlyMap<string, readonly Candidate[]> = (() => {
  const index = new Map<string, Candidate[]>();
  for (const op of s3().operations.values()) {
    const shape = shapeOf(op);
    if (shape === undefined || UNSUPPORTED[op.name] !== undefined) continue;
    const key = `${op.method} ${shape}`;
    const list = index.get(key) ?? [];
    list.push({
      op,
      requiredQuery: [...op.query].filter(([, r]) => r).map(([k]) => k),
      requiredHeaders: [...op.headers].filter(([, r]) => r).map(([k]) => k),
    });
    index.set(key, list);
  }
  return index;
})();

/** Candidate operations, most specific first: literals + required members present. */
function matchOperation(
  method: string,
  shape: Shape,
  query: ReadonlyMap<string, string>,
  headers: ReadonlyMap<string, string>,
): Operation | ClassifyDeny {
  let best: Operation[] = [];
  let bestScore = -1;
  for (const { op, requiredQuery, requiredHeaders } of CANDIDATES.get(`${method} ${shape}`) ?? []) {
    if (!op.queryLiterals.every(([k, v]) => query.get(k) === v)) continue;
    if (!requiredQuery.every((k) => query.has(k)) || !requiredHeaders.every((h) => headers.has(h))) continue;
    const score = op.queryLiterals.length + requiredQuery.length + requiredHeaders.length;
    if (score > bestScore) {
      best = [op];
      bestScore = score;
    } else if (score === bestScore) {
      best.push(op);
    }
  }
  if (best.length === 1) return best[0]!;
  const keys = [...query.keys()].filter((k) => k !== 'x-id');
  const described = `${method} on ${shape === 'root' ? 'the service root' : shape === 'bucket' ? 'a bucket' : 'an object'}${
    keys.length > 0 ? ` with query ${keys.map((k) => `'${k.slice(0, 32)}'`).join(', ')}` : ''
  }`;
  if (best.length === 0) return deny('aws_op_unknown', `no S3 operation is ${described}`);
  return deny(
    'aws_op_unknown',
    `${described} could be ${best.map((o) => o.name).join(' or ')}; refused as ambiguous`,
  );
}

export interface S3Classified {
  readonly ok: true;
  readonly operation: string;
  readonly needs: readonly AwsNeed[];
  readonly s3?: { readonly bucket: string; readonly rawKey: string | undefined };
  readonly uploadId?: string;
  readonly forwardHeaders: readonly (readonly [string, string])[];
  readonly sensitiveHeaders: readonly string[];
  readonly awsChunked: boolean;
}

/** True when a request is DeleteObjects, whose body Errand must read before classifying. */
export function s3BodyNeeded(method: string, query: readonly (readonly [string, string])[]): boolean {
  return method === 'POST' && query.some(([k]) => k === 'delete');
}

export function classifyS3(
  input: {
    readonly method: string;
    readonly rawPath: string;
    readonly query: readonly (readonly [string, string])[];
    readonly headers: ReadonlyMap<string, string>;
    readonly region: string;
    readonly hostBucket: string | undefined;
  },
  body: Uint8Array | undefined,
): S3Classified | ClassifyDeny {
  const partition = partitionOf(input.region);
  if (input.hostBucket === undefined && input.rawPath === '/WriteGetObjectResponse') {
    return deny('aws_op_unknown', `WriteGetObjectResponse: ${UNSUPPORTED['WriteGetObjectResponse']}`);
  }

  // 1. Query: each key once (two readers could pick different duplicates).
  const query = new Map<string, string>();
  for (const [k, v] of input.query) {
    if (query.has(k))
      return deny('malformed_request', `query key '${k.slice(0, 32)}' appears more than once`);
    query.set(k, v);
  }

  // 2. Address: bucket and key, decoded once.
  const address = addressS3(input.rawPath, input.hostBucket);
  if ('ok' in address) return address;

  // 3. Operation: the most specific match; then every query key must be one it takes.
  const op = matchOperation(input.method, address.shape, query, input.headers);
  if ('ok' in op) return op;
  for (const k of query.keys()) {
    if (k === 'x-id' || op.query.has(k) || op.queryLiterals.some(([lk]) => lk === k)) continue;
    return deny('query_not_allowed', `${op.name} does not take the query key '${k.slice(0, 32)}'`);
  }
  if (op.name === 'CreateSession') {
    return deny(
      'credential_returning_action',
      'CreateSession (s3express:CreateSession) returns session credentials; Errand never lets an agent hold credentials',
    );
  }

  // 4. Headers: the operation's allowlist.
  const headers = selectAwsHeaders(input.headers, 'restXml', op);
  if (!headers.ok) return headers;

  // 5. Needs: action(s) on the resource, plus the copy source or each deleted key.
  const versionId = op.query.has('versionId') ? query.get('versionId') : undefined;
  const actions =
    versionId !== undefined && S3_VERSION_ACTIONS[op.name]
      ? S3_VERSION_ACTIONS[op.name]!
      : iamActionsFor('s3', op.name);
  const resource =
    address.shape === 'root'
      ? '*'
      : address.shape === 'bucket'
        ? `arn:${partition}:s3:::${address.bucket}`
        : `arn:${partition}:s3:::${address.bucket}/${address.key}`;
  let needs: AwsNeed[] = actions.map((action) => ({ action, resource }));
  if (op.name === 'ListObjects' || op.name === 'ListObjectsV2' || op.name === 'ListObjectVersions') {
    // The s3:prefix condition key is the `prefix` query value, '' when absent.
    needs = needs.map((n) => ({ ...n, s3Prefix: query.get('prefix') ?? '' }));
  }
  if (op.name === 'CopyObject' || op.name === 'UploadPartCopy') {
    const source = parseCopySource(input.headers.get('x-amz-copy-source')!);
    if ('ok' in source) return source;
    needs.push({
      action: source.versionId === undefined ? 's3:GetObject' : 's3:GetObjectVersion',
      resource: `arn:${partition}:s3:::${source.bucket}/${source.key}`,
    });
  }
  if (op.name === 'DeleteObjects') {
    if (body === undefined) return deny('malformed_request', 'DeleteObjects needs its request body');
    if (body.length > MAX_DELETE_OBJECTS_BODY) {
      return deny('body_too_large', `the DeleteObjects body is larger than ${MAX_DELETE_OBJECTS_BODY} bytes`);
    }
    const parsed = parseDeleteObjectsXml(body);
    if (!parsed.ok) return deny('malformed_request', parsed.message);
    const seen = new Set<string>();
    needs = [];
    for (const e of parsed.entries) {
      const need = {
        action: e.versionId === undefined ? 's3:DeleteObject' : 's3:DeleteObjectVersion',
        resource: `arn:${partition}:s3:::${address.bucket}/${e.key}`,
      };
      const id = `${need.action} ${need.resource}`;
      if (!seen.has(id)) needs.push(need);
      seen.add(id);
    }
  }

  const uploadId = op.query.has('uploadId') ? query.get('uploadId') : undefined;
  return {
    ok: true,
    operation: op.name,
    needs,
    ...(address.shape !== 'root' ? { s3: { bucket: address.bucket!, rawKey: address.rawKey } } : {}),
    ...(uploadId !== undefined ? { uploadId } : {}),
    forwardHeaders: headers.forward,
    sensitiveHeaders: headers.sensitive,
    awsChunked: headers.awsChunked,
  };
}
