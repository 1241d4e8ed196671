// Forward-auth behind Debian's nginx: `auth_request` asks the gateway's /.endpoints/auth (on the
// admin listener, --forward-auth admin) about each call, copies the identity and claim headers it
// answers upstream, and gives callers the gateway's own refusal (status and ESP text) through
// auth_request_set + error_page: nginx itself only knows 2xx, 401 and 403 from an auth subrequest.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { send } from '../helpers/http.ts';
import { startTestIssuer, type TestIssuer } from '../jwt/issuer.ts';
import { runCli } from '../helpers/cli.ts';
import { startMetadataEmulator, type MetadataEmulator } from '../emulators/metadata-server.ts';
import { findNginx } from '../../bench/nginx.ts';
import { holdLoopbackPort } from '../../bench/inherit-socket.ts';
import { spawnServer, type Proc } from '../../bench/procs.ts';

const SERVICE = 'fwd.endpoints.fwd-proj.cloud.goog';
const ok = { 200: { description: 'ok' } };
const MISSING_KEY =
  "UNAUTHENTICATED: Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.";
let dir: string;
let backend: TestBackend;
let issuer: TestIssuer;
let gw: ChildGateway;
let nginx: Proc;
let meta: MetadataEmulator;
let key: string;

/** The config the README shows, with this test's ports and folders filled in. */
function nginxConfig(d: string, port: number, gateway: string, upstream: string): string {
  return `daemon off;
master_process on;
worker_processes 1;
pid ${d}/nginx.pid;
error_log ${d}/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${d}/body;
  proxy_temp_path ${d}/proxy;
  fastcgi_temp_path ${d}/fastcgi;
  uwsgi_temp_path ${d}/uwsgi;
  scgi_temp_path ${d}/scgi;
  server {
    # Adopted from the test (NGINX="3;"), never bound again.
    listen 127.0.0.1:${port};
    location = /healthz { return 200 'ok'; }

    location = /_gateway_auth {
      internal;
      proxy_pass ${gateway}/.endpoints/auth;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Forwarded-Method $request_method;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header X-Forwarded-Uri $request_uri;
    }

    location / {
      auth_request /_gateway_auth;
      auth_request_set $gw_status $upstream_status;
      auth_request_set $gw_error $upstream_http_x_endpoints_error;
      auth_request_set $gw_retry_after $upstream_http_retry_after;
      auth_request_set $gw_consumer_type $upstream_http_x_endpoint_api_consumer_type;
      auth_request_set $gw_consumer_number $upstream_http_x_endpoint_api_consumer_number;
      auth_request_set $gw_userinfo $upstream_http_x_endpoint_api_userinfo;
      auth_request_set $gw_claim_email $upstream_http_x_endpoint_claim_email;
      # proxy_set_header replaces the caller's header of the same name (an empty value drops it).
      proxy_set_header X-Endpoint-API-Consumer-Type $gw_consumer_type;
      proxy_set_header X-Endpoint-API-Consumer-Number $gw_consumer_number;
      proxy_set_header X-Endpoint-API-UserInfo $gw_userinfo;
      proxy_set_header X-Endpoint-Claim-Email $gw_claim_email;
      error_page 401 403 500 = @gateway_refusal;
      proxy_pass ${upstream};
    }

    # nginx answers 500 for any refusal other than 401/403: give the caller the gateway's own.
    location @gateway_refusal {
      default_type application/json;
      add_header Retry-After $gw_retry_after always;
      if ($gw_status = 400) { return 400 $gw_error; }
      if ($gw_status = 401) { return 401 $gw_error; }
      if ($gw_status = 403) { return 403 $gw_error; }
      if ($gw_status = 404) { return 404 $gw_error; }
      if ($gw_status = 405) { return 405 $gw_error; }
      if ($gw_status = 429) { return 429 $gw_error; }
      if ($gw_status = 503) { return 503 $gw_error; }
      return 500 '{"code":500,"message":"INTERNAL: Internal error in the gateway."}';
    }
  }
}
`;
}

