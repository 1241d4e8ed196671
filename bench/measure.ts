// One measured load run: wrk against a server, with the CPU its process tree (and the backend's)
// used over the same interval, per request served.
import { cpuSnapshot } from './cpu.ts';
import { runLoad, type LoadOptions, type LoadResult } from './wrk.ts';

export interface Measured extends LoadResult {
  /** User + system CPU µs of the server's process tree per request served. */
  cpuUsPerReq: number;
  /** Processes in the server's tree at the end of the run. */
  processes: number;
  /** The same for the backend behind it (NaN when the server is the backend). */
  backendCpuUsPerReq: number;
}

/** `server` and `backend` are the roots of the two process trees (the same pid for the direct case). */
export async function measuredLoad(o: LoadOptions, server: number, backend: number): Promise<Measured> {
  const pids = server === backend ? [server] : [server, backend];
  const before = await cpuSnapshot(pids);
  const r = await runLoad(o);
  const after = await cpuSnapshot(pids);
  const perReq = (pid: number) => (r.requests > 0 ? ((after.get(pid)!.seconds - before.get(pid)!.seconds) * 1e6) / r.requests : NaN);
  return {
    ...r,
    cpuUsPerReq: perReq(server),
    processes: after.get(server)!.processes,
    backendCpuUsPerReq: server === backend ? NaN : perReq(backend),
  };
}
