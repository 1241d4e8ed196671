// The CLI contract: validate's exit codes and one located line per problem,
// serve refusing an invalid spec before listening, and --help.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { baseSpec, op, pathParams } from '../helpers/gateway.ts';

const CLI = path.resolve(import.meta.dirname, '../../src/cli.ts');
let dir: string;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'egw-cli-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function run(args: string[], env: Record<string, string> = {}, timeoutMs = 120_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, METADATA_SERVER_DETECTION: 'none', GOOGLE_CLOUD_PROJECT: 'cli-test', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function specFile(name: string, doc: object | string): Promise<string> {
  const f = path.join(dir, name);
  await writeFile(f, typeof doc === 'string' ? doc : stringify(doc));
  return f;
}

describe('endpoints-gateway validate', () => {
  test('exits 0 for the example spec', async () => {
    const r = await run(['validate', '--spec', path.resolve(import.meta.dirname, '../../endpoint.example.yaml')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /valid \(4 operations, service hello-api\.endpoints\.my-project\.cloud\.goog\)/);
  });

  test('--spec may come from $ENDPOINTS_SPEC', async () => {
    const r = await run(['validate'], { ENDPOINTS_SPEC: path.resolve(import.meta.dirname, '../../endpoint.example.yaml') });
    assert.equal(r.code, 0, r.stderr);
  });

  const broken: [string, object | string, RegExp[]][] = [
    ['not YAML', 'swagger: "2.0"\n  info: [', [/not valid YAML or JSON/]],
    ['not OpenAPI 2.0', { openapi: '3.0.0', info: { title: 't', version: '1' }, paths: {} }, [/swagger/]],
    [
      'backend on a path item',
      baseSpec({ paths: { '/a': { 'x-google-backend': { address: 'https://x.run.app' }, get: op('a') } } }),
      [/paths\["\/a"\]\.x-google-backend: x-google-backend is not allowed on a path item .*put it inside each operation/],
    ],
    [
      'jwt_audience with disable_auth',
      baseSpec({ paths: { '/a': { get: op('a', { 'x-google-backend': { address: 'https://x.run.app', jwt_audience: 'a', disable_auth: true } }) } } }),
      [/paths\["\/a"\]\.get\.x-google-backend: sets both jwt_audience and disable_auth/],
    ],
    [
      'security names an undefined scheme',
      baseSpec({ security: [{ nope: [] }], paths: { '/a': { get: op('a', { security: [{ alsoNope: [] }] }) } } }),
      [/^.*: security\[0\]\.nope: names the security scheme "nope"/m, /paths\["\/a"\]\.get\.security\[0\]\.alsoNope: names the security scheme "alsoNope"/],
    ],
    [
      'path parameter missing from the template',
      baseSpec({ paths: { '/a/{id}': { get: op('a', pathParams('id', 'other')) } } }),
      [/paths\["\/a\/\{id\}"\]\.get\.parameters: declares the path parameter "other", which the path template "\/a\/\{id\}" does not contain/],
    ],
    [
      'bad extension values, each named with its value',
      baseSpec({
        'x-google-allow': 'everything',
        paths: { '/a': { get: op('a', { 'x-google-backend': { address: 'https://x.run.app', path_translation: 'APPEND', deadline: 'soon', protocl: 'h2' } }) } },
      }),
      [
        /x-google-allow: must be one of "all", "configured" \(got "everything"\)/,
        /paths\["\/a"\]\.get\.x-google-backend\.path_translation: must be one of "APPEND_PATH_TO_ADDRESS", "CONSTANT_ADDRESS" \(got "APPEND"\)/,
        /paths\["\/a"\]\.get\.x-google-backend\.protocl: is not a known field here/,
        /x-google-backend\.deadline: .*"soon"/,
      ],
    ],
    [
      'gRPC backend',
      baseSpec({ paths: { '/a': { get: op('a', { 'x-google-backend': { address: 'grpc://x:8080' } }) } } }),
      [/x-google-backend\.address: uses a gRPC scheme/],
    ],
    [
      'quota referring to unknown metrics and a bad unit',
      baseSpec({
        'x-google-management': { metrics: [{ name: 'm' }], quota: { limits: [{ name: 'l', metric: 'zz', unit: '1/week/{project}', values: { STANDARD: 5 } }] } },
        paths: { '/a': { get: op('a', { 'x-google-quota': { metricCosts: { nope: 1 } } }) } },
      }),
      [/x-google-management\.quota\.limits\[0\]\.unit/, /x-google-quota\.metricCosts\.nope: names a metric/],
    ],
    ['bad path template', baseSpec({ paths: { '/a/{x': { get: op('a') } } }), [/paths\["\/a\/\{x"\]: is not a valid path template/]],
    [
      'external $ref is never read',
      baseSpec({ paths: { '/a': { get: op('a', { parameters: [{ $ref: '/etc/passwd#/x' }] }) } } }),
      [/paths\["\/a"\]\.get\.parameters\[0\]\.\$ref: refers outside the document \("\/etc\/passwd#\/x"\); external \$refs are not supported/],
    ],
  ];
  for (const [name, doc, patterns] of broken) {
    test(`${name}: non-zero exit, located lines, no stack trace`, async () => {
      const f = await specFile(`${name.replace(/\W+/g, '-')}.yaml`, doc);
      const r = await run(['validate', '--spec', f]);
      assert.notEqual(r.code, 0);
      for (const p of patterns) assert.match(r.stderr, p);
      assert.doesNotMatch(r.stderr, /\n\s+at .+\(.+:\d+:\d+\)/, 'no stack trace');
      for (const line of r.stderr.trim().split('\n')) assert.ok(line.startsWith(f), `every line names the file: ${line}`);
    });
  }

  test('a missing file: one clear line', async () => {
    const r = await run(['validate', '--spec', path.join(dir, 'nope.yaml')]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /nope\.yaml: cannot read the spec file \(ENOENT\)/);
  });
});

describe('endpoints-gateway serve', () => {
  test('an invalid spec: exits non-zero with the problems, never listens', async () => {
    const f = await specFile('bad-serve.yaml', baseSpec({ paths: { '/a': { 'x-google-backend': { address: 'https://x' }, get: op('a') } } }));
    const r = await run(['serve', '--spec', f, '--port', '0', '--keys', 'none']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /x-google-backend is not allowed on a path item/);
    assert.doesNotMatch(r.stdout, /listening/);
  });

  test('--help documents the contract flags', async () => {
    const r = await run(['serve', '--help']);
    assert.equal(r.code, 0);
    for (const flag of ['--spec', '--port', '--service-name', '--backend-auth', '--keys', '--apikeys-endpoint', '--admin-port']) {
      assert.ok(r.stdout.includes(flag), flag);
    }
  });
});
