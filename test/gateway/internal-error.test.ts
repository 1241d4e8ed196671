// An unexpected error inside a request stage: logged, answered 500 in ESP's
// JSON form, and the process keeps serving.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createApp, listen } from '../../src/server.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { send } from '../helpers/http.ts';

test('a throwing stage answers 500 INTERNAL, is logged, and the next request is served', async () => {
  const lines: string[] = [];
  const logger = createLogger({ destination: new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }) });
  let calls = 0;
  const app = createApp({
    logger,
    // The real stages are exercised elsewhere; here one of them fails the way a bug would.
    pipeline: (req, _res, next) => {
      calls++;
      if (req.url === '/boom') throw new Error('stage bug');
      if (req.url === '/reject') return void Promise.reject(new Error('async stage bug')).catch(next);
      next();
    },
    proxy: (_req, res) => void res.end('proxied'),
  });
  const l = await listen(app, 0, '127.0.0.1');
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
