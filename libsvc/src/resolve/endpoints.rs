//! The EndpointSlices of each Service: given ones, ones mirrored from v1
//! Endpoints (the EndpointSliceMirroring controller), or ones the
//! EndpointSlice controller would compute from Pods.

use crate::config::{IpFamily, Settings};
use crate::diag::Diagnostic;
use crate::model::{
    EndpointAddress, EndpointPort, EndpointSlice, Endpoints, IntOrString, ObjectReference, Objects,
    Pod,
};
use crate::table::{
    AddressType, EndpointInfo, Protocol, ServiceInfo, SliceInfo, SlicePort, SliceSource,
};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// The label that ties an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

pub(super) fn attach_slices(
    services: &mut [ServiceInfo],
    objects: &Objects,
    _settings: &Settings,
    _diags: &mut [Diagnostic],
) {
    let mut given: BTreeMap<(&str, &str), Vec<&EndpointSlice>> = BTreeMap::new();
    for s in &objects.endpoint_slices {
        if let Some(svc) = s.meta.labels.get(SERVICE_NAME_LABEL) {
            given
                .entry((s.meta.namespace(), svc.as_str()))
                .or_default()
                .push(s);
        }
    }
    let mut legacy: BTreeMap<(&str, &str), &Endpoints> = BTreeMap::new();
    for e in &objects.endpoints {
        legacy
            .entry((e.meta.namespace(), e.meta.name.as_str()))
            .or_insert(e);
    }
    for svc in services.iter_mut() {
        let key = (svc.namespace.as_str(), svc.name.as_str());
        let mut slices = if let Some(list) = given.get(&key) {
            list.iter().map(|s| given_slice(s)).collect()
        } else if let Some(ep) = legacy.get(&key) {
            mirror(ep)
        } else if svc.selector.as_ref().is_some_and(|s| !s.is_empty()) {
            compute(svc, &objects.pods)
        } else {
            Vec::new()
        };
        slices.sort_by(|a, b| a.name.cmp(&b.name));
        svc.slices = slices;
    }
}

fn address_type(s: &str) -> AddressType {
    match s {
        "IPv6" => AddressType::IPv6,
        "FQDN" => AddressType::FQDN,
        _ => AddressType::IPv4,
    }
}

fn slice_port(p: &EndpointPort) -> SlicePort {
    SlicePort {
        name: p.name.clone(),
        port: p.port.and_then(|n| u16::try_from(n).ok()),
        protocol: Protocol::parse(p.protocol.as_deref()).unwrap_or(Protocol::TCP),
        app_protocol: p.app_protocol.clone(),
    }
}

fn given_slice(s: &EndpointSlice) -> SliceInfo {
    SliceInfo {
        name: s.meta.name.clone(),
        address_type: address_type(&s.address_type),
        ports: s.ports.iter().map(slice_port).collect(),
        endpoints: s
            .endpoints
            .iter()
            .map(|e| {
                let ready = e.ready.unwrap_or(true);
                EndpointInfo {
                    ip: e.addresses.first().and_then(|a| crate::config::parse_ip(a)),
                    addresses: e.addresses.clone(),
                    ready,
                    serving: e.serving.unwrap_or(ready),
                    terminating: e.terminating.unwrap_or(false),
                    ready_given: e.ready,
                    hostname: e.hostname.clone(),
                    node_name: e.node_name.clone(),
                    zone: e.zone.clone(),
                    hint_zones: e.hint_zones.clone(),
                    hint_nodes: e.hint_nodes.clone(),
                    target_ref: e.target_ref.clone(),
                }
            })
            .collect(),
        source: SliceSource::Given,
        origin: Some(s.origin.clone()),
    }
}

/// One slice per subset and address family, as the mirroring controller
/// writes them: `addresses` ready, `notReadyAddresses` not ready.
fn mirror(ep: &Endpoints) -> Vec<SliceInfo> {
    let mut out = Vec::new();
    for subset in &ep.subsets {
        for family in IpFamily::BOTH {
            let endpoint = |a: &EndpointAddress, ready: bool| -> Option<EndpointInfo> {
                let ip: IpAddr = a.ip.trim().parse().ok()?;
                (IpFamily::of(&ip) == family).then(|| EndpointInfo {
                    addresses: vec![a.ip.clone()],
                    ip: Some(ip),
                    ready,
                    serving: ready,
                    terminating: false,
                    ready_given: Some(ready),
                    hostname: a.hostname.clone(),
                    node_name: a.node_name.clone(),
                    zone: None,
                    hint_zones: Vec::new(),
                    hint_nodes: Vec::new(),
                    target_ref: a.target_ref.clone(),
                })
            };
            let endpoints: Vec<EndpointInfo> = subset
                .addresses
                .iter()
                .filter_map(|a| endpoint(a, true))
                .chain(
                    subset
                        .not_ready_addresses
                        .iter()
                        .filter_map(|a| endpoint(a, false)),
                )
                .collect();
            if endpoints.is_empty() {
                continue;
            }
            out.push(SliceInfo {
                name: format!("{}-{}", ep.meta.name, out.len()),
                address_type: if family == IpFamily::IPv4 {
                    AddressType::IPv4
                } else {
                    AddressType::IPv6
                },
                ports: subset.ports.iter().map(slice_port).collect(),
                endpoints,
                source: SliceSource::MirroredFromEndpoints,
                origin: Some(ep.origin.clone()),
            });
        }
    }
    out
}

fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The port a Pod serves a Service port on: a number as is, a name looked
/// up among the Pod's container ports (with the same protocol).
pub(super) fn resolve_target_port(
    pod: &Pod,
    target: &IntOrString,
    protocol: Protocol,
) -> Option<u16> {
    match target {
        IntOrString::Int(n) => u16::try_from(*n).ok(),
        IntOrString::Str(name) => pod
            .container_ports
            .iter()
            .find(|cp| {
                cp.name.as_deref() == Some(name.as_str())
                    && Protocol::parse(cp.protocol.as_deref()) == Some(protocol)
            })
            .and_then(|cp| u16::try_from(cp.container_port).ok()),
    }
}

/// The EndpointSlice controller: Pods of the Service's namespace matching
/// its selector, grouped by family and by the ports they resolve to.
fn compute(svc: &ServiceInfo, pods: &[Pod]) -> Vec<SliceInfo> {
    let Some(selector) = &svc.selector else {
        return Vec::new();
    };
    let families = if svc.ip_families.is_empty() {
        vec![IpFamily::IPv4]
    } else {
        svc.ip_families.clone()
    };
    // (family, ports) → endpoints, in pod order (sorted by name for determinism).
    let mut selected: Vec<&Pod> = pods
        .iter()
        .filter(|p| p.meta.namespace() == svc.namespace && selects(selector, &p.meta.labels))
        .filter(|p| !matches!(p.phase.as_deref(), Some("Succeeded") | Some("Failed")))
        .collect();
    selected.sort_by(|a, b| a.meta.name.cmp(&b.meta.name));
    let mut groups: BTreeMap<(IpFamily, Vec<SlicePort>), Vec<EndpointInfo>> = BTreeMap::new();
    for pod in selected {
        let ports: Vec<SlicePort> = svc
            .ports
            .iter()
            .filter_map(|sp| {
                Some(SlicePort {
                    name: sp.name.clone(),
                    port: Some(resolve_target_port(pod, &sp.target_port, sp.protocol)?),
                    protocol: sp.protocol,
                    app_protocol: sp.app_protocol.clone(),
                })
            })
            .collect();
        let terminating = pod.meta.deleting;
        let pod_ready = pod.ready.unwrap_or(false);
        let ready = (pod_ready && !terminating) || svc.publish_not_ready_addresses;
        let hostname = pod
            .hostname
            .clone()
            .filter(|h| !h.is_empty() && pod.subdomain.as_deref() == Some(svc.name.as_str()));
        for family in &families {
            let Some(ip_text) = pod.pod_ips.iter().find(|ip| {
                ip.trim()
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| IpFamily::of(&ip) == *family)
            }) else {
                continue;
            };
            groups
                .entry((*family, ports.clone()))
                .or_default()
                .push(EndpointInfo {
                    addresses: vec![ip_text.clone()],
                    ip: ip_text.trim().parse().ok(),
                    ready,
                    serving: pod_ready,
                    terminating,
                    ready_given: Some(ready),
                    hostname: hostname.clone(),
                    node_name: pod.node_name.clone(),
                    zone: None,
                    hint_zones: Vec::new(),
                    hint_nodes: Vec::new(),
                    target_ref: Some(ObjectReference {
                        kind: Some("Pod".into()),
                        namespace: Some(svc.namespace.clone()),
                        name: Some(pod.meta.name.clone()),
                    }),
                });
        }
    }
    groups
        .into_iter()
        .enumerate()
        .map(|(i, ((family, ports), endpoints))| SliceInfo {
            name: format!(
                "{}-{}{}",
                svc.name,
                if family == IpFamily::IPv4 {
                    "v4-"
                } else {
                    "v6-"
                },
                i
            ),
            address_type: if family == IpFamily::IPv4 {
                AddressType::IPv4
            } else {
                AddressType::IPv6
            },
            ports,
            endpoints,
            source: SliceSource::Computed,
            origin: None,
        })
        .collect()
}
