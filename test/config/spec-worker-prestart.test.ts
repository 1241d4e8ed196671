// A cold `serve` starts its spec-loading worker before the CLI loads, reading and validating the
// spec meanwhile: what the load then gives is what a worker started by the load gives, and a check
// made ahead is used only for the bytes the file still holds.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { SpecError } from '../../src/config/problems.ts';
import { checkSpecText, loadService } from '../../src/config/service.ts';
import { loadServiceOffThread, prestartSpecWorker } from '../../src/config/service-thread.ts';
import { serveSpecFile } from '../../src/config/spec-worker-prestart.ts';
import { baseSpec, op } from '../helpers/gateway.ts';

const valid = stringify(baseSpec({ paths: { '/a': { get: op('a') } } }));
const invalid = stringify(baseSpec({ paths: { '/a': { get: { operationId: 'a' } } } })); // no responses

async function specFile(text: string): Promise<string> {
  const file = path.join(await mkdtemp(path.join(tmpdir(), 'egw-prestart-')), 'endpoint.yaml');
  await writeFile(file, text);
  return file;
}

/** The problems a load refuses the spec with (lines as the CLI prints them). */
async function refusal(p: Promise<unknown>): Promise<string[]> {
  try {
    await p;
  } catch (err) {
    if (err instanceof SpecError) return err.lines('spec');
    throw err;
  }
  assert.fail('the spec was not refused');
}

describe('spec-loading worker started ahead', () => {
  test('the command lines that start it: serve with one --spec (flag or ENDPOINTS_SPEC), not --workers', () => {
    const argv = (...a: string[]) => ['node', 'cli.js', ...a];
    assert.equal(serveSpecFile(argv('serve', '--spec', 'a.yaml', '--port', '0'), {}), 'a.yaml');
    assert.equal(serveSpecFile(argv('serve', '--spec=a.yaml'), {}), 'a.yaml');
    assert.equal(serveSpecFile(argv('serve'), { ENDPOINTS_SPEC: 'e.yaml' }), 'e.yaml');
    assert.equal(serveSpecFile(argv('serve', '--spec', 'a.yaml', '--spec', 'b.yaml'), {}), undefined);
    assert.equal(serveSpecFile(argv('serve', '--spec', 'a.yaml', '--workers', '2'), {}), undefined);
    assert.equal(serveSpecFile(argv('serve', '--spec', 'a.yaml'), { ENDPOINTS_WORKERS: 'auto' }), undefined);
    assert.equal(serveSpecFile(argv('validate', '--spec', 'a.yaml'), {}), undefined);
  });

  test('a load through it gives what a load through its own worker gives, valid or refused', async () => {
    const good = await specFile(valid);
    prestartSpecWorker(good);
    const ahead = await loadServiceOffThread(good, { serviceName: 'x.example.com' });
    const own = await loadServiceOffThread(good, { serviceName: 'x.example.com' });
    assert.deepEqual(ahead.config, own.config);
    assert.equal(ahead.digest, own.digest);

    const bad = await specFile(invalid);
    prestartSpecWorker(bad);
    const aheadLines = await refusal(loadServiceOffThread(bad));
    assert.ok(aheadLines.length > 0);
    assert.deepEqual(aheadLines, await refusal(loadServiceOffThread(bad)));
  });

  test('a check made ahead is not used once the file holds other bytes', async () => {
    const file = await specFile(valid);
    const before = { text: valid, checked: checkSpecText(file, valid) };
    await writeFile(file, invalid); // rewritten between the check and the load
    const lines = await refusal(loadService(file, {}, undefined, before));
    assert.ok(lines.some((l) => /responses/.test(l)), lines.join('\n'));
    // The same bytes: the check is used (here, one of bytes the file does not hold, to tell).
    const stale = { text: invalid, checked: checkSpecText(file, valid) };
    assert.equal((await loadService(file, { serviceName: 'x.example.com' }, undefined, stale)).fromCache, false);
  });
});
