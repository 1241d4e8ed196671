// --validate against clients and backends that aim at the validator itself (issue 22): a spec regex
// that backtracks, requests a backend parses otherwise than the validator did, and JSON nested deep
// enough to overflow a recursive validator. Each through the real CLI and a real loopback backend,
// each followed by a request from another client that must still be served.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runCli } from '../helpers/cli.ts';
import { send } from '../helpers/http.ts';
import { startContractBackend, startContractGateway, violationLogs, writeSpecFile, type ContractBackend, type ContractGateway } from './fixture.ts';

const JSON_TYPE = { 'content-type': 'application/json' };
/** Backtracks exponentially in a backtracking engine on 40 letters and one other character. */
const CATASTROPHIC = '^([a-zA-Z0-9]+\\s?)*$';

/** No `consumes` anywhere: the JSON body's media type is implied. */
function hardeningSpec(backend: string, namePattern = CATASTROPHIC): Record<string, unknown> {
  return {
    swagger: '2.0',
    info: { title: 'hardening', version: '1' },
    host: 'hardening.endpoints.p.cloud.goog',
    'x-google-backend': { address: backend },
    produces: ['application/json'],
    paths: {
      '/items': {
        get: {
          operationId: 'listItems',
          parameters: [
            { name: 'limit', in: 'query', type: 'integer', maximum: 100 },
            { name: 'name', in: 'query', type: 'string', pattern: CATASTROPHIC },
            { name: 'ids', in: 'query', type: 'array', items: { type: 'integer' }, collectionFormat: 'multi' },
          ],
          responses: { '200': { description: 'items', schema: { type: 'array', items: { $ref: '#/definitions/Item' } } } },
        },
        post: {
          operationId: 'createItem',
          parameters: [{ name: 'item', in: 'body', required: true, schema: { $ref: '#/definitions/Item' } }],
          responses: { '201': { description: 'created' } },
        },
      },
      '/forms': {
        post: {
          operationId: 'submitForm',
          parameters: [{ name: 'count', in: 'formData', type: 'integer', maximum: 10 }],
          responses: { '200': { description: 'stored' } },
        },
      },
      '/tree': {
        get: { operationId: 'getTree', responses: { '200': { description: 'a tree', schema: { $ref: '#/definitions/Node' } } } },
        post: {
          operationId: 'putTree',
          parameters: [{ name: 'node', in: 'body', required: true, schema: { $ref: '#/definitions/Node' } }],
          responses: { '200': { description: 'stored' } },
        },
      },
    },
    definitions: {
      Item: { type: 'object', required: ['name'], properties: { name: { type: 'string', maxLength: 64, pattern: namePattern } } },
      Node: { type: 'object', properties: { child: { $ref: '#/definitions/Node' } } },
    },
  };
}

/** `{"child":{"child":...{}}}`, `depth` objects deep: valid against Node at any depth. */
function deepTree(depth: number): string {
  return `${'{"child":'.repeat(depth - 1)}{}${'}'.repeat(depth - 1)}`;
}

const TOO_LONG = 'x'.repeat(200);

interface Case {
  readonly name: string;
  readonly method?: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly operation: string;
  readonly problem: string;
}

