// A real token issuer on loopback for tests: per-issuer signing keys (jose),
// its JWKS at /<name>/jwks, an OpenID discovery document at
// /<name>/.well-known/openid-configuration, key rotation, failures, and
// counts of every fetch.
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

export type Alg = 'RS256' | 'ES256' | 'PS256' | 'EdDSA' | 'ES384';

interface Key {
  readonly kid: string;
  readonly alg: Alg;
  readonly privateKey: CryptoKey;
  readonly jwk: JWK;
}

export interface TestIssuer {
  readonly url: string;
  /** The `iss` of issuer `name`: `<url>/<name>`. */
  iss(name: string): string;
  jwksUri(name: string): string;
  /** Creates issuer `name` (or adds a key to it) with a key of `alg`; returns the kid. */
  addKey(name: string, alg?: Alg): Promise<string>;
  /** Replaces all keys of `name` with one new key; returns its kid. */
  rotate(name: string, alg?: Alg): Promise<string>;
  /** A token signed by the newest key of `name` (or `kid`). Defaults: iat now, exp in 1 h, sub user-1. */
  mint(name: string, claims?: JWTPayload, opts?: { kid?: string; expSecondsFromNow?: number; noExp?: boolean }): Promise<string>;
  /** JWKS fetches of `name` so far. */
  jwksFetches(name: string): number;
  discoveryFetches(name: string): number;
  /** Every request answers this status (null: normal). */
  setFailing(status: number | null): void;
  setDelayMs(ms: number): void;
  /**
   * Holds every answer (after counting the request) until the returned function is
   * called: a request that finishes meanwhile did not wait for this issuer.
   */
  hold(): () => void;
  close(): Promise<void>;
}

let kidSeq = 0;

export async function startTestIssuer(): Promise<TestIssuer> {
  const keys = new Map<string, Key[]>();
  const jwksCount = new Map<string, number>();
  const discoveryCount = new Map<string, number>();
  const sockets = new Set<Socket>();
  let failing: number | null = null;
  let delayMs = 0;
  let held: Promise<void> | undefined;

  const json = (res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };

  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    void (async () => {
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      const m = /^\/([^/]+)\/(jwks|\.well-known\/openid-configuration)$/.exec(url);
      if (m) {
        const counter = m[2] === 'jwks' ? jwksCount : discoveryCount;
        counter.set(m[1]!, (counter.get(m[1]!) ?? 0) + 1);
      }
      await held;
      if (failing !== null) return json(res, failing, { error: 'failing' });
      if (!m || !keys.has(m[1]!)) return json(res, 404, { error: 'not found' });
      const name = m[1]!;
      if (m[2] === 'jwks') return json(res, 200, { keys: keys.get(name)!.map((k) => k.jwk) });
      return json(res, 200, { issuer: `${base}/${name}`, jwks_uri: `${base}/${name}/jwks` });
    })();
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  async function newKey(alg: Alg): Promise<Key> {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    const kid = `k${++kidSeq}-${alg.toLowerCase()}`;
    const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
    return { kid, alg, privateKey, jwk };
  }

  return {
    url: base,
    iss: (name) => `${base}/${name}`,
    jwksUri: (name) => `${base}/${name}/jwks`,
    addKey: async (name, alg = 'RS256') => {
      const k = await newKey(alg);
      keys.set(name, [...(keys.get(name) ?? []), k]);
      return k.kid;
    },
    rotate: async (name, alg = 'RS256') => {
      const k = await newKey(alg);
      keys.set(name, [k]);
      return k.kid;
    },
    mint: async (name, claims = {}, opts = {}) => {
      const list = keys.get(name) ?? [];
      const key = opts.kid ? list.find((k) => k.kid === opts.kid) : list[list.length - 1];
      if (!key) throw new Error(`no key for ${name}`);
      const now = Math.floor(Date.now() / 1000);
      let jwt = new SignJWT({ sub: 'user-1', ...claims })
        .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
        .setIssuer(`${base}/${name}`)
        .setIssuedAt(now);
      if (!opts.noExp) jwt = jwt.setExpirationTime(now + (opts.expSecondsFromNow ?? 3600));
      if (claims.iss !== undefined) jwt = jwt.setIssuer(claims.iss);
      return jwt.sign(key.privateKey);
    },
    jwksFetches: (name) => jwksCount.get(name) ?? 0,
    discoveryFetches: (name) => discoveryCount.get(name) ?? 0,
    setFailing: (s) => {
      failing = s;
    },
    setDelayMs: (ms) => {
      delayMs = ms;
    },
    hold: () => {
      let release!: () => void;
      held = new Promise<void>((r) => (release = r));
      return () => {
        held = undefined;
        release();
      };
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
