//! Validation beyond the corpus: cross-object conflicts, Endpoints and
//! EndpointSlices, rules the corpus does not cover; and properties (no
//! panics, determinism) on arbitrary small Services.

use libsvc::{Input, Overrides, load};
use proptest::prelude::*;
use serde_json::{Value, json};

fn errors(yaml: &str) -> Vec<String> {
    let loaded = load(&[Input::new("in.yaml", yaml)], &Overrides::default());
    assert!(!loaded.has_parse_errors(), "{:#?}", loaded.diagnostics);
    loaded.errors().map(|d| d.message.clone()).collect()
}

fn located(yaml: &str) -> Vec<String> {
    let loaded = load(&[Input::new("in.yaml", yaml)], &Overrides::default());
    loaded.errors().map(|d| d.to_string()).collect()
}

#[test]
fn second_service_with_the_same_cluster_ip_is_refused() {
    let yaml = "\
apiVersion: v1
kind: Service
metadata: {name: a}
spec: {clusterIP: 10.96.0.20, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: b}
spec: {clusterIP: 10.96.0.20, ports: [{port: 80}]}
";
    assert_eq!(
        located(yaml),
        [
            "in.yaml:9:19: error: spec.clusterIPs: Invalid value: [\"10.96.0.20\"]: failed to allocate IP 10.96.0.20: provided IP is already allocated (to Service default/a at in.yaml:4:19)"
        ]
    );
}

#[test]
fn second_service_with_the_same_node_port_is_refused() {
    let yaml = "\
apiVersion: v1
kind: Service
metadata: {name: a, namespace: x}
spec:
  type: NodePort
  ports: [{port: 80, nodePort: 30080}]
---
apiVersion: v1
kind: Service
metadata: {name: b}
spec:
  type: LoadBalancer
  ports: [{port: 80, protocol: UDP, nodePort: 30080}]
";
    assert_eq!(
        located(yaml),
        [
            "in.yaml:13:47: error: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated (to Service x/a at in.yaml:6:32)"
        ]
    );
}

#[test]
fn a_refused_service_reserves_nothing() {
    // The first create fails validation, so its node port is released.
    let yaml = "\
apiVersion: v1
kind: Service
metadata: {name: Bad}
spec: {type: NodePort, ports: [{port: 80, nodePort: 30080}]}
---
apiVersion: v1
kind: Service
metadata: {name: good}
spec: {type: NodePort, ports: [{port: 80, nodePort: 30080}]}
";
    let errs = errors(yaml);
    assert_eq!(errs.len(), 1);
    assert!(errs[0].starts_with("metadata.name: Invalid value: \"Bad\": a DNS-1035 label"));
}

#[test]
fn cluster_ip_outside_the_service_cidr() {
    let yaml = "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {clusterIP: 10.0.0.1, ports: [{port: 80}]}\n";
    assert_eq!(
        errors(yaml),
        [
            "spec.clusterIPs: Invalid value: [\"10.0.0.1\"]: failed to allocate IP 10.0.0.1: the provided network does not match the current range"
        ]
    );
    // The network address is inside the CIDR but never handed out.
    let network = "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {clusterIP: 10.96.0.0, ports: [{port: 80}]}\n";
    assert_eq!(
        errors(network),
        [
            "spec.clusterIPs: Invalid value: [\"10.96.0.0\"]: failed to allocate IP 10.96.0.0: the provided IP (10.96.0.0) is not in the valid range. The range of valid IPs is 10.96.0.0/12"
        ]
    );
    let overrides = Overrides {
        service_cidrs: vec!["10.0.0.0/24".parse().unwrap()],
        ..Default::default()
    };
    let loaded = load(&[Input::new("in.yaml", yaml)], &overrides);
    assert_eq!(loaded.errors().count(), 0);
}

