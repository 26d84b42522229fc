//! The paths from API object to rule that kube-proxy's unit tests skip:
//! which Node is kube-proxy's and what it reads from it, the local-traffic
//! detectors, the server's defaults, the informers' label filters, the
//! fields kube-proxy does not read, and the EndpointSlice cache. Each test
//! names the upstream function it follows; rule texts are whole-output
//! snapshots per backend (`tests/snapshots/`).

use libsvc::config::{IpFamily, host_ips, override_primary};
use libsvc::render::{Mode, RenderOptions, render};
use libsvc::trace::{Packet, trace};
use libsvc::{Input, Loaded, Overrides, Severity};
use std::net::IpAddr;

fn load(yaml: &str, overrides: Overrides) -> Loaded {
    libsvc::load(&[Input::new("in.yaml", yaml)], &overrides)
}

fn v4() -> Overrides {
    Overrides {
        ip_family: Some(IpFamily::IPv4),
        ..Default::default()
    }
}

/// The text and the diagnostics of one proxy mode.
fn out(l: &Loaded, mode: Mode) -> (String, Vec<libsvc::Diagnostic>) {
    let r = render(l, mode, &RenderOptions::default()).expect("renders");
    (r.text, r.diagnostics)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn packet(src: &str, dst: &str, port: u16, iface: Option<&str>) -> Packet {
    Packet {
        src: ip(src),
        dst: ip(dst),
        port,
        protocol: libsvc::table::Protocol::TCP,
        in_interface: iface.map(String::from),
    }
}

const PROXY: &str = "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n";

/// A ClusterIP Service and an externalTrafficPolicy: Local NodePort
/// Service, one endpoint each on node `n1`: every rule a detector lands in.
const SERVICES: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: 10.96.0.10
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: np, namespace: default}
spec:
  type: NodePort
  externalTrafficPolicy: Local
  clusterIP: 10.96.0.20
  ports: [{port: 80, targetPort: 8080, nodePort: 30080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: "", port: 8080, protocol: TCP}]
endpoints:
- addresses: [10.244.1.5]
  conditions: {ready: true}
  nodeName: n1
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: np-1, namespace: default, labels: {kubernetes.io/service-name: np}}
addressType: IPv4
ports: [{name: "", port: 8080, protocol: TCP}]
endpoints:
- addresses: [10.244.1.6]
  conditions: {ready: true}
  nodeName: n1
"#;

const NODE_N1: &str = r#"
apiVersion: v1
kind: Node
metadata: {name: n1}
spec: {podCIDR: 10.244.1.0/24, podCIDRs: [10.244.1.0/24]}
status:
  addresses:
  - {type: InternalIP, address: 192.168.0.2}
"#;

fn with_config(config: &str) -> String {
    format!("{SERVICES}---{NODE_N1}---\n{PROXY}hostnameOverride: n1\n{config}\n")
}

// --- kube-proxy's node -------------------------------------------------

