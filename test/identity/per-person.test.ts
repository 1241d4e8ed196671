// Issue 27, part B against the real CLI: quotas counted per person (x-endpoints-quota, {user} and
// {claim.NAME}), verified claims sent upstream as headers (x-endpoints-claim-headers) with the
// caller's forgeries removed, and forward-auth (/.endpoints/auth) answering for another proxy.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { send } from '../helpers/http.ts';
import { startTestIssuer, type TestIssuer } from '../jwt/issuer.ts';
import { runCli } from '../helpers/cli.ts';
import { startMetadataEmulator, type MetadataEmulator } from '../emulators/metadata-server.ts';

const SERVICE = 'people.endpoints.people-proj.cloud.goog';
const ok = { 200: { description: 'ok' } };
let dir: string;
let backend: TestBackend;
let issuer: TestIssuer;
let gw: ChildGateway;
let key: string;
let spec: string;
let meta: MetadataEmulator;

const bearer = async (claims: Record<string, unknown>) => ({ authorization: `Bearer ${await issuer.mint('idp', { aud: 'people-aud', ...claims })}` });

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'egw-per-person-'));
  backend = await startTestBackend();
  issuer = await startTestIssuer();
  await issuer.addKey('idp');
  spec = path.join(dir, 'endpoint.yaml');
  await writeFile(
    spec,
    stringify({
      swagger: '2.0',
      info: { title: 'people', version: '1' },
      host: SERVICE,
      'x-google-backend': { address: backend.url },
      'x-google-management': {
        metrics: [
          { name: 'calls', valueType: 'INT64', metricKind: 'DELTA' },
          { name: 'tenant-calls', valueType: 'INT64', metricKind: 'DELTA' },
        ],
        quota: { limits: [] },
      },
      'x-endpoints-quota': {
        limits: [
          { name: 'per-user', metric: 'calls', unit: '1/min/{user}', values: { STANDARD: 5 } },
          { name: 'per-tenant', metric: 'tenant-calls', unit: '1/min/{claim.tenant}', values: { STANDARD: 3 } },
        ],
      },
      'x-endpoints-claim-headers': { email: 'X-Endpoint-Claim-Email', tenant: 'X-Endpoint-Claim-Tenant' },
      securityDefinitions: {
        api_key: { type: 'apiKey', name: 'key', in: 'query' },
        idp: { type: 'oauth2', flow: 'implicit', authorizationUrl: '', 'x-google-issuer': issuer.iss('idp'), 'x-google-jwks_uri': issuer.jwksUri('idp'), 'x-google-audiences': 'people-aud' },
      },
      security: [{ idp: [] }],
      paths: {
        '/me': { get: { operationId: 'me', 'x-google-quota': { metricCosts: { calls: 1 } }, responses: ok } },
        '/tenant': {
          get: { operationId: 'tenant', 'x-google-quota': { metricCosts: { 'tenant-calls': 1 } }, 'x-endpoints-claim-headers': { sub: 'X-Endpoint-Claim-Sub' }, responses: ok },
        },
        '/profile': { get: { operationId: 'profile', responses: ok } },
        '/open': { get: { operationId: 'open', security: [], responses: ok } },
        '/keyed': { get: { operationId: 'keyed', security: [{ api_key: [] }], responses: ok } },
      },
    }),
  );
  const store = path.join(dir, 'keys.yaml');
  const made = await runCli(['keys', 'create', '--store', store, '--project', '123456789012', '--name', 'people']);
  assert.equal(made.code, 0, made.stderr);
  key = made.stdout.trim();
  // Backend auth on: the ID token it mints must never be answered to a caller of the serving port.
  meta = await startMetadataEmulator();
  gw = await startChildGateway(['--spec', spec, '--keys', `file:${store}`, '--forward-auth', 'serving'], {
    METADATA_SERVER_DETECTION: 'assume-present',
    GCE_METADATA_HOST: meta.host,
    GOOGLE_CLOUD_PROJECT: 'people-proj',
  });
});

