// The audit log after a crash: a torn last line is reported precisely by `audit verify`, and the next
// run re-anchors the chain on the last whole record so the log never stays unverifiable. Each row
// builds the bytes a crash leaves (kill -9 mid-write, a write that lost only its newline, a crash
// while re-anchoring) and asserts what the operator sees.

import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { AuditLog, findTornTail, lineHash } from '../../src/audit/audit-log.ts';
import { verifyAuditText } from '../../src/audit/verify.ts';
import { main } from '../../src/cli/main.ts';
import { ErrandError } from '../../src/errors.ts';
import { captureIo } from '../helpers/cli.ts';

const SHA = 'd'.repeat(64);

const tempLog = async (t: Test): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), 'errand-torn-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return join(dir, 'audit.jsonl');
};

/** One run of Errand's audit log: open (writes audit_opened), n decision records, close. */
const run = async (file: string, n: number): Promise<void> => {
  const log = await AuditLog.open({ file, manifestSha256: SHA, now: () => 0 });
  for (let i = 0; i < n; i++)
    await log.write({
      manifest_sha256: SHA,
      event: 'egress_decision',
      decision: 'allow',
      request_id: `r-${i}`,
    });
  await log.close();
};

const linesOf = async (file: string) => (await readFile(file, 'utf8')).split('\n');

t.test('findTornTail: the last whole record and what a crash left after it', async (t) => {
  const a = JSON.stringify({ seq: 1, prev: 'x' });
  const rows: [string, string, ReturnType<typeof findTornTail>][] = [
    ['empty file', '', { anchor: undefined, torn: [], unterminated: false }],
    ['clean end', `${a}\n`, { anchor: a, torn: [], unterminated: false }],
    ['torn last line', `${a}\n{"seq":2,"pr`, { anchor: a, torn: ['{"seq":2,"pr'], unterminated: true }],
    [
      'a whole record without its newline is torn',
      `${a}\n${a}`,
      { anchor: a, torn: [a], unterminated: true },
    ],
    [
      'closed torn line, then a torn one',
      `${a}\n{"se\n{"v`,
      { anchor: a, torn: ['{"se', '{"v'], unterminated: true },
    ],
    ['torn first write', '{"v":1', { anchor: undefined, torn: ['{"v":1'], unterminated: true }],
    ['JSON that is not a record', `${a}\n[1,2]\n`, { anchor: a, torn: ['[1,2]'], unterminated: false }],
  ];
  for (const [name, text, expected] of rows) t.same(findTornTail(text), expected, name);
});

t.test('kill -9 mid-record: verify names the tear; the next run re-anchors and verify passes', async (t) => {
  const file = await tempLog(t);
  await run(file, 3);
  const fragment = '{"v":1,"seq":5,"time":"1970-01-01T00:00:00.000Z","prev":"ab';
  await appendFile(file, fragment);

  const before = verifyAuditText(await readFile(file, 'utf8'));
  t.match(before, { ok: false, line: 5, records: 4, problem: /^torn write: the last record was cut short/ });
  const c1 = captureIo();
  t.equal(await main(['audit', 'verify', file], c1.io), 1, 'a crashed, not restarted log fails');
  t.match(
    c1.out(),
    /:5: chain broken: torn write: .*no later run re-anchored the chain \(4 records verified before it\)/,
  );

  await run(file, 2);
  const lines = await linesOf(file);
  t.equal(lines[4], fragment, 'the torn bytes are kept as they were, closed by a newline');
  const opened = JSON.parse(lines[5]!) as Record<string, unknown>;
  t.match(opened, {
    event: 'audit_opened',
    reason: 'torn_write',
    seq: 5,
    prev: lineHash(lines[3]!),
    torn: { lines: 1, bytes: Buffer.byteLength(fragment), sha256: lineHash(fragment) },
  });
  const after = verifyAuditText(await readFile(file, 'utf8'));
  t.same(after, {
    ok: true,
    records: 7,
    tears: [{ line: 5, lines: 1, bytes: Buffer.byteLength(fragment), reanchoredAt: 6 }],
  });
  const c2 = captureIo();
  t.equal(await main(['audit', 'verify', file], c2.io), 0);
  t.equal(
    c2.out(),
    `${file}: chain verified, 7 records\n  torn write at line 5 (1 line, ${Buffer.byteLength(fragment)} bytes: a write cut short by a crash or a full disk): the chain is re-anchored by the audit_opened record at line 6\n`,
  );
});

t.test(
  'a write that lost only its newline is re-anchored too (its request was never forwarded)',
  async (t) => {
    const file = await tempLog(t);
    await run(file, 2);
    const lines = await linesOf(file);
    // The record the crashed run was writing: whole, chained, but never terminated (never synced).
    const whole = JSON.stringify({
      v: 1,
      seq: 4,
      time: '1970-01-01T00:00:00.000Z',
      prev: lineHash(lines[2]!),
      event: 'x',
    });
    await appendFile(file, whole);
    t.same(verifyAuditText(await readFile(file, 'utf8')), { ok: true, records: 4 }, 'before: a whole record');
    await run(file, 1);
    t.same(verifyAuditText(await readFile(file, 'utf8')), {
      ok: true,
      records: 5,
      tears: [{ line: 4, lines: 1, bytes: Buffer.byteLength(whole), reanchoredAt: 5 }],
    });
  },
);

t.test('crashes in a row: a tear while re-anchoring is covered by the next run', async (t) => {
  const file = await tempLog(t);
  await run(file, 1);
  await appendFile(file, '{"v":1,"se\n{"v":1,"seq":3,"event":"audit_op');
  await run(file, 1);
  const result = verifyAuditText(await readFile(file, 'utf8'));
  t.match(result, { ok: true, records: 4, tears: [{ line: 3, lines: 2, reanchoredAt: 5 }] });
});

