// The access log names who called through a browser sign-in session, as it does a JWT's subject;
// sign-in's own error lines carry the request id.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { startProvider, type TestProvider } from '../signin/provider.ts';
import { clientUris, hop, Jar, signinSpec, startSigninGateway, walk, type SigninGateway } from '../signin/harness.ts';

let backend: TestBackend;
let idp: TestProvider;
let gw: SigninGateway;

before(async () => {
  backend = await startTestBackend();
  idp = await startProvider();
  gw = await startSigninGateway(signinSpec(idp.issuer, idp.clientId, backend.url), {
    // The harness turns the access log off; the later flag wins.
    args: ['--keys', 'none', '--backend-auth', 'none', '--access-log', 'on'],
    env: { ENDPOINTS_SIGNIN_CLIENT_SECRET: idp.clientSecret },
  });
  idp.register(clientUris([gw]));
});
after(async () => {
  await gw?.close();
  await idp?.close();
  await backend?.close();
});

describe('who called, signed in', () => {
  test('the access-log line of a request made with a sign-in session has the user as endUser', async () => {
    const jar = new Jar();
    const signedIn = await walk(jar, `${gw.url}/app/hello`, 'alice');
    assert.equal(signedIn.last.status, 200, signedIn.last.body);
    const r = await hop(jar, `${gw.url}/app/hello`, { headers: { 'x-request-id': 'signed-in-1' } });
    assert.equal(r.status, 200, r.body);
    const line = await gw.waitForLog((l) => l.message === 'request' && l.requestId === 'signed-in-1');
    assert.equal(line.endUser, 'alice');
  });

  test('a sign-in refused at the callback is logged with the request id', async () => {
    const r = await hop(new Jar(), `${gw.url}/.endpoints/callback?code=c&state=s`, { headers: { 'x-request-id': 'callback-1' } });
    assert.equal(r.status, 400, r.body);
    assert.equal(r.headers.get('x-request-id'), 'callback-1');
    const line = await gw.waitForLog((l) => l.message === 'sign-in refused at the callback');
    assert.equal(line.requestId, 'callback-1');
  });
});
