import { chmod, mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DurableAppender } from '../audit/durable-appender.ts';
import { ErrandError } from '../errors.ts';
import type { Uses } from '../manifest/types.ts';

// Use counters that survive a crash or restart of Errand within the pod. A use is taken in memory
// synchronously (Node runs one callback at a time, so check-and-take is atomic across concurrent
// requests), then written to the journal and synced before the request is forwarded. On start the
// journal is replayed. A torn last line cannot say which grant it was for, so it counts as a use of
// every grant whose id it could be the start of: a restarted Errand may grant less, never more.

export interface GrantLimit {
  readonly id: string;
  readonly uses: Uses;
}

export class UseLedger {
  #limits: Map<string, Uses>;
  #used: Map<string, number>;
  #journal: DurableAppender | undefined;

  private constructor(
    limits: readonly GrantLimit[],
    used: Map<string, number>,
    journal: DurableAppender | undefined,
  ) {
    this.#limits = new Map(limits.map((g) => [g.id, g.uses]));
    this.#used = used;
    this.#journal = journal;
  }

  /** In-memory only (tests, `manifest explain`); nothing survives a restart. */
  static inMemory(limits: readonly GrantLimit[]): UseLedger {
    return new UseLedger(limits, new Map(), undefined);
  }

  /** Opens the journal for this manifest in `stateDir`, replaying what an earlier run consumed. */
  static async open(
    stateDir: string,
    manifestSha256: string,
    limits: readonly GrantLimit[],
  ): Promise<UseLedger> {
    const file = join(stateDir, `uses-${manifestSha256.slice(0, 32)}.journal`);
    const unavailable = (error: unknown) =>
      new ErrandError(
        'ERR_STATE_UNAVAILABLE',
        `${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
        {
          cause: error,
        },
      );
    let text = '';
    let journal: DurableAppender;
    try {
      await mkdir(stateDir, { recursive: true, mode: 0o700 });
      await tightenDirectory(stateDir);
      try {
        text = await readFile(file, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
      journal = await DurableAppender.open(file);
    } catch (error) {
      throw unavailable(error);
    }
    const used = replayJournal(
      text,
      limits.map((g) => g.id),
    );
    // Close a torn line first, or the next record would be glued to it and lost on the next replay.
    try {
      if (text !== '' && !text.endsWith('\n')) await journal.append('');
    } catch (error) {
      await journal.close().catch(() => undefined);
      throw unavailable(error);
    }
    return new UseLedger(limits, used, journal);
  }

  remaining(grantId: string): number | 'unlimited' {
    const limit = this.#limits.get(grantId);
    if (limit === undefined) return 0;
    if (limit === 'unlimited') return 'unlimited';
    return Math.max(0, limit - (this.#used.get(grantId) ?? 0));
  }

  /** Uses taken of a counted grant (0 for an unlimited one: it has nothing to count). */
  used(grantId: string): number {
    return this.#used.get(grantId) ?? 0;
  }

  /** Takes one use of each grant, all or none. Synchronous: call it with nothing awaited in between
   *  the decision and the take. Returns the first exhausted grant id, or undefined when taken. */
  take(grantIds: readonly string[]): string | undefined {
    for (const id of grantIds) if (this.remaining(id) === 0) return id;
    // An unlimited grant has nothing to count (nothing journals or reads its uses).
    for (const id of grantIds) {
      if (this.#limits.get(id) !== 'unlimited') this.#used.set(id, (this.#used.get(id) ?? 0) + 1);
    }
    return undefined;
  }

  /** Makes the takes durable. Rejects when the journal cannot be written: the caller must not forward. */
  async persist(grantIds: readonly string[], requestId: string): Promise<void> {
    if (!this.#journal || grantIds.length === 0) return;
    await this.#journal.append(grantIds.map((id) => `${id} ${requestId}`).join('\n'));
  }

  async close(): Promise<void> {
    await this.#journal?.close();
  }
}

/** Counts one use per record `<grantId> <requestId>`; a torn or damaged record counts against every
 *  grant id it is a prefix of. */
export function replayJournal(text: string, grantIds: readonly string[]): Map<string, number> {
  const used = new Map<string, number>();
  const bump = (id: string) => used.set(id, (used.get(id) ?? 0) + 1);
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const [id = '', requestId] = line.split(' ');
    if (requestId !== undefined && grantIds.includes(id)) bump(id);
    // A torn or damaged record: count it against every grant it could have named.
    else for (const g of grantIds) if (g.startsWith(id)) bump(g);
  }
  return used;
}

/** H3: whoever can write the state directory can delete or swap the journal and so reset the counts.
 *  A directory Errand owns (one it made, a bind mount it owns) is made 0700; one it does not own (a
 *  Kubernetes emptyDir is root's, 0777) stays as the pod spec made it, and the chart mounts it into
 *  Errand's container only (docs/operations.md). */
export async function tightenDirectory(dir: string): Promise<void> {
  const s = await stat(dir);
  if ((s.mode & 0o077) !== 0 && s.uid === process.getuid?.()) await chmod(dir, 0o700);
}
