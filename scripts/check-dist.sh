#!/usr/bin/env bash
# Fails when dist/ is not what the sources build: runs `npm run build` with its output sent
# to a temp dir (ncc takes the last -o) and compares every file both ways (changed, missing,
# extra). dist/ itself is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
npm run --silent build -- -o "$out" >/dev/null

# ncc --license writes licenses.txt once per chunk, the last one winning: a chunk beside
# index.js would leave the main bundle's licenses out. Dynamic imports stay in index.js
# (webpackMode "eager", see src/action/checks.ts).
if compgen -G "$out/*.index.js" >/dev/null; then
  echo "the build split into chunks ($(cd "$out" && echo *.index.js)); licenses.txt would be incomplete" >&2
  exit 1
fi

if ! diff -r --brief dist "$out" >&2; then
  echo "dist/ is not what the sources build: run npm run build and commit dist/" >&2
  exit 1
fi
echo "dist/ is what the sources build"
