// The JWT authenticator against a real issuer (JWKS + discovery) on loopback:
// algorithms, Envoy's error texts and statuses, caching, key rotation.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createJwtAuthenticator, type VerifiedJwt } from '../../src/auth/jwt/authenticator.ts';
import { GatewayError } from '../../src/errors.ts';
import { DEFAULT_JWT_LOCATIONS } from '../../src/config/security.ts';
import type { JwtScheme } from '../../src/config/types.ts';
import { startTestIssuer, type TestIssuer } from './issuer.ts';
import { CLOSED_URL } from '../helpers/closed-port.ts';
import { waitFor } from '../helpers/wait.ts';

let issuer: TestIssuer;
const AUD = 'https://api.example.com';
const BEARER = DEFAULT_JWT_LOCATIONS[0]!;
const QUERY = DEFAULT_JWT_LOCATIONS[2]!;

function scheme(name: string, over: Partial<JwtScheme> = {}): JwtScheme {
  return { kind: 'jwt', name, issuer: issuer.iss(name), jwksUri: issuer.jwksUri(name), audiences: [AUD], locations: DEFAULT_JWT_LOCATIONS, ...over };
}

function ok(v: VerifiedJwt | GatewayError): VerifiedJwt {
  if (v instanceof GatewayError) assert.fail(`refused: ${v.status} ${v.message}`);
  return v;
}

function refused(v: VerifiedJwt | GatewayError, status: number, message: string): void {
  assert.ok(v instanceof GatewayError, 'expected a refusal');
  assert.deepEqual(JSON.parse(v.body()), { code: status, message });
}

before(async () => {
  issuer = await startTestIssuer();
  await issuer.addKey('rsa', 'RS256');
  await issuer.addKey('ec', 'ES256');
  await issuer.addKey('pss', 'PS256');
  await issuer.addKey('ed', 'EdDSA');
  await issuer.addKey('multi', 'RS256');
  await issuer.addKey('multi', 'ES384');
  await issuer.addKey('rot', 'ES256');
  await issuer.addKey('disc', 'ES256');
  await issuer.addKey('count', 'RS256');
  await issuer.addKey('ahead', 'RS256');
});

after(async () => {
  await issuer?.close();
});

describe('verification', () => {
  for (const name of ['rsa', 'ec', 'pss', 'ed']) {
    test(`a valid ${name} token verifies; the payload segment is kept as received`, async () => {
      const auth = createJwtAuthenticator();
      const token = await issuer.mint(name, { aud: AUD, email: 'a@example.com' });
      const v = ok(await auth.authenticate(token, BEARER, [scheme(name)]));
      assert.equal(v.payloadSegment, token.split('.')[1]);
      assert.equal(v.claims.email, 'a@example.com');
      assert.deepEqual([...v.schemes], [name]);
    });
  }

  test('the algorithm of each JWKS key: one issuer with RS256 and ES384 keys', async () => {
    const auth = createJwtAuthenticator();
    const kids = JSON.parse(await (await fetch(issuer.jwksUri('multi'))).text()).keys.map((k: { kid: string }) => k.kid);
    for (const kid of kids) ok(await auth.authenticate(await issuer.mint('multi', { aud: AUD }, { kid }), BEARER, [scheme('multi')]));
  });

  test('audiences are compared without scheme and trailing slash (jwt_verify_lib)', async () => {
    const auth = createJwtAuthenticator();
    ok(await auth.authenticate(await issuer.mint('rsa', { aud: 'api.example.com/' }), BEARER, [scheme('rsa')]));
    ok(await auth.authenticate(await issuer.mint('rsa', { aud: ['other', 'http://api.example.com'] }), BEARER, [scheme('rsa')]));
  });

  test('a token is tried only against schemes that name its location', async () => {
    const auth = createJwtAuthenticator();
    const headerOnly = scheme('rsa', { locations: [BEARER] });
    refused(await auth.authenticate(await issuer.mint('rsa', { aud: AUD }), QUERY, [headerOnly]), 401, 'Jwt issuer is not configured');
  });

  test('of two schemes with one issuer, only the one whose audiences match accepts', async () => {
    const auth = createJwtAuthenticator();
    const a = scheme('rsa', { name: 'a', audiences: ['aud-a'] });
    const b = scheme('rsa', { name: 'b', audiences: ['aud-b'] });
    const v = ok(await auth.authenticate(await issuer.mint('rsa', { aud: 'aud-b' }), BEARER, [a, b]));
    assert.deepEqual([...v.schemes], ['b']);
  });
});

