// The gateway's V8 heap limits hold however it is started: `node dist/cli.js` (the README's way and the
// image's entrypoint) gets them too, in the same process, and an operator's own limits still win.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { missingLimits } from '../../src/runtime/v8-limits.ts';

const exec = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
/** V8's own heap limit on a host of a few GiB or more; the gateway's limits make it about 152 MiB. */
const LIMITED_MIB = { min: 128, max: 200 };

describe('missingLimits', () => {
  test('adds both limits when none is given', () => {
    assert.deepEqual(missingLimits([], undefined), ['--max-semi-space-size=8', '--max-old-space-size=128']);
  });
  test("keeps the operator's own, in any spelling, from node's flags or NODE_OPTIONS", () => {
    assert.deepEqual(missingLimits(['--max-old-space-size=512'], ''), ['--max-semi-space-size=8']);
    assert.deepEqual(missingLimits([], '--enable-source-maps --max_semi_space_size=16'), ['--max-old-space-size=128']);
    assert.deepEqual(missingLimits(['--max-old-space-size=0'], '--max-semi-space-size=0'), []);
  });
  test('a flag that only starts like a limit is not one', () => {
    assert.deepEqual(missingLimits(['--max-old-space-sizes=1'], '--max-semi-space-size-x'), ['--max-semi-space-size=8', '--max-old-space-size=128']);
  });
});

describe('memory flags are in force when started with `node dist/cli.js`', () => {
  let dir: string;
  before(async () => {
    // The production layout: dist/ compiled by the project's tsc, the schema, package.json, the dependencies.
    dir = await mkdtemp(path.join(tmpdir(), 'egw-v8-limits-'));
    await cp(path.join(root, 'package.json'), path.join(dir, 'package.json'));
    await cp(path.join(root, 'openapi'), path.join(dir, 'openapi'), { recursive: true });
    await symlink(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
    await exec(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.build.json'), '--outDir', path.join(dir, 'dist')]);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** `node [nodeFlags] dist/cli.js serve` with `env`: its 'listening' line, and its pid's NODE_OPTIONS then. */
  async function serve(nodeFlags: string[], env: Record<string, string>): Promise<{ line: Record<string, unknown>; pid: number; cmdline: string[]; nodeOptions: string; children: string }> {
    const base: Record<string, string | undefined> = { ...process.env, METADATA_SERVER_DETECTION: 'none', ENDPOINTS_CACHE_DIR: 'off' };
    delete base.NODE_OPTIONS; // the test runner's own must not stand in for the gateway's
    const child = spawn(process.execPath, [...nodeFlags, 'dist/cli.js', 'serve', '--spec', path.join(root, 'endpoint.example.yaml'), '--port', '0', '--host', '127.0.0.1', '--keys', 'none', '--backend-auth', 'none'], {
      cwd: dir,
      env: { ...base, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (c) => (err += c));
    try {
      const line = await new Promise<Record<string, unknown>>((resolve, reject) => {
        let buf = '';
        child.stdout.on('data', (c: Buffer) => {
          buf += c.toString('utf8');
          for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
            const l = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
            buf = buf.slice(nl + 1);
            if (l.message === 'endpoints-gateway listening') resolve(l);
          }
        });
        child.once('exit', (code) => reject(new Error(`the gateway exited (${code}) before listening:\n${err}`)));
      });
      const pid = child.pid!;
      const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean);
      const environ = (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0');
      const nodeOptions = environ.find((e) => e.startsWith('NODE_OPTIONS='))?.slice('NODE_OPTIONS='.length) ?? '';
      const children = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8')).trim();
      return { line, pid, cmdline, nodeOptions, children };
    } finally {
      child.kill('SIGTERM');
      if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once('exit', r));
    }
  }

  test('without NODE_OPTIONS: the limits are in force, in the process that was started (no wrapper)', async () => {
    const r = await serve([], {});
    const heap = r.line.heapLimitMiB as number;
    assert.ok(heap >= LIMITED_MIB.min && heap <= LIMITED_MIB.max, `heap limit ${heap} MiB`);
    assert.equal(r.children, '', 'no process of its own: the one spawned is the one that listens');
    assert.ok(r.cmdline.some((a) => a.endsWith('dist/cli.js')), r.cmdline.join(' '));
    assert.equal(r.nodeOptions, '--max-semi-space-size=8 --max-old-space-size=128');
  });

  test("an operator's NODE_OPTIONS keep their own limit and their other flags; the missing limit is added", async () => {
    const r = await serve([], { NODE_OPTIONS: '--max-old-space-size=320 --no-deprecation' });
    assert.ok((r.line.heapLimitMiB as number) >= 320, `heap limit ${String(r.line.heapLimitMiB)} MiB`);
    assert.equal(r.nodeOptions, '--max-semi-space-size=8 --max-old-space-size=320 --no-deprecation');
  });

  test("node's own flags win: `node --max-old-space-size=0` (V8 sizes it) is left alone", async () => {
    const r = await serve(['--max-old-space-size=0'], {});
    assert.ok((r.line.heapLimitMiB as number) > LIMITED_MIB.max, `heap limit ${String(r.line.heapLimitMiB)} MiB`);
    assert.equal(r.nodeOptions, '--max-semi-space-size=8');
    assert.ok(r.cmdline.includes('--max-old-space-size=0'), r.cmdline.join(' '));
  });
});