/// pkg/proxy/nodemanager/nodemanager.go `newNodeManager`/`getNodeInfo`: the
/// informer lists only the Node named like kube-proxy's hostname
/// (component-helpers `GetHostname`: trimmed, lower-cased), not whichever
/// Node comes last in the input.
#[test]
fn the_node_is_the_one_named_like_the_hostname() {
    let yaml = r#"
apiVersion: v1
kind: Node
metadata: {name: node-b, labels: {topology.kubernetes.io/zone: zone-b}}
spec: {podCIDRs: [10.244.2.0/24]}
status: {addresses: [{type: InternalIP, address: 10.0.0.2}]}
---
apiVersion: v1
kind: Node
metadata: {name: node-a}
spec: {podCIDRs: [10.244.1.0/24]}
status: {addresses: [{type: InternalIP, address: 10.0.0.1}]}
---
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
hostnameOverride: " Node-B "
"#;
    let l = load(yaml, Overrides::default());
    let n = &l.settings.node;
    assert_eq!(n.name, "node-b");
    assert!(n.object_found && n.name_given && !n.name_guessed);
    assert_eq!(n.host_ips, vec![ip("10.0.0.2")]);
    assert_eq!(n.pod_cidrs, vec!["10.244.2.0/24".to_string()]);
    assert_eq!(n.labels["topology.kubernetes.io/zone"], "zone-b");
    // --node-name wins over hostnameOverride.
    let o = Overrides {
        node_name: Some("node-a".into()),
        ..Default::default()
    };
    let l = load(yaml, o);
    assert_eq!(l.settings.node.host_ips, vec![ip("10.0.0.1")]);
    // A name no Node has: loopback node IPs (newNodeManager logs
    // "Timed out waiting for node to exist" and goes on).
    let with_svc = format!("{SERVICES}---{yaml}");
    let o = Overrides {
        node_name: Some("ghost".into()),
        ..v4()
    };
    let l = load(&with_svc, o);
    assert!(l.settings.node.host_ips.is_empty() && !l.settings.node.object_found);
    let (_, d) = out(&l, Mode::Nftables);
    assert!(
        d.iter().any(|d| d.severity == Severity::Warning
            && d.message
                .contains("Timed out waiting for node to exist node=\"ghost\"")),
        "{d:?}"
    );
    let no_ips = with_svc.replace(
        "status: {addresses: [{type: InternalIP, address: 10.0.0.2}]}",
        "",
    );
    let l = load(&no_ips, v4());
    let (_, d) = out(&l, Mode::Ipvs);
    assert!(
        d.iter().any(|d| d
            .message
            .contains("Timed out waiting for node to be assigned IPs")),
        "{d:?}"
    );
    // No name and several Nodes: the first, said when rendering.
    let l = load(&yaml.replace("hostnameOverride: \" Node-B \"", ""), v4());
    assert_eq!(l.settings.node.name, "node-b");
    let (_, d) = out(&l, Mode::Iptables);
    assert!(
        d.iter()
            .any(|d| d.severity == Severity::Warning && d.message.contains("several Nodes")),
        "{d:?}"
    );
}

/// pkg/util/node/node.go `GetNodeHostIPs`: InternalIPs first, then
/// ExternalIPs; the first is primary, the second the first of the other
/// family. pkg/proxy/nodemanager `detectNodeIPs`: `bindAddress` overrides
/// the primary IP and family.
#[test]
fn node_ips_are_get_node_host_ips() {
    let yaml = r#"
apiVersion: v1
kind: Node
metadata: {name: n1}
status:
  addresses:
  - {type: ExternalIP, address: 203.0.113.5}
  - {type: Hostname, address: n1}
  - {type: InternalIP, address: "fd00::5"}
  - {type: InternalIP, address: "fd00::6"}
  - {type: ExternalIP, address: 198.51.100.1}
"#;
    let l = load(yaml, Overrides::default());
    let n = &l.settings.node;
    assert_eq!(n.host_ips, vec![ip("fd00::5"), ip("203.0.113.5")]);
    assert_eq!(n.primary_family(), IpFamily::IPv6);
    assert_eq!(n.node_ip(IpFamily::IPv4), ip("203.0.113.5"));
    // Every InternalIP is a local address, and so are the host IPs.
    assert_eq!(n.ips, vec![ip("fd00::5"), ip("fd00::6"), ip("203.0.113.5")]);

    assert_eq!(
        host_ips(&[ip("10.0.0.1"), ip("10.0.0.2")]),
        vec![ip("10.0.0.1")]
    );
    let raw = [ip("10.0.0.1"), ip("fd00::1")];
    assert_eq!(
        override_primary(&raw, Some(ip("fd00::9"))),
        vec![ip("fd00::9"), ip("10.0.0.1")]
    );
    assert_eq!(override_primary(&raw, Some(ip("0.0.0.0"))), raw.to_vec());

    let with_bind = format!("{yaml}---\n{PROXY}hostnameOverride: n1\nbindAddress: 192.0.2.7\n");
    let l = load(&with_bind, Overrides::default());
    assert_eq!(
        l.settings.node.host_ips,
        vec![ip("192.0.2.7"), ip("fd00::5")]
    );
    assert_eq!(l.settings.node.primary_family(), IpFamily::IPv4);
}