describe('errors (Envoy jwt_authn texts)', () => {
  test('malformed: not three sections', async () => {
    const auth = createJwtAuthenticator();
    refused(await auth.authenticate('abc.def', BEARER, [scheme('rsa')]), 401, 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections');
    refused(await auth.authenticate('a.b.c.d', BEARER, [scheme('rsa')]), 401, 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections');
  });

  test('header and payload that are not JSON; alg none and HS256 are not supported', async () => {
    const auth = createJwtAuthenticator();
    const b64 = (o: unknown) => Buffer.from(typeof o === 'string' ? o : JSON.stringify(o)).toString('base64url');
    refused(await auth.authenticate(`${b64('nope')}.${b64({})}.sig`, BEARER, [scheme('rsa')]), 401, 'Jwt header is an invalid JSON');
    refused(await auth.authenticate(`${b64({ alg: 'RS256' })}.${b64('x')}.sig`, BEARER, [scheme('rsa')]), 401, 'Jwt payload is an invalid JSON');
    refused(await auth.authenticate(`${b64({ alg: 'none' })}.${b64({ iss: issuer.iss('rsa') })}.`, BEARER, [scheme('rsa')]), 401, 'Jwt header [alg] is not supported');
    refused(await auth.authenticate(`${b64({ alg: 'HS256' })}.${b64({ iss: issuer.iss('rsa') })}.abc`, BEARER, [scheme('rsa')]), 401, 'Jwt header [alg] is not supported');
  });

  test('issuer not among the schemes: 401 "Jwt issuer is not configured"', async () => {
    const auth = createJwtAuthenticator();
    refused(await auth.authenticate(await issuer.mint('ec', { aud: AUD }), BEARER, [scheme('rsa')]), 401, 'Jwt issuer is not configured');
  });

  test('wrong audience: 403 "Audiences in Jwt are not allowed", without fetching keys', async () => {
    const auth = createJwtAuthenticator();
    refused(await auth.authenticate(await issuer.mint('rsa', { aud: 'https://elsewhere' }), BEARER, [scheme('rsa')]), 403, 'Audiences in Jwt are not allowed');
    refused(await auth.authenticate(await issuer.mint('rsa'), BEARER, [scheme('rsa')]), 403, 'Audiences in Jwt are not allowed');
    assert.equal(auth.jwksFetches(), 0);
  });

  test('expired and not yet valid, with 60 s of clock skew', async () => {
    const auth = createJwtAuthenticator();
    refused(await auth.authenticate(await issuer.mint('rsa', { aud: AUD }, { expSecondsFromNow: -120 }), BEARER, [scheme('rsa')]), 401, 'Jwt is expired');
    ok(await auth.authenticate(await issuer.mint('rsa', { aud: AUD }, { expSecondsFromNow: -30 }), BEARER, [scheme('rsa')]));
    const now = Math.floor(Date.now() / 1000);
    refused(await auth.authenticate(await issuer.mint('rsa', { aud: AUD, nbf: now + 300 }), BEARER, [scheme('rsa')]), 401, 'Jwt not yet valid');
    ok(await auth.authenticate(await issuer.mint('rsa', { aud: AUD, nbf: now + 30 }), BEARER, [scheme('rsa')]));
  });

  test('a bad signature: 401 "Jwt verification fails"', async () => {
    const auth = createJwtAuthenticator();
    const [h, p] = (await issuer.mint('rsa', { aud: AUD })).split('.');
    const other = (await issuer.mint('rsa', { aud: AUD, sub: 'someone-else' })).split('.')[2];
    refused(await auth.authenticate(`${h}.${p}.${other}`, BEARER, [scheme('rsa')]), 401, 'Jwt verification fails');
    // A forged payload under a genuine signature.
    const forged = Buffer.from(JSON.stringify({ iss: issuer.iss('rsa'), aud: AUD, sub: 'admin' })).toString('base64url');
    const sig = (await issuer.mint('rsa', { aud: AUD })).split('.')[2];
    refused(await auth.authenticate(`${h}.${forged}.${sig}`, BEARER, [scheme('rsa')]), 401, 'Jwt verification fails');
  });

  test('JWKS unreachable: 401 "Jwks remote fetch is failed"; a JWKS that is not JSON too', async () => {
    const auth = createJwtAuthenticator();
    const dead = scheme('rsa', { jwksUri: `${CLOSED_URL}/jwks` });
    refused(await auth.authenticate(await issuer.mint('rsa', { aud: AUD }), BEARER, [dead]), 401, 'Jwks remote fetch is failed');
    const notJwks = scheme('rsa', { jwksUri: `${issuer.url}/nothing/here` });
    refused(await auth.authenticate(await issuer.mint('rsa', { aud: AUD }), BEARER, [notJwks]), 401, 'Jwks remote fetch is failed');
  });

  test('unknown kid after a refetch: 401 with Envoy\'s kid text', async () => {
    const auth = createJwtAuthenticator({ cooldownMs: 0 });
    await issuer.addKey('gone', 'RS256');
    const kid = await issuer.addKey('gone', 'RS256');
    const token = await issuer.mint('gone', { aud: AUD }, { kid });
    ok(await auth.authenticate(await issuer.mint('gone', { aud: AUD }), BEARER, [scheme('gone')]));
    await issuer.rotate('gone');
    const fresh = createJwtAuthenticator({ cooldownMs: 0 });
    refused(await fresh.authenticate(token, BEARER, [scheme('gone')]), 401, "Jwks doesn't have key to match kid or alg from Jwt");
  });
});

describe('caching', () => {
  test('keys are fetched once; concurrent first requests share one fetch', async () => {
    const auth = createJwtAuthenticator();
    const tokens = await Promise.all(Array.from({ length: 20 }, (_, i) => issuer.mint('count', { aud: AUD, sub: `u${i}` })));
    const before = issuer.jwksFetches('count');
    const results = await Promise.all(tokens.map((t) => auth.authenticate(t, BEARER, [scheme('count')])));
    results.forEach(ok);
    assert.equal(issuer.jwksFetches('count') - before, 1);
    ok(await auth.authenticate(await issuer.mint('count', { aud: AUD }), BEARER, [scheme('count')]));
    assert.equal(issuer.jwksFetches('count') - before, 1);
  });

  test('a verified token is cached: the second call makes no signature check', async () => {
    const auth = createJwtAuthenticator();
    const token = await issuer.mint('rsa', { aud: AUD });
    ok(await auth.authenticate(token, BEARER, [scheme('rsa')]));
    ok(await auth.authenticate(token, BEARER, [scheme('rsa')]));
    assert.equal(auth.stats.verifications, 1);
    assert.equal(auth.stats.hits, 1);
  });

  test('a cached token still expires, and still answers the audience of another scheme', async (t) => {
    // The test's own clock (Date only; timers and I/O stay real): "before" and "after" the
    // expiry are moments it chooses, not sleeps a loaded machine may overrun.
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
    const auth = createJwtAuthenticator({ clockSkewS: 0 });
    const token = await issuer.mint('rsa', { aud: AUD }, { expSecondsFromNow: 1 });
    ok(await auth.authenticate(token, BEARER, [scheme('rsa')]));
    refused(await auth.authenticate(token, BEARER, [scheme('rsa', { audiences: ['other'] })]), 403, 'Audiences in Jwt are not allowed');
    t.mock.timers.tick(1100);
    refused(await auth.authenticate(token, BEARER, [scheme('rsa')]), 401, 'Jwt is expired');
  });

  test('the cache is bounded', async () => {
    const auth = createJwtAuthenticator({ cacheSize: 2 });
    const tokens = await Promise.all([1, 2, 3].map((i) => issuer.mint('rsa', { aud: AUD, sub: `b${i}` })));
    for (const t of tokens) ok(await auth.authenticate(t, BEARER, [scheme('rsa')]));
    ok(await auth.authenticate(tokens[0]!, BEARER, [scheme('rsa')]));
    assert.equal(auth.stats.verifications, 4, 'the oldest entry was evicted and verified again');
  });

  test('key rotation: a token with a new kid makes one refetch, then verifies', async () => {
    const auth = createJwtAuthenticator({ cooldownMs: 0 });
    ok(await auth.authenticate(await issuer.mint('rot', { aud: AUD }), BEARER, [scheme('rot')]));
    const before = issuer.jwksFetches('rot');
    await issuer.rotate('rot', 'ES256');
    ok(await auth.authenticate(await issuer.mint('rot', { aud: AUD }), BEARER, [scheme('rot')]));
    assert.equal(issuer.jwksFetches('rot') - before, 1);
  });

  test('key rotation within the cooldown does not refetch (no fetch per forged kid)', async () => {
    const auth = createJwtAuthenticator({ cooldownMs: 60_000 });
    ok(await auth.authenticate(await issuer.mint('rot', { aud: AUD }), BEARER, [scheme('rot')]));
    const before = issuer.jwksFetches('rot');
    await issuer.rotate('rot', 'ES256');
    refused(await auth.authenticate(await issuer.mint('rot', { aud: AUD }), BEARER, [scheme('rot')]), 401, "Jwks doesn't have key to match kid or alg from Jwt");
    assert.equal(issuer.jwksFetches('rot'), before);
  });

  test('refresh ahead: past 80 % of the cache time a request triggers one background fetch and does not wait for it', async (t) => {
    // The test's own clock (Date only; timers and I/O stay real): 850 ms is past 80 % of the
    // 1 s cache time and before its end however slow the machine, and "did not wait" is shown
    // by answering while the issuer holds its answers, not by a stopwatch.
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
    const auth = createJwtAuthenticator({ cacheMs: 1000 });
    ok(await auth.authenticate(await issuer.mint('ahead', { aud: AUD, sub: 'a' }), BEARER, [scheme('ahead')]));
    const before = issuer.jwksFetches('ahead');
    t.mock.timers.tick(850);
    let release = issuer.hold();
    try {
      ok(await auth.authenticate(await issuer.mint('ahead', { aud: AUD, sub: 'b' }), BEARER, [scheme('ahead')]));
      await waitFor(() => issuer.jwksFetches('ahead') - before === 1, 'the background fetch');
    } finally {
      release();
    }
    // Past the original expiry: the refreshed keys serve, with no new fetch to wait for.
    t.mock.timers.tick(250);
    release = issuer.hold();
    try {
      ok(await auth.authenticate(await issuer.mint('ahead', { aud: AUD, sub: 'c' }), BEARER, [scheme('ahead')]));
      assert.equal(issuer.jwksFetches('ahead') - before, 1);
    } finally {
      release();
    }
  });

  test('OpenID discovery when no jwks_uri: one discovery fetch per issuer', async () => {
    const auth = createJwtAuthenticator();
    const s = scheme('disc', { jwksUri: null });
    const tokens = await Promise.all([1, 2, 3].map((i) => issuer.mint('disc', { aud: AUD, sub: `d${i}` })));
    (await Promise.all(tokens.map((t) => auth.authenticate(t, BEARER, [s])))).forEach(ok);
    ok(await auth.authenticate(await issuer.mint('disc', { aud: AUD }), BEARER, [s]));
    assert.equal(issuer.discoveryFetches('disc'), 1);
  });

  test('discovery failure: "Jwks remote fetch is failed"', async () => {
    const auth = createJwtAuthenticator();
    const s = scheme('nosuch', { jwksUri: null });
    await issuer.addKey('tmp', 'RS256');
    const token = await issuer.mint('tmp', { aud: AUD, iss: issuer.iss('nosuch') });
    refused(await auth.authenticate(token, BEARER, [s]), 401, 'Jwks remote fetch is failed');
  });
});
