//! The EndpointSlices of each Service: given ones, ones mirrored from v1
//! Endpoints (the EndpointSliceMirroring controller), or ones the
//! EndpointSlice controller would compute from Pods.

use crate::config::{IpFamily, Settings};
use crate::diag::Diagnostic;
use crate::model::{
    EndpointPort, EndpointSlice, Endpoints, IntOrString, ObjectReference, Objects, Pod,
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
        let has_selector = svc.selector.as_ref().is_some_and(|s| !s.is_empty());
        let mut slices = if let Some(list) = given.get(&key) {
            list.iter().map(|s| given_slice(s)).collect()
        } else if has_selector {
            compute(svc, &objects.pods)
        } else if let Some(ep) = legacy.get(&key) {
            super::mirroring::mirror(ep)
                .iter()
                .map(|s| SliceInfo {
                    source: SliceSource::MirroredFromEndpoints,
                    ..given_slice(s)
                })
                .collect()
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

/// A label selector (`spec.selector`, equality only) matches `labels`.
pub(super) fn selects(
    selector: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
) -> bool {
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

/// The EndpointSlice controller (`Reconciler.Reconcile`): Pods of the
/// Service's namespace matching its selector, one endpoint per Pod and
/// address type of the Service, grouped by the ports they resolve to, then
/// packed into slices (`super::slice_controller::pack`).
fn compute(svc: &ServiceInfo, pods: &[Pod]) -> Vec<SliceInfo> {
    let Some(selector) = &svc.selector else {
        return Vec::new();
    };
    // Services of type ExternalName receive no EndpointSlices.
    if svc.type_ == crate::table::ServiceType::ExternalName {
        return Vec::new();
    }
    let families = super::slice_controller::address_types(svc);
    // (family, ports) → endpoints, in pod order (sorted by name for determinism).
    let mut selected: Vec<&Pod> = pods
        .iter()
        .filter(|p| p.meta.namespace() == svc.namespace && selects(selector, &p.meta.labels))
        .filter(|p| super::endpoints_controller::should_pod_be_in_endpoints(p, true))
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
            // getEndpointAddresses: every Pod IP of the family, re-printed
            // canonically (ParseIPSloppy(ip).String()).
            let addresses: Vec<IpAddr> = pod
                .pod_ips
                .iter()
                .filter_map(|ip| crate::config::parse_ip(ip))
                .filter(|ip| IpFamily::of(ip) == *family)
                .collect();
            let Some(first) = addresses.first().copied() else {
                continue;
            };
            groups
                .entry((*family, ports.clone()))
                .or_default()
                .push(EndpointInfo {
                    addresses: addresses.iter().map(IpAddr::to_string).collect(),
                    ip: Some(first),
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
    super::slice_controller::pack(svc, &families, groups)
}
