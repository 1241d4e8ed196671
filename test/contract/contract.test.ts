// `contract` as CI runs it: the real CLI against the real gateway CLI (offline: embedded key store made
// with `keys create --key`, --backend-auth none, --backend-address-override, --jwks-file) in front of real
// HTTP backends on loopback: one that keeps the spec, one that breaks it in four ways, and a deployment
// serving an older spec that left an operation open.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { parseJunit, runCli, storeWithKey, tempDir, writeJson } from './cli.ts';

const KEY = 'AIzaContractTestFixtureKey0123456789abc';
const ISSUER = 'https://issuer.contract.test';
const AUDIENCE = 'pets-contract-test';

const pet = { $ref: '#/definitions/Pet' };
function petsSpec(opts: { getPetOpen?: boolean } = {}): Record<string, unknown> {
  return {
    swagger: '2.0',
    info: { title: 'pets', version: '1' },
    host: 'pets.endpoints.p.cloud.goog',
    basePath: '/v1',
    // Never reached: --backend-address-override sends every call to the backend under test.
    'x-google-backend': { address: 'https://pets-backend.invalid' },
    consumes: ['application/json'],
    produces: ['application/json'],
    securityDefinitions: {
      api_key: { type: 'apiKey', name: 'key', in: 'query' },
      idp: {
        type: 'oauth2',
        authorizationUrl: '',
        flow: 'implicit',
        'x-google-issuer': ISSUER,
        'x-google-jwks_uri': `${ISSUER}/jwks`,
        'x-google-audiences': AUDIENCE,
      },
    },
    security: [{ api_key: [] }],
    definitions: {
      Pet: {
        type: 'object',
        required: ['id', 'name'],
        properties: { id: { type: 'integer', format: 'int64', minimum: 1 }, name: { type: 'string', minLength: 1 }, tag: { type: 'string' } },
      },
    },
    paths: {
      '/pets': {
        get: {
          operationId: 'listPets',
          parameters: [{ name: 'limit', in: 'query', type: 'integer', 'x-example': 2 }],
          responses: { '200': { description: 'pets', schema: { type: 'array', items: pet } } },
        },
        post: {
          operationId: 'createPet',
          parameters: [{ name: 'pet', in: 'body', required: true, schema: pet }],
          responses: { '201': { description: 'created', schema: pet } },
        },
      },
      '/pets/{petId}': {
        get: {
          operationId: 'getPet',
          ...(opts.getPetOpen ? { security: [] } : {}),
          parameters: [{ name: 'petId', in: 'path', required: true, type: 'integer', minimum: 1 }],
          responses: { '200': { description: 'a pet', schema: pet }, '404': { description: 'no such pet' } },
        },
      },
      '/me': {
        get: {
          operationId: 'getMe',
          security: [{ idp: [] }],
          responses: { '200': { description: 'who', schema: { type: 'object', required: ['sub'], properties: { sub: { type: 'string' } } } } },
        },
      },
      '/admin/pets': {
        get: {
          operationId: 'adminListPets',
          // Both: a verified end user and a registered caller.
          security: [{ idp: [], api_key: [] }],
          responses: { '200': { description: 'pets', schema: { type: 'array', items: pet } } },
        },
      },
      '/status': {
        get: {
          operationId: 'status',
          security: [],
          responses: { '200': { description: 'ok', schema: { type: 'object', required: ['ok'], properties: { ok: { type: 'boolean' } } } } },
        },
      },
    },
  };
}

