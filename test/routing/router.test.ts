import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Router, type RouteMatch } from '../../src/routing/router.ts';
import { parseTemplate, type PathTemplate } from '../../src/routing/template.ts';

type Route = readonly [method: string, template: string];

function routerOf(routes: readonly Route[]): Router<string> {
  const r = new Router<string>();
  for (const [method, template] of routes) r.add(method, parseTemplate(template), `${method} ${template}`);
  return r;
}

function found<V>(m: RouteMatch<V>): { value: V; bindings: Record<string, string> } {
  assert.equal(m.kind, 'found', `expected a match, got ${JSON.stringify(m)}`);
  if (m.kind !== 'found') throw new Error('unreachable');
  return { value: m.value, bindings: Object.fromEntries(m.bindings) };
}

function expectFound(r: Router<string>, method: string, path: string, value: string, bindings: Record<string, string> = {}): void {
  const m = r.match(method, path);
  const f = found(m);
  assert.equal(f.value, value, `${method} ${path}`);
  assert.deepEqual(f.bindings, bindings, `${method} ${path} bindings`);
}

function expectNotFound(r: Router<string>, method: string, path: string): void {
  assert.deepEqual(r.match(method, path), { kind: 'not-found' }, `${method} ${path}`);
}

function expect405(r: Router<string>, method: string, path: string, template: string): void {
  assert.deepEqual(r.match(method, path), { kind: 'method-not-allowed', template }, `${method} ${path}`);
}

