#!/usr/bin/env bash
# Agent soak: `svcgen agent` on a manifests directory under random churn and
# random SIGKILLs, in a network namespace this script creates and removes.
#
#   scripts/soak-agent.sh [--minutes N] [--mode nftables|iptables] [--seed S]
#
# Default: 2 minutes, nftables, a seed from the clock (printed; pass it back
# to replay the same changes). Needs root, iproute2, nftables, iptables,
# util-linux (unshare) and python3. SVCGEN=path/to/svcgen uses that binary
# (default: target/debug/svcgen, built when missing).
#
# While a driver applies a random change every 50–500 ms (Services with
# their EndpointSlices, Deployments; valid and invalid files; renames;
# deletes; new files written in two steps) and kills the agent with SIGKILL
# at random moments (restarting it), a checker lists the kernel's ruleset
# every 200 ms and requires:
#   - it is exactly what one of the recent snapshots of the directory
#     renders (`svcgen render` of the files the agent holds good, applied in
#     a scratch namespace and listed the same way, canonical form): never a
#     mix of two. Judged after the run against the references of the 30 s
#     before and 5 s after each listing; listings that match none are
#     counted and tolerated only in stretches under 3 s (a directory read
#     that straddled a rename, which the next poll repairs);
#     SOAK_SELFTEST=1 checks that the checker catches a chain added behind
#     the agent's back;
#   - the foreign rules added at the start are byte for byte untouched;
#   - after the churn stops, it converges to the render of the final files
#     within one sync (poll interval + sync);
#   - the agent's RSS and open fds do not grow over a process's life;
#   - the last agent's metrics agree: successful syncs, no failed apply,
#     healthz 200.
# Prints: changes applied, kills survived, convergence time, RSS over time.
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=2
mode=nftables
seed=$(date +%s)
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes=$2; shift 2 ;;
    --mode) mode=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    *) echo "usage: scripts/soak-agent.sh [--minutes N] [--mode nftables|iptables] [--seed S]" >&2; exit 2 ;;
  esac
done
case "$mode" in nftables | iptables) ;; *) echo "soak: --mode nftables or iptables" >&2; exit 2 ;; esac

if [ "$(id -u)" != 0 ]; then
  echo "soak: needs root (network namespaces); skipped"
  exit 0
fi
for tool in ip nft iptables-save iptables-restore unshare python3; do
  command -v "$tool" >/dev/null || { echo "soak: $tool missing; skipped"; exit 0; }
done

svcgen=${SVCGEN:-target/debug/svcgen}
if [ ! -x "$svcgen" ]; then
  cargo build -q -p svcgen
fi
svcgen=$(realpath "$svcgen")

