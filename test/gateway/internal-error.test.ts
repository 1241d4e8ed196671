// An unexpected error inside a request stage: logged, answered 500 in ESP's
// JSON form, and the process keeps serving.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createRequestHandler } from '../../src/http/handler.ts';
import { createRecorder } from '../../src/http/record.ts';
import { listen } from '../../src/http/listen.ts';
import type { Stage } from '../../src/chain/stage.ts';
import type { Snapshot } from '../../src/runtime/snapshot.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { send } from '../helpers/http.ts';
import { createTracing } from '../../src/tracing/tracing.ts';
import { startOtlpReceiver } from '../emulators/otlp-receiver.ts';

test('a throwing stage answers 500 INTERNAL, is logged, and the next request is served', async () => {
  const lines: string[] = [];
  const logger = createLogger({ destination: new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }) });
  let calls = 0;
  // The real stages are exercised elsewhere; here one of them fails the way a bug would.
  const buggy: Stage = {
    name: 'buggy',
    why: 'a stage with a bug',
    run(req) {
      calls++;
      if (req.url === '/boom') throw new Error('stage bug');
      if (req.url === '/reject') return Promise.reject(new Error('async stage bug'));
      return undefined;
    },
  };
  const handler = createRequestHandler({
    // No stage here reads the snapshot.
    current: () => ({}) as Snapshot,
    stages: [buggy],
    routes: [],
    forward: (_req, res) => void res.end('proxied'),
    record: createRecorder(undefined, undefined),
    decorate: undefined,
    draining: () => false,
    logger,
  });
  const l = await listen(handler.handle, 0, '127.0.0.1');
  try {
    const base = `http://127.0.0.1:${l.port}`;
    for (const p of ['/boom', '/reject']) {
      const r = await send(base, p);
      assert.equal(r.status, 500);
      assert.deepEqual(r.json(), { code: 500, message: 'INTERNAL: Internal error in the gateway.' });
      assert.doesNotMatch(r.body, /stage bug/);
    }
    assert.equal((await send(base, '/fine')).body, 'proxied');
    assert.equal(calls, 3);
    assert.ok(lines.some((x) => x.includes('internal error while handling a request') && x.includes('stage bug')));
  } finally {
    await l.close(100);
  }
});

test("with tracing on, the internal-error line names its request's trace and server span, as the access log does", async () => {
  const collector = await startOtlpReceiver();
  const lines: string[] = [];
  const logger = createLogger({ destination: new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }) });
  const env = { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' };
  const tracing = await createTracing({ sampleRate: 1, incoming: ['traceparent'], outgoing: ['traceparent'], target: { kind: 'otlp' }, endUser: false, tokens: false }, () => {}, env);
  const buggy: Stage = {
    name: 'buggy',
    why: 'a stage with a bug',
    run() {
      throw new Error('stage bug');
    },
  };
  const handler = createRequestHandler({
    current: () => ({}) as Snapshot,
    stages: [buggy],
    routes: [],
    forward: (_req, res) => void res.end('proxied'),
    record: createRecorder(undefined, undefined),
    decorate: undefined,
    draining: () => false,
    logger,
    startTrace: tracing.start,
    traceProject: 'trace-project',
  });
  const l = await listen(handler.handle, 0, '127.0.0.1');
  try {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const r = await send(`http://127.0.0.1:${l.port}`, '/boom', { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
    assert.equal(r.status, 500);
    const line = lines.map((x) => JSON.parse(x) as Record<string, unknown>).find((x) => x.message === 'internal error while handling a request');
    assert.ok(line, lines.join(''));
    assert.equal(line['logging.googleapis.com/trace'], `projects/trace-project/traces/${traceId}`);
    assert.match(String(line['logging.googleapis.com/spanId']), /^[0-9a-f]{16}$/);
    assert.notEqual(line['logging.googleapis.com/spanId'], '00f067aa0ba902b7');
    assert.equal(line['logging.googleapis.com/trace_sampled'], true);
  } finally {
    await l.close(100);
    await tracing.close();
    await collector.close();
  }
});
