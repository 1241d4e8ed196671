// The host table and the host a request is for: exact names, `*.` wildcards
// (longest suffix first), the default, and which headers are believed.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { buildHostTable, normalizeHost } from '../../src/services/host-table.ts';
import { createHostReader } from '../../src/services/request-host.ts';
import { severalSpecsError } from '../../src/services/services.ts';
import type { GatewayOptions } from '../../src/runtime/options.ts';

const req = (headers: Record<string, string | string[]>) => ({ headers }) as unknown as IncomingMessage;

describe('host table', () => {
  const table = buildHostTable(
    [
      { names: ['api.example.com', '*.example.com'], value: 'outer', owner: 'outer' },
      { names: ['*.eu.example.com'], value: 'eu', owner: 'eu' },
    ],
    undefined,
  );

  test('an exact name wins over every wildcard; the longest wildcard wins over a shorter one', () => {
    assert.equal(table.pick('api.example.com'), 'outer');
    assert.equal(table.pick('x.eu.example.com'), 'eu');
    assert.equal(table.pick('a.b.eu.example.com'), 'eu');
    assert.equal(table.pick('www.example.com'), 'outer');
  });

  test('a wildcard never matches its bare parent, nor a name that only ends with the same letters', () => {
    assert.equal(table.pick('example.com'), undefined);
    assert.equal(table.pick('eu.example.com'), 'outer');
    assert.equal(table.pick('badexample.com'), undefined);
    assert.equal(table.pick(undefined), undefined);
  });

  test('the default takes hosts nobody names', () => {
    const t = buildHostTable([{ names: ['a.test'], value: 1, owner: 'a' }], 2);
    assert.equal(t.pick('a.test'), 1);
    assert.equal(t.pick('b.test'), 2);
    assert.equal(t.pick(undefined), 2);
  });

  test('a name claimed by two services is refused, whatever its case', () => {
    assert.throws(
      () => buildHostTable([{ names: ['A.test'], value: 1, owner: 'one' }, { names: ['a.test'], value: 2, owner: 'two' }], undefined),
      /host a\.test is named by two services: one and two/,
    );
    assert.throws(() => buildHostTable([{ names: ['*.x.test'], value: 1, owner: 'one' }, { names: ['*.X.test'], value: 2, owner: 'two' }], undefined), /two services/);
  });

  test('normalizeHost: lower case, no port, no trailing dot; IPv6 literals keep their brackets', () => {
    assert.equal(normalizeHost('API.Example.com:8443'), 'api.example.com');
    assert.equal(normalizeHost('api.example.com.'), 'api.example.com');
    assert.equal(normalizeHost('[::1]:8080'), '[::1]');
    assert.equal(normalizeHost(''), undefined);
    assert.equal(normalizeHost(undefined), undefined);
  });
});

describe('the host a request is for', () => {
  test('without trusted hops: Host (or :authority), never X-Forwarded-Host', () => {
    const read = createHostReader(0);
    assert.equal(read(req({ host: 'a.test', 'x-forwarded-host': 'b.test' })), 'a.test');
    assert.equal(read(req({ ':authority': 'h2.test:443' })), 'h2.test');
  });

  test("with trusted hops: the nearest proxy's X-Forwarded-Host, else Host", () => {
    const read = createHostReader(1);
    assert.equal(read(req({ host: 'a.test', 'x-forwarded-host': 'evil.test, B.test' })), 'b.test');
    assert.equal(read(req({ host: 'a.test' })), 'a.test');
    assert.equal(read(req({ host: 'a.test', 'x-forwarded-host': ' ' })), 'a.test');
  });
});

describe('flags that name one service', () => {
  const base = { specFile: 'a.yaml', port: 0, backendAuth: 'none', keys: 'none', trustedHops: 0 } as unknown as GatewayOptions;
  test('--service-name and --config-id are refused with several --spec; --default-service needs several', () => {
    assert.match(severalSpecsError({ ...base, serviceName: 'x' }, ['a', 'b']) ?? '', /--service-name names one service/);
    assert.match(severalSpecsError({ ...base, configId: '1-abc' }, ['a', 'b']) ?? '', /--config-id pins one service/);
    assert.match(severalSpecsError({ ...base, defaultService: 'x' }, ['a']) ?? '', /--default-service needs more than one --spec/);
    assert.equal(severalSpecsError({ ...base, serviceName: 'x' }, ['a']), undefined);
    assert.equal(severalSpecsError(base, ['a', 'b']), undefined);
  });
});
