import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';

/**
 * The head of a spec whose operations all go to `backend` and need an API key in `?key=`
 * (an operation opts out with `security: []`); the caller adds `paths`. Host:
 * `<name>.endpoints.p.cloud.goog`.
 */
export function keyedSpec(name: string, backend: string): Record<string, unknown> {
  return {
    swagger: '2.0',
    info: { title: name, version: '1' },
    host: `${name}.endpoints.p.cloud.goog`,
    'x-google-backend': { address: backend },
    securityDefinitions: { api_key: { type: 'apiKey', name: 'key', in: 'query' } },
    security: [{ api_key: [] }],
  };
}

/** Writes `spec` as `endpoint.yaml` in `dir` and returns its path, for a gateway started with `--spec`. */
export async function writeSpecFile(dir: string, spec: Record<string, unknown>): Promise<string> {
  const file = path.join(dir, 'endpoint.yaml');
  await writeFile(file, stringify(spec));
  return file;
}
