// API keys end to end: the real gateway, its real API Keys client (google-auth-library), and the API
// Keys service emulator on loopback (reference sections 3 and 4.2).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startApiKeysEmulator, type ApiKeysEmulator } from '../emulators/apikeys-server.ts';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { baseSpec, op, pathParams, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { send } from '../helpers/http.ts';
import { waitFor } from '../helpers/wait.ts';

const SERVICE = 'keys-api.endpoints.test-project.cloud.goog';
const MISSING =
  "UNAUTHENTICATED: Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.";
const INVALID = 'INVALID_ARGUMENT: API key not valid. Please pass a valid API key.';

let keys: ApiKeysEmulator;
let backend: TestBackend;
let gw: TestGateway;
let n = 0;
/** A fresh key string in Google's format, registered with the emulator. */
function newKey(extra: Partial<Parameters<ApiKeysEmulator['addKey']>[0]> = {}): string {
  const keyString = `AIzaSy${String(++n).padStart(6, '0')}${'x'.repeat(27)}`;
  keys.addKey({ keyString, project: '987654321', ...extra });
  return keyString;
}
const allKeysUsed: string[] = [];
const k = (extra: Partial<Parameters<ApiKeysEmulator['addKey']>[0]> = {}) => {
  const key = newKey(extra);
  allKeysUsed.push(key);
  return key;
};

function spec() {
  return baseSpec({
    host: SERVICE,
    'x-google-backend': { address: backend.url },
    securityDefinitions: {
      api_key: { type: 'apiKey', name: 'key', in: 'query' },
      header_key: { type: 'apiKey', name: 'X-My-Key', in: 'header' },
    },
    security: [{ api_key: [] }],
    paths: {
      '/items/{id}': { get: op('getItem', pathParams('id')), delete: op('deleteItem', pathParams('id')) },
      '/open': { get: op('openThing', { security: [] }) },
      '/custom': { get: op('customHeader', { security: [{ header_key: [] }] }) },
    },
  });
}

before(async () => {
  keys = await startApiKeysEmulator();
  backend = await startTestBackend();
  gw = await startTestGateway({ spec: spec(), keys: 'google', apikeysEndpoint: keys.url, trustedHops: 1 });
});

after(async () => {
  await gw?.close();
  await backend?.close();
  await keys?.close();
});

describe('where the key is read and what the backend gets', () => {
  test('no key: 401 with ESP text, no backend call, no lookup', async () => {
    backend.clear();
    keys.resetCounts();
    const r = await send(gw.url, '/items/1');
    assert.equal(r.status, 401);
    assert.deepEqual(r.json(), { code: 401, message: MISSING });
    assert.equal(backend.requests.length, 0);
    assert.equal(keys.counts.lookupKey, 0);
  });

  test('an empty ?key= is a missing key', async () => {
    const r = await send(gw.url, '/items/1?key=');
    assert.equal(r.status, 401);
  });

  test('a valid ?key=: 200, consumer headers set, the key forwarded unchanged', async () => {
    const key = k();
    backend.clear();
    const r = await send(gw.url, `/items/7?key=${key}&x=1`);
    assert.equal(r.status, 200, r.body);
    const seen = backend.last()!;
    assert.equal(seen.url, `/items/7?key=${key}&x=1`);
    assert.equal(seen.headers['x-endpoint-api-consumer-type'], 'PROJECT');
    assert.equal(seen.headers['x-endpoint-api-consumer-number'], '987654321');
  });

  test('?api_key= and the x-api-key header work; key beats api_key beats the header', async () => {
    const good = k();
    assert.equal((await send(gw.url, `/items/1?api_key=${good}`)).status, 200);
    assert.equal((await send(gw.url, '/items/1', { headers: { 'x-api-key': good } })).status, 200);
    assert.equal((await send(gw.url, `/items/1?api_key=AIzaBogusBogusBogusBogusBogusBogusBogus&key=${good}`)).status, 200);
    assert.equal((await send(gw.url, `/items/1?api_key=${good}&key=AIzaBogusBogusBogusBogusBogusBogusBogus`)).status, 400);
    assert.equal((await send(gw.url, `/items/1?api_key=${good}`, { headers: { 'x-api-key': 'AIzaBogusBogusBogusBogusBogusBogusBogus' } })).status, 200);
  });

  test('a custom header definition replaces the default locations', async () => {
    const key = k();
    assert.equal((await send(gw.url, '/custom', { headers: { 'x-my-key': key } })).status, 200);
    assert.equal((await send(gw.url, `/custom?key=${key}`)).status, 401);
  });

  test('an operation that allows unregistered calls never validates a key, even one that is sent', async () => {
    keys.resetCounts();
    backend.clear();
    const r = await send(gw.url, '/open?key=AIzaNotAKeyNotAKeyNotAKeyNotAKeyNotAKey');
    assert.equal(r.status, 200);
    assert.equal(keys.counts.lookupKey, 0);
    assert.equal(backend.last()!.headers['x-endpoint-api-consumer-number'], undefined);
  });

  test('caller-sent consumer headers never reach the backend', async () => {
    backend.clear();
    await send(gw.url, '/open', { headers: { 'x-endpoint-api-consumer-number': '1', 'x-endpoint-api-consumer-type': 'PROJECT' } });
    assert.equal(backend.last()!.headers['x-endpoint-api-consumer-number'], undefined);
    assert.equal(backend.last()!.headers['x-endpoint-api-consumer-type'], undefined);
  });
});

