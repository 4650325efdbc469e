#!/usr/bin/env sh
# The whole test suite: sets up what it needs (scripts/setup.sh), then runs every test/**/*.test.ts file with
# Node's own test runner, on the TypeScript sources. STOPLINE_TEST_FILES narrows it to some files.
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh
if [ -z "${HELM:-}" ]; then HELM=$(sh scripts/install-helm.sh); export HELM; fi
exec node --test --test-concurrency=2 --test-timeout=180000 ${STOPLINE_TEST_FILES:-'test/**/*.test.ts'}
