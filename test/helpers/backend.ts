// A real HTTP backend for tests: echoes {method, url, headers} as JSON, records every request (with its full
// body), and optionally verifies the `Authorization: Bearer` ID token the way a Cloud Run backend would.
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify } from 'jose';

export interface RecordedRequest {
  method: string;
  /** The raw request-target as received. */
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  idToken?: { ok: true; claims: Record<string, unknown> } | { ok: false; error: string };
}

export interface TestBackend {
  readonly url: string;
  readonly port: number;
  readonly requests: RecordedRequest[];
  last(): RecordedRequest | undefined;
  clear(): void;
  setDelayMs(ms: number): void;
  setStatus(code: number): void;
  close(): Promise<void>;
}

export async function startTestBackend(
  opts: { verifyIdTokensWith?: { jwksUrl: string; issuer: string; audience: string } } = {},
): Promise<TestBackend> {
  const v = opts.verifyIdTokensWith;
  // cooldownDuration 0: a token signed with a freshly rotated key makes jose refetch the JWKS at once.
  const jwks = v ? createRemoteJWKSet(new URL(v.jwksUrl), { cooldownDuration: 0 }) : undefined;
  const requests: RecordedRequest[] = [];
  let delayMs = 0;
  let status = 200;

  async function verify(authorization: string | undefined): Promise<NonNullable<RecordedRequest['idToken']>> {
    if (!v || !jwks) throw new Error('unreachable');
    const m = authorization?.match(/^Bearer\s+(\S+)$/i);
    if (!m) return { ok: false, error: authorization === undefined ? 'no Authorization header' : 'not a Bearer token' };
    try {
      const { payload } = await jwtVerify(m[1]!, jwks, { issuer: v.issuer, audience: v.audience });
      return { ok: true, claims: { ...payload } };
    } catch (e) {
      return { ok: false, error: (e as Error).message };
    }
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const rec: RecordedRequest = {
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        };
        if (v) rec.idToken = await verify(req.headers.authorization);
        requests.push(rec);
        if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
        const body = JSON.stringify({ method: rec.method, url: rec.url, headers: rec.headers });
        res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
        res.end(body);
      })().catch((e: unknown) => {
        if (!res.headersSent) res.writeHead(500);
        res.end(String(e));
      });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    last: () => requests[requests.length - 1],
    clear: () => {
      requests.length = 0;
    },
    setDelayMs: (ms: number) => {
      delayMs = ms;
    },
    setStatus: (code: number) => {
      status = code;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
