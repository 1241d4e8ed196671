// The embedded store's fast YAML reader and the text edits of the keys
// commands: what the reader accepts it reads exactly as the general YAML
// parser does; what it does not, it hands over (small files) or refuses with
// a reason (large ones); edits keep the rest of the file, comments included,
// and never write a file the store would refuse.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { NotInSubset, scanKeyList } from '../../src/auth/apikeys/key-yaml.ts';
import { KeyFileError, parseKeyFile, YAML_FALLBACK_MAX_BYTES } from '../../src/auth/apikeys/key-file.ts';
import { createKey, listKeys, revokeKey } from '../../src/auth/apikeys/keys-admin.ts';
import { hashKey } from '../../src/auth/apikeys/key-record.ts';
import { createFileKeyStore } from '../../src/auth/apikeys/file-store.ts';

const H = (n: number) => hashKey(`AIzaSyYamlTest-${n}-0000000000000000000000`);

/** Read by the fast reader: the same items as the general parser's. */
const IN_SUBSET: string[] = [
  `keys:\n  - sha256: ${H(1)}\n    project: "123"\n    name: a\n    createTime: 2026-11-25T00:00:00Z\n`,
  `# a comment\nkeys:\n- sha256: ${H(1)}\n  project: 12   # trailing comment\n  name: 'it''s'\n  restrictions:\n    apiTargets:\n      - service: a.b\n        methods: [Get, "x.*"]\n    serverKeyRestrictions:\n      allowedIps: [127.0.0.1/32, "2001:db8::/32"]\nother: 1\n`,
  'keys: []\n',
  'other: x\n',
  'keys:\n  - a\n  - b: c\n    d: [true, null, ~, 0123, x]\n',
  'keys:\n  - name: a # comment\n    x: "a#b"\n    y: a#b\n\n  # between\n  - name: b\n',
  'keys:\n  -\n    name: a\n  - name: "\\u00e9t\\u00e9 \\"q\\""\n',
  'keys:\n  - name: a\n    restrictions:\n      iosKeyRestrictions: {}\n      apiTargets:\n      - service: s\n',
  '"keys":\n  - "name": x\n',
  'keys:\r\n  - name: x\r\n',
  '\ufeffkeys:\n  - name: bom\n',
  'keys:\n  - name: Null\n    other: TRUE\n    n: -12\n    m: -x\n',
];

/** Left to the general parser. */
const NOT_IN_SUBSET: string[] = [
  'keys:\n  - name: multi\n    line\n',
  'keys:\n  - &a name: x\n  - *a\n',
  'keys:\n  - name: |\n      block\n',
  'keys:\n  - name: 1.5\n',
  'keys:\n  - name: 0x1F\n',
  'keys:\n  - { name: flow }\n',
  '---\nkeys: []\n',
  'keys:\n  - name: !!str 12\n',
  'keys:\n  - name: "multi\n      line"\n',
  'keys:\n\t- name: tab\n',
  'keys:\n  - name: a\n    name: b\n',
  '- a\n',
  'keys:\n  - name: "\\x41"\n',
];

describe('fast YAML reader', () => {
  test('reads what it accepts exactly as the general parser does', () => {
    for (const text of IN_SUBSET) {
      const items: unknown[] = [];
      const layout = scanKeyList(text, (v) => items.push(v));
      const doc = parse(text) as { keys?: unknown[] };
      assert.deepEqual(layout.style === 'absent' ? undefined : items, doc.keys, JSON.stringify(text));
    }
  });

  test('hands anything else over, naming the line', () => {
    for (const text of NOT_IN_SUBSET) {
      assert.throws(() => scanKeyList(text, () => {}), (e: unknown) => e instanceof NotInSubset && /^line \d+: /.test(e.message), JSON.stringify(text));
    }
  });

  test('item spans cover each entry\'s lines', () => {
    const text = 'keys:\n  - name: a\n    project: "1"\n  # about b\n  - name: b\n';
    const spans: [number, number][] = [];
    scanKeyList(text, (_v, _i, start, end) => spans.push([start, end]));
    assert.deepEqual(spans.map(([s, e]) => text.slice(s, e)), ['  - name: a\n    project: "1"\n', '  - name: b\n']);
  });

  test('a small file outside the subset is read by the general parser; a large one is refused with the reason', () => {
    const small = `keys:\n  - { sha256: ${H(1)}, project: "1", name: flow }\n`;
    assert.equal(parseKeyFile(small, 'k.yaml').entries[0]!.name, 'flow');
    const entry = (i: number) => `  - sha256: ${H(i)}\n    project: "1"\n    name: k${i}\n`;
    let big = 'keys:\n';
    for (let i = 0; big.length <= YAML_FALLBACK_MAX_BYTES; i++) big += entry(i);
    assert.ok(parseKeyFile(big, 'k.yaml').entries.length > 1000, 'in the subset, any size is read');
    const bigAnchored = `${big}  - &x sha256: ${H(-1)}\n    project: "1"\n    name: anchored\n`;
    assert.throws(
      () => parseKeyFile(bigAnchored, 'k.yaml'),
      (e: unknown) => e instanceof KeyFileError && /line \d+: .*over 1 MiB must be in that form/.test(e.message),
    );
  });

  test('a file with many broken entries lists 50 problems and counts the rest', () => {
    let text = 'keys:\n';
    for (let i = 0; i < 120; i++) text += `  - name: k${i}\n    project: "1"\n`;
    assert.throws(
      () => parseKeyFile(text, 'k.yaml'),
      (e: unknown) => e instanceof KeyFileError && e.problems.length === 51 && e.problems[50] === '… and 70 more problem(s)',
    );
  });
});

describe('keys commands edit the text', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'key-yaml-'));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  test('create appends, revoke cuts, comments and the rest stay; the last revoke leaves an empty list the store reads', async () => {
    const path = join(dir, 'keys.yaml');
    const head = '# Our keys. Do not edit by hand.\nkeys:\n  # the CI key\n';
    await writeFile(path, `${head}  - sha256: ${H(1)}\n    project: "1"\n    name: ci # keep\nowner: team-a\n`);
    const { key } = await createKey(path, { project: '2', name: 'second', displayName: `a long display name ${'x'.repeat(100)}: with a colon` });
    let text = await readFile(path, 'utf8');
    assert.ok(text.startsWith(`${head}  - sha256: ${H(1)}\n    project: "1"\n    name: ci # keep\n  - sha256: ${hashKey(key)}\n`), text);
    assert.ok(text.endsWith('owner: team-a\n'));
    assert.deepEqual((await listKeys(path)).map((k) => k.name), ['ci', 'second']);
    assert.equal(parseKeyFile(text, path).records.get(hashKey(key))!.displayName.length, 134);

    assert.equal(await revokeKey(path, 'ci'), true);
    text = await readFile(path, 'utf8');
    assert.ok(text.startsWith(`${head}  - sha256: ${hashKey(key)}\n`), text);
    assert.deepEqual((await listKeys(path)).map((k) => k.name), ['second']);

    assert.equal(await revokeKey(path, 'second'), true);
    assert.deepEqual(parseKeyFile(await readFile(path, 'utf8'), path).entries, []);
    const store = await createFileKeyStore(path, { watch: false });
    assert.equal(store.size, 0);
    store.close();
  });
});
