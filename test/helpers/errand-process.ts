// `errand run` as the pod runs it, for fault tests: a real child process with a signed manifest, its own
// environment (never the test's), its ports from the OS, and handles to kill it the hard way.

import { type ChildProcess, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exportJWK, exportSPKI, generateKeyPair } from 'jose';
import { main } from '../../src/cli/main.ts';
import { captureIo } from './cli.ts';
import { REPO_ROOT } from './moto.ts';
import { freePort } from './ports.ts';

export const ERRAND_BIN = join(REPO_ROOT, 'bin', 'errand.js');

export interface SignedTask {
  readonly manifest: string;
  readonly trustKey: string;
  /** Signs another manifest text with the same key (H3: a replacement the orchestrator "signed"). */
  sign(yaml: string, file: string): Promise<void>;
}

/** Writes `yaml` to dir/task.yaml, a fresh ES256 key pair, and the JWS Errand runs (dir/task.jws). */
export async function signTask(dir: string, yaml: string): Promise<SignedTask> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const keyFile = join(dir, 'key.jwk');
  await writeFile(keyFile, JSON.stringify(await exportJWK(privateKey)));
  await writeFile(join(dir, 'pub.pem'), await exportSPKI(publicKey));
  const sign = async (text: string, file: string) => {
    const source = `${file}.yaml`;
    await writeFile(source, text);
    const io = captureIo();
    if ((await main(['manifest', 'sign', source, '--key', keyFile], io.io)) !== 0) throw new Error(io.err());
    await writeFile(file, io.out());
  };
  await sign(yaml, join(dir, 'task.jws'));
  return { manifest: join(dir, 'task.jws'), trustKey: join(dir, 'pub.pem'), sign };
}

export interface RunningErrand {
  readonly child: ChildProcess;
  readonly awsPort: number;
  readonly opsPort: number;
  readonly endpoint: string;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (null when killed by a signal) and the signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL: no handler runs, nothing is flushed (the crash under test). */
  kill9(): Promise<void>;
  /** SIGTERM and wait. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `errand run` with `args` plus loopback listeners on free ports. `env` is the whole
 *  environment of the child (PATH added). */
export async function spawnErrand(
  args: readonly string[],
  env: Readonly<Record<string, string>>,
  ports: { aws?: number; ops?: number } = {},
): Promise<RunningErrand> {
  const awsPort = ports.aws ?? (await freePort());
  const opsPort = ports.ops ?? (await freePort());
  let out = '';
  let err = '';
  const child = spawn(
    process.execPath,
    [ERRAND_BIN, 'run', ...args, '--listen', `127.0.0.1:${awsPort}`, '--ops-listen', `127.0.0.1:${opsPort}`],
    { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr!.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    awsPort,
    opsPort,
    endpoint: `http://127.0.0.1:${awsPort}`,
    stdout: () => out,
    stderr: () => err,
    exited,
    async kill9() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Polls /readyz?verbose until 200 (or the deadline, or the process exits); returns the last answer. */
export async function waitReady(
  e: RunningErrand,
  deadlineMs = 20_000,
  /** Stop early on this answer too (e.g. a failed check that is no longer "starting"). */
  settled: (r: { status: number; body: string }) => boolean = () => false,
): Promise<{ status: number; body: string }> {
  const until = Date.now() + deadlineMs;
  let last = { status: 0, body: '' };
  let gone = false;
  void e.exited.then(() => {
    gone = true;
  });
  while (Date.now() < until && !gone) {
    try {
      const r = await fetch(`http://127.0.0.1:${e.opsPort}/readyz?verbose`);
      last = { status: r.status, body: await r.text() };
      if (r.status === 200 || settled(last)) return last;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return last;
}

/** Audit records of a JSONL file; torn lines are returned as { torn: line }. */
export const parseAudit = (text: string): Record<string, unknown>[] =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return { torn: l };
      }
    });
