import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTemplate, TemplateError, type Segment } from '../../src/routing/template.ts';

const L = (value: string): Segment => ({ kind: 'literal', value });
const S: Segment = { kind: 'single' };
const D: Segment = { kind: 'double' };

describe('parseTemplate: valid templates', () => {
  test('root', () => {
    const t = parseTemplate('/');
    assert.equal(t.raw, '/');
    assert.deepEqual(t.segments, []);
    assert.equal(t.verb, null);
    assert.deepEqual(t.variables, []);
  });

  test('literals only', () => {
    const t = parseTemplate('/shelves/books');
    assert.deepEqual(t.segments, [L('shelves'), L('books')]);
    assert.equal(t.verb, null);
    assert.deepEqual(t.variables, []);
  });

  test('{name} is {name=*}', () => {
    const a = parseTemplate('/pet/{pet_id}/num/{number}');
    const b = parseTemplate('/pet/{pet_id=*}/num/{number=*}');
    assert.deepEqual(a.segments, [L('pet'), S, L('num'), S]);
    assert.deepEqual(a.segments, b.segments);
    assert.deepEqual(a.variables, [
      { name: 'pet_id', start: 1, end: 2 },
      { name: 'number', start: 3, end: 4 },
    ]);
    assert.deepEqual(a.variables, b.variables);
    assert.equal(a.raw, '/pet/{pet_id}/num/{number}');
  });

  test('{name=**}', () => {
    const t = parseTemplate('/allow-all/{double_wildcard=**}');
    assert.deepEqual(t.segments, [L('allow-all'), D]);
    assert.deepEqual(t.variables, [{ name: 'double_wildcard', start: 1, end: 2 }]);
  });

  test('variables spanning sub-patterns, with a verb', () => {
    const t = parseTemplate('/field_path/{s_1=a/*/b/*}/{s_2=x/**}:upload');
    assert.deepEqual(t.segments, [L('field_path'), L('a'), S, L('b'), S, L('x'), D]);
    assert.equal(t.verb, 'upload');
    assert.deepEqual(t.variables, [
      { name: 's_1', start: 1, end: 5 },
      { name: 's_2', start: 5, end: 7 },
    ]);
  });

  test('unnamed wildcards produce no variables', () => {
    const t = parseTemplate('/wildcard/a/*/b/{name=*}/c/**');
    assert.deepEqual(t.segments, [L('wildcard'), L('a'), S, L('b'), S, L('c'), D]);
    assert.deepEqual(t.variables, [{ name: 'name', start: 4, end: 5 }]);
  });

  test('dotted variable names are kept as written', () => {
    const t = parseTemplate('/shelves/{s_h_e_l_f.i_d}/books/id/{b_o_o_k.id}');
    assert.deepEqual(
      t.variables.map((v) => v.name),
      ['s_h_e_l_f.i_d', 'b_o_o_k.id'],
    );
  });

  test('verbs on literal, single and double segments', () => {
    assert.equal(parseTemplate('/v1/items:batchGet').verb, 'batchGet');
    assert.deepEqual(parseTemplate('/v1/items:batchGet').segments, [L('v1'), L('items')]);
    const t = parseTemplate('/v1/{name}:cancel');
    assert.equal(t.verb, 'cancel');
    assert.deepEqual(t.segments, [L('v1'), S]);
    assert.equal(parseTemplate('/**:verb').verb, 'verb');
    assert.equal(parseTemplate('/a/{x=**}:verb').verb, 'verb');
  });

  test('unnamed * and ** and a root ** variable', () => {
    assert.deepEqual(parseTemplate('/*/x/**').segments, [S, L('x'), D]);
    assert.deepEqual(parseTemplate('/**').segments, [D]);
    assert.deepEqual(parseTemplate('/{path=**}').variables, [{ name: 'path', start: 0, end: 1 }]);
  });

  test('literal characters such as - . ~ % = are kept', () => {
    assert.deepEqual(parseTemplate('/a-b/c.d/~e/f%20g/h=i').segments, [L('a-b'), L('c.d'), L('~e'), L('f%20g'), L('h=i')]);
  });

  test('the result is frozen', () => {
    const t = parseTemplate('/a/{b}');
    assert.ok(Object.isFrozen(t));
    assert.ok(Object.isFrozen(t.segments));
    assert.ok(Object.isFrozen(t.variables));
  });
});

describe('parseTemplate: errors say what and where', () => {
  const cases: [template: string, message: RegExp][] = [
    ['', /must start with '\/'/],
    ['shelves', /must start with '\/'/],
    ['/a/{x', /unbalanced '\{'.*offset 3/],
    ['/a/{x=*', /unbalanced '\{'/],
    ['/a/x}', /unbalanced '\}'.*offset 4/],
    ['/a/{x}}', /unbalanced '\}'/],
    ['/a/{x={y}}', /nested variable/],
    ['/a/{x={y=*}}', /nested variable/],
    ['/a/{x=b/{y}}', /nested variable/],
    ['/a/{x{y}}', /nested variable/],
    ['/a/{}', /empty variable name/],
    ['/a/{=*}', /empty variable name/],
    ['/a/{.b}', /empty component/],
    ['/a/{b.}', /empty component/],
    ['/a/{x}/b/{x}', /duplicate variable name "x"/],
    ['/a/{x}/{x=**}', /duplicate variable name "x"/],
    // ESPv2 accepts literals after `**` (`/a/**/b`), never another wildcard.
    ['/**/**', /only literal segments may follow '\*\*'/],
    ['/a/**/*', /only literal segments may follow '\*\*'/],
    ['/{x=**}/{y}', /only literal segments may follow '\*\*'/],
    ['/a//b', /empty segment.*offset 3/],
    ['//', /empty segment/],
    ['/a/', /empty segment/],
    ['/a/{x=}', /empty segment/],
    ['/a/{x=b//c}', /empty segment/],
    ['/a:', /empty verb/],
    ['/a:b/c', /only allowed before a verb/],
    ['/a:b:c', /in verb/],
    ['/a/{x=b:c}', /inside a variable/],
    ['/a/b*', /'\*' inside a literal/],
    ['/a/*b', /whole segments/],
    ['/a/{x}y', /whole segments/],
    ['/a/y{x}', /whole segments/],
    ['/a/{x/y}', /in variable name/],
  ];
  for (const [template, message] of cases) {
    test(JSON.stringify(template), () => {
      assert.throws(
        () => parseTemplate(template),
        (err: unknown) => {
          assert.ok(err instanceof TemplateError, 'a TemplateError');
          assert.match(err.message, message);
          assert.ok(err.message.includes(JSON.stringify(template)), 'names the template');
          return true;
        },
      );
    });
  }
});