before(async () => {
  const found = findNginx();
  if ('missing' in found) throw new Error(`nginx is needed for this test: ${found.missing}`);
  dir = await mkdtemp(path.join(tmpdir(), 'egw-fwd-nginx-'));
  backend = await startTestBackend();
  issuer = await startTestIssuer();
  await issuer.addKey('idp');
  const spec = path.join(dir, 'endpoint.yaml');
  await writeFile(
    spec,
    stringify({
      swagger: '2.0',
      info: { title: 'fwd', version: '1' },
      host: SERVICE,
      'x-google-backend': { address: backend.url },
      'x-google-management': { metrics: [{ name: 'calls', valueType: 'INT64', metricKind: 'DELTA' }] },
      'x-endpoints-quota': { limits: [{ name: 'per-user', metric: 'calls', unit: '1/min/{user}', values: { STANDARD: 2 } }] },
      'x-endpoints-claim-headers': { email: 'X-Endpoint-Claim-Email' },
      securityDefinitions: {
        api_key: { type: 'apiKey', name: 'key', in: 'query' },
        idp: { type: 'oauth2', flow: 'implicit', authorizationUrl: '', 'x-google-issuer': issuer.iss('idp'), 'x-google-jwks_uri': issuer.jwksUri('idp'), 'x-google-audiences': 'fwd-aud' },
      },
      security: [{ api_key: [] }],
      paths: {
        '/books': { get: { operationId: 'books', responses: ok } },
        '/me': { get: { operationId: 'me', security: [{ idp: [] }], 'x-google-quota': { metricCosts: { calls: 1 } }, responses: ok } },
      },
    }),
  );
  const store = path.join(dir, 'keys.yaml');
  const made = await runCli(['keys', 'create', '--store', store, '--project', '210987654321', '--name', 'fwd']);
  assert.equal(made.code, 0, made.stderr);
  key = made.stdout.trim();
  meta = await startMetadataEmulator();
  gw = await startChildGateway(['--spec', spec, '--keys', `file:${store}`, '--forward-auth', 'admin', '--admin-port', '0'], {
    METADATA_SERVER_DETECTION: 'assume-present',
    GCE_METADATA_HOST: meta.host,
    GOOGLE_CLOUD_PROJECT: 'fwd-proj',
  });
  const ndir = path.join(dir, 'nginx');
  await mkdir(ndir);
  const held = await holdLoopbackPort();
  const conf = path.join(ndir, 'nginx.conf');
  await writeFile(conf, nginxConfig(ndir, held.port, gw.adminUrl!, backend.url));
  nginx = await spawnServer({ name: 'nginx', command: found.bin, args: ['-p', `${ndir}/`, '-c', conf, '-e', path.join(ndir, 'error.log')], env: { NGINX: '3;' }, port: held, readyPath: '/healthz' });
});

