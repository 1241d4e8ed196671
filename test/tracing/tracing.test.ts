// The gateway's hop in a trace, end to end with real parts: the CLI in its own process exporting through the
// real OpenTelemetry SDK and OTLP/HTTP exporter to a loopback OTLP receiver (test/emulators/otlp-receiver.ts),
// a real backend, a real key store. What the receiver decodes, what the backend receives and what the
// access log says are checked together.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { stringify } from 'yaml';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.ts';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { send } from '../helpers/http.ts';
import { CLOSED_URL } from '../helpers/closed-port.ts';
import { waitFor } from '../helpers/wait.ts';
import { runCli } from '../helpers/cli.ts';
import { startWsBackend, type WsBackend } from '../websocket/ws-backend.ts';
import { closeWs, echo, openWs } from '../websocket/ws-client.ts';
import { SPAN_KIND, startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../emulators/otlp-receiver.ts';

const SERVICE = 'traced.endpoints.p.cloud.goog';
const ok = { 200: { description: 'ok' } };
const CALLER_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';

let dir: string;
let backend: TestBackend;
let wsBackend: WsBackend;
/** Resets the connection of its first request, answers every later one: one retried call. */
let flaky: Server;
let flakyHits = 0;
let receiver: OtlpReceiver;
let hanging: OtlpReceiver;
let key: string;
/** Everything sampled (rate 1). */
let all: ChildGateway;
/** Rate 0: only callers' sampled decisions are traced. */
let zero: ChildGateway;
/** Exports to a port where nothing listens. */
let down: ChildGateway;
/** Exports to a receiver that never answers. */
let stuck: ChildGateway;

const otlpEnv = (url: string, name: string): Record<string, string> => ({
  OTEL_EXPORTER_OTLP_ENDPOINT: url,
  OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
  OTEL_SERVICE_NAME: name,
  // Short batches: spans reach the receiver soon after their request.
  OTEL_BSP_SCHEDULE_DELAY: '50',
});

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'egw-tracing-'));
  [backend, receiver, hanging, wsBackend] = await Promise.all([startTestBackend(), startOtlpReceiver(), startOtlpReceiver(), startWsBackend()]);
  hanging.setMode('hang');
  flaky = createServer((req, res) => {
    if (flakyHits++ === 0) {
      req.socket.destroy();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end('second try');
  }).listen(0, '127.0.0.1');
  await new Promise((r) => flaky.once('listening', r));
  const spec = path.join(dir, 'endpoint.yaml');
  await writeFile(
    spec,
    stringify({
      swagger: '2.0',
      info: { title: 'traced', version: '1' },
      host: SERVICE,
      'x-google-backend': { address: backend.url },
      securityDefinitions: { api_key: { type: 'apiKey', name: 'key', in: 'query' } },
      security: [{ api_key: [] }],
      paths: {
        '/items/{id}': { get: { operationId: 'getItem', parameters: [{ name: 'id', in: 'path', required: true, type: 'string' }], responses: ok } },
        '/flaky': {
          get: { operationId: 'flaky', security: [], 'x-google-backend': { address: `http://127.0.0.1:${(flaky.address() as AddressInfo).port}` }, responses: ok },
        },
        '/open': { get: { operationId: 'open', security: [], responses: ok } },
        '/ws': { get: { operationId: 'socket', security: [], 'x-google-backend': { address: wsBackend.url }, responses: ok } },
      },
    }),
  );
  const store = path.join(dir, 'keys.yaml');
  const made = await runCli(['keys', 'create', '--store', store, '--project', '123456789012', '--name', 'tracing']);
  assert.equal(made.code, 0, made.stderr);
  key = made.stdout.trim();
  const base = ['--spec', spec, '--keys', `file:${store}`, '--backend-auth', 'none'];
  [all, zero, down, stuck] = await Promise.all([
    startChildGateway([...base, '--tracing-sample-rate', '1', '--log-request-headers', 'X-Client-Tag,authorization,x-note', '--log-response-headers', 'content-type'], otlpEnv(receiver.url, 'all')),
    startChildGateway([...base, '--tracing-sample-rate', '0'], otlpEnv(receiver.url, 'zero')),
    startChildGateway([...base, '--tracing-sample-rate', '1', '--admin-port', '0'], { ...otlpEnv(CLOSED_URL, 'down'), OTEL_EXPORTER_OTLP_TIMEOUT: '1000' }),
    // The export waits for an answer far longer than the test: only the requests' own path can end them.
    startChildGateway([...base, '--tracing-sample-rate', '1'], { ...otlpEnv(hanging.url, 'stuck'), OTEL_EXPORTER_OTLP_TIMEOUT: '600000', OTEL_BSP_EXPORT_TIMEOUT: '600000' }),
  ]);
});

