// The CPU of tracing's own work per sampled request, measured inside one process (process.cpuUsage), so
// that other processes on a loaded machine move it far less than bench/tracing.ts's figure: the real
// src/tracing/ (start, three check events, one backend attempt, end) exporting OTLP/HTTP protobuf to a sink
// in another process (bench/servers/otlp-sink.ts), among long-lived objects and per-request garbage like the
// gateway's so that spans kept until export cost the GC what they cost there. Run with the bin's V8 limits:
// `node --max-semi-space-size=8 --max-old-space-size=128 bench/tracing-work.ts [--requests N] [--root DIR] [--protocol http/json]`
// (--root: another checkout's src/tracing, to compare two versions in the same conditions; --protocol: the OTLP encoding).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { IncomingMessage } from 'node:http';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '40000' }, root: { type: 'string', default: path.resolve(import.meta.dirname, '..') }, protocol: { type: 'string', default: 'http/protobuf' } }, strict: true });
const N = Number(values.requests);
const sink = spawn(process.execPath, [path.join(import.meta.dirname, 'servers/otlp-sink.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
try {
  const [chunk] = (await once(sink.stdout!, 'data')) as [Buffer];
  const env = { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${chunk.toString().trim()}`, OTEL_EXPORTER_OTLP_PROTOCOL: values.protocol };
  const { createTracing } = (await import(path.join(values.root, 'src/tracing/tracing.ts'))) as typeof import('../src/tracing/tracing.ts');
  const tracing = await createTracing(
    { sampleRate: 1, incoming: ['traceparent', 'x-cloud-trace-context'], outgoing: ['traceparent', 'x-cloud-trace-context'], target: { kind: 'otlp' }, endUser: true, tokens: true },
    () => {},
    env,
  );
  const rule = { hostname: '127.0.0.1', port: 8080, scheme: 'http' } as Parameters<NonNullable<ReturnType<typeof tracing.start>>['attempt']>[2];
  const op = { id: 'getItem', method: 'GET', template: '/items/{id}' };
  // Long-lived objects (the gateway's snapshot) and per-request garbage (its request path): the GC's real setting.
  const ballast: object[] = [];
  for (let i = 0; i < 300_000; i++) ballast.push({ i, s: `x${i}`, a: [i, i + 1] });
  let garbage: unknown;
  const one = (i: number, traced: boolean) => {
    const junk: object[] = [];
    for (let j = 0; j < 60; j++) junk.push({ j, s: `y${j}`, a: [j] });
    garbage = junk;
    if (!traced) return;
    const req = { method: 'GET', httpVersion: '1.1', socket: { remoteAddress: '127.0.0.1' }, headers: {} } as unknown as IncomingMessage;
    const t = tracing.start(req)!;
    for (const name of ['api key check', 'jwt', 'quota']) {
      const t0 = performance.now();
      // A number: both the HrTime and the performance.now() signatures of check() hand it to the SDK as the event's time.
      t.check(name, t0 as never, performance.now() - t0, name === 'api key check' ? 'hit' : undefined, undefined);
    }
    const a = t.attempt({}, 1, rule, 'GET');
    a.status(200);
    a.end();
    t.end({ op, path: `/items/${i}`, consumerProject: '123456789012', endUser: 'user-1', reason: undefined }, 200, true);
  };
  const round = async (n: number, traced: boolean) => {
    const c0 = process.cpuUsage();
    // Yield now and then, as a server does: export responses are read, timers run.
    for (let i = 0; i < n; i++) if ((one(i, traced), i % 100 === 99)) await new Promise((r) => setImmediate(r));
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / n;
  };
  // The untraced rounds (the garbage alone) first, before any span exists: the major GCs that spans
  // promoted to old space cause then fall in the traced rounds, which they belong to.
  await round(10_000, false);
  const off: number[] = [];
  for (let k = 0; k < 5; k++) off.push(await round(N, false));
  await round(10_000, true);
  const on: number[] = [];
  for (let k = 0; k < 5; k++) on.push(await round(N, true));
  const median = (v: number[]) => v.sort((a, b) => a - b)[2]!;
  void garbage;
  process.stdout.write(`${values.root} (${values.protocol}): tracing ${(median(on) - median(off)).toFixed(1)} µs CPU per sampled request (medians of 5 × ${N}: traced ${median(on).toFixed(1)}, untraced ${median(off).toFixed(1)})\n`);
  await tracing.close();
} finally {
  sink.kill();
}
