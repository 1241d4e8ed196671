// `endpoints-gateway diff OLD NEW`: one spec pair per rule, each with its expected changes and
// class, and the exit code --fail-on gives; the markdown and JSON outputs; invalid input exits 2.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { loadDiffSide } from '../../src/diff/load.ts';
import { compareConfigs } from '../../src/diff/compare.ts';
import { reaches, type ChangeClass } from '../../src/diff/changes.ts';
import { runCli } from '../helpers/cli.ts';
import { expectedId } from './support.ts';

const cli = (...args: string[]) => runCli(args);

type Spec = Record<string, any>;

function baseSpec(): Spec {
  return {
    swagger: '2.0',
    info: { title: 'diff', version: '1.0.0' },
    host: 'diff.endpoints.p.cloud.goog',
    'x-google-backend': { address: 'https://backend-abc.a.run.app/v1' },
    securityDefinitions: {
      api_key: { type: 'apiKey', name: 'key', in: 'query' },
      google_id_token: {
        type: 'oauth2',
        flow: 'implicit',
        authorizationUrl: '',
        'x-google-issuer': 'https://accounts.google.com',
        'x-google-jwks_uri': 'https://www.googleapis.com/oauth2/v3/certs',
        'x-google-audiences': 'aud-1',
      },
    },
    security: [{ api_key: [] }],
    'x-google-management': {
      metrics: [{ name: 'read-requests', valueType: 'INT64', metricKind: 'DELTA' }],
      quota: { limits: [{ name: 'read-limit', metric: 'read-requests', unit: '1/min/{project}', values: { STANDARD: 100 } }] },
    },
    paths: {
      '/v1/shelves': {
        get: {
          operationId: 'listShelves',
          parameters: [
            { name: 'limit', in: 'query', type: 'integer', required: false },
            { name: 'order', in: 'query', type: 'string', enum: ['asc', 'desc'] },
            { name: 'since', in: 'query', type: 'string' },
            { name: 'status', in: 'query', type: 'string', enum: ['active', 'archived'] },
          ],
          'x-google-quota': { metricCosts: { 'read-requests': 1 } },
          responses: {
            '200': { description: 'ok', schema: { type: 'object', properties: { shelves: { type: 'array', items: { $ref: '#/definitions/Shelf' } } } } },
            '404': { description: 'none' },
          },
        },
      },
      '/v1/shelves/{id}': {
        get: {
          operationId: 'getShelf',
          parameters: [{ name: 'id', in: 'path', required: true, type: 'string' }],
          'x-google-backend': { address: 'https://shelves-abc.a.run.app/get', path_translation: 'CONSTANT_ADDRESS', deadline: 10 },
          responses: { '200': { description: 'ok', schema: { $ref: '#/definitions/Shelf' } } },
        },
      },
      '/v1/health': { get: { operationId: 'health', security: [], responses: { '200': { description: 'ok' } } } },
      '/v1/both': { get: { operationId: 'both', security: [{ api_key: [], google_id_token: [] }], responses: { '200': { description: 'ok' } } } },
    },
    definitions: {
      Shelf: { type: 'object', properties: { id: { type: 'string' }, name: { type: 'string' }, created: { type: 'string', format: 'date-time' } } },
    },
  };
}

const getShelf = (s: Spec) => s.paths['/v1/shelves/{id}'].get;
const list = (s: Spec) => s.paths['/v1/shelves'].get;

interface Case {
  readonly name: string;
  readonly change: (s: Spec) => void;
  /** Every rule the diff must report, with its class: nothing more, nothing less. */
  readonly expect: readonly [rule: string, cls: ChangeClass][];
}

