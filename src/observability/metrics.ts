import type { IncomingMessage } from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ApiKeyVerifier } from '../auth/apikeys/verifier.ts';
import type { IdTokenSource } from '../backend/id-tokens.ts';
import type { QuotaEnforcer } from '../quota/enforcer.ts';
import { asOperationMethod } from '../routing/methods.ts';
import { droppedLogLines } from './logger.ts'; // log-drop counter (owned with logger.ts)
import { droppedSpans } from '../tracing/export-watch.ts';

/** Where counters the other modules already keep come from (read at scrape time, never per request). */
export interface ServedConfigInfo {
  readonly configId: string;
  readonly version: string;
  /** Set only when several services share the gateway. */
  readonly service?: string | undefined;
}

export interface MetricSources {
  readonly keys?: (() => ApiKeyVerifier | undefined) | undefined;
  readonly tokens?: (() => IdTokenSource | undefined) | undefined;
  /** The process's quota runtime: its stats span every config's limiters. */
  readonly quota?: (() => Pick<QuotaEnforcer, 'stats'> | undefined) | undefined;
  /** The config served (one per service when several share the gateway), for endpoints_gateway_config_info. */
  readonly config?: (() => ServedConfigInfo | readonly ServedConfigInfo[]) | undefined;
}

export interface GatewayMetrics {
  readonly registry: Registry;
  /** Called once per exchange (src/http/record.ts), upgrades included: status 101 for an opened WebSocket, 0 when nothing was answered. */
  observe(req: IncomingMessage, status: number): void;
  upstreamError(kind: string): void;
  /** `service` only when several services share the gateway. */
  reload(ok: boolean, service?: string): void;
  /** --validate: a request or response that broke the spec's contract (kind: a fixed set, see src/validation/violations.ts). */
  contractViolation(operation: string, kind: string): void;
}

/**
 * Every label value comes from a fixed or capped set, whatever callers send:
 * operation from the spec (or UNKNOWN_OPERATION), method from the operation
 * methods (or OTHER_METHOD), code from STATUS_CLASS, project capped below.
 */
const UNKNOWN_OPERATION = '<unknown>';
/** Methods no operation can have (PROPFIND, MKCALENDAR, ... as Node's parser accepts them). */
const OTHER_METHOD = 'OTHER';
/** Consumer projects are a real need per request, but a label must stay bounded. */
const MAX_PROJECTS = 500;
const STATUS_CLASS = ['1xx', '1xx', '2xx', '3xx', '4xx', '5xx'];

/** A counter whose value is another module's running total, read when Prometheus scrapes. */
function mirrored(registry: Registry, name: string, help: string, read: () => number | undefined): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      const v = read();
      if (v !== undefined && v > 0) this.inc(v);
    },
  });
}

/**
 * The serving thread's longest busy stretch. Every 10 ms a timer reads the
 * thread's own CPU time: what it used between two ticks is work that kept the
 * event loop from everything else (a synchronous parse, a large message from
 * the spec-loading worker, a route table built in one go, a long GC pause).
 * A machine that is merely starved (other processes on its cores) delays the
 * ticks in wall-clock time (nodejs_eventloop_lag_max_seconds) but adds no CPU
 * time here, so this tells the gateway's own stalls from a busy host. One
 * sampler per process; each registry keeps its own maximum since its last read.
 */
const busyReaders = new Set<{ maxUs: number }>();
let busySampler: { tick(): void } | undefined;

function loopBusy(registry: Registry): void {
  // process.threadCpuUsage: Node >= 22.15 (package.json asks for 22.18).
  if (typeof process.threadCpuUsage !== 'function') return;
  if (busySampler === undefined) {
    let last = process.threadCpuUsage();
    const tick = () => {
      const now = process.threadCpuUsage();
      const us = now.user - last.user + (now.system - last.system);
      last = now;
      for (const r of busyReaders) if (us > r.maxUs) r.maxUs = us;
    };
    setInterval(tick, 10).unref();
    busySampler = { tick };
  }
  const sampler = busySampler;
  const reader = { maxUs: 0 };
  busyReaders.add(reader);
  new Gauge({
    name: 'endpoints_gateway_event_loop_busy_max_seconds',
    help: "Most CPU time the serving thread spent between two 10 ms ticks of its event loop since the last scrape (reset on read): how long the gateway's own work blocked serving. A starved host does not raise it.",
    registers: [registry],
    aggregator: 'max', // --workers: the worst worker's
    collect() {
      sampler.tick(); // the stretch running up to this scrape counts too
      this.set(reader.maxUs / 1e6);
      reader.maxUs = 0;
    },
  });
}

