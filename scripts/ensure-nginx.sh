#!/usr/bin/env bash
# The benchmark's nginx case runs Debian's nginx as a plain child process. Install the package when it
# is missing (CI machines start fresh); print the binary's path on stdout, or exit 1 when there is none.
set -euo pipefail
find_nginx() { command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; }; }
if bin="$(find_nginx)"; then echo "$bin"; exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "endpoints-gateway: installing nginx for the benchmark's nginx case" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends nginx >&2 || true
  if bin="$(find_nginx)"; then echo "$bin"; exit 0; fi
fi
echo "endpoints-gateway: nginx is not installed and could not be installed (e.g. sudo apt-get install nginx)" >&2
exit 1
