// The real google-auth-library client (REST, plain http, no credentials) against the wire-level emulator.
process.env.METADATA_SERVER_DETECTION = 'none';
process.env.GOOGLE_CLOUD_PROJECT = 'test-project';
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startApiKeysEmulator, type ApiKeysEmulator } from '../emulators/apikeys-server.ts';
import { createGoogleKeyStore } from '../../src/auth/apikeys/google-store.ts';
import { createApiKeyVerifier, type ApiKeyVerifier, type ApiKeyVerifierOptions } from '../../src/auth/apikeys/verifier.ts';
import { generateApiKey } from '../../src/auth/apikeys/keys-admin.ts';
import type { Logger } from '../../src/auth/apikeys/key-record.ts';
import type { RequestFacts } from '../../src/auth/apikeys/restrictions.ts';
import { EspMessages, GatewayError } from '../../src/errors.ts';
import { waitFor } from '../helpers/wait.ts';

const SVC = 'hello.endpoints.example.cloud.goog';
const facts = (f: Partial<RequestFacts> = {}): RequestFacts => ({
  serviceName: SVC, operationId: 'GetPet', clientIp: '10.1.2.3',
  referer: undefined, androidPackage: undefined, androidCert: undefined, iosBundleId: undefined, ...f,
});

// Everything logged by every verifier/store in this file; checked for key strings at the end.
const logged: string[] = [];
const captureLog: Logger = {
  info: (o, m) => logged.push(JSON.stringify({ o, m })),
  warn: (o, m) => logged.push(JSON.stringify({ o, m })),
  error: (o, m) => logged.push(JSON.stringify({ o, m })),
};
const usedKeys: string[] = [];
function newKey(): string {
  const k = generateApiKey();
  usedKeys.push(k);
  return k;
}

let emu: ApiKeysEmulator;
const verifiers: ApiKeyVerifier[] = [];
function verifier(opts: ApiKeyVerifierOptions = {}): ApiKeyVerifier {
  const v = createApiKeyVerifier(createGoogleKeyStore({ endpoint: emu.url, timeoutMs: 1000, log: captureLog }), { log: captureLog, ...opts });
  verifiers.push(v);
  return v;
}
async function message(v: ApiKeyVerifier, key: string, f: Partial<RequestFacts> = {}): Promise<string> {
  const r = await v.verify(key, facts(f));
  return r instanceof GatewayError ? `${r.status} ${r.message}` : `OK ${r.project}`;
}

before(async () => {
  emu = await startApiKeysEmulator();
});
after(async () => {
  for (const v of verifiers) v.close();
  await emu.close();
});

