// Specs and templates ESPv2 accepts: what its checked-in example specs rely on (a dangling $ref, an
// x-google-backend without address, allowCors beside x-google-allow: all), reproduced in small specs of
// our own; templates with segments after `**`, the 405 naming the template as ESPv2's compiled config
// spells it, POST /healthz, and unknown x-google-* names. Real CLI (serve and validate), loopback backends.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { send } from '../helpers/http.ts';
import { cli, specDir, type SpecDir } from './parity-helpers.ts';

const ok = { 200: { description: 'ok' } };

// ESPv2's examples/dynamic_routing/openapi_swagger.json (also examples/service_control) answers GET /shelves
// with `$ref: #/definitions/listShelvesResponse`, which it never defines, and Google's compiler still made
// its service_config_generated.json. Here: that dangling reference, and a resolving one beside it.
const danglingResponseRef = {
  swagger: '2.0',
  info: { title: 'dangling', version: '3' },
  host: 'dangling.endpoints.parity-project.cloud.goog',
  definitions: { note: { type: 'object', properties: { text: { type: 'string' } } } },
  paths: {
    '/shelves': {
      get: { operationId: 'listShelves', responses: { 200: { description: 'all', schema: { $ref: '#/definitions/listShelvesResponse' } } } },
      put: { operationId: 'putNote', parameters: [{ in: 'body', name: 'note', schema: { $ref: '#/definitions/note' } }], responses: ok },
    },
  },
};

// ESPv2's examples/testdata/sidecar_backend/openapi_swagger.json: x-google-backend blocks with only a
// deadline, written as a string ("7.5" on one operation, "25" at the top level), so every operation goes
// to the local backend (service_info.go: `r.Address == ""`).
function addresslessBackends(operationDeadline: string) {
  return {
    swagger: '2.0',
    info: { title: 'sidecar', version: '3' },
    host: 'sidecar.endpoints.parity-project.cloud.goog',
    'x-google-backend': { deadline: '25' },
    paths: {
      '/books': {
        get: { operationId: 'listBooks', 'x-google-backend': { deadline: operationDeadline }, responses: ok },
        post: { operationId: 'addBook', responses: ok },
      },
    },
  };
}

// ESPv2's examples/testdata/route_match/openapi_swagger.json: allowCors and `x-google-allow: all` together,
// a top-level backend, and one CONSTANT_ADDRESS operation whose template mixes `{library_id}` and `{shelfId}`
// (int64 integers); its envoy_config.json answers 405 naming `{shelf_id}`.
function corsAllowAllLibrary(backendUrl: string) {
  const host = 'library.endpoints.parity-project.cloud.goog';
  const id = (name: string) => ({ name, in: 'path', required: true, type: 'integer', format: 'int64' });
  return {
    swagger: '2.0',
    info: { title: 'library', version: '3' },
    host,
    'x-google-endpoints': [{ name: host, allowCors: true }],
    'x-google-allow': 'all',
    'x-google-backend': { address: `${backendUrl}/everything` },
    paths: {
      '/libraries/{library_id}/shelves/{shelfId}': {
        get: {
          operationId: 'getShelf',
          parameters: [id('library_id'), id('shelfId')],
          'x-google-backend': { address: `${backendUrl}/shelf`, path_translation: 'CONSTANT_ADDRESS' },
          responses: ok,
        },
      },
    },
  };
}

let backend: TestBackend;
let dir: SpecDir;
const gateways: ChildGateway[] = [];
async function serve(file: string, args: string[] = []): Promise<ChildGateway> {
  const gw = await startChildGateway(['--spec', file, '--backend-auth', 'none', '--keys', 'none', '--access-log', 'off', '--backend', backend.url, ...args], { ENDPOINTS_CACHE_DIR: 'off' });
  gateways.push(gw);
  return gw;
}

before(async () => {
  backend = await startTestBackend();
  dir = await specDir();
});
after(async () => {
  for (const gw of gateways) {
    gw?.child.kill('SIGTERM');
    await gw?.exit();
  }
  await backend?.close();
  await dir?.close();
});

