//! A cluster description that `arbitrary` fills from fuzzer bytes, and its
//! manifests as YAML and as JSON.
//!
//! Names, addresses and ports come from small pools (an index picks one),
//! so most generated clusters get past validation into the renderers and
//! tracers, and objects refer to each other (a slice to its Service, a Pod
//! to a selector, an endpoint to a Node). A few fields take raw text or raw
//! numbers so that invalid values and hostile names reach validation too.

use arbitrary::Arbitrary;
use serde_json::{Map, Value, json};

/// Upper bounds on what one cluster holds (the fuzzer's bytes decide how
/// many up to these).
const MAX_SERVICES: usize = 6;
const MAX_SLICES: usize = 6;
const MAX_PODS: usize = 6;
const MAX_NODES: usize = 3;
const MAX_WORKLOADS: usize = 3;
const MAX_ENDPOINTS: usize = 2;

/// Namespaces.
pub const NAMESPACES: [&str; 2] = ["default", "shop"];
/// Service names (slices, Endpoints and selectors refer to them by index).
pub const SERVICE_NAMES: [&str; 4] = ["web", "db", "dns", "api"];
/// Nodes; `node-0` is the node kube-proxy runs on.
pub const NODE_NAMES: [&str; 3] = ["node-0", "node-1", "node-2"];
/// Zones.
pub const ZONES: [&str; 2] = ["zone-a", "zone-b"];
/// The service CIDRs the overrides give.
pub const SERVICE_CIDR_V4: &str = "10.96.0.0/16";
/// The IPv6 service CIDR.
pub const SERVICE_CIDR_V6: &str = "fd00:10:96::/112";

