// Several services in one gateway process, chosen by host: two keyed APIs with
// their own service names and quotas, and an app behind browser sign-in (a
// real OpenID provider), each on its own hostnames; keys checked by the API
// Keys emulator with API-target restrictions; one service's refused reload
// leaves the others as they were.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startApiKeysEmulator, type ApiKeysEmulator } from '../emulators/apikeys-server.ts';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { op } from '../helpers/gateway.ts';
import { send, sendRaw } from '../helpers/http.ts';
import { startProvider, type TestProvider } from '../signin/provider.ts';
import { SECRET, SCOPES, startFront, walk, Jar, hop, type Front } from '../signin/harness.ts';

const ALPHA = 'alpha.endpoints.p.cloud.goog';
const BETA = 'beta.endpoints.p.cloud.goog';
const APP = 'app.endpoints.p.cloud.goog';
const PROJECT = '987654321';
const NOT_DEFINED = { code: 404, message: 'The current request is not defined by this API.' };

let keys: ApiKeysEmulator;
let alphaBackend: TestBackend;
let betaBackend: TestBackend;
let appBackend: TestBackend;
let idp: TestProvider;
let front: Front;
let gw: ChildGateway;
let dir: string;
let alphaFile: string;
let betaFile: string;
/** Good for both APIs. */
let anyKey: string;
/** Restricted to alpha's service name. */
let alphaKey: string;

function keyedApi(host: string, names: string[], backend: string, limit: number, version: string): Record<string, unknown> {
  return {
    swagger: '2.0',
    info: { title: host, version },
    host,
    'x-google-endpoints': names.map((name) => ({ name })),
    'x-google-backend': { address: backend },
    securityDefinitions: { api_key: { type: 'apiKey', name: 'key', in: 'query' } },
    security: [{ api_key: [] }],
    'x-google-management': {
      metrics: [{ name: 'reads', valueType: 'INT64', metricKind: 'DELTA' }],
      quota: { limits: [{ name: 'reads-limit', metric: 'reads', unit: '1/min/{project}', values: { STANDARD: limit } }] },
    },
    paths: {
      '/ping': { get: op('ping') },
      '/read': { get: op('read', { 'x-google-quota': { metricCosts: { reads: 1 } } }) },
    },
  };
}

function appSpec(): Record<string, unknown> {
  return {
    swagger: '2.0',
    info: { title: 'app', version: '1' },
    host: APP,
    // The browser reaches the app through its front at 127.0.0.1 (the port is no part of the match).
    'x-google-endpoints': [{ name: '127.0.0.1' }],
    'x-google-backend': { address: appBackend.url },
    securityDefinitions: {
      signin: {
        type: 'oauth2',
        flow: 'accessCode',
        authorizationUrl: `${idp.issuer}/auth`,
        tokenUrl: `${idp.issuer}/token`,
        'x-google-issuer': idp.issuer,
        'x-endpoints-signin': { client_id: idp.clientId, scopes: SCOPES, post_logout_path: '/' },
      },
    },
    paths: { '/app/**': { get: op('app', { security: [{ signin: [] }] }) } },
  };
}

let n = 0;
function newKey(extra: Partial<Parameters<ApiKeysEmulator['addKey']>[0]> = {}): string {
  const keyString = `AIzaSy${String(++n).padStart(6, '0')}${'m'.repeat(27)}`;
  keys.addKey({ keyString, project: PROJECT, ...extra });
  return keyString;
}

const at = (host: string, p: string) => send(gw.url, p, { headers: { host } });

async function configz(): Promise<Record<string, Record<string, unknown>>> {
  const r = await send(gw.adminUrl!, '/configz');
  assert.equal(r.status, 200, r.body);
  return r.json<{ services: Record<string, Record<string, unknown>> }>().services;
}