t.test('a crash during the very first write: the chain starts at genesis after it', async (t) => {
  const file = await tempLog(t);
  await writeFile(file, '{"v":1,"seq":1,"ti');
  await run(file, 1);
  t.match(verifyAuditText(await readFile(file, 'utf8')), {
    ok: true,
    records: 2,
    tears: [{ line: 1, lines: 1, reanchoredAt: 2 }],
  });
});

t.test('a re-anchor is checked, not trusted', async (t) => {
  const file = await tempLog(t);
  await run(file, 3);
  await appendFile(file, '{"v":1,"seq":5,"ti');
  await run(file, 0);
  const good = await linesOf(file);
  good.pop(); // trailing ''
  const text = (ls: string[]) => `${ls.join('\n')}\n`;
  const opened = JSON.parse(good[5]!) as Record<string, { sha256: string; lines: number; bytes: number }>;
  const withOpened = (fields: Record<string, unknown>) => {
    const ls = [...good];
    ls[5] = JSON.stringify({ ...opened, ...fields });
    return ls;
  };
  const rows: [string, string[], RegExp][] = [
    ['torn bytes edited', [...good.slice(0, 4), '{"v":1,"seq":5,"tX', good[5]!], /not a JSON record|torn/],
    [
      'hash of the torn bytes forged',
      withOpened({ torn: { ...opened['torn']!, sha256: 'f'.repeat(64) } }),
      /not a JSON record/,
    ],
    ['byte count forged', withOpened({ torn: { ...opened['torn']!, bytes: 1 } }), /not a JSON record/],
    ['anchor is not the last whole record', withOpened({ prev: lineHash(good[2]!) }), /not a JSON record/],
    [
      'too many torn lines claimed',
      withOpened({ torn: { ...opened['torn']!, lines: 99 } }),
      /not a JSON record/,
    ],
    // A re-anchor cannot swallow a whole record that is not the last torn line.
    [
      'a whole record hidden inside a tear',
      (() => {
        const ls = [...good.slice(0, 3), good[3]!, '{"v":1,"se'];
        const torn = [good[3]!, '{"v":1,"se'].join('\n');
        ls.push(
          JSON.stringify({
            ...opened,
            seq: 3,
            prev: lineHash(good[2]!),
            torn: { lines: 2, bytes: Buffer.byteLength(torn), sha256: lineHash(torn) },
          }),
        );
        return ls;
      })(),
      /not a JSON record/,
    ],
  ];
  t.match(verifyAuditText(text(good)), { ok: true, records: 5 }, 'the untouched log verifies');
  for (const [name, ls, problem] of rows) {
    const r = verifyAuditText(text(ls));
    t.equal(r.ok, false, name);
    if (!r.ok) t.match(r.problem, problem, `${name}: ${r.problem}`);
  }
  t.match(
    verifyAuditText(`${good[0]}\n{"v":1\n${good[1]}\n`),
    { ok: false, line: 2, problem: /not a JSON record/ },
    'a torn line in the middle with no re-anchor',
  );
});

t.test('a log that cannot be written stops Errand at open, with the file and the cause', async (t) => {
  // /dev/full accepts open() and fails every write with ENOSPC: the full-disk case without a mount.
  const error = await AuditLog.open({ file: '/dev/full', manifestSha256: SHA }).catch((e: unknown) => e);
  t.ok(error instanceof ErrandError);
  t.equal((error as ErrandError).code, 'ERR_AUDIT_UNAVAILABLE');
  t.equal((error as ErrandError).message, 'the audit log cannot be written: /dev/full: ENOSPC');
  const missing = await AuditLog.open({
    file: '/proc/errand-no-such/audit.jsonl',
    manifestSha256: SHA,
  }).catch((e: unknown) => e);
  t.match(missing, { code: 'ERR_AUDIT_UNAVAILABLE', message: /audit.jsonl: ENOENT$/ });
});

t.test('a long log: only its end is read, and a tear longer than that window is still found', async (t) => {
  const file = await tempLog(t);
  const log = await AuditLog.open({ file, manifestSha256: SHA, now: () => 0 });
  // ~1.3 MiB of records, written as one group commit.
  await Promise.all(
    Array.from({ length: 3000 }, (_, i) => log.write({ event: 'x', pad: 'p'.repeat(400), i })),
  );
  await log.close();
  await run(file, 1);
  t.same(verifyAuditText(await readFile(file, 'utf8')), { ok: true, records: 3003 });
  // A torn line longer than the window the opener reads.
  await appendFile(file, `{"v":1,"pad":"${'q'.repeat(1100 * 1024)}`);
  await run(file, 0);
  t.match(verifyAuditText(await readFile(file, 'utf8')), {
    ok: true,
    records: 3004,
    tears: [{ line: 3004, lines: 1 }],
  });
});

t.test('echo-only logs (no file) continue from a given last line', async (t) => {
  const lines: string[] = [];
  const first = await AuditLog.open({
    file: undefined,
    manifestSha256: SHA,
    echo: (l) => void lines.push(l),
  });
  await first.write({ manifest_sha256: SHA, event: 'a' });
  const second = await AuditLog.open({
    file: undefined,
    manifestSha256: SHA,
    echo: (l) => void lines.push(l),
    lastLine: lines[0]!,
  });
  await second.write({ event: 'b' });
  t.equal(lines.length, 2, 'no audit_opened record without a file');
  t.same(verifyAuditText(`${lines.join('\n')}\n`), { ok: true, records: 2 });
});
