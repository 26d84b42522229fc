#!/usr/bin/env bash
# Validates what `svcgen get … -o json` prints against the Kubernetes 1.37
# OpenAPI schemas, with PyPI's kubernetes-validate (--strict: no unknown
# fields). Inputs: the examples and the cluster dump under libsvc/tests/data/real.
# Skips (exit 0, with a note) when kubernetes-validate is not installed;
# scripts/install-deps.sh installs it.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v kubernetes-validate >/dev/null 2>&1; then
  echo "check-schemas: kubernetes-validate not installed; skipped (pip install kubernetes-validate)" >&2
  exit 0
fi
version=1.37.0
svcgen=${SVCGEN:-target/debug/svcgen}
[ -x "$svcgen" ] || cargo build -q -p svcgen
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

n=0
for input in examples/ libsvc/tests/data/real/; do
  for res in svc endpoints endpointslices pods; do
    "$svcgen" get "$res" -A -f "$input" -o json 2>/dev/null >"$out/list.json"
    "$svcgen" get "$res" -A -f "$input" -o yaml 2>/dev/null >"$out/list.yaml"
    # The YAML must read back (YAML 1.1, as go-yaml reads it) as the JSON
    # does: every string that looks like a number, a boolean or a time is
    # quoted. kubernetes-validate checks one object per document: split the List.
    python3 - "$out/list.json" "$out/list.yaml" "$out" "$res" "$n" <<'PY'
import json, sys, yaml
path, ypath, out, res, n = sys.argv[1:6]
data = json.load(open(path))
if yaml.safe_load(open(ypath)) != data:
    sys.exit(f"check-schemas: {res}: -o yaml does not read back as -o json")
for i, item in enumerate(data["items"]):
    with open(f"{out}/{n}-{res}-{i}.json", "w") as f:
        json.dump(item, f)
PY
    n=$((n + 1))
  done
done
files=("$out"/*-*.json)
echo "check-schemas: ${#files[@]} objects, Kubernetes $version schemas"
kubernetes-validate --strict --quiet -k "$version" "${files[@]}"
# The agent's DaemonSets (ServiceAccount, RBAC, DaemonSet) as they are.
echo "check-schemas: examples/agent/*.yaml, Kubernetes $version schemas"
kubernetes-validate --strict --quiet -k "$version" examples/agent/*.yaml
