// "Serving never pauses", measured inside the gateway instead of by how fast a
// client gets its answer: a client on a loaded machine waits for its own turn
// on a CPU, and so does the gateway, whether or not anything blocked it.
import assert from 'node:assert/strict';
import { send } from './http.ts';

/**
 * The most CPU time the gateway's serving thread spent in one stretch, without
 * returning to its event loop, since the previous call (in seconds; the gauge
 * endpoints_gateway_event_loop_busy_max_seconds on the admin listener, reset on
 * each read). Call it once to start a measurement and again to end it.
 */
export async function busyMaxSeconds(adminUrl: string): Promise<number> {
  const r = await send(adminUrl, '/metrics');
  assert.equal(r.status, 200);
  const m = /^endpoints_gateway_event_loop_busy_max_seconds ([\d.e+-]+)$/m.exec(r.body);
  assert.ok(m, 'endpoints_gateway_event_loop_busy_max_seconds is exposed');
  return Number(m[1]);
}

/**
 * How much CPU time this thread spent running `fn` (milliseconds): for a bound on
 * synchronous work that a loaded machine must not break, as it breaks a stopwatch.
 */
export function threadCpuMs(fn: () => void): number {
  const before = process.threadCpuUsage();
  fn();
  const used = process.threadCpuUsage(before);
  return (used.user + used.system) / 1000;
}