#[derive(Arbitrary, Debug, Clone)]
pub struct Cluster {
    pub proxy: Option<ProxyConfig>,
    pub nodes: Vec<Node>,
    pub services: Vec<Service>,
    pub slices: Vec<Slice>,
    pub endpoints: Vec<Endpoints>,
    pub pods: Vec<Pod>,
    pub workloads: Vec<Workload>,
    /// Rotates the documents (document order must not matter).
    pub rotate: u8,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum ProxyMode {
    Iptables,
    Nftables,
    Ipvs,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum DetectLocal {
    ClusterCidr,
    NodeCidr,
    BridgeInterface,
    InterfaceNamePrefix,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum NodePortAddresses {
    Empty,
    Primary,
    Cidr,
    Loopback,
}

#[derive(Arbitrary, Debug, Clone)]
pub struct ProxyConfig {
    pub mode: Option<ProxyMode>,
    pub cluster_cidr: bool,
    pub detect_local: Option<DetectLocal>,
    pub masquerade_all: bool,
    pub masquerade_bit: Option<u8>,
    pub localhost_node_ports: Option<bool>,
    pub node_port_addresses: Option<NodePortAddresses>,
    pub ipvs_scheduler: Option<u8>,
    pub strict_arp: bool,
}

#[derive(Arbitrary, Debug, Clone)]
pub struct Node {
    pub name: u8,
    pub zone: Option<u8>,
    pub pod_cidr: bool,
    pub ipv6: bool,
    pub cpu: u8,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum ServiceType {
    ClusterIp,
    NodePort,
    LoadBalancer,
    ExternalName,
    Headless,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Families {
    V4,
    V6,
    PreferDualStack,
    RequireDualStackV6First,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }
}

/// A port name: from the pool, or raw text (hostile names, invalid ones).
#[derive(Arbitrary, Debug, Clone)]
pub enum PortName {
    Pool(u8),
    Raw(String),
}

const PORT_NAMES: [&str; 3] = ["http", "https", "dns"];

impl PortName {
    fn text(&self) -> String {
        match self {
            PortName::Pool(i) => PORT_NAMES[*i as usize % PORT_NAMES.len()].to_string(),
            // Only what YAML may hold as text (its c-printable set): a raw
            // DEL or C0 control is not YAML at all, and the YAML writer
            // would pass it through unescaped.
            PortName::Raw(s) => s
                .chars()
                .filter(|c| matches!(c, '\t' | ' '..='~' | '\u{85}' | '\u{a0}'..='\u{fffd}' | '\u{10000}'..))
                .filter(|c| !matches!(c, '\u{fdd0}'..='\u{fdef}' | '\u{fffe}' | '\u{ffff}'))
                .take(20)
                .collect(),
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub enum TargetPort {
    Same,
    Number(u16),
    Name(PortName),
}

#[derive(Arbitrary, Debug, Clone)]
pub struct ServicePort {
    pub name: Option<PortName>,
    /// Index into 80, 443, 53, 8080, or (past 3) the raw number.
    pub port: u16,
    pub protocol: Option<Protocol>,
    pub target_port: TargetPort,
    pub node_port: Option<u16>,
}

fn pool_port(p: u16) -> u16 {
    match p {
        0 => 80,
        1 => 443,
        2 => 53,
        3 => 8080,
        n => n,
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum TrafficDistribution {
    PreferClose,
    PreferSameZone,
    PreferSameNode,
}

#[derive(Arbitrary, Debug, Clone)]
pub struct Service {
    pub namespace: u8,
    pub name: u8,
    pub type_: ServiceType,
    pub families: Families,
    /// The last byte of the cluster IP(s); none: allocated.
    pub cluster_ip: Option<u8>,
    pub ports: Vec<ServicePort>,
    pub external_traffic_local: Option<bool>,
    pub internal_traffic_local: Option<bool>,
    /// ClientIP affinity, with an optional timeout.
    pub affinity: Option<Option<u32>>,
    pub external_ips: Vec<u8>,
    pub ingress: Vec<u8>,
    pub source_ranges: bool,
    pub allocate_lb_node_ports: Option<bool>,
    pub health_check_node_port: Option<u16>,
    pub publish_not_ready: bool,
    pub traffic_distribution: Option<TrafficDistribution>,
    pub topology_auto: bool,
    /// Selects the Pods of app `SERVICE_NAMES[i]`; none: no selector.
    pub selector: Option<u8>,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum AddressType {
    IPv4,
    IPv6,
    Fqdn,
}

#[derive(Arbitrary, Debug, Clone)]
pub struct SlicePort {
    pub name: Option<PortName>,
    pub port: Option<u16>,
    pub protocol: Option<Protocol>,
}

#[derive(Arbitrary, Debug, Clone)]
pub struct SliceEndpoint {
    /// The last byte of the address (10.244.N.X / fd00:10:244:N::X).
    pub address: u8,
    pub ready: Option<bool>,
    pub serving: Option<bool>,
    pub terminating: Option<bool>,
    pub node: Option<u8>,
    pub zone: Option<u8>,
    pub hint_zones: Vec<u8>,
    pub hint_nodes: Vec<u8>,
}

#[derive(Arbitrary, Debug, Clone)]
pub struct Slice {
    pub namespace: u8,
    pub service: u8,
    pub suffix: u8,
    pub address_type: AddressType,
    pub ports: Vec<SlicePort>,
    pub endpoints: Vec<SliceEndpoint>,
}

#[derive(Arbitrary, Debug, Clone)]
pub struct Endpoints {
    pub namespace: u8,
    pub service: u8,
    pub ready: Vec<u8>,
    pub not_ready: Vec<u8>,
    pub ports: Vec<SlicePort>,
    pub node: Option<u8>,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Phase {
    Running,
    Pending,
    Succeeded,
}

#[derive(Arbitrary, Debug, Clone)]
pub struct Pod {
    pub namespace: u8,
    pub app: u8,
    pub index: u8,
    pub node: Option<u8>,
    pub ip: Option<u8>,
    pub dual_stack: bool,
    pub phase: Phase,
    pub ready: bool,
    pub terminating: bool,
    pub host_network: bool,
    pub container_port: Option<(Option<PortName>, u16)>,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum WorkloadKind {
    Deployment,
    ReplicaSet,
    StatefulSet,
    DaemonSet,
}

#[derive(Arbitrary, Debug, Clone)]
pub struct Workload {
    pub kind: WorkloadKind,
    pub namespace: u8,
    pub app: u8,
    pub replicas: Option<u8>,
    pub container_port: Option<(Option<PortName>, u16)>,
}

fn pick<'a>(pool: &[&'a str], i: u8) -> &'a str {
    pool[i as usize % pool.len()]
}

fn ns(i: u8) -> &'static str {
    pick(&NAMESPACES, i)
}

fn svc_name(i: u8) -> &'static str {
    pick(&SERVICE_NAMES, i)
}

fn node_name(i: u8) -> &'static str {
    pick(&NODE_NAMES, i)
}

/// A pod address: IPv4 `10.244.<node>.<x>` or IPv6 `fd00:10:244:<node>::<x>`.
pub fn pod_ip(v6: bool, node: u8, x: u8) -> String {
    let node = node as usize % NODE_NAMES.len();
    if v6 {
        format!("fd00:10:244:{node}::{:x}", x.max(1))
    } else {
        format!("10.244.{node}.{}", x.max(1))
    }
}

/// A node's InternalIP.
pub fn node_ip(v6: bool, node: u8) -> String {
    let node = node as usize % NODE_NAMES.len();
    if v6 {
        format!("2001:db8::{}", node + 2)
    } else {
        format!("192.168.0.{}", node + 2)
    }
}

fn port_value(name: &Option<PortName>, number: u16) -> Value {
    let mut m = Map::new();
    if let Some(n) = name {
        m.insert("name".into(), n.text().into());
    }
    m.insert("containerPort".into(), pool_port(number % 8).into());
    Value::Object(m)
}

fn meta(name: &str, namespace: &str) -> Value {
    json!({ "name": name, "namespace": namespace })
}

impl Cluster {
    /// The manifests, one JSON value per document, in (rotated) order.
    pub fn documents(&self) -> Vec<Value> {
        let mut docs = Vec::new();
        if let Some(p) = &self.proxy {
            docs.push(p.document());
        }
        docs.extend(self.nodes.iter().take(MAX_NODES).map(Node::document));
        docs.extend(
            self.services
                .iter()
                .take(MAX_SERVICES)
                .map(Service::document),
        );
        docs.extend(self.slices.iter().take(MAX_SLICES).map(Slice::document));
        docs.extend(
            self.endpoints
                .iter()
                .take(MAX_ENDPOINTS)
                .map(Endpoints::document),
        );
        docs.extend(self.pods.iter().take(MAX_PODS).map(Pod::document));
        docs.extend(
            self.workloads
                .iter()
                .take(MAX_WORKLOADS)
                .map(Workload::document),
        );
        if !docs.is_empty() {
            let k = self.rotate as usize % docs.len();
            docs.rotate_left(k);
        }
        docs
    }

    /// The manifests as a YAML stream.
    pub fn yaml(&self) -> String {
        yaml_stream(&self.documents())
    }

    /// The manifests as one JSON `List`.
    pub fn json(&self) -> String {
        json!({ "apiVersion": "v1", "kind": "List", "items": self.documents() }).to_string()
    }
}

/// Documents as a YAML stream (`---` between them).
pub fn yaml_stream(docs: &[Value]) -> String {
    let mut out = String::new();
    for d in docs {
        out.push_str("---\n");
        // serde-saphyr writes any JSON value; fall back to JSON (also YAML)
        // should it ever refuse one.
        match serde_saphyr::to_string(d) {
            Ok(y) => out.push_str(&y),
            Err(_) => out.push_str(&d.to_string()),
        }
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

impl ProxyConfig {
    fn document(&self) -> Value {
        let mut m = Map::new();
        m.insert(
            "apiVersion".into(),
            "kubeproxy.config.k8s.io/v1alpha1".into(),
        );
        m.insert("kind".into(), "KubeProxyConfiguration".into());
        if let Some(mode) = self.mode {
            let name = match mode {
                ProxyMode::Iptables => "iptables",
                ProxyMode::Nftables => "nftables",
                ProxyMode::Ipvs => "ipvs",
            };
            m.insert("mode".into(), name.into());
        }
        if self.cluster_cidr {
            m.insert("clusterCIDR".into(), "10.244.0.0/16".into());
        }
        if let Some(d) = self.detect_local {
            let (mode, extra) = match d {
                DetectLocal::ClusterCidr => ("ClusterCIDR", None),
                DetectLocal::NodeCidr => ("NodeCIDR", None),
                DetectLocal::BridgeInterface => (
                    "BridgeInterface",
                    Some(json!({ "bridgeInterface": "cbr0" })),
                ),
                DetectLocal::InterfaceNamePrefix => (
                    "InterfaceNamePrefix",
                    Some(json!({ "interfaceNamePrefix": "veth" })),
                ),
            };
            m.insert("detectLocalMode".into(), mode.into());
            if let Some(e) = extra {
                m.insert("detectLocal".into(), e);
            }
        }
        let mut ipt = Map::new();
        let mut nft = Map::new();
        if self.masquerade_all {
            ipt.insert("masqueradeAll".into(), true.into());
            nft.insert("masqueradeAll".into(), true.into());
        }
        if let Some(bit) = self.masquerade_bit {
            ipt.insert("masqueradeBit".into(), (bit % 34).into());
        }
        if let Some(l) = self.localhost_node_ports {
            ipt.insert("localhostNodePorts".into(), l.into());
        }
        if !ipt.is_empty() {
            m.insert("iptables".into(), Value::Object(ipt));
        }
        if !nft.is_empty() {
            m.insert("nftables".into(), Value::Object(nft));
        }
        if let Some(a) = self.node_port_addresses {
            let v = match a {
                NodePortAddresses::Empty => json!([]),
                NodePortAddresses::Primary => json!(["primary"]),
                NodePortAddresses::Cidr => json!(["192.168.0.0/24", "2001:db8::/64"]),
                NodePortAddresses::Loopback => json!(["127.0.0.0/8"]),
            };
            m.insert("nodePortAddresses".into(), v);
        }
        if self.ipvs_scheduler.is_some() || self.strict_arp {
            let mut ipvs = Map::new();
            if let Some(s) = self.ipvs_scheduler {
                ipvs.insert(
                    "scheduler".into(),
                    pick(&["rr", "wrr", "lc", "sh"], s).into(),
                );
            }
            if self.strict_arp {
                ipvs.insert("strictARP".into(), true.into());
            }
            m.insert("ipvs".into(), Value::Object(ipvs));
        }
        Value::Object(m)
    }
}

impl Node {
    fn document(&self) -> Value {
        let i = self.name % NODE_NAMES.len() as u8;
        let mut labels = Map::new();
        labels.insert("kubernetes.io/hostname".into(), node_name(i).into());
        if let Some(z) = self.zone {
            labels.insert("topology.kubernetes.io/zone".into(), pick(&ZONES, z).into());
        }
        let mut addresses = vec![json!({"type": "InternalIP", "address": node_ip(false, i)})];
        if self.ipv6 {
            addresses.push(json!({"type": "InternalIP", "address": node_ip(true, i)}));
        }
        let mut spec = Map::new();
        if self.pod_cidr {
            let mut cidrs = vec![format!("10.244.{i}.0/24")];
            if self.ipv6 {
                cidrs.push(format!("fd00:10:244:{i}::/64"));
            }
            spec.insert("podCIDR".into(), cidrs[0].clone().into());
            spec.insert("podCIDRs".into(), cidrs.into());
        }
        json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": { "name": node_name(i), "labels": labels },
            "spec": spec,
            "status": {
                "addresses": addresses,
                "allocatable": { "cpu": format!("{}", 1 + self.cpu % 8) },
            },
        })
    }
}

impl Service {
    fn document(&self) -> Value {
        let mut spec = Map::new();
        let (families, policy): (&[&str], &str) = match self.families {
            Families::V4 => (&["IPv4"], "SingleStack"),
            Families::V6 => (&["IPv6"], "SingleStack"),
            Families::PreferDualStack => (&["IPv4", "IPv6"], "PreferDualStack"),
            Families::RequireDualStackV6First => (&["IPv6", "IPv4"], "RequireDualStack"),
        };
        let type_ = match self.type_ {
            ServiceType::ClusterIp | ServiceType::Headless => "ClusterIP",
            ServiceType::NodePort => "NodePort",
            ServiceType::LoadBalancer => "LoadBalancer",
            ServiceType::ExternalName => "ExternalName",
        };
        spec.insert("type".into(), type_.into());
        match self.type_ {
            ServiceType::ExternalName => {
                spec.insert("externalName".into(), "db.example.com".into());
            }
            ServiceType::Headless => {
                spec.insert("clusterIP".into(), "None".into());
            }
            _ => {
                spec.insert("ipFamilies".into(), families.into());
                spec.insert("ipFamilyPolicy".into(), policy.into());
                if let Some(x) = self.cluster_ip {
                    let ips: Vec<String> = families
                        .iter()
                        .map(|f| match *f {
                            "IPv4" => format!("10.96.0.{}", x.max(1)),
                            _ => format!("fd00:10:96::{:x}", x.max(1)),
                        })
                        .collect();
                    spec.insert("clusterIP".into(), ips[0].clone().into());
                    spec.insert("clusterIPs".into(), ips.into());
                }
            }
        }
        let ports: Vec<Value> = self
            .ports
            .iter()
            .take(3)
            .map(|p| {
                let mut m = Map::new();
                if let Some(n) = &p.name {
                    m.insert("name".into(), n.text().into());
                }
                m.insert("port".into(), pool_port(p.port).into());
                if let Some(pr) = p.protocol {
                    m.insert("protocol".into(), pr.name().into());
                }
                match &p.target_port {
                    TargetPort::Same => {}
                    TargetPort::Number(n) => {
                        m.insert("targetPort".into(), pool_port(*n % 8).into());
                    }
                    TargetPort::Name(n) => {
                        m.insert("targetPort".into(), n.text().into());
                    }
                }
                if let Some(np) = p.node_port {
                    // Mostly inside the default range; now and then not.
                    let np = if np < 60000 { 30000 + np % 2768 } else { np };
                    m.insert("nodePort".into(), np.into());
                }
                Value::Object(m)
            })
            .collect();
        spec.insert("ports".into(), ports.into());
        if let Some(l) = self.external_traffic_local {
            spec.insert(
                "externalTrafficPolicy".into(),
                if l { "Local" } else { "Cluster" }.into(),
            );
        }
        if let Some(l) = self.internal_traffic_local {
            spec.insert(
                "internalTrafficPolicy".into(),
                if l { "Local" } else { "Cluster" }.into(),
            );
        }
        if let Some(timeout) = self.affinity {
            spec.insert("sessionAffinity".into(), "ClientIP".into());
            if let Some(t) = timeout {
                spec.insert(
                    "sessionAffinityConfig".into(),
                    json!({"clientIP": {"timeoutSeconds": t % 90000}}),
                );
            }
        }
        if !self.external_ips.is_empty() {
            let ips: Vec<String> = self
                .external_ips
                .iter()
                .take(2)
                .map(|x| format!("192.168.99.{}", x.max(&1)))
                .collect();
            spec.insert("externalIPs".into(), ips.into());
        }
        if self.source_ranges {
            spec.insert(
                "loadBalancerSourceRanges".into(),
                json!(["203.0.113.0/25", "192.168.0.0/24"]),
            );
        }
        if let Some(a) = self.allocate_lb_node_ports {
            spec.insert("allocateLoadBalancerNodePorts".into(), a.into());
        }
        if let Some(h) = self.health_check_node_port {
            spec.insert("healthCheckNodePort".into(), (30000 + h % 2768).into());
        }
        if self.publish_not_ready {
            spec.insert("publishNotReadyAddresses".into(), true.into());
        }
        if let Some(t) = self.traffic_distribution {
            let t = match t {
                TrafficDistribution::PreferClose => "PreferClose",
                TrafficDistribution::PreferSameZone => "PreferSameZone",
                TrafficDistribution::PreferSameNode => "PreferSameNode",
            };
            spec.insert("trafficDistribution".into(), t.into());
        }
        if let Some(app) = self.selector {
            spec.insert("selector".into(), json!({ "app": svc_name(app) }));
        }
        let mut metadata = meta(svc_name(self.name), ns(self.namespace));
        if self.topology_auto {
            metadata["annotations"] = json!({"service.kubernetes.io/topology-mode": "Auto"});
        }
        let mut doc = json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata,
            "spec": spec,
        });
        if !self.ingress.is_empty() {
            let ingress: Vec<Value> = self
                .ingress
                .iter()
                .take(2)
                .map(|x| json!({"ip": format!("1.2.3.{}", x.max(&1))}))
                .collect();
            doc["status"] = json!({"loadBalancer": {"ingress": ingress}});
        }
        doc
    }
}

fn slice_ports(ports: &[SlicePort]) -> Vec<Value> {
    ports
        .iter()
        .take(3)
        .map(|p| {
            let mut m = Map::new();
            if let Some(n) = &p.name {
                m.insert("name".into(), n.text().into());
            }
            if let Some(n) = p.port {
                m.insert("port".into(), pool_port(n % 8).into());
            }
            if let Some(pr) = p.protocol {
                m.insert("protocol".into(), pr.name().into());
            }
            Value::Object(m)
        })
        .collect()
}

impl Slice {
    fn document(&self) -> Value {
        let service = svc_name(self.service);
        let (address_type, v6) = match self.address_type {
            AddressType::IPv4 => ("IPv4", Some(false)),
            AddressType::IPv6 => ("IPv6", Some(true)),
            AddressType::Fqdn => ("FQDN", None),
        };
        let endpoints: Vec<Value> = self
            .endpoints
            .iter()
            .take(4)
            .map(|e| {
                let node = e.node.map(|n| n % NODE_NAMES.len() as u8);
                let address = match v6 {
                    Some(v6) => pod_ip(v6, node.unwrap_or(1), e.address),
                    None => format!("ep{}.example.com", e.address % 4),
                };
                let mut m = Map::new();
                m.insert("addresses".into(), json!([address]));
                let mut c = Map::new();
                for (k, v) in [
                    ("ready", e.ready),
                    ("serving", e.serving),
                    ("terminating", e.terminating),
                ] {
                    if let Some(v) = v {
                        c.insert(k.into(), v.into());
                    }
                }
                m.insert("conditions".into(), Value::Object(c));
                if let Some(n) = node {
                    m.insert("nodeName".into(), node_name(n).into());
                }
                if let Some(z) = e.zone {
                    m.insert("zone".into(), pick(&ZONES, z).into());
                }
                if !e.hint_zones.is_empty() || !e.hint_nodes.is_empty() {
                    let mut h = Map::new();
                    if !e.hint_zones.is_empty() {
                        let z: Vec<Value> = e
                            .hint_zones
                            .iter()
                            .take(2)
                            .map(|z| json!({"name": pick(&ZONES, *z)}))
                            .collect();
                        h.insert("forZones".into(), z.into());
                    }
                    if !e.hint_nodes.is_empty() {
                        let n: Vec<Value> = e
                            .hint_nodes
                            .iter()
                            .take(2)
                            .map(|n| json!({"name": node_name(*n)}))
                            .collect();
                        h.insert("forNodes".into(), n.into());
                    }
                    m.insert("hints".into(), Value::Object(h));
                }
                Value::Object(m)
            })
            .collect();
        json!({
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": format!("{service}-{}", self.suffix % 4),
                "namespace": ns(self.namespace),
                "labels": {"kubernetes.io/service-name": service},
            },
            "addressType": address_type,
            "ports": slice_ports(&self.ports),
            "endpoints": endpoints,
        })
    }
}

impl Endpoints {
    fn document(&self) -> Value {
        let node = self.node.map(|n| n % NODE_NAMES.len() as u8);
        let address = |x: &u8| {
            let mut m = Map::new();
            m.insert("ip".into(), pod_ip(false, node.unwrap_or(1), *x).into());
            if let Some(n) = node {
                m.insert("nodeName".into(), node_name(n).into());
            }
            Value::Object(m)
        };
        let mut subset = Map::new();
        if !self.ready.is_empty() {
            let a: Vec<Value> = self.ready.iter().take(3).map(address).collect();
            subset.insert("addresses".into(), a.into());
        }
        if !self.not_ready.is_empty() {
            let a: Vec<Value> = self.not_ready.iter().take(3).map(address).collect();
            subset.insert("notReadyAddresses".into(), a.into());
        }
        subset.insert("ports".into(), slice_ports(&self.ports).into());
        json!({
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": meta(svc_name(self.service), ns(self.namespace)),
            "subsets": [subset],
        })
    }
}

impl Pod {
    fn document(&self) -> Value {
        let app = svc_name(self.app);
        let node = self.node.map(|n| n % NODE_NAMES.len() as u8);
        let mut spec = Map::new();
        if let Some(n) = node {
            spec.insert("nodeName".into(), node_name(n).into());
        }
        if self.host_network {
            spec.insert("hostNetwork".into(), true.into());
        }
        let mut container = json!({"name": "main", "image": "registry.example/app:1"});
        if let Some((name, number)) = &self.container_port {
            container["ports"] = json!([port_value(name, *number)]);
        }
        spec.insert("containers".into(), json!([container]));
        let phase = match self.phase {
            Phase::Running => "Running",
            Phase::Pending => "Pending",
            Phase::Succeeded => "Succeeded",
        };
        let mut status = Map::new();
        status.insert("phase".into(), phase.into());
        if let Some(x) = self.ip {
            let n = node.unwrap_or(1);
            let mut ips = vec![if self.host_network {
                node_ip(false, n)
            } else {
                pod_ip(false, n, x)
            }];
            if self.dual_stack && !self.host_network {
                ips.push(pod_ip(true, n, x));
            }
            status.insert("podIP".into(), ips[0].clone().into());
            let ips: Vec<Value> = ips.into_iter().map(|ip| json!({ "ip": ip })).collect();
            status.insert("podIPs".into(), ips.into());
        }
        status.insert(
            "conditions".into(),
            json!([{"type": "Ready", "status": if self.ready { "True" } else { "False" }}]),
        );
        let mut metadata = meta(&format!("{app}-{}", self.index % 4), ns(self.namespace));
        metadata["labels"] = json!({ "app": app });
        if self.terminating {
            metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z".into();
        }
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": metadata,
            "spec": spec,
            "status": status,
        })
    }
}

impl Workload {
    fn document(&self) -> Value {
        let app = svc_name(self.app);
        let kind = match self.kind {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::ReplicaSet => "ReplicaSet",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
        };
        let mut container = json!({"name": "main", "image": "registry.example/app:1"});
        if let Some((name, number)) = &self.container_port {
            container["ports"] = json!([port_value(name, *number)]);
        }
        let mut spec = json!({
            "selector": {"matchLabels": {"app": app}},
            "template": {
                "metadata": {"labels": {"app": app}},
                "spec": {"containers": [container]},
            },
        });
        if let Some(r) = self.replicas
            && !matches!(self.kind, WorkloadKind::DaemonSet)
        {
            spec["replicas"] = (r % 4).into();
        }
        if matches!(self.kind, WorkloadKind::StatefulSet) {
            spec["serviceName"] = app.into();
        }
        json!({
            "apiVersion": "apps/v1",
            "kind": kind,
            "metadata": meta(&format!("{app}-{}", kind.to_lowercase()), ns(self.namespace)),
            "spec": spec,
        })
    }
}
