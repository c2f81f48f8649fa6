#!/usr/bin/env bash
# Builds the four entry points with ncc, each a bundle of its own with lua/promote.lua
# beside it (src/core/script.ts reads it relative to the bundle; ncc copies it as an asset):
#   src/index.ts  -> OUT/index.js         (action.yml)
#   src/demote.ts -> OUT/demote/index.js  (demote/action.yml)
#   src/status.ts -> OUT/status/index.js  (status/action.yml)
#   src/health.ts -> OUT/health/index.js  (health/action.yml)
# OUT is dist/ unless given (scripts/check-dist.sh builds into a temp dir).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-dist}"

bundle() { # entry outdir
  npx ncc build "$1" -o "$2" --license licenses.txt --target es2024
}
bundle src/index.ts "$out"
bundle src/demote.ts "$out/demote"
bundle src/status.ts "$out/status"
bundle src/health.ts "$out/health"
