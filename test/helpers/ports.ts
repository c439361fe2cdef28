// Loopback ports for test servers. Tests bind 127.0.0.1 only and take their ports from the OS
// (listen on port 0), never from a fixed list, so test files can run in parallel.

import { createServer, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export const LOOPBACK = '127.0.0.1';

/**
 * Asks the OS for a free TCP port on 127.0.0.1 by listening on port 0, then releases it.
 * Another process can take the port between this call and its use: a caller that hands the port
 * to a child server must detect a failed bind and retry (startMoto does).
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: LOOPBACK, port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('the OS returned no TCP address for a listener on port 0'));
        return;
      }
      server.close((error) => (error ? reject(error) : resolve(address.port)));
    });
  });
}

/** Resolves true when a TCP connection to host:port succeeds within timeoutMs, false otherwise. */
export function canConnect(port: number, host = LOOPBACK, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.connect({ host, port }, () => done(true));
  });
}

export interface WaitOptions {
  /** Give up after this long (ms). */
  timeoutMs: number;
  /** Pause between attempts (ms). */
  intervalMs?: number;
  /** Checked before each attempt: a reason to stop waiting (e.g. the server process exited). */
  abandon?: () => string | undefined;
}

/**
 * Polls `probe` until it returns true. Throws, naming `what`, when the timeout passes or `abandon`
 * gives a reason, so a server that never comes up fails a test quickly and says why.
 */
export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  opts: WaitOptions,
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  const interval = opts.intervalMs ?? 50;
  for (;;) {
    const reason = opts.abandon?.();
    if (reason !== undefined) throw new Error(`${what}: ${reason}`);
    if (await probe()) return;
    if (Date.now() >= deadline) throw new Error(`${what}: not ready after ${opts.timeoutMs} ms`);
    await sleep(interval);
  }
}

/**
 * A server that never answers: every connection is dropped at once (the client sees ECONNRESET).
 * For an endpoint that must be unreachable, this holds its port for the whole test, where a port
 * from freePort() could be taken by another test's server in the meantime. Returns its port and a
 * close function.
 */
export async function droppingServer(): Promise<{ port: number; close: () => void }> {
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen({ host: LOOPBACK, port: 0 }, resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address for the server');
  return { port: address.port, close: () => server.close() };
}
