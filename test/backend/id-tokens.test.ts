// createGoogleIdTokenSource against the metadata-server emulator, through the REAL google-auth-library.
import { test, describe, before, after, beforeEach, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GoogleAuth, gaxios } from 'google-auth-library';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { startMetadataEmulator, type MetadataEmulator } from '../emulators/metadata-server.ts';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { createGoogleIdTokenSource, type IdTokenSource } from '../../src/backend/id-tokens.ts';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

let em: MetadataEmulator;
const sources: IdTokenSource[] = [];
let unhandled: unknown[] = [];
const onUnhandled = (r: unknown) => unhandled.push(r);

before(async () => {
  em = await startMetadataEmulator();
  process.env.GCE_METADATA_HOST = em.host;
  process.env.METADATA_SERVER_DETECTION = 'assume-present';
  process.env.GOOGLE_CLOUD_PROJECT = 'test-project';
  delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
  process.on('unhandledRejection', onUnhandled);
});

after(async () => {
  for (const s of sources) s.close();
  process.off('unhandledRejection', onUnhandled);
  await em.close();
});

beforeEach(() => {
  em.setFailing(false);
  em.setDelayMs(0);
  em.setTokenLifetimeSeconds(3600);
  unhandled = [];
});

/**
 * The test's own clock for Date (timers and I/O stay real), started on a whole second as
 * token times are: "past half of the lifetime, not yet expired" is then a moment the test
 * picks with tick(), not a sleep a loaded machine may overrun.
 */
function useTestClock(t: TestContext): void {
  t.mock.timers.enable({ apis: ['Date'], now: Math.ceil(Date.now() / 1000) * 1000 });
}

function source(opts: Parameters<typeof createGoogleIdTokenSource>[0] = {}): IdTokenSource {
  const s = createGoogleIdTokenSource({ auth: new GoogleAuth(), ...opts });
  sources.push(s);
  return s;
}

