// AssumeRole as one signed POST to STS's query API, made with Errand's own SigV4 signer and node:http,
// instead of the AWS SDK's STSClient, whose middleware stack was a quarter of Errand's start and
// about 5 MiB of its idle memory (docs/decisions/0005-sts-query-client.md).
//
// The call (STS API Reference, AssumeRole; "Making Query Requests"): POST / with an
// application/x-www-form-urlencoded body of Action=AssumeRole&Version=2011-06-15 and the parameters,
// Tags as Tags.member.N.Key / Tags.member.N.Value, signed for service `sts` in the region. The answer
// is an AssumeRoleResponse XML document; a refusal is an ErrorResponse with Error/Code. Errors
// carry the STS error code and the HTTP status only (never STS's message, which may name ARNs, and
// never the body, which holds the credentials), in the shape classifyStsError reads.

import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { partitionOf } from './aws-partitions.ts';
import { type AwsCredentials, awsEncodePathSegment, signAwsRequest } from './sign-aws.ts';
import type { AssumeRoleParameters } from './sts-sessions.ts';

/** What AssumeRole returns, in the STS field names the SDK uses too. */
export interface AssumeRoleResult {
  readonly Credentials?: {
    readonly AccessKeyId?: string;
    readonly SecretAccessKey?: string;
    readonly SessionToken?: string;
    readonly Expiration?: Date;
  };
  readonly AssumedRoleUser?: { readonly Arn?: string };
}

export interface StsQueryOptions {
  readonly region: string;
  /** Errand's own (source) credentials, asked for on every call (the SDK's chain caches them). */
  readonly credentials: () => Promise<AwsCredentials>;
  /** Errand's environment: AWS_ENDPOINT_URL_STS or AWS_ENDPOINT_URL override the endpoint. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly now?: () => number;
  readonly connectTimeoutMs?: number;
  /** Headers and body together. */
  readonly requestTimeoutMs?: number;
}

/** An AssumeRole answer is a few KiB; anything much larger is not STS. */
const MAX_RESPONSE_BYTES = 64 * 1024;
const STS_VERSION = '2011-06-15';

/** The STS endpoint: the configured one (AWS SDKs and CLI, "Service-specific endpoints"), else the
 *  regional endpoint of the region's partition, FIPS and dual-stack as AWS_USE_FIPS_ENDPOINT and
 *  AWS_USE_DUALSTACK_ENDPOINT ask: the endpoint rules of the STS Smithy model (regional, not the
 *  legacy global endpoint). Throws a TypeError naming what is wrong. */
export function stsEndpoint(region: string, env: Readonly<Record<string, string | undefined>> = {}): URL {
  const fips = envFlag(env, 'AWS_USE_FIPS_ENDPOINT');
  const dualStack = envFlag(env, 'AWS_USE_DUALSTACK_ENDPOINT');
  const configured = env['AWS_ENDPOINT_URL_STS'] || env['AWS_ENDPOINT_URL'];
  if (configured) {
    // The model's rules refuse both with a custom endpoint rather than guess at its variants.
    if (fips) throw new TypeError('AWS_USE_FIPS_ENDPOINT cannot be used with a configured STS endpoint');
    if (dualStack)
      throw new TypeError('AWS_USE_DUALSTACK_ENDPOINT cannot be used with a configured STS endpoint');
    const url = new URL(configured);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new TypeError(`the STS endpoint ${url.protocol} is not http or https`);
    }
    return url;
  }
  if (!/^[a-z]{2,4}(-[a-z]+)+-\d+$/.test(region)) throw new TypeError(`'${region}' is not an AWS region`);
  const partition = partitionOf(region);
  if (fips && dualStack) return new URL(`https://sts-fips.${region}.${partition.dualStackDnsSuffix}/`);
  // GovCloud's regional STS endpoints are FIPS endpoints already.
  if (fips && partition.name === 'aws-us-gov') return new URL(`https://sts.${region}.amazonaws.com/`);
  if (fips) return new URL(`https://sts-fips.${region}.${partition.dnsSuffix}/`);
  if (dualStack) return new URL(`https://sts.${region}.${partition.dualStackDnsSuffix}/`);
  return new URL(`https://sts.${region}.${partition.dnsSuffix}/`);
}

