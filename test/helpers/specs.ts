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
