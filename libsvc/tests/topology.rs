//! Topology-aware routing end to end: the node's zone, the hints the
//! EndpointSlice controller writes, the endpoints each backend programs,
//! and the tracers' notes. Kubernetes' own topology tests run as data in
//! `topology_conformance.rs`; these are svcgen's.

use libsvc::config::IpFamily;
use libsvc::proxy::topology::TopologyMode;
use libsvc::proxy::{categorize_endpoints, service_ports};
use libsvc::render::{Mode, RenderOptions, render};
use libsvc::resolve::topology::cpu_nanos;
use libsvc::table::Protocol;
use libsvc::trace::{Packet, trace};
use libsvc::{Input, Loaded, Overrides, load};
use proptest::prelude::*;
use std::collections::BTreeSet;

fn load_str(yaml: &str, node_name: Option<&str>) -> Loaded {
    load(
        &[Input::new("test.yaml", yaml.to_string())],
        &Overrides {
            node_name: node_name.map(String::from),
            ..Default::default()
        },
    )
}

/// The two example files the topology example needs, with the service CIDR.
fn example() -> Vec<Input> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/");
    ["00-service-cidr.yaml", "node.yaml", "topology-aware.yaml"]
        .iter()
        .map(|f| Input::new(*f, std::fs::read_to_string(format!("{root}{f}")).unwrap()))
        .collect()
}

fn packet(dst: &str) -> Packet {
    Packet {
        src: "10.244.1.5".parse().unwrap(),
        dst: dst.parse().unwrap(),
        port: 80,
        protocol: Protocol::TCP,
        in_interface: None,
    }
}

fn traced(loaded: &Loaded, mode: Mode, dst: &str) -> (BTreeSet<String>, Vec<String>) {
    let r = trace(loaded, mode, &packet(dst)).unwrap();
    let eps = r.endpoints.iter().map(|e| e.endpoint.clone()).collect();
    (eps, r.notes)
}

