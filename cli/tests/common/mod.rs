//! A throwaway network for the agent's end-to-end tests, and the rule
//! sources that describe what the agent should program.
//!
//! [`Lab`] builds four network namespaces joined by veth pairs — a node
//! (where the agent runs, and which routes between the others), two backend
//! hosts with tiny TCP servers that answer with their name, and a client —
//! with no route out. Everything is removed in `Drop`, also when a test fails.
//!
//! A [`Scenario`] says which Services and endpoints exist; a [`RuleSource`]
//! writes it into the watched directory: as hand-written kube-proxy-format
//! rule text ([`HandWritten`], applied with `--source rendered`) or as
//! Kubernetes manifests ([`Manifests`], rendered by libsvc). The tests run
//! the same way on either.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The svcgen binary under test.
pub const SVCGEN: &str = env!("CARGO_BIN_EXE_svcgen");

/// The node's IP on the client link (its NodePort address).
pub const NODE_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 50, 1);
/// The client's IP.
pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 50, 2);
/// The backends' IPs (pods), in 10.244.0.0/16 (the cluster CIDR).
pub const B1_IP: Ipv4Addr = Ipv4Addr::new(10, 244, 1, 2);
/// Second backend.
pub const B2_IP: Ipv4Addr = Ipv4Addr::new(10, 244, 2, 2);
/// The port the backends listen on.
pub const BACKEND_PORT: u16 = 8080;
/// The pod CIDR.
pub const CLUSTER_CIDR: &str = "10.244.0.0/16";

/// Runs a command; panics with its output when it fails.
pub fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("spawn");
    assert!(
        out.status.success(),
        "{:?} failed: {}{}",
        args,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command with stdin; returns its output whatever the status.
pub fn run_with(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Can this process create network namespaces and use nft/iptables?
/// Without root the tests say so and pass vacuously (as the project's other
/// kernel tests do); as root, missing tools are a failure.
pub fn require_root() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    if !root {
        eprintln!("skipping: the agent's end-to-end tests need root");
        return false;
    }
    for tool in ["ip", "nft", "iptables-restore", "python3", "unshare"] {
        assert!(
            Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .is_ok_and(|o| o.status.success()),
            "{tool} is missing: the agent's end-to-end tests need iproute2, nftables, iptables, python3, util-linux"
        );
    }
    true
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A unique suffix for this test run's namespaces and files.
pub fn unique() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{}-{}-{:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        nanos & 0xffff
    )
}

/// The proxy modes under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// iptables.
    Iptables,
    /// nftables.
    Nftables,
}

impl Mode {
    /// The `--mode` value.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Iptables => "iptables",
            Mode::Nftables => "nftables",
        }
    }
}

/// One network namespace, deleted on drop.
pub struct Netns(pub String);

