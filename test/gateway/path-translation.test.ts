// ESPv2's path translation, row by row from the reference's table 1.4: the
// upstream path+query the backend receives for each incoming request.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { baseSpec, op, pathParams, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { send } from '../helpers/http.ts';

let backend: TestBackend;
let gw: TestGateway;

before(async () => {
  backend = await startTestBackend();
  const B = backend.url;
  const be = (address: string, extra: Record<string, unknown> = {}) => ({ 'x-google-backend': { address, ...extra } });
  const APPEND = { path_translation: 'APPEND_PATH_TO_ADDRESS' };
  const CONSTANT = { path_translation: 'CONSTANT_ADDRESS' };
  gw = await startTestGateway({
    spec: baseSpec({
      paths: {
        '/pet/{pet_id}/num/{number}': { get: op('getPet', { ...be(`${B}/dynamicrouting/getpetbyid`), ...pathParams('pet_id', 'number') }) },
        '/empty_path': { post: op('emptyPath', be(B, CONSTANT)) },
        '/shelves/{SHELF}/books/info/{BOOK}': { get: op('bookInfo', { ...be(`${B}/dynamicrouting/bookinfo`), ...pathParams('SHELF', 'BOOK') }) },
        '/shelves/{SHELF.i_d}/books/id/{BOOK.id}': { get: op('bookId', { ...be(`${B}/dynamicrouting/bookid`), ...pathParams('SHELF.i_d', 'BOOK.id') }) },
        '/shelves': { get: op('listShelves', be(`${B}/dynamicrouting/shelves`)) },
        '/wildcard/a/*/b/{name=*}/c/**': { get: op('constWildcard', { ...be(`${B}/dynamicrouting/const_wildcard`), ...pathParams('name') }) },
        '/field_path/{s_1=a/*/b/*}/{s_2=x/**}:upload': { get: op('fieldPath', { ...be(`${B}/dynamicrouting/const_wildcard`), ...pathParams('s_1', 's_2') }) },
        '/allow-all/exact-match': { post: op('exact', be(`${B}/dynamicrouting/const_wildcard`)) },
        '/allow-all/{single_wildcard=*}': { post: op('single', { ...be(`${B}/dynamicrouting/const_wildcard`), ...pathParams('single_wildcard') }) },
        '/allow-all/{double_wildcard=**}': { post: op('double', { ...be(`${B}/dynamicrouting/const_wildcard`), ...pathParams('double_wildcard') }) },
        '/sc/pet/{pet_id}/num/{number}': { post: op('scPet', { ...be(`${B}/dynamicrouting/`, CONSTANT), ...pathParams('pet_id', 'number') }) },
        '/searchpet': { get: op('searchPet', be(`${B}/dynamicrouting/searchpet`, APPEND)) },
        '/searchdog': { get: op('searchDog', be(`${B}/dynamicrouting/searchdogs/`, APPEND)) },
        '/pets/{category}/year/{no}': { get: op('listPets', { ...be(`${B}/dynamicrouting/listpet`, APPEND), ...pathParams('category', 'no') }) },
        '/searchrootwithslash': { get: op('rootSlash', be(`${B}/`, APPEND)) },
        '/searchroot': { get: op('root', be(B, APPEND)) },
        '/sc/searchpet': { post: op('scSearchPet', be(`${B}/dynamicrouting/`, APPEND)) },
        '/echo/{variable}/path': { get: op('echo', { ...be(`${B}/prefix`, APPEND), ...pathParams('variable') }) },
        '/bearertoken/append': { get: op('bearerAppend', be(B, APPEND)) },
        '/bearertoken/constant/{foo}': { get: op('bearerConstant', { ...be(`${B}/bearertoken/constant`), ...pathParams('foo') }) },
      },
    }),
  });
});

after(async () => {
  await gw?.close();
  await backend?.close();
});

