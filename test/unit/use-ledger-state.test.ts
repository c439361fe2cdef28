// The use journal's state directory: an unusable one stops Errand at start with ERR_STATE_UNAVAILABLE
// naming the file and the cause, and a directory Errand owns that others may use is tightened (H3).

import { chmod, chown, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { tightenDirectory, UseLedger } from '../../src/authorize/use-ledger.ts';
import { ErrandError } from '../../src/errors.ts';

const SHA = 'e'.repeat(64);
const grants = [{ id: 'read', uses: 1 as const }];

t.test(
  'an unusable state directory: ERR_STATE_UNAVAILABLE with the journal path and the cause',
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'errand-state-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const rows: [string, () => Promise<string>, RegExp][] = [
      [
        'the state dir is a file',
        async () => {
          await writeFile(join(dir, 'file'), '');
          return join(dir, 'file');
        },
        /^the use journal in the state directory cannot be written: .*\/file\/uses-e{32}\.journal: (ENOTDIR|EEXIST)$/,
      ],
      [
        'the journal is a directory',
        async () => {
          await mkdir(join(dir, 'state', `uses-${SHA.slice(0, 32)}.journal`), { recursive: true });
          return join(dir, 'state');
        },
        /uses-e{32}\.journal: EISDIR$/,
      ],
    ];
    for (const [name, make, message] of rows) {
      const error = await UseLedger.open(await make(), SHA, grants).catch((e: unknown) => e);
      t.ok(error instanceof ErrandError, name);
      t.equal((error as ErrandError).code, 'ERR_STATE_UNAVAILABLE', name);
      t.match((error as ErrandError).message, message, name);
    }
  },
);

t.test('a state directory Errand owns is made 0700; one it does not own is left as it is', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'errand-state-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const own = join(dir, 'own');
  await mkdir(own);
  await chmod(own, 0o777);
  await tightenDirectory(own);
  t.equal(((await stat(own)).mode & 0o777).toString(8), '700');
  if (process.getuid?.() !== 0) return;
  // As root, hand a directory to another user: Errand cannot and does not change it.
  const theirs = join(dir, 'theirs');
  await mkdir(theirs);
  await chmod(theirs, 0o777);
  await chown(theirs, 4321, 4321);
  await tightenDirectory(theirs);
  t.equal(((await stat(theirs)).mode & 0o777).toString(8), '777');
});

t.test('used() counts takes of counted grants; an unlimited grant is taken without counting', async (t) => {
  const l = UseLedger.inMemory([
    { id: 'read', uses: 2 },
    { id: 'list', uses: 'unlimited' },
  ]);
  t.equal(l.used('read'), 0);
  t.equal(l.take(['read', 'list']), undefined);
  t.equal(l.used('read'), 1);
  t.equal(l.remaining('read'), 1);
  t.equal(l.take(['list']), undefined);
  t.equal(l.used('list'), 0, 'nothing counted');
  t.equal(l.remaining('list'), 'unlimited');
  t.equal(l.take(['read', 'list']), undefined);
  t.equal(l.take(['read', 'list']), 'read', 'the counted grant still runs out');
  t.equal(l.used('read'), 2, 'and a refused take counted nothing');
});
