// What the docs page publishes: extensions describing the gateway's inside are removed at any depth,
// names that only look like extensions (a property called x-google-id) and examples are kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sanitizeSpec } from '../../src/docs-page/sanitize.ts';

test('x-google-* and x-endpoints-* are removed everywhere; host is the service name', () => {
  const shared = { type: 'string', 'x-google-note': 'internal' };
  const doc = {
    swagger: '2.0',
    host: 'backend-host.internal',
    'x-google-backend': { address: 'https://secret-backend.run.app' },
    'x-google-management': { metrics: [] },
    'x-endpoints-authorization': { emails: ['a@b.c'] },
    'x-vendor-keep': 1,
    securityDefinitions: {
      'x-google-scheme-name': { type: 'apiKey', name: 'key', in: 'query' },
      jwt: { type: 'oauth2', flow: 'implicit', authorizationUrl: '', 'x-google-issuer': 'https://issuer', 'x-google-audiences': 'aud' },
    },
    paths: {
      '/a': {
        get: {
          'x-google-backend': { address: 'https://other.run.app' },
          'x-google-quota': { metricCosts: { m: 1 } },
          parameters: [{ name: 'x-google-param', in: 'query', type: 'string', 'x-endpoints-hint': 1 }],
          responses: { '200': { description: 'ok', schema: { type: 'object', properties: { 'x-google-id': shared, other: shared }, example: { 'x-google-id': 'kept' } } } },
        },
      },
    },
    definitions: { 'x-google-model': { type: 'object' } },
  };
  const out = sanitizeSpec(doc, 'api.endpoints.p.cloud.goog') as any;
  const text = JSON.stringify(out);
  assert.ok(!text.includes('run.app') && !text.includes('https://issuer') && !text.includes('internal'), text);
  assert.equal(out.host, 'api.endpoints.p.cloud.goog');
  assert.equal(out['x-vendor-keep'], 1);
  assert.deepEqual(Object.keys(out.securityDefinitions), ['x-google-scheme-name', 'jwt']);
  assert.deepEqual(out.securityDefinitions.jwt, { type: 'oauth2', flow: 'implicit', authorizationUrl: '' });
  const get = out.paths['/a'].get;
  assert.deepEqual(Object.keys(get), ['parameters', 'responses']);
  assert.deepEqual(get.parameters, [{ name: 'x-google-param', in: 'query', type: 'string' }]);
  const schema = get.responses['200'].schema;
  assert.deepEqual(schema.properties, { 'x-google-id': { type: 'string' }, other: { type: 'string' } });
  assert.deepEqual(schema.example, { 'x-google-id': 'kept' });
  assert.deepEqual(Object.keys(out.definitions), ['x-google-model']);
  assert.equal(doc['x-google-backend'].address, 'https://secret-backend.run.app', 'the served document is not modified');
});
