// Live heap of a running gateway, without special flags: Node opens its inspector on SIGUSR1 (on port
// 0, as NODE_OPTIONS' --inspect-port says, printing its address on stderr), the inspector forces a
// full GC, and the gateway's own /metrics then reports what is left (`nodejs_heap_size_used_bytes`,
// prom-client's default metric).
import WebSocket from 'ws';
import { getText, type Proc } from './procs.ts';

export interface HeapProbe {
  /** Forces a full GC in the gateway, then reads its heap in use from `metricsUrl`. */
  liveHeapBytes(): Promise<number>;
  close(): void;
}

/** NODE_OPTIONS entry that puts the inspector, once opened, on a loopback port the kernel picks (nothing opens it yet). */
export const INSPECT_ANY_PORT = '--inspect-port=127.0.0.1:0';

/**
 * One series' value from a Prometheus scrape (`series`: the name with its labels, as the scrape writes it).
 * `ifAbsent`: the value when the page has no such line (a labelled series appears only once observed).
 */
export async function scrapeMetric(metricsUrl: string, series: string, ifAbsent?: number): Promise<number> {
  const m = await getText(metricsUrl);
  if (m.status !== 200) throw new Error(`no ${series} from ${metricsUrl} (status ${m.status})`);
  const line = m.body.split('\n').find((l) => l.startsWith(`${series} `));
  if (line !== undefined) return Number(line.slice(series.length + 1));
  if (ifAbsent !== undefined) return ifAbsent;
  throw new Error(`no ${series} from ${metricsUrl}`);
}

/** The heap in use that a Prometheus scrape reports, in bytes. */
export function scrapeHeapUsed(metricsUrl: string): Promise<number> {
  return scrapeMetric(metricsUrl, 'nodejs_heap_size_used_bytes');
}

/** Opens the inspector of `proc` (a gateway started with INSPECT_ANY_PORT) and connects to it. */
export async function openHeapProbe(proc: Proc, metricsUrl: string): Promise<HeapProbe> {
  // Node prints the inspector's address when it opens; a second SIGUSR1 finds it open and prints nothing.
  const address = () => [...proc.stderr().matchAll(/Debugger listening on (ws:\/\/\S+)/g)].pop()?.[1];
  let target = address();
  if (target === undefined) process.kill(proc.pid, 'SIGUSR1');
  const deadline = Date.now() + 10_000;
  while (target === undefined) {
    if (Date.now() > deadline) throw new Error(`${proc.name}: its inspector did not open (no "Debugger listening on" on stderr)`);
    await new Promise((r) => setTimeout(r, 50));
    target = address();
  }
  const ws = new WebSocket(target);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let nextId = 1;
  const call = (method: string) =>
    new Promise<void>((resolve, reject) => {
      const id = nextId++;
      const onMessage = (data: WebSocket.RawData) => {
        const msg = JSON.parse(data.toString()) as { id?: number; error?: { message: string } };
        if (msg.id !== id) return;
        ws.off('message', onMessage);
        if (msg.error) reject(new Error(`${method}: ${msg.error.message}`));
        else resolve();
      };
      ws.on('message', onMessage);
      ws.send(JSON.stringify({ id, method }));
    });
  return {
    async liveHeapBytes() {
      // Twice: the first full GC can leave objects that only its finalizers released.
      await call('HeapProfiler.collectGarbage');
      await call('HeapProfiler.collectGarbage');
      return scrapeHeapUsed(metricsUrl);
    },
    close: () => ws.close(),
  };
}
