#!/usr/bin/env bash
# Sets up a fresh Debian/Ubuntu machine for the demo and the tests: redis-server (the tests
# start their own on free ports), openssl (TLS test certificates), and the npm dependencies,
# Node 24 among them (the `node` devDependency; npm scripts run on it).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-cli >/dev/null || missing+=(redis-tools)
command -v openssl >/dev/null || missing+=(openssl)
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The Debian package starts a system redis-server on 6379; the tests never use it.

# On a machine whose own Node is older than 24, npm ci warns `EBADENGINE` for prp-promote
# itself (engines: node >=24): npm runs on that Node to install. It is harmless: it installs
# and runs nothing of this package, and every npm script (npm test, npm run demo, ...) runs
# on the Node 24 of the `node` devDependency, as npm puts node_modules/.bin first on their PATH.
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 24 ]; then
  echo "setup: this machine's node is $(node --version); npm ci warns EBADENGINE for prp-promote itself: harmless, npm scripts run on the Node 24 it installs"
fi
npm ci --no-audit --no-fund
echo "setup: node $(npx --no-install node --version), $(redis-server --version | cut -d' ' -f3)"