describe('a dangling internal $ref (examples/dynamic_routing, examples/service_control)', () => {
  test('in a response schema it is valid, with a located warning (and none for the reference that resolves)', async () => {
    const r = await cli(['validate', '--spec', await dir.write('dangling.json', danglingResponseRef)]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /valid \(2 operations/);
    assert.match(r.stdout, /warning: paths\["\/shelves"\]\.get\.responses\["200"\]\.schema\.\$ref: refers to #\/definitions\/listShelvesResponse, which the document does not define; taken as any value/);
    assert.doesNotMatch(r.stdout + r.stderr, /definitions\/note/);
  });

  test('serve starts on it, logs the located warning, and serves the operation', async () => {
    const gw = await serve(await dir.write('dangling-serve.json', danglingResponseRef));
    const w = await gw.waitForLog((l) => String(l.message).startsWith('spec warning:'));
    assert.match(String(w.message), /paths\["\/shelves"\]\.get\.responses\["200"\]\.schema\.\$ref: refers to #\/definitions\/listShelvesResponse/);
    backend.clear();
    assert.equal((await send(gw.url, '/shelves')).status, 200);
    assert.equal(backend.last()?.url, '/shelves');
  });

  test('is refused where it would change what the gateway does (a parameter)', async () => {
    const spec = {
      swagger: '2.0',
      info: { title: 't', version: '1' },
      host: 'refs.endpoints.parity-project.cloud.goog',
      paths: { '/a': { get: { operationId: 'a', parameters: [{ $ref: '#/parameters/missing' }], responses: ok } } },
    };
    const r = await cli(['validate', '--spec', await dir.write('param-ref.json', spec)]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /paths\["\/a"\]\.get\.parameters\[0\]\.\$ref: refers to #\/parameters\/missing, which the document does not define/);
  });
});

describe('x-google-backend without address (examples/testdata/sidecar_backend)', () => {
  test('blocks holding only a string deadline are valid', async () => {
    const r = await cli(['validate', '--spec', await dir.write('sidecar-valid.json', addresslessBackends('7.5'))]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /valid \(2 operations/);
  });

  test('means the local --backend with the block deadline, the path as requested', async () => {
    // Deadlines short enough to observe: the operation's 0.3 s; the top level's 25 s covers addBook.
    const gw = await serve(await dir.write('sidecar.json', addresslessBackends('0.3')));
    backend.clear();
    const fast = await send(gw.url, '/books?x=1');
    assert.equal(fast.status, 200);
    assert.equal(backend.last()?.url, '/books?x=1');
    assert.equal(backend.last()?.headers.authorization, undefined);
    backend.setDelayMs(1200);
    try {
      const slow = await send(gw.url, '/books');
      assert.equal(slow.status, 504);
      assert.equal(slow.body, '{"code":504,"message":"upstream request timeout"}');
      const post = await send(gw.url, '/books', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"title":"t"}' });
      assert.equal(post.status, 200, 'the top-level block (25 s) applies to addBook');
    } finally {
      backend.setDelayMs(0);
    }
  });
});

describe('templates with segments after ** are served, bindings in CONSTANT_ADDRESS queries', () => {
  let gw: ChildGateway;
  before(async () => {
    const spec = {
      swagger: '2.0',
      info: { title: 't', version: '1' },
      host: 'tail.endpoints.parity-project.cloud.goog',
      paths: {
        '/a/{b=c/**}/d/e': { get: { operationId: 'tail', parameters: [{ name: 'b', in: 'path', required: true, type: 'string' }], 'x-google-backend': { address: `${backend.url}/tail`, disable_auth: true }, responses: ok } },
        '/{x.y.z=a/**/b}:custom': { post: { operationId: 'custom', parameters: [{ name: 'x.y.z', in: 'path', required: true, type: 'string' }], 'x-google-backend': { address: `${backend.url}/custom`, disable_auth: true }, responses: ok } },
        '/libraries/{library_id}/shelves/{shelfId}': {
          get: {
            operationId: 'getShelf',
            parameters: [
              { name: 'library_id', in: 'path', required: true, type: 'integer' },
              { name: 'shelfId', in: 'path', required: true, type: 'integer' },
            ],
            'x-google-backend': { address: `${backend.url}/shelves`, path_translation: 'CONSTANT_ADDRESS', disable_auth: true },
            responses: ok,
          },
        },
      },
    };
    gw = await serve(await dir.write('tails.json', spec));
  });

  test('/a/{b=c/**}/d/e and /{x.y.z=a/**/b}:custom route, with their bindings', async () => {
    backend.clear();
    assert.equal((await send(gw.url, '/a/c/1/2/d/e')).status, 200);
    assert.equal(backend.last()?.url, '/tail?b=c/1/2');
    assert.equal((await send(gw.url, '/a/1/2/b:custom', { method: 'POST' })).status, 200);
    assert.equal(backend.last()?.url, '/custom?x.y.z=a/1/2/b');
    assert.equal((await send(gw.url, '/a/c/1/d')).status, 404);
  });

  test('the 405 names the template snake-cased; CONSTANT_ADDRESS keeps the spec names (envoy_config.json: {shelfId=*})', async () => {
    const r = await send(gw.url, '/libraries/1/shelves/2', { method: 'POST' });
    assert.equal(r.status, 405);
    assert.equal(r.json<{ message: string }>().message, 'The current request is matched to the defined url template "/libraries/{library_id}/shelves/{shelf_id}" but its http method is not allowed');
    backend.clear();
    assert.equal((await send(gw.url, '/libraries/1/shelves/2')).status, 200);
    assert.equal(backend.last()?.url, '/shelves?library_id=1&shelfId=2');
  });

  test('POST /healthz answers 405 naming /healthz (deny_invalid_method_test); GET stays 200', async () => {
    for (const [method, p] of [['POST', '/healthz'], ['PUT', '/healthz'], ['DELETE', '/healthz/']] as const) {
      const r = await send(gw.url, p, { method });
      assert.equal(r.status, 405, `${method} ${p}`);
      assert.equal(r.body, '{"code":405,"message":"The current request is matched to the defined url template \\"/healthz\\" but its http method is not allowed"}');
    }
    assert.equal((await send(gw.url, '/healthz')).status, 200);
  });
});

describe('examples/testdata/route_match: allowCors, x-google-allow: all, {library_id}/{shelfId}', () => {
  test('starts, and its 405 names the template as the compiled config does (envoy_config.json)', async () => {
    const gw = await serve(await dir.write('library.json', corsAllowAllLibrary(backend.url)));
    const r = await send(gw.url, '/libraries/1/shelves/2', { method: 'TRACE' });
    assert.equal(r.status, 405);
    assert.equal(r.body, '{"code":405,"message":"The current request is matched to the defined url template \\"/libraries/{library_id}/shelves/{shelf_id}\\" but its http method is not allowed"}');
    backend.clear();
    assert.equal((await send(gw.url, '/libraries/1/shelves/2')).status, 200);
    assert.equal(backend.last()?.url, '/shelf?library_id=1&shelfId=2');
  });
});

describe('allowCors next to x-google-allow: all, and one template under two parameter names', () => {
  test('OPTIONS on an unregistered path goes to the top-level backend; both spellings start and route', async () => {
    const host = 'cors-all.endpoints.parity-project.cloud.goog';
    const spec = {
      swagger: '2.0',
      info: { title: 't', version: '1' },
      host,
      'x-google-endpoints': [{ name: host, allowCors: true }],
      'x-google-allow': 'all',
      'x-google-backend': { address: `${backend.url}/top`, disable_auth: true },
      paths: {
        '/items/{id}': { get: { operationId: 'getItem', parameters: [{ name: 'id', in: 'path', required: true, type: 'string' }], responses: ok } },
        '/items/{name}': { put: { operationId: 'putItem', parameters: [{ name: 'name', in: 'path', required: true, type: 'string' }], responses: ok } },
      },
    };
    const gw = await serve(await dir.write('cors-all.json', spec));
    backend.clear();
    const pre = await send(gw.url, '/not/registered?q=1', { method: 'OPTIONS', headers: { origin: 'http://x.example', 'access-control-request-method': 'GET' } });
    assert.equal(pre.status, 200);
    assert.equal(backend.last()?.method, 'OPTIONS');
    assert.equal(backend.last()?.url, '/top/not/registered?q=1');
    const item = await send(gw.url, '/items/7', { method: 'OPTIONS' });
    assert.equal(item.status, 200);
    assert.equal(backend.last()?.url, '/top/items/7');
    assert.equal((await send(gw.url, '/items/7', { method: 'PUT' })).status, 200);
  });
});

describe('x-google-* extension names', () => {
  const base = (extra: Record<string, unknown>) => ({
    swagger: '2.0',
    info: { title: 't', version: '1' },
    host: 'names.endpoints.parity-project.cloud.goog',
    paths: { '/a': { get: { operationId: 'a', responses: ok } } },
    ...extra,
  });

  test('an unknown name (x-google-backends) is refused with a did-you-mean: top level, path item, operation, security definition', async () => {
    const spec = base({
      'x-google-backends': { address: 'https://example.com' },
      securityDefinitions: { g: { type: 'oauth2', authorizationUrl: '', flow: 'implicit', 'x-google-issuer': 'i', 'x-google-audience': 'a' } },
    });
    (spec.paths['/a'].get as Record<string, unknown>)['x-google-quotas'] = { metricCosts: {} };
    (spec.paths['/a'] as Record<string, unknown>)['x-google-alow'] = 'all';
    const r = await cli(['validate', '--spec', await dir.write('typo.json', spec)]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /x-google-backends: is not a Google extension the gateway knows; did you mean "x-google-backend"\?/);
    assert.match(r.stderr, /paths\["\/a"\]\.get\.x-google-quotas: is not a Google extension the gateway knows; did you mean "x-google-quota"\?/);
    assert.match(r.stderr, /paths\["\/a"\]\.x-google-alow: is not a Google extension the gateway knows; did you mean "x-google-allow"\?/);
    assert.match(r.stderr, /securityDefinitions\.g\.x-google-audience: is not a Google extension the gateway knows; did you mean "x-google-audiences"\?/);
  });

  test('real names the gateway does not implement are accepted with a warning naming them and their source', async () => {
    const r = await cli(['validate', '--spec', await dir.write('api-name.json', base({ 'x-google-api-name': 'bookstore', 'x-google-api-management': {} }))]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /warning: x-google-api-name: names the API in Google's compiled service config \(Cloud Endpoints OpenAPI extensions/);
    assert.match(r.stdout, /warning: x-google-api-management: is the OpenAPI 3\.x extension \(Cloud Endpoints "OpenAPI 3\.x extensions"\)/);
  });
});