/** A boolean setting of the AWS SDKs' shared configuration: true or false, unset is false. */
function envFlag(env: Readonly<Record<string, string | undefined>>, name: string): boolean {
  const value = env[name]?.trim().toLowerCase();
  if (value === undefined || value === '' || value === 'false') return false;
  if (value === 'true') return true;
  throw new TypeError(`${name} must be true or false`);
}

/** The form body of one AssumeRole call, parameters in a fixed order. */
export function assumeRoleBody(p: AssumeRoleParameters): string {
  const pairs: [string, string][] = [
    ['Action', 'AssumeRole'],
    ['Version', STS_VERSION],
    ['RoleArn', p.RoleArn],
    ['RoleSessionName', p.RoleSessionName],
    ['DurationSeconds', String(p.DurationSeconds)],
    ['Policy', p.Policy],
    ['SourceIdentity', p.SourceIdentity],
  ];
  p.Tags.forEach((tag, i) => {
    pairs.push([`Tags.member.${i + 1}.Key`, tag.Key], [`Tags.member.${i + 1}.Value`, tag.Value]);
  });
  // RFC 3986 unreserved characters kept, everything else percent-encoded: a valid form encoding.
  return pairs.map(([k, v]) => `${awsEncodePathSegment(k)}=${awsEncodePathSegment(v)}`).join('&');
}

const ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

const decodeXmlText = (text: string): string | undefined => {
  let bad = false;
  const out = text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);|&/g, (whole, name: string | undefined) => {
    if (name === undefined) {
      bad = true;
      return whole;
    }
    if (name.startsWith('#')) {
      const code = name[1] === 'x' ? Number.parseInt(name.slice(2), 16) : Number.parseInt(name.slice(1), 10);
      if (code > 0x10ffff) bad = true;
      return bad ? whole : String.fromCodePoint(code);
    }
    const entity = ENTITIES[name];
    if (entity === undefined) bad = true;
    return entity ?? whole;
  });
  return bad || out.includes('<') ? undefined : out;
};

/** The text of the one `<name>` element inside `scope`, or undefined when absent, repeated or not text. */
const elementText = (scope: string, name: string): string | undefined => {
  const found = [...scope.matchAll(new RegExp(`<${name}>([^<]*)</${name}>`, 'g'))];
  if (found.length !== 1 || scope.split(`<${name}`).length !== 2) return undefined;
  return decodeXmlText(found[0]![1]!);
};

/** The one `<name>…</name>` element's content inside `scope`, or undefined. */
const elementContent = (scope: string, name: string): string | undefined => {
  const open = new RegExp(`<${name}(\\s[^>]*)?>`, 'g');
  const opens = [...scope.matchAll(open)];
  const close = scope.indexOf(`</${name}>`);
  if (opens.length !== 1 || close === -1 || scope.indexOf(`</${name}>`, close + 1) !== -1) return undefined;
  const start = opens[0]!.index! + opens[0]![0].length;
  return close < start ? undefined : scope.slice(start, close);
};

/** Reads an AssumeRoleResponse strictly: the expected elements once each, or undefined. */
export function parseAssumeRoleResponse(xml: string): AssumeRoleResult | undefined {
  const result = elementContent(xml, 'AssumeRoleResponse');
  const inner = result === undefined ? undefined : elementContent(result, 'AssumeRoleResult');
  const creds = inner === undefined ? undefined : elementContent(inner, 'Credentials');
  if (inner === undefined || creds === undefined) return undefined;
  const AccessKeyId = elementText(creds, 'AccessKeyId');
  const SecretAccessKey = elementText(creds, 'SecretAccessKey');
  const SessionToken = elementText(creds, 'SessionToken');
  const expiration = elementText(creds, 'Expiration');
  // ISO 8601 with a zone (STS sends UTC with Z): a local-time reading would shift the expiry.
  const Expiration =
    expiration !== undefined &&
    /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(expiration)
      ? new Date(expiration)
      : undefined;
  if (!AccessKeyId || !SecretAccessKey || !SessionToken || Expiration === undefined) return undefined;
  const user = elementContent(inner, 'AssumedRoleUser');
  const arn = user === undefined ? undefined : elementText(user, 'Arn');
  return {
    Credentials: { AccessKeyId, SecretAccessKey, SessionToken, Expiration },
    ...(arn !== undefined ? { AssumedRoleUser: { Arn: arn } } : {}),
  };
}

