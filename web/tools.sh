#!/usr/bin/env bash
# Installs what building the playground needs, only when missing: the
# wasm32 target and wasm-bindgen-cli at the exact version of the
# wasm-bindgen crate in Cargo.lock (the two must match). Sourced by build.sh
# and test.sh.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi

WASM_BINDGEN_VERSION="$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/version = |"/, ""); print; exit }' "$repo/Cargo.lock")"
export WASM_BINDGEN_VERSION
have="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)"
if [ "$have" != "$WASM_BINDGEN_VERSION" ]; then
  echo "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (found: ${have:-none})" >&2
  # --locked first; its lock file may name a crate version the registry no
  # longer serves, then resolve afresh (same wasm-bindgen-cli version).
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --locked \
    || cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi
