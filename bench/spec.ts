// Generates OpenAPI 2.0 specs of N operations for the gateway, the way a real endpoint.yaml looks:
// distinct literal paths and path-parameter templates behind a top-level x-google-backend, API keys
// required everywhere, and one measured CONSTANT_ADDRESS operation with path parameters and a quota cost.
import { writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';

/** The measured route's template, and a concrete request path for it (ids are arbitrary). */
export const MEASURED_TEMPLATE = '/v1/shelves/{shelfId}/books/{bookId}';
export const MEASURED_PATH = '/v1/shelves/42/books/7';
/** Where CONSTANT_ADDRESS sends the measured operation on the backend. */
export const MEASURED_BACKEND_PATH = '/books/get';
const METRIC = 'bench-requests';

export interface SpecOptions {
  /** Total operations, the measured one included (>= 1). */
  operations: number;
  /** Loopback backend, e.g. http://127.0.0.1:1234 (no trailing slash). */
  backendUrl: string;
}

/** The spec as a plain object. The measured operation comes last, so a router that scans in order pays for every filler. */
export function buildSpec(o: SpecOptions): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  for (let i = 0; i < o.operations - 1; i++) {
    // Alternate literal paths and templates; fillers share the /v1 prefix (and some the /v1/shelves
    // prefix) with the measured route so a trie or regex router cannot reject them by first segment.
    const path =
      i % 4 === 0 ? `/v1/r${i}` :
      i % 4 === 1 ? `/v1/r${i}/{id}` :
      i % 4 === 2 ? `/v1/shelves/{shelfId}/r${i}` :
      `/v1/r${i}/{id}/items/{itemId}`;
    const params = [...path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, type: 'string' }));
    paths[path] = {
      get: {
        operationId: `op${i}`,
        ...(params.length > 0 ? { parameters: params } : {}),
        responses: { '200': { description: 'ok' } },
      },
    };
  }
  paths[MEASURED_TEMPLATE] = {
    get: {
      operationId: 'getBook',
      parameters: [
        { name: 'shelfId', in: 'path', required: true, type: 'string' },
        { name: 'bookId', in: 'path', required: true, type: 'string' },
      ],
      'x-google-backend': { address: `${o.backendUrl}${MEASURED_BACKEND_PATH}`, path_translation: 'CONSTANT_ADDRESS' },
      'x-google-quota': { metricCosts: { [METRIC]: 1 } },
      // What --validate checks the backend's answer against (bench/servers/backend.ts sends a Book).
      responses: { '200': { description: 'a book', schema: { $ref: '#/definitions/Book' } } },
    },
  };
  return {
    swagger: '2.0',
    info: { title: 'endpoints-gateway benchmark', version: '1.0.0' },
    host: 'bench-api.endpoints.bench-project.cloud.goog',
    schemes: ['http'],
    produces: ['application/json'],
    'x-google-backend': { address: o.backendUrl },
    securityDefinitions: { api_key: { type: 'apiKey', name: 'key', in: 'query' } },
    security: [{ api_key: [] }],
    'x-google-management': {
      metrics: [{ name: METRIC, displayName: 'Benchmark requests', valueType: 'INT64', metricKind: 'DELTA' }],
      // Large enough never to refuse during a run: the benchmark measures counting, not refusing.
      quota: { limits: [{ name: `${METRIC}-per-minute`, metric: METRIC, unit: '1/min/{project}', values: { STANDARD: 1_000_000_000 } }] },
    },
    paths,
    definitions: {
      Book: {
        type: 'object',
        required: ['id', 'title'],
        properties: {
          id: { type: 'string' },
          shelf: { type: 'string' },
          title: { type: 'string', minLength: 1 },
          author: { type: 'string' },
          pages: { type: 'integer', format: 'int32', minimum: 1 },
          available: { type: 'boolean' },
          tags: { type: 'array', items: { type: 'string' } },
        },
      },
    },
  };
}

/** Writes the spec as YAML (what users deploy) and returns the file path. */
export async function writeSpec(file: string, o: SpecOptions): Promise<string> {
  await writeFile(file, stringify(buildSpec(o), { lineWidth: 0 }));
  return file;
}
