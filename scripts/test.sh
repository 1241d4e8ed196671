#!/usr/bin/env bash
# The test command (npm test): type-check, then every test file with Node's runner.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/ensure-redis.sh
bash scripts/ensure-chromium.sh
npx tsc -p tsconfig.json --noEmit
# Tests must never reach Google: anything not pointed at an emulator sees no metadata server.
export METADATA_SERVER_DETECTION="${METADATA_SERVER_DETECTION:-none}"
export GOOGLE_CLOUD_PROJECT="${GOOGLE_CLOUD_PROJECT:-endpoints-gateway-test}"
node --test --test-concurrency=2 --test-timeout=120000 --test-reporter=spec "test/**/*.test.ts"
