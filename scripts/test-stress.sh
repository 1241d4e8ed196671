#!/usr/bin/env bash
# Runs the whole test suite (scripts/test-suite.sh, what npm test runs after the
# type check) N times in a row while a CPU hog keeps every core busy, then prints
# how many runs failed and which tests. A test that only passes on an idle
# machine fails here. Usage: scripts/test-stress.sh [N]   (default 5)
# STRESS_RUN_LIMIT (seconds, default 3600) stops a run that hangs.
# The hog is stress-ng (Debian's package, installed when missing and root), else
# one Node busy loop per core. Each run's spec-reporter output is kept in a
# folder named at the end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

runs="${1:-5}"
if ! [[ "$runs" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: scripts/test-stress.sh [N]   (N runs of the suite under full CPU load, default 5)" >&2
  exit 2
fi
cpus="$(nproc)"
run_limit="${STRESS_RUN_LIMIT:-3600}" # seconds one run of the suite may take

bash scripts/ensure-redis.sh
bash scripts/ensure-chromium.sh
if ! command -v stress-ng >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "endpoints-gateway: installing stress-ng for the stress runs" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends stress-ng; } >/dev/null 2>&1 ||
    echo "endpoints-gateway: could not install stress-ng; using Node busy loops" >&2
fi

logs="$(mktemp -d "${TMPDIR:-/tmp}/endpoints-gateway-stress.XXXXXX")"
hog=()
stop_hog() {
  local pid
  # Each hog leads its own process group (setsid): the group goes, stress-ng's workers included.
  for pid in "${hog[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for pid in "${hog[@]}"; do wait "$pid" 2>/dev/null || true; done
  hog=()
}
run=''
stop_run() {
  # Each run leads its own process group (setsid): the runner, its test files and what they started.
  if [ -n "$run" ]; then kill -TERM -- "-$run" 2>/dev/null || true; fi
}
trap 'stop_run; stop_hog' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if command -v stress-ng >/dev/null 2>&1; then
  echo "load: stress-ng --cpu $cpus"
  setsid stress-ng --cpu "$cpus" --quiet >/dev/null 2>&1 &
  hog+=("$!")
else
  echo "load: $cpus Node busy loop(s)"
  for _ in $(seq 1 "$cpus"); do
    setsid bash scripts/node24.sh node -e 'for (;;);' >/dev/null 2>&1 &
    hog+=("$!")
  done
fi

# The spec reporter's closing "failing tests:" section: "test at FILE:LINE:COL", then "✖ NAME (DURATION)".
failing_tests() {
  awk '
    /^✖ failing tests:/ { on = 1; next }
    on && /^test at / { at = substr($0, 9); if ((getline name) > 0) { sub(/^✖ /, "", name); sub(/ \([0-9.]+m?s\)$/, "", name); print at "  " name } }
  ' "$1"
}

failed=0
report=""
for i in $(seq 1 "$runs"); do
  log="$logs/run-$i.log"
  started=$SECONDS
  rc=0
  # A run that hangs counts as failed (exit 124) instead of stalling the rest. In the
  # background, so that Ctrl-C (or a TERM) stops it at once rather than after the run.
  setsid timeout --kill-after=60 "$run_limit" bash scripts/node24.sh bash scripts/test-suite.sh --test-reporter=spec >"$log" 2>&1 &
  run=$!
  wait "$run" || rc=$?
  stop_run # whatever a test left running
  run=''
  took=$((SECONDS - started))
  if [ "$rc" = 0 ]; then
    echo "run $i/$runs: passed ($took s)"
    continue
  fi
  failed=$((failed + 1))
  names="$(failing_tests "$log")"
  [ -n "$names" ] || names="(no failing test named: see $log)"
  [ "$rc" != 124 ] || names="$names"$'\n'"(stopped after $run_limit s: the run hung)"
  echo "run $i/$runs: FAILED (exit $rc, $took s)"
  echo "$names" | sed 's/^/  /'
  report+="run $i:"$'\n'"$(echo "$names" | sed 's/^/  /')"$'\n'
done

echo
echo "runs: $runs, failed: $failed"
if [ "$failed" -gt 0 ]; then
  printf '%s' "$report"
fi
echo "logs: $logs"
[ "$failed" = 0 ]
