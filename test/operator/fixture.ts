// The spec the operator tests start the gateway on: one keyed and one open operation in front of
// a loopback backend, in a folder of its own (the cwd where a default keys.yaml would be looked for).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { keyedSpec } from '../helpers/specs.ts';
import { runCli } from '../helpers/cli.ts';

export interface OperatorFixture {
  readonly dir: string;
  readonly spec: string;
  readonly backend: TestBackend;
  /** `serve` on this spec to completion (a start-up refusal, or a stop): offline, on loopback. */
  serve(args: string[], opts?: { env?: Record<string, string>; cwd?: string }): ReturnType<typeof runCli>;
  close(): Promise<void>;
}

export async function operatorFixture(name: string): Promise<OperatorFixture> {
  const dir = await mkdtemp(path.join(tmpdir(), `egw-operator-${name}-`));
  const backend = await startTestBackend();
  const spec = path.join(dir, 'endpoint.yaml');
  await writeFile(
    spec,
    stringify({
      ...keyedSpec('start', backend.url),
      paths: {
        '/keyed': { get: { operationId: 'keyed', responses: { 200: { description: 'ok' } } } },
        '/open': { get: { operationId: 'open', security: [], responses: { 200: { description: 'ok' } } } },
      },
    }),
  );
  return {
    dir,
    spec,
    backend,
    serve: (args, opts = {}) => runCli(['serve', '--spec', spec, '--host', '127.0.0.1', '--backend-auth', 'none', ...args], opts),
    close: async () => {
      await backend.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
