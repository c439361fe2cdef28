import { genesisHash, lineHash } from './audit-log.ts';

// Checks an audit file's hash chain: every record's `prev` is the SHA-256 of the line before it (the
// first one's is the genesis hash of its manifest), and `seq` rises by one. Reports the first break.

export type VerifyResult =
  | { readonly ok: true; readonly records: number }
  | { readonly ok: false; readonly records: number; readonly line: number; readonly problem: string };

export function verifyAuditText(text: string): VerifyResult {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  let prevLine: string | undefined;
  let prevSeq = 0;
  for (const [index, line] of lines.entries()) {
    const lineNo = index + 1;
    let record: { prev?: unknown; seq?: unknown; manifest_sha256?: unknown };
    try {
      record = JSON.parse(line) as typeof record;
    } catch {
      return { ok: false, records: index, line: lineNo, problem: 'not a JSON record (torn or edited line)' };
    }
    const expected =
      prevLine === undefined
        ? typeof record.manifest_sha256 === 'string'
          ? genesisHash(record.manifest_sha256)
          : undefined
        : lineHash(prevLine);
    if (record.prev !== expected) {
      return {
        ok: false,
        records: index,
        line: lineNo,
        problem:
          prevLine === undefined
            ? 'the first record does not start the chain'
            : 'prev does not match the record before it (a record was removed, reordered or edited)',
      };
    }
    if (prevLine !== undefined && record.seq !== prevSeq + 1) {
      return {
        ok: false,
        records: index,
        line: lineNo,
        problem: `seq ${String(record.seq)} follows ${prevSeq}`,
      };
    }
    prevSeq = typeof record.seq === 'number' ? record.seq : 0;
    prevLine = line;
  }
  return { ok: true, records: lines.length };
}
