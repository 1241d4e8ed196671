// Browser sign-in in a real browser: Debian's Chromium driven headless by
// playwright-core signs in through a real OpenID provider's login form
// (oidc-provider), lands on the page it first asked for, sees content from a
// backend that verified the gateway's Google-style ID token (metadata-server
// emulator), reloads, signs out and is sent to sign in again.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { startMetadataEmulator, type MetadataEmulator } from '../emulators/metadata-server.ts';
import { escapeHtml } from '../../src/signin/pages.ts';
import { startProvider, type TestProvider } from './provider.ts';
import { clientUris, signinSpec, startSigninGateway, type SigninGateway, closeAllSigninGateways } from './harness.ts';

const ARTIFACTS = path.resolve(import.meta.dirname, '../../test-artifacts');
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let meta: MetadataEmulator;
let idp: TestProvider;
let gw: SigninGateway;
let browser: Browser;
let app: http.Server;
let appUrl = '';
const verified: string[] = [];

/** The private app: refuses anything without a valid gateway ID token, greets the user it was told about. */
async function startPrivateApp(): Promise<void> {
  app = http.createServer((req, res) => {
    void (async () => {
      const bearer = String(req.headers['x-serverless-authorization'] ?? '').replace(/^Bearer /, '');
      try {
        const claims = await meta.verify(bearer, appUrl);
        verified.push(String(claims.email));
      } catch (err) {
        res.writeHead(401, { 'content-type': 'text/plain' }).end(`no valid ID token: ${(err as Error).message}`);
        return;
      }
      const user = JSON.parse(Buffer.from(String(req.headers['x-endpoint-api-userinfo'] ?? ''), 'base64url').toString('utf8') || '{}') as Record<string, unknown>;
      const html = `<!doctype html><title>Private app</title><h1 id="hello">Hello, ${escapeHtml(String(user.name))}</h1><p id="email">${escapeHtml(String(user.email))}</p><p id="path">${escapeHtml(req.url ?? '')}</p><p id="proof">ID token from the gateway verified</p>`;
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
    })();
  });
  app.listen(0, '127.0.0.1');
  await once(app, 'listening');
  appUrl = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
}

before(async () => {
  meta = await startMetadataEmulator();
  await startPrivateApp();
  idp = await startProvider();
  gw = await startSigninGateway(signinSpec(idp.issuer, idp.clientId, appUrl), {
    args: ['--keys', 'none', '--backend-auth', 'google'],
    env: { METADATA_SERVER_DETECTION: 'assume-present', GCE_METADATA_HOST: meta.host, GOOGLE_CLOUD_PROJECT: 'test-project', ENDPOINTS_SIGNIN_CLIENT_SECRET: idp.clientSecret },
  });
  idp.register(clientUris([gw]));
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  await closeAllSigninGateways();
  await idp?.close();
  app?.closeAllConnections();
  await new Promise((r) => (app ? app.close(r) : r(undefined)));
  await meta?.close();
});

test('a person signs in with the provider, uses the private app, reloads, signs out and is asked to sign in again', async () => {
  // A fresh profile per context; nothing but loopback may be reached (the provider's pages link a web font).
  const context = await browser.newContext();
  // Generous bounds: every wait below is for an event (a URL, an element), and a loaded machine is slow to get there.
  context.setDefaultTimeout(120_000);
  context.setDefaultNavigationTimeout(120_000);
  await context.route('**/*', (route) => (new URL(route.request().url()).hostname === '127.0.0.1' ? route.continue() : route.abort()));
  const page = await context.newPage();
  const target = `${gw.url}/app/dashboard?tab=1`;

  await page.goto(target);
  assert.ok(page.url().startsWith(`${idp.issuer}/interaction/`), `at the provider's login: ${page.url()}`);
  await page.fill('input[name="login"]', 'alice');
  await page.fill('input[name="password"]', 'correct horse');
  await page.click('button[type="submit"]');
  await page.waitForSelector('input[name="prompt"][value="consent"]', { state: 'attached' });
  await page.click('button[type="submit"]');
  await page.waitForURL(target);

  assert.equal(await page.textContent('#hello'), 'Hello, Alice Example');
  assert.equal(await page.textContent('#email'), 'alice@example.com');
  assert.equal(await page.textContent('#path'), '/app/dashboard?tab=1');
  assert.equal(await page.textContent('#proof'), 'ID token from the gateway verified');
  await mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, 'signin-landed.png') });

  const cookies = await context.cookies(gw.url);
  const session = cookies.find((c) => c.name === 'endpoints_session');
  assert.ok(session, 'the session cookie is set');
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Lax');
  // Run in the page (this file has no DOM types): HttpOnly keeps it out of document.cookie.
  assert.equal(await page.evaluate('document.cookie.includes("endpoints_session")'), false, 'scripts cannot read it');

  // Reload: the session carries on, no new trip to the provider.
  const authorizations = idp.seen.filter((s) => s === 'GET /auth').length;
  await page.reload();
  assert.equal(await page.textContent('#hello'), 'Hello, Alice Example');
  assert.equal(idp.seen.filter((s) => s === 'GET /auth').length, authorizations);
  assert.ok(verified.length >= 2 && verified.every((e) => e.endsWith('.iam.gserviceaccount.com')), 'each page view carried a service-account ID token');

  // Who am I: the gateway's own JSON, for the person's pages.
  const me = await context.request.get(`${gw.url}/.endpoints/userinfo`);
  assert.equal(me.status(), 200);
  assert.equal((await me.json()).email, 'alice@example.com');

  // Sign out: a page with a button (a GET never acts); the same-origin POST ends the session and the
  // provider ends its own (RP-initiated logout).
  await page.goto(`${gw.url}/.endpoints/sign_out`);
  assert.equal(page.url(), `${gw.url}/.endpoints/sign_out`);
  assert.ok((await context.cookies(gw.url)).some((c) => c.name === 'endpoints_session'), 'still signed in after the GET');
  await page.click('#sign-out');
  await page.waitForURL((u) => u.href.startsWith(`${idp.issuer}/session/end`));
  await page.click('button[value="yes"]');
  // Back at the gateway's `/`, which needs a session again: sent to the provider's login form.
  await page.waitForSelector('input[name="login"]');
  assert.ok(page.url().startsWith(`${idp.issuer}/interaction/`), page.url());
  assert.equal((await context.cookies(gw.url)).find((c) => c.name === 'endpoints_session'), undefined);
  await context.close();
});