describe('key errors (reference 4.2)', () => {
  test('an unknown key: 400 API key not valid', async () => {
    backend.clear();
    const r = await send(gw.url, '/items/1?key=AIzaUnknownUnknownUnknownUnknownUnknown1');
    assert.equal(r.status, 400);
    assert.deepEqual(r.json(), { code: 400, message: INVALID });
    assert.equal(backend.requests.length, 0);
  });

  test('a deleted key: 400', async () => {
    const key = k({ deleted: true });
    const r = await send(gw.url, `/items/1?key=${key}`);
    assert.equal(r.status, 400);
    assert.deepEqual(r.json(), { code: 400, message: INVALID });
  });

  test('INVALID_ARGUMENT from lookupKey: 400', async () => {
    const key = k();
    keys.setLookupStatus(key, 400);
    assert.equal((await send(gw.url, `/items/1?key=${key}`)).status, 400);
  });

  test("PERMISSION_DENIED from the service (a key of a project this gateway may not read): 403, API not enabled", async () => {
    const key = k();
    keys.setLookupStatus(key, 403);
    backend.clear();
    const r = await send(gw.url, `/items/1?key=${key}`);
    assert.equal(r.status, 403);
    assert.deepEqual(r.json(), { code: 403, message: `PERMISSION_DENIED: API ${SERVICE} is not enabled for the project.` });
    assert.equal(backend.requests.length, 0);
  });

  test('a key restricted to another API: 403 API target blocked (two spaces, as ESP)', async () => {
    const key = k({ restrictions: { apiTargets: [{ service: 'other.googleapis.com', methods: [] }] } });
    const r = await send(gw.url, `/items/1?key=${key}`);
    assert.equal(r.status, 403);
    assert.deepEqual(r.json(), { code: 403, message: 'PERMISSION_DENIED:  The API targeted by this request is invalid for the given API key.' });
  });

  test('API target methods with wildcards are matched against the operation', async () => {
    const key = k({ restrictions: { apiTargets: [{ service: SERVICE, methods: ['get*'] }] } });
    assert.equal((await send(gw.url, `/items/1?key=${key}`)).status, 200);
    assert.equal((await send(gw.url, `/items/1?key=${key}`, { method: 'DELETE' })).status, 403);
    const full = k({ restrictions: { apiTargets: [{ service: SERVICE, methods: [`${SERVICE}.deleteItem`] }] } });
    assert.equal((await send(gw.url, `/items/1?key=${full}`, { method: 'DELETE' })).status, 200);
    assert.equal((await send(gw.url, `/items/1?key=${full}`)).status, 403);
  });

  test('server key IP restriction (CIDR, IPv4 and IPv6) from X-Forwarded-For with one trusted hop', async () => {
    const key = k({ restrictions: { serverKeyRestrictions: { allowedIps: ['10.0.0.0/8', '2001:db8::/32'] }, clientRestrictions: 'serverKeyRestrictions' } });
    const from = (xff: string) => send(gw.url, `/items/1?key=${key}`, { headers: { 'x-forwarded-for': xff } });
    assert.equal((await from('10.1.2.3')).status, 200);
    assert.equal((await from('2001:db8::7')).status, 200);
    // The caller's own XFF entries are ignored: only the one the trusted proxy appended counts.
    assert.equal((await from('10.9.9.9, 192.0.2.1')).status, 403);
    const r = await from('192.0.2.1');
    assert.equal(r.status, 403);
    assert.deepEqual(r.json(), { code: 403, message: 'PERMISSION_DENIED: IP address blocked.' });
  });

  test('browser key referrer restriction', async () => {
    const key = k({ restrictions: { browserKeyRestrictions: { allowedReferrers: ['https://*.example.com/*'] }, clientRestrictions: 'browserKeyRestrictions' } });
    assert.equal((await send(gw.url, `/items/1?key=${key}`, { headers: { referer: 'https://app.example.com/page' } })).status, 200);
    const bad = await send(gw.url, `/items/1?key=${key}`, { headers: { referer: 'https://evil.test/' } });
    assert.equal(bad.status, 403);
    assert.deepEqual(bad.json(), { code: 403, message: 'PERMISSION_DENIED: Referer blocked.' });
    assert.equal((await send(gw.url, `/items/1?key=${key}`)).status, 403);
  });

  test('Android and iOS app restrictions', async () => {
    const sha1 = 'DA:39:A3:EE:5E:6B:4B:0D:32:55:BF:EF:95:60:18:90:AF:D8:07:09';
    const android = k({
      restrictions: { androidKeyRestrictions: { allowedApplications: [{ sha1Fingerprint: sha1, packageName: 'com.example.app' }] }, clientRestrictions: 'androidKeyRestrictions' },
    });
    const ok = await send(gw.url, `/items/1?key=${android}`, { headers: { 'x-android-package': 'com.example.app', 'x-android-cert': sha1.replace(/:/g, '').toLowerCase() } });
    assert.equal(ok.status, 200, ok.body);
    const bad = await send(gw.url, `/items/1?key=${android}`, { headers: { 'x-android-package': 'com.evil.app', 'x-android-cert': sha1 } });
    assert.deepEqual(bad.json(), { code: 403, message: 'PERMISSION_DENIED: Client application blocked.' });
    const ios = k({ restrictions: { iosKeyRestrictions: { allowedBundleIds: ['com.example.ios'] }, clientRestrictions: 'iosKeyRestrictions' } });
    assert.equal((await send(gw.url, `/items/1?key=${ios}`, { headers: { 'x-ios-bundle-identifier': 'com.example.ios' } })).status, 200);
    assert.equal((await send(gw.url, `/items/1?key=${ios}`, { headers: { 'x-ios-bundle-identifier': 'com.other' } })).status, 403);
  });

  test('restrictions are checked per request against the cached key, never cached per key', async () => {
    const key = k({ restrictions: { serverKeyRestrictions: { allowedIps: ['10.0.0.1'] }, clientRestrictions: 'serverKeyRestrictions' } });
    keys.resetCounts();
    assert.equal((await send(gw.url, `/items/1?key=${key}`, { headers: { 'x-forwarded-for': '10.0.0.1' } })).status, 200);
    assert.equal((await send(gw.url, `/items/1?key=${key}`, { headers: { 'x-forwarded-for': '10.0.0.2' } })).status, 403);
    assert.equal((await send(gw.url, `/items/1?key=${key}`, { headers: { 'x-forwarded-for': '10.0.0.1' } })).status, 200);
    assert.equal(keys.counts.lookupKey, 1);
  });
});

