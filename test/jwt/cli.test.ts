// --signing-key / ENDPOINTS_SIGNING_KEY reach the gateway: an unusable key stops `serve` with a reason.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { baseSpec, op } from '../helpers/gateway.ts';

const CLI = path.resolve(import.meta.dirname, '../../src/cli.ts');
let dir: string;
let spec: string;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'egw-jwtcli-'));
  spec = path.join(dir, 'endpoint.yaml');
  await writeFile(spec, stringify(baseSpec({ paths: { '/a': { get: op('a') } } })));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function serve(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'serve', '--spec', spec, '--port', '0', '--host', '127.0.0.1', '--keys', 'none', '--backend-auth', 'none', ...args], {
      env: { ...process.env, METADATA_SERVER_DETECTION: 'none', GOOGLE_CLOUD_PROJECT: 'cli-test', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000); // only if it never stops
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe('--signing-key', () => {
  test('a missing file stops serve with exit 1 and names the option', async () => {
    const r = await serve(['--signing-key', path.join(dir, 'absent.pem')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--signing-key .*absent\.pem: cannot read it/);
  });

  test('ENDPOINTS_SIGNING_KEY works the same way; a non-key file is refused', async () => {
    const junk = path.join(dir, 'junk.pem');
    await writeFile(junk, 'not a key');
    const r = await serve([], { ENDPOINTS_SIGNING_KEY: junk });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not a PEM private key/);
  });
});
