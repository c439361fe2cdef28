import type { Readable } from 'node:stream';

// Buffers for the chunks of a re-signed upload body, reused once the upstream socket has written
// them. Each signed chunk is joined into one buffer (its size line and data, one write); fresh
// 1 MiB buffers become garbage that V8 frees only after about 64 MiB of external memory has built
// up, the whole peak-memory budget of an upload. Reusing a few keeps an upload's memory flat.
//
// undici does not say when a chunk is written, so it is proven from the body stream's own events.
// undici pauses the body when a socket write returns false, and resumes it only on the socket's
// 'drain', which Node emits only once every write handed to the socket has completed. So a chunk
// read out of the body before a 'pause' is written by the time a 'resume' finds the body flowing
// again. ('resume' is emitted a tick after `resume()`: a 'resume' that finds the body paused again
// belongs to an earlier drain and proves nothing.) Without that proof, e.g. when a socket takes a
// whole chunk without asking to wait, a buffer is never reused: fresh buffers are allocated, as
// they would be without the pool. A buffer reused too early would send the next chunk's bytes
// under this chunk's signature, which the upstream refuses; it can never send bytes unsigned.

export interface ChunkBufferPool {
  /** A buffer of exactly `length` bytes for the next chunk; its contents are stale. */
  readonly take: (length: number) => Buffer;
  /** Watches `body` (the stream the chunks are pushed into); returns the push to use instead of
   *  `body.push`, which records where each pooled buffer ends in the body's output. */
  readonly watch: (body: Readable) => (bytes: Uint8Array) => void;
  /** Buffers handed out: reused from the pool, or allocated (for the pool or beyond it). */
  readonly stats: { readonly reused: number; readonly allocated: number };
}

interface InFlight {
  readonly buffer: Buffer;
  /** The body's output offset just past this buffer's bytes. */
  readonly end: number;
}

/** A pool of at most `count` buffers of `capacity` bytes; longer requests are allocated fresh. */
export function createChunkBufferPool(capacity: number, count = 4): ChunkBufferPool {
  const owned = new Map<ArrayBufferLike, Buffer>();
  const free: Buffer[] = [];
  let inFlight: InFlight[] = []; // pushed, maybe not yet read out of the body (FIFO)
  let handed: Buffer[] = []; // read out before the last 'pause': written by the next real 'resume'
  let pushed = 0;
  const stats = { reused: 0, allocated: 0 };

  const take = (length: number): Buffer => {
    let buffer = length > capacity ? undefined : free.pop();
    if (buffer !== undefined) stats.reused++;
    else {
      stats.allocated++;
      if (length > capacity || owned.size >= count) return Buffer.allocUnsafe(length);
      // allocUnsafeSlow: a buffer of its own, never a slice of Node's shared pool.
      buffer = Buffer.allocUnsafeSlow(capacity);
      owned.set(buffer.buffer, buffer);
    }
    return buffer.subarray(0, length);
  };

  const watch = (body: Readable): ((bytes: Uint8Array) => void) => {
    body.on('pause', () => {
      const readOut = pushed - body.readableLength;
      let i = 0;
      while (i < inFlight.length && inFlight[i]!.end <= readOut) handed.push(inFlight[i++]!.buffer);
      if (i > 0) inFlight = inFlight.slice(i);
    });
    body.on('resume', () => {
      if (body.readableFlowing !== true || handed.length === 0) return;
      free.push(...handed);
      handed = [];
    });
    return (bytes) => {
      pushed += bytes.length;
      const buffer = owned.get(bytes.buffer);
      if (buffer !== undefined) inFlight.push({ buffer, end: pushed });
      body.push(bytes);
    };
  };

  return { take, watch, stats };
}
