import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { authorize } from '../../src/auth/authorization.ts';
import { compileAuthorization } from '../../src/config/authorization.ts';

const rule = (raw: unknown) => {
  const r = compileAuthorization(raw);
  assert.ok(r);
  return r;
};
const status = (e: ReturnType<typeof authorize>) => (e ? `${e.status} ${e.message}` : 'ok');

describe('x-endpoints-authorization', () => {
  test('an empty block compiles to no rule (an operation opts out of the top-level one)', () => {
    assert.equal(compileAuthorization({}), null);
  });

  test('emails: listed and verified passes; case does not matter', () => {
    const r = rule({ emails: ['Alice@Example.com'] });
    assert.equal(status(authorize(r, { email: 'alice@example.COM', email_verified: true })), 'ok');
    assert.equal(status(authorize(r, { email: 'alice@example.com', email_verified: 'true' })), 'ok');
    assert.match(status(authorize(r, { email: 'bob@example.com', email_verified: true })), /^403 PERMISSION_DENIED: .*not allowed/);
  });

  test('an unverified email never passes, even when listed', () => {
    const r = rule({ emails: ['alice@example.com'], email_domains: ['example.com'] });
    assert.match(status(authorize(r, { email: 'alice@example.com' })), /^403 PERMISSION_DENIED: .*not verified/);
    assert.match(status(authorize(r, { email: 'alice@example.com', email_verified: false })), /^403/);
  });

  test('domains: the part after the last @, exactly (no suffix match)', () => {
    const r = rule({ email_domains: ['example.com'] });
    assert.equal(status(authorize(r, { email: 'x@example.com', email_verified: true })), 'ok');
    assert.match(status(authorize(r, { email: 'x@evil-example.com', email_verified: true })), /^403/);
    assert.match(status(authorize(r, { email: 'x@example.com.evil.io', email_verified: true })), /^403/);
    assert.match(status(authorize(r, { email_verified: true })), /^403/);
  });

  test('claims: every claim must hold; a list claim must contain an allowed value; the message names no value', () => {
    const r = rule({ claims: { role: ['admin', 'ops'], tenant: 't1' } });
    assert.equal(status(authorize(r, { role: 'ops', tenant: 't1' })), 'ok');
    assert.equal(status(authorize(r, { role: ['user', 'admin'], tenant: 't1' })), 'ok');
    const e = authorize(r, { role: 'user', tenant: 't1' });
    assert.equal(e?.status, 403);
    assert.equal(e?.message, 'PERMISSION_DENIED: The caller\'s token lacks an allowed value of the claim "role".');
    assert.match(status(authorize(r, { role: 'admin', tenant: 't2' })), /claim "tenant"/);
  });

  test('no verified identity (e.g. an API key only): 403', () => {
    assert.match(status(authorize(rule({ claims: { a: 1 } }), undefined)), /^403 PERMISSION_DENIED/);
  });
});