describe('ESPv2 dynamic routing table (reference 1.4)', () => {
  const r = routerOf([
    ['GET', '/pet/{pet_id}/num/{number}'],
    ['POST', '/empty_path'],
    ['GET', '/shelves/{s_h_e_l_f}/books/info/{b_o_o_k}'],
    ['GET', '/shelves/{s_h_e_l_f.i_d}/books/id/{b_o_o_k.id}'],
    ['GET', '/shelves'],
    ['GET', '/wildcard/a/*/b/{name=*}/c/**'],
    ['GET', '/field_path/{s_1=a/*/b/*}/{s_2=x/**}:upload'],
    ['POST', '/allow-all/exact-match'],
    ['POST', '/allow-all/{single_wildcard=*}'],
    ['POST', '/allow-all/{double_wildcard=**}'],
    ['POST', '/sc/pet/{pet_id}/num/{number}'],
    ['GET', '/searchpet'],
    ['GET', '/pets/{category}/year/{no}'],
    ['GET', '/echo/{variable}/path'],
    ['GET', '/bearertoken/constant/{foo}'],
  ]);

  test('#1 bindings in template order', () => {
    const m = found(r.match('GET', '/pet/123/num/987'));
    assert.equal(m.value, 'GET /pet/{pet_id}/num/{number}');
    const raw = r.match('GET', '/pet/123/num/987');
    assert.ok(raw.kind === 'found');
    assert.deepEqual(raw.bindings, [
      ['pet_id', '123'],
      ['number', '987'],
    ]);
  });
  test('#2 trailing slash matches and is not bound', () => {
    expectFound(r, 'GET', '/pet/123/num/987/', 'GET /pet/{pet_id}/num/{number}', { pet_id: '123', number: '987' });
  });
  test('#3 values are raw, not decoded', () => {
    expectFound(r, 'GET', '/pet/a%20b/num/9%3B8', 'GET /pet/{pet_id}/num/{number}', { pet_id: 'a%20b', number: '9%3B8' });
  });
  test('#6 literal template with and without trailing slash; // is not merged by the router', () => {
    expectFound(r, 'POST', '/empty_path', 'POST /empty_path');
    expectFound(r, 'POST', '/empty_path/', 'POST /empty_path');
    expectNotFound(r, 'POST', '/empty_path//');
  });
  test('#7 #8 names kept as written, dotted names too', () => {
    expectFound(r, 'GET', '/shelves/123/books/info/987', 'GET /shelves/{s_h_e_l_f}/books/info/{b_o_o_k}', { s_h_e_l_f: '123', b_o_o_k: '987' });
    expectFound(r, 'GET', '/shelves/221/books/id/2019', 'GET /shelves/{s_h_e_l_f.i_d}/books/id/{b_o_o_k.id}', {
      's_h_e_l_f.i_d': '221',
      'b_o_o_k.id': '2019',
    });
  });
  test('#9 literal', () => {
    expectFound(r, 'GET', '/shelves', 'GET /shelves');
    expectFound(r, 'GET', '/shelves/', 'GET /shelves');
  });
  test('#10 unnamed wildcards bind nothing; /c/** needs the slash', () => {
    expectFound(r, 'GET', '/wildcard/a/1/b/2/c/3/4/5', 'GET /wildcard/a/*/b/{name=*}/c/**', { name: '2' });
    expectFound(r, 'GET', '/wildcard/a/1/b/2/c/', 'GET /wildcard/a/*/b/{name=*}/c/**', { name: '2' });
    expectNotFound(r, 'GET', '/wildcard/a/1/b/2/c');
  });
  test('#11 sub-pattern variables with a verb', () => {
    const t = 'GET /field_path/{s_1=a/*/b/*}/{s_2=x/**}:upload';
    expectFound(r, 'GET', '/field_path/a/1/b/2/x/9/8/7:upload', t, { s_1: 'a/1/b/2', s_2: 'x/9/8/7' });
    expectFound(r, 'GET', '/field_path/a/1/b/2/x/9/8/7/:upload', t, { s_1: 'a/1/b/2', s_2: 'x/9/8/7/' });
    expectNotFound(r, 'GET', '/field_path/a/1/b/2/x:upload'); // `x/**` needs the slash after x
    expectFound(r, 'GET', '/field_path/a/1/b/2/x/:upload', t, { s_1: 'a/1/b/2', s_2: 'x/' });
    expectNotFound(r, 'GET', '/field_path/a/1/b/2/x/9/8/7');
    expectNotFound(r, 'GET', '/field_path/a/1/b/2/x/9:uploads');
    expectNotFound(r, 'GET', '/field_path/a/1/c/2/x/9:upload');
    expectNotFound(r, 'GET', '/field_path/a/1/b/2/x/9:upload/');
  });
  test('#12 exact > * > ** precedence', () => {
    expectFound(r, 'POST', '/allow-all/should-match/double-wildcard/', 'POST /allow-all/{double_wildcard=**}', {
      double_wildcard: 'should-match/double-wildcard',
    });
    expectFound(r, 'POST', '/allow-all/should-match/double-wildcard', 'POST /allow-all/{double_wildcard=**}', {
      double_wildcard: 'should-match/double-wildcard',
    });
    expectFound(r, 'POST', '/allow-all/exact-match', 'POST /allow-all/exact-match');
    expectFound(r, 'POST', '/allow-all/exact-match/', 'POST /allow-all/exact-match');
    expectFound(r, 'POST', '/allow-all/other', 'POST /allow-all/{single_wildcard=*}', { single_wildcard: 'other' });
    expectFound(r, 'POST', '/allow-all/exact-match/x', 'POST /allow-all/{double_wildcard=**}', { double_wildcard: 'exact-match/x' });
    expectFound(r, 'POST', '/allow-all/', 'POST /allow-all/{double_wildcard=**}', { double_wildcard: '' });
    expectNotFound(r, 'POST', '/allow-all');
  });
  test('#13 #16 #19 #22 more bindings', () => {
    expectFound(r, 'POST', '/sc/pet/0325/num/2019', 'POST /sc/pet/{pet_id}/num/{number}', { pet_id: '0325', number: '2019' });
    expectFound(r, 'GET', '/pets/d%20g/year/2019%3B2020', 'GET /pets/{category}/year/{no}', { category: 'd%20g', no: '2019%3B2020' });
    expectFound(r, 'GET', '/pets/cat/year/2018/', 'GET /pets/{category}/year/{no}', { category: 'cat', no: '2018' });
    expectFound(r, 'GET', '/echo/12%2F3/path/', 'GET /echo/{variable}/path', { variable: '12%2F3' });
    expectFound(r, 'GET', '/bearertoken/constant/42', 'GET /bearertoken/constant/{foo}', { foo: '42' });
  });
  test('#14 APPEND literal route with trailing slash', () => {
    expectFound(r, 'GET', '/searchpet', 'GET /searchpet');
    expectFound(r, 'GET', '/searchpet/', 'GET /searchpet');
  });
  test('#24 unknown path is not-found; known path with another method is 405', () => {
    expectNotFound(r, 'GET', '/searchdogs');
    expect405(r, 'POST', '/searchpet', '/searchpet');
    expect405(r, 'DELETE', '/pet/1/num/2', '/pet/{pet_id}/num/{number}');
    expect405(r, 'GET', '/allow-all/x/y', '/allow-all/{double_wildcard=**}');
  });
});

