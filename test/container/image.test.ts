// The container, as far as a machine without a Docker engine allows: the
// Dockerfile is linted, and the exact production layout it builds (compiled
// dist/, production dependencies only, the schema) starts and serves.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { validate } from 'dockerfile-utils';
import { freePort } from '../helpers/child-gateway.ts';
import { send } from '../helpers/http.ts';

const exec = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');

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
    const port = await freePort();
    const child = spawn(process.execPath, ['dist/cli.js', 'serve', '--keys', 'none', '--backend-auth', 'none'], {
      cwd: dir,
      env: { ...env, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (c) => (err += c));
    try {
      let status = 0;
      for (let i = 0; i < 100 && status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 100));
        status = await send(`http://127.0.0.1:${port}`, '/healthz').then((r) => r.status, () => 0);
      }
      assert.equal(status, 200, err);
      const r = await send(`http://127.0.0.1:${port}`, '/hello');
      assert.equal(r.status, 401);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.on('exit', r));
    }
  });
});
