import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { extractApiKey } from '../../src/auth/apikeys/extract.ts';
import { clientIp, defaultTrustedHops } from '../../src/auth/apikeys/client-ip.ts';
import type { ApiKeyLocation } from '../../src/config/types.ts';

const DEFAULTS: ApiKeyLocation[] = [
  { in: 'query', name: 'key' },
  { in: 'query', name: 'api_key' },
  { in: 'header', name: 'x-api-key' },
];

describe('extractApiKey', () => {
  test('default order: key, then api_key, then x-api-key', () => {
    assert.equal(extractApiKey(DEFAULTS, 'api_key=api-key-2&key=key-2', {}), 'key-2');
    assert.equal(extractApiKey(DEFAULTS, 'a=1&api_key=k2', { 'x-api-key': 'h' }), 'k2');
    assert.equal(extractApiKey(DEFAULTS, 'a=1', { 'x-api-key': 'h' }), 'h');
    assert.equal(extractApiKey(DEFAULTS, undefined, { 'x-api-key': 'h' }), 'h');
    assert.equal(extractApiKey(DEFAULTS, undefined, {}), undefined);
  });
  test('names match whole parameters only; first occurrence; not decoded', () => {
    assert.equal(extractApiKey(DEFAULTS, 'mykey=x&keys=y&key=AIza%41&key=second', {}), 'AIza%41');
    assert.equal(extractApiKey(DEFAULTS, 'xkey=1', {}), undefined);
  });
  test('an empty value counts as missing and stops the search', () => {
    assert.equal(extractApiKey(DEFAULTS, 'key=&api_key=k2', { 'x-api-key': 'h' }), undefined);
    assert.equal(extractApiKey(DEFAULTS, 'key', { 'x-api-key': 'h' }), undefined);
    assert.equal(extractApiKey(DEFAULTS, 'a=1', { 'x-api-key': '' }), undefined);
  });
  test('custom locations replace the defaults; repeated headers give the first value', () => {
    const custom: ApiKeyLocation[] = [{ in: 'query', name: 'query_name_1' }, { in: 'header', name: 'x-my-key' }];
    assert.equal(extractApiKey(custom, 'query_name_2=a&query_name_1=key-71', {}), 'key-71');
    assert.equal(extractApiKey(custom, 'key=ignored', { 'x-my-key': 'first, second' }), 'first');
    assert.equal(extractApiKey(custom, 'key=ignored', {}), undefined);
  });
});

describe('clientIp', () => {
  test('0 trusted hops: the socket address, X-Forwarded-For ignored', () => {
    assert.equal(clientIp('6.6.6.6', '10.0.0.1', 0), '10.0.0.1');
    assert.equal(clientIp(undefined, '::ffff:127.0.0.1', 0), '127.0.0.1');
  });
  test('N hops: the N-th entry from the right', () => {
    assert.equal(clientIp('6.6.6.6, 1.2.3.4', '10.0.0.1', 1), '1.2.3.4');
    assert.equal(clientIp('192.16.31.84', '10.0.0.1', 1), '192.16.31.84'); // ESPv2 test, one trusted hop
    assert.equal(clientIp('6.6.6.6, 1.2.3.4, 35.1.1.1', '10.0.0.1', 2), '1.2.3.4');
    assert.equal(clientIp('1.2.3.4,35.1.1.1', '10.0.0.1', 2), '1.2.3.4');
    assert.equal(clientIp(['6.6.6.6', '1.2.3.4'], '10.0.0.1', 1), '1.2.3.4');
    assert.equal(clientIp(undefined, '10.0.0.1', 1), '10.0.0.1');
  });
  test('fewer entries than trusted hops, or an empty entry: the socket address, never a caller-written entry', () => {
    assert.equal(clientIp('1.2.3.4', '10.0.0.1', 2), '10.0.0.1');
    assert.equal(clientIp('1.2.3.4', '10.0.0.1', 3), '10.0.0.1');
    assert.equal(clientIp('1.2.3.4, 5.6.7.8', '10.0.0.1', 3), '10.0.0.1');
    assert.equal(clientIp('', '10.0.0.1', 1), '10.0.0.1');
    assert.equal(clientIp('1.2.3.4, ', '10.0.0.1', 1), '10.0.0.1');
    assert.equal(clientIp(',1.2.3.4', '10.0.0.1', 2), '10.0.0.1');
  });
  test('normalizes brackets, ports and mapped IPv4', () => {
    assert.equal(clientIp('[2001:db8::1]:443', undefined, 1), '2001:db8::1');
    assert.equal(clientIp('1.2.3.4:8080', undefined, 1), '1.2.3.4');
    assert.equal(clientIp('::FFFF:1.2.3.4', undefined, 1), '1.2.3.4');
    assert.equal(clientIp('2001:db8::2', undefined, 1), '2001:db8::2');
    assert.equal(clientIp(undefined, undefined, 0), '');
  });
  test('defaultTrustedHops: 1 on Cloud Run, else 0', () => {
    assert.equal(defaultTrustedHops({ K_SERVICE: 'svc' }), 1);
    assert.equal(defaultTrustedHops({}), 0);
  });
});
