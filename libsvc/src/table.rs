//! The normalised snapshot every output renders from.
//!
//! One [`ServiceInfo`] per Service, defaulted and allocated as kube-apiserver
//! would store it, with its EndpointSlices (given, mirrored from v1
//! Endpoints, or computed from Pods by the endpoints controller).

use crate::config::IpFamily;
use crate::model::{IntOrString, ObjectReference};
use crate::parse::Origin;
use ipnet::IpNet;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// `spec.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum ServiceType {
    /// ClusterIP (the default).
    ClusterIP,
    /// NodePort.
    NodePort,
    /// LoadBalancer.
    LoadBalancer,
    /// ExternalName.
    ExternalName,
}

impl ServiceType {
    /// Parses the API spelling; anything else is `None`.
    pub fn parse(s: &str) -> Option<ServiceType> {
        match s {
            "ClusterIP" => Some(ServiceType::ClusterIP),
            "NodePort" => Some(ServiceType::NodePort),
            "LoadBalancer" => Some(ServiceType::LoadBalancer),
            "ExternalName" => Some(ServiceType::ExternalName),
            _ => None,
        }
    }

    /// The API spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            ServiceType::ClusterIP => "ClusterIP",
            ServiceType::NodePort => "NodePort",
            ServiceType::LoadBalancer => "LoadBalancer",
            ServiceType::ExternalName => "ExternalName",
        }
    }
}

/// A port protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Protocol {
    /// TCP (the default).
    TCP,
    /// UDP.
    UDP,
    /// SCTP.
    SCTP,
}

impl Protocol {
    /// Parses the API spelling (`TCP`, `UDP`, `SCTP`); absent or empty is TCP.
    pub fn parse(s: Option<&str>) -> Option<Protocol> {
        match s {
            None | Some("") | Some("TCP") => Some(Protocol::TCP),
            Some("UDP") => Some(Protocol::UDP),
            Some("SCTP") => Some(Protocol::SCTP),
            _ => None,
        }
    }

    /// Upper case, as the API writes it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Protocol::TCP => "TCP",
            Protocol::UDP => "UDP",
            Protocol::SCTP => "SCTP",
        }
    }

    /// Lower case, as iptables and nft write it.
    pub fn lower(&self) -> &'static str {
        match self {
            Protocol::TCP => "tcp",
            Protocol::UDP => "udp",
            Protocol::SCTP => "sctp",
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One Service port, defaulted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortInfo {
    /// `name` (may be empty for a single port).
    pub name: String,
    /// `port`.
    pub port: u16,
    /// `protocol`.
    pub protocol: Protocol,
    /// `targetPort` (defaulted to `port`).
    pub target_port: IntOrString,
    /// `nodePort`, if set or allocated.
    pub node_port: Option<u16>,
    /// `appProtocol`.
    pub app_protocol: Option<String>,
}

/// A load-balancer ingress point from `status.loadBalancer.ingress`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LbIngress {
    /// The IP.
    pub ip: IpAddr,
    /// `ipMode` is set and is not `VIP` (kube-proxy's `IsVIPMode` is false:
    /// the load balancer does not send the VIP to the node, so kube-proxy
    /// does not program it).
    pub ip_mode_proxy: bool,
    /// `ipMode` as the API server stores it: `VIP` when unset
    /// (`SetDefaults_Service`, LoadBalancerIPMode, GA in 1.32).
    pub ip_mode: String,
}

/// An EndpointSlice's address type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum AddressType {
    /// IPv4.
    IPv4,
    /// IPv6.
    IPv6,
    /// FQDN (not used by kube-proxy).
    FQDN,
}

impl AddressType {
    /// The family, for IP address types.
    pub fn family(&self) -> Option<IpFamily> {
        match self {
            AddressType::IPv4 => Some(IpFamily::IPv4),
            AddressType::IPv6 => Some(IpFamily::IPv6),
            AddressType::FQDN => None,
        }
    }
}

/// A port of an EndpointSlice.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct SlicePort {
    /// `name` (matches the Service port's name).
    pub name: String,
    /// `port` (`None`: unset).
    pub port: Option<u16>,
    /// `protocol`.
    pub protocol: Protocol,
    /// `appProtocol`.
    pub app_protocol: Option<String>,
}

/// One endpoint of an EndpointSlice, with conditions read the way
/// kube-proxy's EndpointSliceCache reads them (`newEndpointSliceInfo`):
/// absent ready → ready; absent serving → serving; absent terminating →
/// false. (The API asks consumers to read an absent `serving` like
/// `ready`; kube-proxy, the only reader of `serving`, does not.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndpointInfo {
    /// `addresses` as written.
    pub addresses: Vec<String>,
    /// The first address, parsed (kube-proxy uses only the first).
    pub ip: Option<IpAddr>,
    /// `conditions.ready`.
    pub ready: bool,
    /// `conditions.serving`.
    pub serving: bool,
    /// `conditions.terminating`.
    pub terminating: bool,
    /// `conditions.ready` was written explicitly (`None`: absent).
    pub ready_given: Option<bool>,
    /// `hostname`.
    pub hostname: Option<String>,
    /// `nodeName`.
    pub node_name: Option<String>,
    /// `zone`.
    pub zone: Option<String>,
    /// `hints.forZones`.
    pub hint_zones: Vec<String>,
    /// `hints.forNodes`.
    pub hint_nodes: Vec<String>,
    /// `targetRef`.
    #[serde(skip)]
    pub target_ref: Option<ObjectReference>,
}

/// Where a slice came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SliceSource {
    /// Given in the input.
    Given,
    /// Mirrored from a v1 Endpoints object in the input.
    MirroredFromEndpoints,
    /// Computed from Pods by the endpoints controller.
    Computed,
}

