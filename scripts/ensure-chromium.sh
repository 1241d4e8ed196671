#!/usr/bin/env bash
# The browser tests drive Debian's Chromium through playwright-core (nothing is
# downloaded at run time). Install the package when it is missing.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "endpoints-gateway: installing Debian's chromium for the browser tests" >&2
  log="$(mktemp)"
  # Recommends would pull in printing, Samba and Perl: minutes of CI for nothing a headless test uses.
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-liberation; } >"$log" 2>&1; then
    cat "$log" >&2
    exit 1
  fi
  rm -f "$log"
else
  echo "endpoints-gateway: /usr/bin/chromium is required for the browser tests; install it (e.g. sudo apt-get install chromium)" >&2
  exit 1
fi
