//! Properties of the iptables mode over generated clusters: the output is
//! deterministic and independent of document order, every KUBE-SVC/KUBE-SVL
//! chain gives each endpoint an equal share (in the model, in the printed
//! probabilities and through the tracer), and no name can add or change a
//! rule. Also the hello-world example traced at 50 % per endpoint, and the
//! fuzz target's checks (`common/iptables_checks.rs`).

#[path = "common/iptables_checks.rs"]
mod checks;

use checks::render_iptables_holds;
use libsvc::proxy::iptables::rulesets;
use libsvc::render::{Mode, RenderOptions, render};
use libsvc::table::Protocol;
use libsvc::trace::{Packet, trace};
use libsvc::{Input, Loaded, Overrides, load};
use proptest::prelude::*;
use std::collections::BTreeSet;

/// One generated service: its manifests as YAML documents.
#[derive(Debug, Clone)]
struct GenService {
    kind: u8,
    ports: Vec<(u8, Protocol)>,
    endpoints: Vec<(u8, u8, bool, u8)>,
    etp_local: bool,
    itp_local: bool,
    affinity: bool,
    external_ip: bool,
    ranges: bool,
}

fn gen_service() -> impl Strategy<Value = GenService> {
    (
        0u8..3,
        prop::collection::vec(
            (
                0u8..4,
                prop_oneof![
                    Just(Protocol::TCP),
                    Just(Protocol::UDP),
                    Just(Protocol::SCTP)
                ],
            ),
            1..3,
        ),
        prop::collection::vec((0u8..4, 0u8..40, any::<bool>(), 0u8..4), 0..7),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(kind, ports, endpoints, etp_local, itp_local, affinity, external_ip, ranges)| {
                GenService {
                    kind,
                    ports,
                    endpoints,
                    etp_local,
                    itp_local,
                    affinity,
                    external_ip,
                    ranges,
                }
            },
        )
}

/// The documents of service `i` (`name`, `namespace` given).
fn documents(i: usize, s: &GenService, ns: &str, name: &str) -> Vec<String> {
    // YAML double-quoted strings take JSON's escapes.
    let q = |t: &str| serde_json::to_string(t).unwrap_or_default();
    let (ns, name, slice_name) = (q(ns), q(name), q(&format!("{name}-1")));
    let ty = ["ClusterIP", "NodePort", "LoadBalancer"][s.kind as usize];
    let mut ports = String::new();
    let mut seen = BTreeSet::new();
    for (j, (p, proto)) in s.ports.iter().enumerate() {
        if !seen.insert((*p, *proto)) {
            continue;
        }
        ports.push_str(&format!(
            "  - {{name: p{p}{}, port: {}, protocol: {proto}{}}}\n",
            proto.lower(),
            80 + *p as u16,
            if s.kind > 0 {
                format!(", nodePort: {}", 30000 + i * 10 + j)
            } else {
                String::new()
            }
        ));
    }
    let mut svc = format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  type: {ty}\n  clusterIP: 172.30.{}.{}\n  ports:\n{ports}",
        i / 200,
        i % 200 + 1
    );
    if s.kind > 0 && s.etp_local {
        svc.push_str("  externalTrafficPolicy: Local\n");
        if s.kind == 2 {
            svc.push_str(&format!("  healthCheckNodePort: {}\n", 32000 + i));
        }
    }
    if s.itp_local {
        svc.push_str("  internalTrafficPolicy: Local\n");
    }
    if s.affinity {
        svc.push_str("  sessionAffinity: ClientIP\n");
    }
    if s.external_ip {
        svc.push_str(&format!("  externalIPs: [192.168.99.{}]\n", i % 250 + 1));
    }
    if s.kind == 2 {
        if s.ranges {
            svc.push_str("  loadBalancerSourceRanges: [203.0.113.0/25]\n");
        }
        svc.push_str(&format!(
            "status:\n  loadBalancer:\n    ingress: [{{ip: 5.6.{}.{}}}]\n",
            i / 200,
            i % 200 + 1
        ));
    }
    let mut eps = String::new();
    for (a, b, local, cond) in &s.endpoints {
        let (ready, serving, terminating) = match cond {
            0 | 1 => (true, true, false),
            2 => (false, true, true),
            _ => (false, false, true),
        };
        eps.push_str(&format!(
            "- addresses: [10.{}.{a}.{b}]\n  conditions: {{ready: {ready}, serving: {serving}, terminating: {terminating}}}\n{}",
            i % 250,
            if *local { "  nodeName: node-a\n" } else { "" }
        ));
    }
    let mut slice_ports = String::new();
    for (p, proto) in &seen {
        slice_ports.push_str(&format!(
            "- {{name: p{p}{}, port: {}, protocol: {proto}}}\n",
            proto.lower(),
            8000 + *p as u16
        ));
    }
    let slice = format!(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: {slice_name}\n  namespace: {ns}\n  labels: {{kubernetes.io/service-name: {name}}}\naddressType: IPv4\nendpoints:{}ports:\n{slice_ports}",
        if eps.is_empty() {
            " []\n".to_string()
        } else {
            format!("\n{eps}")
        },
    );
    vec![svc, slice]
}

