// --cors-allow-origin-regex is the operator's, the Origin header the caller's (issue 22): ESPv2
// matches it with RE2 in linear time, so a regex with nested repetition must not let one
// request freeze the gateway. A regex RE2 cannot take is refused at start, naming the flag.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { send, sendRaw } from '../helpers/http.ts';
import { keyedSpec } from '../helpers/specs.ts';
import { runCli } from '../helpers/cli.ts';

/** Exponential for a backtracking engine on `https://a.a.a.…x`: each dot may end `(.*\.)` or sit inside `.*`. */
const REGEX = '^https://(.*\\.)*example\\.com$';
const HOSTILE = `https://${'a.'.repeat(56)}x`;

let dir: string;
let specFile: string;
let gw: ChildGateway;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'egw-cors-re-'));
  specFile = path.join(dir, 'endpoint.yaml');
  await writeFile(specFile, stringify({ ...keyedSpec('corsre', 'http://127.0.0.1:1'), paths: { '/x': { get: { operationId: 'x', responses: { 200: { description: 'ok' } } } } } }));
  gw = await startChildGateway(['--spec', specFile, '--backend-auth', 'none', '--keys', 'none', '--access-log', 'off', '--cors-preset', 'cors_with_regex', '--cors-allow-origin-regex', REGEX]);
});

after(async () => {
  // A process stuck in a regex never runs its SIGTERM handler.
  gw.child.kill('SIGTERM');
  const t = setTimeout(() => gw.child.kill('SIGKILL'), 5000);
  await gw.exit();
  clearTimeout(t);
  await rm(dir, { recursive: true, force: true });
});

/** One request on a raw socket, closed by the gateway once answered; '' when nothing came within the (generous) limit. */
const raw = (method: string, origin: string, extra = '') =>
  sendRaw(gw.url, `${method} /healthz HTTP/1.1\r\nHost: corsre\r\nOrigin: ${origin}\r\n${extra}Connection: close\r\n\r\n`, 10_000);

describe('--cors-allow-origin-regex with nested repetition', () => {
  test(`a ${HOSTILE.length}-byte Origin on GET /healthz is answered, without CORS headers; another client is served next`, async () => {
    assert.equal(HOSTILE.length, 121);
    const reply = await raw('GET', HOSTILE);
    assert.match(reply, /^HTTP\/1\.1 200 /, `no answer to the hostile Origin: ${JSON.stringify(reply.slice(0, 200))}`);
    assert.doesNotMatch(reply, /access-control-allow-origin/i);

    const other = await send(gw.url, '/healthz', { headers: { origin: 'https://a.b.example.com' } });
    assert.equal(other.status, 200);
    assert.equal(other.headers['access-control-allow-origin'], 'https://a.b.example.com');
  });

  test('a preflight with the hostile Origin gets ESPv2\'s 400; a matching preflight is answered 200', async () => {
    const reply = await raw('OPTIONS', HOSTILE, 'Access-Control-Request-Method: GET\r\n');
    assert.match(reply, /^HTTP\/1\.1 400 /, JSON.stringify(reply.slice(0, 200)));
    assert.match(reply, /"code":400,"message":"The CORS preflight request is missing one \(or more\)/);

    const ok = await send(gw.url, '/x', { method: 'OPTIONS', headers: { origin: 'https://example.com', 'access-control-request-method': 'GET' } });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['access-control-allow-origin'], 'https://example.com');
    // The whole value must match (Envoy's safe_regex), not a part of it.
    const tail = await send(gw.url, '/healthz', { headers: { origin: 'https://example.com.evil.test' } });
    assert.equal(tail.headers['access-control-allow-origin'], undefined);
  });
});

describe('a --cors-allow-origin-regex RE2 cannot take is refused at start', () => {
  test('backreferences, lookahead and a program too large: exit non-zero, one line naming the flag and why', async () => {
    const serve = (regex: string) =>
      runCli(['serve', '--spec', specFile, '--port', '0', '--backend-auth', 'none', '--keys', 'none', '--cors-preset', 'cors_with_regex', '--cors-allow-origin-regex', regex], { timeoutMs: 60_000 });
    const [backref, lookahead, big] = await Promise.all([serve('(a)\\1'), serve('^https://(?=x).*$'), serve('(a|b){600}')]);
    for (const r of [backref, lookahead, big]) {
      assert.ok(r.code !== 0 && r.code !== null, `exit ${String(r.code)}: ${r.stderr}`);
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /--cors-allow-origin-regex is not a valid RE2 regular expression: /);
    }
    assert.match(backref.stderr, /invalid escape sequence: `\\1` \(backreferences are not supported/);
    assert.match(lookahead.stderr, /`\(\?=` \(lookahead and lookbehind are not supported/);
    assert.match(big.stderr, /regex program size \(\d+\) is larger than the maximum of 1000/);
  });
});
