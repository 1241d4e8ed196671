/**
 * Whether `serve` will validate its spec in a worker, decided from the command
 * line before the CLI loads (src/cli.ts): then that worker is started at once
 * and reads and validates the spec while the CLI loads, instead of after it.
 * Only a cold start gains: with the spec already in the validated-spec cache
 * nothing is validated, so no worker is started for nothing.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { defaultCacheDir, openSpecCache } from './spec-cache.ts';
import { prestartSpecWorker } from './service-thread.ts';

/** The one --spec (flag or ENDPOINTS_SPEC) of a `serve` command line, if it names one file. */
export function serveSpecFile(argv: readonly string[], env: NodeJS.ProcessEnv): string | undefined {
  if (argv[2] !== 'serve') return undefined;
  const specs: string[] = [];
  for (let i = 3; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') break;
    if (a === '--spec' && i + 1 < argv.length) specs.push(argv[++i]!);
    else if (a.startsWith('--spec=')) specs.push(a.slice('--spec='.length));
    // --workers: this process only forks the ones that serve.
    else if (a === '--workers' || a.startsWith('--workers=')) return undefined;
  }
  if (specs.length === 0 && env.ENDPOINTS_SPEC) specs.push(env.ENDPOINTS_SPEC);
  if (specs.length !== 1 || env.ENDPOINTS_WORKERS) return undefined;
  return specs[0];
}

/** Starts the spec-loading worker now when this command line is a cold start of one spec file. */
export function prestartIfCold(argv: readonly string[], env: NodeJS.ProcessEnv): void {
  const file = serveSpecFile(argv, env);
  if (file === undefined) return;
  try {
    if (!statSync(file).isFile()) return; // a folder of versions: which one loads is decided later
    const cache = openSpecCache(defaultCacheDir(env));
    if (cache && existsSync(cache.entryFile(cache.key(readFileSync(file, 'utf8'))))) return;
  } catch {
    return; // unreadable: the start reports it, no worker needed
  }
  prestartSpecWorker(file);
}
