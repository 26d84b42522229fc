//! Real traffic against the dump's trace. A node network namespace holds
//! svcgen's render (iptables or nftables) next to a Docker-like and a
//! CNI-like (Calico-style, with marks and sets) ruleset, written with the
//! real tools; a pod namespace, an endpoint namespace and a "container"
//! namespace hang off it by veth pairs. Four nodes: iptables (nf_tables
//! backend), iptables-legacy, nftables next to Docker's nftables backend
//! and a CNI's nft table, and nftables next to Docker and Calico writing
//! through iptables-nft; and IPv6 nodes (ip6tables, nftables) next to a
//! CNI's IPv6 rules. The node's rules are dumped (`iptables-save` +
//! `ipset save`, `nft list ruleset`, `nft -j list ruleset`), read and
//! traced, and for each packet:
//!
//! * the dump's trace agrees with the trace of the model the render came
//!   from (kube-proxy's own verdict, endpoints and shares), where the
//!   foreign rules leave the packet alone;
//! * the dump's trace agrees with what real connections from the pod
//!   namespace do: which endpoint answers (all of them, over enough
//!   tries), refused for REJECT, no answer for DROP, and whether the
//!   endpoint sees the client's address or the node's (masquerade).
//!
//! The dump tracer follows the kernel's hooks (`dump::trace`); the model
//! tracers follow kube-proxy's rules (pkg/proxy/iptables/proxier.go
//! syncProxyRules, pkg/proxy/nftables/proxier.go syncProxyRules).
//!
//! Needs root, `ip`, `ss`, `iptables-restore`, `ipset`, `nft`, `python3`;
//! skipped (with a message) otherwise or when `SVCGEN_SKIP_KERNEL_TESTS`
//! is set. Every namespace is removed on drop, even when a test fails.

mod common;

use common::netns::{Netns, have, kernel_tests_enabled, run};
use libsvc::dump::{self, model::Dump, trace};
use libsvc::render::{Mode, RenderOptions, render};
use libsvc::table::Protocol;
use libsvc::trace::Packet;
use libsvc::{Input, Overrides};
use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};

const NODE_IP: &str = "192.168.0.2";

/// web: two endpoints behind a ClusterIP and a NodePort; empty: none.
const CLUSTER: &str = "apiVersion: v1
kind: Node
metadata: {name: test-node}
status:
  addresses: [{type: InternalIP, address: 192.168.0.2}]
---
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clusterCIDR: 10.244.0.0/16
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: NodePort
  clusterIP: 10.96.0.20
  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30080, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  namespace: default
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
- addresses: [10.244.2.10]
  nodeName: other-node
  conditions: {ready: true}
- addresses: [10.244.2.11]
  nodeName: other-node
  conditions: {ready: true}
---
apiVersion: v1
kind: Service
metadata: {name: empty, namespace: default}
spec:
  clusterIP: 10.96.0.30
  ports: [{name: http, port: 80, targetPort: 8080, protocol: TCP}]
";

/// Docker's chains as `dockerd` (iptables backend) writes them for one
/// container publishing 8080 → 80.
const DOCKER_IPTABLES: &str = "*filter
:DOCKER - [0:0]
:DOCKER-USER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j ACCEPT
-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
-A DOCKER-USER -j RETURN
COMMIT
*nat
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
COMMIT
";

