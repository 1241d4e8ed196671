// Keys and tokens never reach the logs, whatever name, case or separator they are
// sent under, in the path, in a logged header, or in a URL quoted by a non-access line.
// The real CLI process; every line it writes to stdout or stderr is searched.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { send } from '../helpers/http.ts';
import { CLOSED_URL } from '../helpers/closed-port.ts';

/** A Google-API-key-shaped secret: AIza and 35 URL-safe characters. */
const googleKey = (i: number) => `AIzaSyLogLeak${String(i).padStart(3, '0')}`.padEnd(39, 'Q_-x').slice(0, 39);
/** A secret with no recognisable shape: only its parameter name gives it away. */
const opaque = (i: number) => `opaque${i}zz9Tk7Secret`;

interface Case {
  readonly path: string;
  readonly headers?: Record<string, string>;
  /** The requestUrl (or userAgent) the access log must show. */
  readonly url: string;
  readonly userAgent?: string;
}

const secrets: string[] = [];
const g = (i: number) => (secrets.push(googleKey(i)), googleKey(i));
const s = (i: number) => (secrets.push(opaque(i)), opaque(i));

const CASES: Case[] = [
  { path: `/items/1?KEY=${s(1)}`, url: '/items/1?KEY=REDACTED' },
  { path: `/items/1?Key=${s(2)}`, url: '/items/1?Key=REDACTED' },
  { path: `/items/1?a=1;key=${s(3)}`, url: '/items/1?a=1;key=REDACTED' },
  { path: `/items/1?apikey=${s(4)}`, url: '/items/1?apikey=REDACTED' },
  { path: `/items/1?api-key=${s(5)}`, url: '/items/1?api-key=REDACTED' },
  { path: `/items/1?api_key=${s(6)}`, url: '/items/1?api_key=REDACTED' },
  { path: `/items/1?API_KEY=${s(7)}`, url: '/items/1?API_KEY=REDACTED' },
  { path: `/items/1?key[]=${s(8)}`, url: '/items/1?key[]=REDACTED' },
  { path: `/items/1?key%5B%5D=${s(9)}`, url: '/items/1?key%5B%5D=REDACTED' },
  { path: `/items/1?access_token=${s(10)}`, url: '/items/1?access_token=REDACTED' },
  { path: `/items/1?token=${s(11)}`, url: '/items/1?token=REDACTED' },
  { path: `/items/1?id_token=${s(12)}`, url: '/items/1?id_token=REDACTED' },
  { path: `/items/1?x-api-key=${s(13)}`, url: '/items/1?x-api-key=REDACTED' },
  { path: `/items/1?X-Goog-Api-Key=${s(14)}`, url: '/items/1?X-Goog-Api-Key=REDACTED' },
  { path: `/items/1?%6Bey=${s(15)}`, url: '/items/1?%6Bey=REDACTED' },
  { path: `/items/1?a=1?key=${s(16)}`, url: '/items/1?a=1?key=REDACTED' },
  // The spec's own credential name (its securityDefinitions), which no list knows.
  { path: `/items/1?next=%2Fcb&sesame=${s(17)}`, url: '/items/1?next=%2Fcb&sesame=REDACTED' },
  { path: `/items/1?x=1&key=${s(18)}&y=2`, url: '/items/1?x=1&key=REDACTED&y=2' },
  { path: `/items/1;key=${s(19)}`, url: '/items/1;key=REDACTED' },
  { path: `/items/1?redirect=https://app.test/cb?token=${s(20)}`, url: '/items/1?redirect=https://app.test/cb?token=REDACTED' },
  { path: `/items/1?token=${s(21)}&key=${g(21)}`, url: '/items/1?token=REDACTED&key=REDACTED' },
  // Google-shaped keys wherever they are.
  { path: `/v1/${g(22)}/x`, url: '/v1/REDACTED/x' },
  { path: `/items/${g(23)}`, url: '/items/REDACTED' },
  { path: `/items/1?q=${g(24)}`, url: '/items/1?q=REDACTED' },
  { path: `/items/1?${g(25)}`, url: '/items/1?REDACTED' },
  { path: `/dead/${g(26)}?key=${s(26)}`, url: '/dead/REDACTED?key=REDACTED' },
  // Logged headers.
  { path: '/items/ua1', headers: { 'user-agent': `probe/1.0 ${g(27)}` }, url: '/items/ua1', userAgent: 'probe/1.0 REDACTED' },
  { path: '/items/ua2', headers: { 'user-agent': `probe/1.0 (key=${s(28)})` }, url: '/items/ua2', userAgent: 'probe/1.0 (key=REDACTED)' },
];

