// --workers N through the real CLI: the API Keys service, the metadata server (ID tokens) and the JWKS
// endpoint see the calls of one gateway, not one per worker (src/workers/upstream-calls.ts).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { stringify } from 'yaml';
import { startApiKeysEmulator, type ApiKeysEmulator } from '../emulators/apikeys-server.ts';
import { startMetadataEmulator, type MetadataEmulator } from '../emulators/metadata-server.ts';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { baseSpec, op } from '../helpers/gateway.ts';
import { waitFor } from '../helpers/wait.ts';
import { pidsConnectedTo } from './connections.ts';

const KEY = 'AIzaUpstreamCallsKey00000000000000000000';
const USER_AUDIENCE = 'upstream-calls-users';
let dir: string;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'egw-upstream-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Fresh connection per call: the primary hands connections to the workers in turn. */
function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false, headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

/** A sum over the workers' series on the primary's /metrics. */
async function metric(adminUrl: string, name: string): Promise<number> {
  const text = (await get(`${adminUrl}/metrics`)).body;
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
    .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
}

interface Setup {
  readonly keys: ApiKeysEmulator;
  readonly meta: MetadataEmulator;
  /** One backend per route: a worker holding a connection to one has served that route. */
  readonly backends: { readonly a: TestBackend; readonly b: TestBackend; readonly c: TestBackend };
  readonly gw: ChildGateway;
  readonly url: string;
  readonly adminUrl: string;
  /** The processes that serve requests. */
  readonly pids: number[];
  close(): Promise<void>;
}

async function start(workers: number, extra: string[] = [], tokenLifetimeS?: number): Promise<Setup> {
  const keys = await startApiKeysEmulator();
  keys.addKey({ keyString: KEY, project: '4242' });
  const meta = await startMetadataEmulator();
  if (tokenLifetimeS !== undefined) meta.setTokenLifetimeSeconds(tokenLifetimeS);
  const backends = { a: await startTestBackend(), b: await startTestBackend(), c: await startTestBackend() };
  const file = path.join(dir, `spec-${workers}.yaml`);
  await writeFile(
    file,
    stringify(
      baseSpec({
        host: 'upstream.endpoints.test-project.cloud.goog',
        securityDefinitions: {
          api_key: { type: 'apiKey', name: 'key', in: 'query' },
          google: {
            type: 'oauth2',
            flow: 'implicit',
            authorizationUrl: '',
            'x-google-issuer': meta.issuer,
            'x-google-jwks_uri': meta.jwksUrl,
            'x-google-audiences': USER_AUDIENCE,
          },
        },
        security: [{ api_key: [] }],
        paths: {
          // The backend address as written is the ID token's audience: one audience per route.
          '/a': { get: op('a', { 'x-google-backend': { address: backends.a.url } }) },
          '/b': { get: op('b', { 'x-google-backend': { address: backends.b.url } }) },
          '/c': { get: op('c', { security: [{ google: [] }], 'x-google-backend': { address: backends.c.url } }) },
        },
      }),
    ),
  );
  const env = { GCE_METADATA_HOST: meta.host, METADATA_SERVER_DETECTION: 'assume-present', GOOGLE_CLOUD_PROJECT: 'test-project' };
  const args = ['--spec', file, '--keys', 'google', '--apikeys-endpoint', keys.url, '--backend-auth', 'google', '--admin-port', '0', '--workers', String(workers), ...extra];
  const gw = await startChildGateway(args, env);
  const line = workers > 1 ? await gw.waitForLog((l) => l.message === 'endpoints-gateway listening' && l.workers === workers) : gw.logs.find((l) => l.message === 'endpoints-gateway listening')!;
  const adminUrl = `http://127.0.0.1:${String(line.adminPort)}`;
  const pids =
    workers > 1
      ? (JSON.parse((await get(`${adminUrl}/configz`)).body) as { workers: { pid: number }[] }).workers.map((w) => w.pid)
      : [gw.child.pid!];
  return {
    keys,
    meta,
    backends,
    gw,
    url: `http://127.0.0.1:${String(line.port)}`,
    adminUrl,
    pids,
    async close() {
      gw.child.kill('SIGTERM');
      const code = await gw.exit();
      await Promise.all([keys.close(), meta.close(), backends.a.close(), backends.b.close(), backends.c.close()]);
      assert.equal(code, 0, gw.stderr());
    },
  };
}

/** An end-user token from the metadata server's identity endpoint, signed by the keys at meta.jwksUrl. */
async function userToken(meta: MetadataEmulator): Promise<string> {
  const r = await get(`${meta.url}/computeMetadata/v1/instance/service-accounts/default/identity?audience=${USER_AUDIENCE}`, { 'metadata-flavor': 'Google' });
  assert.equal(r.status, 200, r.body);
  return r.body.trim();
}

const jwksFetches = (meta: MetadataEmulator) => meta.requests.filter((r) => r.path === '/oauth2/v3/certs').length;