describe('precedence, methods and 405', () => {
  test('a GET-only specific template does not hide a POST catch-all', () => {
    const r = routerOf([
      ['GET', '/shelves/{id}'],
      ['POST', '/**'],
    ]);
    expectFound(r, 'POST', '/shelves/1', 'POST /**', {});
    expectFound(r, 'GET', '/shelves/1', 'GET /shelves/{id}', { id: '1' });
    expect405(r, 'PUT', '/shelves/1', '/shelves/{id}');
    expect405(r, 'PUT', '/other', '/**');
  });

  test('backtracks from literal to * to ** looking for the method', () => {
    const r = routerOf([
      ['GET', '/a/b/c'],
      ['PUT', '/a/{x}/c'],
      ['POST', '/a/{x=**}'],
      ['DELETE', '/{y}/b/c'],
    ]);
    expectFound(r, 'GET', '/a/b/c', 'GET /a/b/c');
    expectFound(r, 'PUT', '/a/b/c', 'PUT /a/{x}/c', { x: 'b' });
    expectFound(r, 'POST', '/a/b/c', 'POST /a/{x=**}', { x: 'b/c' });
    expectFound(r, 'DELETE', '/a/b/c', 'DELETE /{y}/b/c', { y: 'a' });
    expect405(r, 'PATCH', '/a/b/c', '/a/b/c');
    expect405(r, 'PATCH', '/a/z/c', '/a/{x}/c');
    expect405(r, 'PATCH', '/a/z', '/a/{x=**}');
    expect405(r, 'PATCH', '/q/b/c', '/{y}/b/c');
    expectNotFound(r, 'PATCH', '/q/b/d');
  });

  test('methods are exact and case-sensitive; no HEAD to GET fallback', () => {
    const r = routerOf([['GET', '/items']]);
    expect405(r, 'HEAD', '/items', '/items');
    expect405(r, 'get', '/items', '/items');
    expect405(r, 'OPTIONS', '/items', '/items');
  });

  test('literals are case-sensitive', () => {
    const r = routerOf([['GET', '/Items/{id}']]);
    expectFound(r, 'GET', '/Items/1', 'GET /Items/{id}', { id: '1' });
    expectNotFound(r, 'GET', '/items/1');
  });

  test('one template, several methods; 405 names the template', () => {
    const r = routerOf([
      ['GET', '/libraries/{library_id}/shelves/{shelfId}'],
      ['DELETE', '/libraries/{library_id}/shelves/{shelfId}'],
    ]);
    expectFound(r, 'DELETE', '/libraries/1/shelves/2', 'DELETE /libraries/{library_id}/shelves/{shelfId}', { library_id: '1', shelfId: '2' });
    expect405(r, 'POST', '/libraries/1/shelves/2', '/libraries/{library_id}/shelves/{shelf_id}'); // ESPv2 examples/testdata/route_match: snake-cased
    expectNotFound(r, 'GET', '/libraries/1/shelves');
    expectNotFound(r, 'GET', '/libraries/1/shelves/2/3');
  });

  test('same path pattern, different variable names per method: each binds its own names', () => {
    const r = routerOf([
      ['GET', '/a/{id}'],
      ['POST', '/a/{name}'],
    ]);
    expectFound(r, 'GET', '/a/1', 'GET /a/{id}', { id: '1' });
    expectFound(r, 'POST', '/a/1', 'POST /a/{name}', { name: '1' });
    expect405(r, 'PUT', '/a/1', '/a/{id}');
  });

  test('x-google-allow: all style catch-all after every specific route', () => {
    const r = routerOf([
      ['GET', '/v1/shelves'],
      ...['DELETE', 'GET', 'PATCH', 'POST', 'PUT'].map((m) => [m, '/**'] as const),
    ]);
    expectFound(r, 'GET', '/v1/shelves', 'GET /v1/shelves');
    expectFound(r, 'POST', '/v1/shelves', 'POST /**');
    expectFound(r, 'GET', '/', 'GET /**');
    expectFound(r, 'GET', '/anything/at/all', 'GET /**');
    expect405(r, 'HEAD', '/anything', '/**');
    expect405(r, 'HEAD', '/v1/shelves', '/v1/shelves');
  });
});

