// --docs-path: the API's docs page, rendered by swagger-ui-dist served by the gateway itself, in a
// real headless Chromium. It renders the operations, the page makes no request outside the
// gateway, "Try it out" with a referrer-restricted browser key gets the backend's 200, and the
// published spec holds none of the gateway's internals. Screenshot: test-artifacts/docs-page.png.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser } from 'playwright-core';
import { stringify } from 'yaml';
import { createKey } from '../../src/auth/apikeys/keys-admin.ts';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { send } from '../helpers/http.ts';

const CLI = path.resolve(import.meta.dirname, '../../src/cli.ts');
const ARTIFACTS = path.resolve(import.meta.dirname, '../../test-artifacts');
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const SERVICE = 'docs-demo.endpoints.docs-project.cloud.goog';

let backend: TestBackend;
let dir: string;
let specFile: string;
let gw: ChildGateway;
let browser: Browser;
let key: string;

function spec(backendUrl: string): Record<string, unknown> {
  return {
    swagger: '2.0',
    info: { title: 'Bookstore docs', version: '3.1.0', description: 'The bookstore API.' },
    host: SERVICE,
    'x-google-backend': { address: backendUrl, jwt_audience: 'https://bookstore-backend.example', deadline: 20 },
    'x-google-endpoints': [{ name: SERVICE, allowCors: false }],
    'x-google-management': {
      metrics: [{ name: 'reads', valueType: 'INT64', metricKind: 'DELTA' }],
      quota: { limits: [{ name: 'reads-per-minute', metric: 'reads', unit: '1/min/{project}', values: { STANDARD: 1000 } }] },
    },
    securityDefinitions: { api_key: { type: 'apiKey', name: 'key', in: 'query' } },
    security: [{ api_key: [] }],
    paths: {
      '/v1/hello': {
        get: {
          operationId: 'hello',
          summary: 'Say hello',
          'x-google-quota': { metricCosts: { reads: 1 } },
          responses: { '200': { description: 'a greeting', schema: { type: 'object', properties: { message: { type: 'string', 'x-google-internal-note': 'x' } } } } },
        },
      },
      '/v1/books/{id}': {
        get: {
          operationId: 'getBook',
          summary: 'Get a book',
          parameters: [{ name: 'id', in: 'path', required: true, type: 'string' }],
          'x-google-backend': { address: `${backendUrl}/books`, path_translation: 'APPEND_PATH_TO_ADDRESS', disable_auth: true },
          responses: { '200': { description: 'the book' } },
        },
      },
    },
  };
}

before(async () => {
  backend = await startTestBackend();
  dir = await mkdtemp(path.join(tmpdir(), 'egw-docs-'));
  specFile = path.join(dir, 'endpoint.yaml');
  await writeFile(specFile, stringify(spec(backend.url)));
  const store = path.join(dir, 'keys.yaml');
  // A browser key: only calls whose Referer is the docs page on this gateway may use it.
  ({ key } = await createKey(store, { project: '123456789', services: [SERVICE], allowedReferrers: ['http://127.0.0.1:*/docs/*'] }));
  gw = await startChildGateway(['--spec', specFile, '--keys', `file:${store}`, '--backend-auth', 'none', '--docs-path', '/docs']);
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  if (gw) {
    gw?.child.kill('SIGTERM');
    await gw?.exit();
  }
  await backend?.close();
  await rm(dir, { recursive: true, force: true });
});

