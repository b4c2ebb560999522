#!/usr/bin/env bash
# `npm test`: everything, in order of cost. The last line printed is the test runner's summary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
npx biome check .
npx tsc -p tsconfig.engine.json
npx tsc -p tsconfig.node.json
npx tsc -p tsconfig.web.json
npx vitest run "$@"
