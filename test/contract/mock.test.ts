// `mock` as a CI job uses it: the real CLI serving a spec's own paths, answering from examples and from
// schemas; then the real gateway in front of it (--backend-address-override) and `contract` passing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { runCli, startMockChild, storeWithKey, tempDir, writeJson, type MockChild } from './cli.ts';

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;
const KEY = 'AIzaMockTestFixtureKey0123456789abcdefg';

const definitions = {
  Widget: {
    type: 'object',
    required: ['id', 'code', 'kind', 'created'],
    properties: {
      id: { type: 'integer', minimum: 100, maximum: 200 },
      code: { type: 'string', pattern: '^[A-Z]{3}-\\d{2}$' },
      kind: { type: 'string', enum: ['small', 'large'] },
      created: { type: 'string', format: 'date-time' },
      owner: { type: 'string', format: 'email' },
      price: { type: 'number', exclusiveMinimum: true, minimum: 0, maximum: 10 },
      tags: { type: 'array', minItems: 2, uniqueItems: true, items: { type: 'string', minLength: 3 } },
      // Recursive: the generator must stop.
      children: { type: 'array', items: { $ref: '#/definitions/Widget' } },
      parent: { $ref: '#/definitions/Widget' },
    },
  },
};

const spec = {
  swagger: '2.0',
  info: { title: 'widgets', version: '1' },
  host: 'widgets.endpoints.p.cloud.goog',
  basePath: '/api',
  'x-google-backend': { address: 'https://widgets-backend.invalid' },
  produces: ['application/json'],
  securityDefinitions: { api_key: { type: 'apiKey', name: 'x-api-key', in: 'header' } },
  security: [{ api_key: [] }],
  definitions,
  paths: {
    '/widgets': {
      get: { operationId: 'listWidgets', responses: { '200': { description: 'all', schema: { type: 'array', items: { $ref: '#/definitions/Widget' } } } } },
      post: {
        operationId: 'createWidget',
        consumes: ['application/json'],
        parameters: [{ name: 'w', in: 'body', required: true, schema: { $ref: '#/definitions/Widget' } }],
        responses: { '400': { description: 'bad' }, '201': { description: 'created', schema: { $ref: '#/definitions/Widget' } } },
      },
    },
    '/widgets/{id}': {
      get: {
        operationId: 'getWidget',
        parameters: [{ name: 'id', in: 'path', required: true, type: 'integer' }],
        responses: {
          '200': { description: 'one', schema: { $ref: '#/definitions/Widget' }, examples: { 'application/json': { id: 150, code: 'ABC-12', kind: 'large', created: '2020-01-01T00:00:00Z' } } },
        },
      },
      delete: { operationId: 'deleteWidget', parameters: [{ name: 'id', in: 'path', required: true, type: 'integer' }], responses: { '204': { description: 'gone' } } },
    },
    '/health': {
      get: { operationId: 'health', security: [], responses: { default: { description: 'state', schema: { type: 'object', required: ['state'], properties: { state: { type: 'string', enum: ['up'] } } } } } },
    },
  },
};

function validator(schema: object) {
  const ajv = new Ajv({ strict: false });
  addFormats(ajv);
  // draft-04's boolean exclusiveMinimum, as Swagger writes it, in draft-07 form for this check.
  const defs = JSON.parse(JSON.stringify(definitions).replace('"exclusiveMinimum":true,"minimum":0', '"exclusiveMinimum":0')) as object;
  return ajv.compile({ ...schema, definitions: defs });
}

describe('mock', () => {
  const dir = tempDir();
  const specFile = writeJson(dir, 'endpoint.json', spec);
  let mock: MockChild;
  let gw: ChildGateway;

  before(async () => {
    mock = await startMockChild(specFile);
    const store = await storeWithKey(dir, KEY);
    gw = await startChildGateway(['--spec', specFile, '--backend-auth', 'none', '--keys', `file:${store}`, '--backend-address-override', mock.url, '--access-log', 'off', '--validate', 'enforce']);
  });

  after(async () => {
    gw?.child.kill('SIGTERM');
    await gw?.exit();
    await mock?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("answers an operation's first 2xx with its application/json example", async () => {
    const res = await fetch(`${mock.url}/api/widgets/7`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json');
    assert.deepEqual(await res.json(), { id: 150, code: 'ABC-12', kind: 'large', created: '2020-01-01T00:00:00Z' });
  });

  test('without an example, answers a body generated from the schema that validates against it (recursion, pattern, formats, bounds)', async () => {
    const list = await fetch(`${mock.url}/api/widgets`);
    assert.equal(list.status, 200);
    const widgets = (await list.json()) as Record<string, unknown>[];
    const check = validator({ type: 'array', items: { $ref: '#/definitions/Widget' } });
    assert.ok(check(widgets), JSON.stringify(check.errors));
    assert.ok(widgets.length >= 1);
    assert.match(String(widgets[0]!.code), /^[A-Z]{3}-\d{2}$/);

    const created = await fetch(`${mock.url}/api/widgets`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    assert.equal(created.status, 201, 'the first declared 2xx, not the 400 written before it');
    assert.ok(validator({ $ref: '#/definitions/Widget' })(await created.json()));

    const gone = await fetch(`${mock.url}/api/widgets/7`, { method: 'DELETE' });
    assert.equal(gone.status, 204);
    assert.equal(await gone.text(), '');

    const health = await fetch(`${mock.url}/api/health`);
    assert.equal(health.status, 200, 'only a default response: 200 with its schema');
    assert.deepEqual(await health.json(), { state: 'up' });
  });

  test("serves the spec's own paths with basePath: others are 404, undeclared methods 405", async () => {
    assert.equal((await fetch(`${mock.url}/widgets`)).status, 404);
    assert.equal((await fetch(`${mock.url}/api/nothing`)).status, 404);
    assert.equal((await fetch(`${mock.url}/api/health`, { method: 'PUT' })).status, 405);
  });

  test('contract against the mock behind the gateway (validating traffic with --validate enforce) passes', async () => {
    // The gateway does check bodies here, so the pass below means contract's requests and mock's answers keep the spec.
    const refused = await fetch(`${gw.url}/api/widgets`, { method: 'POST', headers: { 'x-api-key': KEY, 'content-type': 'application/json' }, body: '{}' });
    assert.equal(refused.status, 400);
    const r = await runCli(['contract', '--spec', specFile, '--url', gw.url, '--key', KEY]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /0 failed, 0 skipped/);
    for (const op of ['listWidgets', 'createWidget', 'getWidget', 'deleteWidget', 'health']) assert.match(r.stdout, new RegExp(`^${op}\\s+positive\\s+PASS`, 'm'));
    // The key travels in the spec's own place (the x-api-key header), so the invalid-key probe reached the check.
    assert.match(r.stdout, /^getWidget\s+security: invalid key\s+PASS\s+400/m);
  });
});
