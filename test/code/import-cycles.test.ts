// No module of the gateway imports, directly or through others, a module that imports it back
// (type-only imports included: a cycle of types is a cycle of design). dpdm reads the real sources.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const root = path.resolve(import.meta.dirname, '../..');
const dpdm = path.join(root, 'node_modules', 'dpdm', 'lib', 'bin', 'dpdm.js');

test('src/ has no import cycle', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'egw-dpdm-'));
  const out = path.join(dir, 'graph.json');
  try {
    await promisify(execFile)(process.execPath, [dpdm, '--no-warning', '--no-tree', '--no-circular', '--output', out, 'src/**/*.ts'], { cwd: root });
  } catch (err) {
    throw new Error(`dpdm failed: ${(err as Error).message}`);
  }
  const report = JSON.parse(await readFile(out, 'utf8')) as { circulars: string[][]; tree: Record<string, unknown> };
  await rm(dir, { recursive: true, force: true });
  // The graph is the whole source tree, so an empty answer is not a vacuous one.
  assert.ok(Object.keys(report.tree).length > 100, `dpdm read ${Object.keys(report.tree).length} modules`);
  assert.deepEqual(report.circulars.map((c) => c.join(' -> ')), []);
});
