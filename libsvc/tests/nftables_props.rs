//! Properties of the nftables backend over generated clusters: the same
//! input gives the same bytes, document order does not matter, names
//! cannot inject rule text, the tracer's probabilities add up, and the
//! kernel (`nft -c`, in a namespace of its own) accepts what is rendered.

mod common;

use common::netns::{Netns, kernel_tests_enabled};
use libsvc::proxy::nftables;
use libsvc::table::Protocol;
use libsvc::trace::Packet;
use libsvc::{Input, Overrides, load};
use proptest::prelude::*;

/// One generated Service with its EndpointSlice.
#[derive(Debug, Clone)]
struct Svc {
    type_: &'static str,
    ports: Vec<(u16, &'static str, Option<u16>)>,
    etp_local: bool,
    itp_local: bool,
    affinity: bool,
    external_ip: bool,
    lb: bool,
    source_range: bool,
    /// (ready, serving, terminating, local)
    endpoints: Vec<(bool, bool, bool, bool)>,
}

fn svc() -> impl Strategy<Value = Svc> {
    (
        prop_oneof![Just("ClusterIP"), Just("NodePort"), Just("LoadBalancer")],
        prop::collection::vec(
            (
                1u16..1000,
                prop_oneof![Just("TCP"), Just("UDP"), Just("SCTP")],
                prop::option::of(30000u16..30100),
            ),
            1..3,
        ),
        any::<(bool, bool, bool, bool, bool, bool)>(),
        prop::collection::vec(any::<(bool, bool, bool, bool)>(), 0..4),
    )
        .prop_map(|(type_, ports, f, endpoints)| Svc {
            type_,
            ports,
            etp_local: f.0,
            itp_local: f.1,
            affinity: f.2,
            external_ip: f.3,
            lb: f.4,
            source_range: f.5,
            endpoints,
        })
}

/// The documents of a cluster: per Service, the Service and its slice.
fn documents(svcs: &[Svc], v6: bool) -> Vec<String> {
    let mut docs = Vec::new();
    for (i, s) in svcs.iter().enumerate() {
        let (cip, eip, lbip, range, ep, family) = if v6 {
            (
                format!("fd00:96::{:x}", i + 1),
                format!("2001:db8:99::{:x}", i + 1),
                format!("2001:db8:1b::{:x}", i + 1),
                "2001:db8:ff::/48".to_string(),
                (|i: usize, j: usize| format!("fd00:10:{i:x}::{:x}", j + 1))
                    as fn(usize, usize) -> String,
                "IPv6",
            )
        } else {
            (
                format!("10.96.0.{}", i + 1),
                format!("192.168.99.{}", i + 1),
                format!("1.2.3.{}", i + 1),
                "203.0.113.0/25".to_string(),
                (|i: usize, j: usize| format!("10.1.{i}.{}", j + 1)) as fn(usize, usize) -> String,
                "IPv4",
            )
        };
        let mut d = format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: svc{i}, namespace: ns{}}}\nspec:\n  type: {}\n  clusterIP: \"{cip}\"\n  ports:\n",
            i % 3,
            s.type_
        );
        for (j, (port, proto, np)) in s.ports.iter().enumerate() {
            d.push_str(&format!(
                "  - {{name: p{j}, port: {port}, protocol: {proto}{}}}\n",
                match (s.type_, np) {
                    ("ClusterIP", _) | (_, None) => String::new(),
                    (_, Some(n)) => format!(", nodePort: {}", n + j as u16 * 100 + i as u16 * 3),
                }
            ));
        }
        if s.etp_local && s.type_ != "ClusterIP" {
            d.push_str("  externalTrafficPolicy: Local\n");
        }
        if s.itp_local {
            d.push_str("  internalTrafficPolicy: Local\n");
        }
        if s.affinity {
            d.push_str("  sessionAffinity: ClientIP\n");
        }
        if s.external_ip {
            d.push_str(&format!("  externalIPs: [\"{eip}\"]\n"));
        }
        if s.source_range && s.type_ == "LoadBalancer" {
            d.push_str(&format!("  loadBalancerSourceRanges: [\"{range}\"]\n"));
        }
        if s.lb && s.type_ == "LoadBalancer" {
            d.push_str(&format!(
                "status:\n  loadBalancer:\n    ingress:\n    - ip: \"{lbip}\"\n"
            ));
        }
        docs.push(d);
        let mut e = format!(
            "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: svc{i}-1\n  namespace: ns{}\n  labels: {{kubernetes.io/service-name: svc{i}}}\naddressType: {family}\nendpoints:\n",
            i % 3
        );
        for (j, (ready, serving, term, local)) in s.endpoints.iter().enumerate() {
            e.push_str(&format!(
                "- addresses: [\"{}\"]\n  conditions: {{ready: {ready}, serving: {serving}, terminating: {term}}}\n  nodeName: {}\n",
                ep(i, j),
                if *local { "node-a" } else { "node-b" }
            ));
        }
        if s.endpoints.is_empty() {
            e = e.replace("endpoints:\n", "endpoints: []\n");
        }
        e.push_str("ports:\n");
        for (j, (_, proto, _)) in s.ports.iter().enumerate() {
            e.push_str(&format!(
                "- {{name: p{j}, port: {}, protocol: {proto}}}\n",
                8000 + j
            ));
        }
        docs.push(e);
    }
    docs.push(
        "apiVersion: v1\nkind: Node\nmetadata: {name: node-a}\nstatus:\n  addresses:\n  - {type: InternalIP, address: 192.168.0.2}\n  - {type: InternalIP, address: \"2001:db8::1\"}\n".into(),
    );
    docs.push(
        "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nclusterCIDR: \"10.0.0.0/8,fd00:10::/32\"\nnodePortAddresses: [\"192.168.0.0/24\", \"2001:db8::/64\"]\n".into(),
    );
    docs
}

