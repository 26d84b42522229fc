//! `dump::check`: svcgen's own render, read back as a node's dump, is in
//! sync with the manifests it came from (every corpus case and the
//! examples, in each proxy mode); drift made by hand — a KUBE-SEP chain
//! deleted, a stale rule or chain added, an endpoint changed, a map
//! element removed — is reported exactly, and nothing else is.

mod common;

use libsvc::dump::check::{Kind, Report, check};
use libsvc::dump::{self, model::Dump};
use libsvc::render::{Mode, RenderOptions, render};

/// The dump a node would give after applying svcgen's render of `mode`:
/// the text the agent applies (iptables with its jumps), read back.
fn node_text(loaded: &libsvc::Loaded, mode: Mode) -> Vec<(String, String)> {
    match mode {
        Mode::Iptables => {
            let opts = RenderOptions {
                with_jumps: true,
                ..Default::default()
            };
            let text = render(loaded, mode, &opts).unwrap().text;
            vec![("node.iptables".into(), text)]
        }
        Mode::Nftables => {
            let text = render(loaded, mode, &RenderOptions::default())
                .unwrap()
                .text;
            vec![("node.nft".into(), text)]
        }
        _ => ["ipvs", "ipset", "iptables"]
            .iter()
            .map(|s| {
                let opts = RenderOptions {
                    section: Some(s.to_string()),
                    with_jumps: true,
                    ..Default::default()
                };
                (
                    format!("node.{s}"),
                    render(loaded, mode, &opts).unwrap().text,
                )
            })
            .collect(),
    }
}

fn read(parts: &[(String, String)]) -> Dump {
    let inputs: Vec<libsvc::Input> = parts
        .iter()
        .map(|(n, t)| libsvc::Input::new(n.clone(), t.clone()))
        .collect();
    let (d, diags) = dump::load(&inputs);
    assert!(diags.is_empty(), "{diags:#?}");
    d
}

fn examples() -> libsvc::Loaded {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut inputs = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "yaml") {
            inputs.push(libsvc::Input::new(
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            ));
        }
    }
    inputs.sort_by(|a, b| a.name.cmp(&b.name));
    let o = libsvc::Overrides {
        node_ips: vec!["192.168.0.2".parse().unwrap()],
        ..Default::default()
    };
    libsvc::load(&inputs, &o)
}

fn in_sync(mode: Mode, corpus: &str) {
    let mut results = Vec::new();
    for case in common::cases(corpus) {
        let loaded = case.load();
        let r = std::panic::catch_unwind(|| {
            let d = read(&node_text(&loaded, mode));
            check(&loaded, mode, &d).unwrap()
        });
        results.push((
            case.name.clone(),
            match r {
                Ok(r) if r.in_sync && r.compared > 0 => Ok(()),
                Ok(r) => Err(r.text()),
                Err(_) => Err("panicked".into()),
            },
        ));
    }
    common::report(&format!("{corpus}-check-in-sync"), &results, &[]);
}

#[test]
fn iptables_corpus_renders_are_in_sync() {
    in_sync(Mode::Iptables, "iptables");
}

#[test]
fn nftables_corpus_renders_are_in_sync() {
    in_sync(Mode::Nftables, "nftables");
}

#[test]
fn ipvs_corpus_renders_are_in_sync() {
    in_sync(Mode::Ipvs, "ipvs");
}

#[test]
fn example_renders_are_in_sync_in_every_mode() {
    let loaded = examples();
    for mode in [Mode::Iptables, Mode::Nftables, Mode::Ipvs] {
        let r = check(&loaded, mode, &read(&node_text(&loaded, mode))).unwrap();
        assert!(r.in_sync && r.compared > 50, "{mode:?}\n{}", r.text());
    }
}

fn lines(r: &Report) -> Vec<String> {
    r.differences.iter().map(|d| d.to_string()).collect()
}