after(async () => {
  gw?.child.kill('SIGTERM');
  await gw?.exit();
  await backend?.close();
  await issuer?.close();
  await meta?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('quotas per person (x-endpoints-quota)', () => {
  test('a per-user quota of 5 per minute admits 5 calls per subject, for each of two subjects', async () => {
    const alice = await bearer({ sub: 'alice' });
    const bob = await bearer({ sub: 'bob' });
    for (let i = 0; i < 5; i++) assert.equal((await send(gw.url, '/me', { headers: alice })).status, 200, `alice call ${i + 1}`);
    const refused = await send(gw.url, '/me', { headers: alice });
    assert.equal(refused.status, 429);
    assert.deepEqual(refused.json(), {
      code: 429,
      message: `RESOURCE_EXHAUSTED: Quota exceeded for quota metric 'calls' and limit 'per-user' of service '${SERVICE}' for consumer 'project_number:people-proj'.`,
    });
    assert.match(String(refused.headers['retry-after']), /^\d+$/);
    // Bob's budget is his own: alice used hers up, his five still pass.
    for (let i = 0; i < 5; i++) assert.equal((await send(gw.url, '/me', { headers: bob })).status, 200, `bob call ${i + 1}`);
    assert.equal((await send(gw.url, '/me', { headers: bob })).status, 429);
  });

  test('a {claim.tenant} quota is shared by the tenant, whoever calls', async () => {
    const carol = await bearer({ sub: 'carol', tenant: 't-1' });
    const dave = await bearer({ sub: 'dave', tenant: 't-1' });
    const erin = await bearer({ sub: 'erin', tenant: 't-2' });
    for (const who of [carol, dave, carol]) assert.equal((await send(gw.url, '/tenant', { headers: who })).status, 200);
    const refused = await send(gw.url, '/tenant', { headers: dave });
    assert.equal(refused.status, 429);
    assert.match(refused.json<{ message: string }>().message, /limit 'per-tenant'/);
    assert.equal((await send(gw.url, '/tenant', { headers: erin })).status, 200);
  });

  test('validate refuses a per-person unit in Google\'s block and a bad one in x-endpoints-quota', async () => {
    const bad = path.join(dir, 'bad.yaml');
    await writeFile(
      bad,
      stringify({
        swagger: '2.0',
        info: { title: 'bad', version: '1' },
        host: SERVICE,
        'x-google-management': { metrics: [{ name: 'calls', valueType: 'INT64', metricKind: 'DELTA' }], quota: { limits: [{ name: 'g', metric: 'calls', unit: '1/min/{user}', values: { STANDARD: 1 } }] } },
        'x-endpoints-quota': { limits: [{ name: 'u', metric: 'calls', unit: '1/min/{claim.}', values: { STANDARD: 5 } }, { name: 'v', metric: 'nope', unit: '1/min/{user}', values: { STANDARD: 1 } }] },
        'x-endpoints-claim-headers': { email: 'Authorization', name: 'Bad Header' },
        paths: { '/a': { get: { operationId: 'a', responses: ok } } },
      }),
    );
    const r = await runCli(['validate', '--spec', bad]);
    assert.notEqual(r.code, 0);
    const out = r.stdout + r.stderr;
    assert.match(out, /x-google-management\.quota\.limits\[0\]\.unit/);
    assert.match(out, /x-endpoints-quota\.limits\[0\]\.unit/);
    assert.match(out, /x-endpoints-quota\.limits\[1\]\.metric/);
    assert.match(out, /x-endpoints-claim-headers\.email: "Authorization" is a header the gateway/);
    assert.match(out, /x-endpoints-claim-headers\.name: must be an HTTP header name/);
  });
  test('diff places a lowered per-person limit in x-endpoints-quota', async () => {
    const { parse } = await import('yaml');
    const { readFile } = await import('node:fs/promises');
    const lowered = parse(await readFile(spec, 'utf8')) as { 'x-endpoints-quota': { limits: { values: { STANDARD: number } }[] } };
    lowered['x-endpoints-quota'].limits[1]!.values.STANDARD = 2;
    const next = path.join(dir, 'lowered.yaml');
    await writeFile(next, stringify(lowered));
    const r = await runCli(['diff', spec, next, '--format', 'json']);
    assert.equal(r.code, 1, r.stderr);
    const changes = (JSON.parse(r.stdout) as { changes: { rule: string; where: string }[] }).changes;
    assert.deepEqual(changes.map((c) => [c.rule, c.where]), [['quota-limit-lowered', 'x-endpoints-quota.limits[1].values.STANDARD']]);
  });
});

describe('claim headers (x-endpoints-claim-headers)', () => {
  test('verified claims reach the backend; the caller\'s forged copies never do', async () => {
    const who = await bearer({ sub: 'frank', email: 'frank@example.com', tenant: 't-9' });
    const r = await send(gw.url, '/profile', { headers: { ...who, 'x-endpoint-claim-email': 'ceo@example.com', 'X-Endpoint-Claim-Tenant': 'root' } });
    assert.equal(r.status, 200);
    const h = backend.last()!.headers;
    assert.equal(h['x-endpoint-claim-email'], 'frank@example.com');
    assert.equal(h['x-endpoint-claim-tenant'], 't-9');
  });

  test('a claim the token lacks leaves no header, not even the forged one', async () => {
    const who = await bearer({ sub: 'gina' });
    await send(gw.url, '/profile', { headers: { ...who, 'x-endpoint-claim-email': 'ceo@example.com' } });
    assert.equal(backend.last()!.headers['x-endpoint-claim-email'], undefined);
  });

  test('on an operation without a JWT, and on one with its own block, every declared name is removed', async () => {
    await send(gw.url, '/open', { headers: { 'x-endpoint-claim-email': 'ceo@example.com', 'x-endpoint-claim-sub': 'root' } });
    assert.equal(backend.last()!.headers['x-endpoint-claim-email'], undefined);
    assert.equal(backend.last()!.headers['x-endpoint-claim-sub'], undefined);
    const who = await bearer({ sub: 'hank', email: 'hank@example.com', tenant: 't-3' });
    await send(gw.url, '/tenant', { headers: { ...who, 'x-endpoint-claim-email': 'ceo@example.com' } });
    const h = backend.last()!.headers;
    assert.equal(h['x-endpoint-claim-sub'], 'hank');
    assert.equal(h['x-endpoint-claim-email'], undefined, "the operation's block replaces the top level's");
  });

  test('values are sanitized: CR/LF/NUL dropped (no header smuggled), UTF-8 kept, an oversized value left out', async () => {
    const who = await bearer({ sub: 'ivy', email: 'ivy@example.com\r\nX-Injected: 1\u0000', tenant: 'Zoë-租户' });
    assert.equal((await send(gw.url, '/profile', { headers: who })).status, 200);
    const h = backend.last()!.headers;
    assert.equal(h['x-endpoint-claim-email'], 'ivy@example.comX-Injected: 1');
    assert.equal(h['x-injected'], undefined);
    assert.equal(Buffer.from(String(h['x-endpoint-claim-tenant']), 'latin1').toString('utf8'), 'Zoë-租户');
    const big = await bearer({ sub: 'jo', email: 'j'.repeat(5000) });
    assert.equal((await send(gw.url, '/profile', { headers: big })).status, 200);
    assert.equal(backend.last()!.headers['x-endpoint-claim-email'], undefined);
  });
});

describe('forward-auth on the serving port (--forward-auth serving)', () => {
  const ask = (headers: Record<string, string>, p = '/.endpoints/auth') => send(gw.url, p, { headers });

  test('a keyed call is admitted with the identity headers to copy; nothing reaches the backend', async () => {
    const before = backend.requests.length;
    const r = await ask({ 'x-forwarded-method': 'GET', 'x-forwarded-uri': `/keyed?key=${key}`, 'x-forwarded-host': SERVICE });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.headers['x-endpoint-api-consumer-number'], '123456789012');
    assert.equal(backend.requests.length, before);
  });

  test('a keyless call is refused with the gateway\'s ESP text, in the body and in X-Endpoints-Error', async () => {
    const r = await ask({ 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/keyed' });
    assert.equal(r.status, 401);
    const esp = {
      code: 401,
      message: "UNAUTHENTICATED: Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
    };
    assert.deepEqual(r.json(), esp);
    assert.deepEqual(JSON.parse(String(r.headers['x-endpoints-error'])), esp);
  });

  test('the original method and URI decide: another method gets ESP\'s 405, an unknown path its 404', async () => {
    const m = await ask({ 'x-forwarded-method': 'POST', 'x-forwarded-uri': '/keyed' });
    assert.equal(m.status, 405);
    assert.match(m.json<{ message: string }>().message, /url template "\/keyed" but its http method is not allowed/);
    const n = await ask({ 'x-forwarded-method': 'GET', 'x-original-url': `http://${SERVICE}/nowhere` });
    assert.equal(n.status, 404);
    assert.equal(n.json<{ message: string }>().message, 'The current request is not defined by this API.');
  });

  test('a JWT call is admitted with its userinfo and claim headers; forged ones are not echoed back', async () => {
    const who = await bearer({ sub: 'kim', email: 'kim@example.com' });
    const r = await ask({ ...who, 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/profile', 'x-endpoint-claim-tenant': 'root' });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.headers['x-endpoint-claim-email'], 'kim@example.com');
    assert.equal(r.headers['x-endpoint-claim-tenant'], undefined);
    assert.equal(JSON.parse(Buffer.from(String(r.headers['x-endpoint-api-userinfo']), 'base64url').toString()).sub, 'kim');
    // The ID token and the assertion are minted for the spec's backend: never answered on the serving port.
    assert.ok(backend.requests.some((q) => String(q.headers.authorization).startsWith('Bearer ')), 'proxied calls do carry an ID token');
    assert.equal(r.headers.authorization, undefined);
    assert.equal(r.headers['x-serverless-authorization'], undefined);
    assert.equal(r.headers['x-endpoints-gateway-assertion'], undefined);
  });

  test('forward-auth charges quota like the call it stands for', async () => {
    const who = await bearer({ sub: 'lee' });
    for (let i = 0; i < 5; i++) assert.equal((await ask({ ...who, 'x-forwarded-uri': '/me' })).status, 200);
    const r = await ask({ ...who, 'x-forwarded-uri': '/me' });
    assert.equal(r.status, 429);
    assert.match(String(r.headers['x-endpoints-error']), /RESOURCE_EXHAUSTED/);
  });

  test('Envoy\'s form: the original path appended to /.endpoints/auth', async () => {
    assert.equal((await ask({}, `/.endpoints/auth/keyed?key=${key}`)).status, 200);
    assert.equal((await ask({}, '/.endpoints/auth/keyed')).status, 401);
  });

  test('a request that does not say which call it stands for gets a 400 in ESP form', async () => {
    for (const headers of [{}, { 'x-forwarded-uri': 'keyed' }, { 'x-forwarded-uri': '/keyed', 'x-forwarded-method': 'G E T' }, { 'x-original-url': 'http://[bad' }] as Record<string, string>[]) {
      const r = await ask(headers);
      assert.equal(r.status, 400, JSON.stringify(headers));
      assert.equal(r.json<{ code: number }>().code, 400);
      assert.match(r.json<{ message: string }>().message, /^forward-auth: /);
    }
  });

  test('X-Forwarded-* are trusted on /.endpoints/auth only: elsewhere they route nothing', async () => {
    const forwarded = { 'x-forwarded-uri': `/keyed?key=${key}`, 'x-forwarded-method': 'GET' };
    assert.equal((await send(gw.url, '/.endpoints/auth', { headers: forwarded })).status, 200);
    const r = await send(gw.url, '/open', { headers: forwarded });
    assert.equal(r.status, 200);
    assert.equal(backend.last()!.url, '/open');
  });
});