/** Rounds of /a, /b and /c, each call on its own connection, until every serving process has served each route. */
async function spread(s: Setup, user: string, rounds: number): Promise<void> {
  const backends = [s.backends.a, s.backends.b, s.backends.c];
  // Looked at after each round, before an idle keep-alive connection could be closed.
  const served = backends.map(() => new Set<number>());
  for (let i = 0; i < rounds; i++) {
    assert.equal((await get(`${s.url}/a?key=${KEY}`)).status, 200);
    assert.equal((await get(`${s.url}/b?key=${KEY}`)).status, 200);
    assert.equal((await get(`${s.url}/c?key=${KEY}`, { authorization: `Bearer ${user}` })).status, 200);
    for (const [j, b] of backends.entries()) for (const pid of await pidsConnectedTo(b.port, s.pids)) served[j]!.add(pid);
  }
  for (const [j, b] of backends.entries()) assert.deepEqual([...served[j]!].sort(), [...s.pids].sort(), `every worker served the route of ${b.url}`);
}

for (const workers of [1, 2]) {
  describe(`--workers ${workers}: upstream calls for a warm key, token and key set`, () => {
    test('many requests over every worker: one lookupKey and getKey, one ID token per audience, one JWKS fetch', async () => {
      const s = await start(workers);
      try {
        const user = await userToken(s.meta);
        await spread(s, user, 6);
        assert.equal(s.keys.counts.lookupKey, 1, 'lookupKey calls');
        assert.equal(s.keys.counts.getKey, 1, 'getKey calls');
        for (const b of [s.backends.a, s.backends.b, s.backends.c]) assert.equal(s.meta.identityCount(b.url), 1, `ID tokens for ${b.url}`);
        assert.equal(jwksFetches(s.meta), 1, 'JWKS fetches');
      } finally {
        await s.close();
      }
    });

    test('an invalid key is looked up once for all workers; an outage answers 503 in ESP\'s form, the key never logged', async () => {
      const s = await start(workers);
      try {
        const bad = 'AIzaUpstreamCallsUnknown000000000000000';
        const replies = [];
        for (let i = 0; i < 6; i++) replies.push(await get(`${s.url}/a?key=${bad}`));
        for (const r of replies) assert.deepEqual([r.status, JSON.parse(r.body)], [400, { code: 400, message: 'INVALID_ARGUMENT: API key not valid. Please pass a valid API key.' }]);
        assert.equal(s.keys.counts.lookupKey, 1, 'the negative answer is shared');
        assert.equal(await metric(s.adminUrl, 'endpoints_gateway_apikeys_calls_total'), workers, 'every worker looked the key up once (through the primary)');
        s.keys.setFailure(503);
        const down = 'AIzaUpstreamCallsNeverSeen00000000000000';
        for (let i = 0; i < 4; i++) {
          const r = await get(`${s.url}/a?key=${down}`);
          assert.deepEqual([r.status, JSON.parse(r.body)], [503, { code: 503, message: 'UNAVAILABLE: One or more Google Service Control backends are unavailable.' }]);
        }
        // Each worker says so (its lines carry its slot).
        const refusedBy = () => new Set(s.gw.logs.filter((l) => l.message === 'API key refused: API Keys service unavailable (fail-closed)').map((l) => l.worker));
        await waitFor(() => refusedBy().size === workers, 'a refusal logged by every worker');
        const text = JSON.stringify(s.gw.logs) + s.gw.stderr();
        for (const k of [KEY, bad, down]) assert.ok(!text.includes(k), 'no key in the logs');
      } finally {
        await s.close();
      }
    });

    test('refreshes (--key-refresh, ID tokens at half their life): one more call each for all workers', async () => {
      // Long enough that the warm-up (a second or two) and the refresh round each end well within one interval on a
      // loaded machine. ID tokens of 20 s are refreshed after about 10 s.
      const s = await start(workers, ['--key-refresh', '10s'], 20);
      try {
        const user = await userToken(s.meta);
        await spread(s, user, 4);
        assert.equal(s.keys.counts.lookupKey, 1);
        const verdicts = await metric(s.adminUrl, 'endpoints_gateway_apikeys_calls_total');
        assert.equal(verdicts, workers, 'each worker fetched its verdict once (from the primary when there are workers)');
        const tokens = await metric(s.adminUrl, 'endpoints_gateway_id_token_fetches_total');
        assert.equal(tokens, 3 * workers, 'each worker fetched a token per audience once');
        // Every worker's verdict is now older than the refresh interval: the next call on each refreshes it in the background.
        for (const end = Date.now() + 60_000; (await metric(s.adminUrl, 'endpoints_gateway_apikeys_calls_total')) === verdicts; ) {
          assert.ok(Date.now() < end, 'no background refresh within 60 s');
          assert.equal((await get(`${s.url}/a?key=${KEY}`)).status, 200);
          await new Promise((r) => setTimeout(r, 250));
        }
        await spread(s, user, 2);
        await waitFor(async () => (await metric(s.adminUrl, 'endpoints_gateway_apikeys_calls_total')) === 2 * workers, 'every worker refreshed');
        assert.equal(s.keys.counts.lookupKey, 2, 'one lookupKey for the refresh of all workers');
        assert.equal(s.keys.counts.getKey, 2);
        await waitFor(async () => (await metric(s.adminUrl, 'endpoints_gateway_id_token_fetches_total')) === 2 * tokens, 'every worker refreshed its ID tokens');
        for (const b of [s.backends.a, s.backends.b, s.backends.c]) assert.equal(s.meta.identityCount(b.url), 2, `ID tokens for ${b.url}: one refresh for all workers`);
      } finally {
        await s.close();
      }
    });
  });
}