impl Netns {
    /// Creates `svcgen-test-<suffix>`.
    pub fn new(suffix: &str) -> Netns {
        let name = format!("svcgen-test-{suffix}");
        sh(&["ip", "netns", "add", &name]);
        let ns = Netns(name);
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// Runs a command inside; panics when it fails.
    pub fn exec(&self, args: &[&str]) -> String {
        let mut full = vec!["ip", "netns", "exec", &self.0];
        full.extend_from_slice(args);
        sh(&full)
    }

    /// Runs a command inside with stdin; its output whatever the status.
    pub fn exec_with(&self, args: &[&str], stdin: &str) -> Output {
        let mut full = vec!["ip", "netns", "exec", &self.0];
        full.extend_from_slice(args);
        run_with(&full, stdin)
    }

    /// A command that runs inside, in a process group of its own.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0])
            .args(args)
            .process_group(0);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// Kills a process group (a child started with [`Netns::command`]) and reaps it.
pub fn kill_group(child: &mut Child) {
    // The shell's own kill: no procps needed.
    let _ = Command::new("sh")
        .args(["-c", &format!("kill -9 -{}", child.id())])
        .stderr(Stdio::null())
        .status();
    let _ = child.wait();
}

impl Netns {
    /// Waits (at most 60 s) until no kernel tool (`nft`, `iptables-restore`,
    /// `ip6tables-restore`, `ipset`) runs in this namespace: the agent runs
    /// them in a process group of their own, so one outlives a SIGKILL of
    /// the agent and finishes its transaction.
    pub fn wait_for_tools(&self) {
        use std::os::unix::fs::MetadataExt;
        let Ok(ns) = std::fs::metadata(format!("/run/netns/{}", self.0)) else {
            return;
        };
        let ours = format!("net:[{}]", ns.ino());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let running = std::fs::read_dir("/proc")
                .into_iter()
                .flatten()
                .flatten()
                .any(|e| {
                    let p = e.path();
                    let comm = std::fs::read_to_string(p.join("comm")).unwrap_or_default();
                    matches!(
                        comm.trim(),
                        "nft" | "iptables-restor" | "ip6tables-resto" | "ipset"
                    ) && std::fs::read_link(p.join("ns/net"))
                        .is_ok_and(|l| l.to_string_lossy() == ours)
                });
            if !running || std::time::Instant::now() > deadline {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

/// A scratch directory under the temp dir, removed on drop (also on failure).
pub struct TmpDir(pub PathBuf);

impl TmpDir {
    /// Creates `svcgen-test-<what>-<unique>`.
    pub fn new(what: &str) -> TmpDir {
        let p = std::env::temp_dir().join(format!("svcgen-test-{what}-{}", unique()));
        std::fs::create_dir_all(&p).unwrap();
        TmpDir(p)
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed (with its group) on drop.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        kill_group(&mut self.0);
    }
}

const SERVER: &str = r#"
import socketserver, sys
name = sys.argv[1]
class H(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.sendall((name + "\n").encode())
socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer(("0.0.0.0", int(sys.argv[2])), H).serve_forever()
"#;

const CLIENT: &str = r#"
import socket, sys
host, port, n, timeout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
for _ in range(n):
    try:
        s = socket.create_connection((host, port), timeout=timeout)
        s.settimeout(timeout)
        data = s.recv(100).decode().strip()
        s.close()
        print(data or "EMPTY")
    except ConnectionRefusedError:
        print("REFUSED")
    except socket.timeout:
        print("TIMEOUT")
    except OSError as e:
        print("ERR%d" % (e.errno or 0))
"#;

/// Node, two backends and a client, joined through the node.
pub struct Lab {
    /// Where the agent runs.
    pub node: Netns,
    /// Backend "b1" (10.244.1.2).
    pub b1: Netns,
    /// Backend "b2" (10.244.2.2).
    pub b2: Netns,
    /// The off-node client (192.168.50.2).
    pub client: Netns,
    /// The watched directory.
    pub dir: PathBuf,
    servers: Vec<Guard>,
    agent: Option<Guard>,
    /// The agent's stderr.
    pub log: PathBuf,
}

/// Sets a sysctl of a namespace (without needing procps' sysctl).
fn sysctl(ns: &Netns, key: &str, value: &str) {
    ns.exec(&["sh", "-c", &format!("echo {value} > /proc/sys/{key}")]);
}

fn link(a: &Netns, a_if: &str, a_ip: &str, b: &Netns, b_if: &str, b_ip: &str) {
    a.exec(&[
        "ip", "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", &b.0,
    ]);
    a.exec(&["ip", "addr", "add", a_ip, "dev", a_if]);
    a.exec(&["ip", "link", "set", a_if, "up"]);
    b.exec(&["ip", "addr", "add", b_ip, "dev", b_if]);
    b.exec(&["ip", "link", "set", b_if, "up"]);
}

impl Lab {
    /// Builds the network and starts the backend servers.
    pub fn new() -> Lab {
        let id = unique();
        let node = Netns::new(&format!("{id}-node"));
        let b1 = Netns::new(&format!("{id}-b1"));
        let b2 = Netns::new(&format!("{id}-b2"));
        let client = Netns::new(&format!("{id}-client"));
        link(
            &node,
            "veth-c",
            "192.168.50.1/24",
            &client,
            "eth0",
            "192.168.50.2/24",
        );
        link(
            &node,
            "veth-b1",
            "10.244.1.1/24",
            &b1,
            "eth0",
            "10.244.1.2/24",
        );
        link(
            &node,
            "veth-b2",
            "10.244.2.1/24",
            &b2,
            "eth0",
            "10.244.2.2/24",
        );
        client.exec(&["ip", "route", "add", "default", "via", "192.168.50.1"]);
        b1.exec(&["ip", "route", "add", "default", "via", "10.244.1.1"]);
        b2.exec(&["ip", "route", "add", "default", "via", "10.244.2.1"]);
        sysctl(&node, "net/ipv4/ip_forward", "1");
        // A node has a default route; here it points at an address no
        // namespace has, so that service IPs route (and meet the rules) but
        // nothing leaves the lab.
        // Forwarding back out of the client link would send ICMP redirects,
        // which use up the ICMP rate limit that rejects need.
        node.exec(&["ip", "route", "add", "default", "via", "192.168.50.254"]);
        sysctl(&node, "net/ipv4/conf/all/send_redirects", "0");
        sysctl(&node, "net/ipv4/conf/veth-c/send_redirects", "0");
        let dir = std::env::temp_dir().join(format!("svcgen-test-{id}"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut lab = Lab {
            log: dir.with_extension("log"),
            node,
            b1,
            b2,
            client,
            dir,
            servers: Vec::new(),
            agent: None,
        };
        for (ns, name) in [(&lab.b1, "b1"), (&lab.b2, "b2")] {
            let child = ns
                .command(&["python3", "-c", SERVER, name, &BACKEND_PORT.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start backend");
            lab.servers.push(Guard(child));
        }
        // Wait (bounded) until both servers answer from the node.
        for ip in [B1_IP, B2_IP] {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let got = connect(&lab.node, &ip.to_string(), BACKEND_PORT, 1);
                if got[0].starts_with('b') {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "backend {ip} did not start: {got:?}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        lab
    }

    /// Starts the agent in the node namespace with `extra` arguments.
    pub fn start_agent(&mut self, mode: Mode, source: &dyn RuleSource, extra: &[&str]) {
        let log = std::fs::File::create(&self.log).unwrap();
        let dir = self.dir.display().to_string();
        let mut args = vec![
            SVCGEN,
            "agent",
            "--mode",
            mode.name(),
            "--watch",
            &dir,
            "--poll-interval",
            "100ms",
        ];
        let source_args = source.agent_args();
        args.extend(source_args.iter().map(String::as_str));
        args.extend_from_slice(extra);
        let child = self
            .node
            .command(&args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start agent");
        self.agent = Some(Guard(child));
    }

    /// Stops the agent (SIGKILL to its group).
    pub fn stop_agent(&mut self) {
        self.agent = None;
    }

    /// The agent's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How many syncs the agent has logged.
    pub fn syncs(&self) -> usize {
        self.log_text()
            .lines()
            .filter(|l| l.contains("msg=synced"))
            .count()
    }

    /// Waits (at most `secs`) until the agent has logged more than `after` syncs.
    pub fn wait_syncs(&self, after: usize, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while self.syncs() <= after {
            assert!(
                Instant::now() < deadline,
                "the agent did not sync within {secs}s; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `n` new connections from the client; each answer (a backend name,
    /// REFUSED, TIMEOUT, ERRn).
    pub fn client_connects(&self, ip: Ipv4Addr, port: u16, n: usize) -> Vec<String> {
        connect(&self.client, &ip.to_string(), port, n)
    }

    /// `n` connections from the client to ip:port reach exactly the
    /// backends `want` (each at least once); `what` names the step.
    pub fn expect_backends(&self, ip: Ipv4Addr, port: u16, n: usize, want: &[&str], what: &str) {
        let answers = self.client_connects(ip, port, n);
        assert_eq!(
            names(&answers),
            want,
            "{what}: {:?}\n{}",
            tally(&answers),
            self.log_text()
        );
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.agent = None;
        self.servers.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(&self.log);
    }
}

/// `n` connections from `ns` to ip:port, each bounded by a 2 s timeout.
pub fn connect(ns: &Netns, ip: &str, port: u16, n: usize) -> Vec<String> {
    let out = ns.exec(&[
        "timeout",
        "120",
        "python3",
        "-c",
        CLIENT,
        ip,
        &port.to_string(),
        &n.to_string(),
        "2",
    ]);
    out.lines().map(str::to_string).collect()
}

/// The distinct answers, sorted.
pub fn names(answers: &[String]) -> Vec<String> {
    tally(answers).into_keys().collect()
}

/// Counts of each answer.
pub fn tally(answers: &[String]) -> std::collections::BTreeMap<String, usize> {
    let mut m = std::collections::BTreeMap::new();
    for a in answers {
        *m.entry(a.clone()).or_insert(0) += 1;
    }
    m
}

/// A Service port in a scenario (TCP, port 80, target 8080).
#[derive(Debug, Clone)]
pub struct Svc {
    /// Name, in namespace `default`.
    pub name: String,
    /// Its ClusterIP.
    pub cluster_ip: Ipv4Addr,
    /// Its NodePort, if `type: NodePort`.
    pub node_port: Option<u16>,
    /// ClientIP session affinity.
    pub affinity: bool,
    /// Ready endpoints (pod IPs), port 8080.
    pub endpoints: Vec<Ipv4Addr>,
}

impl Svc {
    /// A ClusterIP service.
    pub fn new(name: &str, cluster_ip: Ipv4Addr, endpoints: &[Ipv4Addr]) -> Svc {
        Svc {
            name: name.into(),
            cluster_ip,
            node_port: None,
            affinity: false,
            endpoints: endpoints.to_vec(),
        }
    }
}

/// What the cluster holds.
#[derive(Debug, Clone, Default)]
pub struct Scenario {
    /// The services.
    pub services: Vec<Svc>,
}

/// Writes a scenario into the watched directory, in some form the agent reads.
pub trait RuleSource {
    /// For messages.
    fn name(&self) -> &'static str;
    /// The agent's arguments for this source.
    fn agent_args(&self) -> Vec<String>;
    /// Writes `s` into `dir` (replacing what was there, atomically per file).
    fn write(&self, dir: &Path, mode: Mode, s: &Scenario);
}

fn write_atomic(dir: &Path, name: &str, text: &str) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

/// Rule text written here in kube-proxy's formats (v1.37 nftables dump,
/// iptables-restore input), applied with `--source rendered`.
pub struct HandWritten;

/// A stable, chain-name-safe tag for a service (kube-proxy uses a hash).
fn tag(name: &str) -> String {
    let mut h: u64 = 1469598103934665603;
    for b in name.bytes() {
        h = (h ^ b as u64).wrapping_mul(1099511628211);
    }
    (0..16)
        .map(|i| (b'A' + ((h >> (i * 4)) & 0xf) as u8) as char)
        .collect()
}

/// The nftables dump for `s`.
pub fn nft_text(s: &Scenario) -> String {
    let mut t = String::from(
        r#"add table ip kube-proxy { comment "rules for kube-proxy" ; }
add set ip kube-proxy cluster-ips { type ipv4_addr ; comment "Active ClusterIPs" ; }
add set ip kube-proxy nodeport-ips { type ipv4_addr ; comment "IPs that accept NodePort traffic" ; }
add map ip kube-proxy no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to services with no endpoints" ; }
add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }
add map ip kube-proxy service-nodeports { type inet_proto . inet_service : verdict ; comment "NodePort traffic" ; }
add chain ip kube-proxy filter-forward { type filter hook forward priority 0 ; }
add chain ip kube-proxy filter-input { type filter hook input priority 0 ; }
add chain ip kube-proxy filter-output { type filter hook output priority 0 ; }
add chain ip kube-proxy masquerading
add chain ip kube-proxy nat-output { type nat hook output priority -100 ; }
add chain ip kube-proxy nat-postrouting { type nat hook postrouting priority 100 ; }
add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }
add chain ip kube-proxy reject-chain { comment "helper for @no-endpoint-services / @no-endpoint-nodeports" ; }
add chain ip kube-proxy services
add chain ip kube-proxy service-endpoints-check
add rule ip kube-proxy filter-forward ct state new jump service-endpoints-check
add rule ip kube-proxy filter-input ct state new jump service-endpoints-check
add rule ip kube-proxy filter-output ct state new jump service-endpoints-check
add rule ip kube-proxy masquerading mark and 0x4000 != 0 mark set mark xor 0x4000 masquerade fully-random
add rule ip kube-proxy nat-output jump services
add rule ip kube-proxy nat-postrouting jump masquerading
add rule ip kube-proxy nat-prerouting jump services
add rule ip kube-proxy reject-chain reject
add rule ip kube-proxy services ip daddr @cluster-ips ip saddr != 10.244.0.0/16 mark set mark or 0x4000 comment "masquerade clusterIP traffic from outside cluster"
add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips
add rule ip kube-proxy services ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports
add rule ip kube-proxy service-endpoints-check ip daddr . meta l4proto . th dport vmap @no-endpoint-services
"#,
    );
    writeln!(t, "add element ip kube-proxy nodeport-ips {{ {NODE_IP} }}").unwrap();
    for svc in &s.services {
        let id = format!("{}-default/{}/tcp/p80", &tag(&svc.name)[..8], svc.name);
        let cip = svc.cluster_ip;
        writeln!(t, "\n# {}", svc.name).unwrap();
        writeln!(t, "add element ip kube-proxy cluster-ips {{ {cip} }}").unwrap();
        if svc.endpoints.is_empty() {
            writeln!(
                t,
                "add element ip kube-proxy no-endpoint-services {{ {cip} . tcp . 80 comment \"default/{}:p80\" : goto reject-chain }}",
                svc.name
            )
            .unwrap();
            continue;
        }
        let chain = format!("service-{id}");
        writeln!(t, "add chain ip kube-proxy {chain}").unwrap();
        if svc.affinity {
            let mut vmap = Vec::new();
            for (i, ep) in svc.endpoints.iter().enumerate() {
                let e = format!("{id}__{ep}/{BACKEND_PORT}");
                writeln!(t, "add set ip kube-proxy affinity-{e} {{ type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; }}").unwrap();
                writeln!(t, "add chain ip kube-proxy endpoint-{e}").unwrap();
                writeln!(
                    t,
                    "add rule ip kube-proxy endpoint-{e} ip saddr {ep} mark set mark or 0x4000"
                )
                .unwrap();
                writeln!(
                    t,
                    "add rule ip kube-proxy endpoint-{e} update @affinity-{e} {{ ip saddr }}"
                )
                .unwrap();
                writeln!(t, "add rule ip kube-proxy endpoint-{e} meta l4proto tcp dnat to {ep}:{BACKEND_PORT}").unwrap();
                writeln!(
                    t,
                    "add rule ip kube-proxy {chain} ip saddr @affinity-{e} goto endpoint-{e}"
                )
                .unwrap();
                vmap.push(format!("{i} : goto endpoint-{e}"));
            }
            writeln!(
                t,
                "add rule ip kube-proxy {chain} numgen random mod {} vmap {{ {} }}",
                svc.endpoints.len(),
                vmap.join(" , ")
            )
            .unwrap();
        } else if svc.endpoints.len() == 1 {
            writeln!(
                t,
                "add rule ip kube-proxy {chain} meta l4proto tcp dnat to {}:{BACKEND_PORT}",
                svc.endpoints[0]
            )
            .unwrap();
        } else {
            let map: Vec<String> = svc
                .endpoints
                .iter()
                .enumerate()
                .map(|(i, ep)| format!("{i} : {ep} . {BACKEND_PORT}"))
                .collect();
            writeln!(
                t,
                "add rule ip kube-proxy {chain} meta l4proto tcp dnat ip addr . port to numgen random mod {} map {{ {} }}",
                svc.endpoints.len(),
                map.join(" , ")
            )
            .unwrap();
        }
        writeln!(
            t,
            "add element ip kube-proxy service-ips {{ {cip} . tcp . 80 : goto {chain} }}"
        )
        .unwrap();
        if let Some(np) = svc.node_port {
            let ext = format!("external-{id}");
            writeln!(t, "add chain ip kube-proxy {ext}").unwrap();
            writeln!(
                t,
                "add rule ip kube-proxy {ext} mark set mark or 0x4000 comment \"masquerade\""
            )
            .unwrap();
            writeln!(t, "add rule ip kube-proxy {ext} goto {chain}").unwrap();
            writeln!(
                t,
                "add element ip kube-proxy service-nodeports {{ tcp . {np} : goto {ext} }}"
            )
            .unwrap();
        }
    }
    t
}

/// The iptables-restore input for `s` (without the jumps from the
/// built-in chains, which the agent adds).
pub fn iptables_text(s: &Scenario) -> String {
    let mut filter = String::from("*filter\n:KUBE-SERVICES - [0:0]\n");
    let mut chains = String::from(
        ":KUBE-SERVICES - [0:0]\n:KUBE-NODEPORTS - [0:0]\n:KUBE-POSTROUTING - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n",
    );
    let mut rules = String::from(
        "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n\
         -A KUBE-POSTROUTING -j MARK --xor-mark 0x4000\n\
         -A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully\n\
         -A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n",
    );
    let mut services = String::new();
    let mut nodeports = String::new();
    for svc in &s.services {
        let sp = format!("default/{}:p80", svc.name);
        let cip = svc.cluster_ip;
        if svc.endpoints.is_empty() {
            writeln!(filter, "-A KUBE-SERVICES -m comment --comment \"{sp} has no endpoints\" -m tcp -p tcp -d {cip}/32 --dport 80 -j REJECT").unwrap();
            continue;
        }
        let h = tag(&svc.name);
        let svc_chain = format!("KUBE-SVC-{h}");
        writeln!(chains, ":{svc_chain} - [0:0]").unwrap();
        writeln!(services, "-A KUBE-SERVICES -m comment --comment \"{sp} cluster IP\" -m tcp -p tcp -d {cip}/32 --dport 80 -j {svc_chain}").unwrap();
        writeln!(rules, "-A {svc_chain} -m comment --comment \"{sp} cluster IP\" -m tcp -p tcp -d {cip}/32 --dport 80 ! -s {CLUSTER_CIDR} -j KUBE-MARK-MASQ").unwrap();
        if let Some(np) = svc.node_port {
            let ext = format!("KUBE-EXT-{h}");
            writeln!(chains, ":{ext} - [0:0]").unwrap();
            writeln!(
                nodeports,
                "-A KUBE-NODEPORTS -m comment --comment {sp} -m tcp -p tcp --dport {np} -j {ext}"
            )
            .unwrap();
            writeln!(rules, "-A {ext} -m comment --comment \"masquerade traffic for {sp} external destinations\" -j KUBE-MARK-MASQ").unwrap();
            writeln!(rules, "-A {ext} -j {svc_chain}").unwrap();
        }
        let n = svc.endpoints.len();
        let seps: Vec<String> = svc
            .endpoints
            .iter()
            .map(|ep| format!("KUBE-SEP-{}", tag(&format!("{}{ep}", svc.name))))
            .collect();
        if svc.affinity {
            for (ep, sep) in svc.endpoints.iter().zip(&seps) {
                writeln!(rules, "-A {svc_chain} -m comment --comment \"{sp} -> {ep}:{BACKEND_PORT}\" -m recent --name {sep} --rcheck --seconds 10800 --reap -j {sep}").unwrap();
            }
        }
        for (i, (ep, sep)) in svc.endpoints.iter().zip(&seps).enumerate() {
            writeln!(chains, ":{sep} - [0:0]").unwrap();
            let stat = if i + 1 < n {
                format!(
                    " -m statistic --mode random --probability {:.11}",
                    1.0 / (n - i) as f64
                )
            } else {
                String::new()
            };
            writeln!(
                rules,
                "-A {svc_chain} -m comment --comment \"{sp} -> {ep}:{BACKEND_PORT}\"{stat} -j {sep}"
            )
            .unwrap();
            writeln!(
                rules,
                "-A {sep} -m comment --comment {sp} -s {ep}/32 -j KUBE-MARK-MASQ"
            )
            .unwrap();
            let recent = if svc.affinity {
                format!(" -m recent --name {sep} --set")
            } else {
                String::new()
            };
            writeln!(rules, "-A {sep} -m comment --comment {sp}{recent} -m tcp -p tcp -j DNAT --to-destination {ep}:{BACKEND_PORT}").unwrap();
        }
    }
    writeln!(services, "-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS").unwrap();
    filter.push_str("COMMIT\n");
    format!("{filter}*nat\n{chains}{services}{nodeports}{rules}COMMIT\n")
}

impl RuleSource for HandWritten {
    fn name(&self) -> &'static str {
        "hand-written rule text"
    }
    fn agent_args(&self) -> Vec<String> {
        vec!["--source".into(), "rendered".into()]
    }
    fn write(&self, dir: &Path, mode: Mode, s: &Scenario) {
        match mode {
            Mode::Nftables => write_atomic(dir, "rules.nft", &nft_text(s)),
            Mode::Iptables => write_atomic(dir, "rules.iptables", &iptables_text(s)),
        }
    }
}

/// Kubernetes manifests (Services + EndpointSlices), rendered by libsvc.
pub struct Manifests;

/// The manifests for `s`.
pub fn manifests(s: &Scenario) -> String {
    let mut y = String::new();
    for svc in &s.services {
        let ty = if svc.node_port.is_some() {
            "NodePort"
        } else {
            "ClusterIP"
        };
        let np = svc
            .node_port
            .map(|p| format!(", nodePort: {p}"))
            .unwrap_or_default();
        let aff = if svc.affinity { "ClientIP" } else { "None" };
        writeln!(
            y,
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {n}, namespace: default}}\nspec:\n  type: {ty}\n  clusterIP: {cip}\n  sessionAffinity: {aff}\n  selector: {{app: {n}}}\n  ports: [{{name: p80, port: 80, targetPort: {BACKEND_PORT}, protocol: TCP{np}}}]",
            n = svc.name,
            cip = svc.cluster_ip
        )
        .unwrap();
        writeln!(
            y,
            "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: {n}-1\n  namespace: default\n  labels: {{kubernetes.io/service-name: {n}}}\naddressType: IPv4\nports: [{{name: p80, port: {BACKEND_PORT}, protocol: TCP}}]\nendpoints:",
            n = svc.name
        )
        .unwrap();
        if svc.endpoints.is_empty() {
            y.push_str("  []\n");
        }
        for ep in &svc.endpoints {
            writeln!(y, "- addresses: [\"{ep}\"]\n  conditions: {{ready: true}}").unwrap();
        }
    }
    y
}

impl RuleSource for Manifests {
    fn name(&self) -> &'static str {
        "libsvc-rendered manifests"
    }
    fn agent_args(&self) -> Vec<String> {
        [
            "--node-name",
            "node",
            "--node-ip",
            "192.168.50.1",
            "--cluster-cidr",
            CLUSTER_CIDR,
        ]
        .map(String::from)
        .to_vec()
    }
    fn write(&self, dir: &Path, _: Mode, s: &Scenario) {
        write_atomic(dir, "services.yaml", &manifests(s));
    }
}

/// The source to test with: libsvc's output when its renderer for `mode`
/// exists (or `SVCGEN_E2E_SOURCE=manifests`), hand-written rule text otherwise
/// (or `SVCGEN_E2E_SOURCE=handwritten`).
pub fn source_for(mode: Mode) -> Box<dyn RuleSource> {
    match std::env::var("SVCGEN_E2E_SOURCE").as_deref() {
        Ok("manifests") => return Box::new(Manifests),
        Ok("handwritten") => return Box::new(HandWritten),
        _ => {}
    }
    let s = Scenario {
        services: vec![Svc::new("probe", Ipv4Addr::new(10, 96, 0, 10), &[B1_IP])],
    };
    let out = run_with(
        &[
            SVCGEN,
            "render",
            "--mode",
            mode.name(),
            "-f",
            "-",
            "--node-ip",
            "192.168.50.1",
        ],
        &manifests(&s),
    );
    if out.status.success() {
        Box::new(Manifests)
    } else {
        Box::new(HandWritten)
    }
}

/// The kernel's nftables ruleset in `ns`, without the agent's tables and
/// without iptables-nft's tables.
pub fn foreign_nft(ns: &Netns) -> String {
    let mut out = String::new();
    for l in ns.exec(&["nft", "list", "tables"]).lines() {
        let l = l.trim();
        if l.ends_with(" kube-proxy") || l.is_empty() {
            continue;
        }
        let words: Vec<&str> = l.split_whitespace().collect();
        // iptables-nft's own tables are compared through iptables-save.
        if ["ip", "ip6"].contains(&words[1])
            && ["filter", "nat", "mangle", "raw", "security"].contains(&words[2])
        {
            continue;
        }
        // -s: without counters, which traffic moves.
        out.push_str(&ns.exec(&["nft", "-s", "list", "table", words[1], words[2]]));
    }
    out
}

/// Is this iptables chain the agent's?
pub fn owned_chain(c: &str) -> bool {
    c == "KUBE-SERVICES"
        || c == "KUBE-EXTERNAL-SERVICES"
        || c == "KUBE-NODEPORTS"
        || c == "KUBE-POSTROUTING"
        || c == "KUBE-MARK-MASQ"
        || c == "KUBE-FORWARD"
        || c == "KUBE-PROXY-FIREWALL"
        || c == "KUBE-FIREWALL"
        || [
            "KUBE-SVC-",
            "KUBE-SVL-",
            "KUBE-EXT-",
            "KUBE-FW-",
            "KUBE-SEP-",
        ]
        .iter()
        .any(|p| c.starts_with(p))
}

/// `iptables-save` in `ns`, counters zeroed, comment lines dropped.
pub fn iptables_save(ns: &Netns) -> String {
    ns.exec(&["iptables-save"])
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| match l.rfind(" [") {
            Some(i) if l.starts_with(':') => format!("{} [0:0]\n", &l[..i]),
            _ => format!("{l}\n"),
        })
        .collect()
}

/// The iptables rules and chains in `ns` that are not the agent's.
pub fn foreign_iptables(ns: &Netns) -> String {
    iptables_save(ns)
        .lines()
        .filter(|l| {
            let chain = l
                .strip_prefix(':')
                .or_else(|| l.strip_prefix("-A "))
                .and_then(|r| r.split_whitespace().next())
                .unwrap_or("");
            let target = l
                .split(" -j ")
                .nth(1)
                .unwrap_or("")
                .split_whitespace()
                .next()
                .unwrap_or("");
            !(owned_chain(chain) || owned_chain(target))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Everything of the agent's in `ns`: its nft tables and its iptables chains and jumps.
pub fn ours(ns: &Netns) -> String {
    let mut out = String::new();
    for l in ns.exec(&["nft", "list", "tables"]).lines() {
        if l.trim().ends_with(" kube-proxy") {
            out.push_str(l);
            out.push('\n');
        }
    }
    for l in iptables_save(ns).lines() {
        if l.contains("KUBE-") {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}
