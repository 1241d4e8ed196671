// Load generation with wrk (Debian's package, installed by scripts/ensure-wrk.sh when missing): a C
// load generator that needs a fraction of a core where a Node one took a whole core of the two from
// the servers it measured. Figures come from bench/wrk/bench.lua's JSON line.
import { execFile, execFileSync } from 'node:child_process';
import path from 'node:path';
import { REPO } from './paths.ts';

export interface LoadResult {
  /** Completed responses per second over the run (non-2xx answers make the run invalid, see `non2xx`). */
  rps: number;
  /** Latency percentiles in ms (wrk's histogram, µs resolution). */
  p50: number;
  p99: number;
  requests: number;
  /** Answers with status >= 400 (what wrk counts), and socket errors and timeouts: any of these makes the run invalid. */
  non2xx: number;
  errors: number;
  durationS: number;
}

/** Request i goes to `prefix` + (i mod count, zero-padded to `width`) + `suffix`. */
export interface Rotation {
  prefix: string;
  count: number;
  width: number;
  suffix: string;
}

export interface LoadOptions {
  url: string;
  /** Path with query; or a rotation through many paths (distinct keys). */
  path: string | Rotation;
  connections: number;
  /** Whole seconds (wrk's unit). */
  durationS: number;
  threads: number;
  /** Request headers (`Name: value`), sent with every request. */
  headers?: readonly string[];
}

let wrkBin: string | undefined;
/** wrk's path, installed when missing (as root, with apt-get); throws with the script's message otherwise. */
export function findWrk(): string {
  if (wrkBin === undefined) {
    try {
      wrkBin = execFileSync('bash', [path.join(REPO, 'scripts/ensure-wrk.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim().split('\n').pop();
    } catch (err) {
      throw new Error(String((err as { stderr?: string }).stderr ?? err).trim());
    }
    if (!wrkBin) throw new Error('scripts/ensure-wrk.sh printed no path');
  }
  return wrkBin;
}

const SCRIPT = path.join(REPO, 'bench/wrk/bench.lua');

export function runLoad(o: LoadOptions): Promise<LoadResult> {
  const threads = Math.max(1, Math.min(o.threads, o.connections));
  const target = typeof o.path === 'string' ? o.url + o.path : o.url + '/';
  const scriptArgs = typeof o.path === 'string' ? [] : ['--', 'rotate', String(threads), o.path.prefix, String(o.path.count), String(o.path.width), o.path.suffix];
  const args = ['-t', String(threads), '-c', String(o.connections), '-d', `${Math.max(1, Math.round(o.durationS))}s`, '--timeout', '10s', ...(o.headers ?? []).flatMap((h) => ['-H', h]), '-s', SCRIPT, target, ...scriptArgs];
  return new Promise((resolve, reject) => {
    execFile(findWrk(), args, { encoding: 'utf8', timeout: (o.durationS + 30) * 1_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`wrk ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      const line = stdout.split('\n').find((l) => l.startsWith('{"requests"'));
      if (line === undefined) return reject(new Error(`wrk printed no figures:\n${stdout}\n${stderr}`));
      const r = JSON.parse(line) as Record<string, number>;
      const durationS = r.duration_us! / 1e6;
      resolve({
        rps: durationS > 0 ? r.requests! / durationS : 0,
        p50: r.p50_us! / 1_000,
        p99: r.p99_us! / 1_000,
        requests: r.requests!,
        non2xx: r.status!,
        errors: r.connect! + r.read! + r.write! + r.timeout!,
        durationS,
      });
    });
  });
}
