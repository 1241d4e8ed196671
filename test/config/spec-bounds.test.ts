// Bounds on what a spec may cost to load (issue 11): nesting depth, $ref expansion,
// the worker's time budget, and security schemes the gateway cannot enforce.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { parseSpecText } from '../../src/config/load.ts';
import { SpecError } from '../../src/config/problems.ts';
import { refExpansionProblems } from '../../src/config/ref-expansion.ts';
import { loadService } from '../../src/config/service.ts';
import { loadServiceOffThread } from '../../src/config/service-thread.ts';
import { openSpecCache } from '../../src/config/spec-cache.ts';
import { validateSpec } from '../../src/config/validate.ts';
import { baseSpec, op } from '../helpers/gateway.ts';

const refused = (re: RegExp) => (e: unknown) => e instanceof SpecError && e.problems.some((p) => re.test(`${p.where}: ${p.message}`));

function doubled(levels: number): Record<string, unknown> {
  const definitions: Record<string, unknown> = {};
  for (let i = 0; i < levels; i++) {
    definitions[`A${i}`] = { type: 'object', properties: { a: { $ref: `#/definitions/A${i + 1}` }, b: { $ref: `#/definitions/A${i + 1}` } } };
  }
  definitions[`A${levels}`] = { type: 'string' };
  return baseSpec({ definitions, paths: { '/x': { post: op('x', { parameters: [{ in: 'body', name: 'b', schema: { $ref: '#/definitions/A0' } }] }) } } });
}

async function specFile(doc: object): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'egw-bounds-'));
  const f = path.join(dir, 'endpoint.yaml');
  await writeFile(f, stringify(doc));
  return f;
}

describe('nesting depth', () => {
  test('JSON deeper than 256 levels is refused at load, located, without a stack overflow', () => {
    const text = `{"swagger":"2.0","x-deep":${'{"k":'.repeat(5000)}1${'}'.repeat(5000)}}`;
    assert.throws(() => parseSpecText('deep.json', text), refused(/^x-deep\.k\.k\.k.*\(256 levels\): nests deeper than 256 levels/));
  });

  test('256 levels of real nesting still load', () => {
    const text = `{"swagger":"2.0","x-deep":${'['.repeat(250)}${']'.repeat(250)}}`;
    assert.ok(parseSpecText('ok.json', text));
  });

  test('YAML aliases cannot stack nesting past the bound', () => {
    // Each anchor nests the previous one 60 levels deeper: 10 of them make 600 levels.
    const lines = ['swagger: "2.0"', `a0: &a0 ${'['.repeat(60)}1${']'.repeat(60)}`];
    for (let i = 1; i <= 10; i++) lines.push(`a${i}: &a${i} ${'['.repeat(60)}*a${i - 1}${']'.repeat(60)}`);
    assert.throws(() => parseSpecText('alias.yaml', lines.join('\n')), refused(/nests deeper than 256 levels/));
  });
});

describe('$ref expansion', () => {
  test('doubled $refs are refused at the $ref where the expansion passes the bound', () => {
    const problems = refExpansionProblems(doubled(24));
    assert.equal(problems.length, 1);
    assert.match(problems[0]!.where, /^definitions\.A\d+\.properties\.a\.\$ref$/);
    assert.match(problems[0]!.message, /^refers to "#\/definitions\/A\d+", which expands to more than 2000000 values/);
  });

  test('a reasonable amount of sharing is accepted, and validates', async () => {
    assert.deepEqual(refExpansionProblems(doubled(10)), []);
    const { problems } = await validateSpec(doubled(10));
    assert.deepEqual(problems, []);
  });

  test('a circular $ref is not an explosion (swagger-parser keeps it as a cycle)', async () => {
    const doc = baseSpec({
      definitions: { Node: { type: 'object', properties: { next: { $ref: '#/definitions/Node' }, kids: { type: 'array', items: { $ref: '#/definitions/Node' } } } } },
      paths: { '/x': { post: op('x', { parameters: [{ in: 'body', name: 'b', schema: { $ref: '#/definitions/Node' } }] }) } },
    });
    assert.deepEqual(refExpansionProblems(doc), []);
    assert.deepEqual((await validateSpec(doc)).problems, []);
  });

  test('a chain of $refs deeper than 256 levels is refused at its innermost $ref', () => {
    const definitions: Record<string, unknown> = {};
    for (let i = 0; i < 400; i++) definitions[`C${i}`] = { type: 'array', items: { $ref: `#/definitions/C${i + 1}` } };
    definitions.C400 = { type: 'string' };
    const [p] = refExpansionProblems(baseSpec({ definitions }));
    assert.match(p!.where, /^definitions\.C\d+\.items\.\$ref$/);
    assert.match(p!.message, /nests deeper than 256 levels once its \$refs are resolved/);
  });
});

