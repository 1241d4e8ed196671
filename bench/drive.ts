// A fixed number of requests, `concurrency` at a time, for the runs that count what happens (cold key
// lookups, upstream calls, keys cached) rather than how fast: wrk runs for a duration, never a count.
import { Pool } from 'undici';

export interface DriveResult {
  requests: number;
  /** Answers that were not 2xx, and requests that failed on the socket. */
  non2xx: number;
  errors: number;
  statusCodes: Record<string, number>;
}

/** Sends request i (0 ≤ i < count) to `pathOf(i)` on `url`, over `concurrency` keep-alive connections. */
export async function drive(url: string, pathOf: (i: number) => string, count: number, concurrency: number): Promise<DriveResult> {
  const pool = new Pool(url, { connections: concurrency, pipelining: 1 });
  const r: DriveResult = { requests: 0, non2xx: 0, errors: 0, statusCodes: {} };
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      try {
        const res = await pool.request({ method: 'GET', path: pathOf(i) });
        await res.body.dump();
        r.requests++;
        r.statusCodes[res.statusCode] = (r.statusCodes[res.statusCode] ?? 0) + 1;
        if (res.statusCode < 200 || res.statusCode > 299) r.non2xx++;
      } catch {
        r.errors++;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  } finally {
    await pool.close();
  }
  return r;
}
