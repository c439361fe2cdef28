import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { AuditLog, capStrings } from '../../src/audit/audit-log.ts';
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

t.test('audit verify usage and unreadable files exit 2', async (t) => {
  const c = captureIo();
  t.equal(await main(['audit', 'verify'], c.io), 2);
  t.equal(await main(['audit', 'verify', '/nonexistent/errand.jsonl'], c.io), 2);
  t.match(c.err(), /cannot read \/nonexistent\/errand.jsonl: ENOENT/);
});