describe('wildcards, trailing slash and root', () => {
  test('* matches exactly one non-empty segment; : and %2F are data', () => {
    const r = routerOf([['GET', '/b/{x}']]);
    expectFound(r, 'GET', '/b/c', 'GET /b/{x}', { x: 'c' });
    expectFound(r, 'GET', '/b/a:b', 'GET /b/{x}', { x: 'a:b' });
    expectFound(r, 'GET', '/b/p%20q%2Fr', 'GET /b/{x}', { x: 'p%20q%2Fr' });
    expectFound(r, 'GET', '/b/c/', 'GET /b/{x}', { x: 'c' });
    expectNotFound(r, 'GET', '/b/');
    expectNotFound(r, 'GET', '/b');
    expectNotFound(r, 'GET', '/b/c/d');
  });

  test('** requires the slash before it and matches zero or more segments', () => {
    const r = routerOf([['GET', '/c/{rest=**}']]);
    expectNotFound(r, 'GET', '/c');
    expectFound(r, 'GET', '/c/', 'GET /c/{rest=**}', { rest: '' });
    expectFound(r, 'GET', '/c/x', 'GET /c/{rest=**}', { rest: 'x' });
    expectFound(r, 'GET', '/c/x/y', 'GET /c/{rest=**}', { rest: 'x/y' });
    expectFound(r, 'GET', '/c/x/y/', 'GET /c/{rest=**}', { rest: 'x/y' });
    expectFound(r, 'GET', '/c/x:y/%2F', 'GET /c/{rest=**}', { rest: 'x:y/%2F' });
    expectNotFound(r, 'GET', '/cc/x');
  });

  test('sub-pattern with ** keeps inner slashes', () => {
    const r = routerOf([['GET', '/v1/{name=projects/*/files/**}']]);
    expectFound(r, 'GET', '/v1/projects/p1/files/a/b/c', 'GET /v1/{name=projects/*/files/**}', { name: 'projects/p1/files/a/b/c' });
    expectFound(r, 'GET', '/v1/projects/p1/files/', 'GET /v1/{name=projects/*/files/**}', { name: 'projects/p1/files/' });
    expectNotFound(r, 'GET', '/v1/projects/p1/files');
    expectNotFound(r, 'GET', '/v1/projects/p1/other/a');
  });

  test('root template and root **', () => {
    const r = routerOf([
      ['GET', '/'],
      ['GET', '/foo'],
      ['GET', '/{all=**}'],
    ]);
    expectFound(r, 'GET', '/', 'GET /');
    expectFound(r, 'GET', '/foo', 'GET /foo');
    expectFound(r, 'GET', '/foo/', 'GET /foo');
    expectFound(r, 'GET', '/bar', 'GET /{all=**}', { all: 'bar' });
    expectFound(r, 'GET', '/foo/bar', 'GET /{all=**}', { all: 'foo/bar' });
    const only = routerOf([['GET', '/**']]);
    expectFound(only, 'GET', '/', 'GET /**');
    expectFound(only, 'GET', '/a/', 'GET /**');
  });

  test('exactly one trailing slash', () => {
    const r = routerOf([
      ['GET', '/p'],
      ['GET', '/p/{x}/q'],
    ]);
    expectFound(r, 'GET', '/p/', 'GET /p');
    expectNotFound(r, 'GET', '/p//');
    expectFound(r, 'GET', '/p/1/q/', 'GET /p/{x}/q', { x: '1' });
    expectNotFound(r, 'GET', '/p/1/q//');
  });

  test('paths that are not origin-form never match', () => {
    const r = routerOf([['GET', '/**']]);
    expectNotFound(r, 'GET', '');
    expectNotFound(r, 'GET', '*');
    expectNotFound(r, 'GET', 'a/b');
  });
});

