// The positive request `contract` builds, from a spec loaded by the real loader: each value's source in
// the order the issue names (x-example, default, enum, else type and format), and the body's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { loadSpecModel } from '../../src/contract/spec-model.ts';
import { plannedRequest } from '../../src/contract/request.ts';
import { SampleGenerator } from '../../src/contract/sample.ts';
import { tempDir, writeJson } from './cli.ts';

const spec = {
  swagger: '2.0',
  info: { title: 'values', version: '1' },
  host: 'values.endpoints.p.cloud.goog',
  basePath: '/v2',
  'x-google-backend': { address: 'https://values-backend.invalid' },
  paths: {
    '/items/{itemId}/{day}': {
      post: {
        operationId: 'putItem',
        consumes: ['application/json'],
        parameters: [
          { name: 'itemId', in: 'path', required: true, type: 'string', 'x-example': 'item 7', default: 'not-this', enum: ['nor-this'] },
          { name: 'day', in: 'path', required: true, type: 'string', format: 'date' },
          { name: 'size', in: 'query', required: true, type: 'integer', default: 12, enum: [3, 12] },
          { name: 'color', in: 'query', required: true, type: 'string', enum: ['red', 'blue'] },
          { name: 'ids', in: 'query', required: true, type: 'array', items: { type: 'integer', minimum: 5 }, collectionFormat: 'pipes', minItems: 2 },
          { name: 'optional', in: 'query', type: 'string' },
          { name: 'X-Request-Tag', in: 'header', required: true, type: 'string', format: 'uuid' },
          { name: 'item', in: 'body', required: true, schema: { type: 'object' }, 'x-example': { given: true } },
        ],
        responses: { '200': { description: 'ok' } },
      },
    },
    '/generated': {
      post: {
        operationId: 'generated',
        parameters: [
          {
            name: 'thing',
            in: 'body',
            required: true,
            schema: { type: 'object', required: ['n', 'at'], properties: { n: { type: 'integer', minimum: 40 }, at: { type: 'string', format: 'date-time' }, id: { type: 'string', readOnly: true } } },
          },
        ],
        responses: { '200': { description: 'ok' } },
      },
    },
  },
};

test('path, query and header values: x-example, then default, then enum, else made from type and format; optional ones left out', async () => {
  const dir = tempDir();
  try {
    const model = await loadSpecModel(writeJson(dir, 'endpoint.json', spec));
    const gen = new SampleGenerator(model.doc, 'request');
    const put = plannedRequest(model.operations.find((o) => o.op.id === 'putItem')!, gen);
    assert.equal(put.method, 'POST');
    assert.equal(put.path, '/v2/items/item%207/2024-01-02');
    const query = Object.fromEntries(put.query);
    assert.equal(query.size, '12', 'default before enum');
    assert.equal(query.color, 'red', 'the first enum value');
    const ids = query.ids!.split('|').map(Number);
    assert.ok(ids.length >= 2 && ids.every((n) => Number.isInteger(n) && n >= 5), query.ids);
    assert.ok(!('optional' in query), 'an optional parameter without an example is not sent');
    assert.match(put.headers['x-request-tag']!, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.deepEqual(put.body, { contentType: 'application/json', text: '{"given":true}' });

    const made = plannedRequest(model.operations.find((o) => o.op.id === 'generated')!, gen);
    const body = JSON.parse(made.body!.text) as Record<string, unknown>;
    assert.ok(Number.isInteger(body.n) && (body.n as number) >= 40, made.body!.text);
    assert.ok(!Number.isNaN(Date.parse(String(body.at))), made.body!.text);
    assert.ok(!('id' in body), 'readOnly properties are not sent in a request');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