const NODE: &str = "apiVersion: v1\nkind: Node\nmetadata: {name: node-a}\nstatus:\n  addresses: [{type: InternalIP, address: 192.168.0.2}]\n---\napiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nclusterCIDR: 10.0.0.0/8\n";

fn cluster_docs(svcs: &[GenService]) -> Vec<String> {
    let mut docs = Vec::new();
    for (i, s) in svcs.iter().enumerate() {
        docs.extend(documents(i, s, &format!("ns{}", i % 3), &format!("svc{i}")));
    }
    docs
}

/// `examples/hello-world.yaml` on the node of `examples/node.yaml`.
fn hello_world() -> Loaded {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/");
    let read = |f: &str| std::fs::read_to_string(format!("{root}{f}")).unwrap();
    load(
        &[
            Input::new("hello-world.yaml", read("hello-world.yaml")),
            Input::new("node.yaml", read("node.yaml")),
        ],
        &Overrides::default(),
    )
}

fn load_docs(docs: &[String]) -> Loaded {
    let text = format!("{}\n---\n{NODE}", docs.join("\n---\n"));
    let o = Overrides {
        ip_family: Some(libsvc::config::IpFamily::IPv4),
        ..Default::default()
    };
    let loaded = load(&[Input::new("gen.yaml", text)], &o);
    assert!(!loaded.has_parse_errors(), "{:?}", loaded.diagnostics);
    loaded
}

