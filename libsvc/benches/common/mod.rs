//! Generated clusters shared by every benchmark: `services` Services in ten
//! namespaces, each with one port and one EndpointSlice of `endpoints`
//! ready endpoints; every tenth Service is a NodePort.
#![allow(dead_code)]

use libsvc::{Input, Loaded, Overrides, load};
use std::fmt::Write;

/// The manifests of a generated cluster, as one YAML stream.
pub fn cluster_yaml(services: usize, endpoints: usize) -> String {
    let mut y = String::with_capacity(services * (400 + endpoints * 40));
    for i in 0..services {
        let (ns, name) = (format!("ns{}", i % 10), format!("svc{i}"));
        let ip = format!("172.30.{}.{}", i / 250, i % 250 + 1);
        let ports = if i % 10 == 0 {
            format!(
                "\n  type: NodePort\n  ports: [{{name: http, port: 80, nodePort: {}}}]",
                30000 + i / 10
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
        }
    }
    y.push_str("---\napiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nclusterCIDR: 10.0.0.0/8\n");
    y
}

/// The settings every benchmark uses: IPv4 only, node 192.168.0.2.
pub fn overrides() -> Overrides {
    Overrides {
        ip_family: Some(libsvc::config::IpFamily::IPv4),
        service_cidrs: vec!["172.30.0.0/16".parse().expect("literal CIDR")],
        node_ips: vec!["192.168.0.2".parse().expect("literal IP")],
        ..Default::default()
    }
}

/// A generated cluster, loaded.
pub fn cluster(services: usize, endpoints: usize) -> Loaded {
    load(
        &[Input::new("bench.yaml", cluster_yaml(services, endpoints))],
        &overrides(),
    )
}