// A JWKS address with credentials in it: the fetch fails, and the warning quotes the address.
const JWKS_SECRET = s(40);
const JWKS_KEY = g(41);

let gw: ChildGateway;
let backend: TestBackend;
let dir: string;

before(async () => {
  backend = await startTestBackend();
  dir = await mkdtemp(path.join(tmpdir(), 'egw-logs-secrets-'));
  const specFile = path.join(dir, 'endpoint.yaml');
  const op = (operationId: string, extra: Record<string, unknown> = {}) => ({ operationId, responses: { 200: { description: 'ok' } }, ...extra });
  await writeFile(
    specFile,
    stringify({
      swagger: '2.0',
      info: { title: 'secrets', version: '1' },
      host: 'secrets.endpoints.p.cloud.goog',
      'x-google-backend': { address: backend.url },
      securityDefinitions: {
        sesame: { type: 'apiKey', name: 'sesame', in: 'query' },
        idp: {
          type: 'oauth2',
          flow: 'implicit',
          authorizationUrl: '',
          'x-google-issuer': 'https://idp.test',
          'x-google-jwks_uri': `${CLOSED_URL}/jwks?key=${JWKS_SECRET}&client=${JWKS_KEY}`,
          'x-google-audiences': 'aud',
        },
      },
      paths: {
        '/items/{id}': { get: op('items', { security: [], parameters: [{ name: 'id', in: 'path', required: true, type: 'string' }] }) },
        '/sesame': { get: op('sesame', { security: [{ sesame: [] }] }) },
        '/signed': { get: op('signed', { security: [{ idp: [] }] }) },
        '/dead/{id}': {
          get: op('dead', {
            security: [],
            parameters: [{ name: 'id', in: 'path', required: true, type: 'string' }],
            'x-google-backend': { address: `${CLOSED_URL}/x` },
          }),
        },
      },
    }),
  );
  gw = await startChildGateway(['--spec', specFile, '--backend-auth', 'none', '--keys', 'none']);
  for (const c of CASES) await send(gw.url, c.path, { headers: c.headers ?? {} });
  await gw.waitForLog((l) => l.message === 'request' && (l.httpRequest as { requestUrl: string }).requestUrl === CASES.at(-1)!.url);
  // Keys are fetched on the first token that needs them (nothing at start with --backend-auth none).
  const header = Buffer.from(JSON.stringify({ alg: 'RS256', kid: 'k' })).toString('base64url');
  const claims = Buffer.from(JSON.stringify({ iss: 'https://idp.test', aud: 'aud', exp: 4e9 })).toString('base64url');
  await send(gw.url, '/signed', { headers: { authorization: `Bearer ${header}.${claims}.c2ln` } });
  await gw.waitForLog((l) => String(l.message).includes('JWKS'));
});

after(async () => {
  gw?.child.kill('SIGTERM');
  await gw?.exit();
  await backend?.close();
  await rm(dir, { recursive: true, force: true });
});

test('no key or token appears in any line the process wrote', () => {
  const lines = [...gw.logs.map((l) => JSON.stringify(l)), ...gw.stderr().split('\n')];
  assert.ok(lines.length > CASES.length, `captured ${lines.length} lines`);
  for (const secret of secrets) {
    for (const line of lines) assert.ok(!line.includes(secret), `a log line contains ${secret}: ${line.slice(0, 300)}`);
  }
});

test('each near-miss form is redacted in place, keeping the parameter name', () => {
  const access = gw.logs.filter((l) => l.message === 'request' && (l.httpRequest as { requestUrl: string }).requestUrl !== '/signed').map((l) => l.httpRequest as { requestUrl: string; userAgent?: string });
  assert.equal(access.length, CASES.length);
  CASES.forEach((c, i) => {
    assert.equal(access[i]!.requestUrl, c.url, c.path);
    if (c.userAgent !== undefined) assert.equal(access[i]!.userAgent, c.userAgent, c.headers?.['user-agent']);
  });
});

test('a URL quoted by another line (the JWKS warning) is redacted too', () => {
  const warning = gw.logs.find((l) => String(l.message).includes('JWKS'))!;
  assert.equal(warning.url, `${CLOSED_URL}/jwks?key=REDACTED&client=REDACTED`);
});
