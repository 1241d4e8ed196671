// Shared parts of the sign-in tests: the spec, a cookie-keeping HTTP client
// that walks the provider's login and consent forms the way a browser would,
// and gateways as child processes.
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { baseSpec, op } from '../helpers/gateway.ts';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';

export const SECRET = 'the-session-secret-of-the-sign-in-tests-0123456789';
export const OTHER_SECRET = 'another-session-secret-nobody-shares-with-us-9876543210';
export const SCOPES = ['openid', 'email', 'profile', 'groups', 'offline_access'];
/** What a browser sends on a top-level navigation. */
export const NAV = { 'sec-fetch-mode': 'navigate', accept: 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.8' };
/** What a program sends. */
export const API = { accept: 'application/json', 'sec-fetch-mode': 'cors' };

export function signinSpec(issuer: string, clientId: string, backend: string): Record<string, unknown> {
  const signin = [{ signin: [] }];
  return baseSpec({
    host: 'signin-test.endpoints.test-project.cloud.goog',
    'x-google-backend': { address: backend },
    securityDefinitions: {
      signin: {
        type: 'oauth2',
        flow: 'accessCode',
        authorizationUrl: `${issuer}/auth`,
        tokenUrl: `${issuer}/token`,
        'x-google-issuer': issuer,
        'x-endpoints-signin': { client_id: clientId, scopes: SCOPES, post_logout_path: '/' },
      },
      api_key: { type: 'apiKey', name: 'key', in: 'query' },
    },
    paths: {
      '/': { get: op('home', { security: signin }) },
      '/app/**': {
        get: op('app', {
          security: signin,
          'x-endpoints-authorization': { email_domains: ['example.com'] },
          'x-google-backend': { address: backend, path_translation: 'APPEND_PATH_TO_ADDRESS', serverless_header: 'X-Serverless-Authorization' },
        }),
      },
      '/mixed': { get: op('mixed', { security: [{ signin: [] }, { api_key: [] }] }) },
      '/eng': { get: op('eng', { security: signin, 'x-endpoints-authorization': { groups: ['eng'] } }) },
      '/open': { get: op('open') },
      '/dept': { get: op('dept', { security: signin, 'x-endpoints-authorization': { claims: { department: 'engineering' } } }) },
    },
  });
}

export interface Hop {
  readonly url: string;
  readonly status: number;
  readonly location: string | undefined;
  readonly setCookies: string[];
  readonly headers: Headers;
  readonly body: string;
}

/** Cookies per host, ignoring ports and paths as browsers do for the host part (enough for these tests). */
export class Jar {
  readonly cookies = new Map<string, Map<string, string>>();
  /** Host-only cookies are kept under the host; cookies with a Domain under `.domain` and sent to every host below it. */
  header(url: string): string | undefined {
    const host = new URL(url).hostname;
    const pairs: string[] = [];
    for (const [key, m] of this.cookies) {
      const fits = key.startsWith('.') ? host === key.slice(1) || host.endsWith(key) : key === host;
      if (fits) for (const [k, v] of m) pairs.push(`${k}=${v}`);
    }
    return pairs.length > 0 ? pairs.join('; ') : undefined;
  }
  store(url: string, setCookies: string[]): void {
    const host = new URL(url).hostname;
    for (const c of setCookies) {
      const domain = /;\s*domain=\.?([^;]+)/i.exec(c)?.[1]?.trim().toLowerCase();
      const key = domain === undefined ? host : `.${domain}`;
      let m = this.cookies.get(key);
      if (!m) this.cookies.set(key, (m = new Map()));
      const [pair, ...attrs] = c.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (attrs.some((a) => /^\s*max-age=0\s*$/i.test(a)) || value === '') m.delete(name);
      else m.set(name, value);
    }
  }
  get(name: string, host = '127.0.0.1'): string | undefined {
    return this.cookies.get(host)?.get(name);
  }
  set(name: string, value: string, host = '127.0.0.1'): void {
    let m = this.cookies.get(host);
    if (!m) this.cookies.set(host, (m = new Map()));
    m.set(name, value);
  }
  delete(name: string, host = '127.0.0.1'): void {
    this.cookies.get(host)?.delete(name);
  }
}

/** One request as a browser makes it (node:http: fetch would set its own Sec-Fetch-Mode). */
export async function hop(jar: Jar, url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Hop> {
  const headers: Record<string, string> = { ...NAV, ...(init.headers ?? {}) };
  const cookie = jar.header(url);
  if (cookie && headers.cookie === undefined) headers.cookie = cookie;
  // '' removes a default header.
  for (const [k, v] of Object.entries(headers)) if (v === '') delete headers[k];
  if (init.body !== undefined) headers['content-length'] = String(Buffer.byteLength(init.body));
  const { status, raw, body } = await new Promise<{ status: number; raw: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    // *.localhost is the loopback interface (RFC 6761), as browsers resolve it; the system resolver may not.
    const u = new URL(url);
    const loopback = u.hostname.endsWith('.localhost') ? { hostname: '127.0.0.1', setHost: false } : {};
    if (u.hostname.endsWith('.localhost') && headers.host === undefined) headers.host = u.host;
    const req = http.request(url, { method: init.method ?? 'GET', headers, agent: false, ...loopback }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, raw: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(init.body);
  });
  const setCookies = raw['set-cookie'] ?? [];
  jar.store(url, setCookies);
  const h = new Headers();
  for (const [k, v] of Object.entries(raw)) if (v !== undefined && k !== 'set-cookie') h.set(k, Array.isArray(v) ? v.join(', ') : v);
  const loc = raw.location;
  return { url, status, location: loc === undefined ? undefined : new URL(loc, url).href, setCookies, headers: h, body };
}

function formAction(html: string): string {
  const m = /<form[^>]*action="([^"]+)"/.exec(html);
  if (!m) throw new Error(`no form in ${html.slice(0, 300)}`);
  return m[1]!.replace(/&amp;/g, '&').replace(/&#x2F;/g, '/').replace(/&#47;/g, '/');
}

/**
 * Follows redirects from `url`, filling in the provider's login form (as
 * `login`) and its consent form, until a response that is no redirect, or
 * until `stop` says to stop before requesting a URL (the callback, say).
 */
export async function walk(jar: Jar, url: string, login: string, stop?: (url: string) => boolean): Promise<{ last: Hop; stoppedAt?: string; hops: Hop[] }> {
  const hops: Hop[] = [];
  let next: string | undefined = url;
  let init: { method?: string; headers?: Record<string, string>; body?: string } = {};
  for (let i = 0; i < 20 && next; i++) {
    if (stop && i > 0 && stop(next)) return { last: hops[hops.length - 1]!, stoppedAt: next, hops };
    const h = await hop(jar, next, init);
    hops.push(h);
    init = {};
    if (h.status >= 300 && h.status < 400 && h.location) {
      next = h.location;
      continue;
    }
    if (h.status === 200 && h.body.includes('name="prompt" value="login"')) {
      next = formAction(h.body);
      init = { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ prompt: 'login', login, password: 'any' }).toString() };
      continue;
    }
    if (h.status === 200 && h.body.includes('name="prompt" value="consent"')) {
      next = formAction(h.body);
      init = { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'prompt=consent' };
      continue;
    }
    return { last: h, hops };
  }
  throw new Error(`too many hops from ${url}`);
}

