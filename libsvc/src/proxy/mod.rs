//! What kube-proxy sees, shared by the three backends: the service ports
//! of one IP family with their endpoints, read the way kube-proxy's
//! service and endpoint change trackers read them.

pub mod iptables;
pub mod ipvs;
pub mod nftables;
pub mod topology;

use crate::config::{IpFamily, Settings};
use crate::diag::{Diagnostic, Severity};
use crate::table::{PortInfo, Protocol, ServiceInfo, ServiceTable, ServiceType, SliceInfo};
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
    /// kube-proxy reads node hints (`PreferSameTrafficDistribution`).
    pub prefer_same_node: bool,
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
        push_service_ports(&mut out, svc, settings, family);
    }
    out.sort_by_key(|sp| sp.port_name());
    out
}

/// The service ports of one Service, as [`service_ports`] gives them
/// (sorted by port name), for the incremental engine.
pub fn service_ports_of<'a>(
    svc: &'a ServiceInfo,
    settings: &Settings,
    family: IpFamily,
) -> Vec<ServicePortInfo<'a>> {
    let mut out = Vec::new();
    push_service_ports(&mut out, svc, settings, family);
    out.sort_by_key(|sp| sp.port_name());
    out
}

/// Appends the service ports of `svc` a proxier of `family` handles.
fn push_service_ports<'a>(
    out: &mut Vec<ServicePortInfo<'a>>,
    svc: &'a ServiceInfo,
    settings: &Settings,
    family: IpFamily,
) {
    if svc.type_ == ServiceType::ExternalName || svc.headless || unseen_service(svc).is_some() {
        return;
    }
    let Some(cluster_ip) = svc.cluster_ip(family) else {
        return;
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
    let first = out.len();
    for port in &svc.ports {
        // kube-proxy keeps a Service's ports in a map keyed by
        // ServicePortName (namespace/name, port name, protocol): of two
        // ports with one key — which kube-apiserver refuses, but svcgen
        // renders refused input with warnings — the later one stands
        // (pkg/proxy/servicechangetracker.go, `serviceToServiceMap`).
        if let Some(i) = out[first..]
            .iter()
            .position(|sp| sp.port.name == port.name && sp.port.protocol == port.protocol)
        {
            out.remove(first + i);
        }
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
            prefer_same_node: settings.prefer_same_node(),
        });
    }
}

/// The endpoints of one service port, as kube-proxy's EndpointSliceCache
/// (`endpointInfoByServicePort`, `addEndpoints`) gathers them: from every
/// slice of the family (slices its informer lists), every slice port with
/// the service port's name and protocol (in port order) and a non-zero
/// port, each endpoint by its first address (in the slice's address
/// order); the same `IP:port` twice keeps the first copy unless a later one
/// is local. kube-proxy visits the slices of a Service in Go map order;
/// svcgen in name order. The result is sorted by the `IP:port` text.
pub fn endpoints_for(
    svc: &ServiceInfo,
    port: &PortInfo,
    family: IpFamily,
    node_name: &str,
) -> Vec<EndpointRef> {
    let mut by_addr: std::collections::BTreeMap<String, EndpointRef> =
        std::collections::BTreeMap::new();
    for slice in &svc.slices {
        if slice.address_type.family() != Some(family) || unseen_slice(slice).is_some() {
            continue;
        }
        let mut port_nums: Vec<u16> = slice
            .ports
            .iter()
            .filter(|p| p.name == port.name && p.protocol == port.protocol)
            .filter_map(|p| p.port.filter(|n| *n != 0))
            .collect();
        port_nums.sort_unstable();
        // newEndpointSliceInfo sorts a slice's endpoints by their addresses.
        let mut endpoints: Vec<_> = slice.endpoints.iter().collect();
        endpoints.sort_by_key(|e| e.addresses.join(","));
        for port_num in port_nums {
            for ep in &endpoints {
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
                    is_local: !node_name.is_empty() && ep.node_name.as_deref() == Some(node_name),
                    zone: ep.zone.clone(),
                    zone_hints: ep.hint_zones.iter().cloned().collect(),
                    node_hints: ep.hint_nodes.iter().cloned().collect(),
                };
                let key = e.addr();
                if !by_addr.contains_key(&key) || e.is_local {
                    by_addr.insert(key, e);
                }
            }
        }
    }
    // BTreeMap order is the byte order of the `IP:port` text.
    by_addr.into_values().collect()
}

/// kube-proxy's Service informer lists only Services without this label
/// (`noProxyName` in cmd/kube-proxy/app/server.go, `Run`).
pub const LABEL_SERVICE_PROXY_NAME: &str = "service.kubernetes.io/service-proxy-name";
/// kube-proxy's EndpointSlice informer lists only slices without this
/// label (`noHeadlessEndpoints`).
pub const LABEL_HEADLESS: &str = "service.kubernetes.io/headless";

/// Why kube-proxy's Service informer never lists `svc`, if it does not.
pub fn unseen_service(svc: &ServiceInfo) -> Option<&'static str> {
    svc.labels
        .contains_key(LABEL_SERVICE_PROXY_NAME)
        .then_some(LABEL_SERVICE_PROXY_NAME)
}