after(async () => {
  for (const g of [all, zero, down, stuck]) g?.child.kill('SIGKILL');
  await Promise.all([all, zero, down, stuck].map((g) => g?.exit()));
  await Promise.all([backend?.close(), wsBackend?.close(), receiver?.close(), hanging?.close(), new Promise((r) => flaky?.close(r))]);
  await rm(dir, { recursive: true, force: true });
});

function ofService(name: string): ReceivedSpan[] {
  return receiver.spans.filter((s) => s.resource['service.name'] === name);
}

async function trace(service: string, traceId: string, minSpans: number): Promise<ReceivedSpan[]> {
  const mine = () => ofService(service).filter((s) => s.traceId === traceId);
  await waitFor(() => mine().length >= minSpans, `${minSpans} spans of trace ${traceId}`);
  return mine();
}

function serverSpanOf(spans: ReceivedSpan[]): ReceivedSpan {
  const s = spans.filter((x) => x.kind === SPAN_KIND.server);
  assert.equal(s.length, 1, `one server span: ${JSON.stringify(spans)}`);
  return s[0]!;
}

describe('spans of one request', () => {
  test('a keyed call: a server span in the caller trace, its checks and one client span; the backend is told the client span', async () => {
    backend.clear();
    const r = await send(all.url, `/items/42?key=${key}`, { headers: { traceparent: `00-${CALLER_TRACE}-${CALLER_SPAN}-01`, tracestate: 'vendor=abc' } });
    assert.equal(r.status, 200);
    const spans = await trace('all', CALLER_TRACE, 2);
    const server = serverSpanOf(spans);
    assert.equal(server.parentSpanId, CALLER_SPAN);
    assert.equal(server.name, 'GET /items/{id}');
    assert.equal(server.attributes['http.request.method'], 'GET');
    assert.equal(server.attributes['http.route'], '/items/{id}');
    assert.equal(server.attributes['http.response.status_code'], 200);
    assert.equal(server.attributes['endpoints.operation_id'], 'getItem');
    assert.equal(server.attributes['endpoints.consumer_project'], '123456789012');
    const clients = spans.filter((s) => s.kind === SPAN_KIND.client);
    assert.equal(clients.length, 1);
    assert.equal(clients[0]!.parentSpanId, server.spanId);
    const check = server.events.find((e) => e.name === 'api key check');
    assert.ok(check, 'the key check is an event of the server span');
    assert.match(String(check.attributes['endpoints.cache']), /^(hit|miss)$/);
    assert.equal(typeof check.attributes['endpoints.duration_ms'], 'number');
    // The backend's parent is the gateway's client span, in the caller's trace, with the caller's tracestate.
    const got = backend.last()!.headers;
    assert.equal(got.traceparent, `00-${CALLER_TRACE}-${clients[0]!.spanId}-01`);
    assert.equal(got.tracestate, 'vendor=abc');
    assert.equal(got['x-cloud-trace-context'], `${CALLER_TRACE}/${BigInt(`0x${clients[0]!.spanId}`).toString(10)};o=1`);
    // Never the key, anywhere in what was exported.
    assert.ok(!JSON.stringify(spans).includes(key), 'the API key is not in any span');
  });

  test('a call refused at the key check: the server span carries the status and the reason, no client span', async () => {
    const traceId = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1';
    const r = await send(all.url, '/items/1?key=AIzaSyNotAKeyThisGatewayKnows0000000000', { headers: { traceparent: `00-${traceId}-${CALLER_SPAN}-01` } });
    assert.equal(r.status, 400);
    const spans = await trace('all', traceId, 1);
    const server = serverSpanOf(spans);
    assert.equal(server.attributes['http.response.status_code'], 400);
    assert.equal(server.attributes['error.type'], 'api_key_invalid');
    const check = server.events.find((e) => e.name === 'api key check')!;
    assert.equal(check.attributes['error.type'], 'api_key_invalid');
    // Once the server span is there, every span of the request has been exported with it (one batch, ended before it).
    assert.equal(spans.filter((s) => s.kind === SPAN_KIND.client).length, 0);
  });

  test('a retried call: two attempt spans, the first with its reset reason, the second a resend', async () => {
    const traceId = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb2';
    const r = await send(all.url, '/flaky', { headers: { traceparent: `00-${traceId}-${CALLER_SPAN}-01` } });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'second try');
    const spans = await trace('all', traceId, 3);
    const server = serverSpanOf(spans);
    const attempts = spans.filter((s) => s.kind === SPAN_KIND.client);
    assert.equal(attempts.length, 2, JSON.stringify(attempts));
    const [first, second] = attempts.sort((a, b) => Number(a.attributes['http.request.resend_count'] ?? 0) - Number(b.attributes['http.request.resend_count'] ?? 0));
    for (const a of attempts) assert.equal(a.parentSpanId, server.spanId);
    assert.equal(first!.attributes['endpoints.reset_reason'], 'reset');
    assert.equal(first!.status.code, 2);
    assert.equal(second!.attributes['http.request.resend_count'], 1);
    assert.equal(second!.attributes['http.response.status_code'], 200);
  });

  test("the access-log line names its request's trace and server span", async () => {
    const traceId = 'ccccccccccccccccccccccccccccccc3';
    const r = await send(all.url, '/open', { headers: { traceparent: `00-${traceId}-${CALLER_SPAN}-01`, 'x-client-tag': 'blue', authorization: 'Bearer not-for-logs', 'x-note': `key=${key}` } });
    assert.equal(r.status, 200);
    const server = serverSpanOf(await trace('all', traceId, 2));
    const line = await all.waitForLog((l) => l.message === 'request' && l.requestId === r.headers['x-request-id']);
    assert.equal(line['logging.googleapis.com/trace'], `projects/child-test/traces/${traceId}`);
    assert.equal(line['logging.googleapis.com/spanId'], server.spanId);
    assert.equal(line['logging.googleapis.com/trace_sampled'], true);
    // --log-request-headers / --log-response-headers: named headers only, credentials redacted.
    assert.deepEqual(line.requestHeaders, { 'x-client-tag': 'blue', authorization: 'REDACTED', 'x-note': 'key=REDACTED' });
    assert.deepEqual(line.responseHeaders, { 'content-type': 'application/json' });
  });

  test('a trace context the gateway does not know is refused at start, in ESPv2 words', async () => {
    const r = await runCli(['serve', '--spec', path.join(dir, 'endpoint.yaml'), '--tracing-incoming-context', 'traceparent,aaa']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Invalid trace context: aaa/);
  });
});

