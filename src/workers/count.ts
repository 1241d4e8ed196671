/**
 * `--workers N|auto`: how many serving processes. `auto` counts the CPUs this
 * process may really use: the scheduler's affinity (os.availableParallelism)
 * capped by the cgroup v2 CPU quota, which is what Cloud Run and Kubernetes
 * CPU limits set (a 1-vCPU container on a 64-core host must not start 64).
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { InvalidArgumentError } from 'commander';

/** More processes than this serve no machine better; a typo (--workers 1000) must not fork a thousand. */
export const MAX_WORKERS = 64;

/** CPUs allowed by a cgroup v2 `cpu.max` ("max 100000" or "200000 100000"), rounded up; undefined: no quota. */
export function cpusFromCpuMax(text: string): number | undefined {
  const [quota, period] = text.trim().split(/\s+/);
  if (quota === undefined || quota === 'max') return undefined;
  const q = Number(quota);
  const p = Number(period ?? 100_000);
  if (!(q > 0) || !(p > 0)) return undefined;
  return Math.max(1, Math.ceil(q / p));
}

function cgroupCpus(file: string): number | undefined {
  try {
    return cpusFromCpuMax(readFileSync(file, 'utf8'));
  } catch {
    return undefined; // no cgroup v2 (macOS, cgroup v1): the affinity alone decides
  }
}

export function autoWorkers(cpuMaxFile = '/sys/fs/cgroup/cpu.max'): number {
  const quota = cgroupCpus(cpuMaxFile);
  return Math.min(MAX_WORKERS, quota === undefined ? availableParallelism() : Math.min(quota, availableParallelism()));
}

/** The flag's parser: a whole number from 1 to MAX_WORKERS, or `auto`. */
export function parseWorkers(v: string): number {
  if (v.trim().toLowerCase() === 'auto') return autoWorkers();
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > MAX_WORKERS) throw new InvalidArgumentError(`--workers must be auto or a whole number from 1 to ${MAX_WORKERS}`);
  return n;
}
