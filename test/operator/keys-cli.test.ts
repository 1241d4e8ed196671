// keys create as an operator uses it: a new folder, the project number, app and method restrictions.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { startChildGateway } from '../helpers/child-gateway.ts';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { send } from '../helpers/http.ts';
import { runCli } from '../helpers/cli.ts';

const SERVICE = 'keyscli.endpoints.p.cloud.goog';
const SHA1 = 'DA:39:A3:EE:5E:6B:4B:0D:32:55:BF:EF:95:60:18:90:AF:D8:07:09';
let dir: string;
let backend: TestBackend;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'egw-operator-keys-'));
  backend = await startTestBackend();
});
after(async () => {
  await backend?.close();
  await rm(dir, { recursive: true, force: true });
});

const keys = (...args: string[]) => runCli(['keys', ...args]);
const entries = async (store: string) => (parse(await readFile(store, 'utf8')) as { keys: Record<string, unknown>[] }).keys;

describe('keys create', () => {
  test('into a folder that does not exist: the folder is made, private (0700)', async () => {
    const store = path.join(dir, 'new', 'deeper', 'keys.yaml');
    const r = await keys('create', '--store', store, '--project', '123456789012');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.trim(), /^AIza[\w-]{35}$/);
    assert.equal((await stat(path.join(dir, 'new'))).mode & 0o777, 0o700);
    assert.equal((await stat(path.join(dir, 'new', 'deeper'))).mode & 0o777, 0o700);
    assert.equal((await stat(store)).mode & 0o777, 0o600);
  });

  test('--project is the number; an id there is refused with how to find the number; --project-id records the id', async () => {
    const store = path.join(dir, 'projects.yaml');
    const bad = await keys('create', '--store', store, '--project', 'my-project-id');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--project takes the consumer project NUMBER .*X-Endpoint-API-Consumer-Number/);
    assert.match(bad.stderr, /gcloud projects describe my-project-id --format='value\(projectNumber\)'/);
    assert.match(bad.stderr, /--project-id ID/);
    assert.equal(bad.stdout, '');
    const good = await keys('create', '--store', store, '--project', '123456789012', '--project-id', 'my-project-id', '--name', 'labelled');
    assert.equal(good.code, 0, good.stderr);
    const [e] = await entries(store);
    assert.equal(e!.project, '123456789012');
    assert.equal(e!.projectId, 'my-project-id');
    const list = await keys('list', '--store', store);
    assert.match(list.stdout, /labelled\tproject=123456789012 \(my-project-id\)/);
  });

  test('--android-app, --ios-bundle-id and --service NAME:METHODS land in the API Keys shapes', async () => {
    const store = path.join(dir, 'apps.yaml');
    assert.equal((await keys('create', '--store', store, '--project', '1', '--name', 'android', '--android-app', `com.example.app:${SHA1}`)).code, 0);
    assert.equal((await keys('create', '--store', store, '--project', '1', '--name', 'ios', '--ios-bundle-id', 'com.example.ios', '--ios-bundle-id', 'com.example.ios2')).code, 0);
    assert.equal((await keys('create', '--store', store, '--project', '1', '--name', 'methods', '--service', `${SERVICE}:getA,list*`, '--service', 'other.example.com')).code, 0);
    const [android, ios, methods] = await entries(store);
    assert.deepEqual(android!.restrictions, { androidKeyRestrictions: { allowedApplications: [{ packageName: 'com.example.app', sha1Fingerprint: SHA1 }] } });
    assert.deepEqual(ios!.restrictions, { iosKeyRestrictions: { allowedBundleIds: ['com.example.ios', 'com.example.ios2'] } });
    assert.deepEqual(methods!.restrictions, { apiTargets: [{ service: SERVICE, methods: ['getA', 'list*'] }, { service: 'other.example.com', methods: [] }] });

    const bad = await keys('create', '--store', store, '--project', '1', '--android-app', 'com.example.app');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--android-app "com.example.app": expected PACKAGE:SHA1/);
    const two = await keys('create', '--store', store, '--project', '1', '--ios-bundle-id', 'x', '--allowed-ip', '10.0.0.0/8');
    assert.equal(two.code, 1);
    assert.match(two.stderr, /one application restriction: --allowed-ip and --ios-bundle-id cannot be combined/);
    assert.equal((await entries(store)).length, 3, 'refused commands wrote nothing');
  });

  test('the gateway enforces what was created: methods, Android app, iOS bundle', async () => {
    const store = path.join(dir, 'enforced.yaml');
    const create = async (...args: string[]) => {
      const r = await keys('create', '--store', store, '--project', '7', ...args);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim();
    };
    const methodsKey = await create('--name', 'm', '--service', `${SERVICE}:getA`);
    const androidKey = await create('--name', 'a', '--android-app', `com.example.app:${SHA1}`);
    const iosKey = await create('--name', 'i', '--ios-bundle-id', 'com.example.ios');
    const spec = path.join(dir, 'enforced-spec.yaml');
    const ok = { 200: { description: 'ok' } };
    await writeFile(
      spec,
      stringify({
        swagger: '2.0',
        info: { title: 'k', version: '1' },
        host: SERVICE,
        'x-google-backend': { address: backend.url },
        securityDefinitions: { api_key: { type: 'apiKey', name: 'key', in: 'query' } },
        security: [{ api_key: [] }],
        paths: { '/a': { get: { operationId: 'getA', responses: ok } }, '/b': { get: { operationId: 'getB', responses: ok } } },
      }),
    );
    const gw = await startChildGateway(['--spec', spec, '--keys', `file:${store}`, '--backend-auth', 'none']);
    try {
      assert.equal((await send(gw.url, `/a?key=${methodsKey}`)).status, 200);
      assert.equal((await send(gw.url, `/b?key=${methodsKey}`)).status, 403);
      assert.equal((await send(gw.url, `/a?key=${androidKey}`, { headers: { 'x-android-package': 'com.example.app', 'x-android-cert': SHA1.replaceAll(':', '').toLowerCase() } })).status, 200);
      assert.equal((await send(gw.url, `/a?key=${androidKey}`, { headers: { 'x-android-package': 'com.example.other', 'x-android-cert': SHA1.replaceAll(':', '') } })).status, 403);
      assert.equal((await send(gw.url, `/a?key=${iosKey}`, { headers: { 'x-ios-bundle-identifier': 'com.example.ios' } })).status, 200);
      assert.equal((await send(gw.url, `/a?key=${iosKey}`)).status, 403);
    } finally {
      gw.child.kill('SIGTERM');
      await gw.exit();
    }
  });
});
