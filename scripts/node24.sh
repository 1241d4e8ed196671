#!/usr/bin/env bash
# Runs a command with Node >= 22 first on PATH. The Google client libraries
# need it; when the machine's Node is older, Node 24 (the current LTS) is
# installed from the npm registry into .tools/, the way any user could.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [ "$major" -lt 22 ]; then
  if [ ! -x "$root/.tools/node_modules/.bin/node" ]; then
    echo "endpoints-gateway: the scripts run on Node 24 (this machine has Node $major); installing it into .tools/, once" >&2
    npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$root/.tools" node@24 >&2
  fi
  export PATH="$root/.tools/node_modules/.bin:$PATH"
fi
exec "$@"
