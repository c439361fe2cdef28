import { close, fchmod, fdatasync, fstat, open, writeSync } from 'node:fs';
import { promisify } from 'node:util';

// Appends lines to a file in two steps that callers choose between:
// - write(): the line is handed to the kernel (write(2) on an O_APPEND fd) before write() returns.
//   That survives a kill -9 or OOM kill of Errand, and a failing write (ENOSPC, EIO) throws right
//   there, so the caller fails closed synchronously.
// - sync(): resolves once everything written before the call is on disk (fdatasync, fdatasync(2)).
//   Syncs are group-committed: one in flight at a time, covering every line written before it
//   started; lines written meanwhile share the next one.
// - writeShared(): like write(), but the lines of one event-loop turn share one write(2) at the end of
//   the turn; the promise it returns resolves once that write returned (rejects when it failed).
//   A caller that waits for it before acting keeps "in the kernel before acting" with one syscall
//   for a burst instead of one per line.
// With `background`, every write starts a sync when none is in flight, so the disk is never more
// than one sync behind; a failing sync marks the file failed and every later write throws
// (after a failed fdatasync the kernel may have dropped the dirty pages: nothing later is trusted).

const openP = promisify(open);
const fstatP = promisify(fstat);
const fchmodP = promisify(fchmod);
const closeP = promisify(close);

/** fdatasync(2) of an fd, callback style (node:fs `fdatasync`; tests inject a slow or failing one). */
export type Datasync = (fd: number, callback: (error: NodeJS.ErrnoException | null) => void) => void;

export interface AppenderOptions {
  /** Start a sync after every write when none is in flight (the audit log in `batch` mode). */
  readonly background?: boolean;
  /** Background syncs start at most once per this many ms (default 0). A write to a page under
   *  writeback waits for it on ext4 (stable pages), so back-to-back syncs slow the writes that
   *  requests wait for; spacing them bounds the power-loss window instead. sync() never waits. */
  readonly backgroundIntervalMs?: number;
  readonly datasync?: Datasync;
  /** Tests: a write(2) that takes part of what it is given (node:fs `writeSync`). */
  readonly writeSync?: WriteSync;
}

/** write(2) of a string, or of a Buffer from an offset; returns the bytes written. */
export type WriteSync = (fd: number, data: string | Buffer, offset?: number) => number;

interface Waiter {
  readonly upTo: number;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

export class DurableAppender {
  readonly path: string;
  readonly #fd: number;
  readonly #background: boolean;
  readonly #datasync: Datasync;
  readonly #writeSync: WriteSync;
  readonly #intervalMs: number;
  #lastSyncStart = Number.NEGATIVE_INFINITY;
  #timer: NodeJS.Timeout | undefined;
  /** Lines written so far, and how many of them the last completed sync covered. */
  #written = 0;
  #synced = 0;
  #syncing = false;
  #waiters: Waiter[] = [];
  #failed: unknown;
  #closed = false;
  /** Lines queued by writeLater() and writeShared(), not yet handed to the kernel. */
  #deferred = '';
  #flushScheduled = false;
  /** Settles the writeShared() callers of the lines in #deferred once they are written (one per turn). */
  #shared: PromiseWithResolvers<void> | undefined;

  private constructor(path: string, fd: number, opts: AppenderOptions) {
    this.path = path;
    this.#fd = fd;
    this.#background = opts.background === true;
    this.#datasync = opts.datasync ?? fdatasync;
    this.#writeSync =
      opts.writeSync ??
      ((fd, data, offset) => (typeof data === 'string' ? writeSync(fd, data) : writeSync(fd, data, offset)));
    this.#intervalMs = opts.backgroundIntervalMs ?? 0;
  }

  static async open(path: string, opts: AppenderOptions = {}): Promise<DurableAppender> {
    const fd = await openP(path, 'a', 0o600);
    try {
      // The mode given to open() applies only to a new file: an existing one that others may read or
      // write (left by hand, or planted) is made 0600 when Errand owns it (SECURITY-CASES H3).
      const s = await fstatP(fd);
      if (s.isFile() && (s.mode & 0o077) !== 0 && s.uid === process.getuid?.()) await fchmodP(fd, 0o600);
    } catch (error) {
      await closeP(fd);
      throw error;
    }
    return new DurableAppender(path, fd, opts);
  }

