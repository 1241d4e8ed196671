// The precompiled schema validators (src/config/*.generated.ts) are what the schemas compile to today,
// and the Swagger 2.0 one reports exactly what swagger-parser's own schema check reports.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
// Imported before validate.ts: this process then has swagger-parser's own schema check (validate.ts loads it without).
import SwaggerParser from '@apidevtools/swagger-parser';
import { schemaValidatorsSources } from '../../src/config/schema-validators-source.ts';
import { swagger2 as generated } from '../../src/config/swagger2-validator.generated.ts';
import { validateSpec } from '../../src/config/validate.ts';
import { baseSpec, op } from '../helpers/gateway.ts';

/** swagger-parser's own verdict: its Ajv errors (`details`), or [] for a valid document. */
async function swaggerParserErrors(doc: object): Promise<unknown[]> {
  try {
    await SwaggerParser.validate(structuredClone(doc) as never, { resolve: { external: false }, validate: { spec: false } } as SwaggerParser.Options);
    return [];
  } catch (err) {
    return (err as { details?: unknown[] }).details ?? [(err as Error).message];
  }
}

/** As Ajv leaves them: the errors of the last call on the function. */
const swagger2 = generated as unknown as ((doc: unknown) => boolean) & { errors?: unknown[] | null };

const invalid: [string, object][] = [
  ['no info, no paths', { swagger: '2.0' }],
  ['an operation without responses', baseSpec({ paths: { '/a': { get: { operationId: 'a' } } } })],
  ['a parameter of an unknown kind', baseSpec({ paths: { '/a': { get: { ...op('a'), parameters: [{ name: 'q', in: 'cookie', type: 'string' }] } } } })],
  ['a schema with a wrong type', baseSpec({ paths: { '/a': { post: { ...op('a'), parameters: [{ name: 'b', in: 'body', schema: { type: 7 } }] } } } })],
  ['an unknown top-level key', { ...baseSpec({ paths: {} }), extra: true }],
];

describe('precompiled schema validators', () => {
  test('the generated files are what the schemas compile to (run scripts/gen-schema-validators.ts when this fails)', async () => {
    for (const [name, source] of Object.entries(schemaValidatorsSources())) {
      assert.equal(await readFile(new URL(`../../src/config/${name}`, import.meta.url), 'utf8'), source, `${name} is stale`);
    }
  });

  for (const [what, doc] of invalid) {
    test(`${what}: the same errors as swagger-parser's own schema check`, async () => {
      const expected = await swaggerParserErrors(doc);
      assert.ok(expected.length > 0, 'swagger-parser refuses it');
      assert.equal(swagger2(structuredClone(doc)), false);
      assert.deepEqual(swagger2.errors, expected);
    });
  }

  test('a valid spec passes both, and validateSpec dereferences it as before', async () => {
    const doc = baseSpec({
      paths: { '/a': { post: { ...op('a'), parameters: [{ name: 'b', in: 'body', schema: { $ref: '#/definitions/B' } }] } } },
      definitions: { B: { type: 'object', properties: { next: { $ref: '#/definitions/B' } } } },
    });
    assert.deepEqual(await swaggerParserErrors(doc), []);
    assert.equal(swagger2(structuredClone(doc)), true);
    const { api, problems } = await validateSpec(structuredClone(doc));
    assert.deepEqual(problems, []);
    // A circular $ref is dereferenced in full, as swagger-parser's validate gives it.
    const body = (api as any).paths['/a'].post.parameters[0].schema;
    assert.equal(body.properties.next, body);
  });
});