const CASES: readonly Case[] = [
  { name: 'nothing changes', change: () => {}, expect: [] },
  { name: 'an operation removed', change: (s) => delete s.paths['/v1/health'], expect: [['operation-removed', 'breaking']] },
  { name: 'an operation added', change: (s) => (s.paths['/v1/new'] = { get: { operationId: 'added', responses: { '200': { description: 'ok' } } } }), expect: [['operation-added', 'compatible']] },
  {
    name: 'a template changes (same operationId)',
    change: (s) => {
      s.paths['/v2/health'] = s.paths['/v1/health'];
      delete s.paths['/v1/health'];
    },
    expect: [['template-changed', 'breaking']],
  },
  {
    name: 'a method changes',
    change: (s) => {
      s.paths['/v1/health'] = { post: s.paths['/v1/health'].get };
    },
    expect: [['method-changed', 'breaking']],
  },
  { name: 'an operationId changes', change: (s) => (s.paths['/v1/health'].get.operationId = 'healthz'), expect: [['operation-id-changed', 'breaking']] },
  // A move is reported, never a reason to stop a deploy (issue 20); the implied audience goes with it.
  { name: 'a backend address moves to another host', change: (s) => (s['x-google-backend'].address = 'https://elsewhere.example.com'), expect: [['backend-address', 'compatible']] },
  { name: 'a backend moves to another path (no jwt_audience)', change: (s) => (s['x-google-backend'].address = 'https://backend-abc.a.run.app/v3'), expect: [['backend-address', 'compatible']] },
  { name: 'path translation changes', change: (s) => (getShelf(s)['x-google-backend'].path_translation = 'APPEND_PATH_TO_ADDRESS'), expect: [['backend-path-translation', 'breaking']] },
  { name: 'the ID token audience changes', change: (s) => (getShelf(s)['x-google-backend'].jwt_audience = 'https://other-audience'), expect: [['backend-audience', 'compatible']] },
  { name: 'disable_auth turned on', change: (s) => (getShelf(s)['x-google-backend'].disable_auth = true), expect: [['backend-disable-auth', 'security-relevant']] },
  { name: 'disable_auth turned on where the backend moves', change: (s) => (s['x-google-backend'] = { address: 'https://backend-abc.a.run.app/v3', disable_auth: true }), expect: [['backend-address', 'compatible'], ['backend-disable-auth', 'security-relevant']] },
  { name: 'disable_auth turned off', change: (s) => (s['x-google-backend'] = { address: 'https://backend-abc.a.run.app/v1', disable_auth: false }), expect: [] },
  { name: 'the deadline is lowered', change: (s) => (getShelf(s)['x-google-backend'].deadline = 2), expect: [['backend-deadline', 'breaking']] },
  { name: 'the deadline is raised', change: (s) => (getShelf(s)['x-google-backend'].deadline = 30), expect: [['backend-deadline', 'compatible']] },
  { name: 'the backend protocol changes', change: (s) => (getShelf(s)['x-google-backend'].protocol = 'h2'), expect: [['backend-protocol', 'breaking']] },
  { name: 'an operation becomes open', change: (s) => (list(s).security = []), expect: [['security-opened', 'security-relevant']] },
  { name: 'an operation loses a scheme', change: (s) => (s.paths['/v1/both'].get.security = [{ api_key: [] }]), expect: [['security-loosened', 'security-relevant']] },
  { name: 'an open operation needs a key', change: (s) => delete s.paths['/v1/health'].get.security, expect: [['security-stricter', 'breaking']] },
  { name: 'a quota limit is lowered', change: (s) => (s['x-google-management'].quota.limits[0].values.STANDARD = 10), expect: [['quota-limit-lowered', 'breaking']] },
  { name: 'a quota limit is raised', change: (s) => (s['x-google-management'].quota.limits[0].values.STANDARD = 1000), expect: [['quota-limit-raised', 'compatible']] },
  { name: 'a metric cost rises', change: (s) => (list(s)['x-google-quota'].metricCosts['read-requests'] = 5), expect: [['quota-cost-raised', 'breaking']] },
  { name: 'a new required parameter', change: (s) => list(s).parameters.push({ name: 'tenant', in: 'header', type: 'string', required: true }), expect: [['parameter-added-required', 'breaking']] },
  { name: 'a new optional parameter', change: (s) => list(s).parameters.push({ name: 'page', in: 'query', type: 'string' }), expect: [['parameter-added', 'compatible']] },
  { name: 'a parameter removed', change: (s) => list(s).parameters.splice(0, 1), expect: [['parameter-removed', 'breaking']] },
  { name: 'a parameter type changes', change: (s) => (list(s).parameters[0].type = 'string'), expect: [['request-type', 'breaking']] },
  { name: 'a parameter format narrowed', change: (s) => (list(s).parameters[2].format = 'date'), expect: [['request-format', 'breaking']] },
  { name: 'a parameter enum narrowed', change: (s) => (list(s).parameters[1].enum = ['asc']), expect: [['request-enum-narrowed', 'breaking']] },
  { name: 'a parameter enum widened', change: (s) => list(s).parameters[3].enum.push('draft'), expect: [['request-enum-widened', 'compatible']] },
  { name: 'a parameter enum dropped', change: (s) => delete list(s).parameters[3].enum, expect: [['request-enum-widened', 'compatible']] },
  { name: 'an enum appears on a parameter', change: (s) => (list(s).parameters[2].enum = ['today']), expect: [['request-enum-narrowed', 'breaking']] },
  { name: 'a parameter enum value replaced', change: (s) => (list(s).parameters[3].enum = ['active', 'draft']), expect: [['request-enum-narrowed', 'breaking'], ['request-enum-widened', 'compatible']] },
  { name: 'a response property removed', change: (s) => delete s.definitions.Shelf.properties.name, expect: [['response-property-removed', 'breaking']] },
  { name: 'a response property type changes', change: (s) => (s.definitions.Shelf.properties.id.type = 'integer'), expect: [['response-type', 'breaking']] },
  { name: 'a response status removed', change: (s) => delete list(s).responses['404'], expect: [['response-removed', 'breaking']] },
];

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'egw-diff-'));
  await writeFile(path.join(dir, 'old.yaml'), stringify(baseSpec()));
});
after(async () => rm(dir, { recursive: true, force: true }));

