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
// Lines may come as bytes (the audit log encodes each record once, hashes those bytes and hands them
// here): pending lines are copied into one reused buffer, so a burst is one write(2) of bytes
// without a string join or re-encoding, and `onWrite` (the stdout echo) gets the very same bytes.
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
  /** Receives the bytes of every write(2) that completed, right after it (the audit log's stdout
   *  echo: byte for byte what the file got, in the same order). The bytes are valid during the
   *  call only (the buffer is reused): a receiver that keeps them copies them. Its errors are
   *  ignored: a copy for log collection never fails the file. */
  readonly onWrite?: (bytes: Uint8Array) => void;
}

/** write(2) of a Buffer from an offset to its end; returns the bytes written. */
export type WriteSync = (fd: number, data: Buffer, offset: number) => number;

/** First size of the buffer pending lines are copied into (a burst of records fits; it grows). */
const PENDING_BYTES = 64 * 1024;
const MAX_KEPT_PENDING_BYTES = 1024 * 1024;
const NEWLINE = 0x0a;

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
  readonly #onWrite: ((bytes: Uint8Array) => void) | undefined;
  /** Lines queued by writeLater() and writeShared() (and the line of write()), newline-terminated,
   *  not yet handed to the kernel: #pending[0, #pendingLength). Reused after every write(2). */
  #pending: Buffer = Buffer.allocUnsafeSlow(PENDING_BYTES);
  #pendingLength = 0;
  #flushScheduled = false;
  /** Settles the writeShared() callers of the pending lines once they are written (one per turn). */
  #shared: PromiseWithResolvers<void> | undefined;

  private constructor(path: string, fd: number, opts: AppenderOptions) {
    this.path = path;
    this.#fd = fd;
    this.#background = opts.background === true;
    this.#datasync = opts.datasync ?? fdatasync;
    this.#writeSync = opts.writeSync ?? ((fd, data, offset) => writeSync(fd, data, offset));
    this.#intervalMs = opts.backgroundIntervalMs ?? 0;
    this.#onWrite = opts.onWrite;
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

  /** Hands `line` and a newline to the kernel in one write(2), after any pending lines (in order).
   *  Throws when the file has failed (a write or a sync), is closed, or this write fails; the file
   *  is then failed for good. */
  write(line: string | Uint8Array): void {
    if (this.#failed !== undefined) throw this.#failed;
    if (this.#closed) throw new Error(`${this.path} is closed`);
    this.#stage(line);
    this.#putWithShared();
  }

  /** Copies `line` and a newline after the pending lines (a string is encoded as UTF-8 right there). */
  #stage(line: string | Uint8Array): void {
    // Room for the line and its newline: a string's UTF-8 is at most 3 bytes per UTF-16 unit.
    const most = (typeof line === 'string' ? line.length * 3 : line.length) + 1;
    if (this.#pendingLength + most > this.#pending.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(this.#pending.length * 2, this.#pendingLength + most));
      this.#pending.copy(grown, 0, 0, this.#pendingLength);
      this.#pending = grown;
    }
    if (typeof line === 'string') this.#pendingLength += this.#pending.write(line, this.#pendingLength);
    else {
      this.#pending.set(line, this.#pendingLength);
      this.#pendingLength += line.length;
    }
    this.#pending[this.#pendingLength++] = NEWLINE;
  }

  /** Queues `line` for the one write(2) that ends this event-loop turn (or the next write(), whichever
   *  comes first), with every other line queued in the turn. The promise is shared by those lines:
   *  it resolves once their write returned, and rejects when the file has failed, is closed, or that
   *  write fails (the file is then failed for good). */
  writeShared(line: string | Uint8Array): Promise<void> {
    if (this.#failed !== undefined) return Promise.reject(this.#failed);
    if (this.#closed) return Promise.reject(new Error(`${this.path} is closed`));
    this.#stage(line);
    this.#shared ??= Promise.withResolvers<void>();
    this.#scheduleFlush();
    return this.#shared.promise;
  }

  /** Queues a line that gates nothing (a result record): it goes out with the next write(), or at
   *  the end of this event-loop turn, whichever comes first: one write(2) instead of two. A crash
   *  before then loses it. A failing write fails the file (the next write() throws). */
  writeLater(line: string | Uint8Array): void {
    if (this.#failed !== undefined) throw this.#failed;
    if (this.#closed) throw new Error(`${this.path} is closed`);
    this.#stage(line);
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
    if (this.#pendingLength === 0 || this.#failed !== undefined) return;
    try {
      this.#putWithShared();
    } catch {
      // #put failed the file (and rejected the shared lines): the next write() throws, so the next
      // request is refused.
    }
  }

  /** #put, then settles the writeShared() callers whose lines were pending. */
  #putWithShared(): void {
    const shared = this.#shared;
    this.#shared = undefined;
    try {
      this.#put();
    } catch (error) {
      shared?.reject(error);
      throw error;
    }
    shared?.resolve();
  }

  /** Hands the pending lines to the kernel: one write(2) for a regular file (a short write, as a
   *  pipe or a FUSE file may do, sends the rest), then the same bytes to onWrite. */
  #put(): void {
    const bytes = this.#pending.subarray(0, this.#pendingLength);
    // Emptied first: whatever happens below, these lines are never written twice.
    this.#pendingLength = 0;
    try {
      for (let off = 0; off < bytes.length; ) off += this.#writeSync(this.#fd, bytes, off);
    } catch (error) {
      this.#fail(error);
      throw error;
    }
    this.#written += 1;
    if (this.#background) this.#startBackgroundSync();
    if (this.#onWrite !== undefined)
      try {
        this.#onWrite(bytes);
      } catch {}
    // A rare huge burst does not pin its buffer for the rest of the run.
    if (this.#pending.length > MAX_KEPT_PENDING_BYTES) this.#pending = Buffer.allocUnsafeSlow(PENDING_BYTES);
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
    this.#pendingLength = 0;
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
