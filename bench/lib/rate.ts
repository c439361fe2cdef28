import { Pool } from 'undici';

// An open-loop load at a fixed rate for the memory run: every 10 ms tick sends the requests due by
// then over a small keep-alive pool, without waiting for earlier answers (bounded in flight), and
// calls `everySecond` once a second so the caller can sample the subject.

export interface RateOptions {
  readonly origin: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly rate: number;
  readonly seconds: number;
  readonly everySecond: (second: number) => Promise<void>;
  readonly maxInFlight?: number;
}

export interface RateResult {
  readonly sent: number;
  readonly ok: number;
  readonly failed: number;
  /** Requests not sent because maxInFlight were already waiting (the subject fell behind). */
  readonly skipped: number;
}

const TICK_MS = 10;

export async function driveRate(o: RateOptions): Promise<RateResult> {
  const pool = new Pool(o.origin, { connections: 16, keepAliveTimeout: 10_000 });
  const maxInFlight = o.maxInFlight ?? 256;
  let sent = 0;
  let ok = 0;
  let failed = 0;
  let skipped = 0;
  let inFlight = 0;
  const pending = new Set<Promise<void>>();
  const one = async () => {
    inFlight++;
    try {
      const res = await pool.request({ path: o.path, method: 'GET', headers: o.headers });
      await res.body.dump();
      if (res.statusCode === 200) ok++;
      else failed++;
    } catch {
      failed++;
    } finally {
      inFlight--;
    }
  };
  try {
    const start = performance.now();
    let second = 0;
    while (performance.now() - start < o.seconds * 1000) {
      const due = Math.floor(((performance.now() - start) / 1000) * o.rate);
      while (sent + skipped < due) {
        if (inFlight >= maxInFlight) {
          skipped++;
          continue;
        }
        sent++;
        const p = one();
        pending.add(p);
        void p.finally(() => pending.delete(p));
      }
      const elapsed = Math.floor((performance.now() - start) / 1000);
      if (elapsed > second) {
        second = elapsed;
        await o.everySecond(second);
      }
      await new Promise((r) => setTimeout(r, TICK_MS));
    }
    await Promise.all(pending);
  } finally {
    await pool.close();
  }
  return { sent, ok, failed, skipped };
}
