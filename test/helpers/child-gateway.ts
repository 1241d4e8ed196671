import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

const CLI = path.resolve(import.meta.dirname, '../../src/cli.ts');

export interface ChildGateway {
  readonly url: string;
  /** The admin listener, when started with `--admin-port 0` (or any port): read from the `listening` line. */
  readonly adminUrl: string | undefined;
  readonly child: ChildProcess;
  /** Parsed JSON log lines from stdout so far. */
  readonly logs: Record<string, unknown>[];
  readonly stderr: () => string;
  exit(): Promise<number | null>;
  waitForLog(pred: (l: Record<string, unknown>) => boolean, ms?: number): Promise<Record<string, unknown>>;
}

/**
 * How long a wait for a log line may take before the test fails, unless the
 * caller says otherwise. Only a failing test ever waits this long, so it is
 * sized for a starved machine (a 2-core CI runner under full load), not for speed.
 */
export const LOG_WAIT_MS = 30_000;

// Every gateway still running when this test file's process exits is killed: one left
// behind (a test that failed before stopping it) would hold its port and run on for ever.
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

/** The gateway as users run it: the CLI in its own process. Resolves once it logs that it listens. */
export async function startChildGateway(args: string[], env: Record<string, string> = {}): Promise<ChildGateway> {
  // Port 0, then the bound port from the gateway's own 'listening' line: a port picked here and
  // handed over would race with other test files starting servers at the same moment. The same
  // for the admin listener: pass `--admin-port 0` and read `adminUrl`.
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--host', '127.0.0.1', ...args], {
    env: { ...process.env, METADATA_SERVER_DETECTION: 'none', GOOGLE_CLOUD_PROJECT: 'child-test', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let err = '';
  let buf = '';
  // Decoded by the stream: a character whose UTF-8 bytes two reads split still comes out whole.
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (c: string) => {
    buf += c;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
    }
  });
  child.stderr!.on('data', (c: Buffer) => (err += c.toString('utf8')));
  running.add(child);
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  // Set once stdout and stderr are drained too: a line that has not come by then never will.
  let closed: number | null | undefined;
  child.on('close', (code) => (closed = code));
  const waitForLog = async (pred: (l: Record<string, unknown>) => boolean, ms = LOG_WAIT_MS) => {
    const end = Date.now() + ms;
    for (;;) {
      const hit = logs.find(pred);
      if (hit) return hit;
      if (Date.now() > end) throw new Error(`log line not seen; stderr: ${err}`);
      if (closed !== undefined) throw new Error(`the gateway exited (${String(closed)}) before that log line; stderr: ${err}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  // Starting runs TypeScript from source: seconds on a loaded machine (an exit ends the wait at once).
  let listening: Record<string, unknown>;
  try {
    listening = await waitForLog((l) => l.message === 'endpoints-gateway listening', 120_000);
  } catch (e) {
    // The caller never gets a handle to stop it: stop it here.
    child.kill('SIGKILL');
    await exited;
    throw e;
  }
  const url = `http://127.0.0.1:${String(listening.port)}`;
  const adminUrl = typeof listening.adminPort === 'number' ? `http://127.0.0.1:${listening.adminPort}` : undefined;
  return { url, adminUrl, child, logs, stderr: () => err, exit: () => exited, waitForLog };
}
