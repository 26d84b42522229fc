//! `dump::check` against a kernel: svcgen's render applied with the real
//! tools in a network namespace next to foreign chains, dumped with
//! `iptables-save` / `nft list ruleset` / `nft -j list ruleset` /
//! `ipset save`, is in sync; drift made by hand with the real tools, each
//! alone, is reported exactly and nothing else is — iptables: an endpoint
//! changed, a KUBE-SEP chain deleted, a stale rule, a rule twice, a
//! Service port's KUBE-SVC chain missing; nftables: an endpoint changed or
//! removed in a DNAT map, an endpoint chain deleted, a stale rule, a
//! Service port's chain missing, a map element removed; IPVS: a kernel
//! ipset entry deleted, a real server changed (`ipvsadm-save` text: this
//! kernel has no IPVS).
//!
//! Needs root, `iptables-restore`, `ipset` and `nft`; skipped (with a
//! message) when not root or when `SVCGEN_SKIP_KERNEL_TESTS` is set.

mod common;

use common::netns::{Netns, have, kernel_tests_enabled};
use libsvc::dump::check::{Kind, Report, check};
use libsvc::dump::{self, model::Dump};
use libsvc::render::{Mode, RenderOptions, render};
use libsvc::{Input, Overrides};

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
        node_ips: vec!["192.168.0.2".parse().unwrap()],
        ip_family: Some(libsvc::config::IpFamily::IPv4),
        ..Default::default()
    };
    libsvc::load(&inputs, &o)
}

fn read(name: &str, text: &str) -> Dump {
    let (d, diags) = dump::load(&[Input::new(name, text)]);
    assert!(diags.is_empty(), "{diags:#?}\n{text}");
    d
}

const FOREIGN: &str = "*filter
:DOCKER - [0:0]
:KUBE-KUBELET-CANARY - [0:0]
-A FORWARD -o docker0 -j DOCKER
-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
COMMIT
*nat
:CNI-POSTROUTING - [0:0]
-A POSTROUTING -j CNI-POSTROUTING
-A CNI-POSTROUTING -s 10.244.0.0/16 ! -d 10.244.0.0/16 -j MASQUERADE
COMMIT
";

fn lines(r: &Report) -> Vec<String> {
    r.differences
        .iter()
        .map(|d| d.to_string().split(" at ").next().unwrap().to_string())
        .collect()
}