/** [row, method, incoming, expected upstream path+query] */
const rows: [string, string, string, string][] = [
  ['1', 'GET', '/pet/123/num/987', '/dynamicrouting/getpetbyid?pet_id=123&number=987'],
  ['2', 'GET', '/pet/123/num/987/', '/dynamicrouting/getpetbyid?pet_id=123&number=987'],
  ['3', 'GET', '/pet/a%20b/num/9%3B8', '/dynamicrouting/getpetbyid?pet_id=a%20b&number=9%3B8'],
  ['4', 'GET', '/pet/31/num/565?lang=US&zone=us-west1', '/dynamicrouting/getpetbyid?lang=US&zone=us-west1&pet_id=31&number=565'],
  ['5', 'GET', '/pet/a%20b/num/9%3B8?lang=U%20S&zone=us%3Bwest', '/dynamicrouting/getpetbyid?lang=U%20S&zone=us%3Bwest&pet_id=a%20b&number=9%3B8'],
  ['6', 'POST', '/empty_path', '/'],
  ['6b', 'POST', '/empty_path/', '/'],
  ['6c', 'POST', '/empty_path//', '/'],
  ['7', 'GET', '/shelves/123/books/info/987', '/dynamicrouting/bookinfo?SHELF=123&BOOK=987'],
  ['8', 'GET', '/shelves/221/books/id/2019', '/dynamicrouting/bookid?SHELF.i_d=221&BOOK.id=2019'],
  ['9', 'GET', '/shelves', '/dynamicrouting/shelves'],
  ['9b', 'GET', '/shelves?q=story%3Bbooks', '/dynamicrouting/shelves?q=story%3Bbooks'],
  ['10', 'GET', '/wildcard/a/1/b/2/c/3/4/5?key=value', '/dynamicrouting/const_wildcard?key=value&name=2'],
  ['11', 'GET', '/field_path/a/1/b/2/x/9/8/7:upload', '/dynamicrouting/const_wildcard?s_1=a/1/b/2&s_2=x/9/8/7'],
  ['11b', 'GET', '/field_path/a/1/b/2/x/9/8/7/:upload', '/dynamicrouting/const_wildcard?s_1=a/1/b/2&s_2=x/9/8/7/'],
  ['12', 'POST', '/allow-all/should-match/double-wildcard///', '/dynamicrouting/const_wildcard?double_wildcard=should-match/double-wildcard'],
  ['12b', 'POST', '/allow-all/only-one', '/dynamicrouting/const_wildcard?single_wildcard=only-one'],
  ['12c', 'POST', '/allow-all/exact-match', '/dynamicrouting/const_wildcard'],
  ['13', 'POST', '/sc/pet/0325/num/2019?key=api-key&lang=en', '/dynamicrouting?key=api-key&lang=en&pet_id=0325&number=2019'],
  ['14', 'GET', '/searchpet?timezone=PST&lang=US', '/dynamicrouting/searchpet/searchpet?timezone=PST&lang=US'],
  ['14b', 'GET', '/searchpet/?timezone=PST&lang=US', '/dynamicrouting/searchpet/searchpet/?timezone=PST&lang=US'],
  ['15', 'GET', '/searchdog?timezone=U%20C%3BT', '/dynamicrouting/searchdogs/searchdog?timezone=U%20C%3BT'],
  ['16', 'GET', '/pets/d%20g/year/2019%3B2020?lang=U%20S', '/dynamicrouting/listpet/pets/d%20g/year/2019%3B2020?lang=U%20S'],
  ['16b', 'GET', '/pets/cat/year/2018/', '/dynamicrouting/listpet/pets/cat/year/2018/'],
  ['17', 'GET', '/searchrootwithslash', '/searchrootwithslash'],
  ['17b', 'GET', '/searchroot?zone=us-central1&lang=en', '/searchroot?zone=us-central1&lang=en'],
  ['18', 'POST', '/sc/searchpet?key=api-key&timezone=EST', '/dynamicrouting/sc/searchpet?key=api-key&timezone=EST'],
  ['19', 'GET', '/echo/12%2F3/path/', '/prefix/echo/12%2F3/path/'],
  ['19b', 'GET', '/echo/%4A/path/', '/prefix/echo/J/path/'],
  ['20', 'GET', '/echo/123/../123/path/', '/prefix/echo/123/path/'],
  ['20b', 'GET', '/echo/123/path//', '/prefix/echo/123/path/'],
  ['20c', 'GET', '/echo/123/path/?param1=%4A/../test', '/prefix/echo/123/path/?param1=%4A/../test'],
  ['22', 'GET', '/bearertoken/constant/42', '/bearertoken/constant?foo=42'],
  ['23', 'GET', '/bearertoken/append?key=api-key', '/bearertoken/append?key=api-key'],
  ['doc', 'GET', '/pet/widgetworks/num/johndoe?timezone=EST', '/dynamicrouting/getpetbyid?timezone=EST&pet_id=widgetworks&number=johndoe'],
  ['bare-?', 'GET', '/pet/1/num/2?', '/dynamicrouting/getpetbyid?&pet_id=1&number=2'],
];

describe('ESPv2 path translation (reference table 1.4)', () => {
  for (const [row, method, incoming, expected] of rows) {
    test(`row ${row}: ${method} ${incoming} -> ${expected}`, async () => {
      backend.clear();
      const r = await send(gw.url, incoming, { method });
      assert.equal(r.status, 200, r.body);
      assert.equal(backend.requests.length, 1);
      assert.equal(backend.last()!.url, expected);
      assert.equal(backend.last()!.method, method);
    });
  }

  test('row 10b: /wildcard/a/1/b/2/c (no segment for **) is not defined: 404, backend not called', async () => {
    backend.clear();
    const r = await send(gw.url, '/wildcard/a/1/b/2/c');
    assert.equal(r.status, 404);
    assert.deepEqual(r.json(), { code: 404, message: 'The current request is not defined by this API.' });
    assert.equal(backend.requests.length, 0);
  });

  test('row 24: a path not in the spec answers ESP 404 without reaching the backend', async () => {
    backend.clear();
    const r = await send(gw.url, '/searchdogs');
    assert.equal(r.status, 404);
    assert.equal(r.headers['content-type'], 'application/json');
    assert.deepEqual(r.json(), { code: 404, message: 'The current request is not defined by this API.' });
    assert.equal(backend.requests.length, 0);
  });

  test('the Host header is the backend hostname without port', async () => {
    backend.clear();
    await send(gw.url, '/searchroot', { headers: { host: 'api.example.com' } });
    assert.equal(backend.last()!.headers.host, '127.0.0.1');
  });

  test('a known template with another method answers 405 naming the template', async () => {
    backend.clear();
    const r = await send(gw.url, '/pet/1/num/2', { method: 'DELETE' });
    assert.equal(r.status, 405);
    assert.deepEqual(r.json(), {
      code: 405,
      message: 'The current request is matched to the defined url template "/pet/{pet_id}/num/{number}" but its http method is not allowed',
    });
    assert.equal(backend.requests.length, 0);
  });

  test('matching is case-sensitive', async () => {
    const r = await send(gw.url, '/SHELVES');
    assert.equal(r.status, 404);
  });
});
