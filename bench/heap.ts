// Live heap of a running gateway, without special flags: Node opens its inspector on SIGUSR1 (on the
// port NODE_OPTIONS' --inspect-port names), the inspector forces a full GC, and the gateway's own
// /metrics then reports what is left (`nodejs_heap_size_used_bytes`, prom-client's default metric).
import WebSocket from 'ws';
import { getText } from './procs.ts';

export interface HeapProbe {
  /** Forces a full GC in the gateway, then reads its heap in use from `metricsUrl`. */
  liveHeapBytes(): Promise<number>;
  close(): void;
}

/** NODE_OPTIONS entry that puts the inspector, once opened, on this loopback port (nothing opens it yet). */
export const inspectPortOption = (port: number) => `--inspect-port=127.0.0.1:${port}`;

/** The heap in use that a Prometheus scrape reports, in bytes. */
export async function scrapeHeapUsed(metricsUrl: string): Promise<number> {
  const m = await getText(metricsUrl);
  const line = m.body.split('\n').find((l) => l.startsWith('nodejs_heap_size_used_bytes '));
  if (m.status !== 200 || line === undefined) throw new Error(`no nodejs_heap_size_used_bytes from ${metricsUrl} (status ${m.status})`);
  return Number(line.split(' ')[1]);
}

export async function openHeapProbe(pid: number, inspectPort: number, metricsUrl: string): Promise<HeapProbe> {
  process.kill(pid, 'SIGUSR1');
  let target: string | undefined;
  const deadline = Date.now() + 10_000;
  while (target === undefined) {
    try {
      const list = await getText(`http://127.0.0.1:${inspectPort}/json/list`);
      target = (JSON.parse(list.body) as { webSocketDebuggerUrl?: string }[])[0]?.webSocketDebuggerUrl;
    } catch {
      // Not listening yet.
    }
    if (target === undefined) {
      if (Date.now() > deadline) throw new Error(`the gateway's inspector did not open on port ${inspectPort}`);
      await new Promise((r) => setTimeout(r, 50));
    }
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
