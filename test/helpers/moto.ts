// The AWS emulator for integration tests: one moto server per caller, on a free loopback port, with
// request authentication ON. What moto 5 enforces in that mode (and what it does not) is written down in
// docs/testing.md; read it before relying on moto to prove a property of Errand.
//
// Startup, in steps:
//  1. spawn moto with INITIAL_NO_AUTH_ACTION_COUNT = the number of bootstrap calls below;
//  2. spend that unauthenticated allowance creating the IAM identities (users, keys, role, policies);
//  3. check that authentication is now enforced (an unknown key is refused, the source key works);
//  4. create the data fixtures with signed calls as the `errand-direct` user.

import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { Agent, type Dispatcher, getGlobalDispatcher, request } from 'undici';
import { freePort, LOOPBACK, waitUntil } from './ports.ts';
import { type AwsCredentials, awsClientEnv } from './real-clients.ts';

export type { AwsCredentials } from './real-clients.ts';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const VENV_PYTHON = join(REPO_ROOT, '.venv', 'bin', 'python');
const LAUNCHER = join(REPO_ROOT, 'test', 'helpers', 'moto-launch.py');

export const MOTO_REGION = 'us-east-1';
/** Bound on moto's startup (process start to fixtures created); the first run after install compiles .pyc files. */
export const DEFAULT_STARTUP_TIMEOUT_MS = 30_000;
/** Bound on one call from the harness to moto. */
const CALL_TIMEOUT_MS = 10_000;
/** How much of moto's stderr is kept for error messages. */
const STDERR_TAIL_BYTES = 8192;
const STOP_GRACE_MS = 3000;
const BIND_ATTEMPTS = 3;

export const SOURCE_USER = 'errand-source';
export const DIRECT_USER = 'errand-direct';
export const TASK_ROLE = 'errand-task';

/** Binary-safe sample bytes: a PDF header, every byte value 0..255, a PDF trailer. */
const REPORT_PDF = Buffer.concat([
  Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n', 'latin1'),
  Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
  Buffer.from('\n%%EOF\n', 'latin1'),
]);

const OBJECTS: Readonly<Record<string, string>> = Object.freeze({
  'users/alice/report.pdf': REPORT_PDF.toString('base64'),
  'users/alice/notes.txt': Buffer.from('alice: summarize the report by Friday\n').toString('base64'),
  'users/bob/secret.txt': Buffer.from('bob: not for alice\n').toString('base64'),
});

/** The data every moto starts with. */
export const FIXTURES = Object.freeze({
  bucket: 'acme-uploads',
  objectKeys: Object.freeze(Object.keys(OBJECTS).sort()),
  table: 'tasks',
  /** The one item in `tasks`, in DynamoDB JSON. Its key is `id`. */
  item: Object.freeze({
    id: Object.freeze({ S: 'tsk_01JD8Q7ZK3' }),
    owner: Object.freeze({ S: 'alice@example.com' }),
    status: Object.freeze({ S: 'open' }),
  }),
  queue: 'jobs',
});

/** A fresh copy of a fixture object's bytes. */
export function fixtureObject(key: string): Buffer {
  const base64 = OBJECTS[key];
  if (base64 === undefined) throw new Error(`no fixture object '${key}'`);
  return Buffer.from(base64, 'base64');
}

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export interface Moto {
  /** http://127.0.0.1:PORT — every service on one endpoint, S3 path-style. */
  readonly endpoint: string;
  readonly port: number;
  readonly region: string;
  readonly accountId: string;
  // Credential objects are plain, not frozen: the AWS SDK v3 writes a `$source` marker into the object
  // it is given.
  /** Errand's source credentials: IAM user errand-source, allowed only sts:AssumeRole,
   * sts:TagSession and sts:SetSourceIdentity on roleArn (no data access of its own). */
  readonly sourceCredentials: AwsCredentials;
  readonly sourceUserArn: string;
  /** IAM user errand-direct, allowed s3:*, dynamodb:*, sqs:* directly: creates the fixtures and runs
   * the baselines that call moto without Errand. */
  readonly directCredentials: AwsCredentials;
  /** errand-task: trusts errand-source; its identity policy allows s3:*, dynamodb:*, sqs:* on *. */
  readonly roleArn: string;
  /** SQS URL of FIXTURES.queue. */
  readonly queueUrl: string;
  /** Process start to fixtures created (ms). */
  readonly startupMs: number;
  /** Environment for a child process that talks to this moto as `credentials` (default: the source
   * credentials, which is what Errand itself gets). */
  env(credentials?: AwsCredentials): Record<string, string>;
  /** A signed call to this moto (see callAws). */
  call(credentials: AwsCredentials, call: AwsCall): Promise<AwsResponse>;
  /** The last lines moto wrote to stderr (its request log and any traceback). */
  stderrTail(): string;
  /** Stops the server and waits for the process to end. Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartMotoOptions {
  startupTimeoutMs?: number;
}

export interface AwsCall {
  /** SigV4 signing name: s3, iam, sts, dynamodb, sqs. */
  service: string;
  method: string;
  /** Sent as given; S3 keys must already be percent-encoded. */
  path: string;
  query?: Readonly<Record<string, string>>;
  headers?: Readonly<Record<string, string>>;
  body?: string | Uint8Array;
  /** Signing time; default now. */
  signingDate?: Date;
}

