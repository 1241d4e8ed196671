/**
 * The serving port: the request handler (front door, chain, proxy), WebSocket
 * upgrades through the same entry and chain, and the downstream connection
 * limit. Its parts are registered with the process Lifetime.
 */
import type { IncomingMessage } from 'node:http';
import { createUpgradeHandler } from '../backend/websocket.ts';
import type { Logger } from '../observability/logger.ts';
import type { CorsPresetHandler } from '../cors/preset.ts';
import type { ProcessParts } from '../runtime/parts.ts';
import type { Lifetime } from '../runtime/lifetime.ts';
import { byHost, type ServedUnit } from '../services/dispatch.ts';
import { DEFAULTS, type GatewayOptions } from '../runtime/options.ts';
import { createRequestHandler } from './handler.ts';
import { pathNormalizer } from '../routing/path-switches.ts';
import type { Recorder } from './record.ts';
import type { RequestTrace } from '../tracing/request-trace.ts';
import { listen, type Listener } from './listen.ts';
import { openServerTls, serverTlsFlagsError, wantsTls } from '../tls/server-tls.ts';
import { defaultDownstreamMaxConnections, limitDownstreamConnections, openFilesLimit, tunnelLimit } from './downstream-limit.ts';

export interface ServingPortParts {
  /** One service; or several, with `pick` choosing by host and `none` for hosts no service names (src/services). */
  readonly units: readonly ServedUnit[];
  readonly pick: ((req: IncomingMessage) => number) | undefined;
  readonly none: ServedUnit | undefined;
  readonly record: Recorder;
  readonly cors: CorsPresetHandler | undefined;
  readonly draining: () => boolean;
  /** Tracing on: the request's trace when sampled (src/tracing/). */
  readonly startTrace: ((req: IncomingMessage) => RequestTrace | undefined) | undefined;
}

export async function openServingPort(
  opts: GatewayOptions,
  parts: ProcessParts,
  p: ServingPortParts,
  life: Lifetime,
): Promise<{ readonly listener: Listener; readonly downstreamMax: number; setGrace(ms: number | undefined): void }> {
  const log: Logger = opts.logger;
  const normalize = pathNormalizer(opts.disableNormalizePath === true);
  const make = (u: ServedUnit) => createRequestHandler({ ...p, ...u, forward: parts.proxy.forward, decorate: p.cors?.decorate, logger: log, normalize, traceProject: parts.traceProject });
  const handler = p.pick && p.none ? byHost(p.units.map(make), make(p.none), p.pick) : make(p.units[0]!);
  const downstreamMax = opts.downstreamMaxConnections ?? defaultDownstreamMaxConnections(openFilesLimit());
  // WebSocket upgrades: the same entry and chain, then a tunnel (ESPv2 always allows them).
  const upgrades = createUpgradeHandler({
    run: handler.runUpgrade,
    enabled: opts.websockets ?? true,
    logger: log,
    slots: parts.proxy.slots,
    streamIdleTimeoutMs: opts.streamIdleTimeoutMs ?? DEFAULTS.streamIdleTimeoutMs,
    maxOpen: tunnelLimit(downstreamMax),
    onUpstreamError: (req: IncomingMessage, kind: string, err: Error) => {
      parts.metrics?.upstreamError(kind);
      log.warn({ kind, err: err.message, operation: req.gw?.op?.id, requestId: req.gw?.requestId }, 'upstream error (upgrade)');
    },
    onFinish: p.record.upgrade,
  });
  life.add('upgrades', () => upgrades.close());
  const tlsError = opts.tls && serverTlsFlagsError(opts.tls);
  if (tlsError) throw new Error(tlsError);
  const tls = wantsTls(opts.tls) ? await openServerTls(opts.tls!, log) : undefined;
  const listener = await listen(handler.handle, opts.port, opts.host, upgrades, tls || opts.h2c ? { tls, h2c: opts.h2c } : undefined);
  limitDownstreamConnections(listener.server, downstreamMax, log);
  let graceMs: number | undefined;
  life.add('listener', () => listener.close(graceMs));
  return { listener, downstreamMax, setGrace: (ms) => void (graceMs = ms) };
}