test('the page renders the operations, requests only the gateway, and "Try it out" with a key gets the backend\'s 200', async () => {
  const origin = new URL(gw.url).origin;
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await context.newPage();
  const requested: string[] = [];
  const consoleErrors: string[] = [];
  page.on('request', (r) => requested.push(r.url()));
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(e.message));
  try {
    await page.goto(`${gw.url}/docs/`, { waitUntil: 'load' });
    await page.locator('.opblock').first().waitFor({ timeout: 30_000 });
    assert.equal(await page.locator('.opblock').count(), 2);
    assert.equal(await page.locator('.opblock-summary-path').filter({ hasText: '/v1/hello' }).count(), 1);
    assert.equal(await page.locator('.opblock-summary-path').filter({ hasText: '/v1/books/{id}' }).count(), 1);
    assert.match(await page.locator('.info .title').innerText(), /Bookstore docs/);

    // Authorize with the API key (the spec's securityDefinitions), then try GET /v1/hello.
    await page.locator('.auth-wrapper .btn.authorize').click();
    await page.locator('.modal-ux input[type="text"], .modal-ux input:not([type])').first().fill(key);
    await page.locator('.modal-ux .auth-btn-wrapper .btn.authorize').click();
    await page.locator('.modal-ux .btn-done').click();
    await page.locator('.modal-ux').waitFor({ state: 'detached' });
    backend.clear();
    await page.locator('.opblock-summary').filter({ hasText: '/v1/hello' }).click();
    await page.locator('.try-out__btn').click();
    await page.locator('.btn.execute').click();
    const status = page.locator('.live-responses-table .response .response-col_status').first();
    await status.waitFor({ timeout: 30_000 });
    assert.equal((await status.innerText()).trim(), '200');

    const call = backend.requests.find((r) => r.url.startsWith('/v1/hello'));
    assert.ok(call, 'the call reached the backend through the gateway');
    assert.equal(new URL(call.url, 'http://x').searchParams.get('key'), key);
    assert.equal(call.headers.referer, `${gw.url}/docs/`);
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'docs-page.png'), fullPage: true });
  } finally {
    await context.close();
  }
  assert.ok(requested.length >= 4, requested.join('\n'));
  const elsewhere = requested.filter((u) => !u.startsWith('data:') && new URL(u).origin !== origin);
  assert.deepEqual(elsewhere, [], 'every request of the page goes to the gateway');
  assert.deepEqual(consoleErrors, []);
  // The key is referrer-restricted: the same call without the page's Referer is refused.
  assert.equal((await send(gw.url, `/v1/hello?key=${key}`)).status, 403);
});

test('the published spec: sanitized, host = service name, no key needed, never proxied', async () => {
  backend.clear();
  const r = await send(gw.url, '/docs/openapi.json');
  assert.equal(r.status, 200);
  assert.match(String(r.headers['content-type']), /^application\/json/);
  assert.ok(!r.body.includes(backend.url) && !r.body.includes(`:${backend.port}`), 'no backend address');
  assert.ok(!r.body.includes('bookstore-backend.example'), 'no audience');
  assert.ok(!/x-google-|x-endpoints-/.test(r.body), r.body);
  const doc = r.json<{ host: string; paths: Record<string, unknown>; securityDefinitions: unknown; info: { version: string } }>();
  assert.equal(doc.host, SERVICE);
  assert.deepEqual(Object.keys(doc.paths), ['/v1/hello', '/v1/books/{id}']);
  assert.deepEqual(doc.securityDefinitions, { api_key: { type: 'apiKey', name: 'key', in: 'query' } });
  assert.equal(doc.info.version, '3.1.0');

  const page = await send(gw.url, '/docs');
  assert.equal(page.status, 200);
  assert.match(String(page.headers['content-security-policy']), /default-src 'self'/);
  assert.equal((await send(gw.url, '/docs/swagger-ui-bundle.js', { headers: { 'accept-encoding': 'gzip' } })).headers['content-encoding'], 'gzip');
  assert.equal((await send(gw.url, '/docs/nothing-here')).status, 404);
  assert.equal((await send(gw.url, '/docs/openapi.json', { method: 'POST' })).status, 405);
  assert.deepEqual(backend.requests, [], 'nothing under the docs path reaches the backend');
  // The API itself still needs its key.
  assert.equal((await send(gw.url, '/v1/hello')).status, 401);
});

