import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { stringify } from 'yaml';
import { startGateway, type Gateway, type GatewayOptions } from '../../src/gateway.ts';
import { createLogger } from '../../src/observability/logger.ts';

export interface TestGateway {
  readonly url: string;
  readonly gw: Gateway;
  readonly dir: string;
  /** Every log line, parsed. */
  readonly logs: Record<string, unknown>[];
  /** Every log line as written (to search for secrets). */
  readonly rawLogs: string[];
  close(): Promise<void>;
}

export type TestGatewayOptions = Partial<Omit<GatewayOptions, 'specFile' | 'logger'>> & { spec: object | string };

/** Starts the real gateway in this process on a loopback port, with the spec written to a temp file. */
export async function startTestGateway(opts: TestGatewayOptions): Promise<TestGateway> {
  const dir = await mkdtemp(path.join(tmpdir(), 'egw-test-'));
  const specFile = path.join(dir, 'endpoint.yaml');
  await writeFile(specFile, typeof opts.spec === 'string' ? opts.spec : stringify(opts.spec));
  const rawLogs: string[] = [];
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) {
        if (!line) continue;
        rawLogs.push(line);
        logs.push(JSON.parse(line) as Record<string, unknown>);
      }
      cb();
    },
  });
  // The production logger (Cloud Logging fields), writing into memory.
  const logger = createLogger({ level: 'debug', destination: sink });
  const { spec: _spec, ...rest } = opts;
  const gw = await startGateway({
    host: '127.0.0.1',
    port: 0,
    backendAuth: 'none',
    keys: 'none',
    trustedHops: 0,
    ...rest,
    specFile,
    logger,
  });
  return {
    url: `http://127.0.0.1:${gw.port}`,
    gw,
    dir,
    logs,
    rawLogs,
    close: async () => {
      await gw.close(1000);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A minimal valid OpenAPI 2.0 document, to extend in tests. */
export function baseSpec(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    swagger: '2.0',
    info: { title: 'test', version: '1.0.0' },
    host: 'test-api.endpoints.test-project.cloud.goog',
    paths: {},
    ...extra,
  };
}

/** One GET operation with the given extras. */
export function op(operationId: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { operationId, responses: { '200': { description: 'ok' } }, ...extra };
}

export function pathParams(...names: string[]): { parameters: Record<string, unknown>[] } {
  return { parameters: names.map((name) => ({ name, in: 'path', required: true, type: 'string' })) };
}
