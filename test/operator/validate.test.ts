// validate: every problem in one pass, each located the same way; a spec without host gets the hint.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { runCli } from '../helpers/cli.ts';

let dir: string;
const ok = { 200: { description: 'ok' } };

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'egw-operator-validate-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function validate(name: string, doc: unknown, ...extra: string[]) {
  const file = path.join(dir, name);
  await writeFile(file, stringify(doc));
  // No validated-spec cache: each run validates.
  return { file, ...(await runCli(['validate', '--spec', file, ...extra], { env: { ENDPOINTS_CACHE_DIR: 'off' } })) };
}

/** Every line is `<file>: <place>: <message>`. */
function located(file: string, stderr: string): [string, string][] {
  return stderr
    .trim()
    .split('\n')
    .map((l) => {
      assert.ok(l.startsWith(`${file}: `), l);
      const rest = l.slice(file.length + 2);
      const m = /^((?:paths|host|x-google-[\w-]+|securityDefinitions)\S*): (.+)$/.exec(rest);
      assert.ok(m, `not located: ${l}`);
      return [m[1]!, m[2]!];
    });
}

describe('validate', () => {
  test('every problem in one pass, each on its own located line, the missing path parameters among them', async () => {
    const r = await validate('four.yaml', {
      swagger: '2.0',
      info: { title: 't', version: '1' },
      host: 'four.example.com',
      paths: {
        '/users/{id}': { get: { operationId: 'getUser', 'x-google-backend': { address: 'https://b.example.com', bogus: 1 }, responses: ok } },
        '/things/{a}': { get: { operationId: 'getUser', responses: ok } },
        '/bodies': {
          post: {
            operationId: 'two',
            parameters: [
              { name: 'x', in: 'body', schema: { type: 'object' } },
              { name: 'y', in: 'body', schema: { type: 'object' } },
            ],
            responses: ok,
          },
        },
      },
    });
    assert.equal(r.code, 2);
    const lines = located(r.file, r.stderr);
    assert.deepEqual(lines.map(([where]) => where).sort(), [
      'paths["/bodies"].post',
      'paths["/things/{a}"].get.operationId',
      'paths["/things/{a}"].get.parameters',
      'paths["/users/{id}"].get.parameters',
      'paths["/users/{id}"].get.x-google-backend.bogus',
    ]);
    const missing = lines.find(([w]) => w === 'paths["/users/{id}"].get.parameters')![1];
    assert.match(missing, /no path parameter for the template variable "id" of "\/users\/\{id\}" \(add - name: id, in: path, required: true, type: string\)/);
    assert.match(lines.find(([w]) => w === 'paths["/bodies"].post')![1], /has 2 body parameters/);
  });

  test('a missing path parameter alone, and one declared through a $ref, are judged alike', async () => {
    const r = await validate('refs.yaml', {
      swagger: '2.0',
      info: { title: 't', version: '1' },
      host: 'refs.example.com',
      parameters: { id: { name: 'id', in: 'path', required: true, type: 'string' } },
      paths: {
        '/users/{id}': { get: { operationId: 'a', parameters: [{ $ref: '#/parameters/id' }], responses: ok } },
        '/users/{id}/things/{thing}': { get: { operationId: 'b', parameters: [{ $ref: '#/parameters/id' }], responses: ok } },
      },
    });
    assert.equal(r.code, 2);
    assert.deepEqual(located(r.file, r.stderr).map(([w]) => w), ['paths["/users/{id}/things/{thing}"].get.parameters']);
  });

  test('no host: refused with the hint to pass --service-name, in the same pass as the rest; --service-name makes it valid', async () => {
    const doc = {
      swagger: '2.0',
      info: { title: 't', version: '1' },
      paths: { '/a': { get: { operationId: 'a', 'x-google-backend': { address: 'https://b.example.com' }, responses: ok } } },
    };
    const r = await validate('nohost.yaml', doc);
    assert.equal(r.code, 2);
    const lines = located(r.file, r.stderr);
    assert.equal(lines.length, 1);
    assert.equal(lines[0]![0], 'host');
    assert.match(lines[0]![1], /pass --service-name NAME \(ENDPOINTS_SERVICE_NAME\)/);

    const both = await validate('nohost-and-more.yaml', { ...doc, paths: { '/u/{id}': { get: { operationId: 'a', responses: ok } } } });
    assert.deepEqual(located(both.file, both.stderr).map(([w]) => w), ['paths["/u/{id}"].get.parameters', 'host']);

    const named = await validate('nohost-named.yaml', doc, '--service-name', 'named.endpoints.p.cloud.goog');
    assert.equal(named.code, 0, named.stderr);
    assert.match(named.stdout, /service named\.endpoints\.p\.cloud\.goog/);
  });
});
