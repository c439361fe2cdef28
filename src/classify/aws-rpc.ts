// JSON-protocol (awsJson1_0 / awsJson1_1: DynamoDB, SQS, KMS, Secrets Manager, SSM) and
// query-protocol (awsQuery: SNS, STS, legacy SQS) requests. Both are `POST /`: the operation is
// named by the X-Amz-Target header ("Prefix.Operation", Smithy awsJson1_0 §"Protocol behaviors") or
// by the form's `Action=` with its `Version=` (Smithy awsQuery), and the resource by the body.

import { selectAwsHeaders } from './aws-headers.ts';
import type { Operation, Service } from './aws-routes.ts';
import { refuseQueryAuth } from './aws-scope.ts';
import { deny } from './deny.ts';
import {
  type InputReader,
  type ResourceContext,
  readerOf,
  resolveServiceNeeds,
} from './service-resources.ts';
import { isJsonObject, parseStrictJson } from './strict-json.ts';
import type { AwsNeed, ClassifyDeny } from './types.ts';

export interface RpcRequest {
  readonly method: string;
  readonly rawPath: string;
  readonly rawQuery: string;
  readonly headers: ReadonlyMap<string, string>;
}

export interface RpcClassified {
  readonly ok: true;
  readonly operation: string;
  readonly needs: readonly AwsNeed[];
  readonly forwardHeaders: readonly (readonly [string, string])[];
  readonly sensitiveHeaders: readonly string[];
  readonly awsChunked: boolean;
}

function requirePostRoot(
  req: RpcRequest,
  service: Service,
  allowQueuePath: boolean,
): ClassifyDeny | undefined {
  if (req.method !== 'POST') {
    return deny(
      'aws_op_unknown',
      `${service.signingName} requests are POST; ${req.method} is not an operation`,
    );
  }
  if (req.rawQuery !== '') {
    return deny('query_not_allowed', `${service.signingName} operations take no query string`);
  }
  if (req.rawPath !== '/' && !allowQueuePath) {
    return deny(
      'aws_op_unknown',
      `${service.signingName} requests go to the path /, not ${req.rawPath.slice(0, 64)}`,
    );
  }
  return undefined;
}

function finish(
  req: RpcRequest,
  service: Service,
  op: Operation,
  input: InputReader,
  ctx: ResourceContext,
): RpcClassified | ClassifyDeny {
  const headers = selectAwsHeaders(req.headers, service.protocol, op);
  if (!headers.ok) return headers;
  const needs = resolveServiceNeeds(service.signingName, op, input, ctx);
  if (!Array.isArray(needs)) return needs;
  return {
    ok: true,
    operation: op.name,
    needs,
    forwardHeaders: headers.forward,
    sensitiveHeaders: headers.sensitive,
    awsChunked: headers.awsChunked,
  };
}

/** The operation an X-Amz-Target names, if it is one of the service's. */
export function targetOperation(service: Service, target: string | undefined): Operation | ClassifyDeny {
  const prefix = `${service.targetPrefix}.`;
  const name = target?.startsWith(prefix) ? target.slice(prefix.length) : undefined;
  const op = name === undefined ? undefined : service.operations.get(name);
  if (!op) {
    return deny(
      'aws_op_unknown',
      `X-Amz-Target '${(target ?? '').slice(0, 80)}' is not a ${service.signingName} operation`,
    );
  }
  return op;
}

export function classifyJsonProtocol(
  req: RpcRequest,
  service: Service,
  body: Uint8Array | undefined,
  ctx: ResourceContext,
): RpcClassified | ClassifyDeny {
  const shape = requirePostRoot(req, service, false);
  if (shape) return shape;
  const op = targetOperation(service, req.headers.get('x-amz-target'));
  if ('ok' in op) return op;
  if (body === undefined) return deny('malformed_request', `${op.name} needs its request body`);
  const parsed = parseStrictJson(body);
  if (!parsed.ok) return deny('malformed_request', `${op.name}: ${parsed.message}`);
  if (!isJsonObject(parsed.value))
    return deny('malformed_request', `${op.name}: the body is not a JSON object`);
  return finish(req, service, op, readerOf(parsed.value), ctx);
}

