#!/usr/bin/env bash
# A bounded libFuzzer campaign over every cargo-fuzz target of fuzz/.
#
#   scripts/fuzz-campaign.sh [--ci] SECONDS_PER_TARGET [TARGET...]
#
# Needs a nightly toolchain (`cargo +nightly`); installs cargo-fuzz from
# crates.io when it is missing. Each target starts from its seeds in the
# repository (fuzz/seeds/<target>/, read only) and a working corpus
# (fuzz/corpus/<target>/, not committed) that grows across campaigns.
# Prints, per target: executions, exec/s, coverage (libFuzzer's `cov`
# edges and `ft` features), corpus size, and the verdict. A crash leaves
# its input in fuzz/artifacts/<target>/ and makes the script exit 1 after
# every target ran; turn it into a regression test in
# libsvc/tests/robustness.rs.
set -uo pipefail
cd "$(dirname "$0")/.."

# --ci: for scripts/test.sh: skip (with a message) rather than install
# cargo-fuzz when it is missing, and run each target the same way every
# time (-seed=1, at most 300 inputs, from the repository's seeds only).
ci=
if [ "${1:-}" = --ci ]; then ci=1; shift; fi
secs=${1:?usage: scripts/fuzz-campaign.sh [--ci] SECONDS_PER_TARGET [TARGET...]}
shift
case "$secs" in '' | *[!0-9]*) echo "SECONDS_PER_TARGET must be a number" >&2; exit 2 ;; esac

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz-campaign: no nightly toolchain (rustup toolchain install nightly); skipped"
  exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  if [ -n "$ci" ]; then
    echo "fuzz-campaign: cargo-fuzz is not installed (cargo install cargo-fuzz); libFuzzer targets skipped (their checks ran on stable: fuzz/core/tests/shared_checks.rs)"
    exit 0
  fi
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked || { echo "fuzz-campaign: cargo-fuzz did not install" >&2; exit 1; }
fi

cd fuzz
if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

echo "== building ${#targets[@]} target(s) (release, ASan, coverage)"
cargo +nightly fuzz build -O >/dev/null || { echo "fuzz-campaign: build failed" >&2; exit 1; }

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
failed=0
rows=()
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "seeds/$t"
  echo "== $t: ${secs}s"
  start=$(date +%s)
  corpus="corpus/$t"
  fixed=()
  if [ -n "$ci" ]; then
    # CI: the same run every time (a fixed seed, a fixed number of inputs,
    # from the repository's seeds only), so a red CI is a finding, not luck.
    corpus="$logs/corpus-$t"
    mkdir -p "$corpus"
    fixed=(-seed=1 -runs=300)
  fi
  cargo +nightly fuzz run -O "$t" "$corpus" "seeds/$t" -- \
    -max_total_time="$secs" "${fixed[@]}" -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$logs/$t.log" 2>&1
  rc=$?
  took=$(( $(date +%s) - start ))
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$logs/$t.log" | grep -oE '[0-9]+$' | tail -1)
  rate=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$logs/$t.log" | grep -oE '[0-9]+$' | tail -1)
  last=$(grep -E '^#[0-9]+' "$logs/$t.log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' <<<"$last" | grep -oE '[0-9]+')
  ft=$(grep -oE 'ft: [0-9]+' <<<"$last" | grep -oE '[0-9]+')
  corp=$(find "$corpus" -type f | wc -l)
  if [ $rc -eq 0 ]; then
    verdict=ok
  else
    verdict="CRASH (rc $rc; see fuzz/artifacts/$t/)"
    failed=1
    grep -E 'panicked|ERROR: AddressSanitizer|ERROR: libFuzzer|SUMMARY' "$logs/$t.log" | head -5
    cp "$logs/$t.log" "artifacts/$t.log" 2>/dev/null || true
  fi
  rows+=("$(printf '%-16s %10s %8s %8s %8s %8s %6ss  %s' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$corp" "$took" "$verdict")")
done

echo
printf '%-16s %10s %8s %8s %8s %8s %7s  %s\n' target execs exec/s cov ft corpus time verdict
printf '%s\n' "${rows[@]}"
exit $failed