/// An EndpointSlice of a Service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SliceInfo {
    /// `metadata.name`.
    pub name: String,
    /// `addressType`.
    pub address_type: AddressType,
    /// `ports`.
    pub ports: Vec<SlicePort>,
    /// `endpoints`.
    pub endpoints: Vec<EndpointInfo>,
    /// Where it came from.
    pub source: SliceSource,
    /// Where it is written (given and mirrored slices).
    #[serde(skip)]
    pub origin: Option<Origin>,
    /// `metadata.labels` (kube-proxy's informer filters on them).
    #[serde(skip)]
    pub labels: BTreeMap<String, String>,
}

/// One Service, normalised.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceInfo {
    /// `metadata.namespace` (defaulted).
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// `metadata.annotations`.
    pub annotations: BTreeMap<String, String>,
    /// `spec.type`; an unknown type reads as ClusterIP (with a diagnostic).
    pub type_: ServiceType,
    /// `spec.clusterIPs` as stored, primary first: the literal spelling
    /// (kubelet writes it into env vars as is). Empty for ExternalName;
    /// `["None"]` for headless.
    pub cluster_ips_text: Vec<String>,
    /// The cluster IPs parsed, primary first; empty for headless and ExternalName.
    pub cluster_ips: Vec<IpAddr>,
    /// `spec.clusterIP: None`.
    pub headless: bool,
    /// The cluster IP was allocated by svcgen (the manifest had none).
    pub allocated_cluster_ip: bool,
    /// `spec.ipFamilies` (defaulted from the cluster IPs).
    pub ip_families: Vec<IpFamily>,
    /// `spec.ipFamilyPolicy` (defaulted: SingleStack).
    pub ip_family_policy: String,
    /// `spec.externalName`.
    pub external_name: Option<String>,
    /// `spec.ports`.
    pub ports: Vec<PortInfo>,
    /// `spec.selector` (`None`: selector-less).
    pub selector: Option<BTreeMap<String, String>>,
    /// `spec.externalIPs` as written (kube-proxy skips invalid ones).
    pub external_ips: Vec<String>,
    /// `status.loadBalancer.ingress` IPs (hostnames are not used by kube-proxy).
    pub lb_ingress: Vec<LbIngress>,
    /// `status.loadBalancer.ingress[*].hostname`.
    pub lb_ingress_hostnames: Vec<String>,
    /// `spec.loadBalancerSourceRanges` as written (kube-proxy trims blanks,
    /// skips invalid ones). The legacy annotation is the cloud provider's:
    /// neither kube-proxy nor `kubectl describe` reads it.
    pub lb_source_ranges: Vec<String>,
    /// `spec.loadBalancerIP`.
    pub load_balancer_ip: Option<String>,
    /// ClientIP affinity timeout in seconds; `None`: affinity None.
    pub affinity_timeout: Option<u32>,
    /// `spec.externalTrafficPolicy` (`Cluster` or `Local`; `None` when not external).
    pub external_traffic_policy: Option<String>,
    /// `spec.internalTrafficPolicy` (`Cluster` or `Local`).
    pub internal_traffic_policy: Option<String>,
    /// `spec.healthCheckNodePort`.
    pub health_check_node_port: Option<u16>,
    /// `spec.publishNotReadyAddresses`.
    pub publish_not_ready_addresses: bool,
    /// `spec.allocateLoadBalancerNodePorts`.
    pub allocate_load_balancer_node_ports: Option<bool>,
    /// `spec.trafficDistribution`.
    pub traffic_distribution: Option<String>,
    /// `spec.sessionAffinity` (defaulted: `None`).
    pub session_affinity: String,
    /// The Service's EndpointSlices, sorted by name.
    pub slices: Vec<SliceInfo>,
    /// Where the Service is written.
    #[serde(skip)]
    pub origin: Origin,
    /// `metadata.creationTimestamp` as written (RFC 3339), for AGE.
    pub creation_timestamp: Option<String>,
}

impl ServiceInfo {
    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The cluster IP of `family`, if the Service has one.
    pub fn cluster_ip(&self, family: IpFamily) -> Option<IpAddr> {
        self.cluster_ips
            .iter()
            .copied()
            .find(|ip| IpFamily::of(ip) == family)
    }

    /// `externalTrafficPolicy: Local` on a Service that is reachable from
    /// outside (NodePort, LoadBalancer, or with external IPs).
    pub fn external_policy_local(&self) -> bool {
        self.external_traffic_policy.as_deref() == Some("Local")
            && (matches!(
                self.type_,
                ServiceType::NodePort | ServiceType::LoadBalancer
            ) || !self.external_ips.is_empty())
    }

    /// `internalTrafficPolicy: Local`.
    pub fn internal_policy_local(&self) -> bool {
        self.internal_traffic_policy.as_deref() == Some("Local")
    }

    /// The load-balancer source ranges, parsed, blanks trimmed, invalid ones skipped.
    pub fn source_ranges(&self) -> Vec<IpNet> {
        self.lb_source_ranges
            .iter()
            .filter_map(|r| crate::config::parse_cidr(r))
            .collect()
    }
}

/// The normalised snapshot: every Service, sorted by namespace and name.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServiceTable {
    /// The Services.
    pub services: Vec<ServiceInfo>,
}

impl ServiceTable {
    /// The Service `namespace/name`.
    pub fn get(&self, namespace: &str, name: &str) -> Option<&ServiceInfo> {
        self.services
            .binary_search_by(|s| (s.namespace.as_str(), s.name.as_str()).cmp(&(namespace, name)))
            .ok()
            .map(|i| &self.services[i])
    }
}
