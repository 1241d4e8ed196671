// `node bench/run.ts` options: full-run defaults, and the smoke run's (CI) short ones.
import { parseArgs } from 'node:util';

export const USAGE = `Usage: node bench/run.ts [options]   (npm run bench -- [options])

  --smoke            well under a minute: 1 s per case, one round, fewer keys, no thresholds
  --profile          run the main gateway case under --cpu-prof (profiles in bench/results/profiles/)
  --rounds N         rounds of A B A B (default 3; smoke 1)
  --duration S       whole seconds per case per round (default 10; smoke 1)
  --warmup S         warm-up seconds per server before the rounds (default 3; smoke 0.5;
                     below 1 s it means S × 1,000 requests: wrk counts in whole seconds)
  --connections N    wrk connections (default 50; smoke 10)
  --threads N        wrk threads (default 1: wrk needs a fraction of a core; more take CPU from the servers)
  --keys N           distinct cached API keys for the RSS case (default 10000; smoke 200)
  --starts N         gateway starts timed to the first 200 (default 5; smoke 1)
  --no-save          do not write bench/results/
  -h, --help`;

export interface Settings {
  smoke: boolean;
  profile: boolean;
  rounds: number;
  durationS: number;
  warmupS: number;
  connections: number;
  threads: number;
  keys: number;
  starts: number;
  save: boolean;
  /** Operations in the specs compared for routing cost; the first is the main gateway case. */
  specSizes: readonly number[];
  /** Operations in the spec timed from start to first 200. */
  startSpecSize: number;
  /** Requests in the warm run that counts upstream calls (reported per 10,000). */
  warmRequests: number;
}

export function settingsFrom(argv: string[]): Settings {
  const { values } = parseArgs({
    args: argv,
    options: {
      smoke: { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      threads: { type: 'string' },
      keys: { type: 'string' },
      starts: { type: 'string' },
      'no-save': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    process.exit(0);
  }
  const smoke = values.smoke;
  const num = (name: string, v: string | undefined, dflt: number, min: number): number => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number >= ${min} (got ${v})`);
    return n;
  };
  return {
    smoke,
    profile: values.profile,
    rounds: Math.round(num('rounds', values.rounds, smoke ? 1 : 3, 1)),
    durationS: Math.round(num('duration', values.duration, smoke ? 1 : 10, 1)),
    warmupS: num('warmup', values.warmup, smoke ? 0.5 : 3, 0),
    connections: Math.round(num('connections', values.connections, smoke ? 10 : 50, 1)),
    threads: Math.round(num('threads', values.threads, 1, 1)),
    keys: Math.round(num('keys', values.keys, smoke ? 200 : 10_000, 1)),
    starts: Math.round(num('starts', values.starts, smoke ? 1 : 5, 1)),
    save: !values['no-save'],
    // Smoke keeps every code path but not the 10,000-op spec, which alone takes seconds to load;
    // every gateway process costs a second or two of start-up on two cores.
    specSizes: smoke ? [10, 1_000] : [10, 1_000, 10_000],
    startSpecSize: 1_000,
    warmRequests: smoke ? 1_000 : 10_000,
  };
}