describe('custom verbs', () => {
  test('verb on a literal, on a wildcard and on **', () => {
    const r = routerOf([
      ['POST', '/v1/items:batchGet'],
      ['POST', '/v1/items/{id}:cancel'],
      ['POST', '/other/{x=**}:verb'],
    ]);
    expectFound(r, 'POST', '/v1/items:batchGet', 'POST /v1/items:batchGet');
    expectFound(r, 'POST', '/v1/items/:batchGet', 'POST /v1/items:batchGet');
    expectNotFound(r, 'POST', '/v1/items:batchGet/');
    expectNotFound(r, 'POST', '/v1/items');
    expectFound(r, 'POST', '/v1/items/abc:cancel', 'POST /v1/items/{id}:cancel', { id: 'abc' });
    expectFound(r, 'POST', '/v1/items/a:b:cancel', 'POST /v1/items/{id}:cancel', { id: 'a:b' });
    expectFound(r, 'POST', '/v1/items/abc/:cancel', 'POST /v1/items/{id}:cancel', { id: 'abc' });
    expectNotFound(r, 'POST', '/v1/items/:cancel');
    expectNotFound(r, 'POST', '/v1/items/abc');
    expectFound(r, 'POST', '/other/bar/foo:verb', 'POST /other/{x=**}:verb', { x: 'bar/foo' });
    expectFound(r, 'POST', '/other/:verb', 'POST /other/{x=**}:verb', { x: '' });
    expectNotFound(r, 'POST', '/other:verb');
    expect405(r, 'GET', '/v1/items/abc:cancel', '/v1/items/{id}:cancel');
  });

  test('a colon no verb route takes is data for non-verb templates', () => {
    const r = routerOf([
      ['GET', '/v1/items/{id}'],
      ['POST', '/v1/items/{id}:cancel'],
    ]);
    expectFound(r, 'GET', '/v1/items/abc:foo', 'GET /v1/items/{id}', { id: 'abc:foo' });
    expectFound(r, 'GET', '/v1/items/abc:cancel', 'GET /v1/items/{id}', { id: 'abc:cancel' });
    expectFound(r, 'POST', '/v1/items/abc:cancel', 'POST /v1/items/{id}:cancel', { id: 'abc' });
    expect405(r, 'POST', '/v1/items/abc:foo', '/v1/items/{id}');
    expect405(r, 'DELETE', '/v1/items/abc:cancel', '/v1/items/{id}');
  });

  test("ESPv2's order: a node's own routes before its verb routes, ** verb routes before **", () => {
    // sort_test.go "variable bindings with/without verb": /a/{y=*} sorts before /a/{y=*}:verb,
    // and Envoy's regex for /a/{y=*} ([^/]+) accepts "1:verb", so it wins for the same method.
    const r = routerOf([
      ['GET', '/a/{y}'],
      ['GET', '/a/{y}:verb'],
      ['GET', '/b/{y=**}'],
      ['GET', '/b/{y=**}:verb'],
    ]);
    expectFound(r, 'GET', '/a/1:verb', 'GET /a/{y}', { y: '1:verb' });
    expectFound(r, 'GET', '/b/1/2:verb', 'GET /b/{y=**}:verb', { y: '1/2' });
    expectFound(r, 'GET', '/b/1/2', 'GET /b/{y=**}', { y: '1/2' });
  });

  test('ESPv2 match_sequence_generator cases (no literal after **)', () => {
    const r = routerOf([
      ['GET', '/some/const:verb'],
      ['GET', '/some/*:verb'],
      ['GET', '/some/*/foo:verb'],
      ['GET', '/other/**:verb'],
      ['GET', '/*/*:verb'],
      ['GET', '/foo/*'],
      ['GET', '/foo/*/hello'],
    ]);
    expectFound(r, 'GET', '/some/const:verb', 'GET /some/const:verb');
    expectFound(r, 'GET', '/some/other:verb', 'GET /some/*:verb');
    expectNotFound(r, 'GET', '/some/other:verb/');
    expectFound(r, 'GET', '/some/bar/foo:verb', 'GET /some/*/foo:verb');
    expectNotFound(r, 'GET', '/some/foo1/foo2/foo:verb');
    expectNotFound(r, 'GET', '/some/foo/bar:verb');
    expectFound(r, 'GET', '/other/bar/foo:verb', 'GET /other/**:verb');
    expectFound(r, 'GET', '/some:verb/const:verb', 'GET /*/*:verb');
    expectFound(r, 'GET', '/foo/other:verb', 'GET /foo/*');
    expectFound(r, 'GET', '/foo/other:verb/hello', 'GET /foo/*/hello');
  });
});

