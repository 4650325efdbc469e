#!/usr/bin/env sh
# Compiles src/ to dist/, then copies beside the compiled modules the files under src/ that tsc does not emit (the
# Redis Lua scripts, read at run time next to the store's module).
set -eu
cd "$(dirname "$0")/.."
rm -rf dist
tsc -p tsconfig.build.json
(cd src && find . -type f ! -name '*.ts' -exec sh -c 'mkdir -p "../dist/$(dirname "$1")" && cp "$1" "../dist/$1"' _ {} \;)
chmod +x dist/main.js
