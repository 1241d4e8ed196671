#!/usr/bin/env bash
# npm run bench: the side-by-side run (bench/run.ts: baselines, the gateway and its variants, start
# times, memory), then the cases that need a setup of their own, each comparing within its own run:
# --workers 2 against 1 with a quota check (bench/workers.ts), tracing off / 0.1 % / 100 %
# (bench/tracing.ts), compression off / on for a 10 KB JSON body (bench/compression.ts).
# `npm run bench -- --smoke` (CI) runs bench/run.ts's short version only. Other arguments go to bench/run.ts.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
node bench/run.ts "$@"
for a in "$@"; do [ "$a" = "--smoke" ] && exit 0; done
node bench/workers.ts
node bench/tracing.ts
node bench/compression.ts
