// `--jwks-file ISSUER=PATH`: a JWT-protected operation verified with keys from a local file, with
// tokens the test signs itself (jose); a token from a key the file does not hold is refused 401;
// the file is read again on SIGHUP and after a rotation; ENDPOINTS_JWKS_FILE; bad files and flags.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { send } from '../helpers/http.ts';
import { fixtureSigner, runCli, stopChild, type FixtureSigner } from './offline-env.ts';

const ISSUER = 'https://issuer.ci.example';
const OTHER = 'ci-robot@ci-project.iam.gserviceaccount.com';

let dir: string;
let backend: TestBackend;
let signer: FixtureSigner;
let robot: FixtureSigner;
let gw: ChildGateway;
let jwksPath: string;
let spec: string;

function jwtSpec(backendUrl: string): Record<string, unknown> {
  const scheme = (issuer: string, audiences: string, jwksUri?: string) => ({
    type: 'oauth2',
    flow: 'implicit',
    authorizationUrl: '',
    'x-google-issuer': issuer,
    ...(jwksUri ? { 'x-google-jwks_uri': jwksUri } : {}),
    'x-google-audiences': audiences,
  });
  return {
    swagger: '2.0',
    info: { title: 'jwt', version: '1' },
    host: 'jwt-api.endpoints.p.cloud.goog',
    'x-google-backend': { address: backendUrl },
    // Unreachable on purpose (a jwks_uri for one, OpenID discovery for the other): the keys must come from the files.
    securityDefinitions: { ci: scheme(ISSUER, 'ci-api', 'https://jwks.invalid/keys'), robot: scheme(OTHER, 'robot-api') },
    paths: {
      '/private': { get: { operationId: 'private', security: [{ ci: [] }], responses: { '200': { description: 'ok' } } } },
      '/robot': { get: { operationId: 'robot', security: [{ robot: [] }], responses: { '200': { description: 'ok' } } } },
    },
  };
}

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'egw-jwksfile-'));
  backend = await startTestBackend();
  signer = await fixtureSigner(ISSUER, 'ci-api', 'RS256');
  robot = await fixtureSigner(OTHER, 'robot-api', 'ES256');
  spec = path.join(dir, 'endpoint.yaml');
  await writeFile(spec, stringify(jwtSpec(backend.url)));
  jwksPath = path.join(dir, 'ci-jwks.json');
  await writeFile(jwksPath, JSON.stringify(signer.publicJwks));
  // The robot's file holds the private key as well, as a test fixture might: only the public part is used.
  await writeFile(path.join(dir, 'robot-jwks.json'), JSON.stringify(robot.privateJwks));
  gw = await startChildGateway([
    '--spec', spec, '--keys', 'none', '--backend-auth', 'none',
    '--jwks-file', `${ISSUER}=${jwksPath}`,
    '--jwks-file', `${OTHER}=${path.join(dir, 'robot-jwks.json')}`,
  ]);
});

