//! What kube-proxy sees, shared by the three backends: the service ports
//! of one IP family with their endpoints, read the way kube-proxy's
//! service and endpoint change trackers read them.

pub mod iptables;
pub mod ipvs;
pub mod nftables;

use crate::config::{IpFamily, Settings};
use crate::table::{PortInfo, Protocol, ServiceInfo, ServiceTable, ServiceType};
use ipnet::IpNet;
use std::net::IpAddr;

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

    /// The node port, if any (only NodePort and LoadBalancer Services have one).
    pub fn node_port(&self) -> Option<u16> {
        matches!(
            self.service.type_,
            ServiceType::NodePort | ServiceType::LoadBalancer
        )
        .then_some(self.port.node_port)
        .flatten()
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
            .filter_map(|s| s.trim().parse::<IpAddr>().ok())
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
            });
        }
    }
    out.sort_by_key(|sp| sp.port_name());
    out
}

/// The endpoints of one service port: from every slice of the family, the
/// endpoints of the slice port with the same name and protocol, first
/// address only, deduplicated by `IP:port` (kube-proxy's endpoint slice cache).
pub fn endpoints_for(
    svc: &ServiceInfo,
    port: &PortInfo,
    family: IpFamily,
    node_name: &str,
) -> Vec<EndpointRef> {
    let mut out: Vec<EndpointRef> = Vec::new();
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
            if out.iter().any(|e| e.ip == ip && e.port == port_num) {
                continue;
            }
            out.push(EndpointRef {
                ip,
                port: port_num,
                ready: ep.ready,
                serving: ep.serving,
                terminating: ep.terminating,
                is_local: ep.node_name.as_deref() == Some(node_name),
                zone: ep.zone.clone(),
            });
        }
    }
    out
}
