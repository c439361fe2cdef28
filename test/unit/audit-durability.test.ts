import { readFileSync, writeSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { AuditLog } from '../../src/audit/audit-log.ts';
import { type Datasync, DurableAppender, type WriteSync } from '../../src/audit/durable-appender.ts';
import { verifyAuditText } from '../../src/audit/verify.ts';

// When a record counts as written (docs/decisions/0003-audit-durability.md): in `batch` mode once
// write(2) returned, the fdatasync following in the background, one at a time, group-committed; in
// `each` mode once fdatasync returned. A failing write fails the caller synchronously; a failing
// background sync fails every later write.

const SHA = 'd'.repeat(64);

/** A background-sync appender on a fresh file whose fdatasync calls wait until the test ends them. */
async function heldAppender(t: Test) {
  const dir = await mkdtemp(join(tmpdir(), 'errand-durable-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'log');
  const sync = heldSync();
  const a = await DurableAppender.open(file, { background: true, datasync: sync.datasync });
  return { file, sync, a };
}

/** An fdatasync the test completes by hand: counts calls, holds each until released (then answers
 *  at once: what is on disk is not what these tests look at). */
function heldSync() {
  const pending: ((error: NodeJS.ErrnoException | null) => void)[] = [];
  let calls = 0;
  const datasync: Datasync = (_fd, callback) => {
    calls += 1;
    pending.push(callback);
  };
  return {
    datasync,
    calls: () => calls,
    inFlight: () => pending.length,
    release: (error: NodeJS.ErrnoException | null = null) => pending.shift()?.(error),
  };
}

/** An audit log on a fresh file whose fdatasync calls the test releases, past its opening record
 *  (synced in every mode). */
async function heldLog(
  t: Test,
  opts: Omit<Parameters<typeof AuditLog.open>[0], 'file' | 'manifestSha256' | 'datasync'>,
) {
  const dir = await mkdtemp(join(tmpdir(), 'errand-audit-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'audit.jsonl');
  const sync = heldSync();
  const opening = AuditLog.open({ file, manifestSha256: SHA, datasync: sync.datasync, ...opts });
  await until(() => sync.inFlight() === 1);
  sync.release();
  return { file, sync, log: await opening };
}

const settled = async (p: Promise<unknown>): Promise<'resolved' | 'rejected' | 'pending'> => {
  const mark = Symbol('pending');
  const r = await Promise.race([
    p.then(
      () => 'resolved' as const,
      () => 'rejected' as const,
    ),
    new Promise<typeof mark>((resolve) => setImmediate(() => resolve(mark))),
  ]);
  return r === mark ? 'pending' : r;
};

/** Like settled(), but within this turn (microtasks only): what a request decided now would see. */
const settledInTurn = async (p: Promise<unknown>): Promise<'resolved' | 'rejected' | 'pending'> => {
  let state: 'resolved' | 'rejected' | 'pending' = 'pending';
  p.then(
    () => {
      state = 'resolved';
    },
    () => {
      state = 'rejected';
    },
  );
  for (let i = 0; i < 10; i++) await Promise.resolve();
  return state;
};

const until = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
};

const eio = (): NodeJS.ErrnoException =>
  Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });

t.test('appender: write() is in the file when it returns; syncs are one at a time and grouped', async (t) => {
  const { file, sync, a } = await heldAppender(t);
  a.write('one');
  // Another reader sees it at once: it is in the kernel, whatever happens to Errand next.
  t.equal(readFileSync(file, 'utf8'), 'one\n', 'written before write() returned');
  t.equal(sync.calls(), 1, 'the first write starts a background sync');
  a.write('two');
  a.write('three');
  t.equal(sync.calls(), 1, 'no second sync while one is in flight');
  const durable = a.sync();
  t.equal(await settled(durable), 'pending', 'sync() waits for the disk');
  sync.release();
  await until(() => sync.calls() === 2);
  t.equal(sync.calls(), 2, 'the lines written meanwhile get exactly one more sync');
  t.equal(await settled(durable), 'pending', 'not durable until the sync covering them is done');
  sync.release();
  t.equal(await settled(durable), 'resolved');
  t.equal(await settled(a.sync()), 'resolved', 'nothing written since: already durable');
  t.equal(sync.calls(), 2);
  await a.close();
  t.equal(await readFile(file, 'utf8'), 'one\ntwo\nthree\n');
  t.throws(() => a.write('late'), { message: `${file} is closed` });
});

t.test(
  'appender: background syncs are spaced by the interval; sync() and close() never wait for it',
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'errand-durable-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'log');
    const sync = heldSync();
    const a = await DurableAppender.open(file, {
      background: true,
      backgroundIntervalMs: 60,
      datasync: sync.datasync,
    });
    a.write('one');
    t.equal(sync.calls(), 1, 'the first write syncs at once (no sync yet in the interval)');
    sync.release();
    a.write('two');
    await new Promise((r) => setTimeout(r, 10));
    t.equal(sync.calls(), 1, 'a write inside the interval waits for it');
    await until(() => sync.calls() === 2);
    t.equal(sync.calls(), 2, 'then the held lines get one sync');
    sync.release();
    a.write('three');
    const durable = a.sync();
    t.equal(sync.calls(), 3, 'a caller that waits (the use journal, --audit-sync each) is never delayed');
    sync.release();
    t.equal(await settled(durable), 'resolved');
    a.write('four');
    const closing = a.close();
    await until(() => sync.inFlight() === 1);
    t.equal(sync.calls(), 4, 'close() syncs what is left at once');
    sync.release();
    await closing;
    t.equal(await readFile(file, 'utf8'), 'one\ntwo\nthree\nfour\n');
  },
);

t.test('appender without background: append() resolves only once synced (the use journal)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'errand-durable-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const sync = heldSync();
  const a = await DurableAppender.open(join(dir, 'journal'), { datasync: sync.datasync });
  a.write('no sync yet');
  t.equal(sync.calls(), 0, 'a plain write starts no sync');
  const first = a.append('grant-a r-1');
  const second = a.append('grant-b r-2');
  const third = a.append('grant-c r-3');
  t.equal(sync.calls(), 1, 'one sync in flight');
  t.equal(await settled(first), 'pending', 'a counted use is not taken as durable before fdatasync');
  sync.release();
  t.same([await settled(first), await settled(second)], ['resolved', 'pending']);
  t.equal(sync.calls(), 2, 'the appends made during the first sync share the next one');
  sync.release();
  t.same([await settled(second), await settled(third)], ['resolved', 'resolved']);
  await a.close();
});

