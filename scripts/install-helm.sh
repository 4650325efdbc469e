#!/usr/bin/env sh
# Makes the helm CLI available for the chart tests and prints its path on stdout.
#
# helm is built from source with the Go toolchain (`go install helm.sh/helm/v4/cmd/helm@VERSION`), so only the Go
# module proxy is needed. The binary lands in `go env GOBIN` (or `$(go env GOPATH)/bin`), where it stays between
# runs on the same machine: the script does nothing when the wanted version is already there. The first build
# takes a few minutes (about 3-6 on two cores); later runs return at once.
#
# Environment:
#   HELM          use this helm binary instead (only checked, never built)
#   HELM_VERSION  module version to install (default below)
#   GO            the go command (default: `go` on PATH, else /usr/local/go/bin/go)
set -eu

HELM_VERSION=${HELM_VERSION:-v4.3.2}
HELM_MODULE=helm.sh/helm/v4

if [ -n "${HELM:-}" ]; then
  if [ -x "$HELM" ]; then echo "$HELM"; exit 0; fi
  echo "install-helm: HELM=$HELM is not an executable file" >&2
  exit 1
fi

GO=${GO:-}
if [ -z "$GO" ]; then
  if command -v go >/dev/null 2>&1; then GO=$(command -v go)
  elif [ -x /usr/local/go/bin/go ]; then GO=/usr/local/go/bin/go
  else
    echo "install-helm: no Go toolchain found (set GO=/path/to/go); it is needed to build helm" >&2
    exit 1
  fi
fi

bindir=$("$GO" env GOBIN)
[ -n "$bindir" ] || bindir="$("$GO" env GOPATH)/bin"
helm="$bindir/helm"
stamp="$bindir/.helm-version"

if [ -x "$helm" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$HELM_MODULE@$HELM_VERSION" ]; then
  echo "$helm"
  exit 0
fi

echo "install-helm: building $HELM_MODULE/cmd/helm@$HELM_VERSION with $("$GO" version); the first build takes minutes" >&2
# `go install pkg@version` always runs in module mode and ignores any go.mod around it; clear GOFLAGS so a
# project-wide -mod setting cannot interfere. The version is stamped into the binary the way helm's Makefile does.
GOFLAGS= CGO_ENABLED=0 "$GO" install \
  -ldflags "-s -w -X $HELM_MODULE/internal/version.version=$HELM_VERSION" \
  "$HELM_MODULE/cmd/helm@$HELM_VERSION" >&2
echo "$HELM_MODULE@$HELM_VERSION" > "$stamp"
echo "$helm"