async function newSpec(c: Case, i: number): Promise<string> {
  const s = baseSpec();
  c.change(s);
  s.info.version = '1.1.0';
  const file = path.join(dir, `new-${i}.yaml`);
  await writeFile(file, stringify(s));
  return file;
}

describe('diff rules: one spec pair per rule', () => {
  for (const [i, c] of CASES.entries()) {
    test(c.name, async () => {
      const a = await loadDiffSide(path.join(dir, 'old.yaml'), undefined, {});
      const b = await loadDiffSide(await newSpec(c, i), undefined, {});
      const changes = compareConfigs(a, b);
      const got = [...new Set(changes.map((ch) => `${ch.rule} ${ch.class}`))].sort();
      assert.deepEqual(got, c.expect.map(([r, k]) => `${r} ${k}`).sort(), JSON.stringify(changes, null, 1));
      for (const ch of changes) assert.ok(ch.where.length > 0 && ch.message.length > 0, 'every change is located and explained');
      // The exit code under the default --fail-on breaking.
      const expectedExit = c.expect.some(([, k]) => k !== 'compatible') ? 1 : 0;
      assert.equal(changes.some((ch) => reaches(ch, 'breaking')) ? 1 : 0, expectedExit);
    });
  }
});

const caseFile = (name: string) => path.join(dir, `new-${CASES.findIndex((c) => c.name === name)}.yaml`);

