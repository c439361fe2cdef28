import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { createInterface } from 'node:readline';

// Child processes of one benchmark run, each pinned to one core with taskset, owned by one object
// that stops every one of them (TERM, then KILL) when the run ends, however it ends.

export interface Started {
  readonly child: ChildProcess;
  readonly pid: number;
  /** The line that said the process is ready, and its JSON value when it is one. */
  readonly readyLine: string;
  readonly ready: Record<string, unknown>;
}

const STOP_GRACE_MS = 3000;
/** Readiness polling interval: the resolution of a start-to-ready measurement. */
export const POLL_MS = 2;

export class Children {
  readonly #children = new Set<ChildProcess>();

  /** Starts `command` pinned to `cpu` and waits for a line matching `ready` on its stdout. */
  async start(
    name: string,
    cpu: number,
    command: string,
    args: readonly string[],
    opts: {
      env?: NodeJS.ProcessEnv;
      /** Ready when a stdout line matches (default: a {"ready":true…} JSON line). */
      ready?: RegExp;
      /** Or: stdout goes to this file (as a container runtime would take it) and readiness is polled. */
      stdoutFile?: string;
      probe?: () => Promise<boolean>;
      timeoutMs?: number;
    } = {},
  ): Promise<Started> {
    const out = opts.stdoutFile === undefined ? 'pipe' : openSync(opts.stdoutFile, 'a', 0o600);
    const child = spawn('taskset', ['-c', String(cpu), command, ...args], {
      env: opts.env ?? process.env,
      stdio: ['ignore', out, 'pipe'],
    });
    if (typeof out === 'number') closeSync(out);
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => {
      stderr = (stderr + c.toString('utf8')).slice(-4000);
    });
    const timeoutMs = opts.timeoutMs ?? 15_000;
    if (opts.probe !== undefined) {
      child.stdout?.resume();
      await this.#poll(name, child, opts.probe, timeoutMs, () => stderr);
      return { child, pid: child.pid!, readyLine: '', ready: {} };
    }
    const pattern = opts.ready ?? /^\{"ready":true.*\}$/;
    const lines = createInterface({ input: child.stdout! });
    const readyLine = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${name} was not ready within ${timeoutMs} ms: ${stderr.trim()}`)),
        timeoutMs,
      );
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${name} exited (${code}) before it was ready: ${stderr.trim()}`));
      });
      lines.on('line', (line) => {
        if (!pattern.test(line)) return;
        clearTimeout(timer);
        resolve(line);
      });
    });
    let ready: Record<string, unknown> = {};
    try {
      ready = readyLine.startsWith('{') ? (JSON.parse(readyLine) as Record<string, unknown>) : {};
    } catch {
      // not JSON: the line itself is what the caller matched
    }
    // Keep draining stdout so a chatty child never blocks on a full pipe.
    lines.removeAllListeners('line');
    child.stdout?.resume();
    return { child, pid: child.pid!, readyLine, ready };
  }

  async #poll(
    name: string,
    child: ChildProcess,
    probe: () => Promise<boolean>,
    timeoutMs: number,
    stderr: () => string,
  ): Promise<void> {
    const until = performance.now() + timeoutMs;
    while (performance.now() < until) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(
          `${name} exited (${child.exitCode ?? child.signalCode}) before it was ready: ${stderr().trim()}`,
        );
      if (await probe().catch(() => false)) return;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    throw new Error(`${name} was not ready within ${timeoutMs} ms: ${stderr().trim()}`);
  }

  /** Stops one child: SIGTERM, then SIGKILL after a grace period. */
  async stop(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.#children].map((c) => this.stop(c)));
  }
}

/** A port free on 127.0.0.1 right now (for a child that must be told its port in advance). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
