#!/usr/bin/env bash
# Builds the pinned helm v3 from source into .cache/bin through the Go module proxy (no binary
# downloads are possible on the build machines). The chart tests call .cache/bin/helm.
# Skips the build when .cache/bin/helm already reports the pinned version.
set -euo pipefail

HELM_VERSION=v3.22.0

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="$repo/.cache/bin"
helm="$bin_dir/helm"

if [[ -x "$helm" ]] && [[ "$("$helm" version --template '{{.Version}}' 2>/dev/null || true)" == "$HELM_VERSION" ]]; then
  echo "setup-helm: helm $HELM_VERSION already at .cache/bin/helm"
  exit 0
fi

go_bin="$(command -v go || true)"
if [[ -z "$go_bin" && -x /usr/local/go/bin/go ]]; then
  go_bin=/usr/local/go/bin/go
fi
if [[ -z "$go_bin" ]]; then
  echo "setup-helm: a Go toolchain is needed to build helm $HELM_VERSION (go not found on PATH or in /usr/local/go/bin)" >&2
  exit 1
fi

echo "setup-helm: building helm $HELM_VERSION with $("$go_bin" version) (takes a few minutes the first time)"
mkdir -p "$bin_dir"
start=$SECONDS
# GOTOOLCHAIN=local: build with the installed Go rather than fetching another toolchain.
# -trimpath and the version ldflag make `helm version` report the pinned tag, as a release build does.
GOBIN="$bin_dir" GOTOOLCHAIN=local CGO_ENABLED=0 "$go_bin" install -trimpath \
  -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
  "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"

got="$("$helm" version --template '{{.Version}}')"
if [[ "$got" != "$HELM_VERSION" ]]; then
  echo "setup-helm: built helm reports version '$got', expected $HELM_VERSION" >&2
  exit 1
fi
echo "setup-helm: helm $HELM_VERSION built in $((SECONDS - start))s at .cache/bin/helm"
