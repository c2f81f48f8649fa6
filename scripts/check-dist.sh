#!/usr/bin/env bash
# Fails when dist/ is not what the sources build: runs scripts/build.sh (what `npm run build`
# runs) with its output sent to a temp dir, and compares every file of the four bundles
# (dist/, dist/demote/, dist/status/, dist/health/) both ways (changed, missing, extra). dist/ itself is
# left alone.
set -euo pipefail
cd "$(dirname "$0")/.."

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
bash scripts/build.sh "$out" >/dev/null

# ncc --license writes licenses.txt once per chunk, the last one winning: a chunk beside
# index.js would leave the main bundle's licenses out. Dynamic imports stay in index.js
# (webpackMode "eager", see src/action/checks.ts).
for bundle in "$out" "$out/demote" "$out/status" "$out/health"; do
  if [ ! -s "$bundle/index.js" ] || [ ! -s "$bundle/promote.lua" ]; then
    echo "the build left out ${bundle#"$out"}/index.js or its promote.lua" >&2
    exit 1
  fi
  if compgen -G "$bundle/*.index.js" >/dev/null; then
    echo "the build split into chunks ($(cd "$bundle" && echo *.index.js)); licenses.txt would be incomplete" >&2
    exit 1
  fi
done

if ! diff -r --brief dist "$out" >&2; then
  echo "dist/ is not what the sources build: run npm run build and commit dist/" >&2
  exit 1
fi
echo "dist/ is what the sources build"
