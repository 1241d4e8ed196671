// The validated-spec cache: a start with bytes this build already validated
// skips validation; any other bytes, an invalid spec, or an unsafe folder do not.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { loadService } from '../../src/config/service.ts';
import { openSpecCache } from '../../src/config/spec-cache.ts';
import { SpecError } from '../../src/config/problems.ts';
import { parseSpecText } from '../../src/config/load.ts';
import { baseSpec, op } from '../helpers/gateway.ts';
import { threadCpuMs } from '../helpers/busy.ts';

async function setup() {
  const dir = await mkdtemp(path.join(tmpdir(), 'egw-cache-'));
  const cacheDir = path.join(dir, 'cache');
  const file = path.join(dir, 'endpoint.yaml');
  return { dir, cacheDir, file };
}

describe('validated-spec cache', () => {
  test('the second load of the same bytes comes from the cache, and compiles the same', async () => {
    const { cacheDir, file } = await setup();
    await writeFile(file, stringify(baseSpec({ paths: { '/a': { get: op('a') } } })));
    const cache = openSpecCache(cacheDir)!;
    const first = await loadService(file, {}, cache);
    const second = await loadService(file, {}, cache);
    assert.equal(first.fromCache, false);
    assert.equal(second.fromCache, true);
    assert.deepEqual(second.config, first.config);
  });

  test('an entry is used only for the exact bytes it was made from', async () => {
    const { cacheDir, file } = await setup();
    const cache = openSpecCache(cacheDir)!;
    await writeFile(file, stringify(baseSpec({ paths: { '/a': { get: op('a') } } })));
    await loadService(file, {}, cache);
    await writeFile(file, `${stringify(baseSpec({ paths: { '/a': { get: op('a') } } }))}\n# edited\n`);
    assert.equal((await loadService(file, {}, cache)).fromCache, false);
  });

  test('an invalid spec is never cached and always reported', async () => {
    const { cacheDir, file } = await setup();
    const cache = openSpecCache(cacheDir)!;
    await writeFile(file, stringify(baseSpec({ paths: { '/a': { 'x-google-backend': { address: 'https://x' }, get: op('a') } } })));
    await assert.rejects(loadService(file, {}, cache), SpecError);
    await assert.rejects(loadService(file, {}, cache), SpecError);
    assert.deepEqual(await readdir(cacheDir), []);
  });

  test('entries are private files in a private folder', async () => {
    const { cacheDir, file } = await setup();
    const cache = openSpecCache(cacheDir)!;
    await writeFile(file, stringify(baseSpec({ paths: { '/a': { get: op('a') } } })));
    await loadService(file, {}, cache);
    const [entry] = await readdir(cacheDir);
    const { stat } = await import('node:fs/promises');
    assert.equal((await stat(cacheDir)).mode & 0o777, 0o700);
    assert.equal((await stat(path.join(cacheDir, entry!))).mode & 0o777, 0o600);
    assert.ok((await readFile(path.join(cacheDir, entry!), 'utf8')).includes('"/a"'));
  });

  test('a folder others can write is not used', async () => {
    const { cacheDir } = await setup();
    const { mkdir } = await import('node:fs/promises');
    await mkdir(cacheDir);
    await chmod(cacheDir, 0o777);
    assert.equal(openSpecCache(cacheDir), undefined);
  });
});

describe('YAML safety', () => {
  test('an alias bomb is refused with a clear message, quickly', () => {
    const lines = ['swagger: "2.0"', 'a0: &a0 [x,x,x,x,x,x,x,x,x,x]'];
    for (let i = 1; i < 10; i++) lines.push(`a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(',')}]`);
    // CPU time, not a stopwatch: expanding the bomb would take far more than this.
    const ms = threadCpuMs(() =>
      assert.throws(() => parseSpecText('bomb.yaml', lines.join('\n')), (e: SpecError) => /expands to more than 2000000 values through YAML aliases/.test(e.problems[0]!.message)),
    );
    assert.ok(ms < 2000, `took ${ms.toFixed(0)} ms of CPU`);
  });

  test('duplicate keys are an error with a line number', () => {
    assert.throws(() => parseSpecText('dup.yaml', 'swagger: "2.0"\nswagger: "2.0"\n'), (e: SpecError) => e.problems[0]!.where === 'line 2, column 1');
  });
});
