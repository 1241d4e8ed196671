// x-google-endpoints allowCors: preflights reach the backend without a key,
// with the operation's own path translation (ESPv2, reference 3.4).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { baseSpec, op, pathParams, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { send } from '../helpers/http.ts';

const SERVICE = 'cors.endpoints.test-project.cloud.goog';
let backend: TestBackend;
let withCors: TestGateway;
let without: TestGateway;

function spec(allowCors: boolean) {
  return baseSpec({
    host: SERVICE,
    'x-google-endpoints': [{ name: SERVICE, allowCors }],
    'x-google-backend': { address: backend.url },
    securityDefinitions: { api_key: { type: 'apiKey', name: 'key', in: 'query' } },
    security: [{ api_key: [] }],
    paths: {
      '/shelves/{shelf}/books/{book}': {
        get: op('getBook', { ...pathParams('shelf', 'book'), 'x-google-backend': { address: `${backend.url}/bookinfo` } }),
      },
      '/custom': { get: op('custom'), options: op('customOptions', { security: [{ api_key: [] }] }) },
    },
  });
}

before(async () => {
  backend = await startTestBackend();
  withCors = await startTestGateway({ spec: spec(true), keys: 'none' });
  without = await startTestGateway({ spec: spec(false), keys: 'none' });
});
after(async () => {
  await withCors?.close();
  await without?.close();
  await backend?.close();
});

describe('allowCors', () => {
  test('OPTIONS is forwarded without a key, with the operation translation', async () => {
    backend.clear();
    const r = await send(withCors.url, '/shelves/8/books/24', { method: 'OPTIONS', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'GET' } });
    assert.equal(r.status, 200, r.body);
    assert.equal(backend.last()!.method, 'OPTIONS');
    assert.equal(backend.last()!.url, '/bookinfo?shelf=8&book=24');
    assert.equal(backend.last()!.headers.origin, 'https://app.example.com');
  });

  test('the other methods keep their checks', async () => {
    assert.equal((await send(withCors.url, '/shelves/8/books/24')).status, 401);
  });

  test('an OPTIONS operation the spec declares itself is kept as written', async () => {
    assert.equal((await send(withCors.url, '/custom', { method: 'OPTIONS' })).status, 401);
  });

  test('without allowCors, OPTIONS on a defined template is 405', async () => {
    backend.clear();
    const r = await send(without.url, '/shelves/8/books/24', { method: 'OPTIONS' });
    assert.equal(r.status, 405);
    assert.equal(backend.requests.length, 0);
  });
});
