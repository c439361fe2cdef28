// AWS request classification, the entry points the proxy calls, in order:
//
//   detectAwsService(req)           which service, from protocol evidence (no body yet)
//   awsBodyNeeded(req, service)     whether the body decides operation or resource, and its bound
//   classifyAws(req, ctx, body)     → operation, IAM action(s), resource ARN(s), headers to forward
//
// Pure: values in, values out; no I/O, no clock. Region, account and upstream come from the
// manifest (the context), never from the agent: the agent's Host and SigV4 credential scope are
// only checked against them (SECURITY-CASES E4, E10, E14).

import type { NormalizedRequest } from '../proxy/request.ts';
import { partitionOf } from './arn.ts';
import { AWS_SERVICES, type Service } from './aws-routes.ts';
import {
  classifyJsonProtocol,
  classifyQueryProtocol,
  type RpcClassified,
  readQueryAction,
} from './aws-rpc.ts';
import { type CredentialScope, parseCredentialScope, refuseQueryAuth } from './aws-scope.ts';
import { isCredentialReturningAction } from './credential-actions.ts';
import { deny } from './deny.ts';
import { classifyRestJson, pathFitsService, type RestClassified } from './rest-json.ts';
import { classifyS3, DNS_BUCKET, MAX_DELETE_OBJECTS_BODY, type S3Classified, s3BodyNeeded } from './s3.ts';
import type { ResourceContext } from './service-resources.ts';
import type { ClassifiedAwsIntent, ClassifyDeny } from './types.ts';

export { AGENT_AUTH_HEADERS, DROPPED_AWS_HEADERS } from './aws-headers.ts';
export { QUERY_AUTH_PARAMETERS } from './aws-scope.ts';

export interface AwsEndpointContext {
  /** The manifest's region: every request is signed for and sent to it. */
  readonly region: string;
  /** The account of the manifest's roleArn: ARNs the agent supplies must be in it. */
  readonly accountId: string;
  /** Lower-case `host:port` authorities the endpoint listener answers to (127.0.0.1:4750,
   *  localhost:4750). `{bucket}.{name}:{port}` is also accepted for a non-IP name here. */
  readonly expectedAuthorities: ReadonlySet<string> | readonly string[];
}

export type AwsProtocolFamily = 'restXml' | 'awsJson' | 'awsQuery' | 'restJson';

/** Request-body bounds for the services whose body Errand reads (the proxy may lower them):
 *  DynamoDB BatchWriteItem requests reach 16 MB ("Service, account, and table quotas"); SQS
 *  messages 1 MiB plus attributes; others small. */
const BODY_LIMITS: Readonly<Record<string, number>> = {
  dynamodb: 16 * 1024 * 1024,
  sqs: 2 * 1024 * 1024,
  sts: 64 * 1024,
};
const DEFAULT_BODY_LIMIT = 1024 * 1024;

const QUERY_SERVICES = new Set(['sts', 'sns', 'sqs']);
const REST_SERVICES = new Set(['s3', 'lambda', 'bedrock']);

/** The error-body shape a service's clients parse. */
export function protocolOfService(service: string): AwsProtocolFamily {
  switch (AWS_SERVICES.get(service)?.protocol) {
    case 'awsJson1_0':
    case 'awsJson1_1':
      return 'awsJson';
    case 'awsQuery':
      return 'awsQuery';
    case 'restJson1':
      return 'restJson';
    default:
      return 'restXml';
  }
}

/** A real AWS endpoint host (requests intercepted on the forward listener): `s3.REGION…`,
 *  `BUCKET.s3.REGION…` or `PREFIX.REGION.amazonaws.com` (AWS General Reference, "Service
 *  endpoints"). FIPS, dual-stack, access-point and other forms are not recognized. */
function awsHostService(host: string): { service: string; region: string; bucket?: string } | undefined {
  const s3 = /^(?:(.+)\.)?s3\.([a-z0-9-]+)\.amazonaws\.com$/.exec(host);
  if (s3) return { service: 's3', region: s3[2]!, ...(s3[1] !== undefined ? { bucket: s3[1] } : {}) };
  const m = /^([a-z0-9-]+)\.([a-z0-9-]+)\.amazonaws\.com$/.exec(host);
  if (!m) return undefined;
  for (const s of AWS_SERVICES.values()) {
    if (s.endpointPrefix === m[1] && s.signingName !== 's3') return { service: s.signingName, region: m[2]! };
  }
  return undefined;
}

/** Which service a request is for, and the credential scope the agent signed (checked, never obeyed). */
export interface AwsEvidence {
  readonly ok: true;
  readonly scope: CredentialScope | undefined;
  readonly service: string;
}

