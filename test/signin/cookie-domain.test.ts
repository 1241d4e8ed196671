// The shared cookie domain's parts that the loopback end-to-end test cannot reach:
// https naming (`__Secure-`, never `__Host-`, which forbids Domain), hosts outside the
// domain keeping their own cookie, and the values refused at start.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cookieDomainProblem, cookiePlacement, parseCookieDomain, withinDomain } from '../../src/signin/cookie-domain.ts';
import { clearCookie, setCookie, withoutOwnedCookies } from '../../src/signin/cookies.ts';

describe('--signin-cookie-domain', () => {
  test('over https the shared cookie is __Secure-, Secure, HttpOnly, SameSite=Lax, with the Domain; the session scope is the domain', () => {
    const place = cookiePlacement(parseCookieDomain('.Example.com'));
    const at = place({ origin: 'https://app.example.com', https: true }, 'endpoints_session');
    assert.deepEqual(at, { name: '__Secure-endpoints_session', domain: 'example.com', scope: 'https://.example.com' });
    assert.equal(setCookie(at.name, 'v', 60, true, at.domain), '__Secure-endpoints_session=v; Path=/; Domain=example.com; Max-Age=60; HttpOnly; SameSite=Lax; Secure');
    assert.equal(clearCookie(at.name, true, at.domain), '__Secure-endpoints_session=; Path=/; Domain=example.com; Max-Age=0; HttpOnly; SameSite=Lax; Secure');
    // An http origin under the same domain is another scope: an https session is never accepted over http.
    assert.equal(place({ origin: 'http://app.example.com', https: false }, 'endpoints_session').scope, 'http://.example.com');
  });

  test('a host outside the domain, and no domain at all, keep the host-only __Host- cookie bound to the origin', () => {
    const outside = cookiePlacement('example.com')({ origin: 'https://app.example.org', https: true }, 'endpoints_session');
    assert.deepEqual(outside, { name: '__Host-endpoints_session', domain: undefined, scope: 'https://app.example.org' });
    assert.deepEqual(cookiePlacement(undefined)({ origin: 'https://app.example.com', https: true }, 'endpoints_session').domain, undefined);
    // evil-example.com is not below example.com
    assert.equal(withinDomain('evil-example.com', 'example.com'), false);
    assert.equal(withinDomain('*.apps.example.com', 'example.com'), true);
  });

  test('the shared cookie never goes upstream', () => {
    assert.equal(withoutOwnedCookies('a=1; __Secure-endpoints_session=x; b=2'), 'a=1; b=2');
  });

  test('values that cannot work are refused with the reason', () => {
    assert.throws(() => parseCookieDomain('com'), /a single label is a top-level domain/);
    assert.throws(() => parseCookieDomain('127.0.0.1'), /an IP address has no subdomains/);
    assert.throws(() => parseCookieDomain('exa mple.com'), /not a domain name/);
    assert.match(cookieDomainProblem('example.com', 'svc', ['app.example.com', 'api.example.org'], undefined) ?? '', /is not a parent of api\.example\.org \(service svc/);
    assert.equal(cookieDomainProblem('example.com', 'svc', ['app.example.com', '*.x.example.com'], undefined), undefined);
    assert.match(cookieDomainProblem('example.com', 'svc', ['app.example.com'], 'https://example.org') ?? '', /does not cover --public-url https:\/\/example\.org/);
  });
});