after(async () => {
  if (gw) await stopChild(gw);
  await backend?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('--jwks-file', () => {
  test('a token the test signed is verified with the file and its payload reaches the backend', async () => {
    const token = await signer.sign({ email: 'ci@example.com' });
    const r = await send(gw.url, '/private', { headers: bearer(token) });
    assert.equal(r.status, 200, r.body);
    const info = JSON.parse(Buffer.from(String(backend.last()!.headers['x-endpoint-api-userinfo']), 'base64url').toString());
    assert.equal(info.iss, ISSUER);
    assert.equal(info.email, 'ci@example.com');
  });

  test('a token from a key the file does not hold is refused 401, with or without a known kid', async () => {
    const stranger = await fixtureSigner(ISSUER, 'ci-api', 'RS256');
    const unknownKid = await send(gw.url, '/private', { headers: bearer(await stranger.sign({})) });
    assert.equal(unknownKid.status, 401);
    assert.deepEqual(unknownKid.json(), { code: 401, message: "Jwks doesn't have key to match kid or alg from Jwt" });
    // Same kid as the file's key, signed by another key: the signature fails.
    const forged = await send(gw.url, '/private', { headers: bearer(await stranger.sign({}, { kid: signer.kid })) });
    assert.equal(forged.status, 401);
    assert.deepEqual(forged.json(), { code: 401, message: 'Jwt verification fails' });
  });

  test('a file holding the private key works, for an issuer found by discovery too; each issuer only takes its own keys', async () => {
    assert.equal((await send(gw.url, '/robot', { headers: bearer(await robot.sign({})) })).status, 200);
    // The ci issuer's token on the robot operation: issuer not configured there.
    const wrong = await send(gw.url, '/robot', { headers: bearer(await signer.sign({})) });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json().message, 'Jwt issuer is not configured');
    // A robot-issuer token signed with the ci key: the robot file does not hold that key.
    const mixed = await send(gw.url, '/robot', { headers: bearer(await signer.sign({ iss: OTHER, aud: 'robot-api' })) });
    assert.equal(mixed.status, 401);
  });

  test('a rotated file is read again: for an unknown kid once it changed, and on SIGHUP', async () => {
    const next = await fixtureSigner(ISSUER, 'ci-api', 'ES256');
    const tmp = `${jwksPath}.tmp`;
    await writeFile(tmp, JSON.stringify(next.publicJwks));
    await rename(tmp, jwksPath);
    // The new key's kid is unknown: the file changed since it was read, so it is read again.
    // The change check runs at most once a second.
    let r = await send(gw.url, '/private', { headers: bearer(await next.sign({})) });
    const end = Date.now() + 30_000; // only a failing test waits this long
    while (r.status !== 200 && Date.now() < end) {
      await new Promise((res) => setTimeout(res, 150));
      r = await send(gw.url, '/private', { headers: bearer(await next.sign({})) });
    }
    assert.equal(r.status, 200, r.body);
    // The old key is gone from the file: its tokens are refused now (a fresh token, not a cached one).
    assert.equal((await send(gw.url, '/private', { headers: bearer(await signer.sign({ n: 1 })) })).status, 401);

    // Back to the first key, then SIGHUP: the reload re-reads the file.
    await writeFile(tmp, JSON.stringify(signer.publicJwks));
    await rename(tmp, jwksPath);
    const reloads = gw.logs.filter((l) => l.message === 'spec reloaded').length;
    gw.child.kill('SIGHUP');
    await gw.waitForLog(() => gw.logs.filter((l) => l.message === 'spec reloaded').length > reloads);
    assert.equal((await send(gw.url, '/private', { headers: bearer(await signer.sign({ n: 2 })) })).status, 200);
  });

  test('a broken file on reload keeps the keys read before, with an error logged', async () => {
    await writeFile(jwksPath, '{"keys": [{"kty": "RSA"');
    gw.child.kill('SIGHUP');
    await gw.waitForLog((l) => l.message === 'could not re-read a --jwks-file; keeping the keys read before');
    assert.equal((await send(gw.url, '/private', { headers: bearer(await signer.sign({ n: 3 })) })).status, 200);
    await writeFile(jwksPath, JSON.stringify(signer.publicJwks));
  });

  test('ENDPOINTS_JWKS_FILE takes comma-separated ISSUER=PATH items', async () => {
    const child = await startChildGateway(['--spec', spec, '--keys', 'none', '--backend-auth', 'none'], {
      ENDPOINTS_JWKS_FILE: `${ISSUER}=${jwksPath},${OTHER}=${path.join(dir, 'robot-jwks.json')}`,
    });
    try {
      assert.equal((await send(child.url, '/private', { headers: bearer(await signer.sign({})) })).status, 200);
      assert.equal((await send(child.url, '/robot', { headers: bearer(await robot.sign({})) })).status, 200);
    } finally {
      await stopChild(child);
    }
  });

  test('an issuer no operation accepts is warned about at start', async () => {
    const child = await startChildGateway(['--spec', spec, '--keys', 'none', '--backend-auth', 'none', '--jwks-file', `https://typo.example=${jwksPath}`]);
    try {
      const w = await child.waitForLog((l) => l.severity === 'WARNING');
      assert.equal(w.issuer, 'https://typo.example');
      assert.match(String(w.message), /--jwks-file names an issuer that no operation of the spec accepts/);
    } finally {
      await stopChild(child);
    }
  });

  test('an unusable file or flag stops serve before it listens, naming the problem', async () => {
    const serve = (...extra: string[]) => runCli(['serve', '--spec', spec, '--port', '0', '--keys', 'none', '--backend-auth', 'none', ...extra]);
    const missing = await serve('--jwks-file', `${ISSUER}=${path.join(dir, 'absent.json')}`);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /--jwks-file .*absent\.json: cannot read it \(ENOENT\)/);

    const secret = path.join(dir, 'secret.json');
    await writeFile(secret, JSON.stringify({ keys: [{ kty: 'oct', k: 'c2VjcmV0' }] }));
    const oct = await serve('--jwks-file', `${ISSUER}=${secret}`);
    assert.equal(oct.code, 1);
    assert.match(oct.stderr, /keys\[0\] is a symmetric key/);

    const noEq = await serve('--jwks-file', jwksPath);
    assert.notEqual(noEq.code, 0);
    assert.match(noEq.stderr, /--jwks-file takes ISSUER=PATH/);

    const twice = await serve('--jwks-file', `${ISSUER}=${jwksPath}`, '--jwks-file', `${ISSUER}=${jwksPath}`);
    assert.notEqual(twice.code, 0);
    assert.match(twice.stderr, /names the issuer "https:\/\/issuer\.ci\.example" twice/);
  });
});
