#!/usr/bin/env bash
# The quota tests run a real redis-server on a unix socket. Install Debian's
# package when it is missing (CI machines start fresh).
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "endpoints-gateway: installing redis-server for the quota tests" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >&2
else
  echo "endpoints-gateway: redis-server is required for the tests; install it (e.g. sudo apt-get install redis-server)" >&2
  exit 1
fi
