// --validate on requests, through the real CLI gateway and a real loopback backend: each rule refused
// 400 under enforce (never reaching the backend), logged, counted and forwarded under report, and
// nothing at all under off.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import http from 'node:http';
import { send } from '../helpers/http.ts';
import {
  contractSpec,
  startContractBackend,
  startContractGateway,
  violationLogs,
  writeSpecFile,
  type ContractBackend,
  type ContractGateway,
} from './fixture.ts';

interface Case {
  readonly rule: string;
  readonly method?: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly operation: string;
  readonly kind: 'request_parameter' | 'request_body';
  readonly problem: string;
}

const JSON_TYPE = { 'content-type': 'application/json' };

const CASES: readonly Case[] = [
  { rule: 'integer type', path: '/pets?limit=abc', operation: 'listPets', kind: 'request_parameter', problem: "query parameter 'limit': must be integer" },
  { rule: 'minimum', path: '/pets?limit=0', operation: 'listPets', kind: 'request_parameter', problem: "query parameter 'limit': must be >= 1" },
  { rule: 'maximum', path: '/pets?limit=99999999999', operation: 'listPets', kind: 'request_parameter', problem: "query parameter 'limit': must be <= 100" },
  { rule: 'enum', path: '/pets?status=lost', operation: 'listPets', kind: 'request_parameter', problem: `query parameter 'status': must be one of ["available","sold"]` },
  { rule: 'pipes collection item enum', path: '/pets?tags=dog|bird', operation: 'listPets', kind: 'request_parameter', problem: `query parameter 'tags' at /1: must be one of ["dog","cat"]` },
  { rule: 'date-time format', path: '/pets?since=yesterday', operation: 'listPets', kind: 'request_parameter', problem: `query parameter 'since': must match format "date-time"` },
  { rule: 'header pattern', path: '/pets', headers: { 'x-trace-tag': 'UPPER' }, operation: 'listPets', kind: 'request_parameter', problem: `header parameter 'X-Trace-Tag': must match pattern "^[a-z]+$"` },
  { rule: 'header integer type', path: '/pets', headers: { 'x-page-size': 'ten' }, operation: 'listPets', kind: 'request_parameter', problem: "header parameter 'X-Page-Size': must be integer" },
  { rule: 'header uuid format', path: '/pets', headers: { 'x-request-id': 'req-1' }, operation: 'listPets', kind: 'request_parameter', problem: `header parameter 'X-Request-Id': must match format "uuid"` },
  { rule: 'required header', method: 'PUT', path: '/pets/7', headers: JSON_TYPE, body: '{"name":"rex"}', operation: 'replacePet', kind: 'request_parameter', problem: "header parameter 'If-Match': is required" },
  { rule: 'path parameter type (path-level parameters)', path: '/pets/rex', operation: 'getPet', kind: 'request_parameter', problem: "path parameter 'petId': must be integer" },
  { rule: 'required query parameter', path: '/search', operation: 'search', kind: 'request_parameter', problem: "query parameter 'q': is required" },
  { rule: 'minLength', path: '/search?q=a', operation: 'search', kind: 'request_parameter', problem: "query parameter 'q': must NOT have fewer than 2 characters" },
  { rule: 'required body', method: 'POST', path: '/pets', headers: JSON_TYPE, body: '', operation: 'createPet', kind: 'request_body', problem: "body parameter 'pet': is required" },
  { rule: 'body not JSON', method: 'POST', path: '/pets', headers: JSON_TYPE, body: '{"name":', operation: 'createPet', kind: 'request_body', problem: "body parameter 'pet': is not valid JSON" },
  { rule: 'body required property', method: 'POST', path: '/pets', headers: JSON_TYPE, body: '{"nam":"rex"}', operation: 'createPet', kind: 'request_body', problem: "body parameter 'pet': must have the property 'name'" },
  { rule: 'body type, readOnly property sent', method: 'PUT', path: '/pets/7', headers: { ...JSON_TYPE, 'if-match': '"v1"' }, body: '{"id":"7","name":"rex"}', operation: 'replacePet', kind: 'request_body', problem: "body parameter 'pet' at /id: must be integer" },
  { rule: 'body additionalProperties: false', method: 'POST', path: '/pets', headers: JSON_TYPE, body: '{"name":"rex","owner":"me"}', operation: 'createPet', kind: 'request_body', problem: "body parameter 'pet': must not have the property 'owner'" },
  { rule: 'body enum through definitions $ref', method: 'POST', path: '/pets', headers: JSON_TYPE, body: '{"name":"rex","tag":"bird"}', operation: 'createPet', kind: 'request_body', problem: `body parameter 'pet' at /tag: must be one of ["dog","cat"]` },
  { rule: 'body email format', method: 'POST', path: '/pets', headers: JSON_TYPE, body: '{"name":"rex","email":"nope"}', operation: 'createPet', kind: 'request_body', problem: `body parameter 'pet' at /email: must match format "email"` },
  { rule: 'body draft-04 exclusiveMaximum', method: 'POST', path: '/pets', headers: JSON_TYPE, body: '{"name":"rex","age":40}', operation: 'createPet', kind: 'request_body', problem: "body parameter 'pet' at /age: must be < 40" },
  { rule: 'urlencoded formData required', method: 'POST', path: '/forms', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'count=2', operation: 'submitForm', kind: 'request_parameter', problem: "formData parameter 'name': is required" },
  { rule: 'urlencoded formData type', method: 'POST', path: '/forms', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'name=rex&count=two', operation: 'submitForm', kind: 'request_parameter', problem: "formData parameter 'count': must be integer" },
  { rule: 'Content-Type not in consumes', method: 'POST', path: '/pets', headers: { 'content-type': 'text/plain' }, body: '{"name":"rex"}', operation: 'createPet', kind: 'request_body', problem: "request Content-Type 'text/plain': not in consumes (application/json)" },
];

