import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { ErrandError } from '../errors.ts';
import { DurableAppender } from './durable-appender.ts';

// One JSON line per decision (allow, deny, error) and one per completed forward, each carrying the
// SHA-256 of the previous line, so `errand audit verify` finds a removed, reordered or edited record.
// Fields follow OCSF API Activity where one fits (time, activity, status, actor, api, src/dst) plus
// Errand's own (decision, reason, grant ids, manifest hash).
//
// Every run opens the log with an `audit_opened` record, written and synced before anything is served:
// a log that cannot be written stops Errand at start instead of at the first request. When the last
// run died mid-write (kill -9, OOM, node loss), the file ends in a torn line; the opening record then
// re-anchors the chain on the last whole record and names the torn bytes by hash, so `audit verify`
// reports the tear precisely and still checks everything after it (docs/operations.md).

export const AUDIT_SCHEMA_VERSION = 1;
const MAX_STRING = 1024;
/** How much of the end of an existing log is read at start to find the last whole record. */
const TAIL_WINDOW_BYTES = 1024 * 1024;
/** A re-anchoring record covers at most this many torn lines (one per crash in a row). */
export const MAX_TORN_LINES = 16;

export type AuditFields = Record<string, unknown>;

/** Length-caps every string and drops undefined, so a hostile value cannot bloat or break a record. */
export function capStrings(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return value.length > MAX_STRING ? `${value.slice(0, MAX_STRING)}…` : value;
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.slice(0, 1000).map((v) => capStrings(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = capStrings(v, depth + 1);
  return out;
}

export const genesisHash = (manifestSha256: string): string =>
  createHash('sha256').update(`errand-audit-genesis:${manifestSha256}`).digest('hex');

export const lineHash = (line: string): string => createHash('sha256').update(line).digest('hex');

/** A line that is a whole audit record (what a torn write never is, but for its last byte). */
export function parseRecord(line: string): { seq: number; prev: string; [k: string]: unknown } | undefined {
  try {
    const r = JSON.parse(line) as unknown;
    if (typeof r !== 'object' || r === null || Array.isArray(r)) return undefined;
    const { seq, prev } = r as { seq?: unknown; prev?: unknown };
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || typeof prev !== 'string') return undefined;
    return r as { seq: number; prev: string };
  } catch {
    return undefined;
  }
}

/** What a torn write left at the end of the log: the lines after the last whole record. */
export interface TornTail {
  /** The last whole, newline-terminated record, if any. */
  readonly anchor: string | undefined;
  /** The torn lines after it (the last one possibly unterminated), as verify will read them. */
  readonly torn: readonly string[];
  /** True when the file does not end with a newline (the torn line must be closed first). */
  readonly unterminated: boolean;
}

/** Splits the end of a log into its last whole record and what a crash left after it. Pure. A line
 *  without its newline is torn even when it parses: its write never completed, so its request was
 *  never forwarded (forwarding waits for the synced record). */
export function findTornTail(text: string): TornTail {
  const lines = text.split('\n');
  const fragment = lines.pop() ?? '';
  const torn = fragment === '' ? [] : [fragment];
  while (lines.length > 0) {
    const line = lines.at(-1)!;
    if (parseRecord(line) !== undefined) return { anchor: line, torn, unterminated: fragment !== '' };
    torn.unshift(line);
    lines.pop();
  }
  return { anchor: undefined, torn, unterminated: fragment !== '' };
}

/** Reads the end of an existing log (regular files only: /dev/full or a pipe has no end to read). */
async function readTail(file: string): Promise<string> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw error;
  }
  try {
    const { size, isFile } = await handle.stat().then((s) => ({ size: s.size, isFile: s.isFile() }));
    if (!isFile || size === 0) return '';
    const tryWindow = async (start: number): Promise<string> => {
      const buf = Buffer.alloc(size - start);
      await handle.read(buf, 0, buf.length, start);
      const text = buf.toString('utf8');
      // A window that starts mid-file starts mid-line: drop the partial first line.
      return start === 0 ? text : text.slice(text.indexOf('\n') + 1);
    };
    const start = Math.max(0, size - TAIL_WINDOW_BYTES);
    const text = await tryWindow(start);
    // Pathological: more than a window of torn bytes; read it all rather than guess.
    if (start > 0 && findTornTail(text).anchor === undefined) return tryWindow(0);
    return text;
  } finally {
    await handle.close();
  }
}