/// The iptables dump of the examples with `edit` applied to its text.
fn iptables_drift(edit: impl Fn(&str) -> String) -> Report {
    let loaded = examples();
    let parts: Vec<(String, String)> = node_text(&loaded, Mode::Iptables)
        .into_iter()
        .map(|(n, t)| (n, edit(&t)))
        .collect();
    check(&loaded, Mode::Iptables, &read(&parts)).unwrap()
}

/// The first KUBE-SEP chain of the IPv4 render, its DNAT destination and
/// the comment (Service port) of its rules.
fn first_sep(text: &str) -> (String, String, String) {
    let line = text
        .lines()
        .find(|l| l.starts_with("-A KUBE-SEP-") && l.contains("--to-destination"))
        .unwrap();
    let chain = line.split_whitespace().nth(1).unwrap().to_string();
    let dest = line.rsplit("--to-destination ").next().unwrap().to_string();
    let comment = line
        .split("--comment ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .trim_matches('"')
        .to_string();
    (chain, dest, comment)
}

fn v4_text() -> String {
    node_text(&examples(), Mode::Iptables)[0].1.clone()
}

#[test]
fn a_deleted_sep_chain_is_missing_and_nothing_else() {
    let (sep, dest, sp) = first_sep(&v4_text());
    let r = iptables_drift(|t| {
        t.lines()
            .filter(|l| !l.contains(&sep))
            .map(|l| format!("{l}\n"))
            .collect()
    });
    assert!(!r.in_sync);
    // every difference is something missing about that endpoint, of its Service port
    let removed = v4_text().lines().filter(|l| l.contains(&sep)).count();
    assert_eq!(r.differences.len(), removed, "{}", r.text());
    for d in &r.differences {
        assert_eq!(d.kind, Kind::Missing, "{d}");
        assert_eq!(d.service_port.as_deref(), Some(sp.as_str()), "{d}");
    }
    assert!(
        lines(&r).contains(&format!(
            "{sp}: endpoint {dest} in an EndpointSlice but not programmed (nat/{sep})"
        )),
        "{}",
        r.text()
    );
}

#[test]
fn a_changed_endpoint_is_one_missing_and_one_extra() {
    let (sep, dest, sp) = first_sep(&v4_text());
    // only the SEP chain's rule (another Service may share the endpoint)
    let r = iptables_drift(|t| {
        t.lines()
            .map(|l| {
                if l.starts_with(&format!("-A {sep} ")) {
                    format!("{}\n", l.replace(&dest, "10.244.2.7:8080"))
                } else {
                    format!("{l}\n")
                }
            })
            .collect()
    });
    let l = lines(&r);
    assert_eq!(l.len(), 2, "{}", r.text());
    assert_eq!(
        l[0],
        format!("{sp}: endpoint {dest} in an EndpointSlice but not programmed (nat/{sep})")
    );
    assert!(
        l[1].starts_with(&format!(
            "{sp}: endpoint 10.244.2.7:8080 programmed but not in any EndpointSlice (nat/{sep}) at node.iptables:"
        )),
        "{}",
        l[1]
    );
}

#[test]
fn a_stale_rule_and_a_stale_chain_are_reported() {
    let r = iptables_drift(|t| {
        if !t.contains("*nat") {
            return t.to_string();
        }
        let (filter, nat) = t.split_at(t.find("*nat").unwrap());
        let nat = nat
            .replacen(
                ":KUBE-SERVICES - [0:0]\n",
                ":KUBE-SERVICES - [0:0]\n:KUBE-SEP-GONE0000000000 - [0:0]\n",
                1,
            )
            .replacen(
                "COMMIT\n",
                "-A KUBE-SERVICES -d 10.96.99.99/32 -p tcp -m comment --comment \"default/gone:http cluster IP\" -m tcp --dport 80 -j KUBE-SEP-GONE0000000000\n-A KUBE-SEP-GONE0000000000 -p tcp -m comment --comment default/gone:http -m tcp -j DNAT --to-destination 10.244.2.7:8080\nCOMMIT\n",
                1,
            );
        format!("{filter}{nat}")
    });
    let l: Vec<String> = lines(&r)
        .into_iter()
        .map(|s| s.split(" at node").next().unwrap().to_string())
        .collect();
    assert_eq!(
        l,
        [
            "default/gone:http: chain KUBE-SEP-GONE0000000000 stale: programmed for nothing in the manifests (nat/KUBE-SEP-GONE0000000000)",
            "default/gone:http: endpoint 10.244.2.7:8080 programmed but not in any EndpointSlice (nat/KUBE-SEP-GONE0000000000)",
            "default/gone:http: rule `-d 10.96.99.99/32 -p tcp -m comment --comment \"default/gone:http cluster IP\" -m tcp --dport 80 -j KUBE-SEP-GONE0000000000` programmed but not in the manifests (nat/KUBE-SERVICES)",
        ],
        "{}",
        r.text()
    );
    assert_eq!(r.differences[0].kind, Kind::Stale);
    assert_eq!(r.differences[1].kind, Kind::Stale);
    assert_eq!(r.differences[2].kind, Kind::Extra);
}

#[test]
fn foreign_chains_and_kubelet_canaries_are_not_compared() {
    let r = iptables_drift(|t| {
        t.replacen(
            "COMMIT\n",
            ":DOCKER - [0:0]\n:KUBE-KUBELET-CANARY - [0:0]\n-A DOCKER -d 172.17.0.2/32 -j ACCEPT\nCOMMIT\n",
            1,
        )
    });
    assert!(r.in_sync, "{}", r.text());
}

#[test]
fn a_removed_map_element_is_missing() {
    let loaded = examples();
    let text = node_text(&loaded, Mode::Nftables)[0].1.clone();
    // the first element of the service-ips map, as `add element` writes it
    let line = text
        .lines()
        .find(|l| l.starts_with("add element ip kube-proxy service-ips"))
        .unwrap()
        .to_string();
    let edited = text.replacen(&format!("{line}\n"), "", 1);
    let r = check(
        &loaded,
        Mode::Nftables,
        &read(&[("node.nft".into(), edited)]),
    )
    .unwrap();
    let l = lines(&r);
    assert_eq!(l.len(), 1, "{}", r.text());
    let chain = line.rsplit("goto ").next().unwrap().trim_end_matches(" }");
    assert!(
        l[0].contains(&format!(": goto {chain} of service-ips not programmed")),
        "{}",
        l[0]
    );
    assert!(r.differences[0].service_port.is_some());
}

#[test]
fn a_removed_real_server_is_a_missing_endpoint_of_its_service_port() {
    let loaded = examples();
    let mut parts = node_text(&loaded, Mode::Ipvs);
    let ipvs = &mut parts[0].1;
    let line = ipvs
        .lines()
        .find(|l| l.starts_with("-a "))
        .unwrap()
        .to_string();
    *ipvs = ipvs.replacen(&format!("{line}\n"), "", 1);
    let r = check(&loaded, Mode::Ipvs, &read(&parts)).unwrap();
    assert_eq!(r.differences.len(), 1, "{}", r.text());
    let d = &r.differences[0];
    assert_eq!(d.kind, Kind::Missing);
    let real = line
        .split(" -r ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    assert!(
        d.item.starts_with(&format!("endpoint {real} (weight")),
        "{d}"
    );
    assert!(d.service_port.is_some(), "{d}");
    assert!(
        d.to_string()
            .contains("in an EndpointSlice but not programmed (virtual server "),
        "{d}"
    );
}

/// The README's "why is my Service unreachable" workflow, on the node
/// dumps of `examples/dumps/` (made by `examples/dumps/make.sh` in a
/// network namespace): half of hello-world's connections from a pod go to
/// 10.244.2.7, which no EndpointSlice names, and `check` says exactly
/// that, in iptables and nftables mode.
#[test]
fn the_readme_workflow_on_the_example_node_dumps() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let file = |p: &str| {
        libsvc::Input::new(
            format!("examples/{p}"),
            std::fs::read_to_string(dir.join(p)).unwrap(),
        )
    };
    let o = libsvc::Overrides {
        node_ips: vec!["192.168.0.2".parse().unwrap()],
        cluster_cidrs: vec!["10.244.0.0/16".parse().unwrap()],
        ..Default::default()
    };
    let l = libsvc::load(&[file("hello-world.yaml")], &o);
    let (ipt, diags) = dump::load(&[file("dumps/node-1.iptables"), file("dumps/node-1.ipset")]);
    assert!(diags.is_empty(), "{diags:#?}");
    let p = libsvc::trace::Packet {
        src: "10.244.1.5".parse().unwrap(),
        dst: "10.98.137.145".parse().unwrap(),
        port: 8080,
        protocol: libsvc::table::Protocol::TCP,
        in_interface: Some("cali1234".into()),
    };
    let opts = dump::trace::Options {
        local: vec!["192.168.0.2".parse().unwrap()],
        in_iface: Some("cali1234".into()),
        out_iface: Some("eth0".into()),
    };
    let t = dump::trace::trace(&ipt, &opts, &p);
    assert_eq!(t.result.outcome, "10.244.1.30:8080, 10.244.2.7:8080");
    assert!(t.branches.is_empty());
    assert!(
        t.result
            .path
            .iter()
            .any(|s| s.chain == "cali-FORWARD" && s.rule.contains("-j ACCEPT"))
    );
    let r = check(&l, Mode::Iptables, &ipt).unwrap();
    assert_eq!(
        r.text(),
        "default/hello-world: endpoint 10.244.2.31:8080 in an EndpointSlice but not programmed (nat/KUBE-SEP-O4YHDPEHF4OLZA4G)
default/hello-world: endpoint 10.244.2.7:8080 programmed but not in any EndpointSlice (nat/KUBE-SEP-O4YHDPEHF4OLZA4G) at examples/dumps/node-1.iptables:72
drift: 2 difference(s) in 48 kube-proxy iptables item(s)
"
    );
    // Without the Service chain's jump to that endpoint's chain, the
    // endpoint is also not reachable: the jump reads as the endpoint its
    // comment names (pkg/proxy/iptables/proxier.go
    // writeServiceToEndpointRules writes `NS/NAME -> IP:PORT`).
    let text = std::fs::read_to_string(dir.join("dumps/node-1.iptables")).unwrap();
    let cut: String = text
        .lines()
        .filter(|l| !l.contains("-> 10.244.2.31:8080\" -j KUBE-SEP-"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(cut.len() < text.len());
    let (cut, _) = dump::load(&[
        libsvc::Input::new("node-1.iptables", cut),
        file("dumps/node-1.ipset"),
    ]);
    let r = check(&l, Mode::Iptables, &cut).unwrap();
    assert!(
        r.text().contains("default/hello-world: jump to endpoint 10.244.2.31:8080 not programmed (nat/KUBE-SVC-DZ6LTOHRG6HQWHYE)\n"),
        "{}",
        r.text()
    );
    let (nft, diags) = dump::load(&[file("dumps/node-1.nft")]);
    assert!(diags.is_empty(), "{diags:#?}");
    let r = check(&l, Mode::Nftables, &nft).unwrap();
    assert_eq!(
        r.text(),
        "default/hello-world: endpoint 10.244.2.31:8080 in an EndpointSlice but not programmed (ip kube-proxy/service-AN52JS3S-default/hello-world/tcp/)
default/hello-world: endpoint 10.244.2.7:8080 programmed but not in any EndpointSlice (ip kube-proxy/service-AN52JS3S-default/hello-world/tcp/) at examples/dumps/node-1.nft:123
drift: 2 difference(s) in 56 kube-proxy nftables item(s)
"
    );
}
