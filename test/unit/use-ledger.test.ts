import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { replayJournal, UseLedger } from '../../src/authorize/use-ledger.ts';

const grants = [
  { id: 'read', uses: 1 as const },
  { id: 'read-2', uses: 2 },
  { id: 'any', uses: 'unlimited' as const },
];

t.test('take is all-or-nothing', async (t) => {
  const l = UseLedger.inMemory(grants);
  t.equal(l.take(['read', 'read-2']), undefined);
  t.equal(l.take(['read-2', 'read']), 'read', 'names the exhausted grant');
  t.equal(l.remaining('read-2'), 1, 'nothing was taken from the other grant');
  t.equal(l.remaining('any'), 'unlimited');
  t.equal(l.remaining('nope'), 0, 'unknown grants have nothing');
});

t.test('uses survive a restart through the journal', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'errand-ledger-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const a = await UseLedger.open(dir, 'f'.repeat(64), grants);
  t.equal(a.take(['read']), undefined);
  await a.persist(['read'], 'r-1');
  await a.close();
  const b = await UseLedger.open(dir, 'f'.repeat(64), grants);
  t.equal(b.remaining('read'), 0, 'the restarted ledger knows the use was taken');
  t.equal(b.remaining('read-2'), 2);
  await b.close();
  const other = await UseLedger.open(dir, 'e'.repeat(64), grants);
  t.equal(other.remaining('read'), 1, 'another manifest starts fresh');
  await other.close();
});

t.test('a torn last record keeps the use consumed for every grant it could name', async (t) => {
  t.same(
    [...replayJournal('read r-1\nrea', ['read', 'read-2', 'any'])],
    [
      ['read', 2],
      ['read-2', 1],
    ],
  );
  t.same([...replayJournal('read-2 r-1\nread-2 r-2\n', ['read', 'read-2'])], [['read-2', 2]]);
  t.same([...replayJournal('', ['read'])], []);
  const dir = await mkdtemp(join(tmpdir(), 'errand-ledger-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const sha = 'a'.repeat(64);
  const first = await UseLedger.open(dir, sha, grants);
  await first.close();
  await appendFile(join(dir, `uses-${sha.slice(0, 32)}.journal`), 'read-');
  const l = await UseLedger.open(dir, sha, grants);
  t.equal(l.remaining('read-2'), 1, 'torn "read-" counts against read-2');
  t.equal(l.remaining('read'), 1, 'but not against read, which it cannot be');
  t.equal(l.take(['read']), undefined);
  await l.persist(['read'], 'r-9');
  await l.close();
  t.match(
    await readFile(join(dir, `uses-${sha.slice(0, 32)}.journal`), 'utf8'),
    /^read-\nread r-9\n$/,
    'the torn line was closed before the next record',
  );
  const again = await UseLedger.open(dir, sha, grants);
  t.equal(again.remaining('read'), 0, 'the use after the torn line is still counted');
  t.equal(again.remaining('read-2'), 1, 'and the torn line still counts against read-2');
  await again.close();
});
