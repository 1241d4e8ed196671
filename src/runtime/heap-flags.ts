import { setFlagsFromString } from 'node:v8';

/**
 * V8 moves an allocation site's objects straight to the old generation once
 * most of them outlive a young-generation collection ("pretenuring"). Under
 * load a per-request site can cross that line by chance (requests in flight
 * at a collection), and from then on short-lived objects go to the old space
 * and are reclaimed only by full collections: measured in about one gateway
 * process in five (bench rounds), 40-120 full GCs per 10 s instead of 2 or 3, and
 * 1.5x the CPU per request for the rest of the process's life. While the spec
 * is compiled it pays (a 1,000-operation start is 7 % slower without it), so
 * it is turned off once the gateway serves. Not when the operator's node
 * command line names the flag.
 */
export function servingHeapFlags(): void {
  if (!process.execArgv.some((a) => /allocation[-_]site[-_]pretenuring/.test(a))) setFlagsFromString('--no-allocation-site-pretenuring');
}