/// Calico's shape: a workload dispatch by interface, a policy chain that
/// drops a blocked source (an ipset) and marks what it allows, an accept
/// on the mark, NAT-outgoing by ipsets with `--random-fully`. Its FORWARD
/// jump comes after kube-proxy's (appended, as flannel does), so
/// kube-proxy's REJECT of a Service without endpoints is still met.
const CALICO_IPTABLES: &str = "*mangle
:cali-PREROUTING - [0:0]
-I PREROUTING -m comment --comment \"cali:6gwbT8clXdHdC1b1\" -j cali-PREROUTING
-A cali-PREROUTING -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A cali-PREROUTING -m mark --mark 0x10000/0x10000 -j ACCEPT
COMMIT
*filter
:cali-FORWARD - [0:0]
:cali-from-wl-dispatch - [0:0]
:cali-fw-cali1234 - [0:0]
-A FORWARD -m comment --comment \"cali:wUHhoiAYhphO9Mso\" -j cali-FORWARD
-A cali-FORWARD -j MARK --set-xmark 0x0/0xe0000
-A cali-FORWARD -i cali+ -j cali-from-wl-dispatch
-A cali-FORWARD -m mark --mark 0x10000/0x10000 -j ACCEPT
-A cali-from-wl-dispatch -i cali1234 -g cali-fw-cali1234
-A cali-from-wl-dispatch -j DROP
-A cali-fw-cali1234 -m conntrack --ctstate INVALID -j DROP
-A cali-fw-cali1234 -m set --match-set cali40blocked src -j DROP
-A cali-fw-cali1234 -j MARK --set-xmark 0x10000/0x10000
COMMIT
*nat
:cali-POSTROUTING - [0:0]
:cali-nat-outgoing - [0:0]
-A POSTROUTING -m comment --comment \"cali:O3lYWMrLQYEMJtB5\" -j cali-POSTROUTING
-A cali-POSTROUTING -j cali-nat-outgoing
-A cali-nat-outgoing -m set --match-set cali40masq-ipam-pools src -m set ! --match-set cali40all-ipam-pools dst -j MASQUERADE --random-fully
COMMIT
";

/// The ipsets `CALICO_IPTABLES` matches.
const CALICO_SETS: [&str; 3] = [
    "create cali40blocked hash:ip\nadd cali40blocked 10.244.1.6\n",
    "create cali40masq-ipam-pools hash:net\nadd cali40masq-ipam-pools 10.244.0.0/16\n",
    "create cali40all-ipam-pools hash:net\nadd cali40all-ipam-pools 10.244.0.0/16\n",
];

