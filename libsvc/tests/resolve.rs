//! The endpoints controller, Endpoints mirroring and allocation.

use libsvc::config::IpFamily;
use libsvc::table::{ServiceTable, SliceSource};
use libsvc::{Input, Overrides, load};
use proptest::prelude::*;

fn table(text: &str) -> ServiceTable {
    let loaded = load(&[Input::new("t.yaml", text)], &Overrides::default());
    assert!(!loaded.has_parse_errors(), "{:#?}", loaded.diagnostics);
    loaded.table
}

fn pod(name: &str, ip: &str, ready: bool, extra: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels: {{app: web}}\n{extra}spec:\n  nodeName: n1\n  hostname: {name}\n  subdomain: web\n  containers:\n  - name: c\n    ports:\n    - {{name: http, containerPort: 8080}}\nstatus:\n  podIPs: [{{ip: {ip}}}]\n  conditions: [{{type: Ready, status: \"{}\"}}]\n",
        if ready { "True" } else { "False" }
    )
}

const SVC: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  clusterIP: 10.96.0.20\n  selector: {app: web}\n  ports:\n  - {name: http, port: 80, targetPort: http}\n  - {name: raw, port: 81, targetPort: 9000}\n";

#[test]
fn endpoints_controller_reads_pods_like_kubernetes() {
    let text = format!(
        "{SVC}{}{}{}{}",
        pod("a", "10.244.0.1", true, ""),
        pod("b", "10.244.0.2", false, ""),
        pod(
            "c",
            "10.244.0.3",
            true,
            "  deletionTimestamp: \"2026-01-01T00:00:00Z\"\n"
        ),
        "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: d\n  labels: {app: web}\nspec:\n  containers: [{name: c}]\nstatus:\n  podIP: 10.244.0.4\n  conditions: [{type: Ready, status: \"True\"}]\n"
    );
    let t = table(&text);
    let svc = t.get("default", "web").unwrap();
    assert!(svc.slices.iter().all(|s| s.source == SliceSource::Computed));
    // a, b, c serve http on 8080 and raw on 9000; d has no port named http.
    let with_http: Vec<&str> = svc
        .slices
        .iter()
        .filter(|s| {
            s.ports
                .iter()
                .any(|p| p.name == "http" && p.port == Some(8080))
        })
        .flat_map(|s| s.endpoints.iter().map(|e| e.addresses[0].as_str()))
        .collect();
    assert_eq!(with_http, ["10.244.0.1", "10.244.0.2", "10.244.0.3"]);
    let without: Vec<&str> = svc
        .slices
        .iter()
        .filter(|s| s.ports.iter().all(|p| p.name != "http"))
        .flat_map(|s| s.endpoints.iter().map(|e| e.addresses[0].as_str()))
        .collect();
    assert_eq!(without, ["10.244.0.4"]);
    let ep = |ip: &str| {
        svc.slices
            .iter()
            .flat_map(|s| &s.endpoints)
            .find(|e| e.addresses[0] == ip)
            .unwrap()
            .clone()
    };
    let (a, b, c) = (ep("10.244.0.1"), ep("10.244.0.2"), ep("10.244.0.3"));
    assert!(a.ready && a.serving && !a.terminating);
    assert!(!b.ready && !b.serving && !b.terminating);
    assert!(!c.ready && c.serving && c.terminating);
    // hostname is published because subdomain equals the Service name.
    assert_eq!(a.hostname.as_deref(), Some("a"));
    assert_eq!(a.node_name.as_deref(), Some("n1"));
}

#[test]
fn publish_not_ready_addresses_makes_every_pod_ready() {
    let svc = SVC.replace("spec:\n", "spec:\n  publishNotReadyAddresses: true\n");
    let t = table(&format!("{svc}{}", pod("b", "10.244.0.2", false, "")));
    let e = &t.services[0].slices[0].endpoints[0];
    assert!(e.ready && !e.serving);
}

#[test]
fn given_slices_win_and_endpoints_are_mirrored() {
    let text = format!(
        "{SVC}{}---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: web-x\n  labels: {{kubernetes.io/service-name: web}}\naddressType: IPv4\nendpoints:\n- addresses: [10.9.9.9]\nports:\n- {{name: http, port: 1234}}\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: legacy}}\nspec:\n  clusterIP: 10.96.0.21\n  ports: [{{port: 80}}]\n---\napiVersion: v1\nkind: Endpoints\nmetadata: {{name: legacy}}\nsubsets:\n- addresses: [{{ip: 1.2.3.4}}, {{ip: \"2001:db8::1\"}}]\n  notReadyAddresses: [{{ip: 1.2.3.5}}]\n  ports: [{{port: 9376}}]\n",
        pod("a", "10.244.0.1", true, "")
    );
    let t = table(&text);
    let web = t.get("default", "web").unwrap();
    assert_eq!(web.slices.len(), 1);
    assert_eq!(web.slices[0].source, SliceSource::Given);
    assert_eq!(web.slices[0].endpoints[0].addresses, ["10.9.9.9"]);
    let legacy = t.get("default", "legacy").unwrap();
    assert!(
        legacy
            .slices
            .iter()
            .all(|s| s.source == SliceSource::MirroredFromEndpoints)
    );
    let v4: Vec<_> = legacy
        .slices
        .iter()
        .filter(|s| s.address_type.family() == Some(IpFamily::IPv4))
        .flat_map(|s| &s.endpoints)
        .map(|e| (e.addresses[0].as_str(), e.ready))
        .collect();
    assert_eq!(v4, [("1.2.3.4", true), ("1.2.3.5", false)]);
    assert!(
        legacy
            .slices
            .iter()
            .any(|s| s.address_type.family() == Some(IpFamily::IPv6))
    );
}

#[test]
fn a_stored_service_is_not_allocated_a_node_port() {
    let t = table(
        "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  type: NodePort\n  clusterIP: 10.96.0.30\n  ports: [{port: 80}]\n",
    );
    assert_eq!(t.services[0].ports[0].node_port, None);
    let t = table(
        "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  type: NodePort\n  ports: [{port: 80, protocol: TCP}, {port: 80, protocol: UDP, name: u}]\n",
    );
    let s = &t.services[0];
    assert!(s.allocated_cluster_ip);
    let np = s.ports[0].node_port.unwrap();
    assert!((30000..=32767).contains(&np));
    assert_eq!(
        s.ports[1].node_port,
        Some(np),
        "same port number, same node port"
    );
}

#[test]
fn dual_stack_allocation_follows_the_policy() {
    let o = Overrides {
        service_cidrs: vec![
            "10.96.0.0/16".parse().unwrap(),
            "fd00:10:96::/112".parse().unwrap(),
        ],
        ..Overrides::default()
    };
    let text = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ipFamilyPolicy: PreferDualStack\n  ipFamilies: [IPv6]\n  ports: [{port: 80}]\n";
    let loaded = load(&[Input::new("t.yaml", text)], &o);
    let s = &loaded.table.services[0];
    assert_eq!(s.ip_families, [IpFamily::IPv6, IpFamily::IPv4]);
    assert!(s.cluster_ips[0].is_ipv6() && s.cluster_ips[1].is_ipv4());
}

fn service_doc(i: usize, node_port: bool) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{i}\n  namespace: ns-{}\nspec:\n  type: {}\n  ports: [{{port: {}}}]\n",
        i % 3,
        if node_port { "NodePort" } else { "ClusterIP" },
        80 + i
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Allocation gives the same answer whatever the document order, inside
    /// the ranges, never twice the same value.
    #[test]
    fn allocation_is_deterministic_and_order_independent(
        kinds in proptest::collection::vec(any::<bool>(), 1..40),
        seed in any::<u64>(),
    ) {
        let docs: Vec<String> = kinds.iter().enumerate().map(|(i, np)| service_doc(i, *np)).collect();
        let mut shuffled = docs.clone();
        // A deterministic shuffle from the seed.
        let mut s = seed;
        for i in (1..shuffled.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (s >> 33) as usize % (i + 1));
        }
        let o = Overrides { service_cidrs: vec!["10.96.0.0/26".parse().unwrap()], ..Overrides::default() };
        let a = load(&[Input::new("a.yaml", docs.join("---\n"))], &o).table;
        let b = load(&[Input::new("b.yaml", shuffled.join("---\n"))], &o).table;
        let summary = |t: &ServiceTable| t.services.iter().map(|s| (s.key(), s.cluster_ips.clone(), s.ports.iter().map(|p| p.node_port).collect::<Vec<_>>())).collect::<Vec<_>>();
        prop_assert_eq!(summary(&a), summary(&b));
        let mut ips = std::collections::BTreeSet::new();
        let mut ports = std::collections::BTreeSet::new();
        let net: ipnet::IpNet = "10.96.0.0/26".parse().unwrap();
        for s in &a.services {
            for ip in &s.cluster_ips {
                prop_assert!(net.contains(ip) && *ip != net.network() && *ip != net.broadcast());
                prop_assert!(ips.insert(*ip));
            }
            for p in s.ports.iter().filter_map(|p| p.node_port) {
                prop_assert!((30000..=32767).contains(&p));
                prop_assert!(ports.insert(p));
            }
        }
    }
}
