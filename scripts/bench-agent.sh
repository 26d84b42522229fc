#!/usr/bin/env bash
# Measures `svcgen agent` on generated clusters, each in a network namespace
# this script creates and removes: start-up, one changed file -> kernel
# programmed, bytes sent for the change, RSS and idle CPU, and the kernel
# tool's own time on the same full payload (`nft -f`, `iptables-restore`).
#
#   sudo scripts/bench-agent.sh                 # 1k and 10k, nftables and iptables
#   sudo SIZES="1000" MODES="nftables" scripts/bench-agent.sh
#   BIN=path/to/svcgen (default: target/release/svcgen; build it first with
#   `cargo build --release -p svcgen`)
#
# "change -> kernel" is from just before the file is written to the moment
# the agent logs `msg=synced` for it, which it does after the kernel tool
# has returned (the kernel holds the change); the script then checks the
# kernel for the new endpoint. Each cluster has one file per Service, each
# Service 10 endpoints. Needs root, iproute2, nft, iptables, python3.
set -euo pipefail

cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/svcgen}
SIZES=${SIZES:-"1000 10000"}
MODES=${MODES:-"nftables iptables"}
RUNS=${RUNS:-3}
[ -x "$BIN" ] || { echo "no $BIN: cargo build --release -p svcgen" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)" >&2; exit 2; }

WORK=$(mktemp -d /tmp/svcgen-bench.XXXXXX)
NS=svcgen-bench-$$
AGENT=
cleanup() {
  [ -n "$AGENT" ] && kill "$AGENT" 2>/dev/null && wait "$AGENT" 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  ip netns del "$NS-ref" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

now_ms() { date +%s%3N; }

# gen DIR N: N Services in DIR, one file each, 10 endpoints each.
gen() {
  python3 - "$1" "$2" <<'EOF'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
os.makedirs(d, exist_ok=True)
for i in range(n):
    a, b = i // 250, i % 250 + 1
    eps = ", ".join(f"{{addresses: [10.{100 + e}.{a}.{b}]}}" for e in range(10))
    with open(f"{d}/s{i:05}.yaml", "w") as f:
        f.write(f"""apiVersion: v1
kind: Service
metadata: {{name: s{i}, namespace: default}}
spec:
  clusterIP: 10.96.{a}.{b}
  ports: [{{name: http, port: 80, targetPort: 8080}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: s{i}-1, namespace: default, labels: {{kubernetes.io/service-name: s{i}}}}}
addressType: IPv4
ports: [{{name: http, port: 8080}}]
endpoints: [{eps}]
""")
EOF
}

FLAGS=(--service-cidr 10.96.0.0/16 --node-ip 192.168.50.1 --node-name node-1)

# synced LOG: how many `msg=synced` lines.
synced() { local c; c=$(grep -c 'msg=synced' "$1" 2>/dev/null) || true; echo "${c:-0}"; }

# wait_synced LOG K TIMEOUT_S: until LOG has more than K synced lines.
wait_synced() {
  local deadline=$(( $(now_ms) + $3 * 1000 ))
  while [ "$(synced "$1")" -le "$2" ]; do
    [ "$(now_ms)" -lt "$deadline" ] || { echo "timed out; log:" >&2; tail -5 "$1" >&2; return 1; }
    sleep 0.002
  done
}

field() { sed -n "s/.* $2=\\([^ ]*\\).*/\\1/p" <<<"$1"; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

printf '| mode, scale | start-up (min / median) | change -> kernel (min / median) | bytes for the change | kernel tool on the full payload | RSS | idle CPU |\n'
printf '|---|---|---|---|---|---|---|\n'
for n in $SIZES; do
  dir=$WORK/c$n
  gen "$dir" "$n"
  for mode in $MODES; do
    starts=(); changes=(); bytes=; rss=; idle=
    for run in $(seq "$RUNS"); do
      ip netns add "$NS"
      ip netns exec "$NS" ip link set lo up
      log=$WORK/agent-$mode-$n-$run.log
      t0=$(now_ms)
      ip netns exec "$NS" "$BIN" agent --mode "$mode" --watch "$dir" "${FLAGS[@]}" 2>"$log" &
      AGENT=$!
      wait_synced "$log" 0 900
      starts+=($(( $(now_ms) - t0 )))
      sleep 1.2  # past minSyncPeriod: the change comes after a quiet spell
      # One Service's first endpoint moves.
      f=$dir/s$(printf %05d $(( n / 2 ))).yaml
      cp "$f" "$WORK/orig.yaml"
      new=10.250.$run.$(( RANDOM % 250 + 1 ))
      k=$(synced "$log")
      t1=$(now_ms)
      sed -i "s/addresses: \[10\.100\.[0-9]*\.[0-9]*\]/addresses: [$new]/" "$f"
      wait_synced "$log" "$k" 60
      changes+=($(( $(now_ms) - t1 )))
      line=$(grep 'msg=synced' "$log" | tail -1)
      bytes=$(field "$line" bytes)
      case $mode in
        nftables) ip netns exec "$NS" nft list ruleset >"$WORK/dump" ;;
        iptables) ip netns exec "$NS" iptables-save -t nat >"$WORK/dump" ;;
      esac
      grep -q "$new" "$WORK/dump" || { echo "change not in the kernel" >&2; exit 1; }
      if [ "$run" = 1 ]; then
        sleep 2
        rss=$(awk '/VmRSS/ {printf "%d MB", $2/1024}' "/proc/$AGENT/status")
        c0=$(cpu_ticks "$AGENT"); sleep 10; c1=$(cpu_ticks "$AGENT")
        idle=$(awk -v d=$(( c1 - c0 )) -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.1f %%", d / hz / 10 * 100}')
      fi
      kill "$AGENT"; wait "$AGENT" 2>/dev/null || true; AGENT=
      cp "$WORK/orig.yaml" "$f"
      ip netns del "$NS"
    done
    # The kernel tool alone on the same full payload, in a fresh namespace.
    payload=$WORK/payload-$mode-$n
    "$BIN" render --mode "$mode" --with-jumps -f "$dir" "${FLAGS[@]}" --ip-family IPv4 >"$payload" 2>/dev/null
    ip netns add "$NS-ref"
    t=$(now_ms)
    case $mode in
      nftables) ip netns exec "$NS-ref" nft -f "$payload" ;;
      iptables) ip netns exec "$NS-ref" iptables-restore --noflush <"$payload" ;;
    esac
    tool=$(( $(now_ms) - t ))
    ip netns del "$NS-ref"
    mm() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {printf "%d / %d ms", a[1], a[int((NR+1)/2)]}'; }
    printf '| %s %s | %s | %s | %s B | %d ms | %s | %s |\n' \
      "$mode" "$n" "$(mm "${starts[@]}")" "$(mm "${changes[@]}")" "$bytes" "$tool" "$rss" "$idle"
  done
  rm -rf "$dir"
done