after(async () => {
  await nginx?.stop();
  gw?.child.kill('SIGTERM');
  await gw?.exit();
  await backend?.close();
  await issuer?.close();
  await meta?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('nginx auth_request in front of a backend, asking /.endpoints/auth', () => {
  test('a keyed call is admitted and reaches the backend with the consumer headers the gateway answered', async () => {
    backend.clear();
    const r = await send(nginx.url, `/books?key=${key}`, { headers: { 'x-endpoint-api-consumer-number': '1' } });
    assert.equal(r.status, 200, r.body);
    const got = backend.last()!;
    assert.equal(got.url, `/books?key=${key}`);
    assert.equal(got.headers['x-endpoint-api-consumer-number'], '210987654321');
    assert.equal(got.headers['x-endpoint-api-consumer-type'], 'PROJECT');
  });

  test("a keyless call is refused with the gateway's ESP text and never reaches the backend", async () => {
    backend.clear();
    const r = await send(nginx.url, '/books');
    assert.equal(r.status, 401);
    assert.deepEqual(r.json(), { code: 401, message: MISSING_KEY });
    assert.match(String(r.headers['content-type']), /application\/json/);
    assert.equal(backend.requests.length, 0);
  });

  test('refusals nginx would turn into 500 (404, 405, 429) keep their status and ESP text', async () => {
    const nf = await send(nginx.url, `/nowhere?key=${key}`);
    assert.equal(nf.status, 404);
    assert.deepEqual(nf.json(), { code: 404, message: 'The current request is not defined by this API.' });
    const m = await send(nginx.url, `/books?key=${key}`, { method: 'DELETE' });
    assert.equal(m.status, 405);
    assert.match(m.json<{ message: string }>().message, /url template "\/books" but its http method is not allowed/);
    const who = { authorization: `Bearer ${await issuer.mint('idp', { aud: 'fwd-aud', sub: 'mo', email: 'mo@example.com' })}` };
    for (let i = 0; i < 2; i++) assert.equal((await send(nginx.url, '/me', { headers: who })).status, 200);
    const q = await send(nginx.url, '/me', { headers: who });
    assert.equal(q.status, 429);
    assert.match(q.json<{ message: string }>().message, /^RESOURCE_EXHAUSTED: Quota exceeded for quota metric 'calls' and limit 'per-user'/);
    assert.match(String(q.headers['retry-after']), /^\d+$/);
  });

  test('a JWT call carries its verified claim header upstream; a caller-forged one is replaced', async () => {
    backend.clear();
    const who = { authorization: `Bearer ${await issuer.mint('idp', { aud: 'fwd-aud', sub: 'nia', email: 'nia@example.com' })}` };
    const r = await send(nginx.url, '/me', { headers: { ...who, 'x-endpoint-claim-email': 'ceo@example.com' } });
    assert.equal(r.status, 200, r.body);
    assert.equal(backend.last()!.headers['x-endpoint-claim-email'], 'nia@example.com');
    const keyed = await send(nginx.url, `/books?key=${key}`, { headers: { 'x-endpoint-claim-email': 'ceo@example.com' } });
    assert.equal(keyed.status, 200);
    assert.equal(backend.last()!.headers['x-endpoint-claim-email'], undefined);
  });
});

describe('--forward-auth admin', () => {
  test('the serving port keeps /.endpoints/auth reserved (404); the admin listener answers it', async () => {
    const serving = await send(gw.url, '/.endpoints/auth', { headers: { 'x-forwarded-uri': `/books?key=${key}` } });
    assert.equal(serving.status, 404);
    assert.deepEqual(serving.json(), { code: 404, message: 'The current request is not defined by this API.' });
    const admin = await send(gw.adminUrl!, '/.endpoints/auth', { headers: { 'x-forwarded-uri': `/books?key=${key}` } });
    assert.equal(admin.status, 200);
  });

  test("on the (private) admin listener the answer carries the backend's ID token for the proxy to send", async () => {
    const r = await send(gw.adminUrl!, '/.endpoints/auth', { headers: { 'x-forwarded-uri': `/books?key=${key}`, authorization: 'Bearer caller-token' } });
    assert.equal(r.status, 200);
    const token = /^Bearer (.+)$/.exec(String(r.headers.authorization))?.[1];
    assert.ok(token, `an ID token: ${String(r.headers.authorization)}`);
    assert.equal((await meta.verify(token, backend.url)).aud, backend.url);
  });

  test('the admin exchange is logged with the call it stood for, never the key', async () => {
    const line = await gw.waitForLog((l) => typeof l.httpRequest === 'object' && JSON.stringify(l).includes('/books') && !JSON.stringify(l).includes('/.endpoints/auth'));
    assert.ok(!JSON.stringify(line).includes(key), 'the key never reaches the log');
  });
});