describe('createGoogleIdTokenSource (metadata server)', () => {
  test('token verifies against the JWKS and carries the requested audience', async () => {
    const aud = 'https://backend-abc123-uc.a.run.app';
    const s = source();
    const token = await s.get(aud);
    const claims = await em.verify(token, aud);
    assert.equal(claims.aud, aud);
    assert.equal(claims.iss, 'https://accounts.google.com');
    assert.equal(claims.email, 'gateway@test-project.iam.gserviceaccount.com');
    assert.equal(typeof claims.exp, 'number');
    // the library asks with format=full and an unencoded audience; the emulator read it as sent
    const req = em.requests.findLast((r) => r.audience === aud);
    assert.equal(req?.format, 'full');
    assert.equal(s.peek(aud), token);
  });

  test('an audience with a path and query arrives unencoded and is honoured', async () => {
    const aud = 'https://backend-abc123-uc.a.run.app/shelves?x=1';
    const token = await source().get(aud);
    assert.equal(decodeJwt(token).aud, aud);
  });

  test('25 concurrent cold get() calls make exactly one identity request', async () => {
    const aud = 'https://burst.example';
    em.setDelayMs(50);
    const s = source();
    const tokens = await Promise.all(Array.from({ length: 25 }, () => s.get(aud)));
    assert.equal(em.identityCount(aud), 1);
    assert.equal(new Set(tokens).size, 1);
    assert.equal(s.stats.fetches, 1);
  });

  test('second get() and peek() are served from the cache', async () => {
    const aud = 'https://cached.example';
    const s = source();
    const t1 = await s.get(aud);
    const before = em.requests.length;
    const t2 = await s.get(aud);
    for (let i = 0; i < 100; i++) assert.equal(s.peek(aud), t1);
    assert.equal(t2, t1);
    assert.equal(em.requests.length, before);
    assert.equal(s.stats.fetches, 1);
  });

  test('peek() on a cold audience returns undefined and starts one background fetch', async () => {
    const aud = 'https://peek-cold.example';
    const s = source();
    assert.equal(s.peek(aud), undefined);
    assert.equal(s.peek(aud), undefined);
    const token = await s.get(aud); // joins the in-flight fetch
    assert.equal(em.identityCount(aud), 1);
    assert.equal(s.peek(aud), token);
  });

  test('refresh ahead: peek keeps returning the old token while one background refresh runs', async (t) => {
    useTestClock(t);
    const aud = 'https://refresh.example';
    em.setTokenLifetimeSeconds(5);
    const seen: boolean[] = [];
    const s = source({ refreshAheadMs: 4000, onFetch: (_a, ok) => seen.push(ok) });
    const t1 = await s.get(aud);
    assert.equal(em.identityCount(aud), 1);
    // Not yet in the refresh window: refresh never starts before half the remaining lifetime.
    assert.equal(s.peek(aud), t1);
    await sleep(50);
    assert.equal(em.identityCount(aud), 1);

    t.mock.timers.tick(2600); // past the half-life mark (2 s) while still handed out (until 4 s)
    em.setDelayMs(100);
    for (let i = 0; i < 20; i++) assert.equal(s.peek(aud), t1);
    assert.equal(await s.get(aud), t1); // get() also serves the still-valid token
    await waitFor(() => em.identityCount(aud) === 2 && seen.length === 2);
    const t2 = s.peek(aud);
    assert.ok(t2 !== undefined && t2 !== t1);
    await em.verify(t2, aud);
    assert.equal(em.identityCount(aud), 2);
    assert.deepEqual(seen, [true, true]);
  });

  test('an expired token is not handed out; get() fetches a new one', async (t) => {
    useTestClock(t);
    const aud = 'https://expiry.example';
    em.setTokenLifetimeSeconds(3); // handed out for 2 s (1 s margin before exp)
    const s = source({ refreshAheadMs: 0 });
    const t1 = await s.get(aud);
    t.mock.timers.tick(2100);
    em.setTokenLifetimeSeconds(3600);
    assert.equal(s.peek(aud), undefined);
    const t2 = await s.get(aud);
    assert.notEqual(t2, t1);
    assert.equal(em.identityCount(aud), 2);
  });

  test('failure: get() rejects, the failure is not cached, the next call recovers', async () => {
    const aud = 'https://failing.example';
    const reports: Array<{ ok: boolean; error?: Error }> = [];
    const s = source({ onFetch: (_a, ok, _ms, error) => reports.push(error ? { ok, error } : { ok }) });
    em.setFailing(true);
    await assert.rejects(s.get(aud), (err: Error) => {
      assert.ok(err instanceof Error);
      assert.match(err.message, /failing\.example/);
      return true;
    });
    assert.equal(s.stats.failures, 1);
    assert.equal(s.peek(aud), undefined);
    assert.equal(reports.length, 1);
    assert.equal(reports[0]?.ok, false);
    assert.ok(reports[0]?.error instanceof Error);

    em.setFailing(false);
    const before = em.identityCount(aud);
    const token = await s.get(aud);
    await em.verify(token, aud);
    assert.equal(em.identityCount(aud), before + 1);
    assert.equal(s.stats.fetches, 2);
    assert.equal(s.stats.failures, 1);
    assert.equal(reports[1]?.ok, true);
    assert.deepEqual(unhandled, []);
  });

  test('a failing background refresh keeps the valid token and raises no unhandled rejection', async (t) => {
    useTestClock(t);
    const aud = 'https://bg-fail.example';
    const s = source({ refreshAheadMs: 3_600_000 }); // always in the window (from half-life on)
    em.setTokenLifetimeSeconds(6); // handed out for 5 s; refresh window opens at half of that
    const t1 = await s.get(aud);
    t.mock.timers.tick(2600);
    em.setFailing(true, 403); // not retried by gaxios, so the refresh fails while t1 is still valid
    assert.equal(s.peek(aud), t1);
    await waitFor(() => s.stats.failures === 1);
    assert.equal(s.peek(aud), t1); // still valid; and no retry storm within the back-off
    assert.equal(s.stats.fetches, 2);
    await sleep(20);
    assert.deepEqual(unhandled, []);
  });

  test('two audiences get two separate tokens', async () => {
    const a = 'https://one.example';
    const b = 'https://two.example';
    const s = source();
    const [ta, tb] = await Promise.all([s.get(a), s.get(b)]);
    assert.notEqual(ta, tb);
    assert.equal((await em.verify(ta, a)).aud, a);
    assert.equal((await em.verify(tb, b)).aud, b);
    await assert.rejects(em.verify(ta, b));
    assert.equal(em.identityCount(a), 1);
    assert.equal(em.identityCount(b), 1);
    assert.equal(s.peek(a), ta);
    assert.equal(s.peek(b), tb);
  });

  test('prefetch resolves true when all succeed and false when any fails', async () => {
    const s = source();
    assert.equal(await s.prefetch(['https://pf1.example', 'https://pf2.example', 'https://pf1.example']), true);
    assert.equal(em.identityCount('https://pf1.example'), 1);
    assert.ok(s.peek('https://pf1.example'));
    assert.ok(s.peek('https://pf2.example'));

    em.setFailing(true, 403);
    assert.equal(await s.prefetch(['https://pf1.example', 'https://pf3.example']), false);
    assert.equal(s.peek('https://pf3.example'), undefined);
    assert.deepEqual(unhandled, []);
  });

  test('the signing key rotates: old and new tokens both verify', async () => {
    const aud = 'https://rotate.example';
    const t1 = await source().get(aud);
    await em.rotateKey();
    const t2 = await source().get(aud);
    assert.notEqual(decodeProtectedHeader(t1).kid, decodeProtectedHeader(t2).kid);
    await em.verify(t1, aud);
    await em.verify(t2, aud);
    const res = await fetch(em.jwksUrl);
    const jwks = (await res.json()) as { keys: Array<{ kid: string }> };
    assert.equal(jwks.keys.length, 2);
  });

  test('close(): get() rejects and peek() returns undefined', async () => {
    const s = source();
    await s.get('https://closing.example');
    s.close();
    assert.equal(s.peek('https://closing.example'), undefined);
    await assert.rejects(s.get('https://closing.example'), /closed/);
  });

  test('a backend verifying with jose accepts the token (and rejects a wrong audience)', async () => {
    const aud = 'https://verified-backend.example';
    const good: TestBackend = await startTestBackend({ verifyIdTokensWith: { jwksUrl: em.jwksUrl, issuer: em.issuer, audience: aud } });
    const other: TestBackend = await startTestBackend({
      verifyIdTokensWith: { jwksUrl: em.jwksUrl, issuer: em.issuer, audience: 'https://someone-else.example' },
    });
    try {
      const token = await source().get(aud);
      const res = await fetch(`${good.url}/p?q=1`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: 'hi' });
      const echo = (await res.json()) as { method: string; url: string };
      assert.equal(res.status, 200);
      assert.deepEqual([echo.method, echo.url], ['POST', '/p?q=1']);
      const rec = good.last();
      assert.equal(rec?.body, 'hi');
      assert.equal(rec?.idToken?.ok, true);
      await fetch(other.url, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(other.last()?.idToken?.ok, false);
    } finally {
      await good.close();
      await other.close();
    }
  });
});

