/**
 * A cluster worker's side of the conversation with the primary: it reports
 * that it listens and which config it serves, answers status questions (for
 * the primary's /readyz and /configz), hands its metrics registry to
 * prom-client's aggregation (the primary's /metrics), and reloads when told.
 */
import type { Gateway } from '../gateway.ts';
import type { Logger } from '../observability/logger.ts';
import { isToWorker, type ToPrimary } from './messages.ts';
import type { WorkerRole } from './role.ts';

const send = (m: ToPrimary): void => {
  // The channel is gone while the primary stops: nothing left to tell it.
  if (process.connected) process.send!(m);
};

export async function joinPrimary(gw: Gateway, role: WorkerRole, log: Logger, stop: (why: string, exitCode: number) => void): Promise<void> {
  if (gw.metrics) {
    const { AggregatorRegistry } = await import('prom-client');
    AggregatorRegistry.setRegistries([gw.metrics.registry]);
    // Its constructor adds the listener that answers the primary's metrics requests.
    new AggregatorRegistry();
  }
  // Only the leader's swaps lead the others: theirs follow one of its own.
  if (role.leader) gw.onSwap((configId) => send({ egw: 'swapped', configId }));
  process.on('message', (m: unknown) => {
    if (!isToWorker(m)) return;
    if (m.egw === 'status') {
      const r = gw.readiness();
      send({ egw: 'status', id: m.id, status: { ready: r.ready, why: r.why, configz: gw.configz() } });
    } else if (m.egw === 'reload') {
      void gw.reload();
    }
  });
  // The primary died (killed without its chance to drain us): nobody replaces or aggregates us; stop.
  process.once('disconnect', () => {
    log.error({ worker: role.slot }, 'the primary process is gone: draining and exiting');
    stop('primary gone', 1);
  });
  send({ egw: 'listening', port: gw.port, configId: String(gw.configz().config_id) });
}