describe('ESPv2 variable binding cases', () => {
  const cases: [template: string, path: string, bindings: Record<string, string>][] = [
    ['/a/{x}/c/d/e', '/a/book/c/d/e', { x: 'book' }],
    ['/{x=a/*}/b/{y=*}/c', '/a/hello/b/world/c', { x: 'a/hello', y: 'world' }],
    ['/a/{x=b/*}/{y=d/**}', '/a/b/zoo/d/animal/tiger', { x: 'b/zoo', y: 'd/animal/tiger' }],
    ['/{x=*}/a', '/foo/a', { x: 'foo' }],
    ['/a/b/{x=*}', '/a/b/foo', { x: 'foo' }],
    ['/a/b/c/{x=**}', '/a/b/c/foo/bar/baz', { x: 'foo/bar/baz' }],
    ['/{x=*}/d/e/f/{y=**}', '/foo/d/e/f/bar/baz', { x: 'foo', y: 'bar/baz' }],
    ['/a/{x}/c', '/a/p%20q%2Fr/c', { x: 'p%20q%2Fr' }],
    ['/a/{x=p/*/q/*}/c', '/a/p/foo%20foo/q/bar%2Fbar/c', { x: 'p/foo%20foo/q/bar%2Fbar' }],
    ['/a/{x=**}', '/a/%21%23%24%26%27%28%29%2A%2B%2C%2F%3A%3B%3D%3F%40%5B%5D', { x: '%21%23%24%26%27%28%29%2A%2B%2C%2F%3A%3B%3D%3F%40%5B%5D' }],
    ['/a/{y=*}:verb', '/a/world:verb', { y: 'world' }],
    ['/a/{y=d/**}:verb', '/a/d/animal/tiger:verb', { y: 'd/animal/tiger' }],
    ['/{x=*}/a:verb', '/foo/a:verb', { x: 'foo' }],
    ['/e/{x=*}/f:verb', '/e/foo/f:verb', { x: 'foo' }],
    ['/a/{x=b/**}', '/a/b/hello/world/c', { x: 'b/hello/world/c' }],
    ['/a/{x=b/**}:verb', '/a/b/world/c:verb', { x: 'b/world/c' }],
    ['/a/{x=**}', '/a/hello/b/world/c', { x: 'hello/b/world/c' }],
  ];
  for (const [template, path, bindings] of cases) {
    test(`${template} ← ${path}`, () => {
      expectFound(routerOf([['GET', template]]), 'GET', path, `GET ${template}`, bindings);
    });
  }

  test('all of them together still route each path to its template', () => {
    const r = routerOf(cases.map(([t]) => ['GET', t] as const).filter((x, i, a) => a.findIndex((y) => y[1] === x[1]) === i));
    // Where several match, the trie order decides; check the ones that are unambiguous.
    expectFound(r, 'GET', '/a/book/c/d/e', 'GET /a/{x}/c/d/e', { x: 'book' });
    expectFound(r, 'GET', '/a/b/zoo/d/animal/tiger', 'GET /a/{x=b/*}/{y=d/**}', { x: 'b/zoo', y: 'd/animal/tiger' });
    expectFound(r, 'GET', '/a/hello/b/world/c', 'GET /{x=a/*}/b/{y=*}/c', { x: 'a/hello', y: 'world' });
  });
});

describe('registration', () => {
  test('same method + same template twice throws; other methods are fine', () => {
    const r = new Router<number>();
    r.add('GET', parseTemplate('/foo/bar'), 1);
    r.add('POST', parseTemplate('/foo/bar'), 2);
    assert.throws(() => r.add('GET', parseTemplate('/foo/bar'), 3), /duplicate route GET \/foo\/bar/);
    assert.equal(r.size, 2);
  });

  test('same method + same path pattern under other variable names throws (ESPv2 does too)', () => {
    const r = new Router<number>();
    r.add('GET', parseTemplate('/a/{id}'), 1);
    assert.throws(() => r.add('GET', parseTemplate('/a/{name}'), 2), /duplicate route GET \/a\/\{name\} \(same path pattern as \/a\/\{id\}\)/);
    assert.throws(() => r.add('GET', parseTemplate('/a/*'), 2), /duplicate route/);
    r.add('GET', parseTemplate('/a/{id}:verb'), 3);
    r.add('GET', parseTemplate('/a/{id=**}'), 4);
    assert.equal(r.size, 3);
  });

  test('size counts routes; an empty router finds nothing', () => {
    const r = new Router<number>();
    assert.equal(r.size, 0);
    assert.deepEqual(r.match('GET', '/'), { kind: 'not-found' });
    r.add('GET', parseTemplate('/'), 1);
    assert.equal(r.size, 1);
    assert.deepEqual(r.match('GET', '/'), { kind: 'found', value: 1, bindings: [] });
  });

  test('deep templates grow the scratch space', () => {
    const segs = Array.from({ length: 40 }, (_, i) => `{v${i}}`).join('/');
    const r = routerOf([['GET', `/${segs}/**`]]);
    const path = '/' + Array.from({ length: 40 }, (_, i) => `s${i}`).join('/') + '/x/y';
    const m = found(r.match('GET', path));
    assert.equal(m.bindings.v0, 's0');
    assert.equal(m.bindings.v39, 's39');
  });
});