/// Docker's nftables backend (`firewall-backend: nftables`): its own
/// table with interface verdict maps, for the same container.
const DOCKER_NFT: &str = "table ip docker-bridges {
  map filter-forward-in-jumps { type ifname : verdict ; elements = { \"docker0\" : jump filter-forward-in__docker0 } }
  map filter-forward-out-jumps { type ifname : verdict ; elements = { \"docker0\" : jump filter-forward-out__docker0 } }
  map nat-postrouting-in-jumps { type ifname : verdict ; elements = { \"docker0\" : jump nat-postrouting-in__docker0 } }
  chain filter-FORWARD {
    type filter hook forward priority filter ; policy accept ;
    oifname vmap @filter-forward-in-jumps
    iifname vmap @filter-forward-out-jumps
  }
  chain nat-PREROUTING {
    type nat hook prerouting priority dstnat ; policy accept ;
    fib daddr type local counter jump nat-prerouting-and-output
  }
  chain nat-OUTPUT {
    type nat hook output priority -100 ; policy accept ;
    ip daddr != 127.0.0.0/8 fib daddr type local counter jump nat-prerouting-and-output
  }
  chain nat-POSTROUTING {
    type nat hook postrouting priority srcnat ; policy accept ;
    iifname vmap @nat-postrouting-in-jumps
  }
  chain nat-prerouting-and-output {
    iifname != \"docker0\" tcp dport 8080 counter dnat to 172.17.0.2:80 comment \"DNAT\"
  }
  chain filter-forward-in__docker0 {
    ct state established,related counter accept
    ip daddr 172.17.0.2 tcp dport 80 counter accept
    counter drop comment \"UNPUBLISHED PORT DROP\"
  }
  chain filter-forward-out__docker0 {
    ct state established,related counter accept
    counter accept comment \"OUTGOING\"
  }
  chain nat-postrouting-in__docker0 {
    ip saddr 172.17.0.0/16 oifname != \"docker0\" counter masquerade
  }
}
";

/// A CNI's own nft table (Calico's nftables data plane, cilium-like
/// marks): the same policy as `CALICO_IPTABLES`.
const CNI_NFT: &str = "table inet cni {
  set blocked { type ipv4_addr ; elements = { 10.244.1.6 } ; }
  set pools { type ipv4_addr ; flags interval ; elements = { 10.244.0.0/16 } ; }
  chain forward {
    type filter hook forward priority filter - 5 ; policy accept ;
    meta mark set meta mark & 0xfff1ffff
    iifname \"cali*\" jump from-wl
    meta mark & 0x00010000 == 0x00010000 accept
  }
  chain from-wl {
    ct state invalid drop
    ip saddr @blocked drop
    meta mark set meta mark | 0x00010000
  }
  chain postrouting {
    type nat hook postrouting priority srcnat + 10 ; policy accept ;
    ip saddr @pools ip daddr != @pools masquerade fully-random
  }
}
";

/// Serves `port` on every address: answers each connection with the
/// address it reached and the peer's address, `10.244.2.10:8080 10.244.1.5`.
const SERVER: &str = "import socket,sys
v6=len(sys.argv)>2
s=socket.socket(socket.AF_INET6 if v6 else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)
s.bind(('::' if v6 else '0.0.0.0',int(sys.argv[1])))
s.listen(64)
s.settimeout(60)
while True:
    c,a=s.accept()
    h,p=c.getsockname()[:2]
    h=f'[{h}]' if v6 else h
    c.sendall(f'{h}:{p} {a[0]}\\n'.encode())
    c.close()
";

/// Connects `n` times from `src` to `dst:port`; one line per try: the
/// server's answer, `REFUSED` or `TIMEOUT`. The timeout outlasts one SYN
/// retransmission (1 s): over IPv6 the first ICMPv6 error of a REJECT can
/// be lost while the node resolves the pod's neighbour entry.
const CLIENT: &str = "import socket,sys
src,dst,port,n=sys.argv[1],sys.argv[2],int(sys.argv[3]),int(sys.argv[4])
for i in range(n):
    try:
        c=socket.create_connection((dst,port),timeout=3.0,source_address=(src,0))
        print(c.makefile().readline().strip())
        c.close()
    except ConnectionRefusedError:
        print('REFUSED')
    except (socket.timeout,TimeoutError):
        print('TIMEOUT')
    except OSError as e:
        print('ERROR',e.errno)
";

/// A listener started in a namespace; killed on drop (by its own handle).
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the listener and waits until it listens (a connection before
/// that would be refused by the endpoint itself).
fn serve(ns: &Netns, port: u16, v6: bool) -> Server {
    let child = Command::new("ip")
        .args(["netns", "exec", ns.name(), "python3", "-c", SERVER])
        .arg(port.to_string())
        .args(v6.then_some("6"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3");
    let server = Server(child);
    let filter = format!("sport = :{port}");
    for _ in 0..100 {
        let listening = ns.exec("ss", &["-Hltn", &filter], "");
        if listening.is_ok_and(|out| !out.trim().is_empty()) {
            return server;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("{}: nothing listens on port {port}", ns.name());
}

/// The node, a pod, two endpoints and a Docker container, wired by veth
/// pairs; the node forwards. Interfaces on the node: `cali1234` (the
/// pod's, as Calico names it), `vep` (the endpoints' network), `docker0`.
struct Lab {
    _servers: Vec<Server>,
    node: Netns,
    pod: Netns,
    _others: Vec<Netns>,
}

fn lab(tag: &str) -> Lab {
    let node = Netns::new(&format!("{tag}-node")).expect("ip netns add");
    let pod = Netns::new(&format!("{tag}-pod")).expect("ip netns add");
    let endpoints = Netns::new(&format!("{tag}-ep")).expect("ip netns add");
    let container = Netns::new(&format!("{tag}-ctr")).expect("ip netns add");
    let ip = |ns: &Netns, args: &str| {
        let a: Vec<&str> = args.split_whitespace().collect();
        ns.exec("ip", &a, "")
            .unwrap_or_else(|e| panic!("{}: ip {args}: {e}", ns.name()))
    };
    for (peer, here, there) in [
        (&pod, "cali1234", "eth0"),
        (&endpoints, "vep", "eth0"),
        (&container, "docker0", "eth0"),
    ] {
        run(
            "ip",
            &[
                "-n",
                node.name(),
                "link",
                "add",
                here,
                "type",
                "veth",
                "peer",
                "name",
                there,
                "netns",
                peer.name(),
            ],
            "",
        )
        .expect("veth");
    }
    ip(&node, "link set lo up");
    ip(&node, &format!("addr add {NODE_IP}/32 dev lo"));
    ip(&node, "addr add 10.244.1.1/24 dev cali1234");
    ip(&node, "addr add 10.244.2.1/24 dev vep");
    ip(&node, "addr add 172.17.0.1/16 dev docker0");
    for i in ["cali1234", "vep", "docker0"] {
        ip(&node, &format!("link set {i} up"));
    }
    // a client "outside the cluster" lives in the pod namespace too; the
    // default route is what lets a packet to a ClusterIP without endpoints
    // reach the FORWARD hook (where kube-proxy rejects it)
    ip(&node, "route add 203.0.113.9/32 dev cali1234");
    ip(&node, "route add default dev vep");
    for s in ["net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0"] {
        node.exec("sysctl", &["-qw", s], "").expect("sysctl");
    }
    for (ns, addrs, gw) in [
        (
            &pod,
            &["10.244.1.5/24", "10.244.1.6/24", "203.0.113.9/32"][..],
            "10.244.1.1",
        ),
        (
            &endpoints,
            &["10.244.2.10/24", "10.244.2.11/24"][..],
            "10.244.2.1",
        ),
        (&container, &["172.17.0.2/16"][..], "172.17.0.1"),
    ] {
        ip(ns, "link set lo up");
        ip(ns, "link set eth0 up");
        for a in addrs {
            ip(ns, &format!("addr add {a} dev eth0"));
        }
        ip(ns, &format!("route add default via {gw} dev eth0"));
    }
    let servers = vec![serve(&endpoints, 8080, false), serve(&container, 80, false)];
    Lab {
        _servers: servers,
        node,
        pod,
        _others: vec![endpoints, container],
    }
}

fn loaded() -> libsvc::Loaded {
    let o = Overrides {
        node_ips: vec![NODE_IP.parse().unwrap()],
        ip_family: Some(libsvc::config::IpFamily::IPv4),
        ..Default::default()
    };
    let l = libsvc::load(&[Input::new("cluster.yaml", CLUSTER)], &o);
    assert!(
        !l.diagnostics.iter().any(|d| d.is_error()),
        "{:#?}",
        l.diagnostics
    );
    l
}

/// One connection to try, and whether kube-proxy's model alone decides it
/// (the foreign rules leave it alone).
struct Case {
    what: &'static str,
    src: &'static str,
    dst: &'static str,
    port: u16,
    out_iface: &'static str,
    tries: usize,
    model_decides: bool,
}

const CASES: &[Case] = &[
    Case {
        what: "pod to web's ClusterIP",
        src: "10.244.1.5",
        dst: "10.96.0.20",
        port: 80,
        out_iface: "vep",
        tries: 24,
        model_decides: true,
    },
    Case {
        what: "outside to web's NodePort",
        src: "203.0.113.9",
        dst: NODE_IP,
        port: 30080,
        out_iface: "vep",
        tries: 24,
        model_decides: true,
    },
    Case {
        what: "pod to a Service without endpoints",
        src: "10.244.1.5",
        dst: "10.96.0.30",
        port: 80,
        out_iface: "vep",
        tries: 1,
        model_decides: true,
    },
    Case {
        what: "a pod the CNI blocks, to web's ClusterIP",
        src: "10.244.1.6",
        dst: "10.96.0.20",
        port: 80,
        out_iface: "vep",
        tries: 1,
        model_decides: false,
    },
    Case {
        what: "outside to Docker's published port",
        src: "203.0.113.9",
        dst: NODE_IP,
        port: 8080,
        out_iface: "docker0",
        tries: 2,
        model_decides: false,
    },
];

fn packet(c: &Case) -> Packet {
    Packet {
        src: c.src.parse().unwrap(),
        dst: c.dst.parse().unwrap(),
        port: c.port,
        protocol: Protocol::TCP,
        in_interface: Some("cali1234".into()),
    }
}

/// What real connections did, in the trace's words: the endpoints that
/// answered (or `REJECT` / `DROP`), and whether the endpoint saw another
/// source than the client's.
fn connect(lab: &Lab, c: &Case) -> (BTreeSet<String>, bool) {
    let out = lab
        .pod
        .exec(
            "python3",
            &[
                "-c",
                CLIENT,
                c.src,
                c.dst,
                &c.port.to_string(),
                &c.tries.to_string(),
            ],
            "",
        )
        .expect("client");
    let mut seen = BTreeSet::new();
    let mut masqueraded = false;
    for line in out.lines() {
        if line.starts_with("ERROR") {
            seen.insert(line.to_string());
            continue;
        }
        match line.split_once(' ') {
            Some((reached, peer)) => {
                seen.insert(reached.to_string());
                masqueraded |= peer != c.src;
            }
            None if line == "REFUSED" => {
                seen.insert("REJECT".to_string());
            }
            None if line == "TIMEOUT" => {
                seen.insert("DROP".to_string());
            }
            None => panic!("client said {line:?}"),
        }
    }
    (seen, masqueraded)
}

/// The dump trace's answer in the same words: endpoints, or the verdict.
fn answer(r: &libsvc::trace::TraceResult) -> BTreeSet<String> {
    if r.endpoints.is_empty() {
        r.outcome.split(", ").map(str::to_string).collect()
    } else {
        r.endpoints.iter().map(|e| e.endpoint.clone()).collect()
    }
}

fn shares(r: &libsvc::trace::TraceResult) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = r
        .endpoints
        .iter()
        .map(|e| (e.endpoint.clone(), (e.probability * 1e6).round() as u64))
        .collect();
    v.sort();
    v
}

/// Every case: dump trace against model trace and against real traffic.
fn agree(lab: &Lab, l: &libsvc::Loaded, mode: Mode, dumps: &[(&str, Dump)]) {
    agree_on(lab, l, mode, dumps, CASES, NODE_IP)
}

fn agree_on(
    lab: &Lab,
    l: &libsvc::Loaded,
    mode: Mode,
    dumps: &[(&str, Dump)],
    cases: &[Case],
    node_ip: &str,
) {
    let mut results = Vec::new();
    for c in cases {
        let p = packet(c);
        let (seen, masqueraded) = connect(lab, c);
        let model = libsvc::trace::trace(l, mode, &p).unwrap();
        for (name, d) in dumps {
            let opts = trace::Options {
                local: vec![node_ip.parse().unwrap()],
                in_iface: Some("cali1234".into()),
                out_iface: Some(c.out_iface.into()),
            };
            let t = trace::trace(d, &opts, &p);
            let mut wrong = Vec::new();
            if c.model_decides {
                let verdict = |r: &libsvc::trace::TraceResult| {
                    if r.endpoints.is_empty() {
                        r.outcome.clone()
                    } else {
                        String::new()
                    }
                };
                if shares(&model) != shares(&t.result) || verdict(&model) != verdict(&t.result) {
                    wrong.push(format!(
                        "model {:?} {:?}, dump {:?} {:?}",
                        model.outcome,
                        shares(&model),
                        t.result.outcome,
                        shares(&t.result)
                    ));
                }
                if model.masquerade != t.result.masquerade {
                    wrong.push(format!(
                        "masquerade: model {}, dump {}",
                        model.masquerade, t.result.masquerade
                    ));
                }
            }
            // the world the kernel was in: the main one, or (only where
            // the dump hides a match: iptables-nft's `xt match`) a branch
            let worlds = std::iter::once(&t.result).chain(
                t.branches
                    .iter()
                    .filter(|b| b.conditions.iter().all(|c| c.contains("xt match")))
                    .map(|b| &b.result),
            );
            let fits = |r: &&libsvc::trace::TraceResult| {
                answer(r) == seen
                    && (seen.contains("REJECT")
                        || seen.contains("DROP")
                        || r.masquerade == masqueraded)
            };
            if !worlds.clone().any(|r| fits(&r)) {
                wrong.push(format!(
                    "kernel answered {seen:?}, masqueraded: {masqueraded}"
                ));
            }
            let unexplained = t
                .branches
                .iter()
                .filter(|b| !b.conditions.iter().all(|c| c.contains("xt match")))
                .count();
            if unexplained > 0 {
                wrong.push(format!("{unexplained} branch(es)"));
            }
            results.push((
                format!("{name}: {}", c.what),
                if wrong.is_empty() {
                    Ok(())
                } else {
                    Err(format!("{}\n{}", wrong.join("; "), trace::report(&p, &t)))
                },
            ));
        }
    }
    let family = if node_ip.contains(':') { "-ipv6" } else { "" };
    common::report(&format!("traffic-kernel-{mode:?}{family}"), &results, &[]);
}

fn read(name: &str, text: &[&str]) -> Dump {
    let inputs: Vec<Input> = text.iter().map(|t| Input::new(name, *t)).collect();
    let (d, diags) = dump::load(&inputs);
    assert!(diags.is_empty(), "{name}: {diags:#?}\n{}", text.join("\n"));
    d
}

fn tools(extra: &[&str]) -> bool {
    kernel_tests_enabled()
        && ["ip", "python3", "sysctl", "ss"]
            .iter()
            .chain(extra)
            .all(|t| have(t))
}

/// svcgen's iptables render next to Docker's and Calico's chains, with
/// the tools of `backend` (`` for iptables-nft, `-legacy`).
fn iptables_lab(backend: &str) {
    let (restore, save) = (
        format!("iptables{backend}-restore"),
        format!("iptables{backend}-save"),
    );
    if !tools(&[&restore, &save, "ipset"]) {
        return;
    }
    let lab = lab(&format!("trf-ipt{backend}"));
    let l = loaded();
    let n = &lab.node;
    for set in CALICO_SETS {
        n.exec("ipset", &["restore"], set).expect("ipset restore");
    }
    let opts = RenderOptions {
        with_jumps: true,
        ..Default::default()
    };
    let text = render(&l, Mode::Iptables, &opts).unwrap().text;
    for rules in [text.as_str(), DOCKER_IPTABLES, CALICO_IPTABLES] {
        n.exec(&restore, &["--noflush"], rules).unwrap();
    }
    let saved = n.exec(&save, &[], "").unwrap();
    let sets = n.exec("ipset", &["save"], "").unwrap();
    let d = read("node", &[&saved, &sets]);
    agree(
        &lab,
        &l,
        Mode::Iptables,
        &[(&format!("{save} + ipset save"), d)],
    );
}

#[test]
fn iptables_node_next_to_docker_and_calico_traces_like_real_traffic() {
    iptables_lab("");
}

#[test]
fn iptables_legacy_node_next_to_docker_and_calico_traces_like_real_traffic() {
    iptables_lab("-legacy");
}

#[test]
fn nftables_node_next_to_docker_and_a_cni_traces_like_real_traffic() {
    if !tools(&["nft"]) {
        return;
    }
    let lab = lab("trf-nft");
    let l = loaded();
    let n = &lab.node;
    let text = render(&l, Mode::Nftables, &RenderOptions::default())
        .unwrap()
        .text;
    n.exec("nft", &["-f", "-"], &text).unwrap();
    n.exec("nft", &["-f", "-"], DOCKER_NFT).unwrap();
    n.exec("nft", &["-f", "-"], CNI_NFT).unwrap();
    let listed = n.exec("nft", &["list", "ruleset"], "").unwrap();
    let json = n.exec("nft", &["-j", "list", "ruleset"], "").unwrap();
    agree(
        &lab,
        &l,
        Mode::Nftables,
        &[
            ("nft list ruleset", read("node.nft", &[&listed])),
            ("nft -j list ruleset", read("node.json", &[&json])),
        ],
    );
}

/// kube-proxy in nftables mode on a host whose Docker and CNI write
/// iptables rules through iptables-nft: one `nft list ruleset` holds all of
/// it (the iptables-nft tables as nft prints them). nft prints the
/// CNI's `-m set --match-set` as a bare `xt match "set"` (the set's name
/// is not in the listing), so the blocked pod's DROP is a branch of the
/// trace ("if it matches"), and real traffic takes that branch.
#[test]
fn nftables_node_next_to_iptables_nft_docker_and_calico_traces_like_real_traffic() {
    if !tools(&["nft", "iptables-restore", "ipset"]) {
        return;
    }
    let lab = lab("trf-mix");
    let l = loaded();
    let n = &lab.node;
    for set in CALICO_SETS {
        n.exec("ipset", &["restore"], set).expect("ipset restore");
    }
    let text = render(&l, Mode::Nftables, &RenderOptions::default())
        .unwrap()
        .text;
    n.exec("nft", &["-f", "-"], &text).unwrap();
    n.exec("iptables-restore", &["--noflush"], DOCKER_IPTABLES)
        .unwrap();
    n.exec("iptables-restore", &["--noflush"], CALICO_IPTABLES)
        .unwrap();
    let listed = n.exec("nft", &["list", "ruleset"], "").unwrap();
    let sets = n.exec("ipset", &["save"], "").unwrap();
    agree(
        &lab,
        &l,
        Mode::Nftables,
        &[(
            "nft list ruleset + ipset save",
            read("node", &[&listed, &sets]),
        )],
    );
    // `nft -j` gives iptables-nft's extensions by name only (`{"xt":
    // {"type": "match", "name": "set"}}`; the text listing translates
    // them): the trace cannot decide them and says so, never assuming
    let json = n.exec("nft", &["-j", "list", "ruleset"], "").unwrap();
    let d = read("node.json", &[&json]);
    let p = packet(&CASES[3]);
    let opts = trace::Options {
        local: vec![NODE_IP.parse().unwrap()],
        in_iface: Some("cali1234".into()),
        out_iface: Some("vep".into()),
    };
    let t = trace::trace(&d, &opts, &p);
    let unknown: Vec<&String> = t
        .branches
        .iter()
        .flat_map(|b| &b.conditions)
        .chain(&t.result.notes)
        .filter(|c| c.contains("\"xt\""))
        .collect();
    assert!(
        unknown.iter().any(|c| c.contains("\"set\"")),
        "{}",
        trace::report(&p, &t)
    );
    assert!(
        t.branches.iter().any(|b| b.result.outcome == "DROP"),
        "{}",
        trace::report(&p, &t)
    );
}

const NODE_IP6: &str = "fd00::2";

/// web and empty again, single-stack IPv6.
const CLUSTER6: &str = "apiVersion: v1
kind: Node
metadata: {name: test-node}
status:
  addresses: [{type: InternalIP, address: \"fd00::2\"}]
---
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clusterCIDR: fd00:244::/32
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: NodePort
  ipFamilies: [IPv6]
  clusterIP: fd00:96::20
  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30080, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  namespace: default
  labels: {kubernetes.io/service-name: web}
addressType: IPv6
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
- addresses: [\"fd00:244:2::10\"]
  nodeName: other-node
  conditions: {ready: true}
- addresses: [\"fd00:244:2::11\"]
  nodeName: other-node
  conditions: {ready: true}
---
apiVersion: v1
kind: Service
metadata: {name: empty, namespace: default}
spec:
  ipFamilies: [IPv6]
  clusterIP: fd00:96::30
  ports: [{name: http, port: 80, targetPort: 8080, protocol: TCP}]
";

/// A CNI's IPv6 forwarding chain, as ip6tables writes it.
const CNI_IP6TABLES: &str = "*filter
:CNI-FORWARD - [0:0]
-A FORWARD -m comment --comment \"CNI firewall plugin rules\" -j CNI-FORWARD
-A CNI-FORWARD -s fd00:244:1::6/128 -j DROP
-A CNI-FORWARD -i cali+ -j ACCEPT
COMMIT
";

const CASES6: &[Case] = &[
    Case {
        what: "pod to web's ClusterIP",
        src: "fd00:244:1::5",
        dst: "fd00:96::20",
        port: 80,
        out_iface: "vep",
        tries: 24,
        model_decides: true,
    },
    Case {
        what: "outside to web's NodePort",
        src: "2001:db8::9",
        dst: NODE_IP6,
        port: 30080,
        out_iface: "vep",
        tries: 24,
        model_decides: true,
    },
    Case {
        what: "pod to a Service without endpoints",
        src: "fd00:244:1::5",
        dst: "fd00:96::30",
        port: 80,
        out_iface: "vep",
        tries: 1,
        model_decides: true,
    },
    Case {
        what: "a pod the CNI blocks, to web's ClusterIP",
        src: "fd00:244:1::6",
        dst: "fd00:96::20",
        port: 80,
        out_iface: "vep",
        tries: 1,
        model_decides: false,
    },
];

/// The IPv6 node, pod and endpoints (no Docker: it leaves IPv6 alone by
/// default); addresses without duplicate address detection, so they are
/// usable at once.
fn lab6(tag: &str) -> Lab {
    let node = Netns::new(&format!("{tag}-node")).expect("ip netns add");
    let pod = Netns::new(&format!("{tag}-pod")).expect("ip netns add");
    let endpoints = Netns::new(&format!("{tag}-ep")).expect("ip netns add");
    let ip = |ns: &Netns, args: &str| {
        let a: Vec<&str> = args.split_whitespace().collect();
        ns.exec("ip", &a, "")
            .unwrap_or_else(|e| panic!("{}: ip {args}: {e}", ns.name()))
    };
    for (peer, here) in [(&pod, "cali1234"), (&endpoints, "vep")] {
        run(
            "ip",
            &[
                "-n",
                node.name(),
                "link",
                "add",
                here,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                peer.name(),
            ],
            "",
        )
        .expect("veth");
    }
    ip(&node, "link set lo up");
    ip(&node, &format!("-6 addr add {NODE_IP6}/128 dev lo"));
    ip(&node, "-6 addr add fd00:244:1::1/64 dev cali1234 nodad");
    ip(&node, "-6 addr add fd00:244:2::1/64 dev vep nodad");
    for i in ["cali1234", "vep"] {
        ip(&node, &format!("link set {i} up"));
    }
    ip(&node, "-6 route add 2001:db8::9/128 dev cali1234");
    ip(&node, "-6 route add default dev vep");
    node.exec("sysctl", &["-qw", "net.ipv6.conf.all.forwarding=1"], "")
        .expect("sysctl");
    for (ns, addrs, gw) in [
        (
            &pod,
            &["fd00:244:1::5/64", "fd00:244:1::6/64", "2001:db8::9/128"][..],
            "fd00:244:1::1",
        ),
        (
            &endpoints,
            &["fd00:244:2::10/64", "fd00:244:2::11/64"][..],
            "fd00:244:2::1",
        ),
    ] {
        ip(ns, "link set lo up");
        ip(ns, "link set eth0 up");
        for a in addrs {
            ip(ns, &format!("-6 addr add {a} dev eth0 nodad"));
        }
        ip(ns, &format!("-6 route add default via {gw} dev eth0"));
    }
    let servers = vec![serve(&endpoints, 8080, true)];
    Lab {
        _servers: servers,
        node,
        pod,
        _others: vec![endpoints],
    }
}

fn loaded6() -> libsvc::Loaded {
    let o = Overrides {
        node_ips: vec![NODE_IP6.parse().unwrap()],
        ip_family: Some(libsvc::config::IpFamily::IPv6),
        service_cidrs: vec!["fd00:96::/112".parse().unwrap()],
        ..Default::default()
    };
    let l = libsvc::load(&[Input::new("cluster6.yaml", CLUSTER6)], &o);
    assert!(
        !l.diagnostics.iter().any(|d| d.is_error()),
        "{:#?}",
        l.diagnostics
    );
    l
}

/// IPv6: `ip6tables-save` and `nft list ruleset` of nodes holding the
/// render next to a CNI's rules, against real IPv6 connections.
#[test]
fn ipv6_nodes_trace_like_real_traffic() {
    if !tools(&["ip6tables-restore", "ip6tables-save", "nft"]) {
        return;
    }
    let l = loaded6();
    {
        let lab = lab6("trf-ip6t");
        let n = &lab.node;
        for rs in libsvc::proxy::iptables::rulesets(&l) {
            if rs.family == libsvc::config::IpFamily::IPv6 {
                let text = libsvc::proxy::iptables::render::restore_text(&rs, true);
                n.exec("ip6tables-restore", &["--noflush"], &text).unwrap();
            }
        }
        n.exec("ip6tables-restore", &["--noflush"], CNI_IP6TABLES)
            .unwrap();
        let saved = n.exec("ip6tables-save", &[], "").unwrap();
        let d = read("node", &[&saved]);
        agree_on(
            &lab,
            &l,
            Mode::Iptables,
            &[("ip6tables-save", d)],
            CASES6,
            NODE_IP6,
        );
    }
    let lab = lab6("trf-nft6");
    let n = &lab.node;
    let text = render(&l, Mode::Nftables, &RenderOptions::default())
        .unwrap()
        .text;
    n.exec("nft", &["-f", "-"], &text).unwrap();
    n.exec(
        "nft",
        &["-f", "-"],
        "table inet cni6 {\n chain forward {\n  type filter hook forward priority filter - 5 ; policy accept ;\n  ip6 saddr fd00:244:1::6 drop\n  iifname \"cali*\" accept\n }\n}\n",
    )
    .unwrap();
    let listed = n.exec("nft", &["list", "ruleset"], "").unwrap();
    let json = n.exec("nft", &["-j", "list", "ruleset"], "").unwrap();
    agree_on(
        &lab,
        &l,
        Mode::Nftables,
        &[
            ("nft list ruleset", read("node.nft", &[&listed])),
            ("nft -j list ruleset", read("node.json", &[&json])),
        ],
        CASES6,
        NODE_IP6,
    );
}