export interface AwsResponse {
  status: number;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  body: Buffer;
  text: string;
}

interface Target {
  endpoint: string;
  region: string;
  dispatcher?: Agent;
}

/** AWS's URI encoding of one query component (RFC 3986 unreserved kept, the rest %XX). */
function encodeRfc3986(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/**
 * Signs `call` with SigV4 (@smithy/signature-v4, as the AWS SDK does) and sends it. S3 calls are signed
 * without path normalization or double encoding and with x-amz-content-sha256, as S3 requires.
 */
export async function callAws(
  target: Target,
  credentials: AwsCredentials,
  call: AwsCall,
): Promise<AwsResponse> {
  const url = new URL(target.endpoint);
  const isS3 = call.service === 's3';
  const signer = new SignatureV4({
    credentials,
    region: target.region,
    service: call.service,
    sha256: Hash.bind(null, 'sha256'),
    uriEscapePath: !isS3,
    applyChecksum: isS3,
  });
  const body = call.body === undefined ? undefined : Buffer.from(call.body);
  const headers: Record<string, string> = { host: url.host, ...call.headers };
  if (body !== undefined) headers['content-length'] = String(body.length);
  const unsigned = new HttpRequest({
    method: call.method,
    protocol: url.protocol,
    hostname: url.hostname,
    port: Number(url.port),
    path: call.path,
    query: { ...call.query },
    headers,
    body,
  });
  const signed = await signer.sign(unsigned, { signingDate: call.signingDate ?? new Date() });
  const query = Object.entries(call.query ?? {})
    .map(([k, v]) => `${encodeRfc3986(k)}=${encodeRfc3986(v)}`)
    .join('&');
  // dispatcher.request() sends `path` byte for byte; undici's request(url) would parse it as a URL and
  // remove dot segments, which S3 keys may contain.
  const response = await (target.dispatcher ?? getGlobalDispatcher()).request({
    origin: url.origin,
    path: `${call.path}${query ? `?${query}` : ''}`,
    method: call.method as Dispatcher.HttpMethod,
    headers: signed.headers,
    body,
    headersTimeout: CALL_TIMEOUT_MS,
    bodyTimeout: CALL_TIMEOUT_MS,
  });
  const bytes = Buffer.from(await response.body.arrayBuffer());
  return {
    status: response.statusCode,
    headers: response.headers,
    body: bytes,
    text: bytes.toString('utf8'),
  };
}

/** The text of the first <tag>…</tag> in an AWS XML response (enough for the few values read here). */
export function xmlValue(xml: string, tag: string): string | undefined {
  return new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(xml)?.[1];
}

function queryAction(action: string, version: string, params: Record<string, string>): AwsCall {
  const service = version === '2010-05-08' ? 'iam' : 'sts';
  const form = new URLSearchParams({ Action: action, Version: version, ...params });
  return {
    service,
    method: 'POST',
    path: '/',
    headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
    body: form.toString(),
  };
}

function jsonAction(service: string, target: string, input: unknown): AwsCall {
  return {
    service,
    method: 'POST',
    path: '/',
    headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': target },
    body: JSON.stringify(input),
  };
}

function iam(action: string, params: Record<string, string>): AwsCall {
  return queryAction(action, '2010-05-08', params);
}

function policy(statements: unknown[]): string {
  return JSON.stringify({ Version: '2012-10-17', Statement: statements });
}

// Any key works while moto's unauthenticated allowance lasts; it is never checked.
const BOOTSTRAP_CREDENTIALS: AwsCredentials = {
  accessKeyId: 'AKIAERRANDBOOTSTRAP0',
  secretAccessKey: 'bootstrap-only-not-a-secret',
};
/** The number of calls in bootstrapIdentities: moto authenticates every call after these. */
const BOOTSTRAP_CALLS = 8;

interface Identities {
  accountId: string;
  source: AwsCredentials;
  sourceUserArn: string;
  direct: AwsCredentials;
  roleArn: string;
}

async function expectOk(target: Target, credentials: AwsCredentials, what: string, call: AwsCall) {
  const response = await callAws(target, credentials, call);
  if (response.status >= 300) {
    throw new Error(
      `moto bootstrap: ${what} failed with HTTP ${response.status}: ${response.text.slice(0, 500)}`,
    );
  }
  return response;
}

async function createUserWithKey(
  target: Target,
  user: string,
): Promise<{ arn: string; key: AwsCredentials }> {
  const created = await expectOk(
    target,
    BOOTSTRAP_CREDENTIALS,
    `CreateUser ${user}`,
    iam('CreateUser', { UserName: user }),
  );
  const keyed = await expectOk(
    target,
    BOOTSTRAP_CREDENTIALS,
    `CreateAccessKey ${user}`,
    iam('CreateAccessKey', { UserName: user }),
  );
  const arn = xmlValue(created.text, 'Arn');
  const accessKeyId = xmlValue(keyed.text, 'AccessKeyId');
  const secretAccessKey = xmlValue(keyed.text, 'SecretAccessKey');
  if (!arn || !accessKeyId || !secretAccessKey)
    throw new Error(`moto bootstrap: no ARN or access key for ${user}`);
  return { arn, key: { accessKeyId, secretAccessKey } };
}

// Exactly BOOTSTRAP_CALLS calls: each one spends one unit of moto's unauthenticated allowance.
async function bootstrapIdentities(target: Target): Promise<Identities> {
  const source = await createUserWithKey(target, SOURCE_USER); // 2 calls
  const direct = await createUserWithKey(target, DIRECT_USER); // 2 calls
  const accountId = source.arn.split(':')[4] ?? '';
  const stsActions = ['sts:AssumeRole', 'sts:TagSession', 'sts:SetSourceIdentity'];
  const trust = policy([{ Effect: 'Allow', Principal: { AWS: source.arn }, Action: stsActions }]);
  const role = await expectOk(
    target,
    BOOTSTRAP_CREDENTIALS,
    `CreateRole ${TASK_ROLE}`,
    iam('CreateRole', { RoleName: TASK_ROLE, AssumeRolePolicyDocument: trust }),
  );
  const roleArn = xmlValue(role.text, 'Arn') ?? '';
  // The role may do everything the tests touch: the session policy (which moto does not apply) and
  // Errand itself are the only narrowing, so a test that sees a deny knows Errand produced it.
  const dataAccess = policy([{ Effect: 'Allow', Action: ['s3:*', 'dynamodb:*', 'sqs:*'], Resource: '*' }]);
  await expectOk(
    target,
    BOOTSTRAP_CREDENTIALS,
    'PutRolePolicy',
    iam('PutRolePolicy', { RoleName: TASK_ROLE, PolicyName: 'data-access', PolicyDocument: dataAccess }),
  );
  await expectOk(
    target,
    BOOTSTRAP_CREDENTIALS,
    `PutUserPolicy ${SOURCE_USER}`,
    iam('PutUserPolicy', {
      UserName: SOURCE_USER,
      PolicyName: 'assume-errand-task',
      PolicyDocument: policy([{ Effect: 'Allow', Action: stsActions, Resource: roleArn }]),
    }),
  );
  await expectOk(
    target,
    BOOTSTRAP_CREDENTIALS,
    `PutUserPolicy ${DIRECT_USER}`,
    iam('PutUserPolicy', { UserName: DIRECT_USER, PolicyName: 'data-access', PolicyDocument: dataAccess }),
  );
  return { accountId, source: source.key, sourceUserArn: source.arn, direct: direct.key, roleArn };
}

/** Proves the allowance is spent: an unknown key is refused and the source key is accepted. */
async function checkAuthenticationIsOn(target: Target, ids: Identities): Promise<void> {
  const whoAmI = queryAction('GetCallerIdentity', '2011-06-15', {});
  const unknown = await callAws(target, BOOTSTRAP_CREDENTIALS, whoAmI);
  if (unknown.status !== 403 || !unknown.text.includes('InvalidClientTokenId')) {
    throw new Error(
      `moto is not enforcing request authentication: an unknown access key got HTTP ${unknown.status}: ${unknown.text.slice(0, 300)}`,
    );
  }
  const source = await callAws(target, ids.source, whoAmI);
  if (source.status !== 200 || xmlValue(source.text, 'Arn') !== ids.sourceUserArn) {
    throw new Error(
      `moto refused the source credentials: HTTP ${source.status}: ${source.text.slice(0, 300)}`,
    );
  }
}

async function createFixtures(target: Target, direct: AwsCredentials): Promise<{ queueUrl: string }> {
  const bucket = FIXTURES.bucket;
  await expectOk(target, direct, 'CreateBucket', { service: 's3', method: 'PUT', path: `/${bucket}` });
  for (const key of FIXTURES.objectKeys) {
    await expectOk(target, direct, `PutObject ${key}`, {
      service: 's3',
      method: 'PUT',
      path: `/${bucket}/${key}`,
      headers: { 'content-type': key.endsWith('.pdf') ? 'application/pdf' : 'text/plain' },
      body: fixtureObject(key),
    });
  }
  await expectOk(
    target,
    direct,
    'CreateTable',
    jsonAction('dynamodb', 'DynamoDB_20120810.CreateTable', {
      TableName: FIXTURES.table,
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  await expectOk(
    target,
    direct,
    'PutItem',
    jsonAction('dynamodb', 'DynamoDB_20120810.PutItem', { TableName: FIXTURES.table, Item: FIXTURES.item }),
  );
  const queue = await expectOk(
    target,
    direct,
    'CreateQueue',
    jsonAction('sqs', 'AmazonSQS.CreateQueue', { QueueName: FIXTURES.queue }),
  );
  const queueUrl = (JSON.parse(queue.text) as { QueueUrl?: string }).QueueUrl;
  if (!queueUrl)
    throw new Error(`moto bootstrap: CreateQueue returned no QueueUrl: ${queue.text.slice(0, 300)}`);
  return { queueUrl };
}

interface Launched {
  child: ChildProcess;
  port: number;
  stderrTail: () => string;
  exited: () => string | undefined;
}

function keepTail(stream: Readable | null): () => string {
  let tail = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (chunk: string) => {
    // Werkzeug colours its request log; the colour codes only clutter an error message.
    tail = (tail + stripVTControlCharacters(chunk)).slice(-STDERR_TAIL_BYTES);
  });
  return () => tail;
}

function launch(port: number): Launched {
  const child = spawn(VENV_PYTHON, ['-u', LAUNCHER, '-H', LOOPBACK, '-p', String(port)], {
    // A clean environment: nothing of the developer's AWS setup reaches moto.
    env: {
      PATH: `${join(REPO_ROOT, '.venv', 'bin')}:/usr/local/bin:/usr/bin:/bin`,
      LANG: 'C.UTF-8',
      HOME: tmpdir(),
      INITIAL_NO_AUTH_ACTION_COUNT: String(BOOTSTRAP_CALLS),
    },
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  const stderrTail = keepTail(child.stderr);
  let exit: string | undefined;
  child.once('exit', (code, signal) => {
    exit = `moto exited early (${signal ?? `code ${code}`})`;
  });
  child.once('error', (error) => {
    exit = `moto could not be started: ${error.message}`;
  });
  // A forgotten stop() must not keep the test process alive; the exit hook and the stdin pipe still end moto.
  child.unref();
  for (const stream of [child.stdin, child.stderr]) (stream as unknown as { unref?: () => void })?.unref?.();
  return { child, port, stderrTail, exited: () => exit };
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

// Closing stdin makes the launcher exit at once. SIGTERM is not used: moto's handler calls sys.exit
// from the signal handler, which takes a second and ends in an abort.
async function kill(child: ChildProcess): Promise<void> {
  child.stdin?.end();
  if (!(await waitForExit(child, STOP_GRACE_MS))) {
    child.kill('SIGKILL');
    await waitForExit(child, STOP_GRACE_MS);
  }
}

async function isMoto(endpoint: string): Promise<boolean> {
  try {
    // A moto-only route, so a foreign server that took the port is not mistaken for moto. GET only
    // reads; POST would change the allowance.
    const response = await request(`${endpoint}/moto-api/reset-auth`, {
      method: 'GET',
      headersTimeout: 1000,
      bodyTimeout: 1000,
      reset: true,
    });
    const text = await response.body.text();
    return response.statusCode === 400 && text.includes('Moto');
  } catch {
    return false;
  }
}

function explain(what: string, error: unknown, stderr: string): Error {
  const message = error instanceof Error ? error.message : String(error);
  return new Error(`${what}: ${message}\n--- moto stderr (tail) ---\n${stderr.trim() || '(empty)'}`, {
    cause: error,
  });
}

/**
 * Starts a moto server with authentication on, IAM identities and data fixtures (see FIXTURES).
 * Call `stop()` when done (t.teardown(() => moto.stop())). Requires `bash scripts/setup.sh`.
 */
export async function startMoto(opts: StartMotoOptions = {}): Promise<Moto> {
  if (!existsSync(VENV_PYTHON)) {
    throw new Error(`moto is not installed: ${VENV_PYTHON} is missing; run 'bash scripts/setup.sh'`);
  }
  const timeoutMs = opts.startupTimeoutMs ?? DEFAULT_STARTUP_TIMEOUT_MS;
  const started = performance.now();
  let launched: Launched | undefined;
  let endpoint = '';
  // The port is free when the OS hands it out, but another process may take it before moto binds:
  // then moto exits with "Address already in use" and we try another port.
  for (let attempt = 1; ; attempt++) {
    launched = launch(await freePort());
    endpoint = `http://${LOOPBACK}:${launched.port}`;
    const current = launched;
    try {
      await waitUntil(`moto on port ${current.port}`, () => isMoto(endpoint), {
        timeoutMs: Math.max(0, timeoutMs - (performance.now() - started)),
        abandon: current.exited,
      });
      break;
    } catch (error) {
      await kill(current.child);
      const stderr = current.stderrTail();
      if (attempt < BIND_ATTEMPTS && stderr.includes('Address already in use')) continue;
      throw explain('moto did not start', error, stderr);
    }
  }
  const { child, port, stderrTail } = launched;
  const onExit = () => child.kill('SIGKILL');
  process.once('exit', onExit);
  const dispatcher = new Agent({ connections: 4 });
  const target: Target = { endpoint, region: MOTO_REGION, dispatcher };

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      process.removeListener('exit', onExit);
      await dispatcher.close().catch(() => undefined);
      await kill(child);
    })();
    return stopping;
  };

  try {
    const ids = await bootstrapIdentities(target);
    await checkAuthenticationIsOn(target, ids);
    const { queueUrl } = await createFixtures(target, ids.direct);
    const startupMs = Math.round(performance.now() - started);
    return {
      endpoint,
      port,
      region: MOTO_REGION,
      accountId: ids.accountId,
      sourceCredentials: { ...ids.source },
      sourceUserArn: ids.sourceUserArn,
      directCredentials: { ...ids.direct },
      roleArn: ids.roleArn,
      queueUrl,
      startupMs,
      env: (credentials = ids.source) => awsClientEnv({ endpoint, region: MOTO_REGION, credentials }),
      call: (credentials, call) => callAws(target, credentials, call),
      stderrTail,
      stop,
    };
  } catch (error) {
    await stop();
    throw explain('moto bootstrap failed', error, stderrTail());
  }
}
