//! What kube-proxy sees, shared by the three backends: the service ports
//! of one IP family with their endpoints, read the way kube-proxy's
//! service and endpoint change trackers read them.

pub mod iptables;
pub mod ipvs;
pub mod nftables;
pub mod topology;

use crate::config::{IpFamily, Settings};
use crate::table::{PortInfo, Protocol, ServiceInfo, ServiceTable, ServiceType};
use ipnet::IpNet;
use serde::Serialize;
use std::collections::BTreeSet;
use std::net::IpAddr;

/// An address or a network in a rule, written as given (`::1`,
/// `10.0.0.0/8`); the iptables and nftables models share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Addr {
    /// A single address, written without a prefix length.
    Ip(IpAddr),
    /// A network, written `addr/len`.
    Net(IpNet),
}

impl Addr {
    /// Does `ip` fall in this address or network?
    pub fn contains(&self, ip: &IpAddr) -> bool {
        match self {
            Addr::Ip(a) => a == ip,
            Addr::Net(n) => n.contains(ip),
        }
    }
}

impl std::fmt::Display for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Addr::Ip(a) => a.fmt(f),
            Addr::Net(n) => n.fmt(f),
        }
    }
}

/// One service port as a proxier of one family sees it
/// (kube-proxy's `ServicePort` / `BaseServicePortInfo`).
#[derive(Debug, Clone, PartialEq)]
pub struct ServicePortInfo<'a> {
    /// The Service.
    pub service: &'a ServiceInfo,
    /// The port.
    pub port: &'a PortInfo,
    /// The family this view is for.
    pub family: IpFamily,
    /// The cluster IP of this family.
    pub cluster_ip: IpAddr,
    /// External IPs of this family (invalid ones skipped).
    pub external_ips: Vec<IpAddr>,
    /// Load-balancer ingress IPs of this family whose ipMode is not Proxy.
    pub load_balancer_vips: Vec<IpAddr>,
    /// Source ranges of this family (blanks trimmed, invalid skipped).
    pub source_ranges: Vec<IpNet>,
    /// The endpoints of this port, of this family.
    pub endpoints: Vec<EndpointRef>,
    /// The node this view is for: kube-proxy's node name.
    pub node_name: String,
    /// That node's `topology.kubernetes.io/zone` label (`None`: no label, or no Node).
    pub node_zone: Option<String>,
}

impl ServicePortInfo<'_> {
    /// kube-proxy's `ServicePortName` text: `namespace/name:port`
    /// (`namespace/name` for an unnamed port).
    pub fn port_name(&self) -> String {
        if self.port.name.is_empty() {
            format!("{}/{}", self.service.namespace, self.service.name)
        } else {
            format!(
                "{}/{}:{}",
                self.service.namespace, self.service.name, self.port.name
            )
        }
    }

    /// The protocol.
    pub fn protocol(&self) -> Protocol {
        self.port.protocol
    }

    /// The node port, if set and not 0. kube-proxy reads the field whatever
    /// the Service type (the API server only allows it on NodePort and
    /// LoadBalancer Services, so an invalid manifest renders as kube-proxy would).
    pub fn node_port(&self) -> Option<u16> {
        self.port.node_port.filter(|p| *p != 0)
    }

    /// ClientIP affinity timeout, if any.
    pub fn affinity_timeout(&self) -> Option<u32> {
        self.service.affinity_timeout
    }

    /// `externalTrafficPolicy: Local` (on an externally reachable service).
    pub fn external_policy_local(&self) -> bool {
        self.service.external_policy_local()
    }

    /// `internalTrafficPolicy: Local`.
    pub fn internal_policy_local(&self) -> bool {
        self.service.internal_policy_local()
    }

    /// The health-check node port kube-proxy serves (LoadBalancer with Local policy).
    pub fn health_check_node_port(&self) -> Option<u16> {
        (self.service.type_ == ServiceType::LoadBalancer && self.external_policy_local())
            .then_some(self.service.health_check_node_port)
            .flatten()
    }
}

/// One endpoint of a service port (kube-proxy's `Endpoint`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRef {
    /// The address.
    pub ip: IpAddr,
    /// The port.
    pub port: u16,
    /// `conditions.ready`.
    pub ready: bool,
    /// `conditions.serving`.
    pub serving: bool,
    /// `conditions.terminating`.
    pub terminating: bool,
    /// `nodeName` is this node.
    pub is_local: bool,
    /// `zone`.
    pub zone: Option<String>,
    /// `hints.forZones[*].name`.
    pub zone_hints: BTreeSet<String>,
    /// `hints.forNodes[*].name`.
    pub node_hints: BTreeSet<String>,
}

impl EndpointRef {
    /// `IP:port`, with brackets around IPv6 (kube-proxy's `Endpoint.String()`).
    pub fn addr(&self) -> String {
        std::net::SocketAddr::new(self.ip, self.port).to_string()
    }
}

