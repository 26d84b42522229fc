//! A node's rules as the kernel holds them: svcgen's render applied with
//! the real tools in a network namespace next to foreign rulesets (a
//! Docker-like and a CNI-like one, written here), dumped with
//! `iptables-save`, `nft list ruleset`, `nft -j list ruleset` and
//! `ipset save`, read back and traced; the dump's trace agrees with the
//! trace of the model it came from, and the foreign rules act as written.
//!
//! Needs root, `iptables-restore`, `nft` and `ipset`; skipped (with a
//! message) when not root or when `SVCGEN_SKIP_KERNEL_TESTS` is set.

mod common;

use common::netns::{Netns, have, kernel_tests_enabled};
use libsvc::dump::{self, trace};
use libsvc::render::Mode;
use libsvc::table::Protocol;
use libsvc::trace::Packet;
use libsvc::{Input, Overrides};

const NODE_IP: &str = "192.168.0.2";

/// Docker's chains as `dockerd` writes them for one published port.
const DOCKER: &str = "*filter
:DOCKER - [0:0]
:DOCKER-USER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-USER -j RETURN
COMMIT
*nat
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
COMMIT
";

/// A CNI plugin's chains (flannel / Calico-like), with an ipset and a
/// match svcgen does not know (`-m owner`).
const CNI: &str = "*filter
:CNI-FORWARD - [0:0]
-I FORWARD -m comment --comment \"CNI firewall plugin rules\" -j CNI-FORWARD
-A CNI-FORWARD -m set --match-set cni-blocked src -j DROP
-A CNI-FORWARD -s 10.244.0.0/16 -j ACCEPT
-A CNI-FORWARD -d 10.244.0.0/16 -j ACCEPT
-A OUTPUT -m owner --uid-owner 4242 -j DROP
COMMIT
*nat
:CNI-POSTROUTING - [0:0]
-A POSTROUTING -j CNI-POSTROUTING
-A CNI-POSTROUTING -s 10.244.0.0/16 ! -d 10.244.0.0/16 -j MASQUERADE
COMMIT
";

const CNI_NFT: &str = "table inet cni {
  set blocked { type ipv4_addr ; elements = { 10.244.9.9 } ; }
  chain forward {
    type filter hook forward priority filter + 10 ; policy accept ;
    ip saddr @blocked drop
    iifname \"cni0\" ip saddr 10.244.0.0/16 counter accept
    meta skuid 4242 drop
  }
}
";

fn loaded() -> libsvc::Loaded {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut inputs = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "yaml") {
            inputs.push(Input::new(
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            ));
        }
    }
    inputs.sort_by(|a, b| a.name.cmp(&b.name));
    let o = Overrides {
        node_ips: vec![NODE_IP.parse().unwrap()],
        ..Default::default()
    };
    libsvc::load(&inputs, &o)
}

fn packet(src: &str, dst: &str, port: u16) -> Packet {
    Packet {
        src: src.parse().unwrap(),
        dst: dst.parse().unwrap(),
        port,
        protocol: Protocol::TCP,
        in_interface: None,
    }
}

/// Service packets of the examples, from a pod, from outside, from the node.
fn service_packets(l: &libsvc::Loaded) -> Vec<Packet> {
    let mut out = Vec::new();
    for s in &l.table.services {
        for ip in s.cluster_ips.iter().filter(|ip| ip.is_ipv4()) {
            for p in &s.ports {
                out.push(packet("10.244.1.5", &ip.to_string(), p.port));
                out.push(packet(NODE_IP, &ip.to_string(), p.port));
                if let Some(np) = p.node_port {
                    out.push(packet("203.0.113.9", NODE_IP, np));
                }
            }
        }
    }
    out
}

fn opts() -> trace::Options {
    trace::Options {
        local: vec![NODE_IP.parse().unwrap()],
        ..Default::default()
    }
}

/// Every chain of `want` whose name starts with `prefix` holds, in `got`'s
/// table of the same name and family, the same rules (canonical form).
fn same_chains(
    want: &[libsvc::dump::model::Table],
    got: &[libsvc::dump::model::Table],
    prefix: &str,
) {
    let mut n = 0;
    for wt in want {
        let gt = got
            .iter()
            .find(|t| t.name == wt.name && t.family == wt.family)
            .unwrap_or_else(|| panic!("table {} missing from the dump", wt.name));
        for wc in wt.chains.iter().filter(|c| c.name.starts_with(prefix)) {
            let gc = gt
                .chain(&wc.name)
                .unwrap_or_else(|| panic!("chain {} missing", wc.name));
            let a: Vec<String> = wc.rules.iter().map(|r| r.canonical()).collect();
            let b: Vec<String> = gc.rules.iter().map(|r| r.canonical()).collect();
            assert_eq!(a, b, "{} {}", wt.name, wc.name);
            assert_eq!(wc.base, gc.base, "{} {}", wt.name, wc.name);
            n += 1;
        }
        // sets and maps: the same elements (in any order) and timeout
        for ws in &wt.sets {
            let gs = gt
                .set(&ws.name)
                .unwrap_or_else(|| panic!("set {} missing", ws.name));
            let sorted = |s: &libsvc::dump::model::Set| {
                let mut v: Vec<String> = s.elements.iter().map(|e| format!("{e:?}")).collect();
                v.sort();
                v
            };
            assert_eq!(sorted(ws), sorted(gs), "{} set {}", wt.name, ws.name);
            assert_eq!(ws.timeout, gs.timeout, "{} set {}", wt.name, ws.name);
        }
    }
    assert!(n > 0);
}