t.test('appender: a failing sync fails its waiters and every later write', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'errand-durable-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const sync = heldSync();
  const a = await DurableAppender.open(join(dir, 'log'), { background: true, datasync: sync.datasync });
  const waiting = a.append('x');
  sync.release(eio());
  await t.rejects(waiting, { code: 'EIO' });
  t.equal(a.failed, true);
  t.throws(() => a.write('y'), { code: 'EIO' }, 'after a failed fdatasync nothing later is trusted');
  await t.rejects(a.sync(), { code: 'EIO' });
  await t.rejects(a.append('z'), { code: 'EIO' });
  await a.close();
});

t.test('appender: a deferred line goes out with the next write, or at the end of the turn', async (t) => {
  const { file, sync, a } = await heldAppender(t);
  a.writeLater('result 1');
  t.equal(readFileSync(file, 'utf8'), '', 'not yet in the file');
  t.equal(sync.calls(), 0, 'and no sync for it');
  a.write('decision 2');
  t.equal(readFileSync(file, 'utf8'), 'result 1\ndecision 2\n', 'in order, with the next write');
  t.equal(sync.calls(), 1, 'one write, one sync');
  a.writeLater('result 2');
  await new Promise((r) => setImmediate(r));
  t.equal(readFileSync(file, 'utf8'), 'result 1\ndecision 2\nresult 2\n', 'or at the end of the turn');
  a.writeLater('result 3');
  const durable = a.sync();
  t.match(readFileSync(file, 'utf8'), /result 3\n$/, 'sync() writes what is deferred first');
  sync.release();
  sync.release();
  await durable;
  a.writeLater('result 4');
  const closing = a.close();
  sync.release();
  await closing;
  t.match(await readFile(file, 'utf8'), /result 4\n$/, 'and so does close()');
});

