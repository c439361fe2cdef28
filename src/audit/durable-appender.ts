import { type FileHandle, open } from 'node:fs/promises';

// Appends lines to a file and resolves each append only once its bytes are on disk (fdatasync).
// Lines queued while a sync is in flight are written together (group commit), so durability costs
// one sync per burst rather than one per request.
export class DurableAppender {
  readonly path: string;
  #handle: FileHandle;
  #queue: { text: string; resolve: () => void; reject: (e: unknown) => void }[] = [];
  #flushing = false;
  #failed: unknown;
  #closed = false;

  private constructor(path: string, handle: FileHandle) {
    this.path = path;
    this.#handle = handle;
  }

  static async open(path: string): Promise<DurableAppender> {
    const handle = await open(path, 'a', 0o600);
    try {
      // The mode given to open() applies only to a new file: an existing one that others may read or
      // write (left by hand, or planted) is made 0600 when Errand owns it (SECURITY-CASES H3).
      const s = await handle.stat();
      if (s.isFile() && (s.mode & 0o077) !== 0 && s.uid === process.getuid?.()) await handle.chmod(0o600);
    } catch (error) {
      await handle.close();
      throw error;
    }
    return new DurableAppender(path, handle);
  }

  /** Resolves when the line is durable; rejects (for this and every later line) once a write failed. */
  append(line: string): Promise<void> {
    if (this.#failed !== undefined) return Promise.reject(this.#failed);
    if (this.#closed) return Promise.reject(new Error(`${this.path} is closed`));
    return new Promise((resolve, reject) => {
      this.#queue.push({ text: `${line}\n`, resolve, reject });
      if (!this.#flushing) void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    this.#flushing = true;
    while (this.#queue.length > 0) {
      const batch = this.#queue;
      this.#queue = [];
      try {
        await this.#handle.appendFile(batch.map((b) => b.text).join(''));
        await this.#handle.datasync();
        for (const b of batch) b.resolve();
      } catch (error) {
        this.#failed = error;
        for (const b of [...batch, ...this.#queue]) b.reject(error);
        this.#queue = [];
      }
    }
    this.#flushing = false;
  }

  get failed(): boolean {
    return this.#failed !== undefined;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    while (this.#flushing || this.#queue.length > 0) await new Promise((r) => setImmediate(r));
    this.#closed = true;
    await this.#handle.close();
  }
}