#[test]
fn service_rules_outside_the_corpus() {
    let svc = |spec: &str| {
        errors(&format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: a}}\nspec: {spec}\n"
        ))
    };
    assert_eq!(
        svc("{type: ExternalName, externalName: db.example.com, clusterIP: 10.96.0.5}"),
        ["spec.clusterIPs: Forbidden: may not be set for ExternalName services"]
    );
    assert_eq!(svc("{selector: {app: a}}"), ["spec.ports: Required value"]);
    assert_eq!(
        svc("{ports: [{port: 80}, {port: 81}]}"),
        [
            "spec.ports[0].name: Required value",
            "spec.ports[1].name: Required value"
        ]
    );
    assert_eq!(
        svc("{ports: [{port: 80, protocol: tcp}]}"),
        [
            "spec.ports[0].protocol: Unsupported value: \"tcp\": supported values: \"SCTP\", \"TCP\", \"UDP\""
        ]
    );
    assert_eq!(
        svc("{sessionAffinity: Sticky, ports: [{port: 80}]}"),
        [
            "spec.sessionAffinity: Unsupported value: \"Sticky\": supported values: \"ClientIP\", \"None\""
        ]
    );
    assert_eq!(
        svc("{externalIPs: [0.0.0.0, 169.254.1.1], ports: [{port: 80}]}"),
        [
            "spec.externalIPs[0]: Invalid value: \"0.0.0.0\": may not be unspecified (0.0.0.0)",
            "spec.externalIPs[1]: Invalid value: \"169.254.1.1\": may not be in the link-local range (169.254.0.0/16, fe80::/10)"
        ]
    );
    assert_eq!(
        svc(
            "{type: LoadBalancer, loadBalancerSourceRanges: [' 10.0.0.0/8', x], ports: [{port: 80}]}"
        ),
        [
            "spec.LoadBalancerSourceRanges[1]: Invalid value: \"x\": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"
        ]
    );
    assert_eq!(
        svc("{ipFamilyPolicy: Dual, ports: [{port: 80}]}"),
        [
            "spec.ipFamilyPolicy: Unsupported value: \"Dual\": supported values: \"PreferDualStack\", \"RequireDualStack\", \"SingleStack\""
        ]
    );
    assert_eq!(
        svc("{clusterIP: 10.96.0.5, clusterIPs: [10.96.0.6], ports: [{port: 80}]}"),
        ["spec.clusterIPs: Invalid value: [\"10.96.0.6\"]: first value must match `clusterIP`"]
    );
    assert_eq!(
        svc("{ipFamilyPolicy: RequireDualStack, ports: [{port: 80}]}"),
        [
            "spec.ipFamilyPolicy: Invalid value: \"RequireDualStack\": this cluster is not configured for dual-stack services"
        ]
    );
    assert_eq!(
        svc(
            "{type: NodePort, ports: [{port: 80, nodePort: 30001}, {port: 80, protocol: UDP}, {port: 80, name: c}]}"
        ),
        [
            "spec.ports[0].name: Required value",
            "spec.ports[1].name: Required value",
            "spec.ports[2].nodePort: Duplicate value: 30001",
            "spec.ports[2]: Duplicate value: {\"Name\":\"\",\"Protocol\":\"TCP\",\"AppProtocol\":null,\"Port\":80,\"TargetPort\":0,\"NodePort\":0}"
        ]
    );
    assert_eq!(
        svc(
            "{type: LoadBalancer, externalTrafficPolicy: Local, healthCheckNodePort: 80, ports: [{port: 80}]}"
        ),
        [
            "Internal error occurred: failed to allocate requested HealthCheck NodePort 80: provided port is not in the valid range. The range of valid ports is 30000-32767"
        ]
    );
    assert_eq!(svc("{ports: [{port: 80, appProtocol: 'a/b/c'}]}").len(), 1);
}

#[test]
fn endpoints_rules() {
    let yaml = "\
apiVersion: v1
kind: Endpoints
metadata: {name: web}
subsets:
- addresses: [{ip: 127.0.0.1}, {ip: nope}]
  ports: [{port: 0}, {port: 80, protocol: ICMP}]
";
    assert_eq!(
        errors(yaml),
        [
            "subsets[0].addresses[0].ip: Invalid value: \"127.0.0.1\": may not be in the loopback range (127.0.0.0/8, ::1/128)",
            "subsets[0].addresses[1].ip: Invalid value: \"nope\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            "subsets[0].addresses[1].ip: Invalid value: \"nope\": must be a valid IP address",
            "subsets[0].ports[0].name: Required value",
            "subsets[0].ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
            "subsets[0].ports[1].name: Required value",
            "subsets[0].ports[1].protocol: Unsupported value: \"ICMP\": supported values: \"SCTP\", \"TCP\", \"UDP\""
        ]
    );
}

#[test]
fn endpoint_slice_rules() {
    let yaml = "\
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints:
- addresses: [2001:db8::1, 224.0.0.1]
- addresses: []
ports: [{name: http, port: 80}, {name: http, port: 81}]
";
    assert_eq!(
        errors(yaml),
        [
            "endpoints[0].addresses[0]: Invalid value: \"2001:db8::1\": must be a valid IPv4 address",
            "endpoints[0].addresses[1]: Invalid value: \"224.0.0.1\": may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)",
            "endpoints[1].addresses: Required value: must contain at least 1 address",
            "ports[1].name: Duplicate value: \"http\""
        ]
    );
    let bad_type = "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s}\naddressType: IP\n";
    assert_eq!(
        errors(bad_type),
        ["addressType: Unsupported value: \"IP\": supported values: \"FQDN\", \"IPv4\", \"IPv6\""]
    );
}

