// The CLI as a child process that is expected to stop (keys, validate, contract, diff, start-up refusals).
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { once } from 'node:events';

export const CLI = path.resolve(import.meta.dirname, '../../src/cli.ts');

export interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function runCli(args: string[], opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number; stdin?: string } = {}): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: opts.cwd,
      env: { ...process.env, METADATA_SERVER_DETECTION: 'none', ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stdin.end(opts.stdin ?? '');
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    // Only a command that hangs waits this long: sized for a starved machine (starting the CLI from source takes seconds there).
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A port held by a listener of ours until `close()`. */
export async function busyPort(): Promise<{ port: number; close(): Promise<void> }> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  return { port: (s.address() as net.AddressInfo).port, close: () => new Promise((r) => s.close(() => r())) };
}

/** Every non-empty line parses as a JSON object. */
export function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        throw new Error(`not a JSON line: ${l}`);
      }
    });
}
