import { createHash, hash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { ErrandError } from '../errors.ts';
import { type Datasync, DurableAppender } from './durable-appender.ts';

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

/** True when capStrings would change what JSON.stringify writes (a long string or array, or nesting
 *  past its depth): most records need no copy. Walks without allocating. */
export function needsCap(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return value.length > MAX_STRING;
  if (depth > 6 || value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) {
    if (value.length > 1000) return true;
    for (const v of value) if (needsCap(v, depth + 1)) return true;
    return false;
  }
  for (const k in value) if (needsCap((value as Record<string, unknown>)[k], depth + 1)) return true;
  return false;
}

export const genesisHash = (manifestSha256: string): string =>
  createHash('sha256').update(`errand-audit-genesis:${manifestSha256}`).digest('hex');

/** SHA-256 of a line, hex: one-shot (crypto.hash), no Hash object per record. */
export const lineHash = (line: string): string => hash('sha256', line, 'hex');

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
 *  never forwarded (forwarding waits for the written record). */
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

/** When a record counts as written: `batch` once write(2) returned (survives a crash of Errand; the
 *  disk follows within one background fdatasync), `each` once fdatasync returned (survives power loss,
 *  costs about a millisecond per request on a common disk). docs/decisions/0003-audit-durability.md. */
export type AuditSync = 'batch' | 'each';

export interface WriteOptions {
  /** A record that gates nothing (a result): never waits for a sync of its own, in either mode, and
   *  reaches the kernel with the next record's write or at the end of the event-loop turn; the next
   *  sync takes it to disk. */
  readonly noSync?: boolean;
  /** The record shares one write(2) with the other records of this event-loop turn (at its end, or
   *  with the next unshared record): the promise resolves once that write returned, so a caller that
   *  waits for it before forwarding keeps "in the kernel before forwarding" at one syscall per burst.
   *  With `each`, the promise then also waits for the record's fdatasync. */
  readonly shareWrite?: boolean;
  /** Fields serialized once for every record of this writer (auditPrefix). */
  readonly prefix?: AuditPrefix;
}

/** In `batch` mode the log is synced at most this often: back-to-back syncs made the appends that
 *  requests wait for block on pages under writeback. A power loss can lose at most this much more. */
export const AUDIT_SYNC_INTERVAL_MS = 50;

export interface AuditSink {
  /** Resolves once the record is written as `AuditSync` says. Rejects when the log cannot be written
   *  (callers fail closed); in `batch` mode the promise is already settled when write() returns,
   *  unless `shareWrite` asks it to wait for the end of the turn. */
  write(fields: AuditFields, opts?: WriteOptions): Promise<void>;
  readonly healthy: boolean;
  close(): Promise<void>;
}

/** Fields that every record of one writer starts with (task, user, manifest of a listener),
 *  serialized once: a record written with it holds them right after the chain fields, as if they
 *  were the first of its own fields. */
export interface AuditPrefix {
  readonly fields: Readonly<AuditFields>;
  /** The JSON members, without braces ('' for none). */
  readonly json: string;
}

export function auditPrefix(fields: AuditFields): AuditPrefix {
  const json = JSON.stringify(capped(fields));
  return Object.freeze({ fields: Object.freeze({ ...fields }), json: json.slice(1, -1) });
}

// capStrings copies every object it walks; JSON.stringify already drops undefined.
const capped = (value: AuditFields): unknown => (needsCap(value) ? capStrings(value) : value);

const CHAIN_FIELDS = ['v', 'seq', 'time', 'prev'];

/** True when `fields` names a chain field or a field of the prefix (a second member of that name). */
function collides(fields: AuditFields, prefix: AuditPrefix | undefined): boolean {
  for (const name of CHAIN_FIELDS) if (Object.hasOwn(fields, name)) return true;
  if (prefix !== undefined) for (const name in prefix.fields) if (Object.hasOwn(fields, name)) return true;
  return false;
}

/** `{"a":1}` → `,"a":1}`, `{}` → `}`: the fields' members after the ones before them. */
const tailOf = (json: string): string => (json === '{}' ? '}' : `,${json.slice(1)}`);

export class AuditLog implements AuditSink {
  #appender: DurableAppender | undefined;
  #prev: string;
  #seq = 0;
  #echo: ((line: string) => void) | undefined;
  #now: () => number;
  #sync: AuditSync = 'batch';
  /** Without a file only: echo lines of this tick, written together by one call to #echoBytes (one
   *  write(2) per burst). With a file, the appender hands the echo each write(2)'s bytes. */
  #echoBytes: ((bytes: Uint8Array) => void) | undefined;
  #echoPending = '';
  /** The ISO time of the last record: records of one millisecond share one string. */
  #lastMs = Number.NaN;
  #lastTime = '';
  #echoScheduled = false;
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
    sync?: AuditSync;
    /** Receives newline-terminated audit lines as UTF-8, the bytes of each write(2) of the file
     *  (several lines when written in one turn; without a file, those of one tick), for container
     *  log collection. Valid during the call only: a receiver that keeps them copies them. */
    echoBytes?: (bytes: Uint8Array) => void;
    /** Tests: a slow or failing fdatasync. */
    datasync?: Datasync;
    /** `batch`: background syncs at most once per this many ms (default AUDIT_SYNC_INTERVAL_MS). */
    syncIntervalMs?: number;
  }): Promise<AuditLog> {
    const now = opts.now ?? Date.now;
    if (opts.file === undefined) {
      const last = opts.lastLine ? parseRecord(opts.lastLine) : undefined;
      const echoOnly =
        last && opts.lastLine
          ? new AuditLog(undefined, lineHash(opts.lastLine), last.seq, opts.echo, now)
          : new AuditLog(undefined, genesisHash(opts.manifestSha256), 0, opts.echo, now);
      echoOnly.#echoBytes = opts.echoBytes;
      return echoOnly;
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
      appender = await DurableAppender.open(file, {
        background: opts.sync !== 'each',
        backgroundIntervalMs: opts.syncIntervalMs ?? AUDIT_SYNC_INTERVAL_MS,
        ...(opts.datasync ? { datasync: opts.datasync } : {}),
        // The echo is what the file got, from the same bytes: no second encoding or join.
        ...(opts.echoBytes ? { onWrite: opts.echoBytes } : {}),
      });
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
    log.#sync = opts.sync ?? 'batch';
    const tornText = tail.torn.join('\n');
    try {
      // Synced in every mode: a log that cannot reach the disk stops Errand before it serves.
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
      await appender.sync();
    } catch (error) {
      await appender.close().catch(() => undefined);
      throw unavailable(error);
    }
    return log;
  }

  get healthy(): boolean {
    return !this.#appender?.failed;
  }

  write(fields: AuditFields, opts?: WriteOptions): Promise<void> {
    this.#seq += 1;
    const ms = this.#now();
    if (ms !== this.#lastMs) {
      this.#lastMs = ms;
      this.#lastTime = new Date(ms).toISOString();
    }
    const time = this.#lastTime;
    const line = collides(fields, opts?.prefix)
      ? // A field named like a chain field or a prefix field: as one object, the later value wins.
        JSON.stringify(
          capped({
            v: AUDIT_SCHEMA_VERSION,
            seq: this.#seq,
            time,
            prev: this.#prev,
            ...opts?.prefix?.fields,
            ...fields,
          }),
        )
      : // The chain fields (numbers, an ISO time, a hex hash: nothing to escape or cap), the prefix
        // serialized once, then the fields: no merged copy of the record per write.
        `{"v":${AUDIT_SCHEMA_VERSION},"seq":${this.#seq},"time":"${time}","prev":"${this.#prev}"` +
        (opts?.prefix === undefined || opts.prefix.json === '' ? '' : `,${opts.prefix.json}`) +
        tailOf(JSON.stringify(capped(fields)));
    this.#echo?.(line);
    if (!this.#appender) {
      this.#prev = lineHash(line);
      if (this.#echoBytes) this.#queueEcho(line);
      return Promise.resolve();
    }
    // Encoded once: the chain hashes the bytes the file (and the echo) get. One write: the newline
    // that closes a torn line and the record that re-anchors after it (the echo gets both too).
    const text = Buffer.from(this.#closeTornLine ? `\n${line}` : line);
    this.#prev = hash('sha256', this.#closeTornLine ? text.subarray(1) : text, 'hex');
    this.#closeTornLine = false;
    const appender = this.#appender;
    if (opts?.shareWrite === true && opts.noSync !== true) {
      const written = appender.writeShared(text);
      return this.#sync === 'each' ? written.then(() => appender.sync()) : written;
    }
    try {
      // A record that gates nothing shares the write(2) of the next one (or of the end of the turn).
      if (opts?.noSync === true) appender.writeLater(text);
      else appender.write(text);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#sync === 'each' && opts?.noSync !== true ? appender.sync() : Promise.resolve();
  }

  #queueEcho(line: string): void {
    this.#echoPending += `${line}\n`;
    if (this.#echoScheduled) return;
    this.#echoScheduled = true;
    setImmediate(() => this.#flushEcho());
  }

  #flushEcho(): void {
    this.#echoScheduled = false;
    const text = this.#echoPending;
    this.#echoPending = '';
    // The echo is a copy for log collection: a closed or failing stdout never stops the audit.
    if (text !== '')
      try {
        this.#echoBytes?.(Buffer.from(text));
      } catch {}
  }

  /** Resolves once every record written so far is on disk (drain, deadline, tests). */
  flush(): Promise<void> {
    return this.#appender?.sync() ?? Promise.resolve();
  }

  async close(): Promise<void> {
    this.#flushEcho();
    await this.#appender?.close();
  }
}
