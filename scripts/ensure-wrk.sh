#!/usr/bin/env bash
# The benchmark drives its load with wrk. Install Debian's package when it is missing (CI machines
# start fresh); print the binary's path on stdout, or exit 1 when there is none.
set -euo pipefail
find_wrk() { command -v wrk 2>/dev/null || { [ -x /usr/bin/wrk ] && echo /usr/bin/wrk; }; }
if bin="$(find_wrk)"; then echo "$bin"; exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "endpoints-gateway: installing wrk for the benchmark" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends wrk >&2 || true
  if bin="$(find_wrk)"; then echo "$bin"; exit 0; fi
fi
echo "endpoints-gateway: wrk is not installed and could not be installed (e.g. sudo apt-get install wrk)" >&2
exit 1