t.test('appender: a deferred line that cannot be written fails the file for the next write', async (t) => {
  const a = await DurableAppender.open('/dev/full');
  a.writeLater('result');
  await new Promise((r) => setImmediate(r));
  t.equal(a.failed, true);
  t.throws(() => a.write('decision'), { code: 'ENOSPC' }, 'the next request fails closed');
  t.throws(() => a.writeLater('result'), { code: 'ENOSPC' });
  await a.close();
});

t.test('appender: the shared lines of a turn go out in one write, and only then resolve', async (t) => {
  const { file, sync, a } = await heldAppender(t);
  const first = a.writeShared('decision 1');
  a.writeLater('result 1');
  const second = a.writeShared('decision 2');
  t.equal(first, second, 'one promise for the lines of the turn');
  t.equal(readFileSync(file, 'utf8'), '', 'nothing in the file within the turn');
  t.equal(await settledInTurn(first), 'pending', 'so nobody may forward yet');
  await new Promise((r) => setImmediate(r));
  t.equal(
    readFileSync(file, 'utf8'),
    'decision 1\nresult 1\ndecision 2\n',
    'one write, in order, at the end of the turn',
  );
  t.equal(await settled(first), 'resolved', 'resolved once written');
  t.equal(sync.calls(), 1, 'one background sync for the burst');
  const third = a.writeShared('decision 3');
  a.write('denial 4');
  t.equal(await settled(third), 'resolved', 'an unshared write takes the shared lines with it, first');
  t.equal(readFileSync(file, 'utf8'), 'decision 1\nresult 1\ndecision 2\ndecision 3\ndenial 4\n');
  const closing = a.close();
  sync.release();
  sync.release();
  await closing;
  await t.rejects(a.writeShared('late'), /closed/, 'a closed file takes no line');
});

t.test('appender: shared lines that cannot be written reject their callers (fail closed)', async (t) => {
  const a = await DurableAppender.open('/dev/full');
  const shared = a.writeShared('decision');
  await t.rejects(shared, { code: 'ENOSPC' }, 'the requests of the turn are refused');
  t.equal(a.failed, true);
  await t.rejects(a.writeShared('next'), { code: 'ENOSPC' }, 'and every later one');
  await a.close();
});

t.test('appender: a sync failing with shared lines queued rejects them unwritten', async (t) => {
  const { file, sync, a } = await heldAppender(t);
  a.write('decision 1');
  const queued = a.writeShared('decision 2');
  sync.release(eio());
  await t.rejects(queued, { code: 'EIO' });
  await new Promise((r) => setImmediate(r));
  t.equal(readFileSync(file, 'utf8'), 'decision 1\n', 'nothing is written after a failed sync');
  await a.close().catch(() => undefined);
});

