#!/usr/bin/env bash
# Builds the svcgen playground into web/dist/ (index.html, style.css, the
# JS glue and the wasm): a static site that works offline.
#
#   web/build.sh            then serve web/dist, e.g.
#   python3 -m http.server -d web/dist -b 127.0.0.1 8000   and open http://127.0.0.1:8000/
#
# (Browsers do not run wasm modules from file:// pages, hence a local server.)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
source web/tools.sh

cargo build --target wasm32-unknown-unknown --profile wasm-release -p svcgen-web
wasm="target/wasm32-unknown-unknown/wasm-release/svcgen_web.wasm"

rm -rf web/dist
mkdir -p web/dist
wasm-bindgen --target web --no-typescript --remove-name-section --remove-producers-section --out-dir web/dist "$wasm"
web/wasm-opt.sh web/dist/svcgen_web_bg.wasm
cp web/static/index.html web/static/style.css web/dist/
# What the page's "Documentation" link opens, offline.
cp README.md web/dist/README.txt

# The editor (CodeMirror 6) bundled from npm at build time: nothing is
# fetched when the page runs. npm ci installs the locked versions when missing.
if [ ! -x web/editor/node_modules/.bin/esbuild ]; then
  (cd web/editor && npm ci --no-audit --no-fund)
fi
(cd web/editor && node_modules/.bin/esbuild editor.js --bundle --minify --format=esm \
  --target=es2020 --legal-comments=none --outfile=../dist/editor.js --log-level=warning)

raw=$(stat -c %s web/dist/svcgen_web_bg.wasm)
gz=$(gzip -9 -c web/dist/svcgen_web_bg.wasm | wc -c)
echo "web/dist/svcgen_web_bg.wasm: $raw bytes, $gz bytes gzip -9"
total=$(cat web/dist/svcgen_web_bg.wasm web/dist/svcgen_web.js web/dist/editor.js | gzip -9 | wc -c)
echo "wasm + JS: $total bytes gzip -9 (budget 1 MB)"
if [ "$total" -gt 1048576 ]; then
  echo "wasm + JS is over the 1 MB budget" >&2
  exit 1
fi
echo "built web/dist/; serve it with: python3 -m http.server -d web/dist -b 127.0.0.1 8000"
echo "then open http://127.0.0.1:8000/"
