// What the offline tests share: a child environment in which the network is gone (the preload
// probe refuses and records every non-loopback connect or lookup; a loopback "proxy" named by
// HTTPS_PROXY/HTTP_PROXY records whatever would have gone out through it), a fixture signer for
// end-user JWTs, and the CLI as a child process for `keys` commands.
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

export const CLI = path.resolve(import.meta.dirname, '../../src/cli.ts');
const PRELOAD = pathToFileURL(path.resolve(import.meta.dirname, 'no-network-preload.ts')).href;

export interface ProxyRecorder {
  readonly url: string;
  /** `CONNECT host:port` or `GET http://...` lines, one per attempt. */
  readonly attempts: string[];
  close(): Promise<void>;
}

/** A loopback listener standing in for an egress proxy: it records every attempt and serves none. */
export async function startProxyRecorder(): Promise<ProxyRecorder> {
  const attempts: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    attempts.push(`${req.method} ${req.url}`);
    res.writeHead(502).end();
  });
  server.on('connect', (req, socket: Socket) => {
    attempts.push(`CONNECT ${req.url}`);
    socket.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    attempts,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The child environment: the probe preloaded; with a recorder, every proxy variable points at it. */
export function offlineEnv(proxy?: ProxyRecorder): Record<string, string> {
  const env: Record<string, string> = {
    NODE_OPTIONS: `--import ${PRELOAD}`,
    // As on a Google Cloud runner: a library that looked for the metadata server would try it.
    METADATA_SERVER_DETECTION: 'assume-present',
  };
  if (proxy) {
    Object.assign(env, {
      HTTPS_PROXY: proxy.url,
      HTTP_PROXY: proxy.url,
      https_proxy: proxy.url,
      http_proxy: proxy.url,
      NODE_USE_ENV_PROXY: '1',
      NO_PROXY: '127.0.0.1,localhost,::1',
      no_proxy: '127.0.0.1,localhost,::1',
    });
  }
  return env;
}

/** The probe's records in a child's stderr. */
export function probeRecords(stderr: string): Record<string, unknown>[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{"offlineProbe"'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

export interface FixtureSigner {
  readonly kid: string;
  /** Public keys only. */
  readonly publicJwks: { keys: JWK[] };
  /** The key pair as one JWK with its private members (what a test suite may keep in a fixture file). */
  readonly privateJwks: { keys: JWK[] };
  sign(claims: Record<string, unknown>, opts?: { kid?: string; expSecondsFromNow?: number }): Promise<string>;
}

let seq = 0;

/** A key pair a CI job would keep as a fixture, and tokens signed with it. */
export async function fixtureSigner(issuer: string, audience: string, alg: 'RS256' | 'ES256' = 'ES256'): Promise<FixtureSigner> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = `fixture-${++seq}-${alg.toLowerCase()}`;
  const pub = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  const priv = { ...(await exportJWK(privateKey)), kid, alg, use: 'sig' };
  return {
    kid,
    publicJwks: { keys: [pub] },
    privateJwks: { keys: [priv] },
    sign: (claims, opts = {}) => signWith(privateKey, alg, opts.kid ?? kid, { iss: issuer, aud: audience, sub: 'ci-user', ...claims }, opts.expSecondsFromNow),
  };
}

function signWith(key: CryptoKey, alg: string, kid: string, claims: Record<string, unknown>, expIn = 600): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(claims).setProtectedHeader({ alg, kid, typ: 'JWT' }).setIssuedAt(now).setExpirationTime(now + expIn).sign(key);
}

export { runCli, type Ran as CliResult } from '../helpers/cli.ts';

/** Stops a child gateway (SIGTERM, then SIGKILL if it lingers) and resolves its exit code. */
export async function stopChild(gw: { child: import('node:child_process').ChildProcess; exit(): Promise<number | null> }): Promise<number | null> {
  if (gw.child.exitCode !== null) return gw.child.exitCode;
  gw.child.kill('SIGTERM');
  const timer = setTimeout(() => gw.child.kill('SIGKILL'), 10_000);
  const code = await gw.exit();
  clearTimeout(timer);
  return code;
}
