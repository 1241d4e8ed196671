import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createFileKeyStore, type FileKeyStore } from '../../src/auth/apikeys/file-store.ts';
import { createKey, listKeys, revokeKey, generateApiKey } from '../../src/auth/apikeys/keys-admin.ts';
import { parseKeyFile, KeyFileError } from '../../src/auth/apikeys/key-file.ts';
import { createApiKeyVerifier } from '../../src/auth/apikeys/verifier.ts';
import { hashKey, type Logger } from '../../src/auth/apikeys/key-record.ts';
import type { RequestFacts } from '../../src/auth/apikeys/restrictions.ts';
import { EspMessages, GatewayError } from '../../src/errors.ts';

const SVC = 'hello.endpoints.example.cloud.goog';
const facts = (f: Partial<RequestFacts> = {}): RequestFacts => ({
  serviceName: SVC, operationId: 'Hello', clientIp: '127.0.0.1',
  referer: undefined, androidPackage: undefined, androidCert: undefined, iosBundleId: undefined, ...f,
});
const logged: string[] = [];
const log: Logger = {
  info: (o, m) => logged.push(JSON.stringify({ o, m })),
  warn: (o, m) => logged.push(JSON.stringify({ o, m })),
  error: (o, m) => logged.push(JSON.stringify({ o, m })),
};

let dir: string;
const stores: FileKeyStore[] = [];
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'apikeys-'));
});
after(async () => {
  for (const s of stores) s.close();
  await rm(dir, { recursive: true, force: true });
});

// Only a failing check waits the whole time: sized for a starved machine.
async function until(cond: () => Promise<boolean> | boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not reached');
    await sleep(20);
  }
}
const msg = (r: unknown): string => (r instanceof GatewayError ? `${r.status} ${r.message}` : 'OK');

describe('keys admin', () => {
  test('generated keys have Google\'s format', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const k = generateApiKey();
      assert.match(k, /^AIza[A-Za-z0-9_-]{35}$/);
      seen.add(k);
    }
    assert.equal(seen.size, 200);
  });

  test('create stores only the hash, mode 0600; list shows fingerprints; bad combinations are refused', async () => {
    const path = join(dir, 'admin.yaml');
    const { key, entry } = await createKey(path, { project: '42', name: 'demo', displayName: 'Demo', services: [SVC], allowedIps: ['127.0.0.1/32'] });
    const text = await readFile(path, 'utf8');
    assert.ok(!text.includes(key));
    assert.ok(text.includes(hashKey(key)));
    assert.equal(entry.sha256, hashKey(key));
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    await createKey(path, { project: '43', allowedReferrers: ['*.example.com'] });
    const list = await listKeys(path);
    assert.deepEqual(list.map((k) => [k.name, k.project, k.fingerprint]), [
      ['demo', '42', hashKey(key).slice(0, 12)],
      [list[1]!.name, '43', list[1]!.fingerprint],
    ]);
    assert.ok(!JSON.stringify(list).includes(key));
    await assert.rejects(createKey(path, { project: '1', name: 'demo' }), /already exists/);
    await assert.rejects(createKey(path, { project: '1', allowedIps: ['1.1.1.1'], allowedReferrers: ['x'] }), /cannot be combined/);
    await assert.rejects(createKey(path, { project: '1', allowedIps: ['not-an-ip'] }), /allowedIps\[0\]/);
    assert.equal((await listKeys(path)).length, 2, 'refused creations wrote nothing');
    assert.equal(await revokeKey(path, list[1]!.fingerprint.slice(0, 10)), true);
    assert.equal(await revokeKey(path, 'nope'), false);
    assert.deepEqual((await listKeys(path)).map((k) => k.name), ['demo']);
  });

  test('validation names the entry and the field', () => {
    assert.throws(
      () => parseKeyFile('keys:\n  - name: a\n    sha256: xyz\n    restrictions: { serverKeyRestrictions: { allowedIps: [] }, colour: red }\n', 'k.yaml'),
      (e: unknown) => {
        assert.ok(e instanceof KeyFileError);
        const all = e.problems.join('\n');
        assert.match(all, /keys\[0\] \(a\)\.sha256/);
        assert.match(all, /keys\[0\] \(a\)\.project: required/);
        assert.match(all, /keys\[0\] \(a\)\.restrictions\.colour: unknown field/);
        assert.match(all, /allowedIps: must be a non-empty list/);
        return true;
      },
    );
    assert.throws(() => parseKeyFile('{"keys": 3}', 'k.json'), /"keys" list/);
  });
});

