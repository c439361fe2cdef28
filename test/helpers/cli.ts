import type { CliIo } from '../../src/cli/io.ts';

/** A CliIo that captures output, for running `main()` in-process. */
export const captureIo = (env: Record<string, string | undefined> = {}) => {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    stdout: (s) => void out.push(s),
    stderr: (s) => void err.push(s),
    env,
    cwd: process.cwd(),
  };
  return { io, out: () => out.join(''), err: () => err.join('') };
};
