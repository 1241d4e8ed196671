// Metrics on the admin port, structured access logs, trace context, readiness.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startApiKeysEmulator, type ApiKeysEmulator } from '../emulators/apikeys-server.ts';
import { startMetadataEmulator, type MetadataEmulator } from '../emulators/metadata-server.ts';
import { startTestBackend, type TestBackend } from '../helpers/backend.ts';
import { baseSpec, op, pathParams, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { send } from '../helpers/http.ts';
import { CLOSED_URL } from '../helpers/closed-port.ts';
import { waitFor } from '../helpers/wait.ts';

const KEY = 'AIzaObservabilityKey0000000000000000000';
const TRACE = '105445aa7843bc8bf206b12000100000';
let keys: ApiKeysEmulator;
let meta: MetadataEmulator;
let backend: TestBackend;
let gw: TestGateway;
let accessLinesAfterTraffic = 0;

function spec() {
  return baseSpec({
    host: 'obs.endpoints.test-project.cloud.goog',
    'x-google-backend': { address: backend.url },
    securityDefinitions: { api_key: { type: 'apiKey', name: 'key', in: 'query' } },
    security: [{ api_key: [] }],
    'x-google-management': { metrics: [{ name: 'calls' }], quota: { limits: [{ name: 'calls-limit', metric: 'calls', unit: '1/min/{project}', values: { STANDARD: 3 } }] } },
    paths: {
      '/items/{id}': { get: op('getItem', { ...pathParams('id'), 'x-google-quota': { metricCosts: { calls: 1 } } }) },
      '/dead': { get: op('dead', { security: [], 'x-google-backend': { address: `${CLOSED_URL}/x`, disable_auth: true } }) },
    },
  });
}

before(async () => {
  keys = await startApiKeysEmulator();
  keys.addKey({ keyString: KEY, project: '31337' });
  meta = await startMetadataEmulator();
  process.env.GCE_METADATA_HOST = meta.host;
  process.env.METADATA_SERVER_DETECTION = 'assume-present';
  backend = await startTestBackend();
  gw = await startTestGateway({ spec: spec(), keys: 'google', apikeysEndpoint: keys.url, backendAuth: 'google', adminPort: 0, traceProject: 'obs-project' });
  // Traffic of every kind.
  await send(gw.url, `/items/1?key=${KEY}`, { headers: { 'x-cloud-trace-context': `${TRACE}/1;o=1`, 'user-agent': 'obs-test/1.0' } });
  await send(gw.url, `/items/2?key=${KEY}`, { headers: { traceparent: `00-${TRACE}-00f067aa0ba902b7-01` } });
  await send(gw.url, `/items/3?key=${KEY}`);
  await send(gw.url, `/items/4?key=${KEY}`); // 429
  await send(gw.url, '/items/5'); // 401
  await send(gw.url, '/items/6?key=AIzaBadBadBadBadBadBadBadBadBadBadBadBad'); // 400
  for (let i = 0; i < 30; i++) await send(gw.url, `/random/${i}/${Math.random()}`); // 404s
  await send(gw.url, '/dead'); // 503
  accessLinesAfterTraffic = gw.logs.filter((l) => l.message === 'request').length;
});

after(async () => {
  await gw?.close();
  await backend?.close();
  await meta?.close();
  await keys?.close();
});

async function metricsText(): Promise<string> {
  const r = await send(`http://127.0.0.1:${gw.gw.adminPort}`, '/metrics');
  assert.equal(r.status, 200);
  assert.match(String(r.headers['content-type']), /text\/plain/);
  return r.body;
}

function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('Prometheus metrics on the admin listener', () => {
  test('requests by operation, method, status class and consumer project', async () => {
    const t = await metricsText();
    assert.equal(value(t, 'endpoints_gateway_requests_total{operation="getItem",method="GET",code="2xx",consumer_project="31337"}'), 3);
    assert.equal(value(t, 'endpoints_gateway_requests_total{operation="getItem",method="GET",code="4xx",consumer_project="31337"}'), 1);
    assert.equal(value(t, 'endpoints_gateway_requests_total{operation="getItem",method="GET",code="4xx",consumer_project="none"}'), 2);
    assert.equal(value(t, 'endpoints_gateway_requests_total{operation="dead",method="GET",code="5xx",consumer_project="none"}'), 1);
  });

  test('an unknown path is one label value, not one per path', async () => {
    const t = await metricsText();
    assert.equal(value(t, 'endpoints_gateway_requests_total{operation="<unknown>",method="GET",code="4xx",consumer_project="none"}'), 30);
    assert.ok(!t.includes('/random/'), 'no raw path in any label');
  });

  test('latency split into gateway and backend time', async () => {
    const t = await metricsText();
    assert.equal(value(t, 'endpoints_gateway_gateway_duration_seconds_count{operation="getItem"}'), 6);
    assert.equal(value(t, 'endpoints_gateway_backend_duration_seconds_count{operation="getItem"}'), 3);
    assert.ok((value(t, 'endpoints_gateway_backend_duration_seconds_sum{operation="getItem"}') ?? 0) > 0);
  });

  test('key cache, API Keys calls, ID tokens, quota refusals, upstream errors, process metrics', async () => {
    const t = await metricsText();
    assert.equal(value(t, 'endpoints_gateway_apikeys_calls_total'), 2); // the good key and the bad key
    assert.equal(value(t, 'endpoints_gateway_apikey_cache_misses_total'), 2);
    assert.ok((value(t, 'endpoints_gateway_apikey_cache_hits_total') ?? 0) >= 3);
    assert.ok((value(t, 'endpoints_gateway_id_token_fetches_total') ?? 0) >= 1);
    assert.equal(value(t, 'endpoints_gateway_id_token_failures_total'), 0);
    assert.equal(value(t, 'endpoints_gateway_quota_refusals_total'), 1);
    assert.equal(value(t, 'endpoints_gateway_upstream_errors_total{kind="connect_refused"}'), 1);
    assert.ok(value(t, 'process_resident_memory_bytes') !== undefined);
    assert.ok(value(t, 'nodejs_eventloop_lag_seconds') !== undefined);
  });

  test('no key ever appears in the exposition', async () => {
    const t = await metricsText();
    assert.ok(!t.includes(KEY) && !t.includes('AIza'));
  });

  test('metrics are not served on the serving port', async () => {
    const r = await send(gw.url, '/metrics');
    assert.equal(r.status, 404);
    assert.ok(!r.body.includes('endpoints_gateway_'));
  });
});

describe('access logs', () => {
  const access = () => gw.logs.filter((l) => l.message === 'request');

  test('one JSON line per request with Cloud Logging fields and the key redacted', () => {
    assert.equal(accessLinesAfterTraffic, 37);
    const first = access()[0]!;
    assert.equal(first.severity, 'INFO');
    assert.ok(access().some((l) => l.severity === 'WARNING' && (l.httpRequest as { status: number }).status === 503), '5xx lines are warnings');
    assert.match(String(first.time), /^\d{4}-\d\d-\d\dT/);
    const h = first.httpRequest as Record<string, unknown>;
    assert.equal(h.requestMethod, 'GET');
    assert.equal(h.requestUrl, '/items/1?key=REDACTED');
    assert.equal(h.status, 200);
    assert.match(String(h.latency), /^\d+\.\d{6}s$/);
    assert.equal(h.remoteIp, '127.0.0.1');
    assert.equal(h.userAgent, 'obs-test/1.0');
    assert.equal(first.operation, 'getItem');
    assert.equal(first.consumerProject, '31337');
    assert.match(String(first.keyFingerprint), /^[0-9a-f]{12}$/);
    for (const line of gw.rawLogs) assert.ok(!line.includes(KEY), line);
  });

  test('the trace id from X-Cloud-Trace-Context or traceparent, in Cloud Logging form', () => {
    const [a, b, c] = access();
    assert.equal(a!['logging.googleapis.com/trace'], `projects/obs-project/traces/${TRACE}`);
    assert.equal(b!['logging.googleapis.com/trace'], `projects/obs-project/traces/${TRACE}`);
    assert.equal(c!['logging.googleapis.com/trace'], undefined);
  });

  test('refusals carry the reason', () => {
    const reasons = access().map((l) => l.reason);
    for (const r of ['missing_api_key', 'api_key_invalid', 'quota_exceeded', 'not_defined', 'upstream_unavailable']) assert.ok(reasons.includes(r), r);
  });

  test('trace context reaches the backend untouched', () => {
    const seen = backend.requests.map((r) => r.headers);
    assert.ok(seen.some((h) => h['x-cloud-trace-context'] === `${TRACE}/1;o=1`));
    assert.ok(seen.some((h) => h.traceparent === `00-${TRACE}-00f067aa0ba902b7-01`));
  });

  test('the access log can be switched off', async () => {
    const quiet = await startTestGateway({ spec: spec(), accessLog: false });
    try {
      await send(quiet.url, '/random');
      await send(quiet.url, '/items/1');
      assert.equal(quiet.logs.filter((l) => l.message === 'request').length, 0);
    } finally {
      await quiet.close();
    }
  });
});

describe('readiness', () => {
  test('ready once a backend ID token could be had; not ready while it cannot; liveness unaffected', async () => {
    assert.equal((await send(gw.url, '/readyz')).status, 200);
    meta.setFailing(true, 403);
    const g2 = await startTestGateway({
      spec: baseSpec({ paths: { '/x': { get: op('x', { 'x-google-backend': { address: backend.url, jwt_audience: 'https://readiness.example.com' } }) } } }),
      backendAuth: 'google',
      adminPort: 0,
    });
    try {
      const r = await send(g2.url, '/readyz');
      assert.equal(r.status, 503);
      assert.deepEqual(r.json(), { code: 503, message: 'not ready: no backend ID token yet' });
      assert.equal((await send(`http://127.0.0.1:${g2.gw.adminPort}`, '/readyz')).status, 503);
      assert.equal((await send(g2.url, '/healthz')).status, 200);
      meta.setFailing(false);
      // The next start-up retry (2 s, 4 s, 8 s ... after the first try) gets a token.
      await waitFor(async () => (await send(g2.url, '/readyz')).status === 200, 'readiness after the metadata server recovered', 60_000);
    } finally {
      meta.setFailing(false);
      await g2.close();
    }
  });
});