function gatherEvidence(req: NormalizedRequest): AwsEvidence | ClassifyDeny {
  // 1. Presigned or SigV2 query auth: never re-signed (E10).
  const queryAuth = refuseQueryAuth(req.query, 'query');
  if (queryAuth) return queryAuth;

  // 2. The scope the agent signed for (checked, never obeyed).
  const parsed = parseCredentialScope(req.headers.get('authorization'));
  if (!parsed.ok) return parsed;
  const scope = parsed.scope;
  const hostService = req.listener === 'aws' ? undefined : awsHostService(req.host)?.service;

  // 3. Protocol evidence.
  let service: string | undefined;
  const target = req.headers.get('x-amz-target');
  const contentType = (req.headers.get('content-type') ?? '').toLowerCase();
  const form = req.method === 'POST' && /^application\/x-www-form-urlencoded\s*(;|$)/.test(contentType);
  if (target !== undefined) {
    const prefix = target.slice(0, Math.max(0, target.indexOf('.')));
    service = [...AWS_SERVICES.values()].find(
      (s) => s.targetPrefix !== undefined && s.targetPrefix === prefix,
    )?.signingName;
    if (service === undefined) {
      return deny('aws_op_unknown', `X-Amz-Target '${target.slice(0, 80)}' names no service Errand knows`);
    }
  } else if (form && QUERY_SERVICES.has(hostService ?? scope?.service ?? '')) {
    service = hostService ?? scope?.service;
  } else if (form && hostService === undefined && scope === undefined) {
    return deny(
      'aws_op_unknown',
      'a form POST does not say which service it is for; sign it (the credential scope names the service)',
    );
  } else if (hostService !== undefined) {
    service = hostService;
  } else if (scope !== undefined) {
    service = REST_SERVICES.has(scope.service) ? scope.service : undefined;
  } else {
    // Unsigned REST request: Lambda and Bedrock runtime by path shape, otherwise S3 path-style.
    const lambda = AWS_SERVICES.get('lambda')!;
    const bedrock = AWS_SERVICES.get('bedrock')!;
    service = pathFitsService(lambda, req.rawPath)
      ? 'lambda'
      : pathFitsService(bedrock, req.rawPath)
        ? 'bedrock'
        : 's3';
  }
  if (service === undefined) {
    return deny(
      'bad_host',
      `the request is signed for service ${scope?.service ?? '?'}, but carries none of its protocol evidence (X-Amz-Target or a form body)`,
    );
  }

  // 4. Agreement: the agent's scope and Host must name the detected service.
  if (scope !== undefined && scope.service !== service) {
    return deny(
      'bad_host',
      `the request is signed for service ${scope.service}, but it is a ${service} request`,
    );
  }
  if (hostService !== undefined && hostService !== service) {
    return deny('bad_host', `the Host names service ${hostService}, but it is a ${service} request`);
  }
  return { ok: true, scope, service };
}

/** Which service a request on the AWS endpoint is for, from protocol evidence: X-Amz-Target for
 *  JSON protocols, a signed form POST for query protocols, the path for Lambda and Bedrock
 *  runtime, otherwise S3. The agent's credential scope must agree. */
export function detectAwsService(req: NormalizedRequest): AwsEvidence | ClassifyDeny {
  return gatherEvidence(req);
}

/** Whether Errand must read the body before classifying, and up to how many bytes. */
export function awsBodyNeeded(req: NormalizedRequest, service: string): { needed: boolean; limit: number } {
  if (service === 's3') {
    return s3BodyNeeded(req.method, req.query)
      ? { needed: true, limit: MAX_DELETE_OBJECTS_BODY }
      : { needed: false, limit: 0 };
  }
  if (service === 'lambda' || service === 'bedrock' || !AWS_SERVICES.has(service)) {
    return { needed: false, limit: 0 };
  }
  return { needed: true, limit: BODY_LIMITS[service] ?? DEFAULT_BODY_LIMIT };
}

/** The Host the agent used must be this endpoint (E14); virtual-hosted S3 names the bucket. */
function checkHost(
  req: NormalizedRequest,
  ctx: AwsEndpointContext,
  service: string,
): { ok: true; hostBucket: string | undefined } | ClassifyDeny {
  if (req.listener !== 'aws') {
    const h = awsHostService(req.host);
    if (!h || req.port !== 443 || req.scheme !== 'https') {
      return deny('bad_host', `${req.host.slice(0, 100)}:${req.port} is not an AWS endpoint Errand serves`);
    }
    if (h.region !== ctx.region) {
      return deny('bad_host', `the Host names region ${h.region}; this task works only in ${ctx.region}`);
    }
    if (h.bucket !== undefined && !DNS_BUCKET.test(h.bucket)) {
      return deny('bad_host', 'the Host does not start with a valid bucket name');
    }
    return { ok: true, hostBucket: h.bucket };
  }
  const value = (req.headers.get('host') ?? '').toLowerCase();
  const m = /^([a-z0-9.-]+?)\.?(?::([0-9]{1,5}))?$/.exec(value);
  if (!m) return deny('bad_host', 'the Host header is missing or malformed');
  const authority = m[2] === undefined ? m[1]! : `${m[1]}:${m[2]}`;
  // Compared lower-cased, without a lower-cased copy of the set per request.
  for (const expected of ctx.expectedAuthorities) {
    if (expected.toLowerCase() === authority) return { ok: true, hostBucket: undefined };
  }
  // Virtual-hosted S3 on a local name: BUCKET.localhost:PORT (never on an IP literal).
  const authorities = new Set([...ctx.expectedAuthorities].map((a) => a.toLowerCase()));
  for (const local of authorities) {
    const name = local.replace(/:[0-9]+$/, '');
    const suffix = `.${local}`;
    if (/^[0-9.]+$/.test(name) || !authority.endsWith(suffix)) continue;
    const bucket = authority.slice(0, -suffix.length);
    if (service === 's3' && DNS_BUCKET.test(bucket)) return { ok: true, hostBucket: bucket };
  }
  return deny(
    'bad_host',
    `Host ${authority.slice(0, 100)} is not this endpoint (expected ${[...authorities].sort().join(' or ')})`,
  );
}

