//! Generated clusters for the property tests (`tracers_agree.rs`,
//! `dump_roundtrip.rs`, `roundtrip_kernel.rs`).
#![allow(dead_code)]

use proptest::prelude::*;

/// A generated Service: type, policies, affinity, ports and endpoints.
#[derive(Debug, Clone)]
pub struct GenService {
    pub kind: u8,
    pub etp_local: bool,
    pub itp_local: bool,
    pub affinity: bool,
    pub udp: bool,
    pub endpoints: Vec<(bool, bool, bool)>, // (local node, ready, terminating)
}

pub fn gen_service() -> impl Strategy<Value = GenService> {
    (
        0u8..3,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        proptest::collection::vec((any::<bool>(), any::<bool>(), any::<bool>()), 0..4),
    )
        .prop_map(
            |(kind, etp_local, itp_local, affinity, udp, endpoints)| GenService {
                kind,
                etp_local,
                itp_local,
                affinity,
                udp,
                endpoints,
            },
        )
}

pub fn manifest(services: &[GenService]) -> String {
    let mut y = String::from(
        "apiVersion: v1\nkind: Node\nmetadata: {name: test-node}\nstatus:\n  addresses: [{type: InternalIP, address: 192.168.0.2}]\n---\napiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nclusterCIDR: 10.0.0.0/8\n",
    );
    for (i, s) in services.iter().enumerate() {
        let kind = ["ClusterIP", "NodePort", "LoadBalancer"][s.kind as usize];
        let proto = if s.udp { "UDP" } else { "TCP" };
        let mut spec = format!(
            "  type: {kind}\n  clusterIP: 172.30.0.{}\n  ports: [{{name: p, port: 80, protocol: {proto}{}}}]\n",
            10 + i,
            if s.kind > 0 {
                format!(", nodePort: {}", 30010 + i)
            } else {
                String::new()
            }
        );
        if s.kind > 0 && s.etp_local {
            spec.push_str("  externalTrafficPolicy: Local\n");
        }
        if s.itp_local {
            spec.push_str("  internalTrafficPolicy: Local\n");
        }
        if s.affinity {
            spec.push_str("  sessionAffinity: ClientIP\n");
        }
        let status = if s.kind == 2 {
            format!(
                "status:\n  loadBalancer:\n    ingress: [{{ip: 1.2.3.{}}}]\n",
                10 + i
            )
        } else {
            String::new()
        };
        y.push_str(&format!("---\napiVersion: v1\nkind: Service\nmetadata: {{name: svc{i}, namespace: ns}}\nspec:\n{spec}{status}"));
        y.push_str(&format!("---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: svc{i}-1\n  namespace: ns\n  labels: {{kubernetes.io/service-name: svc{i}}}\naddressType: IPv4\nports: [{{name: p, port: 8080, protocol: {proto}}}]\nendpoints:\n"));
        for (j, (local, ready, terminating)) in s.endpoints.iter().enumerate() {
            y.push_str(&format!(
                "- addresses: [10.180.{i}.{}]\n  nodeName: {}\n  conditions: {{ready: {ready}, serving: {}, terminating: {terminating}}}\n",
                j + 1,
                if *local { "test-node" } else { "other-node" },
                *ready || *terminating
            ));
        }
    }
    y
}
