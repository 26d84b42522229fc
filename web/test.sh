#!/usr/bin/env bash
# Builds the playground and tests it as CI does:
#   1. web/build.sh (installs the wasm32 target and the pinned wasm-bindgen-cli if missing),
#   2. the pure parts natively (cargo test),
#   3. the wasm API in wasm under node (wasm-bindgen-test-runner),
#   4. the site in Debian's headless Chromium (playwright-core; installs
#      Debian's chromium if missing, never downloads a browser).
# The screenshot lands in web/tests/e2e/artifacts/playground.png.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

web/build.sh

cargo test -p svcgen-web

CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  cargo test --target wasm32-unknown-unknown -p svcgen-web

if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
fi
cd web/tests/e2e
npm ci --no-audit --no-fund
node --test playground.test.mjs
