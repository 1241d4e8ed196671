// --validate on backend responses, through the real CLI gateway and a real loopback backend: an
// undeclared status, a Content-Type outside `produces`, a body that is not JSON or breaks its schema.
// enforce answers 502 in ESP form instead; report logs, counts and passes the bytes unchanged.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import http from 'node:http';
import { send } from '../helpers/http.ts';
import { contractSpec, startContractBackend, startContractGateway, writeSpecFile, type Answer, type ContractBackend, type ContractGateway } from './fixture.ts';

interface Case {
  readonly rule: string;
  readonly method?: string;
  readonly path: string;
  readonly body?: string;
  readonly answer: Answer;
  readonly operation: string;
  readonly kind: 'response_status' | 'response_content_type' | 'response_body';
  readonly problem: string;
}

const JSON_TYPE = { 'content-type': 'application/json' };

const CASES: readonly Case[] = [
  {
    rule: 'undeclared status',
    path: '/pets',
    answer: { status: 418, headers: JSON_TYPE, body: '[]' },
    operation: 'listPets',
    kind: 'response_status',
    problem: 'response status 418: not declared by the operation (declared: 200)',
  },
  {
    rule: 'a 500 the operation does not declare',
    path: '/pets/7',
    answer: { status: 500, headers: JSON_TYPE, body: '{}' },
    operation: 'getPet',
    kind: 'response_status',
    problem: 'response status 500: not declared by the operation (declared: 200, 404)',
  },
  {
    rule: 'Content-Type not in produces',
    path: '/pets',
    answer: { status: 200, headers: { 'content-type': 'text/html; charset=utf-8' }, body: '<p>pets</p>' },
    operation: 'listPets',
    kind: 'response_content_type',
    problem: "response Content-Type 'text/html; charset=utf-8': not in produces (application/json)",
  },
  {
    rule: 'a body without Content-Type',
    path: '/pets',
    answer: { status: 200, headers: { 'content-length': '2' }, body: '[]' },
    operation: 'listPets',
    kind: 'response_content_type',
    problem: 'response: has a body but no Content-Type (produces: application/json)',
  },
  {
    rule: 'body not JSON',
    path: '/pets/7',
    answer: { status: 200, headers: JSON_TYPE, body: '{"id":7,' },
    operation: 'getPet',
    kind: 'response_body',
    problem: 'response body: is not valid JSON',
  },
  {
    rule: 'body type against a definitions $ref',
    path: '/pets/7',
    answer: { status: 200, headers: JSON_TYPE, body: '{"id":"seven","name":"rex"}' },
    operation: 'getPet',
    kind: 'response_body',
    problem: 'response body at /id: must be integer',
  },
  {
    rule: 'a readOnly property is still required in a response',
    path: '/pets/7',
    answer: { status: 200, headers: JSON_TYPE, body: '{"name":"rex"}' },
    operation: 'getPet',
    kind: 'response_body',
    problem: "response body: must have the property 'id'",
  },
  {
    rule: 'array items required property',
    path: '/pets',
    answer: { status: 200, headers: JSON_TYPE, body: '[{"id":1,"name":"rex"},{"id":2}]' },
    operation: 'listPets',
    kind: 'response_body',
    problem: "response body at /1: must have the property 'name'",
  },
  {
    rule: 'schema of a #/responses $ref',
    method: 'POST',
    path: '/pets',
    body: '{"name":"rex"}',
    answer: { status: 400, headers: JSON_TYPE, body: '{"code":"bad"}' },
    operation: 'createPet',
    kind: 'response_body',
    problem: 'response body at /code: must be integer',
  },
];

/** Responses that keep the contract: passed unchanged in both modes. */
const GOOD: readonly { path: string; answer: Answer }[] = [
  { path: '/pets', answer: { status: 200, headers: { 'content-type': 'application/json; charset=utf-8' }, body: '[{"id":1,"name":"rex","tag":"dog"}]' } },
  { path: '/pets/7', answer: { status: 404, headers: JSON_TYPE, body: 'not json, and no schema to keep' } },
  { path: '/search?q=abc', answer: { status: 503, headers: { 'content-type': 'text/plain' }, body: 'default covers any status' } },
  { path: '/pets/8', answer: { status: 200, headers: JSON_TYPE, body: '{"id":8,"name":"tom","extra":[1,2,3]}' } },
];

