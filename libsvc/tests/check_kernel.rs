//! `dump::check` against a kernel: svcgen's render applied with the real
//! tools in a network namespace next to foreign chains, dumped with
//! `iptables-save` / `nft list ruleset`, is in sync; drift made by hand
//! with the real tools (a KUBE-SEP chain deleted, a stale rule added, an
//! endpoint changed, a map element removed) is reported exactly, and
//! nothing else is.
//!
//! Needs root, `iptables-restore` and `nft`; skipped (with a message) when
//! not root or when `SVCGEN_SKIP_KERNEL_TESTS` is set.

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
