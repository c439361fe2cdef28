// Real clients, nobody's mocks: AWS CLI v2, boto3, curl and Node (for AWS SDK v3 scripts), each run as
// a child process with an explicit environment, a throwaway HOME and a timeout. The integration tests
// run them straight against moto (the baselines) and, with the endpoint or proxy pointed at Errand,
// through it; a difference between the two runs is Errand's doing.

import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** AWS CLI v2 from Debian. Called by path: a pip-installed v1 `aws` may come first on PATH. */
export const AWS_CLI = '/usr/bin/aws';
export const CURL = '/usr/bin/curl';
/** The venv's interpreter, which has boto3 (scripts/setup-python.sh). */
export const PYTHON = join(REPO_ROOT, '.venv', 'bin', 'python');
/** The Node that runs the tests (the pinned Node 24), so SDK v3 scripts see the same node_modules. */
export const NODE = process.execPath;

export const DEFAULT_CLIENT_TIMEOUT_MS = 30_000;
/** Bound on captured output per stream; a client that prints more is cut off and the run fails. */
export const MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

/** What an agent has in its environment instead of credentials: well-formed, worthless. Not frozen:
 * the AWS SDK v3 writes a `$source` marker into a credentials object it is given. */
export const PLACEHOLDER_CREDENTIALS: AwsCredentials = {
  accessKeyId: 'AKIAERRANDPLACEHOLDR',
  secretAccessKey: 'errand-placeholder-secret-not-a-credential',
};

/**
 * The AWS variables a client process needs to talk to `endpoint` as `credentials`. AWS_ENDPOINT_URL is
 * honoured by boto3 and SDK v3; Debian's AWS CLI 2.9 predates it, so runAwsCli passes --endpoint-url.
 */
