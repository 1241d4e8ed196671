// Paths a backend could read differently from the gateway: a backslash (a
// WHATWG-parsing backend treats `\` as `/`), `%00` and malformed escapes. The
// path that is matched must be the path that is forwarded, so the checks of the
// operation the backend will run are the checks that were made (Envoy's
// normalize_path: `\` → `/`, `%00` refused; reference 7).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { sendRaw } from '../helpers/http.ts';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { keyedSpec } from '../helpers/specs.ts';

const MISSING_KEY =
  "UNAUTHENTICATED: Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.";

let gw: ChildGateway;
let backend: TestBackend;
let dir: string;

const ok = { responses: { 200: { description: 'ok' } } };

before(async () => {
  backend = await startTestBackend();
  dir = await mkdtemp(path.join(tmpdir(), 'egw-paths-'));
  const specFile = path.join(dir, 'endpoint.yaml');
  await writeFile(
    specFile,
    stringify({
      ...keyedSpec('paths', backend.url),
      paths: {
        '/public/**': { get: { operationId: 'publicAny', security: [], ...ok } },
        '/files/{x=**}': {
          get: { operationId: 'files', security: [], parameters: [{ name: 'x', in: 'path', required: true, type: 'string' }], ...ok },
        },
        '/admin': { get: { operationId: 'admin', ...ok } },
      },
    }),
  );
  gw = await startChildGateway(['--spec', specFile, '--backend-auth', 'none', '--keys', 'none']);
});

after(async () => {
  gw?.child.kill('SIGTERM');
  await gw?.exit();
  await backend?.close();
  await rm(dir, { recursive: true, force: true });
});

/** One raw request (Node's client would rewrite these paths); its status and JSON body. */
async function raw(target: string): Promise<{ status: number; body: unknown }> {
  const reply = await sendRaw(gw.url, `GET ${target} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`);
  const m = /^HTTP\/1\.1 (\d{3}) /.exec(reply);
  assert.ok(m, `no status line in ${JSON.stringify(reply.slice(0, 200))}`);
  const body = reply.slice(reply.indexOf('\r\n\r\n') + 4);
  return { status: Number(m[1]), body: body === '' ? undefined : JSON.parse(body) };
}

describe('backslashes are separators', () => {
  for (const target of ['/public/x\\..\\..\\admin', '/files/..\\admin', '/public\\..\\admin', '/files/a/..\\..\\admin?x=1']) {
    test(`${target} is /admin and needs its key; the backend is not reached`, async () => {
      backend.clear();
      const r = await raw(target);
      assert.equal(r.status, 401, JSON.stringify(r.body));
      assert.deepEqual(r.body, { code: 401, message: MISSING_KEY });
      assert.equal(backend.requests.length, 0);
    });
  }

  test('an open route gets the path with slashes, as matched', async () => {
    backend.clear();
    const r = await raw('/public/a\\b\\..\\c');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(backend.last()!.url, '/public/a/c');
  });

  test('an escaped backslash is data (Envoy keeps `%5c`): forwarded as written, one segment', async () => {
    backend.clear();
    const r = await raw('/files/..%5C..%5Cadmin');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(backend.last()!.url, '/files/..%5C..%5Cadmin');
  });
});

describe('NUL and malformed escapes are refused 400', () => {
  const targets = [
    '/public/.%00../admin',
    '/public/%00.%00./admin',
    '/public/AAAAA%%0000/abc',
    '/public/a%00',
    '/public/%zz',
    '/public/%4',
    '/public/a%',
    '/public/%%32%65%%32%65/admin',
    '/files/%g0',
  ];
  for (const target of targets) {
    test(`${target}: 400 in ESP JSON, backend not reached`, async () => {
      backend.clear();
      const r = await raw(target);
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.deepEqual(r.body, { code: 400, message: 'Bad Request' });
      assert.equal(backend.requests.length, 0);
    });
  }

  test('well-formed escapes still pass', async () => {
    backend.clear();
    const r = await raw('/public/%41%20%25%2F');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(backend.last()!.url, '/public/A%20%25%2F');
  });
});
