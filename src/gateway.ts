/**
 * `serve`, assembled: the process-lifetime parts, the services (one per
 * --spec: its snapshot and reloader, front door and request chain), the
 * listeners. Each piece lives in its own module; this file only says which
 * goes where.
 */
import { getHeapStatistics } from 'node:v8';
import type { CompiledService } from './config/compile.ts';
import { ASSERTION_JWKS_PATH } from './auth/assertion.ts';
import { createCorsPreset } from './cors/preset.ts';
import { corsOptionsError } from './cors/options.ts';
import type { GatewayMetrics } from './observability/metrics.ts';
import { createForwardAuth, isForwardAuthPath, withForwardAuth, type ForwardAuth } from './http/forward-auth.ts';
import { openServingPort } from './http/serving-port.ts';
import { createRecorder } from './http/record.ts';
import { listen, type Listener } from './http/listen.ts';
import { Lifetime } from './runtime/lifetime.ts';
import { createProcessParts } from './runtime/parts.ts';
import { createReadiness } from './runtime/readiness.ts';
import type { GatewayOptions } from './runtime/options.ts';
import { openServices, startServices, unionOf, type Services } from './services/services.ts';
import { unknownHostUnit } from './services/dispatch.ts';

export type { GatewayOptions } from './runtime/options.ts';
export { DEFAULTS } from './runtime/options.ts';

export interface Gateway {
  readonly port: number;
  readonly adminPort: number | undefined;
  readonly listener: Listener;
  readonly metrics: GatewayMetrics | undefined;
  /** The (first --spec's) service served. */
  service(): CompiledService;
  readiness(): { ready: boolean; why: string };
  /** What GET /configz answers: the config served, the previous one, the last refused reload (per service with several --spec). */
  configz(): Record<string, unknown>;
  /** Load the spec(s) again; swap each in when valid, keep its old one otherwise. Resolves whether every one swapped. */
  reload(): Promise<boolean>;
  /** Called with the new config id after each swap (--workers: the leader's swaps lead the others). */
  onSwap(listener: (configId: string) => void): void;
  /** Graceful stop: not ready, stop accepting, finish in-flight requests up to graceMs, release everything. */
  close(graceMs?: number): Promise<void>;
}

