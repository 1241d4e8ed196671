import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { once } from 'node:events';

const CLI = path.resolve(import.meta.dirname, '../../src/cli.ts');

export interface ChildGateway {
  readonly url: string;
  readonly child: ChildProcess;
  /** Parsed JSON log lines from stdout so far. */
  readonly logs: Record<string, unknown>[];
  readonly stderr: () => string;
  exit(): Promise<number | null>;
  waitForLog(pred: (l: Record<string, unknown>) => boolean, ms?: number): Promise<Record<string, unknown>>;
}

export async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** The gateway as users run it: the CLI in its own process. Resolves once /healthz answers. */
export async function startChildGateway(args: string[], env: Record<string, string> = {}): Promise<ChildGateway> {
  // Port 0, then the bound port from the gateway's own 'listening' line: a port picked here and
  // handed over would race with other test files starting servers at the same moment.
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--host', '127.0.0.1', ...args], {
    env: { ...process.env, METADATA_SERVER_DETECTION: 'none', GOOGLE_CLOUD_PROJECT: 'child-test', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let err = '';
  let buf = '';
  child.stdout!.on('data', (c: Buffer) => {
    buf += c.toString('utf8');
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
    }
  });
  child.stderr!.on('data', (c: Buffer) => (err += c.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  // Set once stdout and stderr are drained too: a line that has not come by then never will.
  let closed: number | null | undefined;
  child.on('close', (code) => (closed = code));
  let url = '';
  const waitForLog = async (pred: (l: Record<string, unknown>) => boolean, ms = 10_000) => {
    const end = Date.now() + ms;
    for (;;) {
      const hit = logs.find(pred);
      if (hit) return hit;
      if (Date.now() > end) throw new Error(`log line not seen; stderr: ${err}`);
      if (closed !== undefined) throw new Error(`the gateway exited (${String(closed)}) before that log line; stderr: ${err}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  // Generous: a loaded machine starts processes slowly, and an exit ends the wait at once anyway.
  const listening = await waitForLog((l) => l.message === 'endpoints-gateway listening', 120_000).catch((err: unknown) => {
    // Never leave a process behind that nobody can stop: the test file would not end.
    child.kill('SIGKILL');
    throw err;
  });
  url = `http://127.0.0.1:${String(listening.port)}`;
  return { url, child, logs, stderr: () => err, exit: () => exited, waitForLog };
}