/** One operation's bound children, and the requests_total child of its last label set. */
interface OperationChildren {
  readonly gw: { observe(v: number): void };
  readonly be: { observe(v: number): void };
  method: string;
  code: string;
  project: string;
  service: string | undefined;
  requests: { inc(): void } | undefined;
}

export function createMetrics(sources: MetricSources = {}): GatewayMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  loopBusy(registry);

  const requests = new Counter({
    name: 'endpoints_gateway_requests_total',
    help: 'Requests by operation, method, status class and consumer project (never the key).',
    // `service` only when several services share the gateway (unset, it is not printed).
    labelNames: ['operation', 'method', 'code', 'consumer_project', 'service'] as const,
    registers: [registry],
  });
  const gatewayTime = new Histogram({
    name: 'endpoints_gateway_gateway_duration_seconds',
    help: 'Time spent in the gateway itself (routing, key, quota, token), per operation.',
    labelNames: ['operation'] as const,
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1],
    registers: [registry],
  });
  const backendTime = new Histogram({
    name: 'endpoints_gateway_backend_duration_seconds',
    help: 'Time from forwarding to the end of the backend response, per operation.',
    labelNames: ['operation'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const upstreamErrors = new Counter({
    name: 'endpoints_gateway_upstream_errors_total',
    help: 'Backend failures the gateway answered for, by kind (timeout, connect_refused, reset, dns, tls, other).',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const reloads = new Counter({
    name: 'endpoints_gateway_spec_reloads_total',
    help: 'Spec reloads by result (and service, when several share the gateway).',
    labelNames: ['result', 'service'] as const,
    registers: [registry],
    aggregator: 'max', // --workers: the others follow the leader's reloads; one reload counts once
  });
  const contractViolations = new Counter({
    name: 'endpoints_gateway_contract_violations_total',
    help: 'Requests and backend responses that broke the spec (--validate report|enforce), by operation and kind.',
    labelNames: ['operation', 'kind'] as const,
    registers: [registry],
  });
  const info = new Gauge({ name: 'endpoints_gateway_up', help: '1 while the gateway serves.', registers: [registry], aggregator: 'max' });
  info.set(1);
  const config = sources.config;
  new Gauge({
    name: 'endpoints_gateway_config_info',
    help: 'The config served: 1, labelled with its config id and info.version.',
    labelNames: ['config_id', 'version', 'service'] as const,
    registers: [registry],
    aggregator: 'max', // --workers: 1 per config served, whatever the number of workers serving it
    collect() {
      this.reset();
      const c = config?.();
      if (c === undefined) return;
      // The service label only when several services share the gateway: one service's series stay as they were.
      for (const one of Array.isArray(c) ? (c as readonly ServedConfigInfo[]) : [c as ServedConfigInfo]) {
        this.labels({ config_id: one.configId, version: one.version, ...(one.service !== undefined ? { service: one.service } : {}) }).set(1);
      }
    },
  });

  const keys = sources.keys ?? (() => undefined);
  const tokens = sources.tokens ?? (() => undefined);
  const quota = sources.quota ?? (() => undefined);
  mirrored(registry, 'endpoints_gateway_apikey_cache_hits_total', 'Key verdicts served fresh from the cache.', () => keys()?.stats.hits);
  mirrored(registry, 'endpoints_gateway_apikey_cache_misses_total', 'Key checks that waited for the key store.', () => keys()?.stats.misses);
  mirrored(registry, 'endpoints_gateway_apikey_cache_stale_total', 'Key verdicts served stale while a refresh ran or the store was down.', () => keys()?.stats.staleServes);
  mirrored(registry, 'endpoints_gateway_apikey_cache_negative_hits_total', 'Invalid-key verdicts served from the cache.', () => keys()?.stats.negativeHits);
  mirrored(registry, 'endpoints_gateway_apikeys_calls_total', 'Calls to the API key store (API Keys service or file).', () => keys()?.stats.upstreamCalls);
  mirrored(registry, 'endpoints_gateway_apikeys_errors_total', 'Failed calls to the API key store.', () => keys()?.stats.upstreamErrors);
  mirrored(registry, 'endpoints_gateway_apikeys_fail_open_total', 'Never-seen keys admitted unverified during an outage.', () => keys()?.stats.failOpen);
  mirrored(registry, 'endpoints_gateway_apikeys_fail_closed_total', 'Never-seen keys refused 503 during an outage.', () => keys()?.stats.failClosed);
  mirrored(registry, 'endpoints_gateway_id_token_fetches_total', 'Backend ID-token fetches.', () => tokens()?.stats.fetches);
  mirrored(registry, 'endpoints_gateway_id_token_failures_total', 'Failed backend ID-token fetches.', () => tokens()?.stats.failures);
  mirrored(registry, 'endpoints_gateway_quota_checks_total', 'Quota charges.', () => quota()?.stats.checks);
  mirrored(registry, 'endpoints_gateway_quota_refusals_total', 'Calls refused 429 by quota.', () => quota()?.stats.refusals);
  mirrored(registry, 'endpoints_gateway_quota_fallbacks_total', 'Quota checks answered in memory because Redis was down or slow.', () => quota()?.stats.fallbacks);
  // Log lines dropped because stdout was not keeping up (owned with logger.ts).
  mirrored(registry, 'endpoints_gateway_log_lines_dropped_total', 'Log lines dropped because the log output (stdout) was not keeping up.', droppedLogLines);
  mirrored(registry, 'endpoints_gateway_trace_spans_dropped_total', 'Spans lost because the trace collector was down, slow or refused them.', droppedSpans);

  // Bound children cached by their label values: no label hashing per request.
  const requestChildren = new Map<string, { inc(): void }>();
  const opChildren = new Map<string, OperationChildren>();
  const projects = new Set<string>();

  /** The requests_total child of these labels (bounded: see UNKNOWN_OPERATION; services are those of the --spec list). */
  const requestChild = (op: string, method: string, code: string, project: string, service: string | undefined): { inc(): void } => {
    const key = service === undefined ? `${op}\u0000${method}\u0000${code}\u0000${project}` : `${op}\u0000${method}\u0000${code}\u0000${project}\u0000${service}`;
    let child = requestChildren.get(key);
    if (child === undefined) {
      const labels = { operation: op, method, code, consumer_project: project };
      child = requests.labels(service === undefined ? labels : { ...labels, service });
      requestChildren.set(key, child);
    }
    return child;
  };

  return {
    registry,
    observe(req, status) {
      const ctx = req.gw;
      if (!ctx) return;
      const op = ctx.op?.id ?? UNKNOWN_OPERATION;
      const code = STATUS_CLASS[Math.floor(status / 100)] ?? 'other';
      let project = ctx.consumerProject || 'none';
      if (!projects.has(project)) {
        if (projects.size < MAX_PROJECTS) projects.add(project);
        else project = 'other';
      }
      const method = asOperationMethod(req.method) ?? OTHER_METHOD;
      const service = ctx.snapshot?.serviceLabel;
      let children = opChildren.get(op);
      if (children === undefined) {
        children = { gw: gatewayTime.labels(op), be: backendTime.labels(op), method: '', code: '', project: '', service: undefined, requests: undefined };
        opChildren.set(op, children);
      }
      // An operation's calls mostly repeat one label set: compared as is, no key string built per request.
      if (children.requests === undefined || children.method !== method || children.code !== code || children.project !== project || children.service !== service) {
        children.requests = requestChild(op, method, code, project, service);
        children.method = method;
        children.code = code;
        children.project = project;
        children.service = service;
      }
      children.requests.inc();

      const end = process.hrtime.bigint();
      if (ctx.upstreamStartNs > 0n) {
        children.gw.observe(Number(ctx.upstreamStartNs - ctx.startNs) / 1e9);
        children.be.observe(Number(end - ctx.upstreamStartNs) / 1e9);
      } else {
        children.gw.observe(Number(end - ctx.startNs) / 1e9);
      }
    },
    upstreamError(kind) {
      upstreamErrors.labels(kind).inc();
    },
    reload(ok, service) {
      const result = ok ? 'success' : 'failure';
      reloads.labels(service === undefined ? { result } : { result, service }).inc();
    },
    contractViolation(operation, kind) {
      // Bounded: operations come from the spec, kinds from a fixed set.
      contractViolations.labels(operation, kind).inc();
    },
  };
}
