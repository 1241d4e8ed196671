// Micro-benchmark: the gateway's JWT authenticator per call, cached (the same
// token again: hash + LRU lookup + time/audience checks) vs uncached (a token
// never seen: parse + signature check with warm JWKS), for RS256 and ES256.
// Keys are served by a JWKS server on loopback (fetched once, before timing).
// Run: node bench/jwt-verify.ts [iterations]
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { createJwtAuthenticator } from '../src/auth/jwt/authenticator.ts';
import { DEFAULT_JWT_LOCATIONS } from '../src/config/security.ts';
import type { JwtScheme } from '../src/config/types.ts';
import { GatewayError } from '../src/errors.ts';

const N = Number(process.argv[2] ?? 5000);
const ALGS = ['RS256', 'ES256'] as const;
const AUD = 'https://bench.example.com';

const keys: Record<string, unknown>[] = [];
const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ keys }));
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

async function timePerCall(fn: (i: number) => Promise<unknown>, n: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fn(i);
  return Number(process.hrtime.bigint() - t0) / n / 1000; // µs
}

const rows: string[] = [];
for (const alg of ALGS) {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  const kid = `bench-${alg}`;
  keys.push({ ...(await exportJWK(publicKey)), kid, alg, use: 'sig' });
  const iss = `${base}/${alg}`;
  const scheme: JwtScheme = { kind: 'jwt', name: alg, issuer: iss, jwksUri: `${base}/jwks`, audiences: [AUD], locations: DEFAULT_JWT_LOCATIONS };
  const mint = (sub: string) =>
    new SignJWT({ sub, email: `${sub}@example.com` })
      .setProtectedHeader({ alg, kid, typ: 'JWT' })
      .setIssuer(iss)
      .setAudience(AUD)
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(privateKey);
  const tokens = await Promise.all(Array.from({ length: N }, (_, i) => mint(`u${i}`)));
  const loc = DEFAULT_JWT_LOCATIONS[0]!;
  // A cache larger than N so "uncached" means "first sight", not eviction churn.
  const auth = createJwtAuthenticator({ cacheSize: N + 10 });
  const check = async (t: string) => {
    const v = await auth.authenticate(t, loc, [scheme]);
    if (v instanceof GatewayError) throw new Error(v.message);
  };
  await check(await mint('warm')); // JWKS fetched here, outside the timings
  for (let i = 0; i < 200; i++) await check(await mint(`jit${i}`)); // JIT warm-up
  const uncached = await timePerCall((i) => check(tokens[i]!), N);
  const hot = tokens[0]!;
  const cached = await timePerCall(() => check(hot), N);
  rows.push(
    `${alg}: uncached ${uncached.toFixed(1)} µs/call, cached ${cached.toFixed(2)} µs/call, ratio ${(uncached / cached).toFixed(1)}x ` +
      `(verifications ${auth.stats.verifications}, cache hits ${auth.stats.hits})`,
  );
}
server.close();
process.stdout.write(`jwt-verify: ${N} calls each, Node ${process.version}\n${rows.join('\n')}\n`);
