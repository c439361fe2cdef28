// Builds NormalizedRequest values the way the front does, for classifier tests.
import type { Test } from 'tap';
import type { AwsEndpointContext } from '../../src/classify/aws.ts';
import type { ClassifiedAwsIntent, ClassifyDeny } from '../../src/classify/types.ts';
import { parseQuery } from '../../src/proxy/front.ts';
import type { Listener, NormalizedRequest } from '../../src/proxy/request.ts';

export const ACCOUNT = '111122223333';
export const REGION = 'us-east-1';

export const CTX: AwsEndpointContext = Object.freeze({
  region: REGION,
  accountId: ACCOUNT,
  expectedAuthorities: ['127.0.0.1:4750', 'localhost:4750'],
});

/** A SigV4 Authorization header as an SDK writes it (the signature is never checked). */
export const sigv4 = (service: string, region = REGION): string =>
  `AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261129/${region}/${service}/aws4_request, SignedHeaders=host;x-amz-date, Signature=${'0'.repeat(64)}`;

export interface RequestSpec {
  readonly method?: string;
  /** Path and optional raw query, exactly as on the request line. */
  readonly target: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Service the agent signed for; false: no Authorization header. Default s3. */
  readonly signedFor?: string | false;
  readonly listener?: Listener;
  /** Origin host/port/scheme (forward listener only). */
  readonly origin?: { readonly host: string; readonly port: number; readonly scheme: 'http' | 'https' };
}

export function awsRequest(spec: RequestSpec): NormalizedRequest {
  const q = spec.target.indexOf('?');
  const rawPath = q === -1 ? spec.target : spec.target.slice(0, q);
  const rawQuery = q === -1 ? '' : spec.target.slice(q + 1);
  const query = parseQuery(rawQuery);
  if (query === undefined) throw new Error(`test request has an undecodable query: ${rawQuery}`);
  const headers = new Map<string, string>([
    ['host', '127.0.0.1:4750'],
    ['user-agent', 'aws-sdk-js/3.0 test'],
    ['amz-sdk-invocation-id', '00000000-0000-4000-8000-000000000000'],
    ['x-amz-date', '20261129T200000Z'],
    ['x-amz-content-sha256', 'UNSIGNED-PAYLOAD'],
  ]);
  const signedFor = spec.signedFor ?? 's3';
  if (signedFor !== false) headers.set('authorization', sigv4(signedFor));
  for (const [k, v] of Object.entries(spec.headers ?? {})) {
    if (v === '') headers.delete(k.toLowerCase());
    else headers.set(k.toLowerCase(), v);
  }
  const origin = spec.origin ?? { host: '127.0.0.1', port: 0, scheme: 'http' as const };
  return Object.freeze({
    id: 'r-test',
    listener: spec.listener ?? 'aws',
    method: spec.method ?? 'GET',
    scheme: origin.scheme,
    host: origin.host,
    port: origin.port,
    rawPath,
    rawQuery,
    query,
    headers,
  });
}

export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

// SigV4 URI encoding as the AWS SDKs write query strings (RFC 3986 unreserved kept).
const escapeUri = (s: string): string =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

interface SdkHttpRequest {
  method: string;
  path: string;
  query?: Record<string, string | string[] | null>;
  headers: Record<string, string>;
  body?: unknown;
}

const taken = (box: { last?: SdkHttpRequest | undefined }) => box.last;

/** A request handler for real AWS SDK clients that records the request the SDK built and fails
 *  it, so a test classifies exactly what an SDK sends, without a network. */
export function sdkCapture() {
  const box: { last?: SdkHttpRequest | undefined } = {};
  const handler = {
    handle: async (request: SdkHttpRequest) => {
      box.last = request;
      throw Object.assign(new Error('captured by the test'), { name: 'Captured', $metadata: {} });
    },
    updateHttpClientConfig: () => undefined,
    httpHandlerConfigs: () => ({}),
  };
  const send = async (client: { send: (c: never) => Promise<unknown> }, command: unknown) => {
    delete box.last;
    await client.send(command as never).catch((e: Error) => {
      if (e.name !== 'Captured') throw e;
    });
    const r = taken(box);
    if (!r) throw new Error('the SDK sent nothing');
    const rawQuery = Object.entries(r.query ?? {})
      .flatMap(([k, v]) =>
        (Array.isArray(v) ? v : [v]).map((x) =>
          x === null ? escapeUri(k) : `${escapeUri(k)}=${escapeUri(x)}`,
        ),
      )
      .join('&');
    const query = parseQuery(rawQuery);
    if (query === undefined) throw new Error('undecodable SDK query');
    const headers = new Map(Object.entries(r.headers).map(([k, v]) => [k.toLowerCase(), String(v)] as const));
    const body =
      typeof r.body === 'string'
        ? utf8(r.body)
        : r.body instanceof Uint8Array
          ? new Uint8Array(r.body)
          : undefined;
    const request: NormalizedRequest = Object.freeze({
      id: 'r-sdk',
      listener: 'aws' as const,
      method: r.method,
      scheme: 'http' as const,
      host: '127.0.0.1',
      port: 0,
      rawPath: r.path,
      rawQuery,
      query,
      headers,
    });
    return { request, body };
  };
  return { handler, send };
}

export const SDK_CLIENT_CONFIG = {
  region: REGION,
  endpoint: 'http://127.0.0.1:4750',
  credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'not-a-secret' },
  maxAttempts: 1,
} as const;

export interface ClassifyRow {
  readonly name: string;
  readonly req: RequestSpec;
  readonly body?: string | Uint8Array;
  /** Expected operation (allowed classification) … */
  readonly op?: string;
  /** … with its needs as [action, resource] or [action, resource, s3Prefix]. */
  readonly needs?: readonly (readonly [string, string] | readonly [string, string, string])[];
  readonly sensitive?: readonly string[];
  readonly forward?: readonly string[];
  readonly uploadId?: string;
  /** Or the expected deny reason and message. */
  readonly reason?: string;
  readonly message?: RegExp;
}

type Tap = Test;

/** Runs classifier rows: each asserts the outcome and its operation/needs or reason/message. */
export function runClassifyRows(
  t: Tap,
  rows: readonly ClassifyRow[],
  classify: (
    req: NormalizedRequest,
    body: Uint8Array | undefined,
  ) => ClassifyDeny | { ok: true; intent: ClassifiedAwsIntent },
): void {
  for (const row of rows) {
    t.test(row.name, async (t) => {
      const body = typeof row.body === 'string' ? utf8(row.body) : row.body;
      const c = classify(awsRequest(row.req), body);
      if (row.reason !== undefined) {
        if (c.ok) return t.fail(`expected ${row.reason}, got ${c.intent.operation}`);
        t.equal(c.reason, row.reason, 'reason');
        if (row.message) t.match(c.message, row.message, 'message');
        return;
      }
      if (!c.ok) return t.fail(`expected ${row.op}, got ${c.reason}: ${c.message}`);
      t.equal(c.intent.operation, row.op, 'operation');
      if (row.needs) {
        t.same(
          c.intent.needs.map((n) =>
            n.s3Prefix === undefined ? [n.action, n.resource] : [n.action, n.resource, n.s3Prefix],
          ),
          row.needs,
          'needs',
        );
      }
      t.same(c.intent.sensitiveHeaders, row.sensitive ?? [], 'sensitive headers');
      if (row.forward)
        t.same(
          c.intent.forwardHeaders.map(([k]) => k),
          row.forward,
          'forwarded headers',
        );
      t.equal(c.intent.uploadId, row.uploadId, 'upload id');
    });
  }
}