fn read(name: &str, text: &str) -> libsvc::dump::model::Dump {
    let (d, diags) = dump::load(&[Input::new(name, text)]);
    assert!(diags.is_empty(), "{name}: {diags:#?}\n{text}");
    d
}

#[test]
fn iptables_dump_of_a_mixed_node_traces_like_the_model() {
    if !kernel_tests_enabled() || !have("iptables-restore") || !have("ipset") {
        return;
    }
    let ns = Netns::new("dump-ipt").expect("ip netns add");
    let l = loaded();
    ns.exec("ipset", &["create", "cni-blocked", "hash:ip"], "")
        .unwrap();
    ns.exec("ipset", &["add", "cni-blocked", "10.244.9.9"], "")
        .unwrap();
    for rs in libsvc::proxy::iptables::rulesets(&l) {
        if rs.family != libsvc::config::IpFamily::IPv4 {
            continue;
        }
        let text = libsvc::proxy::iptables::render::restore_text(&rs, true);
        ns.exec("iptables-restore", &["--noflush"], &text).unwrap();
    }
    ns.exec("iptables-restore", &["--noflush"], DOCKER).unwrap();
    ns.exec("iptables-restore", &["--noflush"], CNI).unwrap();
    let saved = ns.exec("iptables-save", &[], "").unwrap();
    let sets = ns.exec("ipset", &["save"], "").unwrap();
    let (mut d, diags) = dump::load(&[
        Input::new("iptables-save", saved.clone()),
        Input::new("ipset", sets),
    ]);
    assert!(diags.is_empty(), "{diags:#?}\n{saved}");
    // model to model: kube-proxy's chains in the dump are the render's
    for rs in libsvc::proxy::iptables::rulesets(&l) {
        if rs.family == libsvc::config::IpFamily::IPv4 {
            same_chains(&dump::iptables::from_kube(&rs).tables, &d.tables, "KUBE-");
        }
    }
    let mut results = Vec::new();
    for p in service_packets(&l) {
        let model = libsvc::trace::trace(&l, Mode::Iptables, &p).unwrap();
        let t = trace::trace(&d, &opts(), &p);
        let mut a: Vec<&str> = model.outcome.split(", ").collect();
        let mut b: Vec<&str> = t.result.outcome.split(", ").collect();
        a.sort();
        b.sort();
        // the CNI plugin accepts pod traffic the model leaves unjudged
        let b: Vec<&str> = b
            .into_iter()
            .map(|x| {
                if x == "ACCEPT" && !a.contains(&"ACCEPT") {
                    ""
                } else {
                    x
                }
            })
            .collect();
        // the CNI masquerades pod traffic leaving the pod network
        let pods: ipnet::IpNet = "10.244.0.0/16".parse().unwrap();
        let cni_masq = pods.contains(&p.src)
            && a.iter().any(|e| {
                e.parse::<std::net::SocketAddr>()
                    .is_ok_and(|s| !pods.contains(&s.ip()))
            });
        let ok = a == b
            && ((model.masquerade || cni_masq) == t.result.masquerade
                || a == ["REJECT"]
                || a == ["DROP"]);
        results.push((
            format!("{} -> {}:{}", p.src, p.dst, p.port),
            if ok {
                Ok(())
            } else {
                Err(format!(
                    "model {:?}/{} dump {:?}/{}\n{}",
                    model.outcome,
                    model.masquerade,
                    t.result.outcome,
                    t.result.masquerade,
                    trace::report(&p, &t)
                ))
            },
        ));
    }
    common::report("dump-kernel-iptables", &results, &[]);
    // Docker's published port, and the CNI's ipset and owner match
    let docker = trace::trace(&d, &opts(), &packet("203.0.113.9", NODE_IP, 8080));
    assert_eq!(
        docker.result.outcome,
        "172.17.0.2:80",
        "{}",
        trace::report(&packet("203.0.113.9", NODE_IP, 8080), &docker)
    );
    let blocked = trace::trace(&d, &opts(), &packet("10.244.9.9", "10.244.2.2", 80));
    assert_eq!(blocked.result.outcome, "DROP");
    let from_node = trace::trace(&d, &opts(), &packet(NODE_IP, "10.244.2.2", 80));
    assert_eq!(from_node.result.outcome, "");
    assert_eq!(from_node.branches.len(), 1, "{from_node:#?}");
    assert_eq!(from_node.branches[0].result.outcome, "DROP");
    assert!(from_node.branches[0].conditions[0].contains("-m owner --uid-owner 4242"));
    d.tables.clear();
}