describe('loading in a worker thread', () => {
  test('compiles the same config as in-process loading, and its routes answer', async () => {
    const f = await specFile(baseSpec({ paths: { '/a/{id}': { get: op('a', { parameters: [{ name: 'id', in: 'path', required: true, type: 'string' }] }) } } }));
    const here = await loadService(f);
    const there = await loadServiceOffThread(f);
    assert.deepEqual(there.config, here.config);
    assert.equal(there.digest, here.digest);
    const m = there.router.match('GET', '/a/7');
    assert.equal(m.kind, 'found');
    assert.equal(m.kind === 'found' && m.value.id, 'a');
  });

  test('past its time budget the worker is stopped and the spec refused', async () => {
    const f = await specFile(baseSpec({ paths: { '/a': { get: op('a') } } }));
    await assert.rejects(loadServiceOffThread(f, {}, undefined, { budgetMs: 1 }), refused(/validation took longer than 1 ms/));
  });

  test('problems found in the worker come back located', async () => {
    const f = await specFile(doubled(24));
    await assert.rejects(loadServiceOffThread(f), refused(/^definitions\.A\d+\.properties\.a\.\$ref: refers to/));
  });

  test('the validated-spec cache still short-cuts, here or in the worker', async () => {
    const f = await specFile(baseSpec({ paths: { '/a': { get: op('a') } } }));
    const cache = openSpecCache(path.join(path.dirname(f), 'cache'))!;
    assert.equal((await loadServiceOffThread(f, {}, cache)).fromCache, false);
    assert.equal((await loadServiceOffThread(f, {}, cache, { cacheHitsHere: true })).fromCache, true);
    assert.equal((await loadServiceOffThread(f, {}, cache)).fromCache, true);
  });
});

describe('security schemes', () => {
  test('a scheme the gateway cannot enforce is refused where it is used', async () => {
    const doc = baseSpec({
      securityDefinitions: { basicAuth: { type: 'basic' }, key: { type: 'apiKey', name: 'key', in: 'query' } },
      paths: { '/x': { get: op('x', { security: [{ key: [] }, { basicAuth: [], key: [] }] }) } },
    });
    const { problems } = await validateSpec(doc);
    assert.deepEqual(
      problems.map((p) => p.where),
      ['paths["/x"].get.security[1].basicAuth'],
    );
    assert.match(problems[0]!.message, /securityDefinitions\.basicAuth\), which is of type "basic"/);
  });

  test('an unused one is accepted: nothing depends on it (Google’s compiler ignores it too)', async () => {
    const doc = baseSpec({ securityDefinitions: { basicAuth: { type: 'basic' } }, paths: { '/x': { get: op('x') } } });
    assert.deepEqual((await validateSpec(doc)).problems, []);
  });

  test('duplicate operationIds are still reported, now located', async () => {
    const doc = baseSpec({ paths: { '/x': { get: op('same') }, '/y': { get: op('same') } } });
    const { problems } = await validateSpec(doc);
    assert.deepEqual(problems, [{ where: 'paths["/y"].get.operationId', message: 'duplicates the operationId "same" of paths["/x"].get' }]);
  });
});
