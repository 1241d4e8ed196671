// Offline by construction (issue 12): the production spec (Google-hosted backends with ID-token
// audiences, a Firebase issuer whose keys live at googleapis.com, an issuer found by OpenID
// discovery, a quota) served with `--backend-auth none`, an embedded key store, `--jwks-file` and
// `--backend-address-override`, in a child process where the network is gone: the preload probe
// refuses and records every non-loopback connect and DNS lookup, and every proxy variable points
// at a loopback recorder. While it serves keyed and JWT calls for a few seconds, nothing is
// attempted, nothing is warned. The controls show both nets catch a real attempt.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { send } from '../helpers/http.ts';
import { fixtureSigner, offlineEnv, probeRecords, runCli, startProxyRecorder, stopChild, type FixtureSigner, type ProxyRecorder } from './offline-env.ts';

const FIREBASE = 'https://securetoken.google.com/ci-project';
const DISCOVERED = 'https://ci-tenant.eu.auth0.com/';
const KEY = 'ci-fixture-key-7f3a9c2e51d84b06';

/** What a production endpoint.yaml looks like: nothing in it is on loopback. */
function productionSpec(): Record<string, unknown> {
  return {
    swagger: '2.0',
    info: { title: 'prod', version: '1.0.0' },
    host: 'hello-api.endpoints.my-project.cloud.goog',
    'x-google-backend': { address: 'https://hello-run-abc123-uc.a.run.app', deadline: 30 },
    securityDefinitions: {
      api_key: { type: 'apiKey', name: 'key', in: 'query' },
      firebase: {
        type: 'oauth2',
        flow: 'implicit',
        authorizationUrl: '',
        'x-google-issuer': FIREBASE,
        'x-google-jwks_uri': 'https://www.googleapis.com/service_accounts/v1/metadata/x509/securetoken@system.gserviceaccount.com',
        'x-google-audiences': 'ci-project',
      },
      auth0: { type: 'oauth2', flow: 'implicit', authorizationUrl: '', 'x-google-issuer': DISCOVERED, 'x-google-audiences': 'ci-api' },
    },
    security: [{ api_key: [] }],
    'x-google-management': {
      metrics: [{ name: 'reads', displayName: 'Reads', valueType: 'INT64', metricKind: 'DELTA' }],
      quota: { limits: [{ name: 'reads-per-minute', metric: 'reads', unit: '1/min/{project}', values: { STANDARD: 10_000 } }] },
    },
    paths: {
      '/hello': { get: { operationId: 'hello', 'x-google-quota': { metricCosts: { reads: 1 } }, responses: { '200': { description: 'ok' } } } },
      '/me': {
        get: {
          operationId: 'me',
          security: [{ firebase: [] }, { auth0: [] }],
          'x-google-backend': { address: 'https://us-central1-my-project.cloudfunctions.net/me', jwt_audience: 'https://me.example' },
          responses: { '200': { description: 'ok' } },
        },
      },
      '/status': { get: { operationId: 'status', security: [], responses: { '200': { description: 'ok' } } } },
    },
  };
}

let dir: string;
let backend: TestBackend;
let proxy: ProxyRecorder;
let signer: FixtureSigner;
let stranger: FixtureSigner;
let gw: ChildGateway;
let args: string[];

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'egw-offline-'));
  backend = await startTestBackend();
  proxy = await startProxyRecorder();
  signer = await fixtureSigner(FIREBASE, 'ci-project');
  stranger = await fixtureSigner(FIREBASE, 'ci-project');
  await writeFile(path.join(dir, 'endpoint.yaml'), stringify(productionSpec()));
  await writeFile(path.join(dir, 'firebase-jwks.json'), JSON.stringify(signer.publicJwks));
  const created = await runCli(['keys', 'create', '--store', path.join(dir, 'keys.yaml'), '--project', '4242', '--key', KEY]);
  assert.equal(created.code, 0, created.stderr);
  args = [
    '--spec', path.join(dir, 'endpoint.yaml'),
    '--backend-auth', 'none',
    '--keys', `file:${path.join(dir, 'keys.yaml')}`,
    '--jwks-file', `${FIREBASE}=${path.join(dir, 'firebase-jwks.json')}`,
    '--backend-address-override', backend.url,
  ];
  gw = await startChildGateway(args, offlineEnv(proxy));
});

after(async () => {
  if (gw) await stopChild(gw);
  await backend?.close();
  await proxy?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('offline by construction', () => {
  test('serving keyed and JWT calls for a few seconds attempts no connection and warns nothing', async () => {
    const good = await signer.sign({});
    const foreign = await stranger.sign({});
    // At least 3 s and at least 3 rounds, however slow each round is on a loaded machine.
    const end = Date.now() + 3000;
    let rounds = 0;
    while (Date.now() < end || rounds < 3) {
      rounds++;
      const keyed = await send(gw.url, `/hello?key=${KEY}`);
      assert.equal(keyed.status, 200, keyed.body);
      assert.equal((await send(gw.url, '/hello')).status, 401);
      assert.equal((await send(gw.url, '/hello?key=AIzaNotAKnownKeyNotAKnownKey0000000000')).status, 400);
      const jwt = await send(gw.url, '/me', { headers: { authorization: `Bearer ${good}` } });
      assert.equal(jwt.status, 200, jwt.body);
      const unknownKey = await send(gw.url, '/me', { headers: { authorization: `Bearer ${foreign}` } });
      assert.equal(unknownKey.status, 401, unknownKey.body);
      assert.equal((await send(gw.url, '/me')).status, 401);
      assert.equal((await send(gw.url, '/status')).status, 200);
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(rounds >= 3, `only ${rounds} rounds`);
    // Every call reached the loopback backend with its own path: nothing went to the spec's addresses.
    assert.ok(backend.requests.some((r) => r.url === `/hello?key=${KEY}`));
    assert.ok(backend.requests.some((r) => r.url === '/me'));

    assert.deepEqual(probeRecords(gw.stderr()), [], 'connect/lookup attempts recorded in the child');
    assert.deepEqual(proxy.attempts, [], 'attempts through the proxy');
    assert.equal(gw.stderr(), '', 'nothing on stderr');
    const warnings = gw.logs.filter((l) => l.severity !== 'INFO' && l.severity !== 'DEBUG');
    assert.deepEqual(warnings, [], 'warning or error log lines');
  });

  test('control: a token of an issuer without a --jwks-file makes the gateway reach out then, and the proxy sees it', async () => {
    const { sign } = await fixtureSigner(DISCOVERED, 'ci-api');
    const r = await send(gw.url, '/me', { headers: { authorization: `Bearer ${await sign({})}` } });
    assert.equal(r.status, 401);
    assert.equal(r.json().message, 'Jwks remote fetch is failed');
    assert.deepEqual(proxy.attempts, ['CONNECT ci-tenant.eu.auth0.com:443']);
  });

  test('control: without a proxy, the probe records the attempt in the child', async () => {
    const bare = await startChildGateway(args, offlineEnv());
    try {
      const { sign } = await fixtureSigner(DISCOVERED, 'ci-api');
      const r = await send(bare.url, '/me', { headers: { authorization: `Bearer ${await sign({})}` } });
      assert.equal(r.status, 401);
      const records = probeRecords(bare.stderr());
      assert.ok(
        records.some((x) => x.host === 'ci-tenant.eu.auth0.com'),
        JSON.stringify(records),
      );
    } finally {
      await stopChild(bare);
    }
  });
});
