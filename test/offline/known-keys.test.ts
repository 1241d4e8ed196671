// `keys create --key VALUE` and `keys import` through the CLI: a CI fixture's known keys are
// stored as hashes only, refused when weak, empty or already there, and accepted by a running
// gateway (which picks up the changed store without a restart).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { keyedSpec } from '../helpers/specs.ts';
import { send } from '../helpers/http.ts';
import { runCli, stopChild } from './offline-env.ts';

const CREATED = 'ci-created-key-1b2c3d4e5f6a7b8c';
const IMPORTED = ['ci-imported-key-0a1b2c3d4e5f', 'ci-imported-key-9f8e7d6c5b4a', 'AIzaSyCiFixtureKey0123456789abcdefghij'];

let dir: string;
let store: string;
let backend: TestBackend;
let gw: ChildGateway;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'egw-knownkeys-'));
  store = path.join(dir, 'keys.yaml');
  backend = await startTestBackend();
  await writeFile(path.join(dir, 'endpoint.yaml'), stringify({ ...keyedSpec('known', backend.url), paths: { '/a': { get: { operationId: 'a', responses: { '200': { description: 'ok' } } } } } }));
});

after(async () => {
  if (gw) await stopChild(gw);
  await backend?.close();
  await rm(dir, { recursive: true, force: true });
});

const keys = (...args: string[]) => runCli(['keys', ...args]);

describe('keys create --key and keys import', () => {
  test('create --key stores only the hash and does not echo the key', async () => {
    const r = await keys('create', '--store', store, '--project', '1001', '--key', CREATED, '--name', 'ci-created');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /created ci-created for project 1001 from the given key/);
    assert.doesNotMatch(r.stderr, new RegExp(CREATED));
    const text = await readFile(store, 'utf8');
    assert.doesNotMatch(text, new RegExp(CREATED));
    assert.match(text, /sha256: [0-9a-f]{64}/);
  });

  test('the gateway accepts the created key', async () => {
    gw = await startChildGateway(['--spec', path.join(dir, 'endpoint.yaml'), '--backend-auth', 'none', '--keys', `file:${store}`]);
    const ok = await send(gw.url, `/a?key=${CREATED}`);
    assert.equal(ok.status, 200, ok.body);
    assert.equal(backend.last()!.headers['x-endpoint-api-consumer-number'], '1001');
    assert.equal((await send(gw.url, `/a?key=${CREATED}x`)).status, 400);
  });

  test('weak, empty and duplicate values are refused with a clear message, and nothing is written', async () => {
    const before = await readFile(store, 'utf8');
    const cases: [string, RegExp][] = [
      ['', /--key is empty/],
      ['short-key', /--key is too short \(9 characters, at least 16\)/],
      ['aaaaaaaaaaaaaaaaaaaaaaaa', /--key is too weak \(fewer than 6 different characters\)/],
      ['has space in the key value', /--key has characters a key cannot have/],
      [CREATED, /this key value is already in the store \(as "ci-created"\)/],
    ];
    for (const [value, message] of cases) {
      const r = await keys('create', '--store', store, '--project', '1001', '--key', value);
      assert.equal(r.code, 1, value);
      assert.match(r.stderr, message);
      if (value !== '') assert.ok(!r.stderr.includes(value), `the value is repeated: ${r.stderr}`);
    }
    assert.equal(await readFile(store, 'utf8'), before);
  });

  test('ENDPOINTS_KEY_VALUE gives the value without putting it on the command line', async () => {
    const envStore = path.join(dir, 'env-keys.json');
    const r = await runCli(['keys', 'create', '--store', envStore, '--project', '5'], { env: { ENDPOINTS_KEY_VALUE: 'ci-env-key-value-6e5d4c3b2a' } });
    assert.equal(r.code, 0, r.stderr);
    const json = JSON.parse(await readFile(envStore, 'utf8')) as { keys: { sha256: string }[] };
    assert.equal(json.keys.length, 1);
    assert.doesNotMatch(JSON.stringify(json), /ci-env-key-value/);
  });

  test('import from a file: one key per line, # comments; all hashed, listed by name and fingerprint', async () => {
    const file = path.join(dir, 'fixture-keys.txt');
    await writeFile(file, `# CI fixture keys\n${IMPORTED[0]}\n\n  ${IMPORTED[1]}   # the second one\n`);
    const r = await keys('import', '--store', store, '--project', '2002', '--file', file);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 2);
    for (const l of lines) assert.match(l, /^key-[0-9a-f]{12}\tproject=2002\tfingerprint=[0-9a-f]{12}$/);
    const text = await readFile(store, 'utf8');
    for (const k of IMPORTED.slice(0, 2)) assert.ok(!text.includes(k), 'raw key in the store');
  });

  test('import from stdin (-)', async () => {
    const r = await runCli(['keys', 'import', '--store', store, '--project', '3003', '--name', 'ci-stdin', '-'], { stdin: `${IMPORTED[2]}\n` });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ci-stdin\tproject=3003\t/);
    assert.ok(!(await readFile(store, 'utf8')).includes(IMPORTED[2]!));
  });

  test('the running gateway accepts the imported keys, each as its project', async () => {
    const projects = ['2002', '2002', '3003'];
    for (const [i, k] of IMPORTED.entries()) {
      let r = await send(gw.url, `/a?key=${k}`);
      // The store is re-read on change (file events, or the 10 s poll); allow it a moment
      // (a deadline only a failing test reaches).
      const end = Date.now() + 40_000;
      while (r.status !== 200 && Date.now() < end) {
        await new Promise((res) => setTimeout(res, 200));
        r = await send(gw.url, `/a?key=${k}`);
      }
      assert.equal(r.status, 200, `${k}: ${r.body}`);
      assert.equal(backend.last()!.headers['x-endpoint-api-consumer-number'], projects[i]);
    }
  });

  test('import is all or nothing: every bad line is reported by number, never by value', async () => {
    const before = await readFile(store, 'utf8');
    const input = ['ci-new-good-key-5a6b7c8d9e', 'tiny', IMPORTED[0], 'ci-new-good-key-5a6b7c8d9e', 'zzzzzzzzzzzzzzzzzzzz'].join('\n');
    const r = await runCli(['keys', 'import', '--store', store, '--project', '4004', '-'], { stdin: input });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /nothing imported, 4 problem\(s\)/);
    assert.match(r.stderr, /line 2: the key is too short/);
    assert.match(r.stderr, /line 3: this key is already in the store \(as "key-[0-9a-f]{12}"\)/);
    assert.match(r.stderr, /line 4: the same key as line 1/);
    assert.match(r.stderr, /line 5: the key is too weak/);
    for (const v of ['ci-new-good-key', 'tiny', IMPORTED[0]!, 'zzzz']) assert.ok(!r.stderr.includes(v), `${v} echoed`);
    assert.equal(await readFile(store, 'utf8'), before);
  });

  test('import needs exactly one source and at least one key', async () => {
    const none = await keys('import', '--store', store, '--project', '1');
    assert.equal(none.code, 1);
    assert.match(none.stderr, /keys import reads one source: --file FILE, or '-' for stdin/);
    const empty = await runCli(['keys', 'import', '--store', store, '--project', '1', '-'], { stdin: '# nothing here\n\n' });
    assert.equal(empty.code, 1);
    assert.match(empty.stderr, /no keys \(one key per line; # starts a comment\)/);
  });
});
