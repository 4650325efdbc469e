#!/usr/bin/env sh
# npm start: runs dist/ as the image does (the tracing preload, then the entry point); says to build first when
# dist/ is not there, rather than leaving Node's "Cannot find module" to be deciphered.
set -eu
cd "$(dirname "$0")/.."
if [ ! -f dist/main.js ] || [ ! -f dist/tracing/preload.js ]; then
  echo "stopline: dist/ is not built; run: npm run build" >&2
  exit 1
fi
exec node --import ./dist/tracing/preload.js dist/main.js "$@"
