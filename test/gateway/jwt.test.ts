// End-user JWTs end to end: the real gateway, a token issuer with JWKS and
// OpenID discovery on loopback, the API Keys emulator, the metadata emulator
// (backend ID tokens), and a backend that checks the gateway's signed
// identity assertion against the published JWKS with jose.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync } from 'node:crypto';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { calculateJwkThumbprint, createRemoteJWKSet, jwtVerify, type JWK, type JWTPayload } from 'jose';
import { startApiKeysEmulator, type ApiKeysEmulator } from '../emulators/apikeys-server.ts';
import { startMetadataEmulator, type MetadataEmulator } from '../emulators/metadata-server.ts';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { baseSpec, op, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { send, type Reply } from '../helpers/http.ts';
import { CLOSED_URL } from '../helpers/closed-port.ts';
import { startTestIssuer, type TestIssuer } from '../jwt/issuer.ts';

const SERVICE = 'jwt-api.endpoints.test-project.cloud.goog';
const JWKS_PATH = '/.well-known/endpoints-gateway/jwks.json';
const MISSING_KEY =
  "UNAUTHENTICATED: Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.";

let issuer: TestIssuer;
let keys: ApiKeysEmulator;
let meta: MetadataEmulator;
let backend: TestBackend;
let gw: TestGateway;
let validKey: string;
let keyDir: string;
let signingKeyObject: KeyObject;

/** A backend outside Google Cloud: it accepts a call only with a valid gateway assertion. */
interface AssertingBackend {
  url: string;
  seen: { headers: IncomingHttpHeaders; claims?: JWTPayload; error?: string }[];
  server: Server;
}
let asserting: AssertingBackend;
let gatewayJwksUrl = '';

async function startAssertingBackend(): Promise<AssertingBackend> {
  let jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  const seen: AssertingBackend['seen'] = [];
  const server = createServer((req, res) => {
    void (async () => {
      jwks ??= createRemoteJWKSet(new URL(gatewayJwksUrl));
      const h = req.headers['x-endpoints-gateway-assertion'];
      const entry: AssertingBackend['seen'][number] = { headers: req.headers };
      seen.push(entry);
      try {
        if (typeof h !== 'string') throw new Error('no assertion');
        const { payload } = await jwtVerify(h, jwks, { issuer: SERVICE, audience: `${url}/asserted` });
        entry.claims = payload;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(payload));
      } catch (e) {
        entry.error = (e as Error).message;
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: entry.error }));
      }
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, seen, server };
}

const oauth2 = (name: string, extra: Record<string, unknown> = {}) => ({
  type: 'oauth2',
  flow: 'implicit',
  authorizationUrl: '',
  'x-google-issuer': issuer.iss(name),
  ...extra,
});

