// restJson1 services (Lambda, Bedrock runtime): the operation is the URI template that matches
// method, literal path segments, query literals and required members (Smithy http trait); labels
// are decoded exactly once, per segment, so an escaped '/' stays inside its label.

import { parseArn } from './arn.ts';
import { selectAwsHeaders } from './aws-headers.ts';
import type { Operation, Service } from './aws-routes.ts';
import { deny } from './deny.ts';
import { iamActionsFor } from './iam-actions.ts';
import { decodeS3Key } from './s3.ts';
import type { ResourceContext } from './service-resources.ts';
import type { AwsNeed, ClassifyDeny } from './types.ts';

export interface RestRequest {
  readonly method: string;
  readonly rawPath: string;
  readonly query: readonly (readonly [string, string])[];
  readonly headers: ReadonlyMap<string, string>;
}

export interface RestClassified {
  readonly ok: true;
  readonly operation: string;
  readonly needs: readonly AwsNeed[];
  readonly forwardHeaders: readonly (readonly [string, string])[];
  readonly sensitiveHeaders: readonly string[];
  readonly awsChunked: boolean;
}

/** Labels of `op`'s template matched against the raw path, or undefined when it does not match. */
export function matchTemplate(op: Operation, rawPath: string): Map<string, string> | undefined {
  const segments = op.segments ?? [];
  const parts = rawPath === '/' ? [] : rawPath.slice(1).split('/');
  const labels = new Map<string, string>();
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    if ('literal' in seg) {
      if (parts[i] !== seg.literal) return undefined;
      continue;
    }
    const raw = seg.greedy ? parts.slice(i).join('/') : parts[i];
    if (raw === undefined || raw === '') return undefined;
    const value = decodeS3Key(raw);
    if (value === undefined) return undefined;
    labels.set(seg.label, value);
    if (seg.greedy) return labels;
  }
  return parts.length === segments.length ? labels : undefined;
}

/** True when some operation of the service has a template this path fits (any method). */
export function pathFitsService(service: Service, rawPath: string): boolean {
  for (const op of service.operations.values()) if (matchTemplate(op, rawPath)) return true;
  return false;
}

function matchOperation(
  service: Service,
  req: RestRequest,
  query: ReadonlyMap<string, string>,
): { op: Operation; labels: Map<string, string> } | ClassifyDeny {
  let best: { op: Operation; labels: Map<string, string> }[] = [];
  let bestScore = -1;
  for (const op of service.operations.values()) {
    if (op.method !== req.method) continue;
    const labels = matchTemplate(op, req.rawPath);
    if (!labels) continue;
    if (!op.queryLiterals.every(([k, v]) => query.get(k) === v)) continue;
    const requiredQuery = [...op.query].filter(([, r]) => r).map(([k]) => k);
    const requiredHeaders = [...op.headers].filter(([, r]) => r).map(([k]) => k);
    if (!requiredQuery.every((k) => query.has(k)) || !requiredHeaders.every((h) => req.headers.has(h)))
      continue;
    const literals = (op.segments ?? []).filter((s) => 'literal' in s).length;
    const score = literals * 100 + op.queryLiterals.length + requiredQuery.length + requiredHeaders.length;
    if (score > bestScore) {
      best = [{ op, labels }];
      bestScore = score;
    } else if (score === bestScore) {
      best.push({ op, labels });
    }
  }
  if (best.length === 0) {
    return deny(
      'aws_op_unknown',
      `no ${service.signingName} operation is ${req.method} ${req.rawPath.slice(0, 96)}`,
    );
  }
  if (best.length > 1) {
    return deny(
      'aws_op_unknown',
      `${req.method} ${req.rawPath.slice(0, 96)} could be ${best.map((b) => b.op.name).join(' or ')}; refused as ambiguous`,
    );
  }
  return best[0]!;
}

const undetermined = (op: Operation, why: string): ClassifyDeny =>
  deny('aws_op_unknown', `${op.name}: Errand cannot determine the resource (${why}), so it is not supported`);

function outside(
  op: Operation,
  what: string,
  region: string,
  account: string,
  ctx: ResourceContext,
): ClassifyDeny {
  return deny(
    'aws_op_not_granted',
    `${op.name}: ${what} names a resource in ${region || 'no region'}/${account || 'no account'}; this task works only in ${ctx.region}/${ctx.accountId}`,
  );
}

// Lambda ("Actions, resources, and condition keys for AWS Lambda"): function ARN, with the
// version or alias appended when the request is qualified. FunctionName may be a name, a partial
// ARN (ACCOUNT:function:NAME) or a full ARN, each optionally followed by :QUALIFIER.
const FUNCTION =
  /^(?:(?:arn:([a-z-]+):lambda:([a-z0-9-]+):)?([0-9]{12}):function:)?([A-Za-z0-9_-]{1,64})(?::(\$LATEST|[A-Za-z0-9_-]{1,128}))?$/;