describe('WebSocket upgrades', () => {
  test('an upgrade: a server span and a client span, both 101; the backend is told the client span', async () => {
    const traceId = '2222222222222222222222222222222b';
    const ws = await openWs(all.url, '/ws', { traceparent: `00-${traceId}-${CALLER_SPAN}-01` });
    assert.equal(await echo(ws, 'hello'), 'hello');
    await closeWs(ws);
    // The exchange is recorded (and its server span ended) once the client connection is gone.
    const spans = await trace('all', traceId, 2);
    const server = serverSpanOf(spans);
    assert.equal(server.attributes['http.response.status_code'], 101);
    assert.equal(server.attributes['endpoints.operation_id'], 'socket');
    const clients = spans.filter((s) => s.kind === SPAN_KIND.client);
    assert.equal(clients.length, 1);
    assert.equal(clients[0]!.parentSpanId, server.spanId);
    assert.equal(clients[0]!.attributes['http.response.status_code'], 101);
    assert.equal(wsBackend.upgrades.at(-1)!.headers.traceparent, `00-${traceId}-${clients[0]!.spanId}-01`);
  });
});

describe('sampling', () => {
  test("rate 0: nothing without a caller's decision; a sampled traceparent or X-Cloud-Trace-Context o=1 always", async () => {
    const sampledW3c = 'ddddddddddddddddddddddddddddddd4';
    const sampledCloud = 'eeeeeeeeeeeeeeeeeeeeeeeeeeeeeee5';
    const unsampledW3c = 'fffffffffffffffffffffffffffffff6';
    const unsampledCloud = '1111111111111111111111111111111a';
    for (let i = 0; i < 5; i++) assert.equal((await send(zero.url, '/open')).status, 200);
    assert.equal((await send(zero.url, '/open', { headers: { traceparent: `00-${unsampledW3c}-${CALLER_SPAN}-00` } })).status, 200);
    assert.equal((await send(zero.url, '/open', { headers: { 'x-cloud-trace-context': `${unsampledCloud}/123;o=0` } })).status, 200);
    assert.equal((await send(zero.url, '/open', { headers: { traceparent: `00-${sampledW3c}-${CALLER_SPAN}-01` } })).status, 200);
    assert.equal((await send(zero.url, '/open', { headers: { 'x-cloud-trace-context': `${sampledCloud}/12345;o=1` } })).status, 200);
    // The sampled ones were sent last: once they are in, everything before them has been exported or never will be.
    const cloud = serverSpanOf(await trace('zero', sampledCloud, 2));
    await trace('zero', sampledW3c, 2);
    assert.equal(cloud.parentSpanId, (12345).toString(16).padStart(16, '0'));
    const servers = ofService('zero').filter((s) => s.kind === SPAN_KIND.server);
    assert.deepEqual(servers.map((s) => s.traceId).sort(), [sampledW3c, sampledCloud].sort());
  });
});