/** Requests a backend would read otherwise than the validator checked them. */
const AMBIGUOUS: readonly Case[] = [
  { name: 'repeated parameter (Django, Rails, PHP read the last)', path: '/items?limit=5&limit=100000', operation: 'listItems', problem: "query parameter 'limit': must be sent once, not 2 times" },
  { name: '[] suffix (qs, PHP, Rails read it as the name)', path: '/items?limit[]=100000', operation: 'listItems', problem: "query parameter 'limit': must be sent by its exact name, not as 'limit[]'" },
  { name: 'percent-encoded [] suffix', path: '/items?limit%5B0%5D=100000', operation: 'listItems', problem: "query parameter 'limit': must be sent by its exact name, not as 'limit[0]'" },
  { name: 'other case (ASP.NET binds names case-insensitively)', path: '/items?LIMIT=100000', operation: 'listItems', problem: "query parameter 'limit': must be sent by its exact name, not as 'LIMIT'" },
  { name: 'repeated form field', method: 'POST', path: '/forms', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'count=1&count=99', operation: 'submitForm', problem: "formData parameter 'count': must be sent once, not 2 times" },
  { name: 'JSON labelled text/plain, no consumes declared', method: 'POST', path: '/items', headers: { 'content-type': 'text/plain' }, body: '{"name": oops', operation: 'createItem', problem: "request Content-Type 'text/plain': not in consumes (none declared, so JSON: application/json, */*+json)" },
  { name: 'key differing only by case (Go binds it to the field)', method: 'POST', path: '/items', headers: JSON_TYPE, body: `{"name":"ok","NAME":"${TOO_LONG}"}`, operation: 'createItem', problem: "body parameter 'item': must not have the property 'NAME', which differs from the declared 'name' only by case" },
  { name: 'duplicate key (JSON.parse keeps the last, others the first)', method: 'POST', path: '/items', headers: JSON_TYPE, body: `{"name":"${TOO_LONG}","name":"ok"}`, operation: 'createItem', problem: "body parameter 'item': has the property 'name' more than once" },
  { name: 'duplicate key spelled with an escape', method: 'POST', path: '/items', headers: JSON_TYPE, body: `{"name":"${TOO_LONG}","\\u006eame":"ok"}`, operation: 'createItem', problem: "body parameter 'item': has the property 'name' more than once" },
];

async function stillServing(gw: ContractGateway, label: string): Promise<void> {
  const r = await send(gw.url, '/items?limit=1&ids=1&ids=2&name=ok');
  assert.equal(r.status, 200, `${label}: another client is not served: ${r.body}`);
}

/** Both gateways, or neither: one that started is not left running when the other fails to. */
async function startPair(file: string): Promise<[ContractGateway, ContractGateway]> {
  const [e, r] = await Promise.allSettled([startContractGateway(file, 'enforce'), startContractGateway(file, 'report')]);
  if (e.status === 'fulfilled' && r.status === 'fulfilled') return [e.value, r.value];
  await Promise.all([e, r].map((s) => (s.status === 'fulfilled' ? kill(s.value) : undefined)));
  throw e.status === 'rejected' ? e.reason : (r as PromiseRejectedResult).reason;
}

/** Ends the gateway whatever state it is in (a frozen one never handles SIGTERM). */
async function kill(gw: ContractGateway | undefined): Promise<void> {
  if (!gw) return;
  gw.child.kill('SIGKILL');
  await gw.exit();
}

/** An enforce and a report gateway on the hardening spec, in front of one contract backend, for the enclosing describe. */
function hardeningPair(): { backend: ContractBackend; enforce: ContractGateway; report: ContractGateway } {
  const g = {} as { backend: ContractBackend; enforce: ContractGateway; report: ContractGateway };
  let file: string | undefined;
  before(async () => {
    g.backend = await startContractBackend();
    g.backend.answer('GET', '/items', { status: 200, headers: JSON_TYPE, body: '[]' });
    g.backend.answer('POST', '/items', { status: 201, headers: JSON_TYPE, body: '{}' });
    g.backend.answer('POST', '/forms', { status: 200 });
    g.backend.answer('POST', '/tree', { status: 200 });
    file = await writeSpecFile(hardeningSpec(g.backend.url));
    [g.enforce, g.report] = await startPair(file);
  });
  after(async () => {
    await Promise.all([kill(g.enforce), kill(g.report)]);
    await g.backend?.close();
    if (file) await rm(path.dirname(file), { recursive: true, force: true });
  });
  return g;
}