/// pkg/proxy/nodemanager `detectNodeIPs`: a family without a node IP gets
/// the loopback address, and the proxiers test it against
/// loadBalancerSourceRanges (iptables/nftables/ipvs `syncProxyRules`,
/// `allowFromNode`): 0.0.0.0/0 holds 127.0.0.1, so the node may reach the
/// load-balancer IP itself.
#[test]
fn a_family_without_node_ip_is_loopback() {
    let yaml = r#"
apiVersion: v1
kind: Service
metadata: {name: lb, namespace: default}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.30
  loadBalancerSourceRanges: [0.0.0.0/0]
  ports: [{port: 80, nodePort: 30090}]
status: {loadBalancer: {ingress: [{ip: 198.51.100.10}]}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: lb-1, namespace: default, labels: {kubernetes.io/service-name: lb}}
addressType: IPv4
ports: [{name: "", port: 80, protocol: TCP}]
endpoints: [{addresses: [10.244.3.3], conditions: {ready: true}}]
"#;
    let l = load(yaml, v4());
    assert_eq!(l.settings.node.node_ip(IpFamily::IPv4), ip("127.0.0.1"));
    let (ipt, _) = out(&l, Mode::Iptables);
    assert!(ipt.contains("-s 198.51.100.10 -j KUBE-EXT-"), "{ipt}");
    let (nft, _) = out(&l, Mode::Nftables);
    assert!(
        nft.contains("ip saddr != { 0.0.0.0/0 , 198.51.100.10 } drop"),
        "{nft}"
    );
    let (ipvs, _) = out(&l, Mode::Ipvs);
    assert!(
        ipvs.contains("198.51.100.10,tcp:80,198.51.100.10"),
        "{ipvs}"
    );
}

// --- local-traffic detectors -------------------------------------------

/// pkg/proxy/util/localdetector.go `GetLocalTrafficDetectors` and the
/// `NewDetectLocalBy*` constructors, written by each backend's
/// `syncProxyRules` (iptables: `IfNotLocal` in the SVC chain, `IfLocal` in
/// the EXT chain; nftables: `IfNotLocalNFT`/`IfLocalNFT`; ipvs: `IfNotLocal`
/// on the KUBE-CLUSTER-IP rule). ClusterCIDR prints the parsed network
/// (host bits cleared).
#[test]
fn detectors_in_every_backend() {
    let cases = [
        ("cluster_cidr", "clusterCIDR: 10.244.7.9/16"),
        ("node_cidr", "detectLocalMode: NodeCIDR"),
        (
            "bridge",
            "detectLocalMode: BridgeInterface\ndetectLocal: {bridgeInterface: cbr0}",
        ),
        (
            "prefix",
            "detectLocalMode: InterfaceNamePrefix\ndetectLocal: {interfaceNamePrefix: veth}",
        ),
    ];
    for (name, config) in cases {
        let l = load(&with_config(config), v4());
        for mode in [Mode::Iptables, Mode::Nftables, Mode::Ipvs] {
            let (text, diags) = out(&l, mode);
            assert!(
                !diags.iter().any(|d| d.severity == Severity::Warning),
                "{name}/{}: {diags:?}",
                mode.name()
            );
            insta::assert_snapshot!(format!("detector_{name}_{}", mode.name()), text);
        }
    }
}