describe('verification through the API Keys service', () => {
  test('an unrestricted key: project from lookupKey, record fields', async () => {
    const key = newKey();
    const name = emu.addKey({ keyString: key, project: '987654321', displayName: 'Demo' });
    const r = await verifier().verify(key, facts());
    assert.ok(!(r instanceof GatewayError));
    assert.equal(r.project, '987654321');
    assert.equal(r.name, name);
    assert.equal(r.displayName, 'Demo');
    assert.equal(r.restrictions, null);
    assert.match(r.fingerprint, /^[0-9a-f]{12}$/);
    assert.equal(r.keyHash.length, 64);
  });

  test('every restriction type, with ESP statuses and messages', async () => {
    const v = verifier();
    const server = newKey();
    emu.addKey({ keyString: server, restrictions: { apiTargets: [{ service: SVC, methods: ['Get*'] }], serverKeyRestrictions: { allowedIps: ['10.0.0.0/8', '2001:db8::/32'] } } });
    assert.equal(await message(v, server), 'OK 123456789');
    assert.equal(await message(v, server, { clientIp: '2001:db8::5' }), 'OK 123456789');
    assert.equal(await message(v, server, { clientIp: '11.0.0.1' }), `403 ${EspMessages.ipBlocked}`);
    assert.equal(await message(v, server, { operationId: 'ListPets' }), `403 ${EspMessages.apiTargetBlocked}`);
    assert.equal(await message(v, server, { serviceName: 'other.example.com' }), `403 ${EspMessages.apiTargetBlocked}`);

    const browser = newKey();
    emu.addKey({ keyString: browser, restrictions: { browserKeyRestrictions: { allowedReferrers: ['https://*.example.com/*'] } } });
    assert.equal(await message(v, browser, { referer: 'https://app.example.com/x' }), 'OK 123456789');
    assert.equal(await message(v, browser, { referer: 'https://evil.test/' }), `403 ${EspMessages.refererBlocked}`);
    assert.equal(await message(v, browser), `403 ${EspMessages.refererBlocked}`);

    const android = newKey();
    emu.addKey({ keyString: android, restrictions: { androidKeyRestrictions: { allowedApplications: [{ packageName: 'com.ex', sha1Fingerprint: 'AB'.repeat(20) }] } } });
    assert.equal(await message(v, android, { androidPackage: 'com.ex', androidCert: 'ab:'.repeat(19) + 'ab' }), 'OK 123456789');
    assert.equal(await message(v, android, { androidPackage: 'com.other', androidCert: 'AB'.repeat(20) }), `403 ${EspMessages.clientAppBlocked}`);

    const ios = newKey();
    emu.addKey({ keyString: ios, restrictions: { iosKeyRestrictions: { allowedBundleIds: ['com.ex.ios'] } } });
    assert.equal(await message(v, ios, { iosBundleId: 'com.ex.ios' }), 'OK 123456789');
    assert.equal(await message(v, ios, { iosBundleId: 'com.ex.other' }), `403 ${EspMessages.clientAppBlocked}`);
    // Restrictions are evaluated per request against one cached lookup per key.
    assert.equal(v.stats.upstreamCalls, 4);
  });

  test('invalid keys: unknown, deleted, purged, INVALID_ARGUMENT, malformed', async () => {
    const v = verifier();
    const invalid = `400 ${EspMessages.apiKeyInvalid}`;
    assert.equal(await message(v, newKey()), invalid);
    const deleted = newKey();
    emu.addKey({ keyString: deleted, deleted: true });
    assert.equal(await message(v, deleted), invalid);
    const purged = newKey();
    emu.addKey({ keyString: purged });
    emu.removeKey(purged);
    assert.equal(await message(v, purged), invalid);
    const bad = newKey();
    emu.setLookupStatus(bad, 400);
    assert.equal(await message(v, bad), invalid);
    const before = emu.counts.lookupKey;
    assert.equal(await message(v, 'not a key!'), invalid);
    assert.equal(await message(v, ''), invalid);
    assert.equal(emu.counts.lookupKey, before, 'malformed keys are refused without a lookup');
    assert.equal(v.stats.malformed, 2);
  });

  test('a lookupKey answer that names no key resource is never put in a getKey URL: 503, no getKey', async () => {
    const v = verifier();
    const before = { ...emu.counts };
    const ids = ['../../../v2/keys:lookupKey', 'k?keyString=x', 'k#frag', 'k%2F..'];
    for (const id of ids) {
      const key = newKey();
      emu.addKey({ keyString: key, id });
      assert.match(await message(v, key), /^503 /, id);
    }
    assert.deepEqual(emu.counts, { ...before, lookupKey: before.lookupKey + ids.length }, 'one lookupKey per key, nothing else');
  });
});

describe('keys the service will not show us', () => {
  test('PERMISSION_DENIED from lookupKey: 403 "API ... is not enabled for the project", remembered like an invalid key', async () => {
    const v = verifier();
    const denied = newKey();
    emu.setLookupStatus(denied, 403);
    const expected = `403 ${EspMessages.serviceNotActivated('svc.example.com')}`;
    const before = emu.counts.lookupKey;
    assert.equal(await message(v, denied, { serviceName: 'svc.example.com' }), expected);
    assert.equal(await message(v, denied, { serviceName: 'svc.example.com' }), expected);
    assert.equal(emu.counts.lookupKey - before, 1, 'negative-cached');
  });
});

