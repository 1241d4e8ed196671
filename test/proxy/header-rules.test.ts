// ESPv2's header flags against the real CLI and a real backend: add = replace, append = one more
// value (tests/integration_test/add_headers_test), ESPv2's KEY=VALUE syntax and its refusals
// (route_generator_test TestHeadersToAdd), and X-Endpoint-Api-Operation-Name.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { runCli } from '../helpers/cli.ts';
import { send } from '../helpers/http.ts';

const SERVICE = 'hdr.endpoints.p.cloud.goog';
let backend: http.Server;
let dir: string;
let spec: string;
let gw: ChildGateway;
let plain: ChildGateway;

/** The request's header lines as the backend received them, lower-cased names, in order. */
function linesOf(raw: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) out.push(raw[i + 1]!);
  return out;
}

before(async () => {
  backend = http.createServer((req, res) => {
    // The echo backend of ESPv2's test, and two response headers of its own for the response rules to meet.
    res.setHeader('echo-key2', 'old-value2');
    res.setHeader('echo-key3', 'old-value3');
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(req.rawHeaders));
  });
  backend.listen(0, '127.0.0.1');
  await once(backend, 'listening');
  dir = await mkdtemp(path.join(tmpdir(), 'egw-header-rules-'));
  spec = path.join(dir, 'endpoint.json');
  await writeFile(
    spec,
    JSON.stringify({
      swagger: '2.0',
      info: { title: 'hdr', version: '1' },
      host: SERVICE,
      'x-google-backend': { address: `http://127.0.0.1:${(backend.address() as AddressInfo).port}` },
      security: [],
      paths: {
        '/echoHeader': { get: { operationId: 'EchoHeader', responses: { 200: { description: 'ok' } } } },
        '/other/{id}': { post: { operationId: 'Other', parameters: [{ name: 'id', in: 'path', required: true, type: 'string' }], responses: { 200: { description: 'ok' } } } },
      },
    }),
  );
  const common = ['--spec', spec, '--keys', 'none', '--backend-auth', 'none', '--access-log', 'off'];
  [gw, plain] = await Promise.all([
    startChildGateway(
      [
        ...common,
        '--add-request-header', 'key1=value1',
        '--add-request-header', 'key2=new-value2;key-empty=',
        '--append-request-header', 'key3=new-value3',
        '--add-response-header', 'Key1=value1;Echo-Key2=new-value2',
        '--enable-operation-name-header',
      ],
      // From the environment (a flag on the command line would win over it), several as ESPv2's ';' list.
      { ENDPOINTS_APPEND_RESPONSE_HEADER: 'Echo-Key3=new-value3;x-env-a=1;x-env-b=2' },
    ),
    startChildGateway(common),
  ]);
});

after(async () => {
  for (const g of [gw, plain]) g?.child.kill('SIGTERM');
  await Promise.all([gw?.exit(), plain?.exit()]);
  backend?.closeAllConnections();
  await new Promise((r) => backend?.close(r));
  await rm(dir, { recursive: true, force: true });
});

describe('request header rules', () => {
  test('add sets a header; add replaces the caller value; append sends another value next to it', async () => {
    const r = await send(gw.url, '/echoHeader', { headers: { key2: 'old-value2', key3: 'old-value3' } });
    assert.equal(r.status, 200);
    const raw = r.json<string[]>();
    assert.deepEqual(linesOf(raw, 'key1'), ['value1']);
    assert.deepEqual(linesOf(raw, 'key2'), ['new-value2']);
    assert.deepEqual(linesOf(raw, 'key-empty'), ['']);
    assert.deepEqual(linesOf(raw, 'key3').join(', ').split(', '), ['old-value3', 'new-value3']);
  });

  test('append with no caller value sends the one value', async () => {
    const raw = (await send(gw.url, '/echoHeader')).json<string[]>();
    assert.deepEqual(linesOf(raw, 'key3'), ['new-value3']);
  });

  test('X-Endpoint-Api-Operation-Name names the matched operation, whatever the caller sent', async () => {
    const a = (await send(gw.url, '/echoHeader', { headers: { 'x-endpoint-api-operation-name': 'forged' } })).json<string[]>();
    assert.deepEqual(linesOf(a, 'x-endpoint-api-operation-name'), [`${SERVICE}.EchoHeader`]);
    const b = (await send(gw.url, '/other/7', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })).json<string[]>();
    assert.deepEqual(linesOf(b, 'x-endpoint-api-operation-name'), [`${SERVICE}.Other`]);
  });

  test('without the flags nothing is added', async () => {
    const raw = (await send(plain.url, '/echoHeader', { headers: { key2: 'old-value2' } })).json<string[]>();
    assert.deepEqual(linesOf(raw, 'key1'), []);
    assert.deepEqual(linesOf(raw, 'key2'), ['old-value2']);
    assert.deepEqual(linesOf(raw, 'x-endpoint-api-operation-name'), []);
  });
});

describe('response header rules', () => {
  test("add sets or replaces the backend's header; append adds a value next to it", async () => {
    const r = await send(gw.url, '/echoHeader');
    assert.equal(r.headers.key1, 'value1');
    assert.equal(r.headers['echo-key2'], 'new-value2');
    assert.equal(r.headers['echo-key3'], 'old-value3, new-value3');
    assert.equal(r.headers['x-env-a'], '1');
    assert.equal(r.headers['x-env-b'], '2');
  });

  test('without the flags the backend headers pass as sent', async () => {
    const r = await send(plain.url, '/echoHeader');
    assert.equal(r.headers.key1, undefined);
    assert.equal(r.headers['echo-key2'], 'old-value2');
    assert.equal(r.headers['echo-key3'], 'old-value3');
  });
});

describe('flag syntax', () => {
  const refused: [string, string, RegExp][] = [
    ['--add-request-header', 'k1', /invalid header: k1\. should be in key=value format\./],
    ['--append-request-header', '=value', /header key should not be empty for: =value\./],
    ['--add-response-header', 'a=b=c', /invalid header: a=b=c\. should be in key=value format\./],
    ['--append-response-header', 'bad name=v', /--append-response-header: .*bad name/i],
    ['--add-request-header', 'k=v\u0001', /--add-request-header: .*invalid/i],
  ];
  for (const [flag, value, message] of refused) {
    test(`${flag} ${JSON.stringify(value)} stops the start with a clear error`, async () => {
      const r = await runCli(['serve', '--spec', spec, '--keys', 'none', '--backend-auth', 'none', '--port', '0', flag, value]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    });
  }
});