describe('diff on the command line', () => {
  before(async () => {
    for (const [i, c] of CASES.entries()) await newSpec(c, i);
  });

  test('exit codes: breaking 1, security-relevant 1, compatible 0; --fail-on any and none', async () => {
    const old = path.join(dir, 'old.yaml');
    const runs: [string[], number][] = [
      [[caseFile('an operation removed')], 1],
      [[caseFile('an operation becomes open')], 1],
      [[caseFile('an operation added')], 0],
      [[caseFile('an operation added'), '--fail-on', 'any'], 1],
      [[caseFile('a backend moves to another path (no jwt_audience)')], 0],
      [[caseFile('a parameter enum widened')], 0],
      [[caseFile('a parameter enum widened'), '--fail-on', 'any'], 1],
      [[caseFile('disable_auth turned on where the backend moves')], 1],
      [[caseFile('nothing changes'), '--fail-on', 'any'], 0],
      [[caseFile('an operation removed'), '--fail-on', 'none'], 0],
    ];
    // Two at a time: ten CLI processes at once outlast the runner's timeout on a loaded 2-core machine.
    const codes: (number | null)[] = [];
    for (let i = 0; i < runs.length; i += 2) {
      codes.push(...(await Promise.all(runs.slice(i, i + 2).map(([args]) => runCli(['diff', old, ...args], { timeoutMs: 60_000 }).then((r) => r.code)))));
    }
    assert.deepEqual(codes, runs.map(([, code]) => code));
    // A usage error is invalid input (2), never the 1 that means a change reached --fail-on.
    const usage = await Promise.all([
      cli('diff', old, caseFile('an operation added'), '--format', 'xml'),
      cli('diff', old, caseFile('an operation added'), '--fail-on', 'never'),
      cli('diff', old),
    ]);
    assert.deepEqual(usage.map((r) => r.code), [2, 2, 2]);
    assert.match(usage[0]!.stderr, /argument 'xml' is invalid/);
    assert.equal((await cli('diff', '--help')).code, 0);
  });

  test('--format text (the default): a summary line, then one line per change with its class and place', async () => {
    const r = await cli('diff', path.join(dir, 'old.yaml'), caseFile('a response status removed'));
    assert.equal(r.code, 1);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /\(1\.0\.0-[0-9a-f]{12}\) -> .*\(1\.1\.0-[0-9a-f]{12}\): 1 breaking, 0 security-relevant, 0 compatible$/);
    assert.deepEqual(lines.slice(1), ['BREAKING          GET /v1/shelves: response 404 is removed  [paths["/v1/shelves"].get.responses["404"]]']);
  });

  test('--format markdown: a summary and one table per class, the most serious first', async () => {
    const r = await cli('diff', path.join(dir, 'old.yaml'), caseFile('an operation becomes open'), '--format', 'markdown', '--fail-on', 'none');
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.match(lines[0]!, /^### API config diff: `1\.0\.0-[0-9a-f]{12}` → `1\.1\.0-[0-9a-f]{12}`$/);
    assert.ok(lines.includes('**0 breaking, 1 security-relevant, 0 compatible**'), r.stdout);
    assert.ok(lines.includes('#### Security-relevant (1)'));
    assert.ok(lines.includes('| operation | change | where |'));
    const row = lines.find((l) => l.startsWith('| `GET /v1/shelves`'));
    assert.ok(row, r.stdout);
    assert.match(row, /becomes open/);
    assert.match(row, /`paths\["\/v1\/shelves"\]\.get\.security`/);

    const many = await cli('diff', path.join(dir, 'old.yaml'), caseFile('a parameter removed'), '--format', 'markdown');
    assert.equal(many.code, 1);
    assert.match(many.stdout, /#### Breaking \(1\)\n\n\| operation \| change \| where \|\n\|---\|---\|---\|\n\| `GET \/v1\/shelves` \| parameter query:limit is removed \|/);
  });

  test('--format json: both sides and every change with class, rule, operation and place', async () => {
    const oldFile = path.join(dir, 'old.yaml');
    const r = await cli('diff', oldFile, caseFile('a quota limit is lowered'), '--format', 'json');
    assert.equal(r.code, 1);
    const out = JSON.parse(r.stdout) as {
      old: { spec: string; config_id: string; version: string };
      new: { config_id: string };
      summary: Record<string, number>;
      changes: { class: string; rule: string; where: string; message: string }[];
    };
    const { readFile } = await import('node:fs/promises');
    assert.equal(out.old.config_id, expectedId('1.0.0', await readFile(oldFile)));
    assert.equal(out.old.version, '1.0.0');
    assert.deepEqual(out.summary, { compatible: 0, breaking: 1, 'security-relevant': 0 });
    assert.deepEqual(out.changes.map((c) => [c.class, c.rule, c.where]), [['breaking', 'quota-limit-lowered', 'x-google-management.quota.limits[0].values.STANDARD']]);
    assert.match(out.changes[0]!.message, /lowered from 100 to 10/);
  });

  test('invalid input exits 2 with validate’s located problems; config ids name versions in a --spec folder', async () => {
    const bad = path.join(dir, 'bad.yaml');
    const s = baseSpec();
    s['x-google-backend'].address = 'not a url at all';
    await writeFile(bad, stringify(s));
    const r = await cli('diff', path.join(dir, 'old.yaml'), bad);
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: x-google-backend`, 'm'));
    assert.equal((await cli('diff', path.join(dir, 'old.yaml'), path.join(dir, 'missing.yaml'))).code, 2);

    const folder = path.join(dir, 'versions');
    await mkdir(folder);
    const { readFile } = await import('node:fs/promises');
    const v1 = await readFile(path.join(dir, 'old.yaml'));
    const v2 = await readFile(caseFile('an operation removed'));
    await writeFile(path.join(folder, 'v1.yaml'), v1);
    await writeFile(path.join(folder, 'v2.yaml'), v2);
    const byId = await cli('diff', '--spec', folder, expectedId('1.0.0', v1), expectedId('1.1.0', v2), '--format', 'json');
    assert.equal(byId.code, 1, byId.stderr);
    assert.deepEqual((JSON.parse(byId.stdout) as { changes: { rule: string }[] }).changes.map((c) => c.rule), ['operation-removed']);
  });
});
