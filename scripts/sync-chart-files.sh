#!/usr/bin/env sh
# Copies the single sources of the alert rules and Grafana dashboards into the Helm chart, which can only read files
# inside its own directory:
#   dashboards/alerts.yaml  -> helm/stopline/files/alerts.yaml
#   dashboards/*.json       -> helm/stopline/files/dashboards/*.json  (stale copies are removed)
# test/ship/chart-files.test.ts fails while the copies differ from the sources.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
src="$root/dashboards"
dst="$root/helm/stopline/files"

if [ ! -f "$src/alerts.yaml" ]; then
  echo "sync-chart-files: $src/alerts.yaml is missing" >&2
  exit 1
fi
mkdir -p "$dst/dashboards"
cp "$src/alerts.yaml" "$dst/alerts.yaml"
for f in "$dst"/dashboards/*.json; do
  [ -e "$f" ] || continue
  [ -e "$src/$(basename "$f")" ] || rm -f "$f"
done
for f in "$src"/*.json; do
  [ -e "$f" ] || continue
  cp "$f" "$dst/dashboards/$(basename "$f")"
done
echo "sync-chart-files: helm/stopline/files now matches dashboards/"