export interface SigninGateway extends ChildGateway {
  /** The origin browsers use (the front, see below); `url` is the same. */
  readonly publicUrl: string;
  /** The gateway process's own address, behind the front. */
  readonly direct: string;
  close(): Promise<void>;
}

/**
 * A front end on port 0 passing every request on to `target` as it came (a
 * load balancer's part): its port is known before the gateway starts, so the
 * gateway's --public-url can name it while the gateway itself binds port 0.
 * No port is ever picked, closed and reused.
 */
export interface Front {
  readonly url: string;
  target: string;
  close(): Promise<void>;
}

export async function startFront(): Promise<Front> {
  const front = {
    url: '',
    target: '',
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
  const server = http.createServer((req, res) => {
    const up = http.request(`${front.target}${req.url ?? '/'}`, { method: req.method, headers: req.headers, agent: false }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.rawHeaders);
      r.pipe(res);
    });
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    req.pipe(up);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  front.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return front;
}

/** Gateways started and not yet closed: when one of several started together fails, the others still stop. */
const running = new Set<SigninGateway>();

/** Closes every gateway this file started that is still running (for `after`). */
export async function closeAllSigninGateways(): Promise<void> {
  await Promise.all([...running].map((g) => g.close()));
}

/**
 * A gateway process serving `spec` behind its own front (--public-url names
 * the front); `publicUrl: false`: no front and no --public-url; a URL: another
 * instance of the app at that public URL (no front of its own, `url` is the
 * process itself), as instances behind one load balancer.
 */
export async function startSigninGateway(
  spec: Record<string, unknown>,
  opts: { args?: string[]; env?: Record<string, string>; publicUrl?: false | string } = {},
): Promise<SigninGateway> {
  const dir = await mkdtemp(path.join(tmpdir(), 'signin-gw-'));
  const specFile = path.join(dir, 'endpoint.json');
  await writeFile(specFile, JSON.stringify(spec));
  const env = { ENDPOINTS_SESSION_SECRET: SECRET, ...(opts.env ?? {}) };
  const common = ['--spec', specFile, '--access-log', 'off', ...(opts.args ?? [])];
  const front = opts.publicUrl === undefined ? await startFront() : undefined;
  try {
    const named = front?.url ?? (typeof opts.publicUrl === 'string' ? opts.publicUrl : undefined);
    const gw = await startChildGateway(named ? [...common, '--public-url', named] : common, env);
    if (front) front.target = gw.url;
    const publicUrl = named ?? gw.url;
    let closed: Promise<void> | undefined;
    const started: SigninGateway = {
      ...gw,
      url: front?.url ?? gw.url,
      direct: gw.url,
      publicUrl,
      close: () =>
        (closed ??= (async () => {
          running.delete(started);
          gw.child.kill('SIGTERM');
          await gw.exit();
          await front?.close();
          await rm(dir, { recursive: true, force: true });
        })()),
    };
    running.add(started);
    return started;
  } catch (err) {
    await front?.close();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** The provider's client URIs for these gateways: the callback, and `/` to come back to after signing out. */
export function clientUris(gateways: readonly { publicUrl: string }[]): { redirectUris: string[]; postLogoutRedirectUris: string[] } {
  return {
    redirectUris: gateways.map((g) => `${g.publicUrl}/.endpoints/callback`),
    postLogoutRedirectUris: gateways.map((g) => `${g.publicUrl}/`),
  };
}

