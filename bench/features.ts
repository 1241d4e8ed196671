// What each check costs: the gateway with and without quota (memory, Redis),
// A B A B over rounds on the same machine (req/s and the gateway's CPU per
// request), plus the in-process cost of a cached API-key check.
// `node bench/features.ts [--rounds N] [--duration S]`.
import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { startApiKeysEmulator } from '../test/emulators/apikeys-server.ts';
import { CLI, REPO, startBackend } from './cases.ts';
import { measuredLoad } from './measure.ts';
import { spawnServer, type Proc } from './procs.ts';
import { runLoad } from './wrk.ts';
import { median } from './stats.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, duration: { type: 'string', default: '8' } } });
const rounds = Number(values.rounds);
const duration = Number(values.duration);
const KEY = 'AIzaSyFeatureBenchFeatureBenchFeature01';

execFileSync(process.execPath, [path.join(REPO, 'node_modules/typescript/bin/tsc'), '-p', path.join(REPO, 'tsconfig.build.json')], { stdio: 'inherit' });
const tmp = await mkdtemp(path.join(os.tmpdir(), 'gateway-features-'));
const procs: Proc[] = [];
let redis: ChildProcess | undefined;
try {
  const { proc: backend } = await startBackend(path.join(tmp, 'backend'));
  procs.push(backend);
  const keys = await startApiKeysEmulator();
  keys.addKey({ keyString: KEY, project: '123456789' });
  const sock = path.join(tmp, 'redis.sock');
  redis = spawn('redis-server', ['--port', '0', '--unixsocket', sock, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await untilAccepting(sock, 10_000);

  const spec = (withQuota: boolean) =>
    stringify({
      swagger: '2.0',
      info: { title: 'features', version: '1' },
      host: 'features.endpoints.bench-project.cloud.goog',
      'x-google-backend': { address: backend.url },
      securityDefinitions: { api_key: { type: 'apiKey', name: 'key', in: 'query' } },
      security: [{ api_key: [] }],
      'x-google-management': { metrics: [{ name: 'm' }], quota: { limits: [{ name: 'l', metric: 'm', unit: '1/min/{project}', values: { STANDARD: 1_000_000_000 } }] } },
      paths: {
        '/v1/items/{id}': {
          get: {
            operationId: 'getItem',
            parameters: [{ name: 'id', in: 'path', required: true, type: 'string' }],
            ...(withQuota ? { 'x-google-quota': { metricCosts: { m: 1 } } } : {}),
            responses: { '200': { description: 'ok' } },
          },
        },
      },
    });
  await writeFile(path.join(tmp, 'noquota.yaml'), spec(false));
  await writeFile(path.join(tmp, 'quota.yaml'), spec(true));
  const gw = (name: string, file: string, extra: string[] = []) =>
    spawnServer({
      name,
      args: [CLI, 'serve', '--spec', path.join(tmp, file), '--port', '0', '--host', '127.0.0.1', '--backend-auth', 'none', '--keys', 'google', '--apikeys-endpoint', keys.url, ...extra],
      env: { METADATA_SERVER_DETECTION: 'none', GOOGLE_CLOUD_PROJECT: 'bench' },
      // Port 0: the port comes from the gateway's own 'listening' line.
      port: (l) => (l.message === 'endpoints-gateway listening' && typeof l.port === 'number' ? l.port : undefined),
      readyPath: '/healthz',
    });
  const cases = {
    'no quota': await gw('no-quota', 'noquota.yaml'),
    'quota in memory': await gw('quota-memory', 'quota.yaml'),
    'quota in Redis': await gw('quota-redis', 'quota.yaml', ['--quota-store', `unix://${sock}`]),
  };
  procs.push(...Object.values(cases));
  const p = `/v1/items/7?key=${KEY}`;
  for (const c of Object.values(cases)) await runLoad({ url: c.url, path: p, connections: 50, threads: 1, durationS: 2 });
  const rps: Record<string, number[]> = {};
  const cpu: Record<string, number[]> = {};
  for (let r = 0; r < rounds; r++) {
    for (const [name, c] of Object.entries(cases)) {
      const res = await measuredLoad({ url: c.url, path: p, connections: 50, threads: 1, durationS: duration }, c.pid, backend.pid);
      if (res.non2xx || res.errors) throw new Error(`${name}: ${res.non2xx} non-2xx, ${res.errors} errors`);
      (rps[name] ??= []).push(res.rps);
      (cpu[name] ??= []).push(res.cpuUsPerReq);
      process.stderr.write(`[features] round ${r + 1} ${name}: ${Math.round(res.rps)} req/s, ${res.cpuUsPerReq.toFixed(1)} µs CPU/req\n`);
    }
  }
  const base = median(rps['no quota']!);
  const baseCpu = median(cpu['no quota']!);
  console.log('| case | req/s (median) | × no quota | CPU µs/req (median) | × no quota |\n|---|---|---|---|---|');
  for (const [name, v] of Object.entries(rps)) {
    const c = median(cpu[name]!);
    console.log(`| ${name} | ${Math.round(median(v))} | ${(median(v) / base).toFixed(3)} | ${c.toFixed(1)} | ${(c / baseCpu).toFixed(3)} |`);
  }
  console.log(`\n${rounds} rounds × ${duration} s, wrk -t1 -c50, cases alternated; command: node bench/features.ts --rounds ${rounds} --duration ${duration}`);
  await keys.close();
} finally {
  await Promise.all(procs.map((p) => p.stop()));
  redis?.kill();
}

/** Waits until a unix socket accepts connections (redis-server creates it once it is listening). */
async function untilAccepting(socketPath: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.connect(socketPath, () => (c.end(), resolve(true)));
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing accepted connections on ${socketPath} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// The cached key check in process: verify() on a warm cache, per call.
{
  const { createApiKeyVerifier } = await import('../src/auth/apikeys/verifier.ts');
  const { createFileKeyStore } = await import('../src/auth/apikeys/file-store.ts');
  const { createKey } = await import('../src/auth/apikeys/keys-admin.ts');
  const store = path.join(tmp, 'keys.yaml');
  const { key } = await createKey(store, { project: '1', name: 'k', services: ['svc'], allowedIps: ['10.0.0.0/8'] });
  const verifier = createApiKeyVerifier(await createFileKeyStore(store, { watch: false }));
  const facts = { serviceName: 'svc', operationId: 'op', clientIp: '10.1.2.3', referer: undefined, androidPackage: undefined, androidCert: undefined, iosBundleId: undefined };
  await verifier.verify(key, facts);
  const n = 200_000;
  for (let i = 0; i < 20_000; i++) await verifier.verify(key, facts);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await verifier.verify(key, facts);
  const perCall = Number(process.hrtime.bigint() - t0) / n / 1000;
  const t1 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await Promise.resolve(facts);
  const floor = Number(process.hrtime.bigint() - t1) / n / 1000;
  console.log(`\ncached API-key check (hash, cache hit, IP + API-target restrictions): ${perCall.toFixed(2)} µs per call (an awaited no-op: ${floor.toFixed(2)} µs), over ${n} calls`);
  verifier.close();
}