/// An endpoint of a given slice: (ip, nodeName, ready, forZones, forNodes).
type Ep<'a> = (&'a str, &'a str, bool, &'a [&'a str], &'a [&'a str]);

/// A computed endpoint: (ip, zone, nodeName, forZones, forNodes).
type Computed = (
    String,
    Option<String>,
    Option<String>,
    Vec<String>,
    Vec<String>,
);

/// A Service at 10.96.0.100:80 with one EndpointSlice of `endpoints`
/// (`(ip, nodeName, ready, forZones, forNodes)`), and the Nodes `nodes`
/// (`(name, zone)`).
fn manifest(endpoints: &[Ep], nodes: &[(&str, &str)], itp_local: bool) -> String {
    let mut y = format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: web, namespace: default}}\nspec:\n  clusterIP: 10.96.0.100\n  internalTrafficPolicy: {}\n  ports: [{{port: 80}}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: web-1\n  namespace: default\n  labels: {{kubernetes.io/service-name: web}}\naddressType: IPv4\nports: [{{port: 8080}}]\nendpoints:\n",
        if itp_local { "Local" } else { "Cluster" }
    );
    let names = |l: &[&str]| {
        l.iter()
            .map(|n| format!("{{name: {n}}}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (ip, node, ready, zones, for_nodes) in endpoints {
        y += &format!(
            "- addresses: [{ip}]\n  nodeName: {node}\n  conditions: {{ready: {ready}}}\n  hints: {{forZones: [{}], forNodes: [{}]}}\n",
            names(zones),
            names(for_nodes)
        );
    }
    for (name, zone) in nodes {
        y += &format!(
            "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels: {{topology.kubernetes.io/zone: {zone}}}\n"
        );
    }
    y
}

fn cluster_of(loaded: &Loaded) -> (Vec<String>, TopologyMode, Vec<String>) {
    let ports = service_ports(&loaded.table, &loaded.settings, IpFamily::IPv4);
    let c = categorize_endpoints(&ports[0]);
    (
        c.cluster.iter().map(|e| e.addr()).collect(),
        c.topology.mode,
        c.topology.ignored,
    )
}

// pkg/proxy/topology.go topologyModeFromHints: node hints on every ready
// endpoint and one for this node → PreferSameNode, only this node's.
#[test]
fn node_hints_for_this_node_win_over_zone_hints() {
    let y = manifest(
        &[
            ("10.0.0.1", "node-1", true, &["zone-a"], &["node-1"]),
            ("10.0.0.2", "node-2", true, &["zone-a"], &["node-2"]),
            ("10.0.0.3", "node-3", true, &["zone-b"], &["node-3"]),
        ],
        &[("node-1", "zone-a")],
        false,
    );
    let (eps, mode, _) = cluster_of(&load_str(&y, None));
    assert_eq!(mode, TopologyMode::PreferSameNode);
    assert_eq!(eps, ["10.0.0.1:8080"]);
}

// topologyModeFromHints: node hints, but none for this node → zone hints.
#[test]
fn node_hints_for_other_nodes_fall_back_to_zone_hints() {
    let y = manifest(
        &[
            ("10.0.0.2", "node-2", true, &["zone-a"], &["node-2"]),
            ("10.0.0.3", "node-3", true, &["zone-b"], &["node-3"]),
        ],
        &[("node-1", "zone-a")],
        false,
    );
    let (eps, mode, ignored) = cluster_of(&load_str(&y, None));
    assert_eq!(mode, TopologyMode::PreferSameZone);
    assert_eq!(eps, ["10.0.0.2:8080"]);
    assert_eq!(ignored, ["no endpoint is hinted for node \"node-1\""]);
}

// topologyModeFromHints: one ready endpoint without a node hint → no node
// topology; an unready endpoint without hints does not count.
#[test]
fn a_missing_node_hint_disables_node_topology_unready_ones_do_not_count() {
    let y = manifest(
        &[
            ("10.0.0.1", "node-1", true, &["zone-b"], &["node-1"]),
            ("10.0.0.2", "node-2", true, &["zone-a"], &[]),
            ("10.0.0.3", "node-3", false, &[], &[]),
        ],
        &[("node-1", "zone-a")],
        false,
    );
    let (eps, mode, ignored) = cluster_of(&load_str(&y, None));
    assert_eq!(mode, TopologyMode::PreferSameZone);
    assert_eq!(eps, ["10.0.0.2:8080"]);
    assert_eq!(ignored, ["one or more ready endpoints have no node hint"]);
}

// CategorizeEndpoints: the node's zone is the label of the Node named like
// kube-proxy's node (--node-name), not of another Node.
#[test]
fn the_zone_is_the_one_of_the_node_named_like_kube_proxy() {
    let y = manifest(
        &[
            ("10.0.0.1", "node-1", true, &["zone-a"], &[]),
            ("10.0.0.2", "node-2", true, &["zone-b"], &[]),
        ],
        &[("node-1", "zone-a"), ("node-2", "zone-b")],
        false,
    );
    for (node, want) in [("node-1", "10.0.0.1:8080"), ("node-2", "10.0.0.2:8080")] {
        let loaded = load_str(&y, Some(node));
        assert_eq!(cluster_of(&loaded).0, [want], "{node}");
    }
    // A node without a Node object has no zone: hints are ignored.
    let (eps, mode, ignored) = cluster_of(&load_str(&y, Some("node-9")));
    assert_eq!((eps.len(), mode), (2, TopologyMode::None));
    assert_eq!(
        ignored,
        ["node \"node-9\" has no topology.kubernetes.io/zone label"]
    );
}

// CategorizeEndpoints: internalTrafficPolicy Local takes only this node's
// endpoints, hints or not (topology applies to Cluster endpoints only).
#[test]
fn local_policy_ignores_topology() {
    let y = manifest(
        &[
            ("10.0.0.1", "node-1", true, &["zone-b"], &[]),
            ("10.0.0.2", "node-2", true, &["zone-a"], &[]),
        ],
        &[("node-1", "zone-a")],
        true,
    );
    let loaded = load_str(&y, None);
    let ports = service_ports(&loaded.table, &loaded.settings, IpFamily::IPv4);
    let c = categorize_endpoints(&ports[0]);
    assert!(c.cluster.is_empty());
    assert_eq!(c.local.len(), 1);
    let (eps, notes) = traced(&loaded, Mode::Iptables, "10.96.0.100");
    assert_eq!(eps, BTreeSet::from(["10.0.0.1:8080".to_string()]));
    assert_eq!(
        notes,
        [
            "topology: hints not used: default/web has internalTrafficPolicy Local (only this node's endpoints)"
        ]
    );
}

// CategorizeEndpoints: with no ready endpoint anywhere, serving-terminating
// ones are used without topology.
#[test]
fn terminating_fallback_ignores_hints() {
    let y = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  clusterIP: 10.96.0.100\n  ports: [{port: 80}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: web-1, labels: {kubernetes.io/service-name: web}}\naddressType: IPv4\nports: [{port: 8080}]\nendpoints:\n- addresses: [10.0.0.1]\n  conditions: {ready: false, serving: true, terminating: true}\n  hints: {forZones: [{name: zone-a}]}\n- addresses: [10.0.0.2]\n  conditions: {ready: false, serving: true, terminating: true}\n  hints: {forZones: [{name: zone-b}]}\n---\napiVersion: v1\nkind: Node\nmetadata: {name: node-1, labels: {topology.kubernetes.io/zone: zone-a}}\n";
    let (eps, mode, _) = cluster_of(&load_str(y, None));
    assert_eq!(mode, TopologyMode::None);
    assert_eq!(eps, ["10.0.0.1:8080", "10.0.0.2:8080"]);
}

/// Pods on three Nodes of three zones behind one Service with `extra` in
/// its metadata/spec; the computed slice's endpoints as (ip, zone, node,
/// forZones, forNodes).
fn computed(meta: &str, spec: &str, ready: [bool; 3]) -> Vec<Computed> {
    let mut y = format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n{meta}spec:\n  clusterIP: 10.96.0.100\n  selector: {{app: web}}\n  ports: [{{port: 80}}]\n{spec}"
    );
    for (i, zone) in ["zone-a", "zone-b", ""].iter().enumerate() {
        let labels = if zone.is_empty() {
            String::new()
        } else {
            format!("  labels: {{topology.kubernetes.io/zone: {zone}}}\n")
        };
        y += &format!(
            "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: node-{i}\n{labels}---\napiVersion: v1\nkind: Pod\nmetadata: {{name: web-{i}, labels: {{app: web}}}}\nspec: {{nodeName: node-{i}}}\nstatus:\n  podIP: 10.0.0.{i}\n  conditions: [{{type: Ready, status: \"{}\"}}]\n",
            if ready[i] { "True" } else { "False" }
        );
    }
    let loaded = load_str(&y, None);
    loaded.table.services[0].slices[0]
        .endpoints
        .iter()
        .map(|e| {
            (
                e.addresses[0].clone(),
                e.zone.clone(),
                e.node_name.clone(),
                e.hint_zones.clone(),
                e.hint_nodes.clone(),
            )
        })
        .collect()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

// endpointslice utils.go podToEndpoint (zone from the Pod's Node, nodeName)
// and trafficdist preferCloseHeuristic.update with node hints
// (PreferSameNode): ready endpoints hinted for their zone and node; an
// endpoint whose Node has no zone gets a node hint only; unready ones none.
#[test]
fn controller_writes_zone_and_node_hints_for_prefer_same_node() {
    let got = computed(
        "",
        "  trafficDistribution: PreferSameNode\n",
        [true, false, true],
    );
    let some = |x: &str| Some(x.to_string());
    assert_eq!(
        got,
        vec![
            (
                s(&["10.0.0.0"])[0].clone(),
                some("zone-a"),
                some("node-0"),
                s(&["zone-a"]),
                s(&["node-0"])
            ),
            (
                s(&["10.0.0.1"])[0].clone(),
                some("zone-b"),
                some("node-1"),
                vec![],
                vec![]
            ),
            (
                s(&["10.0.0.2"])[0].clone(),
                None,
                some("node-2"),
                vec![],
                s(&["node-2"])
            ),
        ]
    );
}

// Reconciler.reconcileByAddressType: the topology annotation (Auto) wins
// over trafficDistribution; here the topology cache refuses (the Nodes
// have no CPU), so no hints at all, and PreferClose is not applied.
#[test]
fn topology_mode_auto_takes_precedence_over_traffic_distribution() {
    let got = computed(
        "  annotations: {service.kubernetes.io/topology-mode: Auto}\n",
        "  trafficDistribution: PreferClose\n",
        [true, true, true],
    );
    assert!(
        got.iter().all(|e| e.3.is_empty() && e.4.is_empty()),
        "{got:?}"
    );
    // The deprecated annotation is read first: `disabled` there lets
    // trafficDistribution apply even with topology-mode Auto.
    let got = computed(
        "  annotations: {service.kubernetes.io/topology-mode: Auto, service.kubernetes.io/topology-aware-hints: disabled}\n",
        "  trafficDistribution: PreferClose\n",
        [true, true, true],
    );
    assert_eq!(got[0].3, s(&["zone-a"]));
    assert_eq!(got[1].3, s(&["zone-b"]));
}

// trafficdist: values other than PreferClose / PreferSameZone /
// PreferSameNode write no hints.
#[test]
fn unknown_traffic_distribution_writes_no_hints() {
    let got = computed(
        "",
        "  trafficDistribution: PreferElsewhere\n",
        [true, true, true],
    );
    assert!(got.iter().all(|e| e.3.is_empty() && e.4.is_empty()));
    assert_eq!(got[0].1.as_deref(), Some("zone-a"));
}

// resource.ParseQuantity as TopologyCache.SetNodes reads allocatable CPU.
#[test]
fn cpu_quantities() {
    for (q, nanos) in [
        ("4", Some(4_000_000_000)),
        ("3500m", Some(3_500_000_000)),
        ("0.5", Some(500_000_000)),
        (".5", Some(500_000_000)),
        ("1e3", Some(1_000_000_000_000)),
        ("2k", Some(2_000_000_000_000)),
        ("1Ki", Some(1_024_000_000_000)),
        ("250u", Some(250_000)),
        ("7n", Some(7)),
        ("0.0000000001", Some(1)),
        ("+2", Some(2_000_000_000)),
        ("0", Some(0)),
        ("", None),
        ("m", None),
        ("-1", None),
        ("4 cores", None),
        ("1.2.3", None),
        ("1e", None),
        ("99999999999999999999999999999E", None),
    ] {
        assert_eq!(cpu_nanos(q), nanos, "{q:?}");
    }
}

// The example end to end: zones as podToEndpoint sets them, hints as
// trafficdist (PreferSameZone) and TopologyCache.AddHints (topology-mode
// Auto) write them, and CategorizeEndpoints on node-1 (zone-a) and node-2
// (zone-b), in every backend, with the tracer's note.
#[test]
fn example_traces_in_every_backend() {
    let loaded = load(&example(), &Overrides::default());
    assert!(
        loaded.errors().next().is_none(),
        "{:#?}",
        loaded.diagnostics
    );
    let set = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<BTreeSet<_>>();
    for mode in [Mode::Iptables, Mode::Nftables, Mode::Ipvs] {
        let (eps, notes) = traced(&loaded, mode, "10.96.50.10");
        assert_eq!(
            eps,
            set(&["10.244.1.60:8080", "10.244.1.61:8080"]),
            "{mode:?}"
        );
        assert_eq!(
            notes.last().unwrap(),
            "topology: zone hints for zone \"zone-a\", 2 of 4 ready endpoints of shop/checkout:http used (Cluster traffic policy)"
        );
        // Auto: zone-a (a quarter of the CPU) keeps one of its two endpoints.
        let (eps, notes) = traced(&loaded, mode, "10.96.50.11");
        assert_eq!(eps, set(&["10.244.1.61:8080"]), "{mode:?}");
        assert_eq!(
            notes.last().unwrap(),
            "topology: zone hints for zone \"zone-a\", 1 of 4 ready endpoints of shop/catalog:http used (Cluster traffic policy)"
        );
    }
    // node-2's view (zone-b, half the CPU): its own endpoint and the one zone-a gave.
    let node2 = load(
        &example(),
        &Overrides {
            node_name: Some("node-2".into()),
            ..Default::default()
        },
    );
    let (eps, _) = traced(&node2, Mode::Nftables, "10.96.50.11");
    assert_eq!(eps, set(&["10.244.1.60:8080", "10.244.2.60:8080"]));
    let json =
        serde_json::to_value(trace(&loaded, Mode::Ipvs, &packet("10.96.50.10")).unwrap()).unwrap();
    assert!(json["notes"].to_string().contains("topology: zone hints"));
}

// Whole rulesets of the example (node-1's view) in each backend: each
// proxier programs the Cluster endpoints CategorizeEndpoints chose (iptables
// and nftables: endpoint chains only for allReachableEndpoints; IPVS: real
// servers of the cluster IP).
#[test]
fn example_rulesets() {
    let loaded = load(&example(), &Overrides::default());
    for (name, mode) in [
        ("topology_iptables", Mode::Iptables),
        ("topology_nftables", Mode::Nftables),
        ("topology_ipvs", Mode::Ipvs),
    ] {
        let r = render(&loaded, mode, &RenderOptions::default()).unwrap();
        insta::assert_snapshot!(name, r.text);
    }
}

fn hinted_manifest(zones: &[usize], node_zone: usize) -> String {
    const Z: [&str; 3] = ["zone-a", "zone-b", "zone-c"];
    let mut y = String::from(
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  clusterIP: 10.96.0.100\n  ports: [{port: 80}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: web-1, labels: {kubernetes.io/service-name: web}}\naddressType: IPv4\nports: [{port: 8080}]\nendpoints:\n",
    );
    for (i, z) in zones.iter().enumerate() {
        y += &format!(
            "- addresses: [10.244.{}.10]\n  zone: {}\n  hints: {{forZones: [{{name: {}}}]}}\n",
            i + 1,
            Z[*z],
            Z[*z]
        );
    }
    y += &format!(
        "---\napiVersion: v1\nkind: Node\nmetadata: {{name: node-1, labels: {{topology.kubernetes.io/zone: {}}}}}\nstatus: {{addresses: [{{type: InternalIP, address: 192.168.0.2}}]}}\n---\napiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nclusterCIDR: 10.244.0.0/16\n",
        Z[node_zone]
    );
    y
}

proptest! {
    // CategorizeEndpoints with complete zone hints and the node's zone
    // covered: every backend programs exactly the endpoints hinted for the
    // node's zone, and the iptables and nftables tracers agree.
    #[test]
    fn complete_hints_choose_exactly_the_hinted_endpoints(
        zones in proptest::collection::vec(0usize..3, 1..7),
        pick in 0usize..7,
    ) {
        let node_zone = zones[pick % zones.len()];
        let loaded = load_str(&hinted_manifest(&zones, node_zone), None);
        let want: BTreeSet<String> = zones
            .iter()
            .enumerate()
            .filter(|(_, z)| **z == node_zone)
            .map(|(i, _)| format!("10.244.{}.10:8080", i + 1))
            .collect();
        let p = Packet { src: "10.244.200.1".parse().unwrap(), ..packet("10.96.0.100") };
        let mut verdicts = Vec::new();
        for mode in [Mode::Iptables, Mode::Nftables, Mode::Ipvs] {
            let r = trace(&loaded, mode, &p).unwrap();
            let got: BTreeSet<String> = r.endpoints.iter().map(|e| e.endpoint.clone()).collect();
            prop_assert_eq!(&got, &want, "{:?}", mode);
            prop_assert!(r.notes.last().is_some_and(|n| n.starts_with("topology: zone hints")));
            verdicts.push((r.outcome.split(", ").map(String::from).collect::<BTreeSet<_>>(), r.masquerade));
        }
        prop_assert_eq!(&verdicts[0], &verdicts[1]);
    }
}