export function awsClientEnv(opts: {
  endpoint: string;
  region: string;
  credentials: AwsCredentials;
}): Record<string, string> {
  const env: Record<string, string> = {
    AWS_ENDPOINT_URL: opts.endpoint,
    AWS_REGION: opts.region,
    AWS_DEFAULT_REGION: opts.region,
    AWS_ACCESS_KEY_ID: opts.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: opts.credentials.secretAccessKey,
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  if (opts.credentials.sessionToken !== undefined) env['AWS_SESSION_TOKEN'] = opts.credentials.sessionToken;
  return env;
}

export interface RunOptions {
  /** Added to the clean base environment (never the test process's own). */
  env?: Readonly<Record<string, string>>;
  timeoutMs?: number;
  /** Written to the client's stdin, which is then closed. */
  input?: string | Uint8Array;
  cwd?: string;
}

export interface RunResult {
  /** Exit code, or null when a signal ended the process. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stdoutBytes: Buffer;
  stderr: string;
  timedOut: boolean;
  durationMs: number;
}

/** A one-line summary for assertion messages: how the client ended and what it said on stderr. */
export function describeRun(command: string, run: RunResult): string {
  const how = run.timedOut ? 'timed out' : run.signal ? `killed by ${run.signal}` : `exit ${run.code}`;
  return `${command}: ${how} after ${Math.round(run.durationMs)} ms; stderr: ${run.stderr.trim().slice(-2000) || '(empty)'}`;
}

/**
 * Runs `command` with a clean environment: PATH without version-manager shims, HOME and the AWS
 * config files in a fresh temporary directory (removed afterwards), the instance metadata service
 * off, and no proxy variables unless `opts.env` sets them.
 */
export async function runProcess(
  command: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  const home = await mkdtemp(join(tmpdir(), 'errand-client-'));
  try {
    const env: Record<string, string> = {
      PATH: '/usr/local/bin:/usr/bin:/bin',
      HOME: home,
      LANG: 'C.UTF-8',
      AWS_CONFIG_FILE: join(home, '.aws', 'config'),
      AWS_SHARED_CREDENTIALS_FILE: join(home, '.aws', 'credentials'),
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_PAGER: '',
      ...opts.env,
    };
    return await spawnAndCollect(command, args, env, opts);
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

function spawnAndCollect(
  command: string,
  args: readonly string[],
  env: Record<string, string>,
  opts: RunOptions,
): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_CLIENT_TIMEOUT_MS;
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, cwd: opts.cwd ?? REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => {
      outBytes += chunk.length;
      if (outBytes > MAX_OUTPUT_BYTES) child.kill('SIGKILL');
      else out.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      errBytes += chunk.length;
      if (errBytes > MAX_OUTPUT_BYTES) child.kill('SIGKILL');
      else err.push(chunk);
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${command}: ${error.message}`, { cause: error }));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const stdoutBytes = Buffer.concat(out);
      resolve({
        code,
        signal,
        stdout: stdoutBytes.toString('utf8'),
        stdoutBytes,
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
        durationMs: performance.now() - started,
      });
    });
    // A client that exits without reading its stdin closes the pipe early: not an error here.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input);
  });
}

/**
 * AWS CLI v2 (`/usr/bin/aws --no-cli-pager …`, JSON output). `endpointUrl` is required on purpose: the
 * CLI ignores AWS_ENDPOINT_URL, and without it a test would call real AWS. Pass null only when the
 * environment routes the CLI elsewhere (HTTPS_PROXY through Errand).
 */
export function runAwsCli(
  args: readonly string[],
  opts: RunOptions & { endpointUrl: string | null },
): Promise<RunResult> {
  const endpoint = opts.endpointUrl === null ? [] : ['--endpoint-url', opts.endpointUrl];
  return runProcess(AWS_CLI, ['--no-cli-pager', '--output', 'json', ...endpoint, ...args], opts);
}

/** Python with boto3: `code` runs as `python -c code args…` (sys.argv[1:] = args). */
export function runBoto3(
  code: string,
  opts: RunOptions & { args?: readonly string[] } = {},
): Promise<RunResult> {
  return runProcess(PYTHON, ['-c', code, ...(opts.args ?? [])], {
    ...opts,
    env: { PYTHONDONTWRITEBYTECODE: '1', ...opts.env },
  });
}

/** curl, silent but showing errors (`curl -sS …`). */
export function runCurl(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return runProcess(CURL, ['-sS', ...args], opts);
}

/**
 * Node running `code` as an ES module (`node --input-type=module -e code args…`; process.argv.slice(1)
 * = args) from the repository root, so `import … from '@aws-sdk/client-s3'` resolves.
 */
export function runNode(
  code: string,
  opts: RunOptions & { args?: readonly string[] } = {},
): Promise<RunResult> {
  return runProcess(NODE, ['--input-type=module', '-e', code, ...(opts.args ?? [])], opts);
}

// Recipes: the same operation through each real client, with one result shape. The direct tests run
// them against moto; the proxy tests run them against Errand with PLACEHOLDER_CREDENTIALS.

export const CLIENTS = ['aws-cli', 'boto3', 'sdk-v3', 'curl'] as const;
export type ClientName = (typeof CLIENTS)[number];

export interface AwsTarget {
  /** Where the client sends its requests: moto directly, or Errand's endpoint. */
  endpoint: string;
  region: string;
  credentials: AwsCredentials;
  /** Extra environment (e.g. proxy variables), added last. */
  env?: Readonly<Record<string, string>>;
  timeoutMs?: number;
}

export interface ClientResult {
  ok: boolean;
  /** The object bytes (getObject) or the JSON response text (getItem) when ok. */
  body: Buffer;
  /** The AWS error code the client reported (AccessDenied, SignatureDoesNotMatch, …) when not ok. */
  errorCode: string | undefined;
  run: RunResult;
}

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
// Exit code the boto3 and SDK v3 scripts use for an AWS error response, after printing `AWS_ERROR <code>`.
const AWS_ERROR_EXIT = 3;

const BOTO3_GET_OBJECT = `
import sys, boto3, botocore.exceptions
try:
    body = boto3.client('s3').get_object(Bucket=sys.argv[1], Key=sys.argv[2])['Body'].read()
except botocore.exceptions.ClientError as e:
    sys.stderr.write('AWS_ERROR %s\\n' % e.response['Error']['Code'])
    sys.exit(${AWS_ERROR_EXIT})
sys.stdout.buffer.write(body)
`;

const BOTO3_GET_ITEM = `
import sys, json, boto3, botocore.exceptions
try:
    response = boto3.client('dynamodb').get_item(TableName=sys.argv[1], Key=json.loads(sys.argv[2]))
except botocore.exceptions.ClientError as e:
    sys.stderr.write('AWS_ERROR %s\\n' % e.response['Error']['Code'])
    sys.exit(${AWS_ERROR_EXIT})
print(json.dumps({'Item': response.get('Item')}))
`;

const SDK_GET_OBJECT = `
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
const [bucket, key] = process.argv.slice(1);
const s3 = new S3Client({});
try {
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  process.stdout.write(await object.Body.transformToByteArray());
} catch (error) {
  if (!error.$metadata) throw error;
  process.stderr.write('AWS_ERROR ' + error.name + '\\n');
  process.exitCode = ${AWS_ERROR_EXIT};
}
`;

const SDK_GET_ITEM = `
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
const [table, key] = process.argv.slice(1);
const dynamodb = new DynamoDBClient({});
try {
  const response = await dynamodb.send(new GetItemCommand({ TableName: table, Key: JSON.parse(key) }));
  process.stdout.write(JSON.stringify({ Item: response.Item }) + '\\n');
} catch (error) {
  if (!error.$metadata) throw error;
  process.stderr.write('AWS_ERROR ' + error.name + '\\n');
  process.exitCode = ${AWS_ERROR_EXIT};
}
`;

/** AWS's encoding of an S3 key in a path: each byte but RFC 3986 unreserved characters and '/' as %XX. */
export function encodeS3Key(key: string): string {
  return key
    .split('/')
    .map((segment) =>
      encodeURIComponent(segment).replace(
        /[!'()*]/g,
        (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
      ),
    )
    .join('/');
}

function targetEnv(target: AwsTarget): Record<string, string> {
  return { ...awsClientEnv(target), ...target.env };
}

function curlAuth(target: AwsTarget, service: string): string[] {
  const c = target.credentials;
  const token = c.sessionToken === undefined ? [] : ['-H', `x-amz-security-token: ${c.sessionToken}`];
  return [
    '--fail-with-body',
    '--path-as-is',
    '--aws-sigv4',
    `aws:amz:${target.region}:${service}`,
    '--user',
    `${c.accessKeyId}:${c.secretAccessKey}`,
    ...token,
  ];
}

function errorCodeOf(client: ClientName, run: RunResult): string | undefined {
  switch (client) {
    case 'aws-cli':
      return /An error occurred \(([^)]+)\)/.exec(run.stderr)?.[1];
    case 'boto3':
    case 'sdk-v3':
      return /^AWS_ERROR (\S+)$/m.exec(run.stderr)?.[1];
    case 'curl':
      return (
        /<Code>([^<]+)<\/Code>/.exec(run.stdout)?.[1] ??
        /"__type"\s*:\s*"(?:[^"#]*#)?([^"]+)"/.exec(run.stdout)?.[1]
      );
  }
}

function result(client: ClientName, run: RunResult, body: Buffer): ClientResult {
  const ok = run.code === 0 && !run.timedOut;
  return { ok, body: ok ? body : Buffer.alloc(0), errorCode: ok ? undefined : errorCodeOf(client, run), run };
}

/** S3 GetObject of `bucket`/`key` with `client`. */
export async function getObject(
  client: ClientName,
  target: AwsTarget,
  bucket: string,
  key: string,
): Promise<ClientResult> {
  const opts = { env: targetEnv(target), ...(target.timeoutMs ? { timeoutMs: target.timeoutMs } : {}) };
  switch (client) {
    case 'aws-cli': {
      const dir = await mkdtemp(join(tmpdir(), 'errand-cli-out-'));
      try {
        const file = join(dir, 'object');
        const run = await runAwsCli(['s3api', 'get-object', '--bucket', bucket, '--key', key, file], {
          ...opts,
          endpointUrl: target.endpoint,
        });
        return result(client, run, run.code === 0 ? await readFile(file) : Buffer.alloc(0));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
    case 'boto3': {
      const run = await runBoto3(BOTO3_GET_OBJECT, { ...opts, args: [bucket, key] });
      return result(client, run, run.stdoutBytes);
    }
    case 'sdk-v3': {
      const run = await runNode(SDK_GET_OBJECT, { ...opts, args: [bucket, key] });
      return result(client, run, run.stdoutBytes);
    }
    case 'curl': {
      // S3 wants x-amz-content-sha256 on every SigV4 request; curl signs it when given.
      const run = await runCurl(
        [
          ...curlAuth(target, 's3'),
          '-H',
          `x-amz-content-sha256: ${EMPTY_SHA256}`,
          '-o',
          '-',
          `${target.endpoint}/${bucket}/${encodeS3Key(key)}`,
        ],
        opts,
      );
      return result(client, run, run.stdoutBytes);
    }
  }
}

/** DynamoDB GetItem; `body` is the JSON text `{"Item": …}` in DynamoDB JSON. */
export async function getItem(
  client: ClientName,
  target: AwsTarget,
  table: string,
  key: Readonly<Record<string, unknown>>,
): Promise<ClientResult> {
  const opts = { env: targetEnv(target), ...(target.timeoutMs ? { timeoutMs: target.timeoutMs } : {}) };
  const keyJson = JSON.stringify(key);
  switch (client) {
    case 'aws-cli': {
      const run = await runAwsCli(['dynamodb', 'get-item', '--table-name', table, '--key', keyJson], {
        ...opts,
        endpointUrl: target.endpoint,
      });
      return result(client, run, run.stdoutBytes);
    }
    case 'boto3': {
      const run = await runBoto3(BOTO3_GET_ITEM, { ...opts, args: [table, keyJson] });
      return result(client, run, run.stdoutBytes);
    }
    case 'sdk-v3': {
      const run = await runNode(SDK_GET_ITEM, { ...opts, args: [table, keyJson] });
      return result(client, run, run.stdoutBytes);
    }
    case 'curl': {
      const run = await runCurl(
        [
          ...curlAuth(target, 'dynamodb'),
          '-H',
          'content-type: application/x-amz-json-1.0',
          '-H',
          'x-amz-target: DynamoDB_20120810.GetItem',
          '--data-binary',
          JSON.stringify({ TableName: table, Key: key }),
          `${target.endpoint}/`,
        ],
        opts,
      );
      return result(client, run, run.stdoutBytes);
    }
  }
}
