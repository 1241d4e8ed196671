#!/usr/bin/env bash
# Every test file with Node's runner: what npm test runs after the type check
# (scripts/test.sh), and what scripts/test-stress.sh runs again and again.
# Arguments go to node --test (reporters, say); without any, the spec reporter on stdout.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Tests must never reach Google: anything not pointed at an emulator sees no metadata server.
export METADATA_SERVER_DETECTION="${METADATA_SERVER_DETECTION:-none}"
export GOOGLE_CLOUD_PROJECT="${GOOGLE_CLOUD_PROJECT:-endpoints-gateway-test}"
if [ $# -eq 0 ]; then set -- --test-reporter=spec; fi
# --test-force-exit: a test file whose tests are done exits, even if a failed
# before() left a server or child open; otherwise the whole run would hang on it.
exec node --test --test-concurrency=2 --test-timeout=120000 --test-force-exit "$@" "test/**/*.test.ts"