before(async () => {
  issuer = await startTestIssuer();
  await issuer.addKey('fb', 'RS256');
  await issuer.addKey('a0', 'ES256');
  await issuer.addKey('rot', 'RS256');
  await issuer.addKey('dead', 'RS256');
  keys = await startApiKeysEmulator();
  validKey = `AIzaSyJWT000001${'x'.repeat(24)}`;
  keys.addKey({ keyString: validKey, project: '555666777' });
  meta = await startMetadataEmulator();
  process.env.GCE_METADATA_HOST = meta.host;
  process.env.METADATA_SERVER_DETECTION = 'assume-present';
  process.env.GOOGLE_CLOUD_PROJECT = 'test-project';
  backend = await startTestBackend();
  asserting = await startAssertingBackend();
  keyDir = await mkdtemp(path.join(tmpdir(), 'egw-signing-'));
  const signingKey = path.join(keyDir, 'signing.pem');
  signingKeyObject = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  await writeFile(signingKey, signingKeyObject.export({ type: 'pkcs8', format: 'pem' }) as string);

  const sec = (...alts: Record<string, string[]>[]) => ({ security: alts });
  const assertedBackend = { 'x-google-backend': { address: `${asserting.url}/asserted`, 'x-endpoints-identity-header': true, disable_auth: true } };
  gw = await startTestGateway({
    backendAuth: 'google',
    keys: 'google',
    apikeysEndpoint: keys.url,
    signingKey,
    jwksCooldownMs: 0,
    spec: baseSpec({
      host: SERVICE,
      'x-google-backend': { address: backend.url },
      securityDefinitions: {
        fb: oauth2('fb', { 'x-google-jwks_uri': issuer.jwksUri('fb'), 'x-google-audiences': 'fb-aud, other-aud' }),
        a0: oauth2('a0'), // OpenID discovery; default audience https://<service name>
        rot: oauth2('rot', { 'x-google-jwks_uri': issuer.jwksUri('rot'), 'x-google-audiences': 'rot-aud' }),
        dead: oauth2('dead', { 'x-google-jwks_uri': `${CLOSED_URL}/jwks`, 'x-google-audiences': 'dead-aud' }),
        custom: oauth2('fb', { 'x-google-jwks_uri': issuer.jwksUri('fb'), 'x-google-audiences': 'fb-aud', 'x-google-jwt-locations': [{ header: 'X-My-Jwt', value_prefix: 'Token ' }] }),
        api_key: { type: 'apiKey', name: 'key', in: 'query' },
      },
      paths: {
        '/fb': { get: op('fb', sec({ fb: [] })) },
        '/either': { get: op('either', sec({ fb: [] }, { a0: [] })) },
        '/fb-and-key': { get: op('fbAndKey', sec({ fb: [], api_key: [] })) },
        '/fb-or-key': { get: op('fbOrKey', sec({ fb: [] }, { api_key: [] })) },
        '/open': { get: op('open', sec()) },
        '/rot': { get: op('rot', sec({ rot: [] })) },
        '/dead': { get: op('dead', sec({ dead: [] })) },
        '/custom': { get: op('custom', sec({ custom: [] })) },
        '/emails': { get: op('emails', { ...sec({ fb: [] }), 'x-endpoints-authorization': { emails: ['alice@example.com'] } }) },
        '/domain': { get: op('domain', { ...sec({ fb: [] }, { api_key: [] }), 'x-endpoints-authorization': { email_domains: ['example.com'] } }) },
        '/claims': { get: op('claims', { ...sec({ fb: [] }), 'x-endpoints-authorization': { claims: { role: ['admin', 'ops'] } } }) },
        '/asserted': { get: op('asserted', { ...sec({ fb: [] }, { api_key: [] }), ...assertedBackend }) },
        '/asserted-open': { get: op('assertedOpen', { ...sec(), ...assertedBackend }) },
      },
    }),
  });
  gatewayJwksUrl = `${gw.url}${JWKS_PATH}`;
});

after(async () => {
  await gw?.close();
  await backend?.close();
  await new Promise((r) => asserting?.server.close(r));
  asserting?.server.closeAllConnections();
  await keys?.close();
  await meta?.close();
  await issuer?.close();
  if (keyDir) await rm(keyDir, { recursive: true, force: true });
});

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const fbToken = (claims: JWTPayload = {}, opts?: Parameters<TestIssuer['mint']>[2]) => issuer.mint('fb', { aud: 'fb-aud', ...claims }, opts);

function expectError(r: Reply, status: number, message: string): void {
  assert.equal(r.status, status, r.body);
  assert.deepEqual(r.json(), { code: status, message });
}

async function refusedWithoutBackend(p: string, headers: Record<string, string>, status: number, message: string): Promise<void> {
  backend.clear();
  expectError(await send(gw.url, p, { headers }), status, message);
  assert.equal(backend.requests.length, 0, 'the backend was not called');
}

