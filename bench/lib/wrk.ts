import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

// Throughput with wrk (Debian package), pinned to the load core. The Lua script only sets the
// request line and headers; wrk's own output is parsed, and a run with any non-2xx answer or socket
// error is refused: a fast deny must never pass for throughput.

const run = promisify(execFile);

export interface WrkResult {
  readonly requests: number;
  readonly seconds: number;
  readonly rps: number;
  readonly non2xx: number;
  /** Connections the server closed after an answer without saying so (tinyproxy does, by design). */
  readonly readErrors: number;
  /** connect, write and timeout errors. */
  readonly otherErrors: number;
}

const UNITS: Readonly<Record<string, number>> = { us: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };

/** Parses wrk's summary ("N requests in 2.00s, …", "Requests/sec: …", error lines). */
export function parseWrkOutput(text: string): WrkResult {
  const total = /^\s*(\d+) requests in ([0-9.]+)(us|ms|s|m|h),/m.exec(text);
  const rps = /^Requests\/sec:\s+([0-9.]+)/m.exec(text);
  if (!total || !rps) throw new Error(`wrk output not understood: ${text.slice(0, 300)}`);
  const non2xx = Number(/^\s*Non-2xx or 3xx responses: (\d+)/m.exec(text)?.[1] ?? 0);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const counts = errors ? errors.slice(1, 5).map(Number) : [0, 0, 0, 0];
  return {
    requests: Number(total[1]),
    seconds: Number(total[2]) * (UNITS[total[3]!] ?? 1),
    rps: Number(rps[1]),
    non2xx,
    readErrors: counts[1]!,
    otherErrors: counts[0]! + counts[2]! + counts[3]!,
  };
}

/** A Lua script for wrk: fixed method, path (absolute-form for a forward proxy) and headers. */
export function wrkScript(path: string, headers: Readonly<Record<string, string>>): string {
  const lua = (s: string) => JSON.stringify(s); // a JSON string is a valid Lua string literal here
  const lines = [`wrk.method = "GET"`, `wrk.path = ${lua(path)}`];
  for (const [name, value] of Object.entries(headers)) {
    // wrk adds its own "Host" unless the script sets that exact key: a lower-case one would be a second Host.
    const key = name.toLowerCase() === 'host' ? 'Host' : name;
    lines.push(`wrk.headers[${lua(key)}] = ${lua(value)}`);
  }
  return `${lines.join('\n')}\n`;
}

export interface WrkOptions {
  readonly cpu: number;
  /** The URL wrk connects to (scheme, host, port); the script sets the request-target. */
  readonly url: string;
  readonly script: string;
  readonly connections: number;
  readonly seconds: number;
  readonly dir: string;
  /** Accept read errors (a server that closes each connection after its answer); default false. */
  readonly closesConnections?: boolean;
}

export async function runWrk(o: WrkOptions): Promise<WrkResult> {
  const scriptFile = join(o.dir, `wrk-${process.pid}-${Date.now()}.lua`);
  await writeFile(scriptFile, o.script);
  const { stdout } = await run(
    'taskset',
    [
      '-c',
      String(o.cpu),
      'wrk',
      '-t1',
      `-c${o.connections}`,
      `-d${o.seconds}s`,
      '--timeout',
      '5s',
      '-s',
      scriptFile,
      o.url,
    ],
    { timeout: (o.seconds + 30) * 1000 },
  );
  const result = parseWrkOutput(stdout);
  const readErrors = o.closesConnections ? 0 : result.readErrors;
  if (result.non2xx + result.otherErrors + readErrors > 0) {
    throw new Error(
      `wrk against ${o.url}: ${result.non2xx} non-2xx answers, ${result.readErrors} read and ${result.otherErrors} other socket errors`,
    );
  }
  return result;
}
