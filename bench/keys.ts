// The API keys the benchmark sends: one main key for the side-by-side cases, and N distinct keys whose
// cached verdicts the memory cases measure.
import { MEASURED_PATH } from './spec.ts';
import type { Rotation } from './wrk.ts';

export const MAIN_KEY = 'AIzaSyBench-main-key-000000000000000000';
const MANY_PREFIX = 'AIzaSyBench-rss-';
const MANY_SUFFIX = '-00000000000000';
const MANY_WIDTH = 6;
export const manyKey = (i: number) => `${MANY_PREFIX}${String(i).padStart(MANY_WIDTH, '0')}${MANY_SUFFIX}`;
export const withKey = (key: string) => `${MEASURED_PATH}?key=${key}`;
/** Keys looked up (cold, then cached) before the live heap is first measured, so the lookup path is warm. */
export const WARM_KEYS = 100;
export const warmKey = (i: number) => `AIzaSyBench-warm-${String(i).padStart(5, '0')}-00000000000000`;
/** Request i goes with key i mod n: every key once, then round and round. */
export const rotatingKeys = (n: number) => (i: number) => withKey(manyKey(i % n));
/** The same rotation for wrk (bench/wrk/bench.lua builds the paths): the same keys as manyKey(0..n-1). */
export const rotatingKeysForWrk = (n: number): Rotation => ({ prefix: withKey(MANY_PREFIX), count: n, width: MANY_WIDTH, suffix: MANY_SUFFIX });
/**
 * Requests in flight while the many keys are looked up for the first time: the API Keys emulator shares
 * the benchmark's process, and a lookup it answers after the gateway's deadline is a 503.
 */
export const FILL_CONCURRENCY = 8;
/** Issue 24's bound on the RSS of each gateway process (each worker with --workers) after the many-keys load. */
export const RSS_LIMIT = 200 * 2 ** 20;