// ---------------------------------------------------------------------------
// Differential test: an independent model of ESPv2 (route list sorted as
// sort_impl.go's trie walk, each template as Envoy's regex, first match wins).

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

function espRegex(t: PathTemplate): RegExp {
  let re = '^';
  for (const seg of t.segments) {
    re += '\\/' + (seg.kind === 'literal' ? escapeRegex(seg.value) : seg.kind === 'single' ? '[^\\/]+' : '.*');
  }
  if (t.segments.length === 0) re += '\\/';
  re += '\\/?';
  if (t.verb !== null) re += ':' + escapeRegex(t.verb);
  return new RegExp(re + '$');
}

type Key = { rank: number; text: string };
function keysOf(t: PathTemplate): Key[] {
  const keys: Key[] = t.segments.map((s) => (s.kind === 'literal' ? { rank: 0, text: s.value } : { rank: s.kind === 'single' ? 1 : 2, text: '' }));
  if (t.verb !== null) keys.push({ rank: 0, text: ':' + t.verb });
  return keys;
}

/** ESPv2's route order: pre-order trie walk, exact < * < **, a ** node's children before itself. */
function espCompare(a: PathTemplate, b: PathTemplate): number {
  const ka = keysOf(a);
  const kb = keysOf(b);
  const n = Math.min(ka.length, kb.length);
  for (let i = 0; i < n; i++) {
    const x = ka[i]!;
    const y = kb[i]!;
    if (x.rank !== y.rank) return x.rank - y.rank;
    if (x.text !== y.text) return x.text < y.text ? -1 : 1;
  }
  if (ka.length === kb.length) return 0;
  const lastCommonIsDouble = n > 0 && ka[n - 1]!.rank === 2;
  const aShorter = ka.length < kb.length;
  return (aShorter ? -1 : 1) * (lastCommonIsDouble ? -1 : 1);
}

