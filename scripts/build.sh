#!/usr/bin/env sh
# Compiles src/ to dist/ and copies the Lua scripts the Redis store loads beside its compiled module.
set -eu
cd "$(dirname "$0")/.."
rm -rf dist
tsc -p tsconfig.build.json
mkdir -p dist/cancel/lua
cp src/cancel/lua/*.lua dist/cancel/lua/
chmod +x dist/main.js