fn pick<T: Clone + std::fmt::Debug + 'static>(pool: Vec<T>) -> impl Strategy<Value = T> {
    proptest::sample::select(pool)
}

fn port() -> impl Strategy<Value = Value> {
    (
        pick(vec![
            json!(null),
            json!(""),
            json!("http"),
            json!("HTTP"),
            json!("a.b"),
        ]),
        pick(vec![
            json!(null),
            json!(0),
            json!(80),
            json!(65536),
            json!(-1),
        ]),
        pick(vec![
            json!(null),
            json!("TCP"),
            json!("UDP"),
            json!("icmp"),
            json!(""),
        ]),
        pick(vec![
            json!(null),
            json!(0),
            json!(8080),
            json!("web"),
            json!("a--b"),
            json!(""),
        ]),
        pick(vec![
            json!(null),
            json!(0),
            json!(30000),
            json!(80),
            json!(32767),
        ]),
    )
        .prop_map(|(name, port, proto, target, node)| {
            let mut m = serde_json::Map::new();
            for (k, v) in [
                ("name", name),
                ("port", port),
                ("protocol", proto),
                ("targetPort", target),
                ("nodePort", node),
            ] {
                if !v.is_null() {
                    m.insert(k.into(), v);
                }
            }
            Value::Object(m)
        })
}

fn service() -> impl Strategy<Value = Value> {
    let spec = (
        pick(vec![
            json!(null),
            json!("ClusterIP"),
            json!("NodePort"),
            json!("LoadBalancer"),
            json!("ExternalName"),
            json!("Bogus"),
        ]),
        pick(vec![
            json!(null),
            json!("None"),
            json!("10.96.0.10"),
            json!("10.0.0.1"),
            json!("2001::1"),
            json!("bad"),
        ]),
        pick(vec![
            json!(null),
            json!([]),
            json!(["10.96.0.10", "fd00::1"]),
            json!(["None", "10.96.0.1"]),
        ]),
        pick(vec![
            json!(null),
            json!(["IPv4"]),
            json!(["IPv6", "IPv4"]),
            json!(["IPv5"]),
        ]),
        pick(vec![
            json!(null),
            json!("SingleStack"),
            json!("RequireDualStack"),
            json!("x"),
        ]),
        proptest::collection::vec(port(), 0..4),
        pick(vec![
            json!(null),
            json!({}),
            json!({"app": "web"}),
            json!({"a=b": "c d"}),
        ]),
        pick(vec![
            json!(null),
            json!("Local"),
            json!("Cluster"),
            json!("Global"),
        ]),
        pick(vec![json!(null), json!(0), json!(30100), json!(80)]),
        pick(vec![
            json!(null),
            json!("ClientIP"),
            json!("None"),
            json!("Sticky"),
        ]),
        pick(vec![
            json!(null),
            json!(["1.2.3.4"]),
            json!(["127.0.0.1", "x"]),
        ]),
        pick(vec![json!(null), json!("db.example.com."), json!("")]),
    );
    (pick(vec!["web", "Web", "", "a.b"]), spec).prop_map(
        |(name, (t, ip, ips, fams, policy, ports, sel, etp, hc, aff, eips, en))| {
            let mut spec = serde_json::Map::new();
            for (k, v) in [
                ("type", t),
                ("clusterIP", ip),
                ("clusterIPs", ips),
                ("ipFamilies", fams),
                ("ipFamilyPolicy", policy),
                ("ports", Value::Array(ports)),
                ("selector", sel),
                ("externalTrafficPolicy", etp),
                ("healthCheckNodePort", hc),
                ("sessionAffinity", aff),
                ("externalIPs", eips),
                ("externalName", en),
            ] {
                if !v.is_null() {
                    spec.insert(k.into(), v);
                }
            }
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec})
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Never panics, always the same answer, every error located and
    /// written `field: Type...` (or an internal error).
    #[test]
    fn validation_is_total_and_deterministic(svcs in proptest::collection::vec(service(), 1..4)) {
        let text = svcs.iter().map(|s| s.to_string()).collect::<Vec<_>>().join("\n---\n");
        let input = [Input::new("p.yaml", text)];
        let a = load(&input, &Overrides::default());
        let b = load(&input, &Overrides::default());
        prop_assert_eq!(&a.diagnostics, &b.diagnostics);
        for d in a.errors() {
            prop_assert!(d.location.is_some());
            if let Some(f) = &d.field {
                prop_assert!(
                    d.message.starts_with(&format!("{f}: ")) || d.message.starts_with("Internal error occurred: "),
                    "{}", d.message
                );
            }
        }
    }
}
