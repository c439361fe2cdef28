import { Client } from 'undici';

// A fixed-rate latency generator over ONE connection (undici Client, no pipelining). Request i is
// due at start + i / rate; its latency is measured from that intended send time, not from when it
// was actually sent, so a slow answer that delays the next request is counted against the subject
// (no coordinated omission). The wait before a due time sleeps on a timer and spins only the last
// millisecond: Node's timers are 1 ms coarse, and nothing is in flight while it spins.

export interface LatencyRun {
  /** Microseconds from the intended send time to the last byte of the answer, one per request. */
  readonly fromIntended: Float64Array;
  /** Microseconds from the actual send to the last byte (service time), one per request. */
  readonly fromSend: Float64Array;
  readonly errors: number;
}

export interface LatencyOptions {
  /** Origin to connect to, e.g. http://127.0.0.1:4750. */
  readonly origin: string;
  /** Request-target: origin-form, or absolute-form for a forward proxy. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly rate: number;
  readonly seconds: number;
  /** The subject closes every connection after its answer: ask for that (Connection: close), so no
   *  request is sent on a connection the subject is closing. */
  readonly closes?: boolean;
}

const nowUs = (): number => performance.now() * 1000;

async function waitUntil(dueUs: number): Promise<void> {
  const ahead = dueUs - nowUs();
  if (ahead > 1500) await new Promise((r) => setTimeout(r, Math.floor((ahead - 1000) / 1000)));
  while (nowUs() < dueUs) {
    // spin: see the comment at the top
  }
}

export async function measureLatency(o: LatencyOptions): Promise<LatencyRun> {
  const client = new Client(o.origin, { pipelining: 1, keepAliveTimeout: 60_000 });
  const count = Math.max(1, Math.round(o.rate * o.seconds));
  const fromIntended = new Float64Array(count);
  const fromSend = new Float64Array(count);
  const intervalUs = 1e6 / o.rate;
  let errors = 0;
  try {
    const start = nowUs() + 2000;
    for (let i = 0; i < count; i++) {
      const due = start + i * intervalUs;
      await waitUntil(due);
      const sent = nowUs();
      try {
        const res = await client.request({
          path: o.path,
          method: 'GET',
          headers: o.headers,
          reset: o.closes === true,
        });
        for await (const _ of res.body) {
          // read to the end: latency is to the last byte
        }
        if (res.statusCode !== 200) errors++;
      } catch {
        errors++;
      }
      const done = nowUs();
      fromIntended[i] = done - due;
      fromSend[i] = done - sent;
    }
  } finally {
    await client.close();
  }
  return { fromIntended, fromSend, errors };
}