describe('--validate and a spec regex that backtracks', () => {
  const g = hardeningPair();

  test('a spec pattern that backtracks exponentially is matched in linear time', { timeout: 60_000 }, async () => {
    const value = `${'a'.repeat(40)}!`;
    const r = await send(g.enforce.url, `/items?name=${value}`);
    assert.equal(r.status, 400, r.body);
    assert.deepEqual(r.json(), { code: 400, message: `INVALID_ARGUMENT: query parameter 'name': must match pattern "${CATASTROPHIC}"` });
    await stillServing(g.enforce, 'pattern');
    // The same pattern in a body schema, under report: logged, forwarded.
    const before = g.backend.seen.length;
    const b = await send(g.report.url, '/items', { method: 'POST', headers: JSON_TYPE, body: JSON.stringify({ name: `${'a'.repeat(40)}!` }) });
    assert.equal(b.status, 201, b.body);
    assert.equal(g.backend.seen.length, before + 1);
    await stillServing(g.report, 'pattern (report)');
  });

});

describe('--validate against a hostile client or backend', () => {
  const g = hardeningPair();

  test('enforce: a request a backend would parse otherwise is refused 400 naming the parameter', { timeout: 60_000 }, async () => {
    for (const c of AMBIGUOUS) {
      const before = g.backend.seen.length;
      const r = await send(g.enforce.url, c.path, { method: c.method ?? 'GET', headers: c.headers ?? {}, ...(c.body !== undefined ? { body: c.body } : {}) });
      assert.equal(r.status, 400, `${c.name}: ${r.body}`);
      assert.deepEqual(r.json(), { code: 400, message: `INVALID_ARGUMENT: ${c.problem}` }, c.name);
      assert.equal(g.backend.seen.length, before, `${c.name}: reached the backend`);
      await stillServing(g.enforce, c.name);
    }
    // What stays allowed: `collectionFormat: multi` repeats, a JSON body with no Content-Type, +json types.
    assert.equal((await send(g.enforce.url, '/items?ids=1&ids=2&ids=3')).status, 200);
    assert.equal((await send(g.enforce.url, '/items', { method: 'POST', body: '{"name":"ok"}' })).status, 201);
    assert.equal((await send(g.enforce.url, '/items', { method: 'POST', headers: { 'content-type': 'application/merge-patch+json' }, body: '{"name":"ok"}' })).status, 201);
  });

  test('report: the same requests are logged as violations and forwarded unchanged', { timeout: 60_000 }, async () => {
    for (const c of AMBIGUOUS) {
      const before = g.backend.seen.length;
      const logged = violationLogs(g.report).length;
      const r = await send(g.report.url, c.path, { method: c.method ?? 'GET', headers: c.headers ?? {}, ...(c.body !== undefined ? { body: c.body } : {}) });
      assert.notEqual(r.status, 400, `${c.name}: ${r.body}`);
      assert.equal(g.backend.seen.length, before + 1, `${c.name}: not forwarded`);
      if (c.body !== undefined) assert.equal(g.backend.seen.at(-1)!.body.toString(), c.body, c.name);
      const line = await g.report.waitForLog((l) => l.message === 'contract violation' && violationLogs(g.report).indexOf(l) >= logged);
      assert.equal(line.problem, c.problem, c.name);
      assert.equal(line.operation, c.operation, c.name);
      await stillServing(g.report, c.name);
    }
  });

  test('a request body nested 10,000 deep: 400 under enforce, forwarded unchanged under report', { timeout: 60_000 }, async () => {
    const body = deepTree(10_000);
    const before = g.backend.seen.length;
    const r = await send(g.enforce.url, '/tree', { method: 'POST', headers: JSON_TYPE, body });
    assert.equal(r.status, 400, r.body);
    assert.deepEqual(r.json(), { code: 400, message: "INVALID_ARGUMENT: body parameter 'node': nests deeper than 100 levels" });
    assert.equal(g.backend.seen.length, before);
    await stillServing(g.enforce, 'deep request (enforce)');

    const logged = violationLogs(g.report).length;
    const p = await send(g.report.url, '/tree', { method: 'POST', headers: JSON_TYPE, body });
    assert.equal(p.status, 200, p.body);
    assert.equal(g.backend.seen.at(-1)!.body.toString(), body);
    const line = await g.report.waitForLog((l) => l.message === 'contract violation' && violationLogs(g.report).indexOf(l) >= logged);
    assert.equal(line.problem, "body parameter 'node': nests deeper than 100 levels");
    await stillServing(g.report, 'deep request (report)');
    // 100 levels are within the bound, and validated.
    assert.equal((await send(g.enforce.url, '/tree', { method: 'POST', headers: JSON_TYPE, body: deepTree(100) })).status, 200);
  });

  test('a response body nested 10,000 deep: passed unchanged under report, 502 under enforce', { timeout: 60_000 }, async () => {
    const body = deepTree(10_000);
    g.backend.answer('GET', '/tree', { status: 200, headers: JSON_TYPE, body });
    const logged = violationLogs(g.report).length;
    const p = await send(g.report.url, '/tree');
    assert.equal(p.status, 200);
    assert.equal(p.body, body);
    const line = await g.report.waitForLog((l) => l.message === 'contract violation' && violationLogs(g.report).indexOf(l) >= logged);
    assert.equal(line.problem, 'response body: nests deeper than 100 levels');
    await stillServing(g.report, 'deep response (report)');

    const r = await send(g.enforce.url, '/tree');
    assert.equal(r.status, 502, r.body);
    assert.deepEqual(r.json(), { code: 502, message: 'BAD_GATEWAY: response body: nests deeper than 100 levels' });
    await stillServing(g.enforce, 'deep response (enforce)');
  });
});

