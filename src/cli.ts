#!/usr/bin/env -S NODE_OPTIONS="--max-semi-space-size=8 --max-old-space-size=128 ${NODE_OPTIONS}" node
// First: a start without the gateway's V8 limits replaces itself with one that has them, before anything else runs.
import './runtime/v8-limits.ts';
import { enableCompileCache } from 'node:module';

// Cache compiled bytecode across starts (Node's own on-disk cache; $NODE_COMPILE_CACHE picks the
// place). Everything else is imported after this line, dynamically: static imports are all
// compiled before any module body runs, so the CLI and the serving stack would neither profit from
// the cache nor be spared when v8-limits.ts replaces the process.
enableCompileCache?.();
// A cold `serve` starts its spec-validating worker first, so that thread starts while the CLI loads.
if (process.argv[2] === 'serve') (await import('./config/spec-worker-prestart.ts')).prestartIfCold(process.argv, process.env);
await import('./cli-main.ts');
