// `npm start`'s demo (demo/run.ts) as a newcomer meets it: it prints a sign-in
// URL, and following it through the demo's local provider lands on the private
// app, greeted by name; a program at the same URL gets JSON 401.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { once } from 'node:events';
import { API, hop, Jar, walk } from './harness.ts';

const RUN = path.resolve(import.meta.dirname, '../../demo/run.ts');
let demo: { child: ChildProcess; stdout: string } | undefined;
let dir: string | undefined;

/** Starts the demo on `port`; resolves with what it printed once it is serving, rejects with its output if it stops. */
function startDemo(port: number, demoDir: string): Promise<{ child: ChildProcess; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [RUN], {
      env: { ...process.env, PORT: String(port), ENDPOINTS_DEMO_DIR: demoDir, METADATA_SERVER_DETECTION: 'none' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the demo did not start in 60 s; stdout: ${stdout}; stderr: ${stderr}`));
    }, 60_000);
    child.stdout!.on('data', (c: Buffer) => {
      stdout += c.toString('utf8');
      if (stdout.includes('Ctrl-C stops.')) {
        clearTimeout(timer);
        resolve({ child, stdout });
      }
    });
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`the demo exited (${String(code)}); stdout: ${stdout}; stderr: ${stderr}`));
    });
  });
}

/**
 * The demo names its own URL (printed, and registered with its provider) before it listens, so
 * it takes a PORT rather than port 0: a port another process takes meanwhile is retried.
 */
/**
 * The demo must know its port before it listens (the provider registers its redirect URI), so
 * it cannot bind port 0: a port free a moment ago is tried, and a start that lost it to
 * another process (EADDRINUSE, reported by the demo) is tried again on another.
 */
async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function onFreePort<T>(start: (port: number) => Promise<T>, attempts = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await start(await freePort());
    } catch (err) {
      if (i >= attempts || !/already in use|EADDRINUSE/.test((err as Error).message)) throw err;
    }
  }
}

after(async () => {
  if (demo && demo.child.exitCode === null) {
    const closed = new Promise((r) => demo!.child.once('close', r));
    demo.child.kill('SIGTERM');
    await closed;
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('npm start prints a sign-in URL; signing in there through the local provider shows the private app', async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'signin-demo-'));
  demo = await onFreePort((port) => startDemo(port, dir!));
  const url = /open (http:\/\/\S+\/app\/)/.exec(demo.stdout)?.[1];
  assert.ok(url, demo.stdout);
  const jar = new Jar();
  const { last, hops } = await walk(jar, url, 'ada');
  assert.ok(hops.some((h) => h.url.includes('/.endpoints/callback')), 'went through the callback');
  assert.equal(last.status, 200, last.body);
  assert.equal(last.url, url, 'landed on the printed URL');
  assert.match(last.body, /Hello, ada/);
  assert.match(last.body, /ada@example\.com/);
  const program = await hop(new Jar(), url, { headers: API });
  assert.equal(program.status, 401);
  assert.equal(JSON.parse(program.body).code, 401);
});
