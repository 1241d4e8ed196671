// Off Google Cloud with the default --backend-auth google: said once, in JSON, with the local choice.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { startChildGateway } from '../helpers/child-gateway.ts';
import { send } from '../helpers/http.ts';
import { jsonLines } from '../helpers/cli.ts';
import { warmRetryDelay } from '../../src/backend/id-token-reporting.ts';

let dir: string;
let spec: string;
let metadata: Server;
let metadataHits = 0;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'egw-operator-adc-'));
  spec = path.join(dir, 'endpoint.yaml');
  await writeFile(
    spec,
    stringify({
      swagger: '2.0',
      info: { title: 'adc', version: '1' },
      host: 'adc.endpoints.p.cloud.goog',
      paths: {
        '/a': { get: { operationId: 'a', 'x-google-backend': { address: 'https://a.example.com' }, responses: { 200: { description: 'ok' } } } },
        '/b': { get: { operationId: 'b', 'x-google-backend': { address: 'https://b.example.com' }, responses: { 200: { description: 'ok' } } } },
      },
    }),
  );
  // Something answering where the metadata server would be, but not as one: google-auth-library's
  // probe then emits a MetadataLookupWarning (a plain-text line on stderr unless intercepted).
  metadata = createServer((_req, res) => {
    metadataHits++;
    res.writeHead(500, { 'content-type': 'text/plain' });
    res.end('not a metadata server');
  }).listen(0, '127.0.0.1');
  await once(metadata, 'listening');
});
after(async () => {
  await new Promise((r) => metadata.close(r));
  await rm(dir, { recursive: true, force: true });
});

describe('--backend-auth google without any Google credentials', () => {
  test('one JSON line says so and names --backend-auth none; nothing repeats; every stdout and stderr line is JSON', async () => {
    const gw = await startChildGateway(['--spec', spec, '--keys', 'none'], {
      METADATA_SERVER_DETECTION: '',
      GCE_METADATA_HOST: `127.0.0.1:${(metadata.address() as AddressInfo).port}`,
      GOOGLE_APPLICATION_CREDENTIALS: '',
      HOME: dir,
      CLOUDSDK_CONFIG: path.join(dir, 'gcloud'),
    });
    try {
      const said = await gw.waitForLog((l) => String(l.message).startsWith('no Google credentials found'));
      assert.equal(said.severity, 'ERROR');
      assert.match(String(said.message), /--backend-auth none/);
      // Requests meanwhile: ESP's 500 for the missing token, and still no second line.
      const r = await send(gw.url, '/a');
      assert.equal(r.status, 500);
      assert.deepEqual(r.json(), { code: 500, message: 'Token not found for audience: https://a.example.com' });
      assert.equal((await send(gw.url, '/readyz')).status, 503);
      await new Promise((res) => setTimeout(res, 4500)); // past the first retries (2 s, 4 s)
      assert.equal((await send(gw.url, '/b')).status, 500);
      await new Promise((res) => setTimeout(res, 300));
      assert.equal(gw.logs.filter((l) => String(l.message).startsWith('no Google credentials found')).length, 1);
      assert.equal(gw.logs.filter((l) => /could not get a backend ID token/.test(String(l.message))).length, 0);
      assert.ok(metadataHits > 0, 'the metadata probe ran');
      const warning = gw.logs.find((l) => l.warning === 'MetadataLookupWarning');
      assert.ok(warning, 'the MetadataLookupWarning came out as a JSON log line');
      assert.equal(warning.severity, 'WARNING');
    } finally {
      gw.child.kill('SIGTERM');
      await gw.exit();
    }
    // stdout lines were all parsed as JSON by the helper; stderr holds nothing that is not JSON.
    jsonLines(gw.stderr());
    assert.doesNotMatch(gw.stderr(), /MetadataLookupWarning|\(node:\d+\)/);
  });

  test('start-up token retries back off: 2 s, doubling, at most a minute', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 10].map(warmRetryDelay), [2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]);
  });
});
