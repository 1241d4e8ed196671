/**
 * A real redis-server for tests, on a unix socket in a fresh temp directory
 * (no TCP port: `--port 0`), with persistence off. Kill it with `stop()`; a
 * process 'exit' hook also kills it if a test run dies first.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

export interface TestRedis {
  readonly socketPath: string;
  /** `unix://<socketPath>`, a `--quota-store` value. */
  readonly url: string;
  /** Stops the server and removes its directory (idempotent). */
  stop(): Promise<void>;
  /** Starts it again on the same socket (empty: nothing is persisted). */
  restart(): Promise<void>;
  /** Kills the server abruptly (SIGKILL), as a crash would; `restart()` brings it back. */
  kill(): Promise<void>;
  /** SIGSTOP / SIGCONT: a Redis that accepts connections but never answers. */
  pause(): void;
  resume(): void;
}

function findOnPath(bin: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, bin);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** True when the socket answers PING with +PONG. */
function ping(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection(socketPath);
    let data = '';
    const finish = (ok: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(finish, 500, false);
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (chunk) => {
      data += chunk.toString('latin1');
      if (data.includes('\r\n')) finish(data.startsWith('+PONG'));
    });
    sock.on('error', () => finish(false));
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export async function startRedis(): Promise<TestRedis> {
  const bin = findOnPath('redis-server');
  if (!bin) {
    throw new Error('redis-server is not on PATH: install it first (apt-get update && apt-get install -y redis-server)');
  }
  const dir = mkdtempSync(join(tmpdir(), 'egw-redis-'));
  const socketPath = join(dir, 'redis.sock');
  let child: ChildProcess | undefined;
  let stderr = '';
  const killOnExit = () => child?.kill('SIGKILL');
  process.once('exit', killOnExit);

  const launch = async () => {
    stderr = '';
    const proc = spawn(
      bin,
      ['--port', '0', '--unixsocket', socketPath, '--unixsocketperm', '700', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child = proc;
    proc.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    // Only a failing start waits this long: sized for a starved machine.
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`redis-server exited with ${proc.exitCode}: ${stderr.trim()}`);
      if (await ping(socketPath)) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    proc.kill('SIGKILL');
    throw new Error(`redis-server did not answer PING on ${socketPath} within 30 s: ${stderr.trim()}`);
  };

  const halt = async (signal: NodeJS.Signals) => {
    const proc = child;
    if (!proc) return;
    child = undefined;
    proc.kill('SIGCONT'); // a paused server could not act on SIGTERM
    proc.kill(signal);
    await exited(proc);
  };

  await launch();
  return {
    socketPath,
    url: `unix://${socketPath}`,
    async stop() {
      await halt('SIGTERM');
      process.removeListener('exit', killOnExit);
      rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      await halt('SIGTERM');
      await launch();
    },
    kill: () => halt('SIGKILL'),
    pause() {
      child?.kill('SIGSTOP');
    },
    resume() {
      child?.kill('SIGCONT');
    },
  };
}
