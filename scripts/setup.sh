#!/usr/bin/env sh
# What the test suite needs beyond Node: the real components the tests start (redis-server and redis-sentinel,
# prometheus and promtool, nginx, chromium, a Python virtualenv with FastAPI), helm and the chart linters built with
# Go (scripts/install-ship-tools.sh), and a built dist/. Installs only what is missing; Debian
# packages need root (apt-get), as on CI.
set -eu
cd "$(dirname "$0")/.."
missing=""
for pair in redis-server:redis-server redis-sentinel:redis-sentinel redis-cli:redis-tools promtool:prometheus prometheus:prometheus nginx:nginx-light chromium:chromium python3:python3-venv; do
  cmd=${pair%%:*}; pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "stopline: the tests need these Debian packages:$missing (run as root, or: sudo apt-get install$missing)" >&2
    exit 1
  fi
  echo "stopline: installing Debian packages:$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
# python3 may be there without its venv module (Debian splits it out)
if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
fi
# the FastAPI service the end-to-end tests stand stopline beside (a virtualenv from PyPI; fast when present)
sh test/fixtures/fastapi_app/setup.sh
if [ -z "${HELM:-}" ]; then HELM=$(sh scripts/install-helm.sh); export HELM; fi
# the chart and image linters of test/ship/ (kubeconform and its schemas, kustomize, helm-unittest, hadolint), cached
# outside the repository; fast when present
sh scripts/install-ship-tools.sh >/dev/null
sh scripts/build.sh
