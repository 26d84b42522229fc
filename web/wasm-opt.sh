#!/usr/bin/env bash
# Shrinks the playground's wasm in place with binaryen's wasm-opt, the npm
# build (binaryen itself compiled to wasm, run by node) pinned in
# web/wasm-opt/package-lock.json: Debian's binaryen is too old to read this
# module. Used by web/build.sh; build time only.
#
#   web/wasm-opt.sh FILE.wasm
#
# Without wasm-opt (npm ci failed, e.g. offline) the wasm stays as
# wasm-bindgen wrote it, with a message: the site works, only larger.
# What counts is the size sent over the network, so the result is kept
# only when it is smaller after gzip -9.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
wasm="$1"
tool="$repo/web/wasm-opt/node_modules/.bin/wasm-opt"

if [ ! -x "$tool" ]; then
  (cd "$repo/web/wasm-opt" && npm ci --no-audit --no-fund) || true
fi
if [ ! -x "$tool" ] || ! "$tool" --version >/dev/null 2>&1; then
  echo "wasm-opt not available (npm ci in web/wasm-opt failed): the wasm is not optimised further" >&2
  exit 0
fi

# The features are those rustc's wasm32-unknown-unknown target emits (and
# every current browser runs); wasm-opt must neither refuse them nor add others.
features=(--enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int
  --enable-bulk-memory --enable-reference-types --enable-multivalue)
# -O1, not -Os/-Oz: measured on this module (docs/playground.md), -Oz
# makes it 10% smaller raw but 12% larger after gzip (inlining and code
# motion hurt compression, binaryen issue #4322); -O1 shrinks both.
out="$wasm.opt"
if ! "$tool" "${features[@]}" -O1 "$wasm" -o "$out"; then
  rm -f "$out"
  echo "wasm-opt failed: the wasm is not optimised further" >&2
  exit 0
fi
gz() { gzip -9 -c <"$1" | wc -c; }
before=$(gz "$wasm")
after=$(gz "$out")
if [ "$after" -lt "$before" ]; then
  mv "$out" "$wasm"
  echo "wasm-opt: $before -> $after bytes gzip -9"
else
  rm -f "$out"
  echo "wasm-opt: no smaller after gzip -9 ($before -> $after bytes): kept as wasm-bindgen wrote it"
fi