/// The service ports a proxier of `family` handles, sorted by port name
/// (namespace, service, port name) for deterministic output. Services
/// without a cluster IP of that family (headless, ExternalName, the other
/// family) are skipped, as kube-proxy skips them.
pub fn service_ports<'a>(
    table: &'a ServiceTable,
    settings: &Settings,
    family: IpFamily,
) -> Vec<ServicePortInfo<'a>> {
    let mut out = Vec::new();
    for svc in &table.services {
        if svc.type_ == ServiceType::ExternalName || svc.headless {
            continue;
        }
        let Some(cluster_ip) = svc.cluster_ip(family) else {
            continue;
        };
        let of_family = |ip: &IpAddr| IpFamily::of(ip) == family;
        let external_ips: Vec<IpAddr> = svc
            .external_ips
            .iter()
            .filter_map(|s| crate::config::parse_ip(s))
            .filter(of_family)
            .collect();
        let load_balancer_vips: Vec<IpAddr> = svc
            .lb_ingress
            .iter()
            .filter(|i| !i.ip_mode_proxy)
            .map(|i| i.ip)
            .filter(of_family)
            .collect();
        let source_ranges: Vec<IpNet> = svc
            .source_ranges()
            .into_iter()
            .filter(|n| IpFamily::of(&n.addr()) == family)
            // kube-proxy keeps the parsed *net.IPNet, which prints masked.
            .map(|n| n.trunc())
            .collect();
        for port in &svc.ports {
            out.push(ServicePortInfo {
                service: svc,
                port,
                family,
                cluster_ip,
                external_ips: external_ips.clone(),
                load_balancer_vips: load_balancer_vips.clone(),
                source_ranges: source_ranges.clone(),
                endpoints: endpoints_for(svc, port, family, &settings.node.name),
                node_name: settings.node.name.clone(),
                node_zone: settings.node.zone.clone(),
            });
        }
    }
    out.sort_by_key(|sp| sp.port_name());
    out
}

/// The endpoints of one service port: from every slice of the family, the
/// endpoints of the slice port with the same name and protocol, first
/// address only, deduplicated by `IP:port` (a local copy wins), sorted by
/// their `IP:port` text byte-wise (kube-proxy's endpoint slice cache).
pub fn endpoints_for(
    svc: &ServiceInfo,
    port: &PortInfo,
    family: IpFamily,
    node_name: &str,
) -> Vec<EndpointRef> {
    let mut by_addr: std::collections::BTreeMap<String, EndpointRef> =
        std::collections::BTreeMap::new();
    for slice in &svc.slices {
        if slice.address_type.family() != Some(family) {
            continue;
        }
        let Some(sp) = slice
            .ports
            .iter()
            .find(|p| p.name == port.name && p.protocol == port.protocol)
        else {
            continue;
        };
        let Some(port_num) = sp.port.filter(|p| *p != 0) else {
            continue;
        };
        for ep in &slice.endpoints {
            let Some(ip) = ep.ip else { continue };
            if IpFamily::of(&ip) != family {
                continue;
            }
            let e = EndpointRef {
                ip,
                port: port_num,
                ready: ep.ready,
                serving: ep.serving,
                terminating: ep.terminating,
                is_local: ep.node_name.as_deref() == Some(node_name),
                zone: ep.zone.clone(),
                zone_hints: ep.hint_zones.iter().cloned().collect(),
                node_hints: ep.hint_nodes.iter().cloned().collect(),
            };
            let key = e.addr();
            // The first copy stays unless a later one is local.
            if !by_addr.contains_key(&key) || e.is_local {
                by_addr.insert(key, e);
            }
        }
    }
    // BTreeMap order is the byte order of the `IP:port` text.
    by_addr.into_values().collect()
}

impl ServicePortInfo<'_> {
    /// Reachable from outside: a node port, load-balancer IPs or external IPs
    /// (kube-proxy's `ExternallyAccessible`).
    pub fn externally_accessible(&self) -> bool {
        self.node_port().is_some()
            || !self.load_balancer_vips.is_empty()
            || !self.external_ips.is_empty()
    }

    /// Some traffic uses the cluster-wide endpoints (`UsesClusterEndpoints`).
    pub fn uses_cluster_endpoints(&self) -> bool {
        // Even with externalTrafficPolicy Local, an externally reachable
        // port needs its Cluster endpoints: pod and node traffic to its
        // external addresses is short-circuited to them.
        !self.internal_policy_local() || self.externally_accessible()
    }

    /// Does a load-balancer source range hold `node_ip`? Then the node may
    /// reach the load-balancer IPs itself (kube-proxy's `allowFromNode`).
    pub fn source_ranges_allow_node(&self, node_ip: Option<IpAddr>) -> bool {
        node_ip.is_some_and(|ip| self.source_ranges.iter().any(|n| n.contains(&ip)))
    }

    /// Some traffic uses only this node's endpoints (`UsesLocalEndpoints`).
    pub fn uses_local_endpoints(&self) -> bool {
        self.internal_policy_local()
            || (self.externally_accessible() && self.external_policy_local())
    }
}

