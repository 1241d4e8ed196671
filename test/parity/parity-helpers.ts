// Shared bits of the ESPv2-parity tests: a spec file on disk for the real CLI, and its run.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

export const CLI = path.resolve(import.meta.dirname, '../../src/cli.ts');
const run = promisify(execFile);

export interface SpecDir {
  readonly dir: string;
  /** Writes `name` (JSON) into the folder and returns its path. */
  write(name: string, spec: object | string): Promise<string>;
  close(): Promise<void>;
}

export async function specDir(): Promise<SpecDir> {
  const dir = await mkdtemp(path.join(tmpdir(), 'parity-'));
  return {
    dir,
    async write(name, spec) {
      const file = path.join(dir, name);
      await writeFile(file, typeof spec === 'string' ? spec : JSON.stringify(spec));
      return file;
    },
    close: () => rm(dir, { recursive: true, force: true }),
  };
}

/** `endpoints-gateway <args>` to the end: exit code and output. */
export async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], {
      env: { ...process.env, METADATA_SERVER_DETECTION: 'none', ENDPOINTS_CACHE_DIR: 'off', ...env },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}