/** application/x-www-form-urlencoded (WHATWG URL §5.1) read strictly: '+' is a space, escapes
 *  must be valid and decode to UTF-8, and no name may repeat. */
export function parseForm(
  body: Uint8Array,
): { ok: true; pairs: [string, string][] } | { ok: false; message: string } {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    return { ok: false, message: 'the form body is not valid UTF-8' };
  }
  const pairs: [string, string][] = [];
  const seen = new Set<string>();
  const decode = (s: string): string | undefined => {
    try {
      return decodeURIComponent(s.replaceAll('+', ' '));
    } catch {
      return undefined;
    }
  };
  for (const part of text.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = decode(eq === -1 ? part : part.slice(0, eq));
    const value = decode(eq === -1 ? '' : part.slice(eq + 1));
    if (name === undefined || value === undefined) {
      return { ok: false, message: 'the form body has an invalid percent-escape' };
    }
    if (seen.has(name))
      return { ok: false, message: `the form parameter ${name.slice(0, 64)} appears twice` };
    seen.add(name);
    pairs.push([name, value]);
  }
  return { ok: true, pairs };
}

function formReader(params: ReadonlyMap<string, string>): InputReader {
  return {
    member(name) {
      const lower = name.toLowerCase();
      for (const k of params.keys()) {
        if (k !== name && k.toLowerCase() === lower) {
          return { ok: false, message: `the form has "${k.slice(0, 64)}", a differently-cased "${name}"` };
        }
      }
      return { ok: true, value: params.get(name) };
    },
  };
}

/** Action (and the form) of a query-protocol request. */
export function readQueryAction(
  service: Service,
  body: Uint8Array | undefined,
): { ok: true; op: Operation; params: Map<string, string> } | ClassifyDeny {
  if (body === undefined)
    return deny('malformed_request', `${service.signingName} requests need their form body`);
  const form = parseForm(body);
  if (!form.ok) return deny('malformed_request', form.message);
  const auth = refuseQueryAuth(form.pairs, 'form body');
  if (auth) return auth;
  const params = new Map(form.pairs);
  const reader = formReader(params);
  const action = reader.member('Action');
  const version = reader.member('Version');
  if (!action.ok) return deny('malformed_request', action.message);
  if (!version.ok) return deny('malformed_request', version.message);
  if (typeof action.value !== 'string') return deny('aws_op_unknown', 'the form has no Action');
  if (version.value !== service.apiVersion) {
    return deny(
      'aws_op_unknown',
      `Version '${String(version.value ?? '').slice(0, 16)}' is not ${service.signingName}'s API version ${service.apiVersion}`,
    );
  }
  const op = service.operations.get(action.value);
  if (!op)
    return deny(
      'aws_op_unknown',
      `Action '${action.value.slice(0, 64)}' is not a ${service.signingName} operation`,
    );
  return { ok: true, op, params };
}

export function classifyQueryProtocol(
  req: RpcRequest,
  service: Service,
  body: Uint8Array | undefined,
  ctx: ResourceContext,
): RpcClassified | ClassifyDeny {
  // Legacy SQS query requests may address the queue by path: POST /ACCOUNT/QUEUE.
  const queuePath =
    service.signingName === 'sqs' ? /^\/([0-9]{12})\/([A-Za-z0-9_.-]{1,80})$/.exec(req.rawPath) : null;
  const shape = requirePostRoot(req, service, queuePath !== null);
  if (shape) return shape;
  const read = readQueryAction(service, body);
  if (!read.ok) return read;
  const { op, params } = read;
  if (queuePath) {
    if (!op.members.has('QueueUrl') || params.has('QueueUrl')) {
      return deny(
        'malformed_request',
        `${op.name}: name the queue either by the path or by QueueUrl, not both`,
      );
    }
    params.set('QueueUrl', `https://sqs.${ctx.region}.amazonaws.com/${queuePath[1]}/${queuePath[2]}`);
  }
  return finish(req, service, op, formReader(params), ctx);
}
