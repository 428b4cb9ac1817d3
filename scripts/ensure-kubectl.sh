#!/usr/bin/env bash
# Make sure `kubectl` is on PATH: the deploy tests (tests/deploy) render the kustomize overlays
# with `kubectl kustomize`, offline. When it is missing, install Debian's kubernetes-client.
set -euo pipefail

if command -v kubectl >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "kubectl is missing and apt-get is not available: install kubectl (>= 1.27) yourself" >&2
    exit 1
fi
SUDO=()
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || { echo "kubectl is missing: run this script as root or install sudo" >&2; exit 1; }
    SUDO=(sudo)
fi
echo "kubectl not found: installing Debian's kubernetes-client" >&2
"${SUDO[@]}" apt-get update
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y kubernetes-client
command -v kubectl >/dev/null 2>&1 || { echo "kubernetes-client installed but kubectl is still not on PATH" >&2; exit 1; }
kubectl version --client >&2