  /** Hands `line` and a newline to the kernel in one write(2), after any deferred lines (in order).
   *  Throws when the file has failed (a write or a sync), is closed, or this write fails; the file
   *  is then failed for good. */
  write(line: string): void {
    if (this.#failed !== undefined) throw this.#failed;
    if (this.#closed) throw new Error(`${this.path} is closed`);
    const text = `${this.#deferred}${line}\n`;
    this.#deferred = '';
    this.#putWithShared(text);
  }

  /** Queues `line` for the one write(2) that ends this event-loop turn (or the next write(), whichever
   *  comes first), with every other line queued in the turn. The promise is shared by those lines:
   *  it resolves once their write returned, and rejects when the file has failed, is closed, or that
   *  write fails (the file is then failed for good). */
  writeShared(line: string): Promise<void> {
    if (this.#failed !== undefined) return Promise.reject(this.#failed);
    if (this.#closed) return Promise.reject(new Error(`${this.path} is closed`));
    this.#deferred += `${line}\n`;
    this.#shared ??= Promise.withResolvers<void>();
    this.#scheduleFlush();
    return this.#shared.promise;
  }

  /** Queues a line that gates nothing (a result record): it goes out with the next write(), or at
   *  the end of this event-loop turn, whichever comes first: one write(2) instead of two. A crash
   *  before then loses it. A failing write fails the file (the next write() throws). */
  writeLater(line: string): void {
    if (this.#failed !== undefined) throw this.#failed;
    if (this.#closed) throw new Error(`${this.path} is closed`);
    this.#deferred += `${line}\n`;
    this.#scheduleFlush();
  }

  /** At the end of this turn (setImmediate runs after the I/O callbacks of this loop iteration, so
   *  every request read in it shares the write). */
  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      this.#flushDeferred();
    });
  }

  #flushDeferred(): void {
    if (this.#deferred === '' || this.#failed !== undefined) return;
    const text = this.#deferred;
    this.#deferred = '';
    try {
      this.#putWithShared(text);
    } catch {
      // #put failed the file (and rejected the shared lines): the next write() throws, so the next
      // request is refused.
    }
  }

  /** #put, then settles the writeShared() callers whose lines were in `text`. */
  #putWithShared(text: string): void {
    const shared = this.#shared;
    this.#shared = undefined;
    try {
      this.#put(text);
    } catch (error) {
      shared?.reject(error);
      throw error;
    }
    shared?.resolve();
  }

  #put(text: string): void {
    try {
      // The string as is: no Buffer (external memory the GC must account for) per write. A regular
      // file takes it whole; a short write (a pipe, a FUSE file) sends the rest from a Buffer.
      const written = this.#writeSync(this.#fd, text);
      const length = Buffer.byteLength(text);
      if (written < length) {
        const bytes = Buffer.from(text);
        for (let off = written; off < length; ) off += this.#writeSync(this.#fd, bytes, off);
      }
    } catch (error) {
      this.#fail(error);
      throw error;
    }
    this.#written += 1;
    if (this.#background) this.#startBackgroundSync();
  }

  /** A background sync now, or when the interval since the last one has passed. */
  #startBackgroundSync(): void {
    if (this.#synced >= this.#written) return;
    const wait = this.#lastSyncStart + this.#intervalMs - performance.now();
    if (wait <= 0) {
      this.#startSync();
      return;
    }
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#startSync();
    }, wait);
    // Never what keeps the process alive: close() syncs what is left.
    this.#timer.unref();
  }

  /** Resolves once every line written before this call is on disk; rejects once the file failed. */
  sync(): Promise<void> {
    this.#flushDeferred();
    if (this.#failed !== undefined) return Promise.reject(this.#failed);
    if (this.#synced >= this.#written) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#waiters.push({ upTo: this.#written, resolve, reject });
      this.#startSync();
    });
  }

  /** write() then sync(): resolves when the line is on disk (rejects, never throws). */
  append(line: string): Promise<void> {
    try {
      this.write(line);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.sync();
  }

  #startSync(): void {
    if (this.#syncing || this.#failed !== undefined || this.#synced >= this.#written) return;
    this.#syncing = true;
    this.#lastSyncStart = performance.now();
    const upTo = this.#written;
    this.#datasync(this.#fd, (error) => {
      this.#syncing = false;
      if (error) {
        this.#fail(error);
        return;
      }
      this.#synced = upTo;
      const waiting = this.#waiters;
      this.#waiters = [];
      for (const w of waiting) {
        if (w.upTo <= upTo) w.resolve();
        else this.#waiters.push(w);
      }
      // Lines written while this sync ran get the next one: at once for a waiter, else in the background.
      if (this.#background && this.#waiters.length === 0) this.#startBackgroundSync();
      else this.#startSync();
    });
  }

  #fail(error: unknown): void {
    if (this.#failed === undefined) this.#failed = error;
    // Queued lines are never written after a failure: their callers must not act on them.
    const shared = this.#shared;
    this.#shared = undefined;
    shared?.reject(error);
    const waiting = this.#waiters;
    this.#waiters = [];
    for (const w of waiting) w.reject(error);
  }

  get failed(): boolean {
    return this.#failed !== undefined;
  }

  /** Syncs what was written (when the file has not failed), then closes it. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#flushDeferred();
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    try {
      if (this.#failed === undefined) await this.sync();
    } finally {
      // A sync in flight still owns the fd: wait for it before closing.
      while (this.#syncing) await new Promise((r) => setImmediate(r));
      await closeP(this.#fd);
    }
  }
}
