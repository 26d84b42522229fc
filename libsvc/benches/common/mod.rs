//! Generated clusters shared by every benchmark: `services` Services in ten
//! namespaces, each with one port and one EndpointSlice of `endpoints`
//! ready endpoints; every tenth Service (or as [`Shape`] says) is a NodePort.
#![allow(dead_code)]

use libsvc::{Input, Loaded, Overrides, load};
use std::fmt::Write;

/// What varies between the benchmarks' clusters.
#[derive(Clone, Copy)]
pub struct Shape {
    /// Every `node_port_every`-th Service is a NodePort.
    pub node_port_every: usize,
    /// Endpoints are spread over nodes `node-0`…`node-{nodes-1}` (the node
    /// of [`overrides`] is `node-0`); 0: endpoints name no node.
    pub nodes: usize,
}

impl Default for Shape {
    fn default() -> Shape {
        Shape {
            node_port_every: 10,
            nodes: 0,
        }
    }
}

/// The manifests of a generated cluster, as one YAML stream.
pub fn cluster_yaml(services: usize, endpoints: usize, shape: Shape) -> String {
    let mut y = String::with_capacity(services * (400 + endpoints * 40));
    for i in 0..services {
        y.push_str(&service_yaml(i, endpoints, shape));
    }
    y.push_str(SETTINGS_YAML);
    y
}

/// The cluster's settings document.
pub const SETTINGS_YAML: &str = "---\napiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nclusterCIDR: 10.0.0.0/8\n";

/// Service `i` and its EndpointSlice (`endpoints` endpoints).
pub fn service_yaml(i: usize, endpoints: usize, shape: Shape) -> String {
    let mut y = String::new();
    let (ns, name) = (format!("ns{}", i % 10), format!("svc{i}"));
    let ip = format!("172.30.{}.{}", i / 250, i % 250 + 1);
    let ports = if i.is_multiple_of(shape.node_port_every) {
        format!(
            "\n  type: NodePort\n  ports: [{{name: http, port: 80, nodePort: {}}}]",
            30000 + i / shape.node_port_every
        )
    } else {
        "\n  ports: [{name: http, port: 80}]".to_string()
    };
    let _ = write!(
        y,
        "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  clusterIP: {ip}{ports}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: {name}-1\n  namespace: {ns}\n  labels: {{kubernetes.io/service-name: {name}}}\naddressType: IPv4\nports: [{{name: http, port: 8080}}]\nendpoints:\n"
    );
    for e in 0..endpoints {
        let n = i * endpoints + e;
        let _ = writeln!(
            y,
            "- addresses: [10.{}.{}.{}]",
            n >> 16 & 255,
            n >> 8 & 255,
            n & 255
        );
        if shape.nodes > 0 {
            let _ = writeln!(y, "  nodeName: node-{}", e % shape.nodes);
        }
    }
    y
}

/// The cluster as one input per Service (`svcN.yaml`) and the settings
/// (`settings.yaml`), as the agent reads a directory.
pub fn cluster_files(services: usize, endpoints: usize, shape: Shape) -> Vec<Input> {
    let mut v: Vec<Input> = (0..services)
        .map(|i| Input::new(format!("svc{i}.yaml"), service_yaml(i, endpoints, shape)))
        .collect();
    v.push(Input::new("settings.yaml", SETTINGS_YAML));
    v
}

/// The settings every benchmark uses: IPv4 only, node `node-0` at 192.168.0.2.
pub fn overrides() -> Overrides {
    Overrides {
        ip_family: Some(libsvc::config::IpFamily::IPv4),
        service_cidrs: vec!["172.30.0.0/16".parse().expect("literal CIDR")],
        node_ips: vec!["192.168.0.2".parse().expect("literal IP")],
        node_name: Some("node-0".into()),
        ..Default::default()
    }
}

/// A generated cluster, loaded.
pub fn cluster(services: usize, endpoints: usize, shape: Shape) -> Loaded {
    load(
        &[Input::new(
            "bench.yaml",
            cluster_yaml(services, endpoints, shape),
        )],
        &overrides(),
    )
}

/// The same cluster as `kubectl get svc,endpointslices -A -o json` prints it:
/// one `List`, four-space indentation, then the settings document (a second
/// input, since a JSON text holds one value).
pub fn cluster_json(services: usize, endpoints: usize, shape: Shape) -> String {
    let mut items = Vec::with_capacity(services * 2);
    for i in 0..services {
        let (ns, name) = (format!("ns{}", i % 10), format!("svc{i}"));
        let ip = format!("172.30.{}.{}", i / 250, i % 250 + 1);
        let mut port = serde_json::json!({"name": "http", "port": 80});
        let mut spec = serde_json::json!({"clusterIP": ip});
        if i.is_multiple_of(shape.node_port_every) {
            spec["type"] = "NodePort".into();
            port["nodePort"] = (30000 + i / shape.node_port_every).into();
        }
        spec["ports"] = serde_json::json!([port]);
        items.push(serde_json::json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns},
            "spec": spec,
        }));
        let eps: Vec<serde_json::Value> = (0..endpoints)
            .map(|e| {
                let n = i * endpoints + e;
                let mut ep = serde_json::json!({"addresses": [format!("10.{}.{}.{}", n >> 16 & 255, n >> 8 & 255, n & 255)]});
                if shape.nodes > 0 {
                    ep["nodeName"] = format!("node-{}", e % shape.nodes).into();
                }
                ep
            })
            .collect();
        items.push(serde_json::json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": format!("{name}-1"), "namespace": ns,
                         "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080}],
            "endpoints": eps,
        }));
    }
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}});
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    serde::Serialize::serialize(&list, &mut ser).expect("JSON of JSON values");
    out.push(b'\n');
    String::from_utf8(out).expect("serde_json writes UTF-8")
}
