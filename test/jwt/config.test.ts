// Parsing and validating the JWT-related parts of a spec.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { validateSpec } from '../../src/config/validate.ts';
import { compileSpec } from '../../src/config/compile.ts';

const base = (extra: Record<string, unknown>) => ({
  swagger: '2.0',
  info: { title: 't', version: '1' },
  host: 'cfg.endpoints.p-project.cloud.goog',
  securityDefinitions: {
    firebase: { type: 'oauth2', flow: 'implicit', authorizationUrl: '', 'x-google-issuer': 'https://securetoken.google.com/p', 'x-google-jwks_uri': 'https://www.googleapis.com/service_accounts/v1/metadata/x509/securetoken@system.gserviceaccount.com', 'x-google-audiences': ' a , b ' },
    auth0: { type: 'oauth2', flow: 'implicit', authorizationUrl: '', 'x-google-issuer': 'https://x.auth0.com/', 'x-google-jwt-locations': [{ header: 'X-Jwt', value_prefix: 'JWT ' }, { query: 'jwt' }] },
    api_key: { type: 'apiKey', name: 'key', in: 'query' },
  },
  ...extra,
});
const get = (id: string) => ({ operationId: id, responses: { '200': { description: 'ok' } } });

async function problems(doc: Record<string, unknown>): Promise<string[]> {
  const r = await validateSpec(doc);
  return r.problems.map((p) => `${p.where}: ${p.message}`);
}

async function compiled(doc: Record<string, unknown>) {
  const r = await validateSpec(doc);
  assert.deepEqual(r.problems, []);
  return compileSpec(r.api!).config;
}

describe('JWT config', () => {
  test('schemes: audiences trimmed (default https://<service>), custom locations, jwtRequired, union of locations', async () => {
    const c = await compiled(base({
      'x-google-backend': { address: 'https://b.example.com' },
      paths: {
        '/a': { get: { ...get('a'), security: [{ firebase: [] }, { auth0: [] }] } },
        '/b': { get: { ...get('b'), security: [{ firebase: [] }, { api_key: [] }] } },
        '/c': { get: { ...get('c'), security: [{ api_key: [] }] } },
      },
    }));
    const [a, b, cOp] = c.operations;
    assert.deepEqual(a!.security.jwtSchemes.map((s) => s.name), ['firebase', 'auth0']);
    assert.deepEqual(a!.security.jwtSchemes[0]!.audiences, ['a', 'b']);
    assert.equal(a!.security.jwtRequired, true);
    assert.deepEqual(a!.security.jwtLocations.map((l) => `${l.in}:${l.name}`), ['header:authorization', 'header:x-goog-iap-jwt-assertion', 'query:access_token', 'header:x-jwt', 'query:jwt']);
    assert.equal(b!.security.jwtRequired, false);
    assert.equal(cOp!.security.jwtSchemes.length, 0);
    const noAud = await compiled(base({ paths: { '/x': { get: { ...get('x'), security: [{ auth0: [] }] } } } }));
    assert.deepEqual(noAud.operations[0]!.security.jwtSchemes[0]!.audiences, ['https://cfg.endpoints.p-project.cloud.goog']);
  });

  test('x-endpoints-authorization: the operation replaces the top level; {} removes it; not on JWT-less operations', async () => {
    const c = await compiled(base({
      security: [{ firebase: [] }],
      'x-endpoints-authorization': { email_domains: ['example.com'] },
      paths: {
        '/top': { get: get('top') },
        '/own': { get: { ...get('own'), 'x-endpoints-authorization': { claims: { role: 'admin' } } } },
        '/none': { get: { ...get('none'), 'x-endpoints-authorization': {} } },
        '/open': { get: { ...get('open'), security: [] } },
      },
    }));
    const byId = new Map(c.operations.map((o) => [o.id, o]));
    assert.deepEqual(byId.get('top')!.authorization, { emails: [], emailDomains: ['example.com'], claims: [] });
    assert.deepEqual(byId.get('own')!.authorization, { emails: [], emailDomains: [], claims: [{ name: 'role', values: ['admin'] }] });
    assert.equal(byId.get('none')!.authorization, null);
    assert.equal(byId.get('open')!.authorization, null);
  });

  test('x-endpoints-identity-header inside x-google-backend (top level and operation)', async () => {
    const c = await compiled(base({
      'x-google-backend': { address: 'https://b.example.com', 'x-endpoints-identity-header': true },
      paths: {
        '/a': { get: get('a') },
        '/b': { get: { ...get('b'), 'x-google-backend': { address: 'https://c.example.com/x' } } },
      },
    }));
    assert.equal(c.operations[0]!.backend!.identityHeader, true);
    assert.equal(c.operations[1]!.backend!.identityHeader, false);
  });

  test('clear validation messages', async () => {
    const p = await problems(base({
      'x-google-backend': { address: 'https://b.example.com', 'x-endpoints-identity-header': 'yes' },
      paths: {
        '/a': { get: { ...get('a'), security: [{ firebase: [], auth0: [] }] } },
        '/b': { get: { ...get('b'), security: [{ api_key: [] }], 'x-endpoints-authorization': { emails: ['a@b.c'] } } },
        '/c': { get: { ...get('c'), security: [{ firebase: [] }], 'x-endpoints-authorization': { emails: ['not-an-email'], roles: ['x'] } } },
      },
    }));
    const text = p.join('\n');
    assert.match(text, /x-google-backend.*x-endpoints-identity-header.*boolean/i);
    assert.match(text, /paths\["\/c"\]\.get\.x-endpoints-authorization\.emails\[0\]: must match/);
    assert.match(text, /requires the JWT schemes "firebase" and "auth0" together/);
    assert.match(text, /this operation's security names no JWT scheme/);
    assert.match(text, /x-endpoints-authorization\.roles: is not a known field here/);
    assert.ok(p.length >= 5, text);
  });

  test('a top-level rule without any JWT scheme is refused', async () => {
    const p = await problems({ ...base({ paths: { '/a': { get: get('a') } }, 'x-endpoints-authorization': { emails: ['a@b.c'] } }), securityDefinitions: { api_key: { type: 'apiKey', name: 'key', in: 'query' } } });
    assert.match(p.join('\n'), /x-endpoints-authorization: .*no JWT scheme/);
  });
});