t.test('appender: a short write (a pipe) sends the rest, byte for byte', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'errand-durable-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'log');
  const offsets: number[] = [];
  // At most 3 bytes per write(2), as a full pipe might take.
  const shortWrite: WriteSync = (fd, data, offset) => {
    offsets.push(offset);
    return writeSync(fd, data, offset, Math.min(3, data.length - offset));
  };
  const echoed: string[] = [];
  const a = await DurableAppender.open(file, {
    writeSync: shortWrite,
    onWrite: (bytes) => echoed.push(Buffer.from(bytes).toString('utf8')),
  });
  a.write('décision 1');
  t.equal(readFileSync(file, 'utf8'), 'décision 1\n', 'the whole line, multi-byte characters intact');
  t.same(offsets, [0, 3, 6, 9], 'each write(2) goes on where the last one stopped');
  t.same(echoed, ['décision 1\n'], 'onWrite gets the whole write, once');
  a.write(Buffer.from('bytes 2'));
  t.equal(readFileSync(file, 'utf8'), 'décision 1\nbytes 2\n', 'a line given as bytes is written as is');
  await a.close();
});

t.test('appender: a failing write throws at once (ENOSPC), and the file stays failed', async (t) => {
  const a = await DurableAppender.open('/dev/full');
  t.throws(() => a.write('x'), { code: 'ENOSPC' });
  t.equal(a.failed, true);
  t.throws(() => a.write('y'), { code: 'ENOSPC' });
  await a.close();
});

t.test('audit log, batch: a record is written when write() settles, the sync follows', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'errand-audit-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'audit.jsonl');
  const sync = heldSync();
  const opening = AuditLog.open({
    file,
    manifestSha256: SHA,
    datasync: sync.datasync,
    syncIntervalMs: 0,
    now: () => 0,
  });
  // The opening record is synced in every mode: a log that cannot reach the disk stops the start.
  await until(() => sync.inFlight() === 1);
  t.equal(await settled(opening), 'pending', 'open waits for the opening record to be on disk');
  sync.release();
  const log = await opening;
  const written = log.write({ event: 'egress_decision', decision: 'allow' });
  t.equal(await settled(written), 'resolved', 'resolved with the sync still in flight');
  t.equal(sync.inFlight(), 1, 'the background sync was started by the write');
  t.match(readFileSync(file, 'utf8'), /"event":"egress_decision"/, 'and the record is in the file');
  const flushed = log.flush();
  t.equal(await settled(flushed), 'pending', 'flush() waits for the disk (drain, deadline)');
  sync.release();
  t.equal(await settled(flushed), 'resolved');
  await log.close();
  t.same(verifyAuditText(await readFile(file, 'utf8')), { ok: true, records: 2 });
});

t.test('audit log, batch: a failed background sync fails the next record and the health check', async (t) => {
  const { sync, log } = await heldLog(t, { syncIntervalMs: 0 });
  await log.write({ event: 'egress_decision', decision: 'allow' });
  t.equal(log.healthy, true);
  sync.release(eio());
  await until(() => !log.healthy);
  t.equal(log.healthy, false, '/readyz turns 503');
  await t.rejects(log.write({ event: 'egress_decision' }), { code: 'EIO' }, 'the next request fails closed');
  await log.close();
});

t.test('audit log, each: write() waits for fdatasync, except a record that gates nothing', async (t) => {
  const { sync, log } = await heldLog(t, { sync: 'each' });
  const result = log.write({ event: 'egress_result' }, { noSync: true });
  t.equal(await settled(result), 'resolved', 'a result record never waits for a sync of its own');
  t.equal(sync.calls(), 1, 'and starts none');
  const decision = log.write({ event: 'egress_decision', decision: 'allow' });
  t.equal(sync.calls(), 2);
  t.equal(
    await settled(decision),
    'pending',
    'an allowed request waits for the disk (power-loss durability)',
  );
  sync.release();
  t.equal(await settled(decision), 'resolved');
  await log.close();
});

