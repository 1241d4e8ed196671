// The contract-test fixture: a spec exercising each validation rule, a loopback backend whose answer
// each test sets per path, and the CLI gateway in front of it with --validate and an admin port.
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';

export function contractSpec(backend: string, overrides: { searchMinLength?: number } = {}): Record<string, unknown> {
  return {
    swagger: '2.0',
    info: { title: 'contract', version: '1' },
    host: 'contract.endpoints.p.cloud.goog',
    'x-google-backend': { address: backend },
    consumes: ['application/json'],
    produces: ['application/json'],
    paths: {
      '/pets': {
        get: {
          operationId: 'listPets',
          parameters: [
            { name: 'limit', in: 'query', type: 'integer', format: 'int32', minimum: 1, maximum: 100 },
            { name: 'status', in: 'query', type: 'string', enum: ['available', 'sold'] },
            { name: 'tags', in: 'query', type: 'array', items: { type: 'string', enum: ['dog', 'cat'] }, collectionFormat: 'pipes' },
            { name: 'since', in: 'query', type: 'string', format: 'date-time' },
            { name: 'X-Trace-Tag', in: 'header', type: 'string', pattern: '^[a-z]+$' },
            { name: 'X-Page-Size', in: 'header', type: 'integer', minimum: 1 },
            { name: 'X-Request-Id', in: 'header', type: 'string', format: 'uuid' },
          ],
          responses: {
            '200': { description: 'the pets', schema: { type: 'array', items: { $ref: '#/definitions/Pet' } } },
          },
        },
        post: {
          operationId: 'createPet',
          parameters: [{ name: 'pet', in: 'body', required: true, schema: { $ref: '#/definitions/NewPet' } }],
          responses: {
            '201': { description: 'created', schema: { $ref: '#/definitions/Pet' } },
            '400': { $ref: '#/responses/Problem' },
          },
        },
      },
      '/pets/{petId}': {
        parameters: [{ name: 'petId', in: 'path', required: true, type: 'integer', minimum: 1 }],
        get: {
          operationId: 'getPet',
          responses: { '200': { description: 'a pet', schema: { $ref: '#/definitions/Pet' } }, '404': { description: 'no such pet' } },
        },
        put: {
          operationId: 'replacePet',
          parameters: [
            { name: 'If-Match', in: 'header', required: true, type: 'string' },
            { name: 'pet', in: 'body', required: true, schema: { $ref: '#/definitions/Pet' } },
          ],
          responses: { '200': { description: 'the pet', schema: { $ref: '#/definitions/Pet' } } },
        },
      },
      '/search': {
        get: {
          operationId: 'search',
          parameters: [{ name: 'q', in: 'query', required: true, type: 'string', minLength: overrides.searchMinLength ?? 2 }],
          produces: ['text/plain'],
          responses: { default: { description: 'anything' } },
        },
      },
      '/forms': {
        post: {
          operationId: 'submitForm',
          consumes: ['application/x-www-form-urlencoded', 'multipart/form-data'],
          parameters: [
            { name: 'name', in: 'formData', required: true, type: 'string' },
            { name: 'count', in: 'formData', type: 'integer' },
            { name: 'attachment', in: 'formData', type: 'file' },
          ],
          responses: { '200': { description: 'stored' } },
        },
      },
      '/upload': {
        post: {
          operationId: 'upload',
          consumes: ['application/octet-stream', 'application/json'],
          parameters: [{ name: 'data', in: 'body', required: true, schema: { type: 'object', required: ['n'], properties: { n: { type: 'integer' } } } }],
          responses: { '200': { description: 'stored' } },
        },
      },
    },
    responses: { Problem: { description: 'a problem', schema: { type: 'object', required: ['code'], properties: { code: { type: 'integer' } } } } },
    definitions: {
      Pet: {
        type: 'object',
        required: ['id', 'name'],
        properties: { id: { type: 'integer', format: 'int64', readOnly: true }, name: { type: 'string' }, tag: { $ref: '#/definitions/Tag' } },
      },
      NewPet: {
        type: 'object',
        required: ['name'],
        additionalProperties: false,
        properties: {
          name: { type: 'string', minLength: 1 },
          tag: { $ref: '#/definitions/Tag' },
          email: { type: 'string', format: 'email' },
          age: { type: 'integer', minimum: 0, maximum: 40, exclusiveMaximum: true },
        },
      },
      Tag: { type: 'string', enum: ['dog', 'cat'] },
    },
  };
}

export interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A real HTTP backend: answers each path as set (default 200 `[]` as JSON) and records each request with its body. */
export async function startContractBackend() {
  const answers = new Map<string, Answer>();
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
      const p = (req.url ?? '/').split('?')[0]!;
      const a = answers.get(`${req.method} ${p}`) ?? { status: 200, headers: { 'content-type': 'application/json' }, body: '[]' };
      res.writeHead(a.status, a.headers ?? {});
      res.end(a.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    seen,
    answer(method: string, p: string, a: Answer) {
      answers.set(`${method} ${p}`, a);
    },
    reset() {
      answers.clear();
      seen.length = 0;
    },
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

export type ContractBackend = Awaited<ReturnType<typeof startContractBackend>>;

export async function writeSpecFile(spec: Record<string, unknown>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'validate-test-'));
  const file = path.join(dir, 'endpoint.json');
  await writeFile(file, JSON.stringify(spec, null, 2));
  return file;
}

export interface ContractGateway extends ChildGateway {
  readonly adminUrl: string;
  /** The value of endpoints_gateway_contract_violations_total{operation,kind} (0 when absent). */
  violations(operation: string, kind: string): Promise<number>;
  stop(): Promise<void>;
}

export async function startContractGateway(specFile: string, mode: 'off' | 'report' | 'enforce'): Promise<ContractGateway> {
  const gw = await startChildGateway(
    ['--spec', specFile, '--validate', mode, '--backend-auth', 'none', '--keys', 'none', '--admin-port', '0', '--access-log', 'off', '--backend-retry-num', '0'],
    { ENDPOINTS_CACHE_DIR: 'off' },
  );
  const listening = gw.logs.find((l) => l.message === 'endpoints-gateway listening')!;
  const adminUrl = `http://127.0.0.1:${String(listening.adminPort)}`;
  return Object.assign(gw, {
    adminUrl,
    async violations(operation: string, kind: string) {
      const text = await (await fetch(`${adminUrl}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith(`endpoints_gateway_contract_violations_total{operation="${operation}",kind="${kind}"}`));
      return line ? Number(line.split(' ').pop()) : 0;
    },
    async stop() {
      gw.child.kill('SIGTERM');
      await gw.exit();
    },
  });
}

/** The violation log lines seen so far. */
export function violationLogs(gw: ChildGateway): Record<string, unknown>[] {
  return gw.logs.filter((l) => l.message === 'contract violation');
}
