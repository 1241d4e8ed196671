// Shared by the config-lifecycle tests: spec versions, the admin endpoints, steady load.
import assert from 'node:assert/strict';
import { hash } from 'node:crypto';
import http from 'node:http';
import { rename, writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import type { ChildGateway } from '../helpers/child-gateway.ts';
import { send } from '../helpers/http.ts';

/** A spec at `version` whose open GET operations (one per name) go to `backend`. */
export function versionSpec(version: string, backend: string, names: readonly string[], extra: Record<string, unknown> = {}): string {
  const paths: Record<string, unknown> = {};
  for (const n of names) paths[`/${n}`] = { get: { operationId: n, security: [], responses: { '200': { description: 'ok' } } } };
  return stringify({
    swagger: '2.0',
    info: { title: 'lifecycle', version },
    host: 'lifecycle.endpoints.p.cloud.goog',
    'x-google-backend': { address: backend },
    paths,
    ...extra,
  });
}

/** The id the issue defines, computed here independently of the gateway. */
export function expectedId(version: string, bytes: string | Buffer): string {
  return `${version}-${hash('sha256', bytes, 'hex').slice(0, 12)}`;
}

/** Replace a file the way deploy tools do: write aside, rename over. */
export async function replace(file: string, text: string): Promise<void> {
  await writeFile(`${file}.tmp`, text);
  await rename(`${file}.tmp`, file);
}

/** Only a failing check waits the whole time: sized for a starved machine. */
export async function until(check: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail('condition not met in time');
}

export function adminUrl(gw: ChildGateway): string {
  const line = gw.logs.find((l) => l.message === 'endpoints-gateway listening');
  assert.ok(line && typeof line.adminPort === 'number', 'the listening line names the admin port');
  return `http://127.0.0.1:${line.adminPort}`;
}

export async function configz(gw: ChildGateway): Promise<Record<string, unknown>> {
  const r = await send(adminUrl(gw), '/configz');
  assert.equal(r.status, 200);
  return r.json();
}

export async function configInfoLines(gw: ChildGateway): Promise<string[]> {
  const r = await send(adminUrl(gw), '/metrics');
  return r.body.split('\n').filter((l) => l.startsWith('endpoints_gateway_config_info{'));
}

/** Steady load on one route with 4 keep-alive workers; every answer must be 200. */
export function steadyLoad(url: string, route: string) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const u = new URL(url);
  let stop = false;
  // A safety net: a failed test that never stops its load must not spin forever.
  const deadline = setTimeout(() => (stop = true), 90_000);
  deadline.unref();
  const failures: string[] = [];
  let count = 0;
  const worker = async () => {
    while (!stop) {
      await new Promise<void>((resolve) => {
        http
          .get({ host: u.hostname, port: u.port, path: route, agent }, (res) => {
            res.resume();
            res.on('end', () => {
              count++;
              if (res.statusCode !== 200 && failures.length < 100) failures.push(String(res.statusCode));
              resolve();
            });
          })
          .on('error', (e) => {
            if (failures.length < 100) failures.push(e.message);
            setTimeout(resolve, 10);
          });
      });
    }
  };
  const running = Promise.all(Array.from({ length: 4 }, worker));
  return {
    count: () => count,
    async stop() {
      stop = true;
      clearTimeout(deadline);
      await running;
      agent.destroy();
      return { failures, count };
    },
  };
}
