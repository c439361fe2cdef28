import { genesisHash, lineHash, MAX_TORN_LINES, parseRecord } from './audit-log.ts';

// Checks an audit file's hash chain: every record's `prev` is the SHA-256 of the line before it (the
// first one's is the genesis hash of its manifest), and `seq` rises by one. Reports the first break.
//
// One exception, reported and never silent: a write torn by a crash (the process died mid-line). The
// next run's `audit_opened` record names the torn lines by count and SHA-256 and links to the last
// whole record before them; verify checks exactly that and lists the tear. Within a tear only the last
// line may look like a whole record (a write that lost only its newline), so a tear can hide at most
// one record, and never silently. A torn last line that no later run re-anchored is a failure that
// says so (the log of a crashed Errand that was not restarted).

export interface Tear {
  /** First torn line (1-based). */
  readonly line: number;
  readonly lines: number;
  readonly bytes: number;
  /** The line of the record that re-anchors the chain after the tear. */
  readonly reanchoredAt: number;
}

export type VerifyResult =
  | { readonly ok: true; readonly records: number; readonly tears?: readonly Tear[] }
  | {
      readonly ok: false;
      readonly records: number;
      readonly line: number;
      readonly problem: string;
      readonly tears?: readonly Tear[];
    };

interface Reanchor {
  readonly lines: number;
  readonly bytes: number;
  readonly sha256: string;
}

const reanchorOf = (record: Record<string, unknown> | undefined): Reanchor | undefined => {
  if (record?.['event'] !== 'audit_opened') return undefined;
  const torn = record['torn'] as Partial<Reanchor> | undefined;
  if (typeof torn !== 'object' || torn === null) return undefined;
  const { lines, bytes, sha256 } = torn;
  if (typeof lines !== 'number' || typeof bytes !== 'number' || typeof sha256 !== 'string') return undefined;
  return { lines, bytes, sha256 };
};

export function verifyAuditText(text: string): VerifyResult {
  const lines = text.split('\n');
  const terminated = lines.at(-1) === '';
  if (terminated) lines.pop();
  const records = lines.map(parseRecord);
  /** 'record' once verified, 'torn' once a later re-anchor accounted for it. */
  const status: ('record' | 'torn' | undefined)[] = [];
  const tears: Tear[] = [];
  let last = -1; // index of the last verified record

  const expectedPrev = (anchor: number, record: Record<string, unknown>): string | undefined =>
    anchor >= 0
      ? lineHash(lines[anchor]!)
      : typeof record['manifest_sha256'] === 'string'
        ? genesisHash(record['manifest_sha256'])
        : undefined;
  const seqAfter = (anchor: number): number => (anchor >= 0 ? records[anchor]!.seq : 0) + 1;

  /** True when line j re-anchors the chain over the torn lines before it (and they include `from`). */
  const reanchors = (j: number, from: number): boolean => {
    const record = records[j];
    const r = reanchorOf(record);
    if (!record || !r || !Number.isSafeInteger(r.lines) || r.lines < 1 || r.lines > MAX_TORN_LINES)
      return false;
    const first = j - r.lines;
    const anchor = first - 1;
    if (first > from || anchor < -1 || anchor > last) return false;
    if (anchor >= 0 && status[anchor] !== 'record') return false;
    const torn = lines.slice(first, j);
    // Only the last torn line may parse as a record (a write that lost only its newline).
    if (torn.slice(0, -1).some((l) => parseRecord(l) !== undefined)) return false;
    const tornText = torn.join('\n');
    if (lineHash(tornText) !== r.sha256 || Buffer.byteLength(tornText) !== r.bytes) return false;
    return record.prev === expectedPrev(anchor, record) && record.seq === seqAfter(anchor);
  };

  /** A later line that re-anchors over line i, if any. */
  const reanchorAfter = (i: number): number | undefined => {
    for (let j = i + 1; j < lines.length && j <= i + MAX_TORN_LINES; j++) if (reanchors(j, i)) return j;
    return undefined;
  };

  const accept = (j: number): void => {
    const r = reanchorOf(records[j])!;
    const first = j - r.lines;
    for (let k = first; k < j; k++) status[k] = 'torn';
    tears.push({ line: first + 1, lines: r.lines, bytes: r.bytes, reanchoredAt: j + 1 });
    status[j] = 'record';
    last = j;
  };

  const fail = (i: number, problem: string): VerifyResult => ({
    ok: false,
    records: status.filter((s) => s === 'record').length,
    line: i + 1,
    problem,
    ...(tears.length > 0 ? { tears } : {}),
  });

  let i = 0;
  while (i < lines.length) {
    const record = records[i];
    // A re-anchor after a torn write that was a whole record but for its newline.
    if (reanchorOf(record) !== undefined && reanchors(i, i)) {
      accept(i);
      i++;
      continue;
    }
    const problem =
      record === undefined
        ? i === lines.length - 1 && !terminated
          ? 'torn write: the last record was cut short (Errand stopped mid-write, e.g. killed) and no later run re-anchored the chain'
          : 'not a JSON record (torn or edited line)'
        : record.prev !== expectedPrev(last, record)
          ? last < 0
            ? 'the first record does not start the chain'
            : 'prev does not match the record before it (a record was removed, reordered or edited)'
          : last >= 0 && record.seq !== seqAfter(last)
            ? `seq ${String(record.seq)} follows ${records[last]!.seq}`
            : undefined;
    if (problem === undefined) {
      status[i] = 'record';
      last = i;
      i++;
      continue;
    }
    const j = reanchorAfter(i);
    if (j === undefined) return fail(i, problem);
    accept(j);
    i = j + 1;
  }
  const count = status.filter((s) => s === 'record').length;
  return tears.length > 0 ? { ok: true, records: count, tears } : { ok: true, records: count };
}

/** One line per tear, for `errand audit verify`. */
export function describeTears(tears: readonly Tear[] | undefined): string {
  return (tears ?? [])
    .map(
      (t) =>
        `  torn write at line ${t.line} (${t.lines} line${t.lines === 1 ? '' : 's'}, ${t.bytes} bytes: a write cut short by a crash or a full disk): the chain is re-anchored by the audit_opened record at line ${t.reanchoredAt}\n`,
    )
    .join('');
}