/** Loads the spec and every dependency, then listens. Throws SpecError on a bad spec, before listening. */
export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const log = opts.logger;
  const corsError = opts.cors ? corsOptionsError(opts.cors) : undefined;
  if (corsError) throw new Error(corsError);
  if (opts.forwardAuth === 'admin' && opts.adminPort === undefined) throw new Error('--forward-auth admin needs --admin-port (the admin listener answers it)');
  // With --workers the primary serves the admin port, and it runs no chain.
  if (opts.forwardAuth === 'admin' && opts.adminInPrimary) throw new Error('--forward-auth admin is not available with --workers above 1 (the primary process serves the admin port): use --forward-auth serving');
  const life = new Lifetime();
  let services: Services | undefined;
  // A spec the validated-spec cache lacks is validated in a worker while the parts load their
  // libraries here (a cold start then takes the longer of the two, not their sum): the parts wait
  // until that worker is started, since loading them holds this thread for hundreds of ms.
  let validating!: () => void;
  const offThread = new Promise<void>((resolve) => (validating = resolve));
  const openedP = openServices(opts, {
    // --validate's contract needs the parts: the spec is loaded by then, so they may start.
    prepare: opts.validate === 'report' || opts.validate === 'enforce' ? async (service, file) => (validating(), (await partsP).validation?.prepare(service, file)) : undefined,
    onValidating: validating,
  });
  void openedP.finally(validating).catch(() => {}); // loaded or refused without a worker: start the parts anyway
  const partsP = offThread.then(() => createProcessParts(opts, life, { config: () => configInfo(services!) }));
  // A part's failure is reported before a spec's, as when they loaded one after the other.
  const [partsDone, openedDone] = await Promise.allSettled([partsP, openedP]);
  if (partsDone.status === 'rejected') throw partsDone.reason;
  if (openedDone.status === 'rejected') throw openedDone.reason;
  const parts = partsDone.value;

  const readiness = createReadiness({ tokens: parts.tokens, jwt: parts.jwt, localJwks: parts.localJwks, fetchAhead: opts.backendAuth !== 'none', log });
  life.add('readiness', () => readiness.close());
  const cors = opts.cors ? createCorsPreset(opts.cors) : undefined;
  // One service per --spec, each with its snapshot, reloader, sign-in, docs page, chain and front door.
  // Forward-auth answers for whichever service the original host names: made once the services exist,
  // reached from every front door on the serving port (--forward-auth serving) through this late binding.
  let forwardAuth: ForwardAuth | undefined;
  const forwardAuthRoute =
    opts.forwardAuth === 'serving' ? { matches: isForwardAuthPath, answer: (...a: Parameters<ForwardAuth['answer']>) => forwardAuth!.answer(...a) } : undefined;
  services = await startServices(opts, { parts, life, cors, ready: readiness.check, forwardAuthRoute }, openedDone.value);
  const all = services;
  const current = all.list[0]!.current;
  for (const s of all.list) {
    s.reloader.onSwap((next, previous) => {
      // Every service's audiences and issuers stay warm: the one swapped stands in for its previous config.
      const others = all.list.filter((o) => o !== s).map((o) => o.current().config);
      readiness.warm(unionOf([next.config, ...others]), unionOf([previous.config, ...others]));
    });
  }

  const record = createRecorder(parts.accessLog, parts.metrics, parts.tracing !== undefined);
  if (opts.forwardAuth) {
    forwardAuth = createForwardAuth({
      select: (host) => {
        const s = all.forHost(host);
        return s && { stages: s.stages, snapshot: s.current() };
      },
      place: opts.forwardAuth,
      logger: log,
      record,
    });
  }
  let draining = false;
  const none = all.pick ? unknownHostUnit({ ready: readiness.check, jwks: { path: ASSERTION_JWKS_PATH, body: parts.assertions.jwksJson }, cors, forwardAuth: forwardAuthRoute }) : undefined;
  const { listener, downstreamMax, setGrace } = await openServingPort(opts, parts, { units: all.list, pick: all.pick, none, record, cors, draining: () => draining, startTrace: parts.tracing?.start }, life);
  const metrics = parts.metrics;
  const admin =
    metrics && opts.adminPort !== undefined && !opts.adminInPrimary
      ? await listen(withForwardAuth((await import('./observability/admin.ts')).adminHandler(metrics.registry, readiness.check, all.configz), opts.forwardAuth === 'admin' ? forwardAuth : undefined), opts.adminPort, opts.host)
      : undefined;
  readiness.warm(unionOf(all.configs()), undefined);

  const served = current();
  log.info(
    {
      port: listener.port,
      adminPort: admin?.port,
      service: served.config.serviceName,
      config_id: served.configId,
      spec: served.file,
      selected_by: served.selectedBy,
      operations: served.config.operations.length,
      ...(all.pick ? { services: all.list.map((s) => ({ service: s.name, config_id: s.current().configId, hosts: s.hostNames, spec: s.current().file })) } : {}),
      keys: opts.keys.split(':')[0],
      quotaStore: all.list.some((s) => s.current().quota) ? parts.quota.store : undefined,
      backendAuth: opts.backendAuth,
      downstreamMaxConnections: downstreamMax,
      tracing: parts.tracing?.destination ?? 'off',
      heapLimitMiB: Math.round(getHeapStatistics().heap_size_limit / 2 ** 20), // shows the V8 limits in force
      ...(opts.tls?.certPath !== undefined || opts.tls?.selfSigned ? { tls: true, clientCertificates: opts.tls.clientRootCertFile !== undefined } : {}),
      ...(opts.h2c ? { h2c: true } : {}),
    },
    'endpoints-gateway listening',
  );

  return {
    port: listener.port,
    adminPort: admin?.port,
    listener,
    metrics,
    service: () => current().service,
    readiness: readiness.check,
    configz: all.configz,
    reload: all.reload,
    onSwap: (l) => {
      for (const s of all.list) s.reloader.onSwap((next) => l(next.configId));
    },
    close: async (graceMs) => {
      draining = true;
      readiness.drain();
      setGrace(graceMs);
      // The admin listener answers /readyz 503 until everything else has stopped.
      await life.close((name, err) => log.warn({ part: name, err: (err as Error)?.message }, 'a part failed to close'));
      await admin?.close(0);
    },
  };
}

/** The endpoints_gateway_config_info metric: the config served, per service when there are several. */
function configInfo(s: Services) {
  if (!s.pick) return s.list[0]!.reloader.status.current();
  return s.list.map((v) => ({ ...v.reloader.status.current(), service: v.name }));
}
