// The article's endpoint.example.yaml end to end: a Cloud Run service
// (top-level, APPEND_PATH_TO_ADDRESS), a Cloud Function and an App Engine app
// behind IAP (operation level, CONSTANT_ADDRESS, jwt_audience = IAP client ID),
// each standing in as a loopback backend that verifies its ID token.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { createKey } from '../../src/auth/apikeys/keys-admin.ts';
import { startMetadataEmulator, type MetadataEmulator } from '../emulators/metadata-server.ts';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { send } from '../helpers/http.ts';

const IAP = '123456789012-abcdefghijklmnopqrstuvwxyz012345.apps.googleusercontent.com';
let meta: MetadataEmulator;
let run: TestBackend;
let fn: TestBackend;
let gae: TestBackend;
let gw: TestGateway;
let key: string;

before(async () => {
  meta = await startMetadataEmulator();
  process.env.GCE_METADATA_HOST = meta.host;
  process.env.METADATA_SERVER_DETECTION = 'assume-present';
  run = await startTestBackend();
  fn = await startTestBackend();
  gae = await startTestBackend();
  const spec = parse(await readFile(path.resolve(import.meta.dirname, '../../endpoint.example.yaml'), 'utf8'));
  // Each Google address becomes its loopback stand-in; paths and everything else stay as written.
  spec['x-google-backend'].address = run.url;
  spec.paths['/hello/{name}'].get['x-google-backend'].address = `${fn.url}/hello`;
  spec.paths['/appengine/hello'].get['x-google-backend'].address = `${gae.url}/hello`;
  const store = path.join(await mkdtemp(path.join(tmpdir(), 'egw-example-')), 'keys.yaml');
  ({ key } = await createKey(store, { project: '123456789012', name: 'demo', services: [spec.host] }));
  gw = await startTestGateway({ spec, keys: `file:${store}`, backendAuth: 'google' });
});

after(async () => {
  await gw?.close();
  await Promise.all([run?.close(), fn?.close(), gae?.close(), meta?.close()]);
});

describe('endpoint.example.yaml', () => {
  test('Cloud Run: the path is appended; the ID token is for the service URL', async () => {
    const r = await send(gw.url, `/hello?key=${key}`);
    assert.equal(r.status, 200, r.body);
    const seen = run.last()!;
    assert.equal(seen.url, `/hello?key=${key}`);
    assert.equal(seen.headers['x-endpoint-api-consumer-number'], '123456789012');
    await meta.verify(String(seen.headers.authorization).slice(7), run.url);
  });

  test('Cloud Function: CONSTANT_ADDRESS with the path parameter in the query; audience = the function URL', async () => {
    const r = await send(gw.url, `/hello/ada?key=${key}`);
    assert.equal(r.status, 200, r.body);
    const seen = fn.last()!;
    assert.equal(seen.url, `/hello?key=${key}&name=ada`);
    await meta.verify(String(seen.headers.authorization).slice(7), `${fn.url}/hello`);
  });

  test('App Engine behind IAP: the token audience is the IAP OAuth client ID', async () => {
    const r = await send(gw.url, `/appengine/hello?key=${key}`);
    assert.equal(r.status, 200, r.body);
    const seen = gae.last()!;
    assert.equal(seen.url, `/hello?key=${key}`);
    const claims = await meta.verify(String(seen.headers.authorization).slice(7), IAP);
    assert.equal(claims.aud, IAP);
  });

  test('no key: 401; a bad key: 400; an open operation needs none', async () => {
    assert.equal((await send(gw.url, '/hello')).status, 401);
    assert.equal((await send(gw.url, '/hello?key=AIzaSyNotAKeyNotAKeyNotAKeyNotAKey00000')).status, 400);
    assert.equal((await send(gw.url, '/status')).status, 200);
  });
});