t.test('audit log: shared records resolve at the end of the turn, chained in call order', async (t) => {
  for (const mode of ['batch', 'each'] as const) {
    const { file, sync, log } = await heldLog(t, { sync: mode, syncIntervalMs: 0 });
    const a = log.write({ event: 'egress_decision', n: 1 }, { shareWrite: true });
    const b = log.write({ event: 'egress_result', n: 2 }, { noSync: true });
    const c = log.write({ event: 'egress_decision', n: 3 }, { shareWrite: true });
    t.equal(await settledInTurn(b), 'resolved', `${mode}: a result waits for nothing`);
    t.equal(await settledInTurn(a), 'pending', `${mode}: not written within the turn`);
    await new Promise((r) => setImmediate(r));
    t.equal(readFileSync(file, 'utf8').split('\n').length, 5, `${mode}: opened + 3 records + end`);
    if (mode === 'each') {
      t.equal(await settled(c), 'pending', 'each: written, and waiting for its fdatasync');
      await until(() => sync.inFlight() === 1);
      sync.release();
    } else {
      sync.release();
    }
    await Promise.all([a, c]);
    t.pass(`${mode}: resolved`);
    await log.close();
    t.same(
      verifyAuditText(await readFile(file, 'utf8')),
      { ok: true, records: 4 },
      `${mode}: chain verifies`,
    );
  }
});

t.test('audit log: the stdout echo is the bytes of each write(2) of the file, in order', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'errand-audit-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'audit.jsonl');
  const echoed: string[] = [];
  const log = await AuditLog.open({
    file,
    manifestSha256: SHA,
    // Copied during the call: the appender reuses its buffer after it.
    echoBytes: (bytes) => echoed.push(Buffer.from(bytes).toString('utf8')),
  });
  t.equal(echoed.length, 1, 'the opening record, with its write');
  const a = log.write({ event: 'a', note: 'déjà vu' }, { shareWrite: true });
  log.write({ event: 'b' }, { noSync: true });
  const c = log.write({ event: 'c' }, { shareWrite: true });
  t.equal(echoed.length, 1, 'nothing written to stdout within the turn');
  await Promise.all([a, c]);
  t.equal(echoed.length, 2, 'one echo for the one write of the turn');
  t.equal(echoed[1]?.split('\n').length, 4, 'holding its three lines');
  await log.write({ event: 'd' });
  t.equal(echoed.length, 3, 'an unshared record: its own write, its own echo');
  log.write({ event: 'e' }, { noSync: true });
  await log.close();
  t.equal(echoed.length, 4, 'close flushes what is pending');
  const text = await readFile(file, 'utf8');
  t.equal(echoed.join(''), text, 'byte for byte the lines of the file, multi-byte characters intact');
  t.same(verifyAuditText(text), { ok: true, records: 6 }, 'and the chain over those bytes verifies');
});

t.test('audit log without a file: the echo is one call per tick', async (t) => {
  const echoed: string[] = [];
  const log = await AuditLog.open({
    file: undefined,
    manifestSha256: SHA,
    echoBytes: (bytes) => echoed.push(Buffer.from(bytes).toString('utf8')),
  });
  await log.write({ event: 'a' });
  await log.write({ event: 'b' });
  t.equal(echoed.length, 0, 'nothing written to stdout within the tick');
  await new Promise((r) => setImmediate(r));
  t.equal(echoed.length, 1, 'one write for the lines of the tick');
  await log.write({ event: 'c' });
  await log.close();
  t.equal(echoed.length, 2, 'close flushes what is pending');
  t.same(
    echoed
      .join('')
      .split('\n')
      .map((l) => (l === '' ? '' : JSON.parse(l).event)),
    ['a', 'b', 'c', ''],
    'every line, newline-terminated, in order',
  );
});

t.test('audit log: a failing stdout never stops the audit', async (t) => {
  const log = await AuditLog.open({
    file: undefined,
    manifestSha256: SHA,
    echoBytes: () => {
      throw Object.assign(new Error('EPIPE'), { code: 'EPIPE' });
    },
  });
  await log.write({ event: 'a' });
  await new Promise((r) => setImmediate(r));
  await log.write({ event: 'b' });
  t.equal(log.healthy, true);
  await log.close();
});
