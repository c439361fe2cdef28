import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DOCKERFILE, imageNodeOptions } from './image.ts';
import { type Children, freePort, type Started } from './processes.ts';

// Errand as it runs in a pod: `bin/errand.js run` as its own process, with a manifest signed by a
// key made for this run (the production path: JWS verified with --trust-key), its task STS session
// minted from the bench STS stand-in, the audit log and use journal on disk in the run's directory.

const execFileP = promisify(execFile);

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ERRAND_BIN = join(REPO, 'bin', 'errand.js');
export const BUCKET = 'bench-bucket';
export const SMALL_PATH = `/${BUCKET}/small.txt`;
export const bigPath = (bytes: number): string => `/${BUCKET}/big/${bytes}.bin`;

/** What an SDK sends with a GetObject to an endpoint URL (placeholder keys: Errand signs). */
export const AGENT_GET_HEADERS: Readonly<Record<string, string>> = {
  'user-agent': 'aws-sdk-js/3 bench',
  'x-amz-content-sha256': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  'x-amz-date': '20261129T120000Z',
  'amz-sdk-invocation-id': '00000000-0000-4000-8000-000000000000',
  'amz-sdk-request': 'attempt=1; max=3',
  authorization:
    'AWS4-HMAC-SHA256 Credential=AKIAPLACEHOLDER0000/20261129/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000',
};

/** The task manifest of the benchmark: exact grants, unlimited uses (a use counter would end the
 *  run; counting is measured with the decision benchmark). */
export function benchManifest(
  expiresAt: Date,
  bigSizes: readonly number[],
  roleArn = 'arn:aws:iam::123456789012:role/errand-task',
  httpGrantUrl?: string,
): string {
  const iso = expiresAt.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const big = bigSizes.map((n) => `"arn:aws:s3:::${BUCKET}/big/${n}.bin"`).join(', ');
  return `apiVersion: errand.dev/v1
kind: TaskManifest
task:
  id: tsk_bench
  purpose: Measure what Errand costs in the data path
  user: { subject: bench@example.com, session: sess_bench }
  expiresAt: ${iso}
aws:
  region: us-east-1
  roleArn: ${roleArn}
  grants:
    - { id: get-small, action: s3:GetObject, resource: "arn:aws:s3:::${BUCKET}/small.txt", uses: unlimited }
${
  bigSizes.length > 0
    ? `    - { id: put-big, action: s3:PutObject, resource: [${big}], uses: unlimited }
    - { id: get-big, action: s3:GetObject, resource: [${big}], uses: unlimited }
`
    : ''
}${
  httpGrantUrl
    ? `http:
  grants:
    - id: get-small-http
      method: GET
      url: ${httpGrantUrl}
      uses: unlimited
      unsafeAllowPlainHttp: true
      unsafeAllowPrivateAddress: true
`
    : ''
}`;
}

export interface SignedManifest {
  readonly jwsFile: string;
  readonly trustKeyFile: string;
}