/// cmd/kube-proxy/app `GetLocalTrafficDetectors` logs, and
/// pkg/proxy/nodemanager `newNodeManager` fails, when a detector cannot be
/// built; svcgen renders with the no-op detector and says so, in kube-proxy's
/// words, in every backend.
#[test]
fn a_detector_that_cannot_be_built_is_a_warning() {
    let no_pod_cidr = with_config("detectLocalMode: NodeCIDR").replace(
        "spec: {podCIDR: 10.244.1.0/24, podCIDRs: [10.244.1.0/24]}\n",
        "",
    );
    let cases = [
        (
            no_pod_cidr,
            "timeout waiting for PodCIDR allocation on node \"n1\"",
        ),
        (
            with_config("detectLocalMode: BridgeInterface"),
            "detectLocal.bridgeInterface: Invalid value: \"\": must not be empty",
        ),
        (
            with_config(
                "detectLocalMode: InterfaceNamePrefix\ndetectLocal: {interfaceNamePrefix: \"a b\"}",
            ),
            "detectLocal.interfaceNamePrefix: Invalid value: \"a b\"",
        ),
        (
            with_config(""),
            "Detect-local-mode set to ClusterCIDR, but no cluster CIDR specified for primary IP family ipFamily=\"IPv4\" clusterCIDRs=[]",
        ),
    ];
    for (yaml, words) in cases {
        let l = load(&yaml, v4());
        for mode in [Mode::Iptables, Mode::Nftables, Mode::Ipvs] {
            let (text, diags) = out(&l, mode);
            assert!(
                diags
                    .iter()
                    .any(|d| d.severity == Severity::Warning && d.message.contains(words)),
                "{}: {words}: {diags:?}",
                mode.name()
            );
            assert!(!text.contains("-i ") && !text.contains("iifname"));
            assert!(!text.contains("10.244.1.0/24"));
        }
    }
}

/// The tracers follow the interface detectors (`-i cbr0`, `iifname cbr0`):
/// a pod's packet that comes in on the bridge is local and not masqueraded
/// on its way to a cluster IP; the same source from elsewhere is.
#[test]
fn tracers_read_the_input_interface() {
    let l = load(
        &with_config("detectLocalMode: BridgeInterface\ndetectLocal: {bridgeInterface: cbr0}"),
        v4(),
    );
    for mode in [Mode::Iptables, Mode::Nftables, Mode::Ipvs] {
        let from_bridge = trace(
            &l,
            mode,
            &packet("10.244.1.9", "10.96.0.10", 80, Some("cbr0")),
        )
        .expect("traces");
        assert!(!from_bridge.masquerade, "{}: {from_bridge:?}", mode.name());
        let from_eth = trace(
            &l,
            mode,
            &packet("10.244.1.9", "10.96.0.10", 80, Some("eth0")),
        )
        .expect("traces");
        assert!(from_eth.masquerade, "{}: {from_eth:?}", mode.name());
    }
    let l = load(
        &with_config(
            "detectLocalMode: InterfaceNamePrefix\ndetectLocal: {interfaceNamePrefix: veth}",
        ),
        v4(),
    );
    for mode in [Mode::Iptables, Mode::Nftables, Mode::Ipvs] {
        let r = trace(
            &l,
            mode,
            &packet("10.244.1.9", "10.96.0.10", 80, Some("veth12ab")),
        )
        .expect("traces");
        assert!(!r.masquerade, "{}: {r:?}", mode.name());
        let r = trace(&l, mode, &packet("10.244.1.9", "10.96.0.10", 80, None)).expect("traces");
        assert!(r.masquerade, "{}: {r:?}", mode.name());
    }
}

// --- kube-proxy's defaults ---------------------------------------------

