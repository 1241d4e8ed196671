// --watch must try a refused spec once, not once per event in its folder: here the gateway's own
// log file lives beside the spec, so every refusal line it writes is itself a folder event.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { send } from '../helpers/http.ts';
import { startTestBackend } from '../helpers/backend.ts';
import { waitFor } from '../helpers/wait.ts';

const CLI = path.resolve(import.meta.dirname, '../../src/cli.ts');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function spec(backend: string, paths: Record<string, unknown>): string {
  return stringify({
    swagger: '2.0',
    info: { title: 'watch', version: '1' },
    host: 'watch.endpoints.p.cloud.goog',
    'x-google-backend': { address: backend },
    paths,
  });
}

/**
 * Replaces the spec the way deploy tools do (write aside, rename over): one new version of
 * its bytes. Written in place, a loaded machine may let the watcher see the file emptied
 * first, and an empty file is another version of the bytes, tried and refused on its own.
 */
async function replace(file: string, text: string): Promise<void> {
  await writeFile(`${file}.tmp`, text);
  await rename(`${file}.tmp`, file);
}

test('--watch: a refused spec is retried only when its bytes change, even with the log in its folder', async () => {
  const backend = await startTestBackend();
  const dir = await mkdtemp(path.join(tmpdir(), 'egw-watch-'));
  const specFile = path.join(dir, 'endpoint.yaml');
  const logFile = path.join(dir, 'gateway.log');
  await writeFile(specFile, spec(backend.url, { '/a': { get: { operationId: 'a', responses: { 200: { description: 'ok' } } } } }));
  const out = openSync(logFile, 'a');
  const child = spawn(
    process.execPath,
    [CLI, 'serve', '--spec', specFile, '--watch', '--port', '0', '--host', '127.0.0.1', '--backend-auth', 'none', '--keys', 'none'],
    { env: { ...process.env, METADATA_SERVER_DETECTION: 'none', ENDPOINTS_CACHE_DIR: '' }, stdio: ['ignore', out, out] },
  );
  closeSync(out);
  let url = '';
  const lines = async () => (await readFile(logFile, 'utf8')).split('\n').filter(Boolean);
  const refusals = async () => (await lines()).filter((l) => l.includes('spec reload refused')).length;
  try {
    // Starting runs TypeScript from source: seconds on a loaded machine.
    await waitFor(
      async () => {
        const up = (await lines()).find((l) => l.includes('endpoints-gateway listening'));
        if (up) url = `http://127.0.0.1:${String((JSON.parse(up) as { port: number }).port)}`;
        return up !== undefined;
      },
      'the gateway to start',
      60_000,
    );
    // An invalid spec: the operation has no responses and an unknown x-google field.
    await replace(specFile, 'swagger: "2.0"\ninfo: {title: t, version: "1"}\npaths:\n  /a:\n    get:\n      x-google-nonsense: 1\n');
    await waitFor(async () => (await refusals()) > 0, 'the refusal to be logged');
    // Every access-log line and refusal line written to gateway.log is an event in the folder.
    for (let i = 0; i < 20; i++) await send(url, '/a');
    await sleep(2000);
    assert.equal(await refusals(), 1, 'the same refused bytes were tried again');
    assert.equal((await send(url, '/a')).status, 200, 'the previous spec keeps serving');

    // New (still invalid) bytes are tried once more; then a valid spec is swapped in.
    await replace(specFile, 'swagger: "2.0"\ninfo: {title: t, version: "2"}\npaths:\n  /a:\n    get:\n      x-google-nonsense: 2\n');
    await waitFor(async () => (await refusals()) >= 2, 'the second refusal to be logged');
    await sleep(1500);
    assert.equal(await refusals(), 2);
    await replace(specFile, spec(backend.url, { '/b': { get: { operationId: 'b', responses: { 200: { description: 'ok' } } } } }));
    await waitFor(async () => (await send(url, '/b')).status === 200, 'the valid spec to be swapped in');
    assert.equal((await send(url, '/a')).status, 404);
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    await backend.close();
    await rm(dir, { recursive: true, force: true });
  }
});