/// The endpoints of a service port split the way kube-proxy's
/// `CategorizeEndpoints` splits them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Categorized {
    /// Endpoints for Cluster traffic policy: the ready ones available for
    /// the topology in use, or when none is ready anywhere, the
    /// serving-and-terminating ones.
    pub cluster: Vec<EndpointRef>,
    /// Endpoints for Local traffic policy: this node's ready ones, or when
    /// none is ready here, this node's serving-and-terminating ones.
    /// Topology does not apply to them.
    pub local: Vec<EndpointRef>,
    /// Every endpoint some policy of the service routes to (sorted by `IP:port`).
    pub all_reachable: Vec<EndpointRef>,
    /// The service has a usable endpoint anywhere in the cluster.
    pub has_any: bool,
    /// The topology filter applied to the Cluster endpoints (none when the
    /// service port never uses Cluster endpoints).
    pub topology: topology::Topology,
}

impl ServicePortInfo<'_> {
    /// The node as topology sees it: kube-proxy's node name and zone label.
    pub fn node_topology(&self) -> topology::NodeTopology<'_> {
        topology::NodeTopology {
            name: &self.node_name,
            zone: self.node_zone.as_deref().unwrap_or(""),
        }
    }
}

/// Splits the endpoints of `sp` into its cluster and local sets
/// (kube-proxy's `CategorizeEndpoints`, `pkg/proxy/topology.go`).
pub fn categorize_endpoints(sp: &ServicePortInfo) -> Categorized {
    let eps = &sp.endpoints;
    let mut c = Categorized::default();
    let usable = |e: &&EndpointRef| e.serving && e.terminating;
    if sp.uses_cluster_endpoints() {
        let node = sp.node_topology();
        c.topology = topology::topology_mode_from_hints(eps, node);
        let mode = c.topology.mode;
        c.cluster = eps
            .iter()
            .filter(|e| e.ready && topology::available_for_topology(e, mode, node))
            .cloned()
            .collect();
        // No ready endpoint for the topology means none is ready anywhere
        // (the mode falls back to none then), so terminating ones are tried
        // without topology.
        if c.cluster.is_empty() {
            c.cluster = eps.iter().filter(usable).cloned().collect();
        }
        c.has_any = !c.cluster.is_empty();
    }
    if !sp.uses_local_endpoints() {
        c.all_reachable = c.cluster.clone();
        return c;
    }
    let mut local_ready = false;
    let mut local_terminating = false;
    for e in eps {
        if e.ready {
            c.has_any = true;
            local_ready |= e.is_local;
        } else if e.serving && e.terminating {
            c.has_any = true;
            local_terminating |= e.is_local;
        }
    }
    if local_ready {
        c.local = eps
            .iter()
            .filter(|e| e.is_local && e.ready)
            .cloned()
            .collect();
    } else if local_terminating {
        c.local = eps
            .iter()
            .filter(|e| e.is_local && usable(e))
            .cloned()
            .collect();
    }
    if !sp.uses_cluster_endpoints() {
        c.all_reachable = c.local.clone();
    } else if c.local.is_empty() {
        c.all_reachable = c.cluster.clone();
    } else {
        let mut all: std::collections::BTreeMap<String, EndpointRef> =
            c.cluster.iter().map(|e| (e.addr(), e.clone())).collect();
        all.extend(c.local.iter().map(|e| (e.addr(), e.clone())));
        c.all_reachable = all.into_values().collect();
    }
    c
}

/// The source CIDR of pod traffic for `family` (`detectLocalMode:
/// ClusterCIDR` with a cluster CIDR of this family), as configured. Other
/// modes need facts svcgen does not have (pod CIDR, bridge or interface
/// names): no detector.
pub fn local_traffic_cidr(settings: &Settings, family: IpFamily) -> Option<IpNet> {
    if settings.proxy.detect_local_mode != "ClusterCIDR" {
        return None;
    }
    settings
        .proxy
        .cluster_cidrs
        .iter()
        .copied()
        .find(|n| IpFamily::of(&n.addr()) == family)
}

/// The `nodePortAddresses` CIDRs of `family` (kube-proxy's
/// `NewNodePortAddresses`), host bits cleared: `primary` is the node's
/// primary IP of the family; CIDRs of the other family and unparsable
/// entries are skipped. Empty, or holding a zero CIDR, means every address.
pub fn node_port_cidrs(settings: &Settings, family: IpFamily) -> Vec<IpNet> {
    let mut cidrs = Vec::new();
    for s in settings.proxy.node_port_addresses.iter().flatten() {
        let net = if s.trim() == "primary" {
            settings.node.primary_ip(family).map(IpNet::from)
        } else {
            crate::config::parse_cidr(s).map(|n| n.trunc())
        };
        if let Some(n) = net.filter(|n| IpFamily::of(&n.addr()) == family) {
            cidrs.push(n);
        }
    }
    cidrs
}
