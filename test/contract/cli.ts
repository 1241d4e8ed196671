// The CLI as CI runs it, for the contract tests: one-shot commands (keys, contract) and the mock server.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { runCli as runCliHelper } from '../helpers/cli.ts';

const CLI = path.resolve(import.meta.dirname, '../../src/cli.ts');
const ENV = { ...process.env, METADATA_SERVER_DETECTION: 'none', LOG_LEVEL: 'warn' };

export type { Ran as RunResult } from '../helpers/cli.ts';

/** One-shot commands with the mock's request lines kept out of the output. */
export function runCli(args: string[]) {
  return runCliHelper(args, { env: { LOG_LEVEL: 'warn' } });
}

export function tempDir(): string {
  return mkdtempSync(path.join(tmpdir(), 'eg-contract-'));
}

export function writeJson(dir: string, name: string, value: unknown): string {
  const file = path.join(dir, name);
  writeFileSync(file, JSON.stringify(value, null, 2));
  return file;
}

/** A key store holding one known key, made with `keys create --key` as a CI fixture is. */
export async function storeWithKey(dir: string, key: string): Promise<string> {
  const store = path.join(dir, 'keys.yaml');
  const r = await runCli(['keys', 'create', '--store', store, '--project', '123456789', '--key', key]);
  if (r.code !== 0) throw new Error(`keys create failed: ${r.stderr}`);
  return store;
}

export interface MockChild {
  readonly url: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/** `endpoints-gateway mock` in its own process; resolves with its URL once it logs "listening". */
export function startMockChild(spec: string): Promise<MockChild> {
  const child = spawn(process.execPath, [CLI, 'mock', '--spec', spec, '--port', '0'], { env: { ...ENV, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return new Promise((resolve, reject) => {
    // Starting runs TypeScript from source: seconds on a loaded machine. Only a failing start waits this long.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`mock did not start: ${err}`));
    }, 60_000);
    child.once('exit', (code) => reject(new Error(`mock exited ${code}: ${err}`)));
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const line = out.split('\n').find((l) => l.includes('"endpoints-gateway mock listening"'));
      if (!line) return;
      clearTimeout(timer);
      const port = (JSON.parse(line) as { port: number }).port;
      resolve({
        url: `http://127.0.0.1:${port}`,
        child,
        stop: async () => {
          child.kill('SIGTERM');
          await exited;
        },
      });
    });
  });
}

export interface JunitCase {
  readonly classname: string;
  readonly name: string;
  readonly failure?: { readonly message: string; readonly type: string };
  readonly skipped: boolean;
  readonly stdout?: string;
}

/** The JUnit file parsed back: every testcase with its failure, if any. */
export function parseJunit(xml: string): { tests: number; failures: number; cases: JunitCase[] } {
  const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(xml) as {
    testsuites: { tests: string; failures: string; testsuite: { testcase: unknown } };
  };
  const raw = doc.testsuites.testsuite.testcase;
  const list = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]) as Record<string, unknown>[];
  const cases = list.map((c) => {
    const f = c.failure as Record<string, string> | undefined;
    return {
      classname: String(c.classname),
      name: String(c.name),
      ...(f ? { failure: { message: String(f.message), type: String(f.type) } } : {}),
      skipped: c.skipped !== undefined,
      ...(c['system-out'] !== undefined ? { stdout: String(c['system-out']) } : {}),
    };
  });
  return { tests: Number(doc.testsuites.tests), failures: Number(doc.testsuites.failures), cases };
}