test('the page follows reloads: it publishes the config served, not a refused one', async () => {
  const next = spec(backend.url) as { info: { version: string }; paths: Record<string, unknown> };
  next.info.version = '3.2.0';
  next.paths['/v1/authors'] = { get: { operationId: 'authors', responses: { '200': { description: 'ok' } } } };
  await writeFile(specFile, stringify(next));
  gw.child.kill('SIGHUP');
  await gw.waitForLog((l) => l.message === 'spec reloaded');
  let doc = (await send(gw.url, '/docs/openapi.json')).json<{ info: { version: string }; paths: Record<string, unknown> }>();
  assert.equal(doc.info.version, '3.2.0');
  assert.ok('/v1/authors' in doc.paths);
  // A refused version (colliding with the docs path) is never published.
  const clash = { ...next, info: { ...next.info, version: '3.3.0' }, paths: { ...next.paths, '/docs/extra': { get: { operationId: 'extra', responses: { '200': { description: 'ok' } } } } } };
  await writeFile(specFile, stringify(clash));
  gw.child.kill('SIGHUP');
  await gw.waitForLog((l) => String(l.message).startsWith('spec reload refused'));
  doc = (await send(gw.url, '/docs/openapi.json')).json();
  assert.equal(doc.info.version, '3.2.0');
  await writeFile(specFile, stringify(spec(backend.url)));
});

test('validate --docs-path refuses a spec whose paths collide with it; serve refuses to start', async () => {
  const run = promisify(execFile);
  const ok = await run(process.execPath, [CLI, 'validate', '--spec', specFile, '--docs-path', '/docs']);
  assert.match(ok.stdout, /valid/);
  const clash = await run(process.execPath, [CLI, 'validate', '--spec', specFile, '--docs-path', '/v1']).then(
    () => assert.fail('validate accepted a colliding --docs-path'),
    (e: { code: number; stderr: string }) => e,
  );
  assert.equal(clash.code, 2);
  assert.match(clash.stderr, /paths\["\/v1\/hello"\]\.get: collides with the docs page at --docs-path \/v1/);
  // Without --docs-path, no docs page and no collision.
  await run(process.execPath, [CLI, 'validate', '--spec', specFile]);
  const serve = await run(process.execPath, [CLI, 'serve', '--spec', specFile, '--port', '0', '--keys', 'none', '--backend-auth', 'none', '--docs-path', '/v1/books']).then(
    () => assert.fail('serve started'),
    (e: { code: number; stderr: string }) => e,
  );
  assert.equal(serve.code, 2);
  assert.match(serve.stderr, /collides with the docs page/);
});

test('the published spec is the one served even when the file is edited (and refused) before anyone asks for it', async () => {
  const own = path.join(dir, 'primed.yaml');
  const first = spec(backend.url) as { info: { version: string } };
  await writeFile(own, stringify(first));
  const g = await startChildGateway(['--spec', own, '--keys', 'none', '--backend-auth', 'none', '--docs-path', '/docs']);
  const broken = 'swagger: "2.0"\npaths: [oops';
  try {
    // Nobody has opened the page yet when the file goes bad: the refused bytes are on disk.
    await writeFile(own, broken);
    g.child.kill('SIGHUP');
    await g.waitForLog((l) => String(l.message).startsWith('spec reload refused'));
    let r = await send(g.url, '/docs/openapi.json');
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json<{ info: { version: string } }>().info.version, '3.1.0');
    // The same after a good reload: the new version is published at the swap, not at the first request.
    const next = { ...first, info: { ...first.info, version: '3.4.0' } };
    await writeFile(own, stringify(next));
    g.child.kill('SIGHUP');
    await g.waitForLog((l) => l.message === 'spec reloaded');
    await writeFile(own, broken);
    g.child.kill('SIGHUP');
    await g.waitForLog((l) => String(l.message).startsWith('spec reload refused') && g.logs.filter((x) => String(x.message).startsWith('spec reload refused')).length === 2);
    r = await send(g.url, '/docs/openapi.json');
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json<{ info: { version: string } }>().info.version, '3.4.0');
  } finally {
    g.child.kill('SIGTERM');
    await g.exit();
  }
});
