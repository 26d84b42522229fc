#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine (CI runs as root).
# Idempotent: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for pkg in iptables nftables ipset iproute2 nfacct python3-yaml; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ -x web/test.sh ] || [ -f web/test.sh ]; then
  for pkg in chromium; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
  done
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "== apt-get install ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "warning: not root; cannot install ${need_apt[*]} (kernel and browser tests will skip)" >&2
  fi
fi

rustup component add rustfmt clippy >/dev/null 2>&1 || true
rustup target list --installed | grep -q '^wasm32-unknown-unknown$' || rustup target add wasm32-unknown-unknown

# The Kubernetes OpenAPI schemas per release, for `get -o json|yaml`
# (scripts/check-schemas.sh, cli/tests/output.rs).
if ! command -v kubernetes-validate >/dev/null 2>&1; then
  echo "== pip install kubernetes-validate"
  python3 -m pip install -q kubernetes-validate || echo "warning: cannot install kubernetes-validate (schema test will skip)" >&2
fi
