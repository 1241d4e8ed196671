/**
 * `--workers N` (N > 1): this process serves no request itself. It forks N
 * workers that share the serving port through node:cluster (HTTP/1, HTTP/2
 * and TLS listeners alike), and makes them look like one gateway:
 *
 * - in-memory quotas are counted here, once for all workers
 *   (src/workers/shared-limiter.ts);
 * - the admin port is served here: /metrics sums the workers' (prom-client's
 *   aggregation), /readyz is ready when every worker is, /configz is the
 *   leader's with each worker's config id;
 * - SIGHUP goes to the leader (slot 1, the only one watching the spec); when
 *   it swaps, the others reload to follow, so a refused spec is refused and
 *   logged once;
 * - a sign-in session's refresh runs in one worker at a time, its result shared
 *   (src/workers/refresh-sharing.ts);
 * - API Keys lookups, backend ID tokens and JWKS fetches are made here, once
 *   for all workers (src/workers/upstream-calls.ts);
 * - SIGTERM drains every worker within --shutdown-grace; a worker that dies
 *   otherwise is logged and replaced in its slot.
 */
import cluster, { type Worker } from 'node:cluster';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { flushLogs, type Logger } from '../observability/logger.ts';
import { listen, type Listener } from '../http/listen.ts';
import { primaryRefreshCoordinator } from './refresh-sharing.ts';
import { sharedLimiterHost } from './shared-limiter.ts';
import { upstreamCallsHost } from './upstream-calls.ts';
import { isToPrimary, LEADER_SLOT, WORKER_SLOT_ENV, type ToWorker, type WorkerStatus } from './messages.ts';

export interface PrimaryOptions {
  readonly workers: number;
  readonly adminPort: number | undefined;
  readonly host: string | undefined;
  readonly shutdownGraceMs: number;
  readonly logger: Logger;
}

/** A worker that does not answer a status question in this long counts as not ready. */
const STATUS_TIMEOUT_MS = 2_000;
/** Beyond the grace period, how long a draining worker may take to exit before it is killed. */
const EXIT_SLACK_MS = 5_000;
/** A replacement that dies before it listens is retried after this, doubling, up to the cap. */
const RETRY_FIRST_MS = 1_000;
const RETRY_MAX_MS = 30_000;

interface Slot {
  readonly n: number;
  worker: Worker | undefined;
  listening: boolean;
  /** Consecutive replacements that died before listening. */
  failures: number;
}