fn overrides() -> Overrides {
    Overrides {
        service_cidrs: vec![
            "10.96.0.0/16".parse().unwrap(),
            "fd00:96::/112".parse().unwrap(),
        ],
        ..Default::default()
    }
}

fn render_docs(docs: &[String]) -> (libsvc::Loaded, String) {
    let loaded = load(&[Input::new("gen.yaml", docs.join("---\n"))], &overrides());
    let text = nftables::render(&loaded, &Default::default())
        .expect("nftables renders")
        .text;
    (loaded, text)
}

/// Runs `nft -c -f -` in a namespace made for it; `None` when not root or
/// when the kernel tests are switched off (`SVCGEN_SKIP_KERNEL_TESTS`).
fn nft_check(text: &str) -> Option<Result<(), String>> {
    if !kernel_tests_enabled() {
        return None;
    }
    Some(Netns::new("nftp").and_then(|ns| ns.exec("nft", &["-c", "-f", "-"], text).map(drop)))
}

/// Every line is one `add … kube-proxy` command and its quotes pair up.
fn well_formed(text: &str) -> Result<(), String> {
    for line in text.lines() {
        let w: Vec<&str> = line.split(' ').collect();
        let ok = w.len() >= 4
            && w[0] == "add"
            && matches!(
                w[1],
                "table" | "chain" | "set" | "map" | "counter" | "rule" | "element"
            )
            && matches!(w[2], "ip" | "ip6")
            && w[3] == "kube-proxy"
            && line.matches('"').count() % 2 == 0;
        if !ok {
            return Err(line.to_string());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn deterministic_and_order_independent(svcs in prop::collection::vec(svc(), 1..6), v6 in any::<bool>(), seed in any::<u64>()) {
        let docs = documents(&svcs, v6);
        let (_, a) = render_docs(&docs);
        let (_, b) = render_docs(&docs);
        prop_assert_eq!(&a, &b);
        // A deterministic shuffle of the documents.
        let mut shuffled = docs.clone();
        let mut x = seed | 1;
        for i in (1..shuffled.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            shuffled.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let (_, c) = render_docs(&shuffled);
        prop_assert_eq!(&a, &c);
        prop_assert!(well_formed(&a).is_ok(), "{:?}", well_formed(&a));
    }

    #[test]
    fn tracer_shares_add_up(svcs in prop::collection::vec(svc(), 1..5), v6 in any::<bool>(), src_pod in any::<bool>()) {
        let docs = documents(&svcs, v6);
        let (loaded, _) = render_docs(&docs);
        let src: std::net::IpAddr = match (v6, src_pod) {
            (false, true) => "10.0.0.2".parse().unwrap(),
            (false, false) => "203.0.113.200".parse().unwrap(),
            (true, true) => "fd00:10::2".parse().unwrap(),
            (true, false) => "2001:db8:77::2".parse().unwrap(),
        };
        for svc in &loaded.table.services {
            for port in &svc.ports {
                for dst in &svc.cluster_ips {
                    let p = Packet { src, dst: *dst, port: port.port, protocol: port.protocol, in_interface: None };
                    let r = nftables::trace(&loaded, &p).expect("nftables traces");
                    if !r.endpoints.is_empty() {
                        let sum: f64 = r.endpoints.iter().map(|e| e.probability).sum();
                        prop_assert!((sum - 1.0).abs() < 1e-9, "{:?}", r);
                        let listed: Vec<String> = r.outcome.split(", ").map(String::from).collect();
                        for e in &r.endpoints {
                            prop_assert!(listed.contains(&e.endpoint), "{:?}", r);
                        }
                    } else {
                        prop_assert!(matches!(r.outcome.as_str(), "" | "DROP" | "REJECT"), "{:?}", r);
                    }
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// The kernel accepts what is rendered for generated dual-stack clusters.
    #[test]
    fn nft_accepts_generated_clusters(svcs in prop::collection::vec(svc(), 1..6), v6 in any::<bool>()) {
        let (_, text) = render_docs(&documents(&svcs, v6));
        if let Some(r) = nft_check(&text) {
            prop_assert!(r.is_ok(), "{:?}\n{}", r, text);
        }
    }
}

/// Names a real API server would refuse never reach the rule text: the
/// service port is skipped (with a warning) and what is rendered stays
/// well formed and loadable.
#[test]
fn hostile_names_cannot_inject() {
    let hostile = [
        "evil\" ; flush ruleset ; \"",
        "a\nadd table ip x",
        "x } ; add rule ip kube-proxy services accept ; {",
        "back\\slash",
        "tab\there",
        "ünïcode",
        "$(reboot)",
        "a b",
    ];
    for h in hostile {
        for field in ["name", "namespace", "port"] {
            let (name, ns, port) = match field {
                "name" => (h, "ns", "p"),
                "namespace" => ("svc", h, "p"),
                _ => ("svc", "ns", h),
            };
            let doc = format!(
                "apiVersion: v1\nkind: Service\nmetadata: {{name: {name:?}, namespace: {ns:?}}}\nspec:\n  type: NodePort\n  clusterIP: 10.96.0.9\n  ports: [{{name: {port:?}, port: 80, nodePort: 30009}}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: s, namespace: {ns:?}, labels: {{kubernetes.io/service-name: {name:?}}}}}\naddressType: IPv4\nendpoints: [{{addresses: [10.1.0.1]}}]\nports: [{{name: {port:?}, port: 8080}}]\n"
            );
            let loaded = load(&[Input::new("hostile.yaml", doc)], &overrides());
            let r = nftables::render(&loaded, &Default::default()).expect("nftables renders");
            assert!(
                well_formed(&r.text).is_ok(),
                "{h:?} in {field}: {:?}",
                well_formed(&r.text)
            );
            assert!(!r.text.contains(h), "{h:?} in {field} reached the text");
            assert!(
                !r.text.contains("flush ruleset") && !r.text.contains("accept"),
                "{}",
                r.text
            );
            if let Some(res) = nft_check(&r.text) {
                assert!(res.is_ok(), "{h:?} in {field}: {res:?}");
            }
        }
    }
    // A valid name goes through and is quoted in comments as knftables quotes it.
    assert_eq!(nftables::render::quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
    let _ = Protocol::TCP;
}
