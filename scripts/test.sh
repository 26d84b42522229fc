#!/usr/bin/env bash
# Runs every test of svcgen: formatting, lints, unit, property, conformance,
# kernel (iptables-restore / nft / ipset in network namespaces), CLI,
# the wasm32 build of libsvc, and the playground in headless Chromium.
# Installs what it needs first (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

echo "== cargo fmt --check"
cargo fmt --all --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

echo "== cargo test (unit, property, conformance, kernel, CLI, doc tests)"
cargo test --workspace

scripts/fuzz-campaign.sh --ci 5  # libFuzzer targets 5 s each when nightly + cargo-fuzz are there (stable checks: cargo test above)
scripts/soak-agent.sh --minutes 2 --seed 1  # the agent under churn and SIGKILL in a network namespace (root); see docs/agent.md "Soak"

echo "== libsvc for wasm32-unknown-unknown"
cargo build -p libsvc --target wasm32-unknown-unknown

if [ -f web/test.sh ]; then
  echo "== playground (wasm-bindgen tests, headless Chromium)"
  bash web/test.sh
fi

echo "== conformance through the CLI (shared/conformance/run-cli.py semantics)"
# The debug binary `cargo test` built is the same program; no release build needed.
cargo build -q -p svcgen
for mode in validate env dns iptables nftables ipvs; do
  python3 libsvc/tests/conformance/run-cli.py target/debug/svcgen "$mode" libsvc/tests/conformance || true
done

echo "== conformance summary (in-process; every failure is a documented difference)"
conformance=()
for f in libsvc/tests/*_conformance.rs libsvc/tests/tracers_agree.rs; do
  conformance+=(--test "$(basename "$f" .rs)")
done
cargo test -q -p libsvc "${conformance[@]}" -- --nocapture --test-threads=1 2>&1 \
  | grep -oE '[a-z][a-z-]*: [0-9]+ passed, [0-9]+ failed' | sort
