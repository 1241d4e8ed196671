/**
 * `serve`, assembled: the process-lifetime parts, the services (one per
 * --spec: its snapshot and reloader, front door and request chain), the
 * listeners. Each piece lives in its own module; this file only says which
 * goes where.
 */
import type { CompiledService } from './config/compile.ts';
import { ASSERTION_JWKS_PATH } from './auth/assertion.ts';
import { createCorsPreset } from './cors/preset.ts';
import { optionsProblem } from './runtime/options-check.ts';
import type { GatewayMetrics } from './observability/metrics.ts';
import { forwardAuthWiring } from './http/forward-auth.ts';
import { openServingPort } from './http/serving-port.ts';
import { createRecorder } from './http/record.ts';
import { listen, type Listener } from './http/listen.ts';
import { Lifetime } from './runtime/lifetime.ts';
import { openSpecsAndParts } from './runtime/start-order.ts';
import { listeningFields } from './runtime/listening-line.ts';
import { createReadiness } from './runtime/readiness.ts';
import type { GatewayOptions } from './runtime/options.ts';
import { startServices, unionOf, type Services } from './services/services.ts';
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
  const problem = optionsProblem(opts);
  if (problem) throw new Error(problem);
  const life = new Lifetime();
  let services: Services | undefined;
  const { parts, opened } = await openSpecsAndParts(opts, life, { config: () => configInfo(services!) });

  const readiness = createReadiness({ tokens: parts.tokens, jwt: parts.jwt, localJwks: parts.localJwks, fetchAhead: opts.backendAuth !== 'none', log });
  life.add('readiness', () => readiness.close());
  const cors = opts.cors ? createCorsPreset(opts.cors) : undefined;
  // One service per --spec, each with its snapshot, reloader, sign-in, docs page, chain and front door.
  const forwardAuth = forwardAuthWiring(opts.forwardAuth);
  services = await startServices(opts, { parts, life, cors, ready: readiness.check, forwardAuthRoute: forwardAuth.route }, opened);
  const all = services;
  const current = all.list[0]!.current;
  for (const s of all.list) {
    s.reloader.onSwap((next, previous) => {
      // Every service's audiences and issuers stay warm: the one swapped stands in for its previous config.
      const others = all.list.filter((o) => o !== s).map((o) => o.current().config);
      readiness.warm(unionOf([next.config, ...others]), unionOf([previous.config, ...others]));
      // x-endpoints-tls credentials no served spec names any more are closed, with their pools.
      parts.backendTlsOverrides?.retain(all.configs());
    });
  }

  const record = createRecorder(parts.accessLog, parts.metrics, parts.tracing !== undefined);
  // It answers for whichever service the original host names.
  forwardAuth.bind({
    select: (host) => {
      const s = all.forHost(host);
      return s && { stages: s.stages, snapshot: s.current() };
    },
    logger: log,
    record,
  });
  let draining = false;
  const none = all.pick ? unknownHostUnit({ ready: readiness.check, jwks: { path: ASSERTION_JWKS_PATH, body: parts.assertions.jwksJson }, cors, forwardAuth: forwardAuth.route }) : undefined;
  const { listener, downstreamMax, setGrace } = await openServingPort(opts, parts, { units: all.list, pick: all.pick, none, record, cors, draining: () => draining, startTrace: parts.tracing?.start }, life);
  const metrics = parts.metrics;
  const admin =
    metrics && opts.adminPort !== undefined && !opts.adminInPrimary
      ? await listen(forwardAuth.admin((await import('./observability/admin.ts')).adminHandler(metrics.registry, readiness.check, all.configz)), opts.adminPort, opts.host)
      : undefined;
  readiness.warm(unionOf(all.configs()), undefined);

  log.info(listeningFields(opts, { listener, admin, services: all, parts, downstreamMax }), 'endpoints-gateway listening');

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
