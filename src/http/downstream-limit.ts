import { readFileSync } from 'node:fs';
import type { Server } from 'node:net';
import type { Logger } from '../observability/logger.ts';

/**
 * A bound on client connections (--downstream-max-connections), like Envoy's
 * global_downstream_max_connections: past it a new connection is closed at
 * once (Node's server.maxConnections) instead of the process running out of
 * descriptors, when every accept, backend connect and file open would fail,
 * health checks and existing clients included. WebSockets get all but a tenth
 * of it (tunnelLimit), so plain requests, /healthz among them, still get in
 * when the tunnels are full; the admin listener is not bounded at all.
 */

/** Descriptors kept for everything that is not a client or its backend connection: listeners, logs, key and JWKS fetches, Redis, spec files. */
export const DESCRIPTOR_RESERVE = 64;

/** The soft open-files limit of this process, from /proc/self/limits; undefined when unknown or unlimited. */
export function openFilesLimit(limitsText?: string): number | undefined {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return undefined; // not Linux
    }
  }
  const line = text.split('\n').find((l) => l.startsWith('Max open files'));
  const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
  if (soft === undefined || !/^\d+$/.test(soft)) return undefined;
  return Number(soft);
}

/**
 * The default bound: each client connection may hold a backend connection too
 * (a WebSocket always does), so half of what the reserve leaves; 0 (no bound)
 * when the limit is unknown or unlimited.
 */
export function defaultDownstreamMaxConnections(nofile: number | undefined): number {
  if (nofile === undefined) return 0;
  return Math.max(1, Math.floor((nofile - DESCRIPTOR_RESERVE) / 2));
}

/**
 * WebSockets may take all but a tenth of the client connections (at least
 * one is kept): idle tunnels can then never crowd out plain requests, so
 * /healthz on the serving port keeps answering when the tunnels are full.
 * 0: no bound.
 */
export function tunnelLimit(downstreamMax: number): number {
  if (downstreamMax <= 0) return 0;
  return Math.max(1, downstreamMax - Math.max(1, Math.ceil(downstreamMax / 10)));
}

/** How often refused connections are reported (one warning line with the count, not one per connection). */
const REPORT_EVERY_MS = 10_000;

/** Applies the bound (0: none) to the serving listener; refused connections are logged, at most once per 10 s. */
export function limitDownstreamConnections(server: Server, max: number, logger?: Logger): void {
  if (max <= 0) return;
  server.maxConnections = max;
  let refused = 0;
  let timer: NodeJS.Timeout | undefined;
  server.on('drop', () => {
    refused++;
    if (timer !== undefined) return;
    logger?.warn({ refused, maxConnections: max }, 'client connection refused: --downstream-max-connections reached');
    refused = 0;
    timer = setTimeout(() => {
      timer = undefined;
      if (refused > 0) logger?.warn({ refused, maxConnections: max }, 'client connections refused: --downstream-max-connections reached');
      refused = 0;
    }, REPORT_EVERY_MS);
    timer.unref();
  });
}