export async function runPrimary(o: PrimaryOptions): Promise<void> {
  const log = o.logger;
  const quota = sharedLimiterHost();
  const refreshes = primaryRefreshCoordinator();
  const upstream = upstreamCallsHost(log);

  const slots: Slot[] = Array.from({ length: o.workers }, (_, i) => ({ n: i + 1, worker: undefined, listening: false, failures: 0 }));
  let started = false;
  let stopping = false;
  let port = 0;
  let admin: Listener | undefined;
  const bySlot = new Map<Worker, Slot>();
  const statusWaits = new Map<number, (s: WorkerStatus) => void>();
  let nextStatusId = 0;

  const send = (w: Worker | undefined, m: ToWorker): void => {
    if (w?.isConnected()) w.send(m);
  };
  const fork = (slot: Slot): void => {
    const w = cluster.fork({ [WORKER_SLOT_ENV]: String(slot.n) });
    slot.worker = w;
    slot.listening = false;
    bySlot.set(w, slot);
  };

  let startupDone: (err?: { exitCode: number }) => void;
  const startup = new Promise<{ exitCode: number } | undefined>((resolve) => (startupDone = resolve));

  cluster.on('message', (w, m: unknown) => {
    if (quota.onMessage(w, m) || refreshes.onMessage(w, m) || upstream.onMessage(w, m)) return;
    const slot = bySlot.get(w);
    if (!slot || !isToPrimary(m)) return;
    if (m.egw === 'listening') {
      slot.listening = true;
      slot.failures = 0;
      port = m.port;
      if (!started) {
        // The leader first: the others start once the spec is known good (and its validated form cached).
        if (slot.n === LEADER_SLOT) for (const s of slots) if (s.n !== LEADER_SLOT) fork(s);
        if (slots.every((s) => s.listening)) {
          started = true;
          startupDone();
        }
      } else {
        log.info({ worker: slot.n, pid: w.process.pid, config_id: m.configId }, 'worker replaced: serving again');
        // It loaded the spec in force when it started; it follows later swaps like the others.
      }
    } else if (m.egw === 'status') {
      statusWaits.get(m.id)?.(m.status);
    } else if (m.egw === 'swapped' && slot.n === LEADER_SLOT) {
      for (const s of slots) if (s.n !== LEADER_SLOT && s.listening) send(s.worker, { egw: 'reload' });
    }
  });

  cluster.on('exit', (w, code, signal) => {
    refreshes.onExit(w);
    const slot = bySlot.get(w);
    bySlot.delete(w);
    if (!slot || slot.worker !== w) return;
    const wasListening = slot.listening;
    slot.worker = undefined;
    slot.listening = false;
    if (stopping) return;
    if (!started) {
      // A worker that cannot start (a bad spec, a busy port) has said why on stderr: the gateway stops as it would alone.
      startupDone({ exitCode: code || 1 });
      return;
    }
    if (!wasListening) slot.failures++;
    const delay = slot.failures === 0 ? 0 : Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** (slot.failures - 1));
    log.error({ worker: slot.n, pid: w.process.pid, exitCode: code, signal, restartInMs: delay }, 'worker exited unexpectedly: its in-flight requests are lost; starting a replacement');
    setTimeout(() => {
      if (!stopping) fork(slot);
    }, delay).unref();
  });

  const askStatus = (w: Worker): Promise<WorkerStatus | undefined> =>
    new Promise((resolve) => {
      const id = nextStatusId++;
      const timer = setTimeout(() => {
        statusWaits.delete(id);
        resolve(undefined);
      }, STATUS_TIMEOUT_MS);
      statusWaits.set(id, (s) => {
        clearTimeout(timer);
        statusWaits.delete(id);
        resolve(s);
      });
      send(w, { egw: 'status', id });
    });
  const statuses = () => Promise.all(slots.map(async (s) => ({ slot: s, status: s.listening && s.worker ? await askStatus(s.worker) : undefined })));

  const readiness = async (): Promise<{ ready: boolean; why: string }> => {
    if (stopping) return { ready: false, why: 'shutting down' };
    for (const { slot, status } of await statuses()) {
      if (!status) return { ready: false, why: `worker ${slot.n} is not serving` };
      if (!status.ready) return { ready: false, why: `worker ${slot.n}: ${status.why}` };
    }
    return { ready: true, why: '' };
  };
  const configz = async (): Promise<Record<string, unknown> | undefined> => {
    const all = await statuses();
    const lead = all.find((a) => a.status)?.status;
    if (!lead) return undefined;
    return {
      ...lead.configz,
      workers: all.map(({ slot, status }) => ({ worker: slot.n, pid: slot.worker?.process.pid ?? null, config_id: status?.configz.config_id ?? null })),
    };
  };

  fork(slots[0]!);
  const failed = await startup;
  if (failed) {
    stopping = true;
    for (const s of slots) s.worker?.process.kill('SIGKILL');
    await flushLogs(log, 2000);
    process.exit(failed.exitCode);
  }

  if (o.adminPort !== undefined) {
    const { AggregatorRegistry } = await import('prom-client');
    admin = await listen(primaryAdmin(new AggregatorRegistry(), readiness, configz), o.adminPort, o.host);
  }
  const first = await configz();
  log.info({ port, adminPort: admin?.port, workers: o.workers, config_id: first?.config_id, pids: slots.map((s) => s.worker?.process.pid) }, 'endpoints-gateway listening');

  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, graceMs: o.shutdownGraceMs, workers: o.workers }, 'draining every worker: no new connections, finishing in-flight requests');
    const live = slots.flatMap((s) => (s.worker ? [s.worker] : []));
    const deadline = setTimeout(() => {
      for (const w of live) if (!w.isDead()) w.process.kill('SIGKILL');
    }, o.shutdownGraceMs + EXIT_SLACK_MS);
    for (const w of live) w.process.kill('SIGTERM');
    void Promise.all(live.map((w) => (w.isDead() ? undefined : new Promise((r) => w.once('exit', r))))).then(async () => {
      clearTimeout(deadline);
      await admin?.close(0);
      log.info({}, 'stopped');
      void flushLogs(log, 5000).then(() => process.exit(0));
    });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    const leader = slots[LEADER_SLOT - 1]!;
    if (leader.listening) send(leader.worker, { egw: 'reload' });
    else log.warn({}, 'reload asked while the leading worker is being replaced: ignored; send SIGHUP again');
  });
}

/** The admin port of a gateway with workers: the same routes and answers as one process's (src/observability/admin.ts). */
function primaryAdmin(
  registry: import('prom-client').AggregatorRegistry<import('prom-client').PrometheusContentType>,
  ready: () => Promise<{ ready: boolean; why: string }>,
  configz: () => Promise<Record<string, unknown> | undefined>,
) {
  const json = (res: ServerResponse, status: number, body: string, extra: Record<string, string> = {}) =>
    res.writeHead(status, { 'content-type': 'application/json', ...extra }).end(body);
  const unavailable = (res: ServerResponse, what: string) => json(res, 500, JSON.stringify({ code: 500, message: `${what} unavailable` }));
  return (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return void json(res, 405, '{"code":405,"message":"Method Not Allowed"}');
    if (path === '/metrics') {
      registry.clusterMetrics().then(
        (text: string) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        () => unavailable(res, 'metrics'),
      );
    } else if (path === '/configz') {
      configz().then(
        (c) => (c ? json(res, 200, JSON.stringify(c), { 'cache-control': 'no-store' }) : unavailable(res, 'config status')),
        () => unavailable(res, 'config status'),
      );
    } else if (path === '/healthz') {
      json(res, 200, '{"status":"ok"}');
    } else if (path === '/readyz') {
      ready().then(
        (r) => json(res, r.ready ? 200 : 503, JSON.stringify(r.ready ? { status: 'ready' } : { code: 503, message: `not ready: ${r.why}` })),
        () => unavailable(res, 'readiness'),
      );
    } else {
      json(res, 404, '{"code":404,"message":"Not Found"}');
    }
  };
}