fn render_text(loaded: &Loaded) -> String {
    render(loaded, Mode::Iptables, &RenderOptions::default())
        .map(|r| r.text)
        .unwrap_or_else(|e| e.to_string())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn deterministic_and_order_independent(
        svcs in prop::collection::vec(gen_service(), 1..8),
        seed in any::<u64>(),
    ) {
        let docs = cluster_docs(&svcs);
        let a = render_text(&load_docs(&docs));
        prop_assert_eq!(&a, &render_text(&load_docs(&docs)));
        // A permutation of the documents (deterministic from the seed).
        let mut shuffled = docs.clone();
        let mut x = seed | 1;
        for i in (1..shuffled.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            shuffled.swap(i, (x % (i as u64 + 1)) as usize);
        }
        prop_assert_eq!(&a, &render_text(&load_docs(&shuffled)));
    }

    #[test]
    fn every_endpoint_gets_an_equal_share(svcs in prop::collection::vec(gen_service(), 1..8)) {
        let loaded = load_docs(&cluster_docs(&svcs));
        if let Err(e) = render_iptables_holds(&loaded) {
            prop_assert!(false, "{}", e);
        }
        // Through the tracer: a pod reaching a cluster IP with ready
        // endpoints under Cluster policy gets each of them at 1/n.
        for (i, s) in svcs.iter().enumerate() {
            // kube-proxy keeps one copy of an address: the first, or a local one.
            let mut kept = std::collections::BTreeMap::new();
            for e in &s.endpoints {
                if !kept.contains_key(&(e.0, e.1)) || e.2 {
                    kept.insert((e.0, e.1), e.3);
                }
            }
            let ready: BTreeSet<(u8, u8)> = kept.iter().filter(|e| *e.1 < 2).map(|e| *e.0).collect();
            if s.itp_local || ready.is_empty() {
                continue;
            }
            let (p, proto) = s.ports[0];
            let packet = Packet {
                in_interface: None,
                src: "10.200.0.9".parse().unwrap(),
                dst: format!("172.30.{}.{}", i / 200, i % 200 + 1).parse().unwrap(),
                port: 80 + p as u16,
                protocol: proto,
            };
            let t = trace(&loaded, Mode::Iptables, &packet).unwrap();
            prop_assert_eq!(t.endpoints.len(), ready.len(), "{:?}", t);
            for e in &t.endpoints {
                prop_assert!((e.probability - 1.0 / ready.len() as f64).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn hostile_names_cannot_inject_rules(
        ns in "\\PC{1,70}",
        name in "(\\PC|\n|\"|\\\\){1,70}",
        svc in gen_service(),
    ) {
        let docs = documents(0, &svc, &ns, &name);
        let loaded = load_docs(&docs);
        // The service is rendered even though its names fail validation.
        prop_assert_eq!(loaded.table.services.len(), 1);
        if let Err(e) = render_iptables_holds(&loaded) {
            prop_assert!(false, "{}", e);
        }
    }

    #[test]
    fn valid_names_render_as_kube_proxy_writes_them(
        ns in "[a-z]([a-z0-9-]{0,20}[a-z0-9])?",
        name in "[a-z]([a-z0-9-]{0,20}[a-z0-9])?",
        svc in gen_service(),
    ) {
        let loaded = load_docs(&documents(0, &svc, &ns, &name));
        let text = render_text(&loaded);
        // Valid names are plain tokens: never escaped, and the
        // single-word comments stay unquoted.
        prop_assert!(!text.contains('\\'));
        for line in text.lines().filter(|l| l.starts_with("-A KUBE-SEP-")) {
            let plain_comment = format!("--comment {ns}/{name}:");
            prop_assert!(line.contains(&plain_comment), "{}", line);
        }
    }
}

#[test]
fn hello_world_nodeport_splits_half_and_half() {
    let loaded = hello_world();
    let packet = Packet {
        in_interface: None,
        src: "203.0.113.9".parse().unwrap(),
        dst: "192.168.0.2".parse().unwrap(),
        port: 30080,
        protocol: Protocol::TCP,
    };
    let t = trace(&loaded, Mode::Iptables, &packet).unwrap();
    assert_eq!(t.outcome, "10.244.1.30:8080, 10.244.2.31:8080");
    assert!(t.masquerade);
    assert_eq!(t.endpoints.len(), 2);
    for e in &t.endpoints {
        assert_eq!(e.probability, 0.5);
    }
    assert!(t.path.iter().any(|s| s.chain == "KUBE-NODEPORTS"));
}

#[test]
fn json_is_the_model() {
    let loaded = load_docs(&cluster_docs(&[GenService {
        kind: 1,
        ports: vec![(0, Protocol::TCP)],
        endpoints: vec![(0, 1, true, 0), (0, 2, false, 0)],
        etp_local: false,
        itp_local: false,
        affinity: false,
        external_ip: false,
        ranges: false,
    }]));
    let json = RenderOptions {
        json: true,
        ..RenderOptions::default()
    };
    let r = render(&loaded, Mode::Iptables, &json).unwrap();
    let sets = r.json.as_array().unwrap();
    assert_eq!(sets.len(), 1);
    assert_eq!(sets[0]["family"], "IPv4");
    assert_eq!(sets[0]["tables"][0]["name"], "Filter");
    assert_eq!(serde_json::to_value(rulesets(&loaded)).unwrap(), r.json);
}

/// A connection from the node itself enters through nat OUTPUT; from a
/// pod it is not masqueraded, from outside the pod CIDR it is.
#[test]
fn hello_world_cluster_ip_from_node_and_pod() {
    let loaded = hello_world();
    let vip = loaded
        .table
        .get("default", "hello-world")
        .unwrap()
        .cluster_ips[0];
    let at = |src: &str| {
        let packet = Packet {
            in_interface: None,
            src: src.parse().unwrap(),
            dst: vip,
            port: 8080,
            protocol: Protocol::TCP,
        };
        trace(&loaded, Mode::Iptables, &packet).unwrap()
    };
    let from_node = at("192.168.0.2");
    assert_eq!(from_node.path[0].chain, "OUTPUT");
    assert!(from_node.masquerade);
    assert_eq!(from_node.endpoints.len(), 2);
    let from_pod = at("10.244.3.3");
    assert_eq!(from_pod.path[0].chain, "PREROUTING");
    assert!(!from_pod.masquerade);
    assert_eq!(from_pod.outcome, "10.244.1.30:8080, 10.244.2.31:8080");
}