describe('the cache', () => {
  test('25 concurrent cold requests with one key make one lookupKey and one getKey', async () => {
    const key = k();
    keys.resetCounts();
    keys.setDelayMs(100);
    try {
      const replies = await Promise.all(Array.from({ length: 25 }, () => send(gw.url, `/items/1?key=${key}`)));
      assert.deepEqual(new Set(replies.map((r) => r.status)), new Set([200]));
    } finally {
      keys.setDelayMs(0);
    }
    assert.deepEqual({ lookupKey: keys.counts.lookupKey, getKey: keys.counts.getKey }, { lookupKey: 1, getKey: 1 });
  });

  test('an invalid key is remembered: a flood of it makes one lookup', async () => {
    keys.resetCounts();
    for (let i = 0; i < 20; i++) assert.equal((await send(gw.url, '/items/1?key=AIzaFloodFloodFloodFloodFloodFloodFlood1')).status, 400);
    assert.equal(keys.counts.lookupKey, 1);
  });

  test('1,000 requests with 10 distinct keys: 10 lookupKey + 10 getKey cold, then none', async () => {
    const ten = Array.from({ length: 10 }, () => k());
    keys.resetCounts();
    for (let i = 0; i < 1000; i += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, j) => send(gw.url, `/items/1?key=${ten[(i + j) % 10]}`).then((r) => assert.equal(r.status, 200))));
    }
    assert.deepEqual({ ...keys.counts }, { lookupKey: 10, getKey: 10, other: 0 });
    keys.resetCounts();
    for (let i = 0; i < 1000; i += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, j) => send(gw.url, `/items/1?key=${ten[(i + j) % 10]}`)));
    }
    assert.deepEqual({ ...keys.counts }, { lookupKey: 0, getKey: 0, other: 0 });
  });
});

