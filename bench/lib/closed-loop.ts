import { type Dispatcher, request } from 'undici';

// Closed-loop throughput where wrk cannot go (HTTPS through a proxy's CONNECT tunnel): `workers`
// loops, each with its own dispatcher (one tunnel each), each sending its next request when the
// previous answer has been read, for `seconds`. Any failed or non-200 answer fails the run.

export interface ClosedLoopOptions {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly workers: number;
  readonly seconds: number;
  readonly dispatcher: () => Dispatcher;
}

export async function closedLoop(o: ClosedLoopOptions): Promise<{ requests: number; rps: number }> {
  const dispatchers = Array.from({ length: o.workers }, () => o.dispatcher());
  let requests = 0;
  const t0 = performance.now();
  const until = t0 + o.seconds * 1000;
  try {
    await Promise.all(
      dispatchers.map(async (dispatcher) => {
        while (performance.now() < until) {
          const res = await request(o.url, { headers: o.headers, dispatcher });
          await res.body.dump();
          if (res.statusCode !== 200) throw new Error(`${o.url}: ${res.statusCode}`);
          requests++;
        }
      }),
    );
  } finally {
    await Promise.all(dispatchers.map((d) => d.close()));
  }
  return { requests, rps: requests / ((performance.now() - t0) / 1000) };
}
