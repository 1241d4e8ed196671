/** The fields of the `endpoints-gateway listening` line: what an operator checks first after a start. */
import { getHeapStatistics } from 'node:v8';
import type { Listener } from '../http/listen.ts';
import type { Services } from '../services/services.ts';
import type { GatewayOptions } from './options.ts';
import type { ProcessParts } from './parts.ts';

export function listeningFields(
  opts: GatewayOptions,
  o: { listener: Listener; admin: Listener | undefined; services: Services; parts: ProcessParts; downstreamMax: number },
): Record<string, unknown> {
  const all = o.services;
  const served = all.list[0]!.current();
  return {
    port: o.listener.port,
    adminPort: o.admin?.port,
    service: served.config.serviceName,
    config_id: served.configId,
    spec: served.file,
    selected_by: served.selectedBy,
    operations: served.config.operations.length,
    ...(all.pick ? { services: all.list.map((s) => ({ service: s.name, config_id: s.current().configId, hosts: s.hostNames, spec: s.current().file })) } : {}),
    keys: opts.keys.split(':')[0],
    quotaStore: all.list.some((s) => s.current().quota) ? o.parts.quota.store : undefined,
    backendAuth: opts.backendAuth,
    downstreamMaxConnections: o.downstreamMax,
    tracing: o.parts.tracing?.destination ?? 'off',
    heapLimitMiB: Math.round(getHeapStatistics().heap_size_limit / 2 ** 20), // shows the V8 limits in force
    ...(opts.tls?.certPath !== undefined || opts.tls?.selfSigned ? { tls: true, clientCertificates: opts.tls.clientRootCertFile !== undefined } : {}),
    ...(opts.h2c ? { h2c: true } : {}),
  };
}