describe('embedded store', () => {
  test('verifies keys by hash, applies restrictions, follows revocation and edits', async () => {
    const path = join(dir, 'keys.yaml');
    const { key } = await createKey(path, { project: '42', name: 'demo', services: [SVC], allowedIps: ['127.0.0.1/32'] });
    const { key: other } = await createKey(path, { project: '7', name: 'other' });
    const store = await createFileKeyStore(path, { log });
    stores.push(store);
    const v = createApiKeyVerifier(store, { log });
    const r = await v.verify(key, facts());
    assert.ok(!(r instanceof GatewayError));
    assert.equal(r.project, '42');
    assert.equal(r.name, 'demo');
    assert.equal(msg(await v.verify(key, facts({ clientIp: '10.0.0.1' }))), `403 ${EspMessages.ipBlocked}`);
    assert.equal(msg(await v.verify(key, facts({ serviceName: 'x' }))), `403 ${EspMessages.apiTargetBlocked}`);
    assert.equal(msg(await v.verify(generateApiKey(), facts())), `400 ${EspMessages.apiKeyInvalid}`);
    assert.equal(msg(await v.verify(other, facts())), 'OK');

    // Revoke through the admin command: the watcher reloads and the verifier forgets its cache.
    assert.equal(await revokeKey(path, 'demo'), true);
    await until(async () => msg(await v.verify(key, facts())) === `400 ${EspMessages.apiKeyInvalid}`);
    assert.equal(msg(await v.verify(other, facts())), 'OK');
    assert.equal(store.size, 1);

    // A broken file keeps the last good keys, and says why.
    logged.length = 0;
    await writeFile(path, 'keys:\n  - sha256: 123\n');
    await store.reload();
    assert.equal(msg(await v.verify(other, facts())), 'OK');
    assert.ok(logged.some((l) => l.includes('keeping the last good keys') && l.includes('sha256')));
    await writeFile(path, 'keys: [ unclosed\n');
    await store.reload();
    assert.equal(store.size, 1);
    assert.equal(msg(await v.verify(other, facts())), 'OK');

    // A hand-written entry (JSON-style restrictions, numeric project) is picked up by the watcher.
    const third = generateApiKey();
    await writeFile(path, `keys:\n  - sha256: ${hashKey(third).toUpperCase()}\n    project: 99\n    name: hand\n`);
    await until(() => store.size === 1 && logged.some((l) => l.includes('key store reloaded')));
    await until(async () => msg(await v.verify(third, facts())) === 'OK');
    assert.equal(msg(await v.verify(other, facts())), `400 ${EspMessages.apiKeyInvalid}`);
    for (const k of [key, other, third]) for (const l of logged) assert.ok(!l.includes(k));
  });

  test('JSON store files, and a broken file at start-up is an error', async () => {
    const path = join(dir, 'keys.json');
    const { key } = await createKey(path, { project: '5', name: 'j', allowedReferrers: ['https://*.example.com/*'] });
    assert.equal(JSON.parse(await readFile(path, 'utf8')).keys[0].sha256, hashKey(key));
    const store = await createFileKeyStore(path, { watch: false });
    stores.push(store);
    const v = createApiKeyVerifier(store);
    assert.equal(msg(await v.verify(key, facts({ referer: 'https://a.example.com/' }))), 'OK');
    assert.equal(msg(await v.verify(key, facts())), `403 ${EspMessages.refererBlocked}`);
    const broken = join(dir, 'broken.yaml');
    await writeFile(broken, 'keys:\n  - project: 1\n');
    await assert.rejects(createFileKeyStore(broken, { watch: false }), KeyFileError);
    await assert.rejects(createFileKeyStore(join(dir, 'missing.yaml'), { watch: false }), /ENOENT/);
  });
});