describe('cache', () => {
  test('a burst of 25 cold requests for one key makes one upstream call', async () => {
    const key = newKey();
    emu.addKey({ keyString: key });
    emu.setDelayMs(50);
    emu.resetCounts();
    const v = verifier();
    try {
      const results = await Promise.all(Array.from({ length: 25 }, () => v.verify(key, facts())));
      assert.ok(results.every((r) => !(r instanceof GatewayError)));
    } finally {
      emu.setDelayMs(0);
    }
    assert.equal(emu.counts.lookupKey, 1);
    assert.equal(emu.counts.getKey, 1);
    assert.equal(v.stats.upstreamCalls, 1);
    assert.equal(v.stats.misses, 25);
    await v.verify(key, facts());
    assert.equal(v.stats.hits, 1);
    assert.equal(emu.counts.lookupKey, 1);
  });

  test('invalid keys are remembered for the negative TTL, then looked up again', async () => {
    // Long enough that the second call falls inside it on a loaded machine.
    const v = verifier({ negativeTtlMs: 1000 });
    const key = newKey();
    emu.resetCounts();
    assert.match(await message(v, key), /^400 /);
    assert.match(await message(v, key), /^400 /);
    assert.equal(emu.counts.lookupKey, 1);
    assert.equal(v.stats.negativeHits, 1);
    // The key is created meanwhile; after the TTL the next request waits for a fresh answer.
    emu.addKey({ keyString: key });
    await sleep(1100);
    assert.equal(await message(v, key), 'OK 123456789');
    assert.equal(emu.counts.lookupKey, 2);
  });

  test('refresh-ahead: after the refresh interval the cached verdict serves while one background refresh runs', async () => {
    // A store that waits for the held answer as long as the test holds it (no timeout meanwhile).
    const v = createApiKeyVerifier(createGoogleKeyStore({ endpoint: emu.url, timeoutMs: 60_000, log: captureLog }), { log: captureLog, refreshMs: 100 });
    verifiers.push(v);
    const key = newKey();
    emu.addKey({ keyString: key });
    assert.equal(await message(v, key, { clientIp: '11.0.0.1' }), 'OK 123456789');
    // The key gains an IP restriction upstream.
    emu.addKey({ keyString: key, restrictions: { serverKeyRestrictions: { allowedIps: ['10.0.0.0/8'] } } });
    emu.resetCounts();
    await sleep(150); // past the refresh interval
    // The service holds its answers: what is answered meanwhile did not wait for the refresh.
    const release = emu.hold();
    try {
      assert.equal(await message(v, key, { clientIp: '11.0.0.1' }), 'OK 123456789', 'stale verdict served');
      assert.equal(v.stats.staleServes, 1);
      await Promise.all([message(v, key), message(v, key)]); // more stale serves, no second refresh
      await waitFor(() => emu.counts.lookupKey === 1, 'the background refresh to reach the service');
    } finally {
      release();
    }
    await waitFor(async () => (await message(v, key, { clientIp: '11.0.0.1' })) === `403 ${EspMessages.ipBlocked}`, 'the refreshed record in use');
    assert.equal(emu.counts.lookupKey, 1);
  });

  test('outage, fail-closed: cached keys keep working until their max age; a never-seen key gets 503', async () => {
    // The steps that must fall inside the maximum age have seconds to spare on a loaded machine.
    const MAX_AGE_MS = 3000;
    const v = verifier({ refreshMs: 50, maxAgeMs: MAX_AGE_MS, negativeTtlMs: 50 });
    const known = newKey();
    emu.addKey({ keyString: known });
    const bad = newKey();
    const asked = Date.now();
    assert.equal(await message(v, known), 'OK 123456789');
    assert.match(await message(v, bad), /^400 /);
    emu.setFailure(503);
    try {
      await sleep(80);
      assert.equal(await message(v, known), 'OK 123456789');
      await sleep(30);
      assert.equal(await message(v, known), 'OK 123456789', 'still served after the failed refresh');
      assert.match(await message(v, bad), /^400 /, 'a known-invalid key stays invalid during the outage');
      const unseen = newKey();
      emu.addKey({ keyString: unseen });
      assert.equal(await message(v, unseen), `503 ${EspMessages.keysUnavailable}`);
      assert.equal(v.stats.failClosed, 1);
      emu.setFailure('reset');
      // Past the maximum age the cached verdict is no longer served, and not before.
      await waitFor(async () => (await message(v, known)) === `503 ${EspMessages.keysUnavailable}`, 'the verdict to pass its maximum age');
      assert.ok(Date.now() - asked >= MAX_AGE_MS, `refused ${Date.now() - asked} ms after the key was verified`);
      assert.ok(v.stats.upstreamErrors >= 2);
      assert.ok(v.stats.staleServes >= 2);
    } finally {
      emu.setFailure(null);
    }
    assert.equal(await message(v, known), 'OK 123456789', 'recovers when the service is back');
  });

  test('outage, fail-open: a never-seen key is admitted unverified with project ""', async () => {
    const v = verifier({ failOpen: true });
    emu.setFailure(503);
    try {
      const key = newKey();
      const r = await v.verify(key, facts());
      assert.ok(!(r instanceof GatewayError));
      assert.equal(r.project, '');
      assert.equal(r.restrictions, null);
      assert.equal(v.stats.failOpen, 1);
    } finally {
      emu.setFailure(null);
    }
  });

  test('outage by timeout: the request gets 503 within the per-call timeout', async () => {
    const v = createApiKeyVerifier(createGoogleKeyStore({ endpoint: emu.url, timeoutMs: 200, log: captureLog }), { log: captureLog });
    verifiers.push(v);
    emu.setDelayMs(5000);
    try {
      const t0 = performance.now();
      assert.equal(await message(v, newKey()), `503 ${EspMessages.keysUnavailable}`);
      // Cut by the 200 ms timeout, well before the service's answer at 5 s.
      assert.ok(performance.now() - t0 < 4000, `answered after ${(performance.now() - t0).toFixed(0)} ms`);
    } finally {
      emu.setDelayMs(0);
    }
  });
});

test('no key string ever appears in what was logged', () => {
  assert.ok(logged.length >= 5, 'the outage tests logged something');
  assert.ok(logged.some((l) => l.includes('<redacted>')), 'library messages quoting the URL were redacted');
  for (const k of usedKeys) for (const line of logged) assert.ok(!line.includes(k), `key leaked in log line ${line}`);
});
