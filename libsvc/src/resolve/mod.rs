//! Objects → [`ServiceTable`]: v1 defaults, allocation of cluster IPs and
//! node ports, and the EndpointSlices of every Service.

mod allocate;
mod endpoints;
pub mod endpoints_controller;
mod md5;
pub mod mirroring;
pub mod slice_controller;

use crate::config::{IpFamily, Settings};
use crate::diag::{Diagnostic, Severity};
use crate::model::{IntOrString, Objects, Service};
use crate::table::{LbIngress, PortInfo, Protocol, ServiceInfo, ServiceTable, ServiceType};
use std::collections::BTreeSet;
use std::net::IpAddr;

/// The legacy annotation that carries load-balancer source ranges.
pub const SOURCE_RANGES_ANNOTATION: &str = "service.beta.kubernetes.io/load-balancer-source-ranges";

/// Builds the table. Problems found here (a duplicate object, an unusable
/// value) become diagnostics; validation proper is [`crate::validate`].
pub fn resolve(
    objects: &Objects,
    settings: &Settings,
    diags: &mut Vec<Diagnostic>,
) -> ServiceTable {
    let mut order: Vec<&Service> = objects.services.iter().collect();
    // Sorting by key makes every later step independent of document order.
    order.sort_by(|a, b| {
        (a.meta.namespace(), a.meta.name.as_str()).cmp(&(b.meta.namespace(), b.meta.name.as_str()))
    });
    let mut seen = BTreeSet::new();
    let mut services = Vec::with_capacity(order.len());
    for svc in order {
        let key = (svc.meta.namespace().to_string(), svc.meta.name.clone());
        if !seen.insert(key.clone()) {
            diags.push(Diagnostic::new(
                Severity::Warning,
                format!(
                    "Service {}/{} is given more than once; the first one (in file order) is used",
                    key.0, key.1
                ),
                Some(svc.origin.location()),
            ));
            continue;
        }
        services.push(defaulted(svc));
    }
    allocate::allocate(&mut services, &objects.services, settings);
    endpoints::attach_slices(&mut services, objects, settings, diags);
    ServiceTable { services }
}

/// A Service with the v1 defaults applied (SetDefaults_Service), its
/// values parsed; nothing allocated yet.
fn defaulted(svc: &Service) -> ServiceInfo {
    let spec = &svc.spec;
    let type_ = spec
        .type_
        .as_deref()
        .filter(|t| !t.is_empty())
        .map_or(Some(ServiceType::ClusterIP), ServiceType::parse)
        .unwrap_or(ServiceType::ClusterIP);
    let ports = spec
        .ports
        .iter()
        .map(|p| PortInfo {
            name: p.name.clone(),
            port: u16::try_from(p.port).unwrap_or(0),
            protocol: Protocol::parse(p.protocol.as_deref()).unwrap_or(Protocol::TCP),
            target_port: match &p.target_port {
                None | Some(IntOrString::Int(0)) => IntOrString::Int(p.port),
                Some(IntOrString::Str(s)) if s.is_empty() => IntOrString::Int(p.port),
                Some(t) => t.clone(),
            },
            node_port: p
                .node_port
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| *n != 0),
            app_protocol: p.app_protocol.clone(),
        })
        .collect();
    let mut cluster_ips_text: Vec<String> = spec.cluster_ips.clone();
    if let Some(ip) = spec.cluster_ip.as_ref().filter(|ip| !ip.is_empty())
        && cluster_ips_text.is_empty()
    {
        cluster_ips_text.push(ip.clone());
    }
    if type_ == ServiceType::ExternalName {
        cluster_ips_text.clear();
    }
    let headless = cluster_ips_text.first().is_some_and(|ip| ip == "None");
    let cluster_ips: Vec<IpAddr> = if headless {
        Vec::new()
    } else {
        cluster_ips_text
            .iter()
            .filter_map(|ip| crate::config::parse_ip(ip))
            .collect()
    };
    let mut ip_families: Vec<IpFamily> = spec
        .ip_families
        .iter()
        .filter_map(|f| IpFamily::parse(f))
        .collect();
    if ip_families.is_empty() {
        ip_families = cluster_ips.iter().map(IpFamily::of).collect();
    }
    let external = matches!(type_, ServiceType::NodePort | ServiceType::LoadBalancer)
        || !spec.external_ips.is_empty();
    let affinity = spec
        .session_affinity
        .clone()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "None".into());
    let affinity_timeout = (affinity == "ClientIP").then(|| {
        spec.affinity_timeout
            .and_then(|t| u32::try_from(t).ok())
            .filter(|t| *t > 0)
            .unwrap_or(10800)
    });
    let mut lb_source_ranges = spec.load_balancer_source_ranges.clone();
    if lb_source_ranges.is_empty()
        && let Some(a) = svc.meta.annotations.get(SOURCE_RANGES_ANNOTATION)
    {
        lb_source_ranges = a
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
    }
    ServiceInfo {
        namespace: svc.meta.namespace().to_string(),
        name: svc.meta.name.clone(),
        labels: svc.meta.labels.clone(),
        annotations: svc.meta.annotations.clone(),
        type_,
        cluster_ips_text,
        cluster_ips,
        headless,
        allocated_cluster_ip: false,
        ip_families,
        ip_family_policy: spec
            .ip_family_policy
            .clone()
            .unwrap_or_else(|| "SingleStack".into()),
        external_name: spec.external_name.clone(),
        ports,
        selector: spec.selector.clone(),
        external_ips: spec.external_ips.clone(),
        lb_ingress: svc
            .lb_ingress
            .iter()
            .filter_map(|i| {
                Some(LbIngress {
                    ip: crate::config::parse_ip(i.ip.as_ref()?)?,
                    ip_mode_proxy: i.ip_mode.as_deref() == Some("Proxy"),
                    ip_mode: default_ip_mode(i.ip_mode.as_deref()),
                })
            })
            .collect(),
        lb_ingress_hostnames: svc
            .lb_ingress
            .iter()
            .filter_map(|i| i.hostname.clone())
            .collect(),
        lb_source_ranges,
        load_balancer_ip: spec.load_balancer_ip.clone(),
        affinity_timeout,
        external_traffic_policy: if external {
            Some(
                spec.external_traffic_policy
                    .clone()
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| "Cluster".into()),
            )
        } else {
            spec.external_traffic_policy
                .clone()
                .filter(|p| !p.is_empty())
        },
        internal_traffic_policy: if type_ == ServiceType::ExternalName {
            spec.internal_traffic_policy.clone()
        } else {
            Some(
                spec.internal_traffic_policy
                    .clone()
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| "Cluster".into()),
            )
        },
        health_check_node_port: spec
            .health_check_node_port
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| *n != 0),
        publish_not_ready_addresses: spec.publish_not_ready_addresses,
        allocate_load_balancer_node_ports: match (type_, spec.allocate_load_balancer_node_ports) {
            (ServiceType::LoadBalancer, None) => Some(true),
            (_, v) => v,
        },
        traffic_distribution: spec.traffic_distribution.clone(),
        session_affinity: affinity,
        slices: Vec::new(),
        origin: svc.origin.clone(),
    }
}

/// `SetDefaults_Service`: an ingress point with an IP and no `ipMode` is
/// stored with `ipMode: VIP` (feature LoadBalancerIPMode, GA in 1.32).
fn default_ip_mode(written: Option<&str>) -> String {
    written
        .filter(|m| !m.is_empty())
        .unwrap_or("VIP")
        .to_string()
}