/// Why kube-proxy's EndpointSlice informer never lists `slice`, if it does not.
pub fn unseen_slice(slice: &SliceInfo) -> Option<&'static str> {
    slice
        .labels
        .contains_key(LABEL_HEADLESS)
        .then_some(LABEL_HEADLESS)
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
            node_hints: self.prefer_same_node,
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

/// kube-proxy's `LocalTrafficDetector` for one family
/// (pkg/proxy/util/localdetector.go): what tells traffic from this node's
/// pods apart. Each backend writes it in its own words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LocalDetector {
    /// `NewDetectLocalByCIDR` (ClusterCIDR, NodeCIDR): the source is in the
    /// network (`-s CIDR`, `ip saddr CIDR`).
    Cidr(IpNet),
    /// `NewDetectLocalByBridgeInterface`: the packet came in on this
    /// interface (`-i NAME`, `iifname NAME`).
    Interface(String),
    /// `NewDetectLocalByInterfaceNamePrefix`: it came in on an interface
    /// whose name starts so (`-i PREFIX+`, `iifname PREFIX*`).
    InterfacePrefix(String),
}

impl LocalDetector {
    /// Is a packet from `src` that came in on `in_interface` (`None`: from
    /// the node itself, or an interface not named) local-pod traffic?
    pub fn matches(&self, src: &IpAddr, in_interface: Option<&str>) -> bool {
        match self {
            LocalDetector::Cidr(n) => n.contains(src),
            LocalDetector::Interface(name) => in_interface == Some(name.as_str()),
            LocalDetector::InterfacePrefix(p) => {
                in_interface.is_some_and(|i| i.starts_with(p.as_str()))
            }
        }
    }
}

/// The local-traffic detector of `family` (`GetLocalTrafficDetectors`), or
/// why there is none, in kube-proxy's words where it logs them.
pub fn local_detector(settings: &Settings, family: IpFamily) -> Result<LocalDetector, String> {
    let p = &settings.proxy;
    let node = &settings.node;
    // kube-proxy logs only for its primary family; svcgen says it for each.
    let which = if family == node.primary_family() {
        "primary"
    } else {
        "secondary"
    };
    let first_of = |cidrs: &[IpNet]| {
        cidrs
            .iter()
            .find(|n| IpFamily::of(&n.addr()) == family)
            // kube-proxy prints the parsed *net.IPNet: host bits cleared.
            .map(|n| LocalDetector::Cidr(n.trunc()))
    };
    match p.detect_local_mode.as_str() {
        "ClusterCIDR" => first_of(&p.cluster_cidrs).ok_or_else(|| {
            format!(
                "Detect-local-mode set to ClusterCIDR, but no cluster CIDR specified for {which} IP family ipFamily=\"{family}\" clusterCIDRs={:?}",
                p.cluster_cidrs.iter().map(|n| n.to_string()).collect::<Vec<_>>()
            )
        }),
        "NodeCIDR" => {
            if !node.object_found {
                return Err(format!("timeout waiting for node {:?} to exist", node.name));
            }
            if node.pod_cidrs.is_empty() {
                return Err(format!("timeout waiting for PodCIDR allocation on node {:?}", node.name));
            }
            let cidrs: Vec<IpNet> = node
                .pod_cidrs
                .iter()
                .filter_map(|c| crate::config::parse_cidr(c))
                .collect();
            first_of(&cidrs).ok_or_else(|| {
                format!(
                    "Detect-local-mode set to NodeCIDR, but no PodCIDR defined at node for {which} IP family ipFamily=\"{family}\" podCIDRs={:?}",
                    node.pod_cidrs
                )
            })
        }
        "BridgeInterface" => interface_name(&p.bridge_interface, "detectLocal.bridgeInterface", 15)
            .map(LocalDetector::Interface),
        "InterfaceNamePrefix" => {
            // iptables counts the `+` within IFNAMSIZ.
            interface_name(&p.interface_name_prefix, "detectLocal.interfaceNamePrefix", 14)
                .map(LocalDetector::InterfacePrefix)
        }
        other => Err(format!("detectLocalMode: Unsupported value: {other:?}: supported values: \"ClusterCIDR\", \"NodeCIDR\", \"BridgeInterface\", \"InterfaceNamePrefix\"")),
    }
}

/// An interface name kube-proxy's validation accepts (`must not be empty`)
/// that is also safe to write into rule text unquoted.
fn interface_name(name: &str, field: &str, max: usize) -> Result<String, String> {
    if name.is_empty() {
        return Err(format!("{field}: Invalid value: \"\": must not be empty"));
    }
    let safe = name.len() <= max
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if safe {
        Ok(name.to_string())
    } else {
        Err(format!(
            "{field}: Invalid value: {name:?}: svcgen writes interface names of at most {max} characters from [A-Za-z0-9_.-] only"
        ))
    }
}

