/**
 * How much a piece of background work (a key store reload) disturbed
 * serving, measured inside the process while it runs: the event loop's
 * longest delay (wall clock, so it also counts time the machine gave to
 * other processes), and the longest stretch of CPU this thread spent
 * between two turns of the loop (what this process itself held serving up
 * with, whatever the machine's load).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';

export interface LoopReport {
  /** Longest event-loop delay seen, ms (10 ms resolution). */
  readonly maxDelayMs: number;
  /** Longest CPU time this thread ran between two 5 ms ticks, ms; undefined where Node cannot tell. */
  readonly maxBusyMs: number | undefined;
}

const TICK_MS = 5;

export function watchLoop(): () => LoopReport {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const cpu = typeof process.threadCpuUsage === 'function' ? () => process.threadCpuUsage() : undefined;
  let maxBusyUs = 0;
  let last = cpu?.();
  const sample = () => {
    if (!cpu || !last) return;
    const now = cpu();
    const used = now.user - last.user + (now.system - last.system);
    if (used > maxBusyUs) maxBusyUs = used;
    last = now;
  };
  const tick = setInterval(sample, TICK_MS);
  tick.unref();
  return () => {
    sample();
    clearInterval(tick);
    delay.disable();
    const maxDelayMs = Math.round(delay.max / 1e5) / 10;
    return { maxDelayMs, maxBusyMs: cpu ? Math.round(maxBusyUs / 100) / 10 : undefined };
  };
}