function lambdaNeeds(
  op: Operation,
  labels: Map<string, string>,
  query: ReadonlyMap<string, string>,
  ctx: ResourceContext,
) {
  const actions = iamActionsFor('lambda', op.name);
  if (op.unscoped) return actions.map((action) => ({ action, resource: '*' }));
  const name = labels.get('FunctionName');
  if (name === undefined) {
    return undetermined(op, 'Errand maps only operations on a function (FunctionName) for Lambda');
  }
  const m = FUNCTION.exec(name);
  if (!m) return deny('malformed_request', `${op.name}: FunctionName is not a function name or ARN`);
  const [, partition, region, account, fn, nameQualifier] = m;
  if (
    (partition !== undefined && partition !== ctx.partition) ||
    (region !== undefined && region !== ctx.region)
  ) {
    return outside(op, 'FunctionName', region ?? '', account ?? '', ctx);
  }
  if (account !== undefined && account !== ctx.accountId)
    return outside(op, 'FunctionName', region ?? '', account, ctx);
  const queryQualifier = op.query.has('Qualifier') ? query.get('Qualifier') : undefined;
  if (nameQualifier !== undefined && queryQualifier !== undefined && nameQualifier !== queryQualifier) {
    return deny(
      'malformed_request',
      `${op.name}: the qualifier in FunctionName and the Qualifier query disagree`,
    );
  }
  const qualifier = nameQualifier ?? queryQualifier;
  if (qualifier !== undefined && !/^(\$LATEST|[A-Za-z0-9_-]{1,128})$/.test(qualifier)) {
    return deny('malformed_request', `${op.name}: Qualifier is not a version or alias`);
  }
  const resource = `arn:${ctx.partition}:lambda:${ctx.region}:${ctx.accountId}:function:${fn}${qualifier !== undefined ? `:${qualifier}` : ''}`;
  return actions.map((action) => ({ action, resource }));
}

// Bedrock runtime ("Actions, resources, and condition keys for Amazon Bedrock"): a plain model id is
// a foundation model (arn:…:bedrock:REGION::foundation-model/ID), or a system inference profile when
// it starts with a geography prefix (us., eu., apac., …: "Supported Regions and models for inference
// profiles"); an ARN is taken as given if it is in the task's region and account.
const GEO_PROFILE = /^(us|us-gov|eu|apac|jp|au|ca|global)\./;
const MODEL_ID = /^[A-Za-z0-9_.:-]{1,256}$/;

function bedrockArn(
  op: Operation,
  member: string,
  text: string,
  ctx: ResourceContext,
): string | ClassifyDeny {
  const arn = parseArn(text);
  if (arn?.service !== 'bedrock')
    return deny('malformed_request', `${op.name}: ${member} is not a Bedrock ARN`);
  const accountOk =
    arn.account === ctx.accountId || (arn.account === '' && arn.resource.startsWith('foundation-model/'));
  if (arn.partition !== ctx.partition || arn.region !== ctx.region || !accountOk) {
    return outside(op, member, arn.region, arn.account, ctx);
  }
  return text;
}

function bedrockNeeds(op: Operation, labels: Map<string, string>, ctx: ResourceContext) {
  const actions = iamActionsFor('bedrock', op.name);
  const needs = (resource: string): AwsNeed[] => actions.map((action) => ({ action, resource }));
  if (op.unscoped) return needs('*');
  const modelId = labels.get('modelId');
  if (modelId !== undefined) {
    if (modelId.startsWith('arn:')) {
      const arn = bedrockArn(op, 'modelId', modelId, ctx);
      return typeof arn === 'string' ? needs(arn) : arn;
    }
    if (!MODEL_ID.test(modelId)) return deny('malformed_request', `${op.name}: modelId is not a model id`);
    return needs(
      GEO_PROFILE.test(modelId)
        ? `arn:${ctx.partition}:bedrock:${ctx.region}:${ctx.accountId}:inference-profile/${modelId}`
        : `arn:${ctx.partition}:bedrock:${ctx.region}::foundation-model/${modelId}`,
    );
  }
  const guardrail = labels.get('guardrailIdentifier');
  if (guardrail !== undefined) {
    if (guardrail.startsWith('arn:')) {
      const arn = bedrockArn(op, 'guardrailIdentifier', guardrail, ctx);
      return typeof arn === 'string' ? needs(arn) : arn;
    }
    if (!/^[a-z0-9]{1,64}$/.test(guardrail)) {
      return deny('malformed_request', `${op.name}: guardrailIdentifier is not a guardrail id`);
    }
    return needs(`arn:${ctx.partition}:bedrock:${ctx.region}:${ctx.accountId}:guardrail/${guardrail}`);
  }
  const invocation = labels.get('invocationArn');
  if (invocation !== undefined) {
    const arn = bedrockArn(op, 'invocationArn', invocation, ctx);
    return typeof arn === 'string' ? needs(arn) : arn;
  }
  return undetermined(op, 'the model is named in the request body');
}

export function classifyRestJson(
  req: RestRequest,
  service: Service,
  ctx: ResourceContext,
): RestClassified | ClassifyDeny {
  const query = new Map<string, string>();
  for (const [k, v] of req.query) {
    if (query.has(k))
      return deny('malformed_request', `query key '${k.slice(0, 32)}' appears more than once`);
    query.set(k, v);
  }
  const matched = matchOperation(service, req, query);
  if ('ok' in matched) return matched;
  const { op, labels } = matched;
  for (const k of query.keys()) {
    if (op.query.has(k) || op.queryLiterals.some(([lk]) => lk === k)) continue;
    return deny('query_not_allowed', `${op.name} does not take the query key '${k.slice(0, 32)}'`);
  }
  const headers = selectAwsHeaders(req.headers, service.protocol, op);
  if (!headers.ok) return headers;
  const needs =
    service.signingName === 'lambda' ? lambdaNeeds(op, labels, query, ctx) : bedrockNeeds(op, labels, ctx);
  if (!Array.isArray(needs)) return needs as ClassifyDeny;
  return {
    ok: true,
    operation: op.name,
    needs,
    forwardHeaders: headers.forward,
    sensitiveHeaders: headers.sensitive,
    awsChunked: headers.awsChunked,
  };
}