#[test]
fn nft_dumps_of_a_mixed_node_trace_like_the_model() {
    if !kernel_tests_enabled() || !have("nft") {
        return;
    }
    let ns = Netns::new("dump-nft").expect("ip netns add");
    let l = loaded();
    let text = libsvc::proxy::nftables::render(&l, &Default::default())
        .unwrap()
        .text;
    ns.exec("nft", &["-f", "-"], &text).unwrap();
    ns.exec("nft", &["-f", "-"], CNI_NFT).unwrap();
    let listed = ns.exec("nft", &["list", "ruleset"], "").unwrap();
    let json = ns.exec("nft", &["-j", "list", "ruleset"], "").unwrap();
    let mut results = Vec::new();
    let rendered = dump::parse("render", &text).tables;
    for (name, d) in [
        ("nft list ruleset", read("list", &listed)),
        ("nft -j list ruleset", read("json", &json)),
    ] {
        // model to model: the kube-proxy tables in the dump are the render's
        same_chains(&rendered, &d.tables, "");
        for p in service_packets(&l) {
            let model = libsvc::trace::trace(&l, Mode::Nftables, &p).unwrap();
            let t = trace::trace(&d, &opts(), &p);
            let mut a: Vec<&str> = model.outcome.split(", ").collect();
            let mut b: Vec<&str> = t.result.outcome.split(", ").collect();
            a.sort();
            b.sort();
            let b: Vec<&str> = b
                .into_iter()
                .map(|x| {
                    if x == "ACCEPT" && !a.contains(&"ACCEPT") {
                        ""
                    } else {
                        x
                    }
                })
                .collect();
            let ok = a == b
                && (model.masquerade == t.result.masquerade || a == ["REJECT"] || a == ["DROP"]);
            results.push((
                format!("{name}: {} -> {}:{}", p.src, p.dst, p.port),
                if ok {
                    Ok(())
                } else {
                    Err(format!(
                        "model {:?}/{} dump {:?}/{}\n{}",
                        model.outcome,
                        model.masquerade,
                        t.result.outcome,
                        t.result.masquerade,
                        trace::report(&p, &t)
                    ))
                },
            ));
        }
        let blocked = trace::trace(&d, &opts(), &packet("10.244.9.9", "10.244.2.2", 80));
        assert_eq!(blocked.result.outcome, "DROP", "{name}");
    }
    common::report("dump-kernel-nft", &results, &[]);
}

/// Real traffic agrees with the dump's trace: in a namespace holding
/// svcgen's iptables rules for the examples, the node connects to
/// redis-master's ClusterIP; the connection lands on the endpoint address
/// the trace of the namespace's `iptables-save` names.
#[test]
fn real_traffic_lands_where_the_dump_trace_says() {
    if !kernel_tests_enabled() || !have("iptables-restore") || !have("python3") {
        return;
    }
    let ns = Netns::new("dump-traffic").expect("ip netns add");
    let ip = |args: &[&str]| ns.exec("ip", args, "").unwrap();
    ip(&["link", "set", "lo", "up"]);
    // the node's address, and a default route (the ClusterIP is routed
    // before OUTPUT's DNAT rewrites it)
    ip(&["addr", "add", &format!("{NODE_IP}/32"), "dev", "lo"]);
    ip(&["route", "add", "default", "dev", "lo"]);
    // redis-master's one endpoint lives on this node
    ip(&["addr", "add", "10.244.1.2/32", "dev", "lo"]);
    let l = loaded();
    for rs in libsvc::proxy::iptables::rulesets(&l) {
        if rs.family == libsvc::config::IpFamily::IPv4 {
            let text = libsvc::proxy::iptables::render::restore_text(&rs, true);
            ns.exec("iptables-restore", &["--noflush"], &text).unwrap();
        }
    }
    let saved = ns.exec("iptables-save", &[], "").unwrap();
    let d = read("iptables-save", &saved);
    let p = packet(NODE_IP, "10.0.0.11", 6379);
    let t = trace::trace(&d, &opts(), &p);
    assert_eq!(
        t.result.outcome,
        "10.244.1.2:6379",
        "{}",
        trace::report(&p, &t)
    );

    // a server on every address; it prints the address the connection reached
    let server = std::process::Command::new("ip")
        .args(["netns", "exec", ns.name(), "python3", "-c",
            "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('0.0.0.0',6379))\ns.listen(1)\ns.settimeout(10)\nc,a=s.accept()\nh,p=c.getsockname()\nprint(f'{h}:{p}')"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let client = ns.exec(
        "python3",
        &[
            "-c",
            "import socket\nsocket.create_connection(('10.0.0.11',6379),timeout=5)",
        ],
        "",
    );
    let out = server.wait_with_output().unwrap();
    client.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "10.244.1.2:6379"
    );
}
