// What a command may touch: its arguments arrive separately; output goes through here so tests can
// capture it without spawning a process.
export interface CliIo {
  readonly stdout: (text: string) => void;
  /** Bytes for stdout, valid during the call only (the audit echo hands a reused buffer); absent:
   *  they go through `stdout` as UTF-8 text. */
  readonly stdoutBytes?: (bytes: Uint8Array) => void;
  readonly stderr: (text: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
}

export type Command = (argv: readonly string[], io: CliIo) => Promise<number>;

export const processIo = (): CliIo => ({
  stdout: (text) => process.stdout.write(text),
  // A copy: a pipe that is full queues the chunk, and the caller reuses its buffer.
  stdoutBytes: (bytes) => process.stdout.write(Buffer.from(bytes)),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  cwd: process.cwd(),
});