describe('a collector that is down or hangs', () => {
  test('down: every request answered; one warning; lost spans counted', async () => {
    for (let i = 0; i < 10; i++) assert.equal((await send(down.url, '/open')).status, 200);
    await down.waitForLog((l) => String(l.message).startsWith('could not export trace spans'));
    const dropped = async () => {
      const m = await send(down.adminUrl!, '/metrics');
      const v = /^endpoints_gateway_trace_spans_dropped_total (\d+)/m.exec(m.body);
      return v ? Number(v[1]) : 0;
    };
    // A second round of exports fails too: counted, not logged again.
    const before = await dropped();
    for (let i = 0; i < 10; i++) assert.equal((await send(down.url, '/open')).status, 200);
    await waitFor(async () => (await dropped()) > before, 'the second round of lost spans counted');
    const warnings = down.logs.filter((l) => String(l.message).startsWith('could not export trace spans'));
    assert.equal(warnings.length, 1);
  });

  test("hanging: requests are answered while an export waits on the collector", async () => {
    assert.equal((await send(stuck.url, '/open')).status, 200);
    // The first export is now held open by the receiver, and stays so (its timeout is beyond the test).
    await waitFor(() => hanging.posts >= 1, 'an export to the hanging collector');
    const replies = await Promise.all(Array.from({ length: 20 }, () => send(stuck.url, '/open')));
    for (const r of replies) assert.equal(r.status, 200);
    assert.equal(hanging.spans.length, 0, 'the hanging collector never took a span');
  });
});
