#!/usr/bin/env bash
# Validates the deployment files without a cluster or a container engine:
# the Kubernetes manifests in deploy/kubernetes against the Kubernetes API
# schemas (kubernetes-validate, strict: unknown fields fail too), each
# role's worst-case memory against its limit (scripts/deploy-memory.py),
# and compose.yaml and deploy/compose/cluster.yaml against the Compose
# specification (check-jsonschema).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/tools-venv.sh

"$TOOLS_VENV/bin/kubernetes-validate" --strict deploy/kubernetes/*.yaml
"$TOOLS_VENV/bin/python3" scripts/deploy-memory.py
# The check itself must catch the pod sizing it exists for: a gateway with
# thread counts of 0 (one per core) and no CPU limit.
unsized=$(mktemp -d)
cp deploy/kubernetes/*.yaml "$unsized/"
"$TOOLS_VENV/bin/python3" - "$unsized/gateway.yaml" <<'PY'
import sys, yaml
path = sys.argv[1]
documents = list(yaml.safe_load_all(open(path)))
container = documents[0]["spec"]["template"]["spec"]["containers"][0]
container.pop("env", None)
container["resources"]["limits"].pop("cpu", None)
yaml.safe_dump_all(documents, open(path, "w"))
PY
if "$TOOLS_VENV/bin/python3" scripts/deploy-memory.py "$unsized" >/dev/null 2>&1; then
  echo "deploy-memory.py passed a gateway sized by the node's cores" >&2
  rm -rf "$unsized"
  exit 1
fi
rm -rf "$unsized"
"$TOOLS_VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec compose.yaml deploy/compose/cluster.yaml