describe('JWT authentication (ESPv2)', () => {
  test('a valid token: the backend gets the payload in X-Endpoint-API-UserInfo, the caller Authorization in X-Forwarded-Authorization, and an ID token', async () => {
    const token = await fbToken({ email: 'alice@example.com' });
    backend.clear();
    const r = await send(gw.url, '/fb', { headers: { ...bearer(token), 'x-endpoint-api-userinfo': 'untrusted-payload' } });
    assert.equal(r.status, 200, r.body);
    const seen = backend.last()!;
    const userInfo = seen.headers['x-endpoint-api-userinfo'];
    assert.equal(userInfo, token.split('.')[1]);
    assert.doesNotMatch(String(userInfo), /=/);
    assert.equal(JSON.parse(Buffer.from(String(userInfo), 'base64url').toString()).email, 'alice@example.com');
    assert.equal(seen.headers['x-forwarded-authorization'], `Bearer ${token}`);
    const idToken = String(seen.headers.authorization).slice('Bearer '.length);
    assert.equal((await meta.verify(idToken, backend.url)).aud, backend.url);
  });

  test('a caller-sent X-Endpoint-API-UserInfo never reaches a backend (open route)', async () => {
    backend.clear();
    const r = await send(gw.url, '/open', { headers: { 'x-endpoint-api-userinfo': 'eyJzdWIiOiJhZG1pbiJ9' } });
    assert.equal(r.status, 200);
    assert.equal(backend.last()!.headers['x-endpoint-api-userinfo'], undefined);
  });

  test('default locations: X-Goog-Iap-Jwt-Assertion and ?access_token', async () => {
    const token = await fbToken();
    assert.equal((await send(gw.url, '/fb', { headers: { 'x-goog-iap-jwt-assertion': token } })).status, 200);
    assert.equal((await send(gw.url, `/fb?access_token=${token}`)).status, 200);
  });

  test('x-google-jwt-locations replace the defaults', async () => {
    const token = await fbToken();
    assert.equal((await send(gw.url, '/custom', { headers: { 'x-my-jwt': `Token ${token}` } })).status, 200);
    await refusedWithoutBackend('/custom', bearer(token), 401, 'Jwt is missing');
  });

  test('two issuers OR-ed: RS256 with a jwks_uri, ES256 found by OpenID discovery', async () => {
    assert.equal((await send(gw.url, '/either', { headers: bearer(await fbToken()) })).status, 200);
    const a0 = await issuer.mint('a0', { aud: `https://${SERVICE}` });
    assert.equal((await send(gw.url, '/either', { headers: bearer(a0) })).status, 200);
    assert.equal(issuer.discoveryFetches('a0'), 1);
  });

  test('keys are fetched once and reused across requests', async () => {
    const before = issuer.jwksFetches('fb');
    for (let i = 0; i < 5; i++) assert.equal((await send(gw.url, '/fb', { headers: bearer(await fbToken({ sub: `n${i}` })) })).status, 200);
    assert.equal(issuer.jwksFetches('fb'), before);
  });
});

