import { createHash } from 'node:crypto';
import { DurableAppender } from './durable-appender.ts';

// One JSON line per decision (allow, deny, error) and one per completed forward, each carrying the
// SHA-256 of the previous line, so `errand audit verify` finds a removed, reordered or edited record.
// Fields follow OCSF API Activity where one fits (time, activity, status, actor, api, src/dst) plus
// Errand's own (decision, reason, grant ids, manifest hash).

export const AUDIT_SCHEMA_VERSION = 1;
const MAX_STRING = 1024;

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

  /** Opens (or continues) the chain in `file`; a restarted Errand links to the last record on disk. */
  static async open(opts: {
    file: string | undefined;
    manifestSha256: string;
    echo?: (line: string) => void;
    now?: () => number;
    lastLine?: string;
  }): Promise<AuditLog> {
    let prev = genesisHash(opts.manifestSha256);
    let seq = 0;
    if (opts.lastLine !== undefined && opts.lastLine !== '') {
      prev = lineHash(opts.lastLine);
      try {
        seq = Number((JSON.parse(opts.lastLine) as { seq?: number }).seq ?? 0);
      } catch {
        seq = 0;
      }
    }
    const appender = opts.file ? await DurableAppender.open(opts.file) : undefined;
    return new AuditLog(appender, prev, seq, opts.echo, opts.now ?? Date.now);
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
    return this.#appender ? this.#appender.append(line) : Promise.resolve();
  }

  async close(): Promise<void> {
    await this.#appender?.close();
  }
}