describe('createGoogleIdTokenSource (service-account key)', () => {
  test('fetches through a real JWT client; /token redirected to the emulator by a transporter interceptor', async (t) => {
    const key = await em.createServiceAccountKey('backend-caller@test-project.iam.gserviceaccount.com');
    const tx = new gaxios.Gaxios();
    const escaped: string[] = [];
    tx.interceptors.request.add({
      resolved: async (o) => {
        const u = new URL(String(o.url));
        if (u.origin === 'https://oauth2.googleapis.com') o.url = new URL(`${em.url}${u.pathname}${u.search}`);
        else if (u.hostname !== '127.0.0.1') escaped.push(String(o.url));
        return o;
      },
    });
    // The deployment path: ADC reads the key file named by GOOGLE_APPLICATION_CREDENTIALS.
    const dir = await mkdtemp(join(tmpdir(), 'idtok-'));
    const file = join(dir, 'sa.json');
    await writeFile(file, JSON.stringify(key), { mode: 0o600 });
    process.env.GOOGLE_APPLICATION_CREDENTIALS = file;
    const auth = new GoogleAuth({ clientOptions: { transporter: tx } });
    const s = source({ auth });
    t.after(async () => {
      delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
      await rm(dir, { recursive: true, force: true });
    });
    const aud = 'https://sa-backend.example';
    const tokens = await Promise.all(Array.from({ length: 10 }, () => s.get(aud)));
    assert.equal(new Set(tokens).size, 1);
    const claims = await em.verify(tokens[0]!, aud);
    assert.equal(claims.email, key.client_email);
    assert.equal(em.identityCount(aud), 1);
    assert.equal(em.requests.findLast((r) => r.audience === aud)?.path, '/token');
    assert.deepEqual(escaped, []);
  });
});