const VALID_PET = '{"name":"rex","tag":"dog","email":"rex@example.com","age":3}';

/** A chunked request (no Content-Length), written in pieces. */
function sendChunked(base: string, p: string, headers: Record<string, string>, pieces: readonly Buffer[]): Promise<{ status: number; body: string }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method: 'POST', path: p, headers: { ...headers, 'transfer-encoding': 'chunked' }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    for (const piece of pieces) req.write(piece);
    req.end();
  });
}

/** A JSON body of about `bytes` bytes that satisfies /upload's schema. */
function bigUpload(bytes: number): Buffer {
  return Buffer.from(JSON.stringify({ n: 1, pad: 'x'.repeat(bytes) }));
}

describe('--validate on requests', () => {
  let backend: ContractBackend;
  let file: string;
  let enforce: ContractGateway;
  let report: ContractGateway;
  let off: ContractGateway;

  before(async () => {
    backend = await startContractBackend();
    // Conforming answers, so only the requests break the contract here.
    backend.answer('POST', '/pets', { status: 201, headers: JSON_TYPE, body: '{"id":1,"name":"rex"}' });
    for (const id of ['7', 'rex']) backend.answer('GET', `/pets/${id}`, { status: 200, headers: JSON_TYPE, body: '{"id":7,"name":"rex"}' });
    backend.answer('PUT', '/pets/7', { status: 200, headers: JSON_TYPE, body: '{"id":7,"name":"rex"}' });
    backend.answer('GET', '/search', { status: 200, headers: { 'content-type': 'text/plain' }, body: 'found' });
    file = await writeSpecFile(contractSpec(backend.url));
    [enforce, report, off] = await Promise.all([
      startContractGateway(file, 'enforce'),
      startContractGateway(file, 'report'),
      startContractGateway(file, 'off'),
    ]);
  });
  after(async () => {
    await Promise.all([enforce?.stop(), report?.stop(), off?.stop()]);
    await backend?.close();
    if (file) await rm(path.dirname(file), { recursive: true, force: true });
  });

  test('enforce: each rule answers 400 in ESP form naming the parameter, and the backend never sees the call', async () => {
    for (const c of CASES) {
      const before = backend.seen.length;
      const r = await send(enforce.url, c.path, { method: c.method ?? 'GET', headers: c.headers ?? {}, ...(c.body !== undefined ? { body: c.body } : {}) });
      assert.equal(r.status, 400, `${c.rule}: ${r.body}`);
      assert.equal(r.headers['content-type'], 'application/json', c.rule);
      assert.deepEqual(r.json(), { code: 400, message: `INVALID_ARGUMENT: ${c.problem}` }, c.rule);
      assert.equal(backend.seen.length, before, `${c.rule}: reached the backend`);
    }
  });

  test('enforce: conforming requests go through, bodies forwarded byte for byte', async () => {
    backend.seen.length = 0;
    const get = await send(enforce.url, '/pets?limit=10&status=sold&tags=dog|cat&since=2024-05-01T10:00:00Z', {
      headers: { 'x-trace-tag': 'abc', 'x-page-size': '10', 'x-request-id': '123e4567-e89b-42d3-a456-426614174000' },
    });
    assert.equal(get.status, 200, get.body);
    assert.equal((await send(enforce.url, '/pets/7')).status, 200);
    const form = await send(enforce.url, '/forms', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'name=rex+the+dog&count=2' });
    assert.equal(form.status, 200, form.body);
    assert.equal(backend.seen.at(-1)!.body.toString(), 'name=rex+the+dog&count=2');
    // multipart/form-data is not parsed (files): it passes unchecked.
    const multipart = '--b\r\nContent-Disposition: form-data; name="count"\r\n\r\ntwo\r\n--b--\r\n';
    const mp = await send(enforce.url, '/forms', { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=b' }, body: multipart });
    assert.equal(mp.status, 200, mp.body);
    assert.equal(backend.seen.at(-1)!.body.toString(), multipart);
    // Pet's `id` is required but readOnly: a request need not send it.
    const put = await send(enforce.url, '/pets/7', { method: 'PUT', headers: { ...JSON_TYPE, 'if-match': '"v1"' }, body: '{"name":"rex"}' });
    assert.equal(put.status, 200, put.body);
    const post = await send(enforce.url, '/pets', { method: 'POST', headers: JSON_TYPE, body: VALID_PET });
    assert.equal(post.status, 201, post.body);
    assert.equal(backend.seen.at(-1)!.body.toString(), VALID_PET);
    assert.equal(backend.seen.at(-1)!.headers['content-length'], String(Buffer.byteLength(VALID_PET)));
    // Larger than the proxy's 64 KiB replay buffer, within the 1 MiB validation bound: read once, validated, forwarded.
    const mid = bigUpload(300_000);
    const up = await send(enforce.url, '/upload', { method: 'POST', headers: JSON_TYPE, body: mid });
    assert.equal(up.status, 200, up.body);
    assert.ok(backend.seen.at(-1)!.body.equals(mid));
    const chunked = await sendChunked(enforce.url, '/upload', JSON_TYPE, [mid.subarray(0, 1000), mid.subarray(1000)]);
    assert.equal(chunked.status, 200, chunked.body);
    assert.ok(backend.seen.at(-1)!.body.equals(mid));
    assert.equal(violationLogs(enforce).filter((l) => String(l.kind).startsWith('response_')).length, 0);
  });

  test('enforce: a body over 1 MiB is refused 413 as too large to validate', async () => {
    const before = backend.seen.length;
    const big = bigUpload(1_200_000);
    const r = await send(enforce.url, '/upload', { method: 'POST', headers: JSON_TYPE, body: big });
    assert.equal(r.status, 413);
    assert.deepEqual(r.json(), { code: 413, message: 'INVALID_ARGUMENT: request body: larger than 1048576 bytes, too large to validate' });
    const c = await sendChunked(enforce.url, '/upload', JSON_TYPE, [big.subarray(0, 600_000), big.subarray(600_000)]).catch(() => ({ status: 413, body: '' }));
    assert.equal(c.status, 413);
    assert.equal(backend.seen.length, before);
  });

  test('report: each rule is logged (operation, kind, problem), counted, and the call forwarded untouched', async () => {
    const logsBefore = violationLogs(report).length;
    for (const c of CASES) {
      const before = backend.seen.length;
      const r = await send(report.url, c.path, { method: c.method ?? 'GET', headers: c.headers ?? {}, ...(c.body !== undefined ? { body: c.body } : {}) });
      assert.notEqual(r.status, 400, `${c.rule}: ${r.body}`);
      assert.equal(backend.seen.length, before + 1, `${c.rule}: not forwarded`);
      assert.equal(backend.seen.at(-1)!.body.toString(), c.body ?? '', `${c.rule}: body changed`);
    }
    // Log lines are written asynchronously: all requests first, then their lines.
    for (const c of CASES) {
      const line = await report.waitForLog((l) => l.message === 'contract violation' && l.problem === c.problem);
      assert.equal(line.operation, c.operation, c.rule);
      assert.equal(line.kind, c.kind, c.rule);
      assert.equal(line.mode, 'report');
      assert.equal(line.severity, 'WARNING');
    }
    assert.equal(violationLogs(report).length - logsBefore, CASES.length, JSON.stringify(violationLogs(report).slice(logsBefore)));
    for (const [operation, kind] of [
      ['listPets', 'request_parameter'],
      ['getPet', 'request_parameter'],
      ['search', 'request_parameter'],
      ['createPet', 'request_body'],
      ['replacePet', 'request_body'],
      ['replacePet', 'request_parameter'],
      ['submitForm', 'request_parameter'],
    ] as const) {
      const expected = CASES.filter((c) => c.operation === operation && c.kind === kind).length;
      assert.equal(await report.violations(operation, kind), expected, `${operation} ${kind}`);
    }
  });

  test('report: a body over 1 MiB is reported as too large to validate and still forwarded intact, chunked or not', async () => {
    const big = bigUpload(1_500_000);
    const before = backend.seen.length;
    const r = await send(report.url, '/upload', { method: 'POST', headers: JSON_TYPE, body: big });
    assert.equal(r.status, 200, r.body);
    assert.ok(backend.seen.at(-1)!.body.equals(big));
    // Chunked: 1 MiB is read for validation, then put back and streamed on with the rest.
    const pieces = [];
    for (let i = 0; i < big.length; i += 100_000) pieces.push(big.subarray(i, i + 100_000));
    const c = await sendChunked(report.url, '/upload', JSON_TYPE, pieces);
    assert.equal(c.status, 200, c.body);
    assert.equal(backend.seen.length, before + 2);
    assert.equal(backend.seen.at(-1)!.body.length, big.length);
    assert.ok(backend.seen.at(-1)!.body.equals(big));
    assert.equal(await report.violations('upload', 'request_body'), 2);
    const line = await report.waitForLog((l) => l.message === 'contract violation' && l.operation === 'upload');
    assert.equal(line.problem, 'request body: larger than 1048576 bytes, too large to validate');
  });

  test('off: nothing is checked, logged or counted', async () => {
    for (const c of CASES) {
      const r = await send(off.url, c.path, { method: c.method ?? 'GET', headers: c.headers ?? {}, ...(c.body !== undefined ? { body: c.body } : {}) });
      assert.notEqual(r.status, 400, c.rule);
    }
    assert.equal(violationLogs(off).length, 0);
    const metrics = await (await fetch(`${off.adminUrl}/metrics`)).text();
    assert.doesNotMatch(metrics, /endpoints_gateway_contract_violations_total\{/);
  });
});
