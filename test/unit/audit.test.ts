import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { AuditLog, auditPrefix, capStrings } from '../../src/audit/audit-log.ts';
import { verifyAuditText } from '../../src/audit/verify.ts';
import { main } from '../../src/cli/main.ts';
import { captureIo } from '../helpers/cli.ts';

const SHA = 'c'.repeat(64);

const writeLog = async (dir: string, n: number) => {
  const file = join(dir, 'audit.jsonl');
  const echoed: string[] = [];
  const log = await AuditLog.open({
    file,
    manifestSha256: SHA,
    echo: (l) => void echoed.push(l),
    now: () => 0,
  });
  for (let i = 0; i < n; i++)
    await log.write({ manifest_sha256: SHA, event: 'egress_decision', decision: i % 2 ? 'allow' : 'deny' });
  await log.close();
  return { file, echoed };
};

t.test('records chain and verify; the echo is the same line', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'errand-audit-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { file, echoed } = await writeLog(dir, 5);
  const text = await readFile(file, 'utf8');
  t.equal(text, `${echoed.join('\n')}\n`);
  // Every run opens with an audit_opened record: 5 + 1.
  t.same(verifyAuditText(text), { ok: true, records: 6 });
  const c = captureIo();
  t.equal(await main(['audit', 'verify', file], c.io), 0);
  t.equal(c.out(), `${file}: chain verified, 6 records\n`);
});

t.test('a removed, edited or reordered record is found, with its line', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'errand-audit-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { file } = await writeLog(dir, 4);
  const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
  const removed = [lines[0], lines[2], lines[3]].join('\n');
  t.match(verifyAuditText(removed), { ok: false, line: 2, records: 1 });
  const edited = [lines[0], lines[1]!.replace('"deny"', '"allow"'), lines[2], lines[3]].join('\n');
  t.match(verifyAuditText(edited), { ok: false, line: 3, problem: /prev does not match/ });
  const reordered = [lines[1], lines[0], lines[2], lines[3]].join('\n');
  t.match(verifyAuditText(reordered), {
    ok: false,
    line: 1,
    problem: 'the first record does not start the chain',
  });
  t.match(verifyAuditText(`${lines[0]}\n{"torn`), { ok: false, line: 2, problem: /torn/ });
  await writeFile(file, `${edited}\n`);
  const c = captureIo();
  t.equal(await main(['audit', 'verify', file], c.io), 1);
  t.match(c.out(), /:3: chain broken: prev does not match the record before it/);
});

t.test('a restarted log continues the chain from the last line on disk', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'errand-audit-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { file } = await writeLog(dir, 2);
  const last = (await readFile(file, 'utf8')).trimEnd().split('\n').at(-1)!;
  const log = await AuditLog.open({ file, manifestSha256: SHA, lastLine: last });
  await log.write({ event: 'started' });
  await log.close();
  // Two runs, each opened by its own record: 1 + 2 + 1 + 1.
  t.same(verifyAuditText(await readFile(file, 'utf8')), { ok: true, records: 5 });
});

t.test('a log that cannot be written rejects, and stays failed (callers fail closed)', async (t) => {
  if (process.getuid?.() === 0) {
    // root ignores file modes; use a path that cannot be opened instead
    await t.rejects(AuditLog.open({ file: '/proc/errand-no-such/audit.jsonl', manifestSha256: SHA }));
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'errand-audit-'));
  await chmod(dir, 0o500);
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await t.rejects(AuditLog.open({ file: join(dir, 'a.jsonl'), manifestSha256: SHA }));
});

t.test('strings are capped and undefined fields dropped', async (t) => {
  const out = capStrings({ a: 'x'.repeat(5000), b: undefined, c: [{ d: 'y' }] }) as { a: string; c: unknown };
  t.equal(out.a.length, 1025);
  t.notOk('b' in out);
  t.same(out.c, [{ d: 'y' }]);
});

t.test('a record is the same object written whole or with its first fields serialized once', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'errand-audit-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const lines: string[] = [];
  const log = await AuditLog.open({
    file: join(dir, 'audit.jsonl'),
    manifestSha256: SHA,
    echo: (l) => void lines.push(l),
    now: () => 0,
  });
  const base = { class: 'api_activity', task_id: 'tsk_1', warning: undefined, long: 'x'.repeat(3000) };
  const prefix = auditPrefix(base);
  const cases: { name: string; fields: Record<string, unknown>; prefix?: typeof prefix }[] = [
    { name: 'whole', fields: { ...base, event: 'e', n: 1, s: 'q"\\\n', deep: { a: ['y'.repeat(2000)] } } },
    { name: 'prefixed', fields: { event: 'e', n: 1, s: 'q"\\\n', deep: { a: ['y'.repeat(2000)] } }, prefix },
    { name: 'no fields of its own', fields: {}, prefix },
    { name: 'an empty prefix', fields: { event: 'e' }, prefix: auditPrefix({}) },
    { name: 'no fields at all', fields: {} },
    // A field named like a chain field or a prefix field: one member, the record's own value.
    { name: 'colliding with the prefix', fields: { task_id: 'tsk_2', event: 'e' }, prefix },
    { name: 'colliding with the chain', fields: { seq: 99, event: 'e' } },
  ];
  for (const c of cases) await log.write(c.fields, c.prefix ? { prefix: c.prefix } : undefined);
  await log.close();
  const records = lines.slice(1).map((l) => JSON.parse(l) as Record<string, unknown>);
  const strip = ({ v: _v, seq: _s, time: _t, prev: _p, ...rest }: Record<string, unknown>) => rest;
  t.same(strip(records[1]!), strip(records[0]!), 'prefixed: the same members as written whole');
  t.same(Object.keys(records[1]!), Object.keys(records[0]!), 'in the same order');
  t.equal((records[1]!['long'] as string).length, 1025, 'the prefix is capped like the rest');
  t.equal(((records[1]!['deep'] as { a: string[] }).a[0] as string).length, 1025);
  t.same(strip(records[2]!), { class: 'api_activity', task_id: 'tsk_1', long: records[0]!['long'] });
  t.same(strip(records[3]!), { event: 'e' });
  t.same(strip(records[4]!), {});
  t.same(strip(records[5]!), {
    class: 'api_activity',
    task_id: 'tsk_2',
    long: records[0]!['long'],
    event: 'e',
  });
  t.equal(lines[6]!.split('"task_id"').length, 2, 'one task_id member');
  t.equal(records[6]!['seq'], 99, 'as before: the caller named it');
  t.match(verifyAuditText(`${lines.join('\n')}\n`), { ok: false, line: 8 }, 'which breaks the chain there');
  t.same(verifyAuditText(`${lines.slice(0, 7).join('\n')}\n`), { ok: true, records: 7 }, 'the rest verifies');
});

t.test('audit verify usage and unreadable files exit 2', async (t) => {
  const c = captureIo();
  t.equal(await main(['audit', 'verify'], c.io), 2);
  t.equal(await main(['audit', 'verify', '/nonexistent/errand.jsonl'], c.io), 2);
  t.match(c.err(), /cannot read \/nonexistent\/errand.jsonl: ENOENT/);
});