/// cmd/kube-proxy/app/server_linux.go `platformApplyDefaults`: nftables
/// mode with no `nodePortAddresses` takes `primary`; server.go
/// `newProxyServer` turns it into the node IP's /32 (or /128). iptables
/// and ipvs keep "every local address".
#[test]
fn nftables_node_port_addresses_default_to_primary() {
    let l = load(&with_config("clusterCIDR: 10.244.0.0/16"), v4());
    let (nft, _) = out(&l, Mode::Nftables);
    assert!(
        nft.contains("add element ip kube-proxy nodeport-ips { 192.168.0.2 }"),
        "{nft}"
    );
    assert!(!nft.contains("fib daddr type local"), "{nft}");
    let (ipt, _) = out(&l, Mode::Iptables);
    assert!(
        ipt.contains("-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS"),
        "{ipt}"
    );
    // An explicit list is kept.
    let l = load(
        &with_config("clusterCIDR: 10.244.0.0/16\nnodePortAddresses: [0.0.0.0/0]"),
        v4(),
    );
    let (nft, _) = out(&l, Mode::Nftables);
    assert!(nft.contains("fib daddr type local"), "{nft}");
    // `primary` with no node IP (loopback) is dropped: every address.
    let l = load(SERVICES, v4());
    let (nft, _) = out(&l, Mode::Nftables);
    assert!(nft.contains("fib daddr type local"), "{nft}");
}

/// server_linux.go `setupConntrack` sets nf_conntrack_tcp_be_liberal for
/// `conntrack.tcpBeLiberal` before the proxier is built; iptables
/// `NewProxier` then leaves out the INVALID drop rule. The v1alpha1
/// defaults (`SetDefaults_KubeProxyConfiguration`, masqueradeBit 14,
/// localhostNodePorts true, detectLocalMode ClusterCIDR from
/// `platformApplyDefaults`) are the settings' defaults.
#[test]
fn conntrack_tcp_be_liberal_and_v1alpha1_defaults() {
    let l = load(&with_config("conntrack: {tcpBeLiberal: true}"), v4());
    assert!(l.settings.host.conntrack_tcp_be_liberal);
    let (ipt, _) = out(&l, Mode::Iptables);
    assert!(!ipt.contains("--ctstate INVALID -j DROP"), "{ipt}");
    let d = libsvc::config::ProxySettings::default();
    assert_eq!(d.iptables_masquerade_bit, 14);
    assert_eq!(d.nftables_masquerade_bit, 14);
    assert!(d.iptables_localhost_node_ports);
    assert_eq!(d.detect_local_mode, "ClusterCIDR");
    assert!(d.cluster_cidrs.is_empty());
    assert!(d.node_port_addresses.is_none());
}

// --- what kube-proxy never sees or never reads --------------------------

