import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { compileRestrictions, type RawRestrictions } from '../../src/auth/apikeys/compile.ts';
import { checkRestrictions, type RequestFacts } from '../../src/auth/apikeys/restrictions.ts';
import type { KeyRecord } from '../../src/auth/apikeys/key-record.ts';
import { EspMessages } from '../../src/errors.ts';
import { Wildcard } from '../../src/auth/apikeys/wildcard.ts';
import { threadCpuMs } from '../helpers/busy.ts';

const SVC = 'hello.endpoints.example.cloud.goog';
const base: RequestFacts = {
  serviceName: SVC, operationId: 'GetPet', clientIp: '127.0.0.1',
  referer: undefined, androidPackage: undefined, androidCert: undefined, iosBundleId: undefined,
};

function record(raw: RawRestrictions): KeyRecord {
  const problems: string[] = [];
  const restrictions = compileRestrictions(raw, problems);
  assert.deepEqual(problems, []);
  return { name: 'k', project: '1', displayName: 'k', restrictions };
}
const verdict = (r: KeyRecord, f: Partial<RequestFacts>): string => checkRestrictions(r, { ...base, ...f })?.message ?? 'OK';

describe('apiTargets', () => {
  test('empty methods allow every method of the named service; other services are blocked', () => {
    const r = record({ apiTargets: [{ service: SVC, methods: [] }] });
    assert.equal(verdict(r, {}), 'OK');
    assert.equal(verdict(r, { serviceName: 'other.example.com' }), EspMessages.apiTargetBlocked);
  });
  test('method patterns: exact, trailing wildcard, service-qualified', () => {
    const r = record({ apiTargets: [{ service: SVC, methods: ['ListPets', 'Get*', `${SVC}.Delete*`] }, { service: 'x.com', methods: [] }] });
    assert.equal(verdict(r, { operationId: 'ListPets' }), 'OK');
    assert.equal(verdict(r, { operationId: 'GetPet' }), 'OK');
    assert.equal(verdict(r, { operationId: 'DeletePet' }), 'OK');
    assert.equal(verdict(r, { operationId: 'ListPetsX' }), EspMessages.apiTargetBlocked);
    assert.equal(verdict(r, { operationId: 'CreatePet' }), EspMessages.apiTargetBlocked);
    assert.equal(verdict(record({ apiTargets: [{ service: SVC, methods: [`${SVC}.*`] }] }), { operationId: 'Anything' }), 'OK');
    assert.equal(verdict(record({ apiTargets: [{ service: SVC, methods: [`${SVC}.ListPets`] }] }), { operationId: 'ListPets' }), 'OK');
  });
  test('a bad method pattern is reported', () => {
    const problems: string[] = [];
    compileRestrictions({ apiTargets: [{ service: SVC, methods: ['Get*Pet'] }] }, problems);
    assert.match(problems.join(), /methods\[0\]/);
  });
});

describe('server keys', () => {
  const r = record({ serverKeyRestrictions: { allowedIps: ['10.0.0.0/8', '192.168.1.7', '2001:db8::/32'] } });
  test('IPv4, CIDR, IPv6 and mapped addresses', () => {
    assert.equal(verdict(r, { clientIp: '10.20.30.40' }), 'OK');
    assert.equal(verdict(r, { clientIp: '192.168.1.7' }), 'OK');
    assert.equal(verdict(r, { clientIp: '::ffff:10.0.0.1' }), 'OK');
    assert.equal(verdict(r, { clientIp: '2001:db8:1::5' }), 'OK');
    assert.equal(verdict(r, { clientIp: '192.168.1.8' }), EspMessages.ipBlocked);
    assert.equal(verdict(r, { clientIp: '2001:db9::1' }), EspMessages.ipBlocked);
  });
  test('an unknown or unparsable IP never matches', () => {
    assert.equal(verdict(r, { clientIp: '' }), EspMessages.ipBlocked);
    assert.equal(verdict(r, { clientIp: 'garbage' }), EspMessages.ipBlocked);
    assert.equal(verdict(r, { clientIp: '10.1' }), EspMessages.ipBlocked);
  });
  test('malformed ranges are reported', () => {
    const problems: string[] = [];
    compileRestrictions({ serverKeyRestrictions: { allowedIps: ['10.0.0.0/33', 'nope'] } }, problems);
    assert.equal(problems.length, 2);
  });
});

describe('browser keys', () => {
  const r = record({
    browserKeyRestrictions: { allowedReferrers: ['https://*.example.com/*', 'example.org/app/*', 'localhost', 'shop.test:8443/'] },
  });
  test('Google wildcard forms', () => {
    assert.equal(verdict(r, { referer: 'https://www.example.com/page?q=1' }), 'OK');
    assert.equal(verdict(r, { referer: 'https://a.b.example.com/' }), 'OK');
    assert.equal(verdict(r, { referer: 'http://www.example.com/' }), EspMessages.refererBlocked); // scheme given
    assert.equal(verdict(r, { referer: 'https://example.com/' }), EspMessages.refererBlocked); // *. needs a subdomain
    assert.equal(verdict(r, { referer: 'https://evilexample.com/' }), EspMessages.refererBlocked);
    assert.equal(verdict(r, { referer: 'https://example.org/app/x/y' }), 'OK');
    assert.equal(verdict(r, { referer: 'http://example.org/other' }), EspMessages.refererBlocked);
    assert.equal(verdict(r, { referer: 'http://localhost:3000/index.html' }), 'OK');
    assert.equal(verdict(r, { referer: 'https://shop.test:8443/' }), 'OK');
    assert.equal(verdict(r, { referer: 'https://shop.test/' }), EspMessages.refererBlocked);
    assert.equal(verdict(r, { referer: 'https://www.example.com.evil.net/' }), EspMessages.refererBlocked);
    assert.equal(verdict(r, { referer: 'https://good@evil.net/' }), EspMessages.refererBlocked);
  });
  test('no Referer, or an unparsable one, is blocked even for a bare *', () => {
    const any = record({ browserKeyRestrictions: { allowedReferrers: ['*'] } });
    assert.equal(verdict(any, { referer: 'https://anything.example/x' }), 'OK');
    assert.equal(verdict(any, {}), EspMessages.refererBlocked);
    assert.equal(verdict(r, { referer: 'not a url' }), EspMessages.refererBlocked);
  });
});

