// --workers 2 through the real CLI with browser sign-in (real oidc-provider): a stale session that reaches
// both workers at once is refreshed once, and every request gets the renewed session.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { createSealedCookieCodec } from '../../src/signin/sealed-cookie.ts';
import { openSession, sealSession } from '../../src/signin/session.ts';
import { startProvider, type TestProvider } from '../signin/provider.ts';
import { API, clientUris, closeAllSigninGateways, hop, Jar, SECRET, signinSpec, startSigninGateway, walk } from '../signin/harness.ts';
import { pidsConnectedTo } from './connections.ts';

const SESSION = 'endpoints_session';
let backend: TestBackend;
let idp: TestProvider;

before(async () => {
  backend = await startTestBackend();
  idp = await startProvider();
});
after(async () => {
  await closeAllSigninGateways();
  await idp?.close();
  await backend?.close();
});

function getJson(url: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve(JSON.parse(body) as Record<string, unknown>));
      })
      .on('error', reject);
  });
}

test('a stale session sent to both workers at once is refreshed once; every request gets the renewed session', async () => {
  const gw = await startSigninGateway(signinSpec(idp.issuer, idp.clientId, backend.url), {
    args: ['--keys', 'none', '--backend-auth', 'none', '--admin-port', '0', '--workers', '2'],
    env: { ENDPOINTS_SIGNIN_CLIENT_SECRET: idp.clientSecret },
  });
  const ready = await gw.waitForLog((l) => l.message === 'endpoints-gateway listening' && l.workers === 2);
  idp.register(clientUris([gw]));

  const jar = new Jar();
  await walk(jar, `${gw.url}/app/hello`, 'alice');
  const codec = createSealedCookieCodec([SECRET], 'session');
  const s = (await openSession(codec, jar.get(SESSION)!))!;
  assert.ok(s.rt, 'a refresh token is kept');
  const stale = await sealSession(codec, { ...s, rf: s.rf - 7200 });

  const before = idp.seen.filter((x) => x === 'POST /token').length;
  // Each on its own connection: the primary hands them to the workers in turn.
  const answers = await Promise.all(
    Array.from({ length: 8 }, () => {
      const j = new Jar();
      j.set(SESSION, stale);
      return hop(j, `${gw.url}/app/hello`, { headers: API }).then(async (h) => ({ h, renewed: await openSession(codec, j.get(SESSION)!) }));
    }),
  );
  for (const { h, renewed } of answers) {
    assert.equal(h.status, 200, h.body);
    assert.ok(h.setCookies.some((c) => c.startsWith(`${SESSION}=`)), 'the renewed cookie comes back');
    assert.ok(renewed && renewed.rf > s.rf - 7200, 'a renewed session');
  }
  assert.equal(idp.seen.filter((x) => x === 'POST /token').length, before + 1, 'one refresh grant for the session');
  const pids = ((await getJson(`http://127.0.0.1:${String(ready.adminPort)}/configz`)).workers as { pid: number }[]).map((w) => w.pid);
  assert.deepEqual((await pidsConnectedTo(backend.port, pids)).sort(), [...pids].sort(), 'both workers served the stale session');
  await gw.close();
});
