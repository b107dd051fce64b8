#!/usr/bin/env bash
# Validates the deployment files without a cluster or a container engine:
# the Kubernetes manifests in deploy/kubernetes against the Kubernetes API
# schemas (kubernetes-validate, strict: unknown fields fail too), and
# compose.yaml against the Compose specification (check-jsonschema).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/tools-venv.sh

"$TOOLS_VENV/bin/kubernetes-validate" --strict deploy/kubernetes/*.yaml
"$TOOLS_VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec compose.yaml
