import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { extractJwt } from '../../src/auth/jwt/extract.ts';
import { DEFAULT_JWT_LOCATIONS } from '../../src/config/security.ts';
import type { JwtLocation } from '../../src/config/types.ts';

describe('extractJwt', () => {
  test('default locations: Authorization Bearer, then X-Goog-Iap-Jwt-Assertion, then ?access_token', () => {
    assert.equal(extractJwt(DEFAULT_JWT_LOCATIONS, 'access_token=q', { authorization: 'Bearer h', 'x-goog-iap-jwt-assertion': 'i' })?.token, 'h');
    assert.equal(extractJwt(DEFAULT_JWT_LOCATIONS, 'access_token=q', { 'x-goog-iap-jwt-assertion': 'i' })?.token, 'i');
    assert.equal(extractJwt(DEFAULT_JWT_LOCATIONS, 'a=1&access_token=q&access_token=r', {})?.token, 'q');
    assert.equal(extractJwt(DEFAULT_JWT_LOCATIONS, 'xaccess_token=q', {}), undefined);
  });

  test('a bare token in Authorization is not taken (ESPv2); the Bearer prefix is case-insensitive', () => {
    assert.equal(extractJwt(DEFAULT_JWT_LOCATIONS, undefined, { authorization: 'abc.def.ghi' }), undefined);
    assert.equal(extractJwt(DEFAULT_JWT_LOCATIONS, undefined, { authorization: 'bearer abc' })?.token, 'abc');
    assert.equal(extractJwt(DEFAULT_JWT_LOCATIONS, undefined, { authorization: 'Bearer ' }), undefined);
  });

  test('custom locations replace the defaults and report where the token was', () => {
    const locs: JwtLocation[] = [{ in: 'header', name: 'x-my-jwt', valuePrefix: 'JWT ' }, { in: 'query', name: 'jwt', valuePrefix: '' }];
    assert.equal(extractJwt(locs, undefined, { authorization: 'Bearer h' }), undefined);
    const f = extractJwt(locs, 'jwt=q', { 'x-my-jwt': 'JWT t' });
    assert.equal(f?.token, 't');
    assert.equal(f?.location, locs[0]);
    assert.equal(extractJwt(locs, 'jwt=q', {})?.location, locs[1]);
  });
});
