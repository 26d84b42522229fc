//! The nftables and IPVS tracers route a packet as the kernel does: after
//! prerouting DNAT, a packet for a local address (a node address, loopback,
//! an address IPVS mode binds to kube-ipvs0) is delivered through the input
//! hook, any other is forwarded. A packet passing through the node to an
//! outside address on a NodePort number is not a NodePort hit. Whole
//! reports are insta snapshots.

use libsvc::render::Mode;
use libsvc::table::Protocol;
use libsvc::trace::{Packet, report, trace};
use libsvc::{Input, Overrides, load};

/// One node (192.168.0.2), kube-proxy matching node ports on every address,
/// a NodePort Service with one endpoint on another node, a NodePort Service
/// without endpoints, a ClientIP-affinity ClusterIP Service, and a Service
/// whose endpoint runs on this node.
const CLUSTER: &str = r#"
apiVersion: v1
kind: Node
metadata: {name: node-1}
status:
  addresses: [{type: InternalIP, address: 192.168.0.2}]
---
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clusterCIDR: 10.244.0.0/16
nodePortAddresses: [0.0.0.0/0]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: NodePort
  clusterIP: 10.96.0.30
  ports: [{port: 80, targetPort: 8080, nodePort: 30080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  namespace: default
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
ports: [{port: 8080, protocol: TCP}]
endpoints:
- addresses: [10.244.1.5]
  nodeName: node-2
---
apiVersion: v1
kind: Service
metadata: {name: empty, namespace: default}
spec:
  type: NodePort
  clusterIP: 10.96.0.31
  ports: [{port: 80, nodePort: 30081}]
---
apiVersion: v1
kind: Service
metadata: {name: sticky, namespace: default}
spec:
  clusterIP: 10.96.0.32
  sessionAffinity: ClientIP
  ports: [{port: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: sticky-1
  namespace: default
  labels: {kubernetes.io/service-name: sticky}
addressType: IPv4
ports: [{port: 80, protocol: TCP}]
endpoints:
- addresses: [10.244.1.6]
---
apiVersion: v1
kind: Service
metadata: {name: self, namespace: default}
spec:
  clusterIP: 10.96.0.33
  ports: [{port: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: self-1
  namespace: default
  labels: {kubernetes.io/service-name: self}
addressType: IPv4
ports: [{port: 80, protocol: TCP}]
endpoints:
- addresses: [10.244.0.8]
  nodeName: node-1
"#;

/// (what the case shows, source, destination, port)
const PACKETS: &[(&str, &str, &str, u16)] = &[
    (
        "NodePort on the node's address: to the endpoint on another node, masqueraded",
        "203.0.113.5",
        "192.168.0.2",
        30080,
    ),
    (
        "the same port number to an outside address, passing through: not a NodePort",
        "10.244.0.7",
        "198.51.100.7",
        30080,
    ),
    (
        "NodePort without endpoints on the node's address: input hook, rejected",
        "203.0.113.5",
        "192.168.0.2",
        30081,
    ),
    (
        "the same port number to an outside address, passing through: forwarded, not rejected",
        "10.244.0.7",
        "198.51.100.7",
        30081,
    ),
    (
        "ClusterIP with ClientIP affinity from a pod: no masquerade, affinity noted",
        "10.244.0.7",
        "10.96.0.32",
        80,
    ),
    (
        "a pod on this node reaching its own Service: hairpin, masqueraded",
        "10.244.0.8",
        "10.96.0.33",
        80,
    ),
];

fn reports(mode: Mode) -> String {
    let loaded = load(
        &[Input::new("cluster.yaml", CLUSTER)],
        &Overrides::default(),
    );
    let mut out = String::new();
    for (what, src, dst, port) in PACKETS {
        let packet = Packet {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            port: *port,
            protocol: Protocol::TCP,
            in_interface: None,
        };
        let r = trace(&loaded, mode, &packet).expect("a ruleset for IPv4");
        out.push_str(&format!("# {what}\n{}\n", report(&packet, &r)));
    }
    out
}

/// nftables: kube-proxy's `services` chain matches node ports only with
/// `fib daddr type local` (pkg/proxy/nftables/proxier.go `syncProxyRules`),
/// and its `nodeport-endpoints-check` is jumped to from the input hook only
/// (`nftablesJumpChains`, installed by `setupNFTables`), so a forwarded
/// packet never meets it (kube-proxy's test tracer, helpers_test.go
/// `tracePacket`, walks forward and input both); `masquerading`
/// in NAT postrouting is where the mark turns into SNAT.
#[test]
fn nftables_routes_after_dnat() {
    insta::assert_snapshot!(reports(Mode::Nftables));
}

/// IPVS: virtual servers answer in the kernel's LOCAL_IN only, for node
/// addresses and the addresses kube-proxy binds to kube-ipvs0
/// (pkg/proxy/ipvs/proxier.go `syncService` binds them); KUBE-SERVICES
/// jumps to KUBE-NODE-PORT only for `--dst-type LOCAL`.
#[test]
fn ipvs_sees_only_local_destinations() {
    insta::assert_snapshot!(reports(Mode::Ipvs));
}

/// iptables, for comparison (its tracer follows kube-proxy's test tracer
/// and is unchanged): nat `KUBE-SERVICES` jumps to `KUBE-NODEPORTS` only for
/// `--dst-type LOCAL`, and the no-endpoint node-port REJECT in
/// `KUBE-EXTERNAL-SERVICES` tests `--dst-type LOCAL` too
/// (pkg/proxy/iptables/proxier.go `syncProxyRules`), so the same packets
/// end the same way as in the other two modes.
#[test]
fn iptables_agrees_on_the_same_packets() {
    insta::assert_snapshot!(reports(Mode::Iptables));
}
