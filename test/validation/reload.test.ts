// Validators belong to the spec they were built from: a SIGHUP after the spec file is rewritten swaps
// them with the spec, and a refused spec keeps the old ones. Mode from ENDPOINTS_VALIDATE.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { send } from '../helpers/http.ts';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { contractSpec, startContractBackend, writeSpecFile, type ContractBackend } from './fixture.ts';

describe('--validate across a reload', () => {
  let backend: ContractBackend;
  let gw: ChildGateway;
  let file: string;

  before(async () => {
    backend = await startContractBackend();
    backend.answer('GET', '/search', { status: 200, headers: { 'content-type': 'text/plain' }, body: 'found' });
    file = await writeSpecFile(contractSpec(backend.url, { searchMinLength: 2 }));
    gw = await startChildGateway(['--spec', file, '--backend-auth', 'none', '--keys', 'none', '--access-log', 'off'], {
      ENDPOINTS_VALIDATE: 'enforce',
      ENDPOINTS_CACHE_DIR: 'off',
    });
  });
  after(async () => {
    gw?.child.kill('SIGTERM');
    await gw?.exit();
    await backend?.close();
    if (file) await rm(path.dirname(file), { recursive: true, force: true });
  });

  const reloads = () => gw.logs.filter((l) => l.message === 'spec reloaded').length;
  const refusals = () => gw.logs.filter((l) => String(l.message).startsWith('spec reload refused')).length;

  test('SIGHUP with a rewritten spec swaps the validators; an invalid spec keeps the old ones', async () => {
    assert.equal((await send(gw.url, '/search?q=ab')).status, 200);
    const short = await send(gw.url, '/search?q=a');
    assert.deepEqual(short.json(), { code: 400, message: "INVALID_ARGUMENT: query parameter 'q': must NOT have fewer than 2 characters" });

    await writeFile(file, JSON.stringify(contractSpec(backend.url, { searchMinLength: 3 })));
    const n = reloads();
    gw.child.kill('SIGHUP');
    await gw.waitForLog(() => reloads() > n, 20_000);
    const now = await send(gw.url, '/search?q=ab');
    assert.equal(now.status, 400, now.body);
    assert.deepEqual(now.json(), { code: 400, message: "INVALID_ARGUMENT: query parameter 'q': must NOT have fewer than 3 characters" });
    assert.equal((await send(gw.url, '/search?q=abc')).status, 200);

    // A spec that does not validate is refused: the validators of the one still served stay.
    const broken = contractSpec(backend.url, { searchMinLength: 5 });
    (broken as { swagger: string }).swagger = '3.0';
    await writeFile(file, JSON.stringify(broken));
    const r = refusals();
    gw.child.kill('SIGHUP');
    await gw.waitForLog(() => refusals() > r, 20_000);
    assert.equal((await send(gw.url, '/search?q=abc')).status, 200);
    assert.equal((await send(gw.url, '/search?q=ab')).status, 400);
  });
});