interface Recorded {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** The backend under test: `good` keeps the spec; `bad` breaks it in one way per operation. */
async function petsBackend(mode: () => 'good' | 'bad', seen: Recorded[]): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      const json = (status: number, value: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(value));
      };
      const route = `${req.method} ${req.url!.split('?')[0]}`;
      const bad = mode() === 'bad';
      if (route === 'GET /v1/pets') return bad ? json(418, { teapot: true }) : json(200, [{ id: 1, name: 'Rex' }]);
      if (route === 'POST /v1/pets') {
        if (bad) {
          res.writeHead(201, { 'content-type': 'text/plain' });
          return res.end('created');
        }
        return json(201, JSON.parse(body));
      }
      if (/^GET \/v1\/pets\/\d+$/.test(route)) return bad ? json(200, { id: 'seven', name: 'Rex' }) : json(200, { id: 7, name: 'Rex' });
      if (route === 'GET /v1/me') return json(200, { sub: 'user-1' });
      if (route === 'GET /v1/admin/pets') return json(200, []);
      if (route === 'GET /v1/status') return bad ? json(500, { error: 'boom' }) : json(200, { ok: true });
      json(404, { error: 'unknown' });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('contract against the gateway in front of a backend', () => {
  const dir = tempDir();
  const seen: Recorded[] = [];
  let mode: 'good' | 'bad' = 'good';
  let backend: { url: string; server: Server };
  let gw: ChildGateway;
  let oldGw: ChildGateway;
  let specFile: string;
  let oldSpecFile: string;
  let jwt: string;

  before(async () => {
    backend = await petsBackend(() => mode, seen);
    specFile = writeJson(dir, 'endpoint.json', petsSpec());
    const oldSpec = (oldSpecFile = writeJson(dir, 'endpoint-old.json', petsSpec({ getPetOpen: true })));
    const store = await storeWithKey(dir, KEY);
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const jwks = path.join(dir, 'jwks.json');
    writeFileSync(jwks, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'ci', alg: 'ES256', use: 'sig' }] }));
    jwt = await new SignJWT({ sub: 'user-1' }).setProtectedHeader({ alg: 'ES256', kid: 'ci' }).setIssuer(ISSUER).setAudience(AUDIENCE).setIssuedAt().setExpirationTime('1h').sign(privateKey);
    const common = ['--backend-auth', 'none', '--keys', `file:${store}`, '--backend-address-override', backend.url, '--jwks-file', `${ISSUER}=${jwks}`, '--access-log', 'off'];
    [gw, oldGw] = await Promise.all([startChildGateway(['--spec', specFile, ...common]), startChildGateway(['--spec', oldSpec, ...common])]);
  });

  after(async () => {
    for (const g of [gw, oldGw]) {
      g?.child.kill('SIGTERM');
      await g?.exit();
    }
    await new Promise((r) => backend.server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  test('a backend that keeps the spec: every check passes, exit 0, and the key is never printed', async () => {
    mode = 'good';
    seen.length = 0;
    const junit = path.join(dir, 'good', 'junit.xml');
    const r = await runCli(['contract', '--spec', specFile, '--url', gw.url, '--key', KEY, '--jwt', jwt, '--junit', junit]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /\d+ checks: \d+ passed, 0 failed, 0 skipped/);
    for (const op of ['listPets', 'createPet', 'getPet', 'getMe', 'status']) assert.match(r.stdout, new RegExp(`^${op}\\s+positive\\s+PASS`, 'm'));
    assert.match(r.stdout, /^getMe\s+security: no credentials\s+PASS\s+401/m);
    assert.match(r.stdout, /^getMe\s+security: unknown JWT signer\s+PASS\s+401/m);
    assert.match(r.stdout, /^getPet\s+security: invalid key\s+PASS\s+400/m);
    // JWT and key: the token is checked first, then the key, each refusal ESP's own.
    for (const [check, status] of [['positive', 200], ['security: no credentials', 401], ['security: invalid key', 400], ['security: no key', 401], ['security: no JWT', 401], ['security: unknown JWT signer', 401]] as const) {
      assert.match(r.stdout, new RegExp(`^adminListPets\\s+${check}\\s+PASS\\s+${status}`, 'm'), check);
    }
    assert.match(r.stdout, /^routing\s+undefined path → 404\s+PASS\s+404/m);
    assert.match(r.stdout, /^routing\s+undeclared method on \/v1\/pets\/\{petId\} → 405\s+PASS\s+405/m);
    assert.ok(!r.stdout.includes(KEY) && !r.stdout.includes(jwt));

    // The positive requests were built from the spec: the x-example, a schema-valid body, the key where it is read.
    const list = seen.find((s) => s.method === 'GET' && s.url.startsWith('/v1/pets?'))!;
    assert.match(list.url, /[?&]limit=2(&|$)/);
    assert.match(list.url, new RegExp(`[?&]key=${KEY}(&|$)`));
    const created = JSON.parse(seen.find((s) => s.method === 'POST')!.body) as { id: unknown; name: unknown };
    assert.ok(Number.isInteger(created.id) && (created.id as number) >= 1 && typeof created.name === 'string');
    // The token was sent as a Bearer token and verified (the gateway passed its payload on).
    const me = seen.find((s) => s.url.startsWith('/v1/me'))!;
    assert.equal(me.headers.authorization ?? me.headers['x-forwarded-authorization'], `Bearer ${jwt}`);
    assert.ok(me.headers['x-endpoint-api-userinfo']);

    const report = parseJunit(readFileSync(junit, 'utf8'));
    assert.equal(report.failures, 0);
    assert.ok(report.cases.some((c) => c.classname === 'contract.createPet' && c.name === 'positive'));
    assert.equal(report.tests, report.cases.length);
    // One testcase per operation × check: as many as the table's rows, none twice.
    const rows = Number(/(\d+) checks:/.exec(r.stdout)![1]);
    assert.equal(report.cases.length, rows);
    assert.equal(new Set(report.cases.map((c) => `${c.classname} ${c.name}`)).size, rows);
  });

  test('a backend that breaks the spec: each failure is reported as what it is, in the table and in JUnit', async () => {
    mode = 'bad';
    const junit = path.join(dir, 'bad.xml');
    const r = await runCli(['contract', '--spec', specFile, '--url', gw.url, '--key', KEY, '--jwt', jwt, '--junit', junit]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const expected: Record<string, string> = { listPets: 'undeclared_status', getPet: 'schema', createPet: 'content_type', status: 'server_error' };
    for (const [op, kind] of Object.entries(expected)) assert.match(r.stdout, new RegExp(`^${op}\\s+positive\\s+FAIL\\s+\\d+\\s+${kind}$`, 'm'));
    assert.match(r.stdout, /^getMe\s+positive\s+PASS/m);
    assert.match(r.stdout, /4 failed/);
    // Each failure: its reason and the request to repeat it, with the key as $KEY.
    assert.match(r.stdout, /listPets \/ positive \[undeclared_status\]\n\s+response status 418: not declared by the operation \(declared: 200\)/);
    assert.match(r.stdout, /getPet \/ positive \[schema\]\n\s+response body at \/id: must be integer/);
    assert.match(r.stdout, /createPet \/ positive \[content_type\]\n\s+response Content-Type 'text\/plain'/);
    assert.match(r.stdout, /status \/ positive \[server_error\]\n\s+server error: status 500/);
    assert.match(r.stdout, /curl -sS -i -X POST -H "content-type: application\/json" --data-raw "\{\\"id\\":1,\\"name\\":\\"sample\\"(,\\"tag\\":\\"sample\\")?\}" "http:\/\/127\.0\.0\.1:\d+\/v1\/pets\?key=\$\{KEY\}"/);
    assert.ok(!r.stdout.includes(KEY));

    const report = parseJunit(readFileSync(junit, 'utf8'));
    assert.equal(report.failures, 4);
    const failed = report.cases.filter((c) => c.failure).map((c) => `${c.classname} ${c.name} ${c.failure!.type}`).sort();
    assert.deepEqual(failed, [
      'contract.createPet positive content_type',
      'contract.getPet positive schema',
      'contract.listPets positive undeclared_status',
      'contract.status positive server_error',
    ]);
    const getPet = report.cases.find((c) => c.classname === 'contract.getPet' && c.name === 'positive')!;
    assert.match(getPet.failure!.message, /at \/id: must be integer/);
    assert.match(getPet.stdout ?? '', /^curl .*\/v1\/pets\/1\?key=\$\{KEY\}"$/);
    assert.ok(!readFileSync(junit, 'utf8').includes(KEY));
  });

  test('a deployment serving an older spec that left getPet open: the missing key check is a security failure', async () => {
    mode = 'good';
    const junit = path.join(dir, 'old.xml');
    const r = await runCli(['contract', '--spec', specFile, '--url', oldGw.url, '--key', KEY, '--jwt', jwt, '--junit', junit]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /^getPet\s+security: no credentials\s+FAIL\s+200\s+security$/m);
    assert.match(r.stdout, /expected 401 "UNAUTHENTICATED: Method doesn't allow unregistered callers/);
    assert.match(r.stdout, /^listPets\s+security: no credentials\s+PASS\s+401/m);
    const report = parseJunit(readFileSync(junit, 'utf8'));
    const failed = report.cases.filter((c) => c.failure);
    assert.ok(failed.length >= 1 && failed.every((c) => c.classname === 'contract.getPet' && c.failure!.type === 'security'), JSON.stringify(failed));
    assert.ok(failed.some((c) => c.name === 'security: no credentials'));
  });

  test('bad input exits 2: an invalid spec, an unknown --operation, a missing --url', async () => {
    const broken = writeJson(dir, 'broken.json', { swagger: '2.0', info: { title: 'x', version: '1' }, paths: { '/a': { get: { responses: {} } } } });
    const spec = await runCli(['contract', '--spec', broken, '--url', gw.url]);
    assert.equal(spec.code, 2);
    assert.match(spec.stderr, /broken\.json/);
    const op = await runCli(['contract', '--spec', specFile, '--url', gw.url, '--operation', 'nope']);
    assert.equal(op.code, 2);
    assert.match(op.stderr, /no operation "nope"/);
    const usage = await runCli(['contract', '--spec', specFile]);
    assert.equal(usage.code, 2);
  });

  test('--operation limits the run to those operations; without a key their keyed checks are skipped, not failed', async () => {
    const r = await runCli(['contract', '--spec', specFile, '--url', gw.url, '--operation', 'listPets']);
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /^listPets\s+positive\s+SKIP\s+needs --key$/m);
    assert.match(r.stdout, /^listPets\s+security: no credentials\s+PASS\s+401/m);
    assert.doesNotMatch(r.stdout, /^(getPet|routing)\s/m);
  });

  test('an operation the spec leaves open, refused 401 by the deployment: the open-operation check fails', async () => {
    mode = 'good';
    // The older spec says getPet is open; the gateway serving the current one asks for a key.
    const r = await runCli(['contract', '--spec', oldSpecFile, '--url', gw.url, '--key', KEY, '--operation', 'getPet']);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /^getPet\s+security: open operation\s+FAIL\s+401\s+security$/m);
    assert.match(r.stdout, /open operation refused without credentials: 401/);
  });

  test('pointed at the backend itself (no gateway in front): every security and routing probe fails on ESP\'s exact answer', async () => {
    mode = 'good';
    const junit = path.join(dir, 'bare.xml');
    const r = await runCli(['contract', '--spec', specFile, '--url', backend.url, '--key', KEY, '--jwt', jwt, '--junit', junit]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    // The backend answers 200 where ESP refuses: security failures.
    assert.match(r.stdout, /^listPets\s+security: no credentials\s+FAIL\s+200\s+security$/m);
    assert.match(r.stdout, /^listPets\s+security: invalid key\s+FAIL\s+200\s+security$/m);
    assert.match(r.stdout, /^getMe\s+security: no credentials\s+FAIL\s+200\s+security$/m);
    assert.match(r.stdout, /^getMe\s+security: unknown JWT signer\s+FAIL\s+200\s+security$/m);
    // The backend's own 404 is the right status but not ESP's body: still a routing failure.
    assert.match(r.stdout, /^routing\s+undefined path → 404\s+FAIL\s+404\s+routing$/m);
    assert.match(r.stdout, /expected 404 "The current request is not defined by this API\.", got 404 \{"error":"unknown"\}/);
    assert.match(r.stdout, /^routing\s+undeclared method on \/v1\/pets\/\{petId\} → 405\s+FAIL\s+404\s+routing$/m);
    // Positive requests still pass: the backend itself keeps the spec.
    assert.match(r.stdout, /^listPets\s+positive\s+PASS\s+200/m);
    const report = parseJunit(readFileSync(junit, 'utf8'));
    const kinds = new Set(report.cases.filter((c) => c.failure).map((c) => c.failure!.type));
    assert.deepEqual([...kinds].sort(), ['routing', 'security']);
    assert.ok(report.cases.some((c) => c.classname === 'contract.routing' && c.failure));
  });

  test('--operation is repeatable: exactly those operations, in the spec\'s order', async () => {
    mode = 'good';
    const r = await runCli(['contract', '--spec', specFile, '--url', gw.url, '--key', KEY, '--operation', 'status', '--operation', 'getPet']);
    assert.equal(r.code, 0, r.stdout);
    const ops = [...new Set(r.stdout.split('\n').slice(2).map((l) => l.split(/\s+/)[0]).filter((w) => w && /^[a-zA-Z]+$/.test(w)))];
    assert.deepEqual(ops, ['getPet', 'status']);
  });

  test('x-google-allow: all: the undefined-path probe is skipped, saying why', async () => {
    const allowAll = writeJson(dir, 'endpoint-allow-all.json', { ...petsSpec(), 'x-google-allow': 'all' });
    const r = await runCli(['contract', '--spec', allowAll, '--url', gw.url, '--key', KEY, '--jwt', jwt]);
    assert.match(r.stdout, /^routing\s+undefined path → 404\s+SKIP\s+x-google-allow: all forwards every path$/m);
    assert.doesNotMatch(r.stdout, /^routing\s+undefined path → 404\s+(PASS|FAIL)/m);
  });
});