before(async () => {
  keys = await startApiKeysEmulator();
  [alphaBackend, betaBackend, appBackend] = await Promise.all([startTestBackend(), startTestBackend(), startTestBackend()]);
  idp = await startProvider();
  front = await startFront();
  dir = await mkdtemp(path.join(tmpdir(), 'by-host-'));
  alphaFile = path.join(dir, 'alpha.json');
  betaFile = path.join(dir, 'beta.json');
  const appFile = path.join(dir, 'app.json');
  const clientSecretFile = path.join(dir, 'client-secret');
  await Promise.all([
    writeFile(alphaFile, JSON.stringify(keyedApi(ALPHA, [ALPHA, 'alpha.example.test'], alphaBackend.url, 2, '1'))),
    writeFile(betaFile, JSON.stringify(keyedApi(BETA, [BETA, '*.beta.example.test'], betaBackend.url, 3, '1'))),
    writeFile(appFile, JSON.stringify(appSpec())),
    writeFile(clientSecretFile, `${idp.clientSecret}\n`),
  ]);
  anyKey = newKey();
  alphaKey = newKey({ restrictions: { apiTargets: [{ service: ALPHA, methods: [] }] } });
  gw = await startChildGateway(
    [
      ...['--spec', alphaFile, '--spec', betaFile, '--spec', appFile],
      ...['--keys', 'google', '--apikeys-endpoint', keys.url, '--backend-auth', 'none', '--admin-port', '0'],
      ...['--public-url', front.url, '--signin-client-secret-file', clientSecretFile],
    ],
    { ENDPOINTS_SESSION_SECRET: SECRET },
  );
  front.target = gw.url;
  idp.register({ redirectUris: [`${front.url}/.endpoints/callback`], postLogoutRedirectUris: [`${front.url}/`] });
});