/** Freezes a list the classifier built for this one request, and each of its items, in place: no
 *  other code holds them, so the frozen snapshot needs no second copy. */
function frozenInPlace<T extends object>(items: readonly T[]): readonly T[] {
  for (const item of items) Object.freeze(item);
  return Object.freeze(items);
}

function serviceOf(name: string): Service {
  return AWS_SERVICES.get(name)!;
}

/** Classifies an AWS request: the operation, the IAM action(s) and resource(s) it needs, and the
 *  exact headers to forward. Denies with a reason and a message the agent's user can act on. */
export function classifyAws(
  req: NormalizedRequest,
  ctx: AwsEndpointContext,
  body: Uint8Array | undefined,
  detected?: AwsEvidence,
): { readonly ok: true; readonly intent: ClassifiedAwsIntent } | ClassifyDeny {
  // 1. Service (and the agent's scope agreeing with it): detectAwsService's answer for this same
  //    request when the caller has it, so the Authorization header is parsed once.
  const evidence = detected ?? gatherEvidence(req);
  if (!evidence.ok) return evidence;
  const service = serviceOf(evidence.service);

  // 2. Region: the manifest's; a request signed for another is refused, never re-targeted.
  if (evidence.scope !== undefined && evidence.scope.region !== ctx.region) {
    return deny(
      'bad_host',
      `the request is signed for region ${evidence.scope.region}; this task works only in ${ctx.region}`,
    );
  }

  // 3. Host: this endpoint (or the real AWS host on the forward listener).
  const host = checkHost(req, ctx, service.signingName);
  if (!host.ok) return host;

  // 4. Body bound (the proxy reads at most the limit; this guards direct callers). A body the
  //    classifier does not need (an object upload) is never looked at.
  const { needed, limit } = awsBodyNeeded(req, service.signingName);
  if (needed && body !== undefined && body.length > limit) {
    return deny(
      'body_too_large',
      `the request body is larger than the ${limit} bytes Errand reads to classify it`,
    );
  }

  // 5. Operation, needs and headers, by protocol.
  const rctx: ResourceContext = {
    partition: partitionOf(ctx.region),
    region: ctx.region,
    accountId: ctx.accountId,
  };
  if (service.signingName === 'sts') {
    const read = readQueryAction(service, body);
    const name = read.ok ? read.op.name : 'every STS operation';
    return deny(
      'credential_returning_action',
      `${name} (STS) returns credentials or the role's identity; Errand never lets an agent hold credentials`,
    );
  }
  const classifiedBody = needed ? body : undefined;
  const classified: (S3Classified | RpcClassified | RestClassified) | ClassifyDeny =
    service.signingName === 's3'
      ? classifyS3({ ...req, region: ctx.region, hostBucket: host.hostBucket }, classifiedBody)
      : service.protocol === 'restJson1'
        ? classifyRestJson(req, service, rctx)
        : service.protocol === 'awsQuery' ||
            (service.signingName === 'sqs' && !req.headers.has('x-amz-target'))
          ? classifyQueryProtocol(req, service, classifiedBody, rctx)
          : classifyJsonProtocol(req, service, classifiedBody, rctx);
  if (!classified.ok) return classified;

  // 6. The hard floor: nothing that returns credentials, whatever a manifest grants (E12).
  const minting = classified.needs.find((n) => isCredentialReturningAction(n.action));
  if (minting) {
    return deny(
      'credential_returning_action',
      `${classified.operation} (${minting.action}) returns credentials; Errand never lets an agent hold credentials`,
    );
  }

  const intent: ClassifiedAwsIntent = {
    kind: 'aws',
    service: service.signingName,
    region: ctx.region,
    operation: classified.operation,
    needs: frozenInPlace(classified.needs),
    ...('s3' in classified && classified.s3 !== undefined ? { s3: Object.freeze({ ...classified.s3 }) } : {}),
    ...('uploadId' in classified && classified.uploadId !== undefined
      ? { uploadId: classified.uploadId }
      : {}),
    endpointPrefix: service.endpointPrefix,
    forwardHeaders: frozenInPlace(classified.forwardHeaders),
    sensitiveHeaders: Object.freeze(classified.sensitiveHeaders),
    awsChunked: classified.awsChunked,
  };
  return { ok: true, intent: Object.freeze(intent) };
}