ns="svcgen-soak-$$"
work=$(mktemp -d /tmp/svcgen-soak.XXXXXX)
cleanup() {
  # The driver kills its agent on exit; this catches a driver killed hard.
  if [ -f "$work/agent.pid" ]; then kill -9 "$(cat "$work/agent.pid")" 2>/dev/null || true; fi
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

ip netns add "$ns"
ip -n "$ns" link set lo up
# The node's address, on a dummy-free veth-less namespace: a local route is enough.
ip -n "$ns" addr add 192.168.0.2/24 dev lo

echo "soak: mode=$mode minutes=$minutes seed=$seed ns=$ns svcgen=$svcgen"
ip netns exec "$ns" python3 - "$svcgen" "$mode" "$minutes" "$seed" "$work" <<'PY'
import hashlib, json, os, random, re, shutil, signal, subprocess, sys, tempfile, time, threading, urllib.request

svcgen, mode, minutes, seed, work = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
rng = random.Random(seed)
watch = os.path.join(work, "manifests")
os.makedirs(watch)
NODE_IP = "192.168.0.2"
METRICS = "127.0.0.1:19249"
POLL, SYNC = 0.2, 10.0
common = ["--node-ip", NODE_IP, "--service-cidr", "10.96.0.0/16", "--cluster-cidr", "10.244.0.0/16"]

def run(args, stdin=None, check=True):
    p = subprocess.run(args, input=stdin, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise RuntimeError(f"{args[0]} failed: {p.stderr[:500]}")
    return p

# ---- foreign rules, which must stay untouched
run(["nft", "-f", "-"], "add table inet foreign\nadd chain inet foreign input { type filter hook input priority 10 ; }\nadd rule inet foreign input ip saddr 203.0.113.7 counter drop\n")
run(["iptables-restore", "--noflush"], "*filter\n:FOREIGN - [0:0]\n-A FOREIGN -s 203.0.113.8/32 -j DROP\n-A INPUT -j FOREIGN\nCOMMIT\n*nat\n-A PREROUTING -s 203.0.113.9/32 -j RETURN\nCOMMIT\n")

def foreign():
    nft = run(["nft", "list", "table", "inet", "foreign"]).stdout
    ipt = [l for l in run(["iptables-save"]).stdout.splitlines()
           if not l.startswith("#") and ("FOREIGN" in l or "203.0.113.9" in l)]
    return nft + "\n".join(ipt)

FOREIGN0 = foreign()

# ---- canonical listings
def canon_nft(listing_json):
    """nft -j list table ip kube-proxy → a canonical text: objects sorted,
    set elements sorted, rules in chain order, handles and counters out."""
    try:
        objs = json.loads(listing_json)["nftables"]
    except Exception:
        return "(no table)"
    out, rules = [], {}
    def scrub(x):
        if isinstance(x, dict):
            return {k: scrub(v) for k, v in x.items() if k not in ("handle", "packets", "bytes")}
        if isinstance(x, list):
            return [scrub(v) for v in x]
        return x
    for o in objs:
        (kind, body), = o.items()
        if kind == "metainfo":
            continue
        body = scrub(body)
        if kind == "rule":
            rules.setdefault(body.get("chain"), []).append(json.dumps(body, sort_keys=True))
            continue
        if kind in ("set", "map") and "elem" in body:
            body["elem"] = sorted(json.dumps(e, sort_keys=True) for e in body["elem"])
        out.append(kind + " " + json.dumps(body, sort_keys=True))
    out.sort()
    for chain in sorted(rules, key=str):
        out.append(f"rules {chain}:\n  " + "\n  ".join(rules[chain]))
    return "\n".join(out)

BUILTIN = {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"}
def canon_ipt(save):
    """iptables-save → kube-proxy's part: KUBE-* chains and their rules, and
    rules of built-in chains that jump to KUBE-*; sorted chain declarations,
    rules in chain order, counters out."""
    out, table = [], None
    for l in save.splitlines():
        if l.startswith("*"):
            table = l[1:]
        elif l.startswith(":KUBE-"):
            out.append(f"{table} chain {l.split()[0][1:]}")
        elif l.startswith("-A "):
            chain = l.split()[1]
            if chain.startswith("KUBE-") or (chain in BUILTIN and re.search(r"-j KUBE-", l)):
                out.append(f"{table} rule {l}")
    decls = sorted(x for x in out if " chain " in x)
    rules = [x for x in out if " rule " in x]
    return "\n".join(decls + rules)

def kernel():
    if mode == "nftables":
        p = run(["nft", "-j", "list", "table", "ip", "kube-proxy"], check=False)
        return canon_nft(p.stdout) if p.returncode == 0 else "(no table)"
    return canon_ipt(run(["iptables-save"]).stdout)

def reference(files):
    """What the agent should program for these files: svcgen render, applied
    in a scratch namespace, listed and made canonical like the kernel."""
    if not files:
        return None
    args = [svcgen, "render", "--mode", mode] + common
    if mode == "iptables":
        args.append("--with-jumps")
    for f in files:
        args += ["-f", f]
    p = run(args, check=False)
    if p.returncode != 0:
        return None
    rules = os.path.join(work, "ref.rules")
    with open(rules, "w") as fh:
        fh.write(p.stdout)
    if mode == "nftables":
        script = f"nft -f {rules} && nft -j list table ip kube-proxy"
        q = run(["unshare", "--net", "sh", "-c", script], check=False)
        return canon_nft(q.stdout) if q.returncode == 0 else None
    script = f"iptables-restore < {rules} && iptables-save"
    q = run(["unshare", "--net", "sh", "-c", script], check=False)
    return canon_ipt(q.stdout) if q.returncode == 0 else None

# ---- manifests
BASE = os.path.join(watch, "00-base.yaml")
with open(BASE, "w") as fh:
    fh.write("apiVersion: v1\nkind: Node\nmetadata:\n  name: node-a\n  labels: {kubernetes.io/hostname: node-a}\nspec:\n  podCIDR: 10.244.0.0/24\nstatus:\n  addresses: [{type: InternalIP, address: 192.168.0.2}]\n---\n"
             "apiVersion: v1\nkind: Service\nmetadata: {name: base, namespace: default}\nspec:\n  clusterIP: 10.96.0.10\n  ports: [{name: http, port: 80, targetPort: 8080}]\n")

def service(k):
    kind = rng.choice(["ClusterIP", "NodePort", "LoadBalancer"])
    proto = rng.choice(["TCP", "UDP"])
    port = rng.choice([80, 443, 53, 8080])
    np = f", nodePort: {30000 + k}" if kind != "ClusterIP" else ""
    spec = f"  type: {kind}\n  clusterIP: 10.96.1.{k}\n  ports: [{{name: p, port: {port}, protocol: {proto}, targetPort: 8080{np}}}]\n"
    if rng.random() < 0.3:
        spec += "  sessionAffinity: ClientIP\n"
    if kind != "ClusterIP" and rng.random() < 0.3:
        spec += "  externalTrafficPolicy: Local\n"
    status = f"status:\n  loadBalancer:\n    ingress: [{{ip: 1.2.3.{k}}}]\n" if kind == "LoadBalancer" else ""
    doc = f"apiVersion: v1\nkind: Service\nmetadata: {{name: svc-{k}, namespace: default}}\nspec:\n{spec}{status}"
    if rng.random() < 0.4:
        # a Deployment the selector picks (svcgen simulates its Pods)
        doc = doc.replace("spec:\n", f"spec:\n  selector: {{app: app-{k}}}\n", 1)
        doc += (f"---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app-{k}, namespace: default}}\nspec:\n  replicas: {rng.randint(0, 3)}\n"
                f"  selector: {{matchLabels: {{app: app-{k}}}}}\n  template:\n    metadata: {{labels: {{app: app-{k}}}}}\n"
                f"    spec: {{nodeName: node-a, containers: [{{name: c, image: x, ports: [{{containerPort: 8080}}]}}]}}\n")
    else:
        eps = "".join(
            f"- addresses: [10.244.{rng.randint(0, 3)}.{rng.randint(1, 250)}]\n  conditions: {{ready: {rng.choice(['true', 'false'])}}}\n  nodeName: {rng.choice(['node-a', 'node-b'])}\n"
            for _ in range(rng.randint(0, 3)))
        doc += (f"---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: svc-{k}-1\n  namespace: default\n"
                f"  labels: {{kubernetes.io/service-name: svc-{k}}}\naddressType: IPv4\nports: [{{name: p, port: 8080, protocol: {proto}}}]\n"
                + ("endpoints:\n" + eps if eps else "endpoints: []\n"))
    return doc

BROKEN = ["kind: Service\nmetadata: {name: [\n",                                  # does not parse
          "apiVersion: v1\nkind: Service\nmetadata: {name: bad, namespace: default}\nspec:\n  ports: [{port: 0}]\n",  # refused
          "apiVersion: v1\nkind: Service\nmetadata: {name: Bad_Name}\nspec:\n  ports: [{port: 80}]\n"]

def good_alone(path):
    p = run([svcgen, "validate", "-f", BASE, "-f", path] + common, check=False)
    return p.returncode == 0

def effective():
    """The files the agent holds good: every file that validates (with the
    base); a file that never validated holds back only itself."""
    files = sorted(os.path.join(watch, f) for f in os.listdir(watch) if f.endswith((".yaml", ".yml", ".json")))
    return [f for f in files if f == BASE or good_alone(f)]

def write_atomic(path, text):
    tmp = os.path.join(work, "tmp.write")
    with open(tmp, "w") as fh:
        fh.write(text)
    os.rename(tmp, path)

# ---- agent
agent = None
agents = []  # (pid, start, samples[(t, rss_kb, fds)])
def start_agent():
    global agent
    log = open(os.path.join(work, "agent.log"), "a")
    agent = subprocess.Popen([svcgen, "agent", "--mode", mode, "--watch", watch, "--sync-period", f"{int(SYNC)}s",
                              "--poll-interval", f"{int(POLL * 1000)}ms", "--metrics-addr", METRICS] + common,
                             stdout=log, stderr=log)
    with open(os.path.join(work, "agent.pid"), "w") as fh:
        fh.write(str(agent.pid))
    agents.append((agent.pid, time.time(), []))

def sample():
    pid, start, samples = agents[-1]
    try:
        rss = int(re.search(r"VmRSS:\s+(\d+)", open(f"/proc/{pid}/status").read()).group(1))
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        samples.append((time.time() - start, rss, fds))
    except (OSError, AttributeError):
        pass

# ---- state shared with the checker
ref_log = []         # (time, digest) of each snapshot's reference
history = []         # (time, digest, empty) of each kernel listing
violations = []
stats = {"checks": 0, "unmatched": 0, "longest_unmatched": 0.0}
stop = threading.Event()

texts = {}  # digest → canonical listing, to show what a finding differs in

def add_reference():
    r = reference(effective())
    if r is not None:
        h = hashlib.sha1(r.encode()).hexdigest()
        ref_log.append((time.time(), h))
        texts.setdefault(h, r)
    return r

def checker():
    """Lists the kernel every 200 ms and keeps (time, digest) of each
    listing; whether it matched a snapshot is judged at the end, against
    the references made from 30 s before to 5 s after it (the driver
    computes a reference just after its change, so a listing may come
    first)."""
    while not stop.is_set():
        k = kernel()
        h = hashlib.sha1(k.encode()).hexdigest()
        history.append((time.time(), h, k in ("(no table)", "")))
        if len(texts) < 6000:
            texts.setdefault(h, k)
        if foreign() != FOREIGN0:
            violations.append(f"t={time.time() - T0:.1f}s: foreign rules changed")
        time.sleep(0.2)

def judge():
    """The longest stretch of consecutive listings that match no snapshot."""
    longest, run_start, unmatched = 0.0, None, 0
    for t, h, empty in history:
        ok = empty or any(h == rh and t - 30 <= rt <= t + 5 for rt, rh in ref_log)
        if ok:
            run_start = None
        else:
            unmatched += 1
            run_start = t if run_start is None else run_start
            if run_start == t:
                first_of_run = (t, h)
            if t - run_start > longest:
                longest = t - run_start
                stats["worst_at"] = run_start - T0
                stats["worst_first"] = first_of_run
    stats["checks"], stats["unmatched"], stats["longest_unmatched"] = len(history), unmatched, longest
    if longest > 3.0:
        finding = f"t={stats['worst_at']:.1f}s: for {longest:.1f}s the kernel held rulesets no recent snapshot renders"
        # What it held, against the newest reference made before it.
        t, h = stats["worst_first"]
        before = [rh for rt, rh in ref_log if rt <= t]
        if before and h in texts and before[-1] in texts:
            import difflib
            d = list(difflib.unified_diff(texts[before[-1]].splitlines(), texts[h].splitlines(),
                                          "newest reference before it", "kernel", n=0, lineterm=""))
            finding += "\n    " + "\n    ".join(x[:300] for x in d[:60])
        violations.append(finding)

T0 = time.time()
add_reference()
start_agent()
th = threading.Thread(target=checker, daemon=True)
th.start()

deadline = T0 + minutes * 60
next_kill = time.time() + rng.uniform(3, 20)
changes = kills = 0
# SOAK_SELFTEST=1: no kills; after 15 s a chain nobody rendered is added to
# kube-proxy's table behind the agent's back: the checker must call that a
# violation (it lasts until the agent's next full sync, 10 s).
selftest = os.environ.get("SOAK_SELFTEST") == "1"
injected = False
counts = {}
rss_log = []
next_sample = time.time()
n = 0
try:
    while time.time() < deadline and not violations:
        n += 1
        files = sorted(f for f in os.listdir(watch) if f.startswith("svc-") or f.startswith("broken-"))
        op = rng.choices(["put", "new", "delete", "rename", "broken", "partial"], [40, 15, 12, 10, 10, 13])[0]
        svcs = [f for f in files if f.startswith("svc-")]
        broken = [f for f in files if f.startswith("broken-")]
        if op == "put" and svcs:
            f = rng.choice(svcs)
            k = int(re.match(r"svc-(\d+)", f).group(1))
            write_atomic(os.path.join(watch, f), service(k))
        elif op in ("new", "put") and len(svcs) < 12:
            k = rng.randint(1, 200)
            if not any(f.startswith(f"svc-{k}.") or f.startswith(f"svc-{k}-") for f in svcs):
                write_atomic(os.path.join(watch, f"svc-{k}.yaml"), service(k))
        elif op == "delete" and (svcs or broken):
            os.unlink(os.path.join(watch, rng.choice(svcs + broken)))
        elif op == "rename" and svcs:
            f = rng.choice(svcs)
            base = re.match(r"(svc-\d+)", f).group(1)
            os.rename(os.path.join(watch, f), os.path.join(watch, f"{base}-{rng.randint(0, 9)}.yaml" if "-" not in f[4:] or rng.random() < .5 else f"{base}.yaml"))
        elif op == "broken":
            if broken and rng.random() < 0.5:
                os.unlink(os.path.join(watch, rng.choice(broken)))
            else:
                write_atomic(os.path.join(watch, f"broken-{rng.randint(0, 3)}.yaml"), rng.choice(BROKEN))
        elif op == "partial" and len(svcs) < 12:
            # a new file written in two steps: first a part, then the rest
            k = rng.randint(1, 200)
            if not any(f.startswith(f"svc-{k}.") or f.startswith(f"svc-{k}-") for f in svcs):
                text = service(k)
                cut = rng.randint(1, len(text) - 1)
                path = os.path.join(watch, f"svc-{k}.yaml")
                with open(path, "w") as fh:
                    fh.write(text[:cut])
                add_reference()
                time.sleep(rng.uniform(0.05, 0.3))
                with open(path, "a") as fh:
                    fh.write(text[cut:])
        else:
            continue
        changes += 1
        counts[op] = counts.get(op, 0) + 1
        add_reference()
        if selftest and not injected and time.time() - T0 > 15:
            if mode == "nftables":
                run(["nft", "add", "chain", "ip", "kube-proxy", "soak-selftest"])
            else:
                run(["iptables", "-t", "nat", "-N", "KUBE-SOAK-SELFTEST"])
            injected = True
        if time.time() >= next_kill and not selftest:
            agent.send_signal(signal.SIGKILL)
            agent.wait()
            kills += 1
            start_agent()
            next_kill = time.time() + rng.uniform(3, 20)
        if time.time() >= next_sample:
            sample()
            pid, start, s = agents[-1]
            if s:
                rss_log.append((time.time() - T0, s[-1][1], s[-1][2]))
            next_sample = time.time() + 5
        time.sleep(rng.uniform(0.05, 0.5))

    # ---- churn stops: remove the broken files, then convergence within one sync
    for f in os.listdir(watch):
        if f.startswith("broken-"):
            os.unlink(os.path.join(watch, f))
    t_stop = time.time()
    final = add_reference()
    converged = None
    while time.time() - t_stop < POLL + SYNC + 5:
        if kernel() == final:
            converged = time.time() - t_stop
            break
        time.sleep(0.05)
    stop.set()
    th.join()
    judge()
    if converged is None:
        violations.append(f"no convergence to the final files' render within {POLL + SYNC + 5:.1f}s")
    elif converged > POLL + SYNC:
        violations.append(f"converged in {converged:.2f}s, more than one sync ({POLL + SYNC:.1f}s)")

    # ---- growth of the last, longest-lived processes
    for _ in range(3):
        sample(); time.sleep(1)
    for pid, start, s in agents:
        warm = [x for x in s if x[0] > 2]
        if len(warm) >= 3:
            first, lastx = warm[0], warm[-1]
            if lastx[1] > first[1] * 1.5 + 4096:
                violations.append(f"agent {pid}: RSS grew from {first[1]} kB to {lastx[1]} kB in {lastx[0]:.0f}s")
            # The fewest fds of the last three samples: a sample taken while
            # the agent runs nft holds that child's pipes for a moment.
            settled = min(x[2] for x in warm[-3:])
            if settled > first[2] + 4:
                violations.append(f"agent {pid}: open fds grew from {first[2]} to {settled}")

    # ---- metrics of the last agent
    try:
        m = urllib.request.urlopen(f"http://{METRICS}/metrics", timeout=5).read().decode()
        ok = int(float(re.search(r'svcgen_agent_syncs_total\{result="success"\} (\S+)', m).group(1)))
        errm = re.search(r'svcgen_agent_syncs_total\{result="error"\} (\S+)', m)
        err = int(float(errm.group(1))) if errm else 0
        health = urllib.request.urlopen(f"http://{METRICS}/healthz", timeout=5).status
    except Exception as e:
        ok, err, health = 0, -1, f"unreachable ({e})"
    if ok < 1:
        violations.append(f"metrics: {ok} successful syncs reported by the last agent")
    if err != 0:
        violations.append(f"metrics: {err} failed applies reported (none expected)")
    if health != 200:
        violations.append(f"healthz: {health}")
finally:
    stop.set()
    if agent and agent.poll() is None:
        agent.send_signal(signal.SIGKILL)
        agent.wait()

longest = max(agents, key=lambda a: len(a[2]))
print(f"soak {mode}: {minutes:g} min, seed {seed}")
print(f"  changes applied: {changes} ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))})")
print(f"  kills survived: {kills} (SIGKILL at random moments; {len(agents)} agent processes)")
print(f"  kernel listings: {stats['checks']}, matching no recent snapshot's render: {stats['unmatched']} "
      f"(longest stretch {stats['longest_unmatched']:.2f}s; limit 3 s)")
print(f"  convergence after the churn stopped: {converged if converged is None else f'{converged:.2f}s'}")
print(f"  metrics of the last agent: syncs success={ok} error={err}, healthz {health}")
print("  RSS over time (t s: RSS kB, fds):", ", ".join(f"{t:.0f}: {r}, {f}" for t, r, f in rss_log[:: max(1, len(rss_log) // 12)]))
if selftest:
    caught = any("no recent snapshot" in v for v in violations)
    print(f"self-test: the injected chain was {'caught' if caught else 'NOT caught'}: {violations[:1]}")
    sys.exit(0 if caught else 1)
if violations:
    print("VIOLATIONS:")
    for v in violations[:20]:
        print("  " + v)
    log = open(os.path.join(work, "agent.log")).read().splitlines()
    print("agent log (last lines):\n  " + "\n  ".join(log[-15:]))
    sys.exit(1)
print("soak: 1 passed, 0 failed")
PY