describe('JWT errors: ESPv2 statuses and texts, no backend call', () => {
  test('missing: 401 "Jwt is missing" (also when a key is sent: JWT first)', async () => {
    await refusedWithoutBackend('/fb', {}, 401, 'Jwt is missing');
    await refusedWithoutBackend(`/fb-and-key?key=${validKey}`, {}, 401, 'Jwt is missing');
    await refusedWithoutBackend('/fb', { authorization: 'Basic dXNlcjpwYXNz' }, 401, 'Jwt is missing');
  });

  test('issuer not configured for the operation: 401', async () => {
    await refusedWithoutBackend('/fb', bearer(await issuer.mint('a0', { aud: 'fb-aud' })), 401, 'Jwt issuer is not configured');
  });

  test('audience not allowed: 403', async () => {
    await refusedWithoutBackend('/fb', bearer(await fbToken({ aud: 'someone-else' })), 403, 'Audiences in Jwt are not allowed');
    // The default audience is https://<service name>.
    await refusedWithoutBackend('/either', bearer(await issuer.mint('a0', { aud: 'fb-aud' })), 403, 'Audiences in Jwt are not allowed');
  });

  test('expired, not yet valid', async () => {
    await refusedWithoutBackend('/fb', bearer(await fbToken({}, { expSecondsFromNow: -600 })), 401, 'Jwt is expired');
    await refusedWithoutBackend('/fb', bearer(await fbToken({ nbf: Math.floor(Date.now() / 1000) + 600 })), 401, 'Jwt not yet valid');
  });

  test('bad signature, malformed token', async () => {
    const [h, , s] = (await fbToken()).split('.');
    const forged = Buffer.from(JSON.stringify({ iss: issuer.iss('fb'), aud: 'fb-aud', sub: 'admin' })).toString('base64url');
    await refusedWithoutBackend('/fb', bearer(`${h}.${forged}.${s}`), 401, 'Jwt verification fails');
    await refusedWithoutBackend('/fb', bearer('not-a-jwt'), 401, 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections');
  });

  test('JWKS unreachable: 401 "Jwks remote fetch is failed"', async () => {
    await refusedWithoutBackend('/dead', bearer(await issuer.mint('dead', { aud: 'dead-aud' })), 401, 'Jwks remote fetch is failed');
  });

  test('tokens never appear in logs', async () => {
    const token = await fbToken({ sub: 'log-check' });
    await send(gw.url, '/fb', { headers: bearer(token) });
    await send(gw.url, `/fb?access_token=${token}`);
    const sig = token.split('.')[2]!;
    assert.ok(!gw.rawLogs.some((l) => l.includes(sig)), 'a token signature was logged');
  });
});

describe('JWT and API keys together', () => {
  test('JWT AND key: both needed; the key stage answers its own errors', async () => {
    const token = await fbToken();
    backend.clear();
    const r = await send(gw.url, `/fb-and-key?key=${validKey}`, { headers: bearer(token) });
    assert.equal(r.status, 200, r.body);
    assert.equal(backend.last()!.headers['x-endpoint-api-consumer-number'], '555666777');
    await refusedWithoutBackend('/fb-and-key', bearer(token), 401, MISSING_KEY);
    await refusedWithoutBackend('/fb-and-key?key=AIzaSyUNKNOWN0000000000000000000000000000', bearer(token), 400, 'INVALID_ARGUMENT: API key not valid. Please pass a valid API key.');
  });

  test('JWT OR key: a token alone passes without any key lookup; a key alone passes; neither is refused', async () => {
    keys.resetCounts();
    assert.equal((await send(gw.url, '/fb-or-key?key=AIzaSyUNKNOWN0000000000000000000000000000', { headers: bearer(await fbToken()) })).status, 200);
    assert.equal(keys.counts.lookupKey, 0, 'a satisfied JWT alternative never validates a key');
    assert.equal((await send(gw.url, `/fb-or-key?key=${validKey}`)).status, 200);
    await refusedWithoutBackend('/fb-or-key', {}, 401, MISSING_KEY);
  });

  test('JWT OR key: a present but invalid token is refused even with a valid key (allow_missing)', async () => {
    await refusedWithoutBackend(`/fb-or-key?key=${validKey}`, bearer(await fbToken({ aud: 'nope' })), 403, 'Audiences in Jwt are not allowed');
  });
});

describe('key rotation mid-run', () => {
  test('a token signed by a new key is accepted after one JWKS refetch; a new token from the retired key is refused', async () => {
    const oldKid = (await issuer.addKey('rot', 'RS256'));
    const first = await issuer.mint('rot', { aud: 'rot-aud' }, { kid: oldKid });
    assert.equal((await send(gw.url, '/rot', { headers: bearer(first) })).status, 200);
    const before = issuer.jwksFetches('rot');
    await issuer.rotate('rot', 'ES256');
    assert.equal((await send(gw.url, '/rot', { headers: bearer(await issuer.mint('rot', { aud: 'rot-aud' })) })).status, 200);
    assert.equal(issuer.jwksFetches('rot') - before, 1);
    // ESPv2 keeps a verified token until it expires; a token it never saw needs a current key.
    assert.equal((await send(gw.url, '/rot', { headers: bearer(first) })).status, 200);
    await issuer.addKey('rot', 'RS256'); // a key the gateway has not seen
    const retired = await issuer.rotate('rot', 'RS256');
    const stale = await issuer.mint('rot', { aud: 'rot-aud', sub: 'late' }, { kid: retired });
    await issuer.rotate('rot', 'RS256');
    await refusedWithoutBackend('/rot', bearer(stale), 401, "Jwks doesn't have key to match kid or alg from Jwt");
  });
});

describe('x-endpoints-authorization', () => {
  test('allowed emails: listed and verified only; the refusal names no email', async () => {
    assert.equal((await send(gw.url, '/emails', { headers: bearer(await fbToken({ email: 'alice@example.com', email_verified: true })) })).status, 200);
    const r = await send(gw.url, '/emails', { headers: bearer(await fbToken({ email: 'bob@example.com', email_verified: true })) });
    assert.equal(r.status, 403);
    assert.match(r.json<{ message: string }>().message, /^PERMISSION_DENIED: /);
    assert.doesNotMatch(r.body, /bob|example\.com/);
    await refusedWithoutBackend('/emails', bearer(await fbToken({ email: 'alice@example.com', email_verified: false })), 403, "PERMISSION_DENIED: The caller's email is not verified.");
  });

  test('email domains; an API-key-only caller carries no identity and is refused', async () => {
    assert.equal((await send(gw.url, '/domain', { headers: bearer(await fbToken({ email: 'carol@example.com', email_verified: true })) })).status, 200);
    assert.equal((await send(gw.url, '/domain', { headers: bearer(await fbToken({ email: 'carol@example.org', email_verified: true })) })).status, 403);
    assert.equal((await send(gw.url, `/domain?key=${validKey}`)).status, 403);
  });

  test('required claims', async () => {
    assert.equal((await send(gw.url, '/claims', { headers: bearer(await fbToken({ role: 'ops' })) })).status, 200);
    await refusedWithoutBackend('/claims', bearer(await fbToken({ role: 'user' })), 403, 'PERMISSION_DENIED: The caller\'s token lacks an allowed value of the claim "role".');
  });
});

describe('signed identity assertion', () => {
  test('the backend verifies the assertion against the published JWKS: issuer, audience, user, consumer project', async () => {
    asserting.seen.length = 0;
    const token = await fbToken({ sub: 'user-42', email: 'dave@example.com', email_verified: true });
    const r = await send(gw.url, '/asserted', { headers: bearer(token) });
    assert.equal(r.status, 200, r.body);
    const claims = asserting.seen[0]!.claims!;
    assert.equal(claims.iss, SERVICE);
    assert.equal(claims.aud, `${asserting.url}/asserted`);
    assert.equal(claims.sub, 'user-42');
    assert.equal(claims.email, 'dave@example.com');
    assert.equal(claims.user_iss, issuer.iss('fb'));
    assert.ok(claims.exp! - claims.iat! <= 120);

    const k = await send(gw.url, `/asserted?key=${validKey}`);
    assert.equal(k.status, 200, k.body);
    assert.equal(asserting.seen[1]!.claims!.consumer_project, '555666777');
    assert.equal(asserting.seen[1]!.claims!.sub, undefined);
  });

  test('a caller-forged assertion is replaced on asserting routes and removed elsewhere', async () => {
    asserting.seen.length = 0;
    const r = await send(gw.url, '/asserted-open', { headers: { 'x-endpoints-gateway-assertion': 'forged.jwt.value' } });
    assert.equal(r.status, 200, r.body);
    assert.notEqual(asserting.seen[0]!.headers['x-endpoints-gateway-assertion'], 'forged.jwt.value');
    backend.clear();
    await send(gw.url, '/open', { headers: { 'x-endpoints-gateway-assertion': 'forged.jwt.value' } });
    assert.equal(backend.last()!.headers['x-endpoints-gateway-assertion'], undefined);
  });

  test('routes without the extension get no assertion', async () => {
    backend.clear();
    await send(gw.url, '/fb', { headers: bearer(await fbToken()) });
    assert.equal(backend.last()!.headers['x-endpoints-gateway-assertion'], undefined);
  });

  test('the JWKS route: no key needed, cacheable, never proxied, GET/HEAD only', async () => {
    backend.clear();
    const r = await send(gw.url, JWKS_PATH);
    assert.equal(r.status, 200);
    const jwks = r.json<{ keys: Record<string, unknown>[] }>();
    assert.equal(jwks.keys.length, 1);
    assert.equal(jwks.keys[0]!.alg, 'ES256');
    assert.equal(jwks.keys[0]!.d, undefined);
    // The key from signingKey (--signing-key), not a generated one.
    assert.equal(jwks.keys[0]!.kid, await calculateJwkThumbprint(createPublicKey(signingKeyObject).export({ format: 'jwk' }) as JWK));
    assert.match(String(r.headers['cache-control']), /max-age/);
    assert.equal((await send(gw.url, `${JWKS_PATH}?x=1`)).status, 200);
    assert.equal((await send(gw.url, JWKS_PATH, { method: 'POST' })).status, 405);
    assert.equal(backend.requests.length, 0);
  });
});