class EspModel {
  readonly routes: { method: string; template: PathTemplate; re: RegExp }[] = [];
  add(method: string, template: PathTemplate): void {
    this.routes.push({ method, template, re: espRegex(template) });
  }
  sort(): void {
    this.routes.sort((a, b) => espCompare(a.template, b.template));
  }
  match(method: string, path: string): { kind: string; raw?: string } {
    let miss: string | undefined;
    for (const r of this.routes) {
      if (!r.re.test(path)) continue;
      if (r.method === method) return { kind: 'found', raw: r.template.raw };
      miss ??= r.template.raw;
    }
    return miss === undefined ? { kind: 'not-found' } : { kind: 'method-not-allowed', raw: miss };
  }
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('differential test against a regex model of ESPv2', () => {
  test('random templates and paths agree on template, 404 and 405', () => {
    const rand = rng(20260818);
    const pick = <X>(xs: readonly X[]): X => xs[Math.floor(rand() * xs.length)]!;
    const lits = ['a', 'b', 'c'];
    const verbs = ['v', 'w'];
    const methods = ['GET', 'POST'];
    let checked = 0;
    let hits = 0;
    let misses405 = 0;
    for (let round = 0; round < 60; round++) {
      const router = new Router<string>();
      const model = new EspModel();
      const seen = new Set<string>();
      for (let i = 0; i < 25; i++) {
        const depth = 1 + Math.floor(rand() * 4);
        const segs: string[] = [];
        let v = 0;
        for (let d = 0; d < depth; d++) {
          const r = rand();
          if (d === depth - 1 && r < 0.15) segs.push(rand() < 0.5 ? '**' : `{v${v++}=**}`);
          else if (r < 0.45) segs.push(rand() < 0.5 ? '*' : `{v${v++}}`);
          else segs.push(pick(lits));
        }
        const raw = '/' + segs.join('/') + (rand() < 0.3 ? ':' + pick(verbs) : '');
        const method = pick(methods);
        const t = parseTemplate(raw);
        // Same method + same shape is a registration error in both ESPv2 and the router.
        const shape = `${method} ${keysOf(t).map((k) => `${k.rank}${k.text}`).join('/')}`;
        if (seen.has(shape)) {
          assert.throws(() => router.add(method, t, `${method} ${raw}`), /duplicate route/);
          continue;
        }
        seen.add(shape);
        router.add(method, t, `${method} ${raw}`);
        model.add(method, t);
      }
      model.sort();
      for (let i = 0; i < 400; i++) {
        const n = Math.floor(rand() * 5);
        let path = '';
        for (let d = 0; d < n; d++) path += '/' + pick([...lits, 'x', 'a:v', 'b:w', 'q:z', ':v', '']);
        if (path === '' || rand() < 0.2) path += '/';
        if (rand() < 0.3) path += ':' + pick([...verbs, 'z']);
        const method = pick(methods);
        const want = model.match(method, path);
        const got = router.match(method, path);
        checked++;
        if (want.kind === 'found') {
          hits++;
          assert.equal(got.kind, 'found', `${method} ${path}: want ${want.raw}`);
          assert.ok(got.kind === 'found');
          assert.equal(got.value, `${method} ${want.raw}`, `${method} ${path}`);
          // Every binding is a slice of the path.
          for (const [, value] of got.bindings) assert.ok(path.includes(value));
        } else if (want.kind === 'method-not-allowed') {
          misses405++;
          assert.deepEqual(got, { kind: 'method-not-allowed', template: want.raw }, `${method} ${path}`);
        } else {
          assert.deepEqual(got, { kind: 'not-found' }, `${method} ${path}`);
        }
      }
    }
    // The generator must exercise every outcome.
    assert.ok(hits > 1000 && misses405 > 300 && checked - hits - misses405 > 1000, `${hits} ${misses405} ${checked}`);
  });
});

describe('10,000 templates', () => {
  test('each routes to its own template with its bindings', () => {
    const r = new Router<number>();
    const templates: string[] = [];
    for (let i = 0; i < 10_000; i++) {
      let t: string;
      switch (i % 5) {
        case 0:
          t = `/api${i}/items`;
          break;
        case 1:
          t = `/api${i}/items/{id}`;
          break;
        case 2:
          t = `/api${i}/items/{id}:cancel`;
          break;
        case 3:
          t = `/v1/res${i}/{name=things/*}/x/{rest=**}`;
          break;
        default:
          t = `/shared/{tenant}/svc${i}/{id}`;
      }
      templates.push(t);
      r.add(i % 2 === 0 ? 'GET' : 'POST', parseTemplate(t), i);
    }
    r.add('PUT', parseTemplate('/{any=**}'), -1);
    assert.equal(r.size, 10_001);

    for (let i = 0; i < 10_000; i++) {
      const method = i % 2 === 0 ? 'GET' : 'POST';
      let path: string;
      let bindings: [string, string][];
      switch (i % 5) {
        case 0:
          path = `/api${i}/items/`;
          bindings = [];
          break;
        case 1:
          path = `/api${i}/items/k${i}`;
          bindings = [['id', `k${i}`]];
          break;
        case 2:
          path = `/api${i}/items/k${i}:cancel`;
          bindings = [['id', `k${i}`]];
          break;
        case 3:
          path = `/v1/res${i}/things/t${i}/x/a/b${i}`;
          bindings = [
            ['name', `things/t${i}`],
            ['rest', `a/b${i}`],
          ];
          break;
        default:
          path = `/shared/t${i}/svc${i}/${i}`;
          bindings = [
            ['tenant', `t${i}`],
            ['id', String(i)],
          ];
      }
      assert.deepEqual(r.match(method, path), { kind: 'found', value: i, bindings }, `${method} ${path}`);
      // The other method: 405 naming this template.
      const other = method === 'GET' ? 'POST' : 'GET';
      assert.deepEqual(r.match(other, path), { kind: 'method-not-allowed', template: templates[i] }, `${other} ${path}`);
      // PUT falls through to the catch-all.
      assert.equal(found(r.match('PUT', path)).value, -1);
    }
    expect404or405(r);
  });
});

function expect404or405(r: Router<number>): void {
  assert.deepEqual(r.match('GET', '/api10000/items'), { kind: 'method-not-allowed', template: '/{any=**}' });
  assert.deepEqual(r.match('GET', '/api1/items/x:cancel'), { kind: 'method-not-allowed', template: '/api1/items/{id}' });
  assert.deepEqual(r.match('POST', '/api2/items/x:cancel'), { kind: 'method-not-allowed', template: '/api2/items/{id}:cancel' });
  assert.deepEqual(r.match('GET', '/shared/t/svc7/1/2'), { kind: 'method-not-allowed', template: '/{any=**}' });
  const empty = new Router<number>();
  empty.add('GET', parseTemplate('/api0/items'), 0);
  assert.deepEqual(empty.match('GET', '/api0/items/x'), { kind: 'not-found' });
}