describe('--validate refuses at start a spec regex RE2 cannot run', () => {
  test('a lookahead in a definition: exit 2, the place named', { timeout: 60_000 }, async () => {
    const file = await writeSpecFile(hardeningSpec('http://127.0.0.1:9', '^(?!admin)[a-z]+$'));
    try {
      const args = ['serve', '--spec', file, '--port', '0', '--host', '127.0.0.1', '--backend-auth', 'none', '--keys', 'none', '--access-log', 'off'];
      const r = await runCli([...args, '--validate', 'enforce'], { env: { ENDPOINTS_CACHE_DIR: 'off' }, timeoutMs: 30_000 });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /definitions\.Item\.properties\.name\.pattern: "\^\(\?!admin\)\[a-z\]\+\$" is not a regex RE2 can run \(.*\(\?!/);
    } finally {
      await rm(path.dirname(file), { recursive: true, force: true });
    }
  });

  test('on a reload: refused with the place named, the previous spec still served and validated', { timeout: 60_000 }, async () => {
    const backend = await startContractBackend();
    const file = await writeSpecFile(hardeningSpec(backend.url, '^[a-z]+$'));
    let gw: ContractGateway | undefined;
    try {
      gw = await startContractGateway(file, 'enforce');
      await writeFile(file, JSON.stringify(hardeningSpec(backend.url, '^(a)\\1$')));
      gw.child.kill('SIGHUP');
      const refused = await gw.waitForLog((l) => String(l.message).startsWith('spec reload refused'), 30_000);
      assert.match(String(refused.problems), /definitions\.Item\.properties\.name\.pattern: "\^\(a\)\\\\1\$" is not a regex RE2 can run/);
      const r = await send(gw.url, '/items', { method: 'POST', headers: JSON_TYPE, body: '{"name":"ABC"}' });
      assert.deepEqual(r.json(), { code: 400, message: `INVALID_ARGUMENT: body parameter 'item' at /name: must match pattern "^[a-z]+$"` });
      await stillServing(gw, 'after the refused reload');
    } finally {
      await kill(gw);
      await backend.close();
      await rm(path.dirname(file), { recursive: true, force: true });
    }
  });
});
