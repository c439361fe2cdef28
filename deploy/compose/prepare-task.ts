// The orchestrator's side of a task, for `docker compose up`: seed the emulator with the example's
// objects, then issue the task manifest (examples/summarize-report.yaml with a fresh deadline and the
// emulator's role) signed with a throwaway orchestrator key, and write the signed manifest and the
// public key where Errand (and only Errand) reads them.
//
// It runs in the Errand image (mounted at /app/deploy/compose), so it uses Errand's own manifest code
// and production dependencies. Environment: AWS_ENDPOINT_URL (the emulator), AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_REGION, ERRAND_TASK_DIR (output), TASK_ROLE_ARN, TASK_MINUTES,
// EXAMPLE_MANIFEST.

import { generateKeyPairSync } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { request as undiciRequest } from 'undici';
import { signManifest } from '../../src/manifest/jws.ts';
import { parseSigningKey } from '../../src/manifest/keys.ts';
import { formatProblems, loadManifestText } from '../../src/manifest/load.ts';

export const BUCKET = 'acme-uploads';
/** The granted object and its neighbour, which the agent is refused. */
export const OBJECTS: Readonly<Record<string, string>> = Object.freeze({
  'users/alice/report.pdf': '%PDF-1.4\nreport for alice\n%%EOF\n',
  'users/bob/secret.txt': 'bob: not for alice\n',
});
/** Bound on one call to the emulator. */
const CALL_TIMEOUT_MS = 10_000;

export interface Emulator {
  readonly endpoint: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

/** The example manifest with this task's deadline and role: only those two lines change. */
export function issueManifestText(example: string, opts: { expiresAt: Date; roleArn: string }): string {
  const expiresAt = opts.expiresAt.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const out = example
    .replace(/^(\s*expiresAt:) .*$/m, `$1 ${expiresAt}`)
    .replace(/^(\s*roleArn:) .*$/m, `$1 ${opts.roleArn}`);
  if (!out.includes(`expiresAt: ${expiresAt}`) || !out.includes(`roleArn: ${opts.roleArn}`)) {
    throw new Error('the example manifest has no expiresAt or roleArn line to set');
  }
  return out;
}

/** Signs `text` with a new ES256 key; returns the compact JWS and the public key PEM. */
export async function signWithThrowawayKey(
  text: string,
  now: number,
): Promise<{ readonly jws: string; readonly publicKeyPem: string }> {
  const loaded = loadManifestText(text, { now });
  if (!loaded.ok)
    throw new Error(`the manifest is invalid:\n${formatProblems('task.yaml', loaded.problems)}`);
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const key = parseSigningKey(pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  const jws = await signManifest(loaded, { key, now, alg: 'ES256' });
  return { jws, publicKeyPem: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/** One signed S3 call (path-style) to the emulator; 2xx, or 409 BucketAlreadyOwnedByYou, is success. */
async function callS3(emu: Emulator, method: string, path: string, body: string): Promise<void> {
  const url = new URL(emu.endpoint);
  const signer = new SignatureV4({
    service: 's3',
    region: emu.region,
    sha256: Hash.bind(null, 'sha256'),
    credentials: {
      accessKeyId: emu.accessKeyId,
      secretAccessKey: emu.secretAccessKey,
      ...(emu.sessionToken ? { sessionToken: emu.sessionToken } : {}),
    },
    uriEscapePath: false,
  });
  const request = new HttpRequest({
    method,
    protocol: url.protocol,
    hostname: url.hostname,
    ...(url.port ? { port: Number(url.port) } : {}),
    path,
    headers: { host: url.host, 'content-length': String(Buffer.byteLength(body)) },
    body,
  });
  const signed = await signer.sign(request);
  // undici's request sends the signed Host header as signed (fetch would refuse to set it).
  const response = await undiciRequest(new URL(path, url), {
    method: method as 'PUT',
    headers: signed.headers,
    body,
    headersTimeout: CALL_TIMEOUT_MS,
    bodyTimeout: CALL_TIMEOUT_MS,
  });
  const text = await response.body.text();
  const ok = response.statusCode >= 200 && response.statusCode < 300;
  if (ok || (response.statusCode === 409 && text.includes('BucketAlreadyOwnedByYou'))) return;
  throw new Error(`${method} ${path}: HTTP ${response.statusCode} ${text.slice(0, 300)}`);
}

/** The bucket and both objects. */
export async function seedEmulator(emu: Emulator): Promise<void> {
  await callS3(emu, 'PUT', `/${BUCKET}`, '');
  for (const [key, body] of Object.entries(OBJECTS)) {
    await callS3(emu, 'PUT', `/${BUCKET}/${key}`, body);
  }
}

async function writeAtomically(file: string, text: string): Promise<void> {
  await writeFile(`${file}.tmp`, text, { mode: 0o644 });
  await rename(`${file}.tmp`, file);
}

export async function prepareTask(env: Readonly<Record<string, string | undefined>>): Promise<string> {
  const need = (name: string): string => {
    const value = env[name];
    if (!value) throw new Error(`${name} is not set`);
    return value;
  };
  const emu: Emulator = {
    endpoint: need('AWS_ENDPOINT_URL'),
    region: env['AWS_REGION'] ?? 'us-east-1',
    accessKeyId: need('AWS_ACCESS_KEY_ID'),
    secretAccessKey: need('AWS_SECRET_ACCESS_KEY'),
    ...(env['AWS_SESSION_TOKEN'] ? { sessionToken: env['AWS_SESSION_TOKEN'] } : {}),
  };
  const dir = need('ERRAND_TASK_DIR');
  // 1. The emulator's data.
  await seedEmulator(emu);
  // 2. The manifest for this task, signed by the (throwaway) orchestrator key.
  const now = Date.now();
  const example = await readFile(env['EXAMPLE_MANIFEST'] ?? '/app/examples/summarize-report.yaml', 'utf8');
  const text = issueManifestText(example, {
    expiresAt: new Date(now + Number(env['TASK_MINUTES'] ?? '60') * 60_000),
    roleArn: need('TASK_ROLE_ARN'),
  });
  const { jws, publicKeyPem } = await signWithThrowawayKey(text, now);
  // 3. Where Errand reads them; the private key is never written.
  await writeAtomically(join(dir, 'trust-key.pem'), publicKeyPem);
  await writeAtomically(join(dir, 'task.jws'), `${jws}\n`);
  return `prepare-task: seeded s3://${BUCKET} at ${emu.endpoint}; wrote ${dir}/task.jws and trust-key.pem`;
}

if (import.meta.main) {
  try {
    process.stdout.write(`${await prepareTask(process.env)}\n`);
  } catch (error) {
    process.stderr.write(`prepare-task: ${(error as Error).message}\n`);
    process.exitCode = 1;
  }
}