/// The diagnostics every proxy backend adds to its output: what kube-proxy's
/// informers leave out (Info), a local-traffic detector that cannot be built
/// for a family that has services (Warning), and how the node was found.
pub fn proxy_notes(
    table: &ServiceTable,
    settings: &Settings,
    families: &[IpFamily],
    mode: &str,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let node = &settings.node;
    if node.name_guessed {
        out.push(Diagnostic::new(
            Severity::Warning,
            format!(
                "{mode}: several Nodes and no --node-name or hostnameOverride: rendering for Node {:?}, the first; kube-proxy runs as the Node named like its host",
                node.name
            ),
            None,
        ));
    } else if !node.object_found
        && node.host_ips.is_empty()
        && node.name_given
        // NodeCIDR mode reports the missing Node with its detector.
        && settings.proxy.detect_local_mode != "NodeCIDR"
    {
        out.push(Diagnostic::new(
            Severity::Warning,
            format!(
                "{mode}: Timed out waiting for node to exist node={:?}: no Node of that name in the input; kube-proxy goes on with the node IPs 127.0.0.1 and ::1",
                node.name
            ),
            None,
        ));
    } else if node.object_found && node.host_ips.is_empty() {
        out.push(Diagnostic::new(
            Severity::Warning,
            format!(
                "{mode}: Timed out waiting for node to be assigned IPs node={:?}: the Node has no InternalIP or ExternalIP; kube-proxy goes on with the node IPs 127.0.0.1 and ::1",
                node.name
            ),
            None,
        ));
    }
    for svc in &table.services {
        if let Some(label) = unseen_service(svc) {
            out.push(Diagnostic::new(
                Severity::Info,
                format!(
                    "{mode}: Service {} has the label {label}: kube-proxy's informer does not list it, so it gets no rules",
                    svc.key()
                ),
                Some(svc.origin.location()),
            ));
            continue;
        }
        // A headless Service gets no rules anyway; its slices' label says so.
        for slice in svc.slices.iter().filter(|_| !svc.headless) {
            if let Some(label) = unseen_slice(slice) {
                out.push(Diagnostic::new(
                    Severity::Info,
                    format!(
                        "{mode}: EndpointSlice {}/{} has the label {label}: kube-proxy's informer does not list it, so its endpoints are not used",
                        svc.namespace, slice.name
                    ),
                    slice.origin.as_ref().map(|o| o.location()),
                ));
            }
        }
    }
    for family in families {
        let proxied = table.services.iter().any(|s| {
            s.type_ != ServiceType::ExternalName
                && unseen_service(s).is_none()
                && s.cluster_ip(*family).is_some()
        });
        if !proxied {
            continue;
        }
        if let Err(why) = local_detector(settings, *family) {
            out.push(Diagnostic::new(
                Severity::Warning,
                format!(
                    "{mode}: {why}; {family} rules are rendered without a local-traffic detector"
                ),
                None,
            ));
        }
    }
    out
}

/// The tracers' note when a packet is addressed to a Service kube-proxy's
/// informer does not list (its addresses get no rules).
pub fn unseen_trace_notes(table: &ServiceTable, dst: &IpAddr) -> Vec<String> {
    let mut out = Vec::new();
    for svc in &table.services {
        let Some(label) = unseen_service(svc) else {
            continue;
        };
        let addressed = svc.cluster_ips.contains(dst)
            || svc.lb_ingress.iter().any(|i| i.ip == *dst)
            || svc
                .external_ips
                .iter()
                .any(|e| crate::config::parse_ip(e).as_ref() == Some(dst));
        if addressed {
            out.push(format!(
                "Service {} has the label {label}: kube-proxy's informer does not list it, so it has no rules",
                svc.key()
            ));
        }
    }
    out
}

/// The `nodePortAddresses` of a backend with kube-proxy's server defaults
/// applied (`platformApplyDefaults`): nftables mode with none configured
/// uses `primary` (since v1.31).
pub fn node_port_addresses(settings: &Settings, nftables: bool) -> Vec<String> {
    match &settings.proxy.node_port_addresses {
        Some(list) if !list.is_empty() => list.clone(),
        _ if nftables => vec!["primary".to_string()],
        _ => Vec::new(),
    }
}

/// The `nodePortAddresses` CIDRs of `family` (kube-proxy's
/// `NewNodePortAddresses`), host bits cleared: `primary` is the node IP of
/// the family unless that is loopback (`newProxyServer`); CIDRs of the
/// other family and unparsable entries are skipped. Empty, or holding a
/// zero CIDR, means every address.
pub fn node_port_cidrs(settings: &Settings, family: IpFamily, nftables: bool) -> Vec<IpNet> {
    let mut cidrs = Vec::new();
    for s in node_port_addresses(settings, nftables) {
        let net = if s.trim() == "primary" {
            let ip = settings.node.node_ip(family);
            (!ip.is_loopback()).then(|| IpNet::from(ip))
        } else {
            crate::config::parse_cidr(&s).map(|n| n.trunc())
        };
        if let Some(n) = net.filter(|n| IpFamily::of(&n.addr()) == family) {
            cidrs.push(n);
        }
    }
    cidrs
}