#[test]
fn iptables_node_in_sync_then_drift_by_hand() {
    if !kernel_tests_enabled() || !have("iptables-restore") {
        return;
    }
    let ns = Netns::new("check-ipt").expect("ip netns add");
    let l = loaded();
    let opts = RenderOptions {
        with_jumps: true,
        ..Default::default()
    };
    let text = render(&l, Mode::Iptables, &opts).unwrap().text;
    ns.exec("iptables-restore", &["--noflush"], &text).unwrap();
    ns.exec("iptables-restore", &["--noflush"], FOREIGN)
        .unwrap();
    let save = |ns: &Netns| read("iptables-save", &ns.exec("iptables-save", &[], "").unwrap());
    let r = check(&l, Mode::Iptables, &save(&ns)).unwrap();
    assert!(r.in_sync, "{}", r.text());

    // the first endpoint chain, the rule jumping to it, its DNAT
    let jump = text
        .lines()
        .find(|x| x.starts_with("-A KUBE-SVC-") && x.contains("-j KUBE-SEP-"))
        .unwrap();
    let sep = jump.rsplit("-j ").next().unwrap();
    let sep_rules: Vec<&str> = text
        .lines()
        .filter(|x| x.starts_with(&format!("-A {sep} ")))
        .collect();
    let dnat = sep_rules
        .iter()
        .find(|x| x.contains("--to-destination"))
        .unwrap();
    let dest = dnat.rsplit("--to-destination ").next().unwrap();
    let sp = dnat
        .split("--comment ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .trim_matches('"');

    // an endpoint changed (iptables -R through iptables-restore's -D/-A)
    let changed = dnat.replace(dest, "10.244.2.7:8080");
    ns.exec(
        "iptables-restore",
        &["--noflush"],
        &format!(
            "*nat\n{}\n{changed}\nCOMMIT\n",
            dnat.replacen("-A ", "-D ", 1)
        ),
    )
    .unwrap();
    let r = check(&l, Mode::Iptables, &save(&ns)).unwrap();
    assert_eq!(
        lines(&r),
        [
            format!("{sp}: endpoint {dest} in an EndpointSlice but not programmed (nat/{sep})"),
            format!(
                "{sp}: endpoint 10.244.2.7:8080 programmed but not in any EndpointSlice (nat/{sep})"
            ),
        ],
        "{}",
        r.text()
    );

    // the KUBE-SEP chain deleted (and the jump to it)
    ns.exec(
        "iptables-restore",
        &["--noflush"],
        &format!(
            "*nat\n{}\n-F {sep}\n-X {sep}\nCOMMIT\n",
            jump.replacen("-A ", "-D ", 1)
        ),
    )
    .unwrap();
    let r = check(&l, Mode::Iptables, &save(&ns)).unwrap();
    // the chain, each of its rules, the jump: all missing, all of its Service port
    assert_eq!(r.differences.len(), sep_rules.len() + 2, "{}", r.text());
    for d in &r.differences {
        assert_eq!(d.kind, Kind::Missing, "{d}");
        assert_eq!(d.service_port.as_deref(), Some(sp), "{d}");
    }

    // put it back (a second full restore would duplicate the jumps from the
    // built-in chains: real drift), then add a stale rule
    ns.exec(
        "iptables-restore",
        &["--noflush"],
        &format!(
            "*nat\n:{sep} - [0:0]\n{}\n{jump}\nCOMMIT\n",
            sep_rules.join("\n")
        ),
    )
    .unwrap();
    let r = check(&l, Mode::Iptables, &save(&ns)).unwrap();
    assert!(r.in_sync, "{}", r.text());
    ns.exec(
        "iptables-restore",
        &["--noflush"],
        "*nat\n-A KUBE-SERVICES -d 10.96.99.99/32 -p tcp -m comment --comment \"default/gone:http cluster IP\" -m tcp --dport 80 -j KUBE-MARK-MASQ\nCOMMIT\n",
    )
    .unwrap();
    let r = check(&l, Mode::Iptables, &save(&ns)).unwrap();
    assert_eq!(
        lines(&r),
        [
            "default/gone:http: rule `-d 10.96.99.99/32 -p tcp -m comment --comment \"default/gone:http cluster IP\" -m tcp --dport 80 -j KUBE-MARK-MASQ` programmed but not in the manifests (nat/KUBE-SERVICES)"
        ],
        "{}",
        r.text()
    );
}

#[test]
fn nftables_node_in_sync_then_an_element_removed() {
    if !kernel_tests_enabled() || !have("nft") {
        return;
    }
    let ns = Netns::new("check-nft").expect("ip netns add");
    let l = loaded();
    let text = render(&l, Mode::Nftables, &RenderOptions::default())
        .unwrap()
        .text;
    ns.exec("nft", &["-f", "-"], &text).unwrap();
    ns.exec(
        "nft",
        &["-f", "-"],
        "table inet cni {\n chain forward {\n  type filter hook forward priority filter + 10 ; policy accept ;\n  iifname \"cni0\" ip saddr 10.244.0.0/16 counter accept\n }\n}\n",
    )
    .unwrap();
    let list = |ns: &Netns| read("nft", &ns.exec("nft", &["list", "ruleset"], "").unwrap());
    let r = check(&l, Mode::Nftables, &list(&ns)).unwrap();
    assert!(r.in_sync, "{}", r.text());
    // `nft -j list ruleset` reads to the same model
    let json = ns.exec("nft", &["-j", "list", "ruleset"], "").unwrap();
    let r = check(&l, Mode::Nftables, &read("nft.json", &json)).unwrap();
    assert!(r.in_sync, "{}", r.text());

    // `add element ip kube-proxy service-ips { KEY : goto CHAIN }`
    let add = text
        .lines()
        .find(|x| x.starts_with("add element ip kube-proxy service-ips"))
        .unwrap();
    let inner = add.split_once('{').unwrap().1.rsplit_once('}').unwrap().0;
    let key = inner.split(" : ").next().unwrap().trim();
    ns.exec(
        "nft",
        &["-f", "-"],
        &format!("delete element ip kube-proxy service-ips {{ {key} }}\n"),
    )
    .unwrap();
    let r = check(&l, Mode::Nftables, &list(&ns)).unwrap();
    assert_eq!(r.differences.len(), 1, "{}", r.text());
    let d = &r.differences[0];
    assert_eq!(d.kind, Kind::Missing);
    assert!(d.service_port.is_some(), "{d}");
    assert!(d.item.ends_with("of service-ips"), "{d}");
}

/// A Service port's chain missing: `KUBE-SVC-…` of a ClusterIP-only
/// Service deleted with the jump to it from KUBE-SERVICES
/// (pkg/proxy/iptables/proxier.go syncProxyRules writes both per Service
/// port); every difference is that chain, its rules or the jump, all
/// missing, all of that Service port.
#[test]
fn iptables_a_service_chain_missing() {
    if !kernel_tests_enabled() || !have("iptables-restore") {
        return;
    }
    let ns = Netns::new("check-ipt-svc").expect("ip netns add");
    let l = loaded();
    let opts = RenderOptions {
        with_jumps: true,
        ..Default::default()
    };
    let text = render(&l, Mode::Iptables, &opts).unwrap().text;
    ns.exec("iptables-restore", &["--noflush"], &text).unwrap();
    ns.exec("iptables-restore", &["--noflush"], FOREIGN)
        .unwrap();
    // a KUBE-SVC chain jumped to from KUBE-SERVICES only
    let (svc, refs) = text
        .lines()
        .filter_map(|x| x.strip_prefix(":KUBE-SVC-"))
        .map(|x| format!("KUBE-SVC-{}", x.split_whitespace().next().unwrap()))
        .find_map(|svc| {
            let refs: Vec<&str> = text
                .lines()
                .filter(|x| x.starts_with("-A ") && x.ends_with(&format!("-j {svc}")))
                .collect();
            (refs.len() == 1 && refs[0].starts_with("-A KUBE-SERVICES ")).then_some((svc, refs))
        })
        .expect("a ClusterIP-only Service");
    let own = text
        .lines()
        .filter(|x| x.starts_with(&format!("-A {svc} ")))
        .count();
    ns.exec(
        "iptables-restore",
        &["--noflush"],
        &format!(
            "*nat\n{}\n-F {svc}\n-X {svc}\nCOMMIT\n",
            refs[0].replacen("-A ", "-D ", 1)
        ),
    )
    .unwrap();
    let dump = read("iptables-save", &ns.exec("iptables-save", &[], "").unwrap());
    let r = check(&l, Mode::Iptables, &dump).unwrap();
    let sp = refs[0]
        .split("--comment ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .trim_matches('"');
    assert_eq!(r.differences.len(), own + 2, "{}", r.text());
    for d in &r.differences {
        assert_eq!(d.kind, Kind::Missing, "{d}");
        assert_eq!(d.service_port.as_deref(), Some(sp), "{d}");
    }
    assert!(
        lines(&r).contains(&format!("{sp}: chain {svc} not programmed (nat/{svc})")),
        "{}",
        r.text()
    );
}

/// The nftables node of the examples, fresh for each drift.
fn nft_node(tag: &str, text: &str) -> Netns {
    let ns = Netns::new(tag).expect("ip netns add");
    ns.exec("nft", &["-f", "-"], text).unwrap();
    ns.exec(
        "nft",
        &["-f", "-"],
        "table inet cni {\n chain forward {\n  type filter hook forward priority filter + 10 ; policy accept ;\n  iifname \"cni0\" ip saddr 10.244.0.0/16 counter accept\n }\n}\n",
    )
    .unwrap();
    ns
}

fn nft_check(l: &libsvc::Loaded, ns: &Netns) -> Report {
    let listed = read("nft", &ns.exec("nft", &["list", "ruleset"], "").unwrap());
    let r = check(l, Mode::Nftables, &listed).unwrap();
    // `nft -j list ruleset` gives the same report
    let json = read(
        "nft.json",
        &ns.exec("nft", &["-j", "list", "ruleset"], "").unwrap(),
    );
    let j = check(l, Mode::Nftables, &json).unwrap();
    assert_eq!(lines(&r), lines(&j));
    r
}

/// The kernel's handle of the one rule of `chain` (nft -a list chain).
fn only_handle(ns: &Netns, chain: &str) -> String {
    let listed = ns
        .exec(
            "nft",
            &["-a", "list", "chain", "ip", "kube-proxy", chain],
            "",
        )
        .unwrap();
    let handles: Vec<&str> = listed
        .lines()
        .filter(|x| x.contains("dnat") || x.contains("vmap"))
        .filter_map(|x| x.rsplit("# handle ").next())
        .collect();
    assert_eq!(handles.len(), 1, "{listed}");
    handles[0].trim().to_string()
}

/// Drift made by hand in nftables, each alone on a fresh node, reported
/// exactly: an endpoint changed and an endpoint removed in a Service
/// port's `numgen` DNAT map, an endpoint chain of a session-affinity
/// Service deleted (with its slot), a stale rule added, a Service port's
/// chain missing (with its `service-ips` element). kube-proxy writes these
/// in pkg/proxy/nftables/proxier.go syncProxyRules and
/// writeServiceToEndpointRules.
#[test]
fn nftables_drift_by_hand_each_alone() {
    if !kernel_tests_enabled() || !have("nft") {
        return;
    }
    let l = loaded();
    let text = render(&l, Mode::Nftables, &RenderOptions::default())
        .unwrap()
        .text;
    let ns = nft_node("check-nft-sync", &text);
    let r = nft_check(&l, &ns);
    assert!(r.in_sync, "{}", r.text());
    drop(ns);

    // hello-world: `dnat … numgen random mod 2 map { 0 : A . P , 1 : B . P }`
    let rule = text
        .lines()
        .find(|x| x.contains("default/hello-world/tcp/ meta l4proto tcp dnat"))
        .unwrap();
    let chain = rule.split_whitespace().nth(4).unwrap();
    let body = rule.split_once(&format!("{chain} ")).unwrap().1;
    let place = format!("ip kube-proxy/{chain}");
    let sp = "default/hello-world";

    // an endpoint changed
    let ns = nft_node("check-nft-ep", &text);
    let h = only_handle(&ns, chain);
    let changed = body.replace("10.244.1.30 . 8080", "10.244.2.7 . 8080");
    ns.exec(
        "nft",
        &["-f", "-"],
        &format!("replace rule ip kube-proxy {chain} handle {h} {changed}\n"),
    )
    .unwrap();
    assert_eq!(
        lines(&nft_check(&l, &ns)),
        [
            format!(
                "{sp}: endpoint 10.244.1.30:8080 in an EndpointSlice but not programmed ({place})"
            ),
            format!(
                "{sp}: endpoint 10.244.2.7:8080 programmed but not in any EndpointSlice ({place})"
            ),
        ]
    );
    drop(ns);

    // an endpoint removed (the map and its modulus agree: only the endpoint)
    let ns = nft_node("check-nft-rm", &text);
    let h = only_handle(&ns, chain);
    let fewer = body.replace(
        "numgen random mod 2 map { 0 : 10.244.1.30 . 8080 , 1 : 10.244.2.31 . 8080 }",
        "numgen random mod 1 map { 0 : 10.244.2.31 . 8080 }",
    );
    assert_ne!(fewer, body);
    ns.exec(
        "nft",
        &["-f", "-"],
        &format!("replace rule ip kube-proxy {chain} handle {h} {fewer}\n"),
    )
    .unwrap();
    assert_eq!(
        lines(&nft_check(&l, &ns)),
        [format!(
            "{sp}: endpoint 10.244.1.30:8080 in an EndpointSlice but not programmed ({place})"
        )]
    );
    drop(ns);

    // kubia-affinity: an endpoint chain deleted, with its slot of the vmap
    let vmap = text
        .lines()
        .find(|x| x.contains("default/kubia-affinity/tcp/ numgen random mod 3 vmap"))
        .unwrap();
    let achain = vmap.split_whitespace().nth(4).unwrap();
    let abody = vmap.split_once(&format!("{achain} ")).unwrap().1;
    let gone = abody
        .split("goto ")
        .nth(3)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    let kept: Vec<&str> = abody
        .split("goto ")
        .skip(1)
        .take(2)
        .map(|x| x.split_whitespace().next().unwrap())
        .collect();
    let ns = nft_node("check-nft-epchain", &text);
    let h = only_handle(&ns, achain);
    // the affinity rule that goes to it too (`ip saddr @affinity-… goto …`)
    let listed = ns
        .exec(
            "nft",
            &["-a", "list", "chain", "ip", "kube-proxy", achain],
            "",
        )
        .unwrap();
    let affinity: Vec<String> = listed
        .lines()
        .filter(|x| x.contains(&format!("goto {gone}")) && !x.contains("vmap"))
        .map(|x| {
            let h = x.rsplit("# handle ").next().unwrap().trim();
            format!("delete rule ip kube-proxy {achain} handle {h}\n")
        })
        .collect();
    ns.exec(
        "nft",
        &["-f", "-"],
        &format!(
            "{}replace rule ip kube-proxy {achain} handle {h} numgen random mod 2 vmap {{ 0 : goto {} , 1 : goto {} }}\nflush chain ip kube-proxy {gone}\ndelete chain ip kube-proxy {gone}\n",
            affinity.concat(),
            kept[0],
            kept[1]
        ),
    )
    .unwrap();
    let r = nft_check(&l, &ns);
    let own = text
        .lines()
        .filter(|x| x.starts_with(&format!("add rule ip kube-proxy {gone} ")))
        .count();
    // the chain, its rules, its slot in the vmap, the affinity rule
    assert_eq!(
        r.differences.len(),
        own + 2 + affinity.len(),
        "{}",
        r.text()
    );
    for d in &r.differences {
        assert_eq!(d.kind, Kind::Missing, "{d}");
        assert_eq!(
            d.service_port.as_deref(),
            Some("default/kubia-affinity"),
            "{d}"
        );
    }
    assert!(
        lines(&r).contains(&format!(
            "default/kubia-affinity: goto {gone} not programmed (ip kube-proxy/{achain})"
        )),
        "{}",
        r.text()
    );
    drop(ns);

    // a stale rule added to the shared `services` chain
    let ns = nft_node("check-nft-stale", &text);
    ns.exec(
        "nft",
        &["-f", "-"],
        "add rule ip kube-proxy services ip daddr 10.96.99.99 tcp dport 80 reject comment \"default/gone:http\"\n",
    )
    .unwrap();
    let r = nft_check(&l, &ns);
    assert_eq!(r.differences.len(), 1, "{}", r.text());
    let d = &r.differences[0];
    assert_eq!(
        (d.kind, d.service_port.as_deref(), d.place.as_str()),
        (
            Kind::Extra,
            Some("default/gone:http"),
            "ip kube-proxy/services"
        ),
        "{d}"
    );
    assert!(d.item.contains("10.96.99.99"), "{d}");
    drop(ns);

    // a Service port's chain missing: redis-master's, with its element
    let svc = text
        .lines()
        .find_map(|x| {
            x.strip_prefix("add chain ip kube-proxy service-")
                .filter(|c| c.contains("default/redis-master/"))
        })
        .map(|c| format!("service-{}", c.trim()))
        .unwrap();
    let element = text
        .lines()
        .find(|x| x.starts_with("add element ip kube-proxy service-ips") && x.contains(&svc))
        .unwrap();
    let key = element
        .split_once('{')
        .unwrap()
        .1
        .split(" : ")
        .next()
        .unwrap()
        .trim();
    let refs = text.lines().filter(|x| x.contains(&svc)).count();
    let own = text
        .lines()
        .filter(|x| x.starts_with(&format!("add rule ip kube-proxy {svc} ")))
        .count();
    // only the chain, its rules and the element name it
    assert_eq!(refs, own + 2, "redis-master is ClusterIP-only");
    let ns = nft_node("check-nft-svc", &text);
    ns.exec(
        "nft",
        &["-f", "-"],
        &format!(
            "delete element ip kube-proxy service-ips {{ {key} }}\nflush chain ip kube-proxy {svc}\ndelete chain ip kube-proxy {svc}\n"
        ),
    )
    .unwrap();
    let r = nft_check(&l, &ns);
    let dnat = text
        .lines()
        .find(|x| x.starts_with(&format!("add rule ip kube-proxy {svc} ")))
        .unwrap();
    assert_eq!(own, 1, "{dnat}");
    let ep = dnat.rsplit("dnat to ").next().unwrap().trim();
    let place = format!("ip kube-proxy/{svc}");
    assert_eq!(
        lines(&r),
        [
            format!("default/redis-master: chain {svc} not programmed ({place})"),
            format!(
                "default/redis-master: endpoint {ep} in an EndpointSlice but not programmed ({place})"
            ),
            format!(
                "default/redis-master: element {key} : goto {svc} of service-ips not programmed (ip kube-proxy/service-ips)"
            ),
        ]
    );
}

/// IPVS mode: this kernel has no IPVS, so the virtual servers come from
/// an `ipvsadm-save -n` text (the render's), and so does the iptables
/// part (its `-m ipvs` needs the module); the ipsets are in the kernel. In sync; then an ipset entry deleted
/// (`ipset del`) and a real server changed in the `ipvsadm-save` text are
/// each reported exactly (pkg/proxy/ipvs/proxier.go syncService /
/// syncEndpoint and the ipsets of syncProxyRules).
#[test]
fn ipvs_node_ipset_and_real_server_drift() {
    if !kernel_tests_enabled() || !have("iptables-restore") || !have("ipset") {
        return;
    }
    let l = loaded();
    let section = |s: &str| {
        let o = RenderOptions {
            section: Some(s.to_string()),
            with_jumps: true,
            ..Default::default()
        };
        render(&l, Mode::Ipvs, &o).unwrap().text
    };
    let (ipvs, ipset, ipt) = (section("ipvs"), section("ipset"), section("iptables"));
    let ns = Netns::new("check-ipvs").expect("ip netns add");
    ns.exec("ipset", &["restore"], &ipset).unwrap();
    // the iptables part needs `-m ipvs` (no IPVS here): as rendered
    let node = |ipvs: &str| {
        let (d, diags) = dump::load(&[
            Input::new("node.ipvs", ipvs),
            Input::new("node.ipset", ns.exec("ipset", &["save"], "").unwrap()),
            Input::new("node.iptables", ipt.as_str()),
        ]);
        assert!(diags.is_empty(), "{diags:#?}");
        d
    };
    let r = check(&l, Mode::Ipvs, &node(&ipvs)).unwrap();
    assert!(r.in_sync, "{}", r.text());

    // an ipset entry deleted
    let entry = ipset
        .lines()
        .find_map(|x| x.strip_prefix("add KUBE-CLUSTER-IP "))
        .unwrap()
        .trim();
    ns.exec("ipset", &["del", "KUBE-CLUSTER-IP", entry], "")
        .unwrap();
    let r = check(&l, Mode::Ipvs, &node(&ipvs)).unwrap();
    assert_eq!(r.differences.len(), 1, "{}", r.text());
    assert_eq!(r.differences[0].kind, Kind::Missing);
    assert!(
        r.differences[0].item.ends_with("of KUBE-CLUSTER-IP"),
        "{}",
        r.differences[0]
    );
    ns.exec("ipset", &["add", "KUBE-CLUSTER-IP", entry], "")
        .unwrap();

    // a real server changed in the ipvsadm-save text
    let real = ipvs.lines().find(|x| x.starts_with("-a ")).unwrap();
    let addr = real
        .split(" -r ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    let port = addr.rsplit(':').next().unwrap();
    let moved = ipvs.replacen(
        real,
        &real.replacen(addr, &format!("10.244.9.99:{port}"), 1),
        1,
    );
    let r = check(&l, Mode::Ipvs, &node(&moved)).unwrap();
    let kinds: Vec<(Kind, bool)> = r
        .differences
        .iter()
        .map(|d| (d.kind, d.service_port.is_some()))
        .collect();
    assert_eq!(
        kinds,
        [(Kind::Missing, true), (Kind::Extra, true)],
        "{}",
        r.text()
    );
    assert!(
        r.differences[0]
            .item
            .starts_with(&format!("endpoint {addr} ")),
        "{}",
        r.text()
    );
    assert!(
        r.differences[1]
            .item
            .starts_with(&format!("endpoint 10.244.9.99:{port} ")),
        "{}",
        r.text()
    );
}