/** An STS failure as classifyStsError reads it: the STS error code as the name, the HTTP status. */
export class StsQueryError extends Error {
  readonly $metadata: { readonly httpStatusCode?: number };
  constructor(name: string, status: number | undefined) {
    super(status === undefined ? name : `${name} (HTTP ${status})`);
    this.name = name;
    this.$metadata = status === undefined ? {} : { httpStatusCode: status };
  }
}

const errorCodeOf = (xml: string): string => {
  const error = elementContent(xml, 'Error');
  const code = error === undefined ? undefined : elementText(error, 'Code');
  // Only a plain identifier becomes the name; classifyStsError checks the same.
  return code !== undefined && /^[A-Za-z][A-Za-z0-9.]{0,63}$/.test(code) ? code : 'UnknownError';
};

/** One POST, the answer collected up to MAX_RESPONSE_BYTES. node:http, not undici: undici's first
 *  request instantiates its WebAssembly HTTP parser (about 2.5 MiB), which the endpoint would
 *  otherwise load only with the first forwarded call. A new connection per call (agent: false). */
function post(
  endpoint: URL,
  headers: Readonly<Record<string, string>>,
  body: string,
  signal: AbortSignal,
  connectTimeoutMs: number,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const tls = endpoint.protocol === 'https:';
    const req = (tls ? httpsRequest : httpRequest)(endpoint, {
      method: 'POST',
      headers,
      signal,
      agent: false,
    });
    const connectTimer = setTimeout(
      () => req.destroy(new StsQueryError('TimeoutError', undefined)),
      connectTimeoutMs,
    );
    req.once('socket', (socket) =>
      socket.once(tls ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer)),
    );
    req.once('error', (error) => {
      clearTimeout(connectTimer);
      reject(error);
    });
    req.once('response', (res) => {
      clearTimeout(connectTimer);
      const status = res.statusCode ?? 0;
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) req.destroy(new StsQueryError('ResponseTooLarge', status));
        else chunks.push(chunk);
      });
      res.once('error', reject);
      res.once('end', () => resolve({ status, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.end(body);
  });
}

/** The client sts-sessions uses: assumeRole(parameters), a new connection per call. */
export function createStsQueryClient(o: StsQueryOptions): {
  assumeRole(p: AssumeRoleParameters, options?: { abortSignal?: AbortSignal }): Promise<AssumeRoleResult>;
} {
  const env = o.env ?? {};
  const now = o.now ?? Date.now;
  const connectTimeout = o.connectTimeoutMs ?? 3000;
  const requestTimeout = o.requestTimeoutMs ?? 5000;
  return {
    async assumeRole(p, options = {}) {
      const endpoint = stsEndpoint(o.region, env);
      const body = assumeRoleBody(p);
      const credentials = await o.credentials();
      const signed = signAwsRequest({
        method: 'POST',
        protocol: endpoint.protocol as 'http:' | 'https:',
        hostname: endpoint.hostname,
        ...(endpoint.port ? { port: Number(endpoint.port) } : {}),
        path: '/',
        query: [],
        headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
        service: 'sts',
        region: o.region,
        payloadHash: createHash('sha256').update(body).digest('hex'),
        credentials,
        now: new Date(now()),
      });
      const deadline = AbortSignal.timeout(connectTimeout + requestTimeout);
      const signal = options.abortSignal ? AbortSignal.any([options.abortSignal, deadline]) : deadline;
      let answer: { status: number; text: string };
      try {
        answer = await post(
          new URL('/', endpoint),
          { ...signed.headers, 'content-length': String(Buffer.byteLength(body)) },
          body,
          signal,
          connectTimeout,
        );
      } catch (error) {
        if (error instanceof StsQueryError) throw error;
        if (deadline.aborted) throw new StsQueryError('TimeoutError', undefined);
        // Socket errors keep their system code (ECONNREFUSED, ECONNRESET…), which classifyStsError reads.
        throw error;
      }
      if (answer.status !== 200) throw new StsQueryError(errorCodeOf(answer.text), answer.status);
      const result = parseAssumeRoleResponse(answer.text);
      if (result === undefined) throw new StsQueryError('MalformedResponse', answer.status);
      return result;
    },
  };
}
