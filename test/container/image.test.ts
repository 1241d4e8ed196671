// The container, as far as a machine without a Docker engine allows: the
// Dockerfile is linted, and the exact production layout it builds (compiled
// dist/, production dependencies only, the schema) starts and serves.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { validate } from 'dockerfile-utils';
import { send } from '../helpers/http.ts';

const exec = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');

/** The port from the gateway's JSON 'listening' line on stdout; fails if it exits first. */
function listeningPort(child: ChildProcess, stderr: () => string): Promise<number> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (c: Buffer) => {
      buf += c.toString('utf8');
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const text = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let line: { message?: string; port?: number } = {};
        try {
          line = JSON.parse(text) as typeof line;
        } catch {
          continue;
        }
        if (line.message === 'endpoints-gateway listening') {
          child.stdout!.off('data', onData);
          child.off('exit', onExit);
          child.stdout!.resume();
          resolve(line.port!);
          return;
        }
      }
    };
    const onExit = (code: number | null) => reject(new Error(`the gateway exited (${String(code)}) before listening: ${stderr()}`));
    child.stdout!.on('data', onData);
    child.once('exit', onExit);
  });
}

describe('Dockerfile', () => {
  test('lints clean', async () => {
    const text = await readFile(path.join(root, 'Dockerfile'), 'utf8');
    assert.deepEqual(validate(text).map((d) => `${d.range.start.line + 1}: ${d.message}`), []);
  });

  test('multi-stage, Node 24 slim base, production dependencies only, non-root, CLI entrypoint', async () => {
    const text = await readFile(path.join(root, 'Dockerfile'), 'utf8');
    const froms = [...text.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]);
    assert.ok(froms.length >= 2, 'multi-stage');
    assert.match(froms.at(-1)!, /^node:24[\w.-]*-slim$/);
    const final = text.slice(text.lastIndexOf('\nFROM '));
    assert.match(text, /npm ci --omit=dev/);
    assert.match(final, /^USER (?!root)\w+/m);
    assert.match(final, /ENV [\s\S]*PORT=8080/);
    assert.match(final, /ENTRYPOINT \["node", "dist\/cli\.js"\]/);
    assert.match(final, /CMD \["serve"\]/);
  });
});

describe('the production layout', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'egw-prod-'));
    await cp(path.join(root, 'package.json'), path.join(dir, 'package.json'));
    await cp(path.join(root, 'package-lock.json'), path.join(dir, 'package-lock.json'));
    await cp(path.join(root, 'openapi'), path.join(dir, 'openapi'), { recursive: true });
    // The build stage: compile src/ to dist/ with the project's tsc.
    await exec(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.build.json'), '--outDir', path.join(dir, 'dist')]);
    // The prod-deps stage: what `npm ci --omit=dev` installs (from the local npm cache when it can).
    await exec('npm', ['ci', '--omit=dev', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir, timeout: 240_000 });
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('has no development dependencies', async () => {
    for (const dev of ['typescript', 'autocannon', 'dockerfile-utils']) {
      await assert.rejects(stat(path.join(dir, 'node_modules', dev)), `${dev} must not be installed`);
    }
    await stat(path.join(dir, 'node_modules', 'express'));
  });

  test('validate and serve run from dist/ with $ENDPOINTS_SPEC and $PORT, as the image does', async () => {
    const env = { ...process.env, METADATA_SERVER_DETECTION: 'none', ENDPOINTS_SPEC: path.join(root, 'endpoint.example.yaml'), NODE_ENV: 'production' };
    const { stdout } = await exec(process.execPath, ['dist/cli.js', 'validate'], { cwd: dir, env });
    assert.match(stdout, /valid \(4 operations/);
    // PORT=0: any free port, read back from the gateway's 'listening' line (the default, 8080, shows $PORT was ignored).
    const child = spawn(process.execPath, ['dist/cli.js', 'serve', '--keys', 'none', '--backend-auth', 'none'], {
      cwd: dir,
      env: { ...env, PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (c) => (err += c));
    try {
      const port = await listeningPort(child, () => err);
      assert.notEqual(port, 8080, 'listens on $PORT');
      const base = `http://127.0.0.1:${port}`;
      assert.equal((await send(base, '/healthz')).status, 200);
      const r = await send(base, '/hello');
      assert.equal(r.status, 401);
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.on('exit', r));
      }
    }
  });
});
