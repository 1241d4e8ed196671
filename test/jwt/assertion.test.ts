// The gateway's identity assertion: keys from a file (EC P-256, RSA) or generated, checked with jose.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLocalJWKSet, jwtVerify, decodeProtectedHeader } from 'jose';
import { createAssertionSigner } from '../../src/auth/assertion.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'egw-assert-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function keyFile(name: string, pem: string): Promise<string> {
  const f = path.join(dir, name);
  await writeFile(f, pem);
  return f;
}

const input = {
  issuer: 'api.endpoints.p.cloud.goog',
  audience: 'https://backend.example.com',
  user: { claims: { iss: 'https://issuer', sub: 'u1', email: 'a@example.com', email_verified: true, exp: Math.floor(Date.now() / 1000) + 3600 }, tokenHash: 'h1' },
  consumerProject: '123456',
};

describe('assertion signer', () => {
  test('generated key: ES256, verifiable against its own published JWKS, with the user and project', async () => {
    const s = await createAssertionSigner();
    assert.equal(s.alg, 'ES256');
    const jwt = await s.sign(input);
    const { payload, protectedHeader } = await jwtVerify(jwt, createLocalJWKSet(JSON.parse(s.jwksJson)), { issuer: input.issuer, audience: input.audience });
    assert.equal(protectedHeader.kid, s.kid);
    assert.equal(payload.sub, 'u1');
    assert.equal(payload.email, 'a@example.com');
    assert.equal(payload.email_verified, true);
    assert.equal(payload.user_iss, 'https://issuer');
    assert.equal(payload.consumer_project, '123456');
    assert.ok(payload.exp! - payload.iat! <= 120);
    assert.equal(JSON.parse(s.jwksJson).keys[0].d, undefined, 'no private part published');
  });

  test('PEM files: EC P-256 (SEC1 and PKCS#8) and RSA (PKCS#1)', async () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    for (const [file, alg] of [
      [await keyFile('ec-sec1.pem', ec.export({ type: 'sec1', format: 'pem' }) as string), 'ES256'],
      [await keyFile('ec-p8.pem', ec.export({ type: 'pkcs8', format: 'pem' }) as string), 'ES256'],
      [await keyFile('rsa.pem', rsa.export({ type: 'pkcs1', format: 'pem' }) as string), 'RS256'],
    ] as const) {
      const s = await createAssertionSigner({ keyFile: file });
      assert.equal(s.alg, alg);
      const jwt = await s.sign(input);
      assert.equal(decodeProtectedHeader(jwt).alg, alg);
      await jwtVerify(jwt, createLocalJWKSet(JSON.parse(s.jwksJson)), { issuer: input.issuer, audience: input.audience });
    }
  });

  test('the same key file gives the same kid across restarts', async () => {
    const f = await keyFile('stable.pem', generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    assert.equal((await createAssertionSigner({ keyFile: f })).kid, (await createAssertionSigner({ keyFile: f })).kid);
  });

  test('unusable keys are refused with a reason', async () => {
    await assert.rejects(createAssertionSigner({ keyFile: path.join(dir, 'missing.pem') }), /--signing-key .*cannot read/);
    await assert.rejects(createAssertionSigner({ keyFile: await keyFile('junk.pem', 'hello') }), /not a PEM private key/);
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    await assert.rejects(createAssertionSigner({ keyFile: await keyFile('p384.pem', p384) }), /EC P-256 or RSA/);
  });

  test('assertions are reused per (backend, user, project), and differ across them', async () => {
    const s = await createAssertionSigner();
    const a = await s.sign(input);
    assert.equal(await s.sign(input), a);
    assert.notEqual(await s.sign({ ...input, audience: 'https://other' }), a);
    assert.notEqual(await s.sign({ ...input, user: { ...input.user, tokenHash: 'h2' } }), a);
    assert.notEqual(await s.sign({ ...input, consumerProject: undefined }), a);
  });

  test('an assertion never outlives the user token', async () => {
    const s = await createAssertionSigner();
    const exp = Math.floor(Date.now() / 1000) + 30;
    const jwt = await s.sign({ ...input, user: { claims: { ...input.user.claims, exp }, tokenHash: 'short' } });
    const { payload } = await jwtVerify(jwt, createLocalJWKSet(JSON.parse(s.jwksJson)));
    assert.equal(payload.exp, exp);
  });
});
