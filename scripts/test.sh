#!/usr/bin/env bash
# The test command (npm test): type-check, then every test file with Node's runner.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/ensure-redis.sh
bash scripts/ensure-chromium.sh
npx tsc -p tsconfig.json --noEmit
bash scripts/test-suite.sh