/** Writes the manifest, a fresh Ed25519 key pair, and the JWS `errand manifest sign` makes of them. */
export async function signBenchManifest(dir: string, yaml: string, node: string): Promise<SignedManifest> {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const source = join(dir, 'task.yaml');
  const keyFile = join(dir, 'orchestrator.key.pem');
  const trustKeyFile = join(dir, 'orchestrator.pub.pem');
  await writeFile(source, yaml);
  await writeFile(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  await writeFile(trustKeyFile, publicKey.export({ type: 'spki', format: 'pem' }));
  const { stdout } = await execFileP(node, [ERRAND_BIN, 'manifest', 'sign', source, '--key', keyFile]);
  const jwsFile = join(dir, 'task.jws');
  await writeFile(jwsFile, stdout);
  return { jwsFile, trustKeyFile };
}

/** Which Errand a scenario runs, its extra environment, and the sentence its results say about it. */
export interface ErrandEntry {
  readonly entry: string;
  readonly env: Readonly<Record<string, string>>;
  /** Node flags before the script, as the image's ENTRYPOINT has them. */
  readonly execArgv: readonly string[];
  readonly note: string;
}

/** Node flags for Errand's process: none, as the image's ENTRYPOINT (deploy/Dockerfile). BENCH_NODE_FLAGS
 *  adds some for an A/B, e.g. BENCH_NODE_FLAGS=--max-semi-space-size=1 (docs/decisions/0007-v8-young-generation.md);
 *  flags on the command line win over the same flags in NODE_OPTIONS. */
export const imageExecArgv = (env: NodeJS.ProcessEnv = process.env): readonly string[] =>
  (env['BENCH_NODE_FLAGS'] ?? '').split(' ').filter((f) => f !== '');

/** The startErrand options that run this entry. */
export const runsAs = (e: ErrandEntry): Pick<ErrandOptions, 'entry' | 'entryEnv' | 'execArgv'> => ({
  entry: e.entry,
  entryEnv: e.env,
  execArgv: e.execArgv,
});

const flagNote = (env: NodeJS.ProcessEnv, nodeOptions: string): string => {
  const flags = imageExecArgv(env);
  return `, NODE_OPTIONS=${nodeOptions} as the image sets it${flags.length === 0 ? '' : `, with node ${flags.join(' ')} (BENCH_NODE_FLAGS)`}`;
};

/** The bundle as the image runs it: dist/errand.mjs built now from this checkout (never stale),
 *  with a compile cache warmed by `node` as the image warms its own (deploy/Dockerfile). The sources
 *  (bin/errand.js) when BENCH_ERRAND=sources or when the build fails. */
export async function errandEntry(node: string, env: NodeJS.ProcessEnv = process.env): Promise<ErrandEntry> {
  const nodeOptions = imageNodeOptions(await readFile(DOCKERFILE, 'utf8'));
  if (env['BENCH_ERRAND'] === 'sources') {
    return {
      entry: ERRAND_BIN,
      env: { NODE_OPTIONS: nodeOptions },
      execArgv: imageExecArgv(env),
      note: `measured: the sources, bin/errand.js (BENCH_ERRAND=sources)${flagNote(env, nodeOptions)}`,
    };
  }
  try {
    const { buildBundle } = await import('../../scripts/build.ts');
    const dist = join(REPO, 'dist');
    const built = await buildBundle(dist);
    const cache = join(REPO, '.cache', 'bench-compile-cache');
    await rm(cache, { recursive: true, force: true });
    await execFileP(node, [join(REPO, 'scripts', 'warm-compile-cache.mjs'), dist, cache], {
      env: { ...process.env, NODE_OPTIONS: nodeOptions },
    });
    return {
      entry: built.file,
      env: { NODE_COMPILE_CACHE: cache, NODE_OPTIONS: nodeOptions },
      execArgv: imageExecArgv(env),
      note: `measured: the bundle dist/errand.mjs with its warmed compile cache, as the image runs it, built from this checkout for the run${flagNote(env, nodeOptions)}`,
    };
  } catch (error) {
    return {
      entry: ERRAND_BIN,
      env: { NODE_OPTIONS: nodeOptions },
      execArgv: imageExecArgv(env),
      note: `measured: the sources, bin/errand.js${flagNote(env, nodeOptions)} (the bundle could not be built: ${(error as Error).message.split('\n')[0]})`,
    };
  }
}

export interface ErrandOptions {
  readonly node: string;
  /** The script node runs: bin/errand.js (default) or the bundle (see errandEntry). */
  readonly entry?: string;
  /** More environment for Errand's process (errandEntry's compile cache). */
  readonly entryEnv?: Readonly<Record<string, string>>;
  /** Node flags before the script (errandEntry's execArgv). */
  readonly execArgv?: readonly string[];
  readonly cpu: number;
  readonly dir: string;
  readonly manifest: SignedManifest;
  /** Errand's AWS environment: source credentials and endpoints (see standInEnv). */
  readonly awsEnv: Readonly<Record<string, string>>;
  readonly upstreamCaFile?: string;
  readonly name?: string;
  readonly timeoutMs?: number;
  /** Where the state directory (audit log, use journal) goes; default the run directory. */
  readonly stateRoot?: string;
  /** Also listen as the forward proxy (--proxy-listen), writing the pod CA to --ca-dir. */
  readonly proxy?: boolean;
}

export interface RunningErrand extends Started {
  readonly port: number;
  readonly opsPort: number;
  /** The forward proxy's port and the pod CA file, when started with `proxy`. */
  readonly proxyPort?: number;
  readonly caFile?: string;
}

/** Source credentials and endpoints for an Errand whose STS is the bench stand-in. */
export const standInEnv = (stsUrl: string, s3Url: string): Record<string, string> => ({
  AWS_ACCESS_KEY_ID: 'AKIABENCHSOURCE00000',
  AWS_SECRET_ACCESS_KEY: 'benchSourceSecretKey/0123456789abcdefghijkl',
  AWS_REGION: 'us-east-1',
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_ENDPOINT_URL_STS: stsUrl,
  AWS_ENDPOINT_URL_S3: s3Url,
});

/** /readyz answers 200: the manifest is live, the STS session minted, the audit log writable. */
export function isReady(opsPort: number): Promise<boolean> {
  // A fresh connection per probe (agent: false): a pooled one would outlive the Errand it was made to.
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port: opsPort, path: '/readyz', agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
  });
}

/** Starts `errand run` pinned to a core, stdout to a file in the run directory (as a container
 *  runtime collects it); ready when /readyz says so. */
export async function startErrand(children: Children, o: ErrandOptions): Promise<RunningErrand> {
  const name = o.name ?? 'errand';
  const state = join(o.stateRoot ?? o.dir, `state-${name}-${Date.now()}`);
  const [port, opsPort] = [await freePort(), await freePort()];
  const proxyPort = o.proxy ? await freePort() : undefined;
  const caDir = join(state, 'ca');
  const started = await children.start(
    name,
    o.cpu,
    o.node,
    [
      ...(o.execArgv ?? []),
      o.entry ?? ERRAND_BIN,
      'run',
      '--manifest',
      o.manifest.jwsFile,
      '--trust-key',
      o.manifest.trustKeyFile,
      '--listen',
      `127.0.0.1:${port}`,
      '--ops-listen',
      `127.0.0.1:${opsPort}`,
      '--state-dir',
      state,
      '--log-level',
      'error',
      ...(o.upstreamCaFile ? ['--upstream-ca-file', o.upstreamCaFile] : []),
      ...(proxyPort ? ['--proxy-listen', `127.0.0.1:${proxyPort}`, '--ca-dir', caDir] : []),
    ],
    {
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...o.entryEnv, ...o.awsEnv },
      stdoutFile: join(o.dir, `${name}-stdout.log`),
      probe: () => isReady(opsPort),
      timeoutMs: o.timeoutMs ?? 20_000,
    },
  );
  return {
    ...started,
    port,
    opsPort,
    ...(proxyPort ? { proxyPort, caFile: join(caDir, 'ca.pem') } : {}),
  };
}