describe('refresh and outages', () => {
  // Verdicts are refreshed after 300 ms and kept through an outage for 3 s: the steps that
  // must fall inside those 3 s have seconds to spare on a loaded machine.
  const MAX_AGE_MS = 3000;
  let g2: TestGateway;
  before(async () => {
    g2 = await startTestGateway({ spec: spec(), keys: 'google', apikeysEndpoint: keys.url, keyRefreshMs: 300, keyMaxAgeMs: MAX_AGE_MS });
  });
  after(async () => {
    keys.setFailure(null);
    await g2?.close();
  });

  test('after the refresh interval the cached verdict keeps serving while a background refresh runs', async () => {
    const key = k();
    assert.equal((await send(g2.url, `/items/1?key=${key}`)).status, 200);
    keys.removeKey(key);
    await new Promise((r) => setTimeout(r, 400));
    keys.resetCounts();
    // Stale: still served, and one refresh goes out.
    assert.equal((await send(g2.url, `/items/1?key=${key}`)).status, 200);
    // The refresh finds the key gone: from then on it is refused, and that took one lookup.
    await waitFor(async () => (await send(g2.url, `/items/1?key=${key}`)).status === 400, 'the refreshed verdict');
    assert.equal(keys.counts.lookupKey, 1);
  });

  test('outage: a cached key keeps working until its maximum age; a never-seen key is refused 503', async () => {
    const known = k();
    const asked = Date.now();
    assert.equal((await send(g2.url, `/items/1?key=${known}`)).status, 200);
    keys.setFailure(503);
    await new Promise((r) => setTimeout(r, 400)); // past the refresh interval
    assert.equal((await send(g2.url, `/items/1?key=${known}`)).status, 200);
    const fresh = k();
    const r = await send(g2.url, `/items/1?key=${fresh}`);
    assert.equal(r.status, 503);
    assert.deepEqual(r.json(), { code: 503, message: 'UNAVAILABLE: One or more Google Service Control backends are unavailable.' });
    // Past the maximum age the cached verdict is no longer used, and not before.
    await waitFor(async () => (await send(g2.url, `/items/1?key=${known}`)).status === 503, 'the verdict to expire');
    assert.ok(Date.now() - asked >= MAX_AGE_MS, `refused ${Date.now() - asked} ms after the key was verified`);
    assert.ok(g2.logs.some((l) => /unavailable|outage|failed/i.test(String(l.message))), 'the outage is logged');
    keys.setFailure(null);
    assert.equal((await send(g2.url, `/items/1?key=${known}`)).status, 200);
  });

  test('--keys-fail-open admits a never-seen key during an outage', async () => {
    const g3 = await startTestGateway({ spec: spec(), keys: 'google', apikeysEndpoint: keys.url, keysFailOpen: true });
    try {
      keys.setFailure(503);
      backend.clear();
      const r = await send(g3.url, `/items/1?key=${k()}`);
      assert.equal(r.status, 200);
      assert.equal(backend.requests.length, 1);
    } finally {
      keys.setFailure(null);
      await g3.close();
    }
  });
});

describe('secrets', () => {
  test('no key string appears in any log line', () => {
    const lines = [...gw.rawLogs];
    assert.ok(lines.length > 50, `captured ${lines.length} log lines`);
    for (const key of allKeysUsed) {
      for (const line of lines) assert.ok(!line.includes(key), `a log line contains a key: ${line.slice(0, 200)}`);
    }
    assert.ok(lines.some((l) => l.includes('REDACTED')), 'access-log URLs are redacted');
  });
});