/// cmd/kube-proxy/app/server.go `Run`: the Service informer selects
/// `!service.kubernetes.io/service-proxy-name` (`noProxyName`), the
/// EndpointSlice informer `!service.kubernetes.io/headless`
/// (`noHeadlessEndpoints`). kubelet and CoreDNS list them all.
#[test]
fn informer_label_filters() {
    let yaml = r#"
apiVersion: v1
kind: Service
metadata: {name: other, namespace: default, labels: {service.kubernetes.io/service-proxy-name: custom}}
spec: {clusterIP: 10.96.0.40, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {clusterIP: 10.96.0.10, ports: [{port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  namespace: default
  labels: {kubernetes.io/service-name: web, service.kubernetes.io/headless: ""}
addressType: IPv4
ports: [{name: "", port: 80, protocol: TCP}]
endpoints: [{addresses: [10.244.1.5], conditions: {ready: true}}]
"#;
    let l = load(yaml, v4());
    for mode in [Mode::Iptables, Mode::Nftables, Mode::Ipvs] {
        let (text, diags) = out(&l, mode);
        assert!(!text.contains("10.96.0.40"), "{}: {text}", mode.name());
        assert!(!text.contains("10.244.1.5"), "{}: {text}", mode.name());
        assert!(text.contains("10.96.0.10"), "{}: {text}", mode.name());
        let infos: Vec<_> = diags
            .iter()
            .filter(|d| d.severity == Severity::Info && d.message.contains("informer"))
            .collect();
        assert_eq!(infos.len(), 2, "{}: {diags:?}", mode.name());
        let r = trace(&l, mode, &packet("10.244.9.9", "10.96.0.40", 80, None)).expect("traces");
        assert!(r.endpoints.is_empty(), "{}: {r:?}", mode.name());
        assert!(
            r.notes.iter().any(|n| n.contains("informer does not list")),
            "{}: {r:?}",
            mode.name()
        );
    }
    let env = render(&l, Mode::Env, &RenderOptions::default())
        .unwrap()
        .text;
    assert!(env.contains("OTHER_SERVICE_HOST=10.96.0.40"), "{env}");
    let dns = render(&l, Mode::Dns, &RenderOptions::default())
        .unwrap()
        .text;
    assert!(dns.contains("other.default.svc.cluster.local."), "{dns}");
}

/// pkg/proxy/serviceport.go `newBaseServiceInfo` reads source ranges from
/// `spec.loadBalancerSourceRanges` only, and kubectl's `describeService`
/// prints that field only; the legacy annotation is the cloud provider's
/// (kube-apiserver still validates it). Load-balancer ingress IPs are
/// programmed when `IsVIPMode` (pkg/proxy/util): `ipMode` unset or `VIP`.
#[test]
fn source_range_annotation_and_ip_mode() {
    let yaml = r#"
apiVersion: v1
kind: Service
metadata:
  name: lb
  namespace: default
  annotations: {service.beta.kubernetes.io/load-balancer-source-ranges: "192.0.2.0/24"}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.30
  ports: [{port: 80, nodePort: 30090}]
status:
  loadBalancer:
    ingress:
    - {ip: 198.51.100.10}
    - {ip: 198.51.100.11, ipMode: VIP}
    - {ip: 198.51.100.12, ipMode: Proxy}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: lb-1, namespace: default, labels: {kubernetes.io/service-name: lb}}
addressType: IPv4
ports: [{name: "", port: 80, protocol: TCP}]
endpoints: [{addresses: [10.244.3.3], conditions: {ready: true}}]
"#;
    let l = load(yaml, v4());
    assert!(l.table.services[0].lb_source_ranges.is_empty());
    for mode in [Mode::Iptables, Mode::Nftables, Mode::Ipvs] {
        let (text, _) = out(&l, mode);
        assert!(!text.contains("192.0.2.0/24"), "{}: {text}", mode.name());
        assert!(text.contains("198.51.100.10"), "{}: {text}", mode.name());
        assert!(text.contains("198.51.100.11"), "{}: {text}", mode.name());
        assert!(!text.contains("198.51.100.12"), "{}: {text}", mode.name());
    }
    let d = libsvc::views::describe_service(&l, "default", "lb").unwrap_or_default();
    assert!(!d.contains("Source Ranges"), "{d}");
    // kube-apiserver still validates the annotation.
    let bad = yaml.replace("192.0.2.0/24", "not-a-cidr");
    let l = load(&bad, v4());
    assert!(
        l.errors()
            .any(|e| e.message.contains("load-balancer-source-ranges")),
        "{:?}",
        l.diagnostics
    );
}

/// pkg/proxy/endpointslicecache.go `newEndpointSliceInfo`: an absent
/// `serving` is serving, so a terminating endpoint with no `serving`
/// serves as the fallback when nothing is ready (topology.go
/// `CategorizeEndpoints`).
#[test]
fn absent_serving_is_serving() {
    let yaml = r#"
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {clusterIP: 10.96.0.10, ports: [{port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: "", port: 80, protocol: TCP}]
endpoints: [{addresses: [10.244.1.5], conditions: {ready: false, terminating: true}}]
"#;
    let l = load(yaml, v4());
    for mode in [Mode::Iptables, Mode::Nftables, Mode::Ipvs] {
        let r = trace(&l, mode, &packet("10.244.9.9", "10.96.0.10", 80, None)).expect("traces");
        assert_eq!(r.endpoints.len(), 1, "{}: {r:?}", mode.name());
        assert_eq!(r.endpoints[0].endpoint, "10.244.1.5:80");
    }
}

/// pkg/proxy/endpointslicecache.go `endpointInfoByServicePort` /
/// `addEndpoints`: every slice port of the service port's name adds its
/// endpoints (ports in number order); a slice's endpoints are taken in
/// address order (`byAddress`); the same `IP:port` twice keeps the first
/// copy unless a later one is local; a slice without the service-name label
/// belongs to no Service (`endpointSliceCacheKeys`).
#[test]
fn endpoint_slice_cache_merging() {
    let yaml = r#"
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {clusterIP: 10.96.0.10, ports: [{port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-a, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: "", port: 8080, protocol: TCP}, {name: "", port: 80, protocol: TCP}]
endpoints:
- {addresses: [10.244.1.1, 10.244.1.9], conditions: {ready: false}}
- {addresses: [10.244.1.1], conditions: {ready: true}}
- {addresses: [10.244.2.2], conditions: {ready: false}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-b, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: "", port: 80, protocol: TCP}]
endpoints:
- {addresses: [10.244.2.2], conditions: {ready: true}, nodeName: n1}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: stray, namespace: default}
addressType: IPv4
ports: [{name: "", port: 80, protocol: TCP}]
endpoints: [{addresses: [10.244.3.3], conditions: {ready: true}}]
"#;
    let o = Overrides {
        node_name: Some("n1".into()),
        ..v4()
    };
    let l = load(yaml, o);
    let r = trace(
        &l,
        Mode::Iptables,
        &packet("10.244.9.9", "10.96.0.10", 80, None),
    )
    .unwrap();
    let eps: Vec<&str> = r.endpoints.iter().map(|e| e.endpoint.as_str()).collect();
    assert_eq!(
        eps,
        ["10.244.1.1:80", "10.244.1.1:8080", "10.244.2.2:80"],
        "{r:?}"
    );
    // 10.244.2.2:80 is web-b's local, ready copy; 10.244.2.2:8080 exists
    // only in web-a, not ready: no endpoint of a ready set then.
    let (ipt, _) = out(&l, Mode::Iptables);
    insta::assert_snapshot!("slice_cache_merging_iptables", ipt);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn any_ip() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<[u8; 4]>().prop_map(IpAddr::from),
            any::<[u16; 8]>().prop_map(IpAddr::from),
        ]
    }

    proptest! {
        /// `GetNodeHostIPs`: the first candidate, then the first candidate
        /// of the other family; nothing else.
        #[test]
        fn host_ips_are_first_and_first_of_the_other_family(
            cands in proptest::collection::vec(any_ip(), 0..6)
        ) {
            let h = host_ips(&cands);
            prop_assert_eq!(h.first(), cands.first());
            let other = cands.first().and_then(|f| cands.iter().find(|c| c.is_ipv4() != f.is_ipv4()));
            prop_assert_eq!(h.get(1), other);
            prop_assert!(h.len() <= 2);
        }

        /// kube-proxy's Node is found by name, so the order of the Nodes in
        /// the input does not matter once a name is given.
        #[test]
        fn the_named_node_does_not_depend_on_input_order(
            n in 2usize..5,
            pick in 0usize..5,
            rotate in 0usize..5,
        ) {
            let pick = pick % n;
            let mut docs: Vec<String> = (0..n)
                .map(|i| format!(
                    "apiVersion: v1\nkind: Node\nmetadata: {{name: n{i}}}\nspec: {{podCIDRs: [10.244.{i}.0/24]}}\nstatus: {{addresses: [{{type: InternalIP, address: 10.0.0.{i}}}]}}\n"
                ))
                .collect();
            docs.rotate_left(rotate % n);
            let o = Overrides { node_name: Some(format!("n{pick}")), ..Default::default() };
            let l = load(&docs.join("---\n"), o);
            prop_assert_eq!(l.settings.node.host_ips.clone(), vec![ip(&format!("10.0.0.{pick}"))]);
            prop_assert_eq!(l.settings.node.pod_cidrs.clone(), vec![format!("10.244.{pick}.0/24")]);
        }
    }
}
