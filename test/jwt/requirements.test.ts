// The pure evaluator of security requirements (OR of alternatives, AND inside one), JWT before key.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decideRequirement } from '../../src/auth/requirements.ts';
import { compileRequirement, DEFAULT_JWT_LOCATIONS } from '../../src/config/security.ts';
import type { SecurityScheme } from '../../src/config/types.ts';

const jwt = (name: string): SecurityScheme => ({ kind: 'jwt', name, issuer: `https://${name}`, jwksUri: null, audiences: ['x'], locations: DEFAULT_JWT_LOCATIONS });
const schemes = new Map<string, SecurityScheme>([
  ['firebase', jwt('firebase')],
  ['auth0', jwt('auth0')],
  ['api_key', { kind: 'apiKey', name: 'api_key', locations: [{ in: 'query', name: 'key' }] }],
]);
const req = (security: unknown) => compileRequirement(security, schemes);
const set = (...names: string[]) => new Set(names);

describe('decideRequirement', () => {
  test('open operations are satisfied and compile to no JWT stage', () => {
    const r = req([]);
    assert.equal(r.jwtSchemes.length, 0);
    assert.deepEqual(decideRequirement(r, undefined), { kind: 'satisfied', alternative: -1 });
  });

  test('JWT only: a verified token satisfies; no token is "Jwt is missing" (401)', () => {
    const r = req([{ firebase: [] }]);
    assert.equal(r.jwtRequired, true);
    assert.deepEqual(decideRequirement(r, set('firebase')), { kind: 'satisfied', alternative: 0 });
    const d = decideRequirement(r, undefined);
    assert.equal(d.kind, 'refused');
    if (d.kind === 'refused') assert.deepEqual(JSON.parse(d.error.body()), { code: 401, message: 'Jwt is missing' });
  });

  test('OR of two issuers: either satisfies', () => {
    const r = req([{ firebase: [] }, { auth0: [] }]);
    assert.equal(r.jwtSchemes.length, 2);
    assert.deepEqual(decideRequirement(r, set('auth0')), { kind: 'satisfied', alternative: 1 });
    assert.deepEqual(decideRequirement(r, set('firebase')), { kind: 'satisfied', alternative: 0 });
  });

  test('JWT AND key: the JWT is checked first (missing JWT before missing key), then the key is needed', () => {
    const r = req([{ firebase: [], api_key: [] }]);
    assert.equal(r.apiKeyRequired, true);
    assert.equal(decideRequirement(r, undefined).kind, 'refused');
    assert.deepEqual(decideRequirement(r, set('firebase')), { kind: 'needs-key', alternative: 0 });
  });

  test('JWT OR key: a token satisfies without a key; without a token the key is needed', () => {
    const r = req([{ firebase: [] }, { api_key: [] }]);
    assert.equal(r.apiKeyRequired, false);
    assert.equal(r.jwtRequired, false);
    assert.deepEqual(decideRequirement(r, set('firebase')), { kind: 'satisfied', alternative: 0 });
    assert.deepEqual(decideRequirement(r, undefined), { kind: 'needs-key', alternative: 1 });
  });

  test('(JWT AND key) OR other JWT: the other issuer needs no key', () => {
    const r = req([{ firebase: [], api_key: [] }, { auth0: [] }]);
    assert.deepEqual(decideRequirement(r, set('auth0')), { kind: 'satisfied', alternative: 1 });
    assert.deepEqual(decideRequirement(r, set('firebase')), { kind: 'needs-key', alternative: 0 });
  });

  test('key only: no JWT stage; the key stage decides', () => {
    const r = req([{ api_key: [] }]);
    assert.equal(r.jwtSchemes.length, 0);
    assert.deepEqual(decideRequirement(r, undefined), { kind: 'needs-key', alternative: 0 });
  });
});