export interface AuditSink {
  /** Durable record: resolves once on disk. Rejects when the log cannot be written (callers fail closed). */
  write(fields: AuditFields): Promise<void>;
  readonly healthy: boolean;
  close(): Promise<void>;
}

export class AuditLog implements AuditSink {
  #appender: DurableAppender | undefined;
  #prev: string;
  #seq = 0;
  #echo: ((line: string) => void) | undefined;
  #now: () => number;
  /** The first append closes a torn line left by the previous run. */
  #closeTornLine = false;

  private constructor(
    appender: DurableAppender | undefined,
    prev: string,
    seq: number,
    echo: ((line: string) => void) | undefined,
    now: () => number,
  ) {
    this.#appender = appender;
    this.#prev = prev;
    this.#seq = seq;
    this.#echo = echo;
    this.#now = now;
  }

  /** Opens (or continues) the chain in `file` and writes the run's `audit_opened` record. Rejects
   *  with ERR_AUDIT_UNAVAILABLE when that record cannot be written: Errand must not serve then.
   *  `lastLine` continues an echo-only log (no file); with a file, the file's own end decides. */
  static async open(opts: {
    file: string | undefined;
    manifestSha256: string;
    echo?: (line: string) => void;
    now?: () => number;
    lastLine?: string;
  }): Promise<AuditLog> {
    const now = opts.now ?? Date.now;
    if (opts.file === undefined) {
      const last = opts.lastLine ? parseRecord(opts.lastLine) : undefined;
      return last && opts.lastLine
        ? new AuditLog(undefined, lineHash(opts.lastLine), last.seq, opts.echo, now)
        : new AuditLog(undefined, genesisHash(opts.manifestSha256), 0, opts.echo, now);
    }
    const file = opts.file;
    const unavailable = (error: unknown) =>
      new ErrandError(
        'ERR_AUDIT_UNAVAILABLE',
        `${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
        {
          cause: error,
        },
      );
    let tail: TornTail;
    let appender: DurableAppender;
    try {
      tail = findTornTail(await readTail(file));
      appender = await DurableAppender.open(file);
    } catch (error) {
      throw unavailable(error);
    }
    const anchor = tail.anchor === undefined ? undefined : parseRecord(tail.anchor);
    const log = new AuditLog(
      appender,
      tail.anchor === undefined ? genesisHash(opts.manifestSha256) : lineHash(tail.anchor),
      anchor?.seq ?? 0,
      opts.echo,
      now,
    );
    log.#closeTornLine = tail.unterminated;
    const tornText = tail.torn.join('\n');
    try {
      await log.write({
        event: 'audit_opened',
        manifest_sha256: opts.manifestSha256,
        ...(tail.torn.length > 0
          ? {
              reason: 'torn_write',
              torn: {
                lines: tail.torn.length,
                bytes: Buffer.byteLength(tornText),
                sha256: lineHash(tornText),
              },
            }
          : {}),
      });
    } catch (error) {
      await appender.close().catch(() => undefined);
      throw unavailable(error);
    }
    return log;
  }

  get healthy(): boolean {
    return !this.#appender?.failed;
  }

  write(fields: AuditFields): Promise<void> {
    this.#seq += 1;
    const record = capStrings({
      v: AUDIT_SCHEMA_VERSION,
      seq: this.#seq,
      time: new Date(this.#now()).toISOString(),
      prev: this.#prev,
      ...fields,
    });
    const line = JSON.stringify(record);
    this.#prev = lineHash(line);
    this.#echo?.(line);
    if (!this.#appender) return Promise.resolve();
    // One write: the newline that closes the torn line and the record that re-anchors after it.
    const text = this.#closeTornLine ? `\n${line}` : line;
    this.#closeTornLine = false;
    return this.#appender.append(text);
  }

  async close(): Promise<void> {
    await this.#appender?.close();
  }
}