describe('referrer patterns match in linear time', () => {
  test('several stars, hostile 60 KiB inputs: answered at once, same verdicts as a regex on benign ones', () => {
    const r = record({ browserKeyRestrictions: { allowedReferrers: ['https://example.com/*/*/*/x', 'https://*.*.*.*.example.net/*'] } });
    assert.equal(verdict(r, { referer: 'https://example.com/a/b/c/x' }), 'OK');
    assert.equal(verdict(r, { referer: 'https://example.com/a/b/c/d/e/x' }), 'OK');
    assert.equal(verdict(r, { referer: 'https://example.com/a/b//x' }), 'OK'); // a `*` may be empty
    assert.equal(verdict(r, { referer: 'https://example.com/a/b/x' }), EspMessages.refererBlocked); // but its slashes are literal
    assert.equal(verdict(r, { referer: 'https://example.com/a/b/c/y' }), EspMessages.refererBlocked);
    assert.equal(verdict(r, { referer: 'https://a.b.c.d.example.net/' }), 'OK');
    // CPU time, not a stopwatch: a backtracking match of these takes seconds of it.
    const ms = threadCpuMs(() => {
      for (const hostile of [
        `https://example.com/${'/'.repeat(60 * 1024)}`,
        `https://example.com/${'a/'.repeat(30 * 1024)}`,
        `https://${'a.'.repeat(30 * 1024)}example.org/`,
      ]) {
        assert.equal(verdict(r, { referer: hostile }), EspMessages.refererBlocked);
      }
    });
    assert.ok(ms < 200, `took ${ms.toFixed(1)} ms of CPU`);
  });

  test('Wildcard agrees with the anchored regex it replaces', () => {
    const patterns = ['', '*', '**', 'a', 'a*', '*a', 'a*a', '*a*', 'a*b*c', '*ab*ba*', '/x/*/y', '*.example.com', 'ab*', '*aa*aa'];
    const subjects = ['', 'a', 'aa', 'aaa', 'ab', 'ba', 'abc', 'aXbYc', 'abba', 'ababa', 'aabbaa', 'aaaa', '/x//y', '/x/q/y', 'w.example.com', '.example.com', 'example.com'];
    for (const p of patterns) {
      const re = new RegExp(`^${p.split('*').map((x) => x.replace(/[.+?^${}()|[\]\\/]/g, '\\$&')).join('.*')}$`);
      const w = new Wildcard(p);
      for (const s of subjects) assert.equal(w.test(s), re.test(s), `${JSON.stringify(p)} vs ${JSON.stringify(s)}`);
    }
  });
});

describe('app keys', () => {
  const sha = 'DA39A3EE5E6B4B0D3255BFEF95601890AFD80709';
  const android = record({ androidKeyRestrictions: { allowedApplications: [{ packageName: 'com.example.app', sha1Fingerprint: sha }] } });
  test('Android: package and fingerprint must match one app (case and colons ignored)', () => {
    const colons = sha.toLowerCase().match(/../g)!.join(':');
    assert.equal(verdict(android, { androidPackage: 'com.example.app', androidCert: colons }), 'OK');
    assert.equal(verdict(android, { androidPackage: 'com.example.app', androidCert: sha }), 'OK');
    assert.equal(verdict(android, { androidPackage: 'com.example.other', androidCert: sha }), EspMessages.clientAppBlocked);
    assert.equal(verdict(android, { androidPackage: 'com.example.app', androidCert: '00'.repeat(20) }), EspMessages.clientAppBlocked);
    assert.equal(verdict(android, { androidPackage: 'com.example.app' }), EspMessages.clientAppBlocked);
  });
  test('iOS: bundle id must be listed', () => {
    const ios = record({ iosKeyRestrictions: { allowedBundleIds: ['com.example.ios'] } });
    assert.equal(verdict(ios, { iosBundleId: 'com.example.ios' }), 'OK');
    assert.equal(verdict(ios, { iosBundleId: 'com.example.other' }), EspMessages.clientAppBlocked);
    assert.equal(verdict(ios, {}), EspMessages.clientAppBlocked);
  });
  test('API target is checked before the application restriction', () => {
    const r = record({ apiTargets: [{ service: 'other', methods: [] }], iosKeyRestrictions: { allowedBundleIds: ['b'] } });
    assert.equal(verdict(r, { iosBundleId: 'x' }), EspMessages.apiTargetBlocked);
  });
  test('two application restrictions are refused', () => {
    const problems: string[] = [];
    compileRestrictions({ iosKeyRestrictions: { allowedBundleIds: ['b'] }, serverKeyRestrictions: { allowedIps: ['1.1.1.1'] } }, problems);
    assert.match(problems.join(), /only one of/);
  });
});
