// Load generation: autocannon, programmatic, in the benchmark process.
import autocannon, { type Request } from 'autocannon';

export interface LoadResult {
  /** Completed 2xx responses per second over the run. */
  rps: number;
  /** Latency percentiles in ms (autocannon's histogram). */
  p50: number;
  p99: number;
  requests: number;
  /** Responses that were not 2xx, socket errors and timeouts: any of these makes the run invalid. */
  non2xx: number;
  errors: number;
  durationS: number;
  statusCodes: Record<string, number>;
}

export interface LoadOptions {
  url: string;
  /** Path with query, or a function giving the path of request number i (rotating keys). */
  path: string | ((i: number) => string);
  connections: number;
  /** Seconds; or set `amount`. */
  durationS?: number;
  amount?: number;
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  let request: Request;
  if (typeof o.path === 'string') {
    request = { method: 'GET', path: o.path };
  } else {
    const pathOf = o.path;
    let i = 0;
    // Called for every request: each one takes the next path, across all connections.
    request = { method: 'GET', setupRequest: (req) => ({ ...req, path: pathOf(i++) }) };
  }
  const r = await autocannon({
    url: o.url,
    connections: o.connections,
    ...(o.amount !== undefined ? { amount: o.amount } : { duration: o.durationS ?? 10 }),
    timeout: 10,
    requests: [request],
  });
  const ok = r['2xx'];
  const statusCodes: Record<string, number> = {};
  for (const [code, s] of Object.entries(r.statusCodeStats)) statusCodes[code] = s.count;
  return {
    rps: r.duration > 0 ? ok / r.duration : 0,
    p50: r.latency.p50,
    p99: r.latency.p99,
    requests: ok + r.non2xx,
    non2xx: r.non2xx,
    errors: r.errors,
    durationS: r.duration,
    statusCodes,
  };
}
