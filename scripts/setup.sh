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

npm ci --no-audit --no-fund
echo "setup: node $(npx --no-install node --version), $(redis-server --version | cut -d' ' -f3)"