after(async () => {
  if (gw) {
    gw.child.kill('SIGTERM');
    await gw.exit();
  }
  await front?.close();
  await idp?.close();
  await Promise.all([alphaBackend?.close(), betaBackend?.close(), appBackend?.close(), keys?.close()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('three services in one gateway, chosen by host', () => {
  test('each host reaches its own service: exact names, x-google-endpoints names, *. wildcards; the port is no part of the match', async () => {
    for (const [host, backend] of [
      [ALPHA, alphaBackend],
      ['Alpha.Example.Test:8443', alphaBackend],
      [BETA, betaBackend],
      ['eu.beta.example.test', betaBackend],
      ['a.b.beta.example.test.', betaBackend],
    ] as const) {
      alphaBackend.clear();
      betaBackend.clear();
      const r = await at(host, `/ping?key=${anyKey}`);
      assert.equal(r.status, 200, `${host}: ${r.body}`);
      assert.equal(backend.requests.length, 1, host);
      assert.equal((backend === alphaBackend ? betaBackend : alphaBackend).requests.length, 0, host);
    }
  });

  test("a host no service names gets ESP's 404 (no --default-service), yet liveness still answers", async () => {
    assert.equal((await at('alpha.example.test', `/ping?key=${anyKey}`)).status, 200, 'the same call on a named host');
    for (const host of ['unknown.example.test', 'beta.example.test', 'example.test']) {
      const r = await at(host, `/ping?key=${anyKey}`);
      assert.equal(r.status, 404, host);
      assert.deepEqual(r.json(), NOT_DEFINED);
    }
    assert.equal((await at('unknown.example.test', '/healthz')).status, 200);
    // A WebSocket upgrade takes the same entry: refused before any backend is dialled.
    const raw = await sendRaw(
      gw.url,
      `GET /ping?key=${anyKey} HTTP/1.1\r\nHost: unknown.example.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
    );
    assert.match(raw, /^HTTP\/1\.1 404 /);
    assert.ok(raw.includes(JSON.stringify(NOT_DEFINED)), raw);
  });

  test("X-Forwarded-Host is not trusted without --trusted-hops: a caller cannot pick another service's policy", async () => {
    betaBackend.clear();
    const r = await send(gw.url, `/ping?key=${anyKey}`, { headers: { host: ALPHA, 'x-forwarded-host': BETA } });
    assert.equal(r.status, 200, r.body);
    assert.equal(betaBackend.requests.length, 0);
  });

  test("a key whose API targets name service A is admitted on A and refused on B with ESP's text", async () => {
    assert.equal((await at(ALPHA, `/ping?key=${alphaKey}`)).status, 200);
    betaBackend.clear();
    const r = await at(BETA, `/ping?key=${alphaKey}`);
    assert.equal(r.status, 403);
    assert.deepEqual(r.json(), { code: 403, message: 'PERMISSION_DENIED:  The API targeted by this request is invalid for the given API key.' });
    assert.equal(betaBackend.requests.length, 0);
  });

  test('quotas are per service: A admits 2, B admits 3, each refused 429 naming its own service', async () => {
    const key = newKey({ project: '111222333' });
    const codes = async (host: string, times: number) => {
      const out: number[] = [];
      for (let i = 0; i < times; i++) out.push((await at(host, `/read?key=${key}`)).status);
      return out;
    };
    assert.deepEqual(await codes(ALPHA, 3), [200, 200, 429]);
    assert.deepEqual(await codes(BETA, 4), [200, 200, 200, 429]);
    const refused = await at(BETA, `/read?key=${key}`);
    assert.deepEqual(refused.json(), {
      code: 429,
      message: `RESOURCE_EXHAUSTED: Quota exceeded for quota metric 'reads' and limit 'reads-limit' of service '${BETA}' for consumer 'project_number:111222333'.`,
    });
  });

  test("the app's host signs a browser in and reaches the app; the APIs' hosts know nothing of its routes", async () => {
    const jar = new Jar();
    const { last } = await walk(jar, `${front.url}/app/hello`, 'alice');
    assert.equal(last.status, 200, last.body);
    assert.equal(appBackend.last()?.url, '/app/hello');
    const user = JSON.parse(Buffer.from(String(appBackend.last()!.headers['x-endpoint-api-userinfo']), 'base64url').toString('utf8'));
    assert.equal(user.sub, 'alice');
    // The same path on an API host is that API's: not defined there.
    const r = await at(ALPHA, '/app/hello');
    assert.equal(r.status, 404);
    assert.deepEqual(r.json(), NOT_DEFINED);
    // No session for the APIs' hosts: a browser there is never sent to sign in.
    const h = await hop(new Jar(), `${gw.url}/app/hello`, { headers: { host: BETA } });
    assert.equal(h.status, 404);
  });

  test('access-log lines and request metrics carry the service; config_info has one series per service', async () => {
    await at(BETA, `/ping?key=${anyKey}`);
    await gw.waitForLog((l) => l.message === 'request' && l.service === BETA && l.operation === 'ping');
    const metrics = (await send(gw.adminUrl!, '/metrics')).body;
    assert.match(metrics, new RegExp(`endpoints_gateway_requests_total\\{[^}]*operation="ping"[^}]*service="${BETA}"`));
    for (const name of [ALPHA, BETA, APP]) assert.match(metrics, new RegExp(`endpoints_gateway_config_info\\{[^}]*service="${name}"\\} 1`));
  });

  test("a refused reload of one service leaves the others serving; a valid one changes only its own config id", async () => {
    const before = await configz();
    assert.deepEqual(Object.keys(before).sort(), [ALPHA, APP, BETA].sort());
    // Alpha gets a new version; beta's new spec is broken.
    await writeFile(alphaFile, JSON.stringify(keyedApi(ALPHA, [ALPHA, 'alpha.example.test'], alphaBackend.url, 2, '2')));
    await writeFile(betaFile, '{"swagger": "2.0", "info": {"title": "broken"}, "paths": {"/x": {"get": {"operationId": 7}}}}');
    gw.child.kill('SIGHUP');
    await gw.waitForLog((l) => l.message === 'spec reloaded' && l.service === ALPHA);
    await gw.waitForLog((l) => String(l.message).startsWith('spec reload refused') && l.spec === betaFile);
    const afterReload = await configz();
    assert.notEqual(afterReload[ALPHA]!.config_id, before[ALPHA]!.config_id);
    assert.match(String(afterReload[ALPHA]!.config_id), /^2-/);
    assert.equal(afterReload[BETA]!.config_id, before[BETA]!.config_id);
    assert.ok(afterReload[BETA]!.last_refused_reload, 'beta records its refused reload');
    assert.equal(afterReload[ALPHA]!.last_refused_reload, null);
    assert.equal(afterReload[APP]!.config_id, before[APP]!.config_id);
    const metrics = (await send(gw.adminUrl!, '/metrics')).body;
    assert.match(metrics, new RegExp(`endpoints_gateway_spec_reloads_total\\{result="failure",service="${BETA}"\\} 1`));
    assert.match(metrics, new RegExp(`endpoints_gateway_spec_reloads_total\\{result="success",service="${ALPHA}"\\} 1`));
    // Beta still serves its previous config.
    const r = await at('eu.beta.example.test', `/ping?key=${anyKey}`);
    assert.equal(r.status, 200, r.body);
  });

  test('a reload that would move a service to other hosts is refused: the host table is built at start', async () => {
    const served = (await configz())[ALPHA]!.config_id;
    await writeFile(alphaFile, JSON.stringify(keyedApi(ALPHA, [ALPHA, 'alpha.example.test', 'eu.beta.example.test'], alphaBackend.url, 2, '3')));
    gw.child.kill('SIGHUP');
    const refused = await gw.waitForLog((l) => String(l.message).startsWith('spec reload refused') && l.spec === alphaFile);
    assert.match(JSON.stringify(refused.problems), /changes the hosts this service is chosen for/);
    assert.equal((await configz())[ALPHA]!.config_id, served);
    betaBackend.clear();
    assert.equal((await at('eu.beta.example.test', `/ping?key=${anyKey}`)).status, 200);
    assert.equal(betaBackend.requests.length, 1, 'still beta');
  });
});