function get(base: string, p: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    http
      .get({ host: u.hostname, port: u.port, path: p, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

function bigPets(bytes: number): Buffer {
  const pets: { id: number; name: string }[] = [];
  let size = 2;
  for (let i = 0; size < bytes; i++) {
    const p = { id: i, name: `pet-${i}-${'n'.repeat(40)}` };
    size += JSON.stringify(p).length + 1;
    pets.push(p);
  }
  return Buffer.from(JSON.stringify(pets));
}

describe('--validate on responses', () => {
  let backend: ContractBackend;
  let file: string;
  let enforce: ContractGateway;
  let report: ContractGateway;

  before(async () => {
    backend = await startContractBackend();
    file = await writeSpecFile(contractSpec(backend.url));
    [enforce, report] = await Promise.all([startContractGateway(file, 'enforce'), startContractGateway(file, 'report')]);
  });
  after(async () => {
    await Promise.all([enforce?.stop(), report?.stop()]);
    await backend?.close();
    if (file) await rm(path.dirname(file), { recursive: true, force: true });
  });

  const call = (gw: ContractGateway, c: { method?: string; path: string; body?: string }) =>
    send(gw.url, c.path, { method: c.method ?? 'GET', headers: c.body !== undefined ? JSON_TYPE : {}, ...(c.body !== undefined ? { body: c.body } : {}) });

  test('enforce: each broken response becomes a 502 in ESP form naming the violation', async () => {
    for (const c of CASES) {
      backend.answer(c.method ?? 'GET', c.path.split('?')[0]!, c.answer);
      const r = await call(enforce, c);
      assert.equal(r.status, 502, `${c.rule}: ${r.body}`);
      assert.equal(r.headers['content-type'], 'application/json', c.rule);
      assert.deepEqual(r.json(), { code: 502, message: `BAD_GATEWAY: ${c.problem}` }, c.rule);
      const line = await enforce.waitForLog((l) => l.message === 'contract violation' && l.problem === c.problem);
      assert.equal(line.kind, c.kind, c.rule);
      assert.equal(line.operation, c.operation, c.rule);
    }
    assert.equal(await enforce.violations('getPet', 'response_status'), 1);
  });

  test('report: each broken response is logged and counted, and the client gets exactly what the backend sent', async () => {
    for (const c of CASES) {
      backend.answer(c.method ?? 'GET', c.path.split('?')[0]!, c.answer);
      const r = await call(report, c);
      assert.equal(r.status, c.answer.status, c.rule);
      assert.equal(r.body, String(c.answer.body), c.rule);
      if (c.answer.headers?.['content-type']) assert.equal(r.headers['content-type'], c.answer.headers['content-type'], c.rule);
    }
    // Log lines are written asynchronously: all requests first, then their lines.
    for (const c of CASES) {
      const line = await report.waitForLog((l) => l.message === 'contract violation' && l.problem === c.problem);
      assert.equal(line.kind, c.kind, c.rule);
      assert.equal(line.operation, c.operation, c.rule);
      assert.equal(line.mode, 'report');
    }
    for (const [operation, kind] of [
      ['listPets', 'response_status'],
      ['listPets', 'response_content_type'],
      ['listPets', 'response_body'],
      ['getPet', 'response_status'],
      ['getPet', 'response_body'],
      ['createPet', 'response_body'],
    ] as const) {
      const expected = CASES.filter((c) => c.operation === operation && c.kind === kind).length;
      assert.equal(await report.violations(operation, kind), expected, `${operation} ${kind}`);
    }
  });

  test('both modes pass conforming responses unchanged (declared status, default, types with parameters, no schema)', async () => {
    for (const gw of [enforce, report]) {
      const before = gw.logs.filter((l) => l.message === 'contract violation').length;
      for (const g of GOOD) {
        backend.answer('GET', g.path.split('?')[0]!, g.answer);
        const r = await get(gw.url, g.path);
        assert.equal(r.status, g.answer.status, g.path);
        assert.equal(r.body.toString(), String(g.answer.body), g.path);
        assert.equal(r.headers['content-type'], g.answer.headers!['content-type'], g.path);
      }
      assert.equal(gw.logs.filter((l) => l.message === 'contract violation').length, before);
    }
  });

  test('large bodies: within 1 MiB held and checked under enforce; over it, report streams it through, enforce refuses', async () => {
    const ok = bigPets(900_000);
    backend.answer('GET', '/pets', { status: 200, headers: { ...JSON_TYPE, 'content-length': String(ok.length) }, body: ok });
    const held = await get(enforce.url, '/pets');
    assert.equal(held.status, 200);
    assert.equal(held.headers['content-length'], String(ok.length));
    assert.ok(held.body.equals(ok));

    const big = bigPets(3_000_000);
    backend.answer('GET', '/pets', { status: 200, headers: JSON_TYPE, body: big });
    const passed = await get(report.url, '/pets');
    assert.equal(passed.status, 200);
    assert.ok(passed.body.equals(big), 'report changed a large body');
    const line = await report.waitForLog((l) => l.message === 'contract violation' && l.kind === 'response_body' && String(l.problem).includes('too large'));
    assert.equal(line.problem, 'response body: larger than 1048576 bytes, too large to validate');

    const refused = await get(enforce.url, '/pets');
    assert.equal(refused.status, 502);
    assert.deepEqual(JSON.parse(refused.body.toString()), { code: 502, message: 'BAD_GATEWAY: response body: larger than 1048576 bytes, too large to validate' });
  });
});
