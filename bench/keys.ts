// The API keys the benchmark sends: one main key for the side-by-side cases, and N distinct keys whose
// cached verdicts the memory cases measure.
import { MEASURED_PATH } from './spec.ts';

export const MAIN_KEY = 'AIzaSyBench-main-key-000000000000000000';
export const manyKey = (i: number) => `AIzaSyBench-rss-${String(i).padStart(6, '0')}-00000000000000`;
export const withKey = (key: string) => `${MEASURED_PATH}?key=${key}`;
/** Keys looked up (cold, then cached) before the live heap is first measured, so the lookup path is warm. */
export const WARM_KEYS = 100;
export const warmKey = (i: number) => `AIzaSyBench-warm-${String(i).padStart(5, '0')}-00000000000000`;
/** Request i goes with key i mod n: every key once, then round and round. */
export const rotatingKeys = (n: number) => (i: number) => withKey(manyKey(i % n));
