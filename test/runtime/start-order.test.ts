// A start loads the spec and the process parts at the same time (the spec in a worker on a
// validated-spec cache miss): both ways through the cache still start, --validate's contract (which
// needs the parts) included, and a broken part is still reported before a broken spec.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCli } from '../helpers/cli.ts';
import { startChildGateway } from '../helpers/child-gateway.ts';

const root = path.resolve(import.meta.dirname, '../..');
const SPEC = path.join(root, 'endpoint.example.yaml');

describe('start: spec and parts loaded together', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'egw-start-order-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('--validate enforce starts on a cache miss (spec validated in a worker), then on a hit (compiled here)', async () => {
    const cache = path.join(dir, 'specs');
    const entries = async () => (await readdir(cache).catch(() => [] as string[])).filter((f) => f.endsWith('.json'));
    let written: number | undefined;
    for (const hit of [false, true]) {
      const gw = await startChildGateway(['--spec', SPEC, '--keys', 'none', '--backend-auth', 'none', '--validate', 'enforce'], { ENDPOINTS_CACHE_DIR: cache });
      try {
        assert.equal((await fetch(`${gw.url}/healthz`)).status, 200, `start ${hit ? 'with' : 'without'} a cache entry`);
      } finally {
        gw.child.kill('SIGTERM');
        await gw.exit();
      }
      const files = await entries();
      assert.equal(files.length, 1, 'one validated-spec cache entry');
      const mtime = (await stat(path.join(cache, files[0]!))).mtimeMs;
      // The miss wrote the entry; the hit read it and wrote nothing.
      if (hit) assert.equal(mtime, written);
      written = mtime;
    }
  });

  test('a broken part (a missing key store) is reported, not the broken spec loaded at the same time', async () => {
    const bad = path.join(dir, 'bad.yaml');
    await writeFile(bad, 'swagger: "2.0"\ninfo: {title: t, version: "1"}\npaths: {/a: {get: {responses: {200: {description: ok}}, x-google-backend: 7}}}\n');
    const r = await runCli(['serve', '--spec', bad, '--port', '0', '--host', '127.0.0.1', '--keys', `file:${path.join(dir, 'nope', 'store.yaml')}`, '--backend-auth', 'none'], {
      env: { ENDPOINTS_CACHE_DIR: 'off' },
    });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /nope\/store\.yaml does not exist \(--keys file:/);
    // And the spec alone is refused as a spec (exit 2), so the case above had both broken.
    const spec = await runCli(['serve', '--spec', bad, '--port', '0', '--host', '127.0.0.1', '--keys', 'none', '--backend-auth', 'none'], { env: { ENDPOINTS_CACHE_DIR: 'off' } });
    assert.equal(spec.code, 2, spec.stderr);
  });
});
