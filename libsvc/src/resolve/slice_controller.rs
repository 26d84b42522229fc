//! How the EndpointSlice controller (`staging/src/k8s.io/endpointslice`,
//! `Reconciler.reconcileByAddressType`) turns a Service's endpoints into
//! slices: which address types, at most [`MAX_ENDPOINTS_PER_SLICE`] per
//! slice, and a placeholder when there is nothing to write.

use crate::config::IpFamily;
use crate::table::{AddressType, EndpointInfo, ServiceInfo, SliceInfo, SlicePort, SliceSource};
use std::collections::BTreeMap;

/// kube-controller-manager's `--max-endpoints-per-slice` default.
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;

/// `getAddressTypesForService`: the Service's IP families; for a Service an
/// API server left without families (never 1.37), its cluster IP's family,
/// or both for a headless one.
pub fn address_types(svc: &ServiceInfo) -> Vec<IpFamily> {
    let mut families: Vec<IpFamily> = Vec::new();
    for f in &svc.ip_families {
        if !families.contains(f) {
            families.push(*f);
        }
    }
    if families.is_empty() {
        match svc.cluster_ips.first() {
            Some(ip) => families.push(IpFamily::of(ip)),
            None => families.extend(IpFamily::BOTH),
        }
    }
    families.sort();
    families
}

/// The slices of each address type: for each set of ports, its endpoints
/// in slices of at most [`MAX_ENDPOINTS_PER_SLICE`] (`reconcileByPortMapping`
/// fills one before starting the next); an address type with no endpoint
/// at all gets one placeholder slice, with no ports and no endpoints, so
/// that the Service's EndpointSlices say "nothing" rather than "unknown".
///
/// Names: Kubernetes gives each slice `<service>-` and a random suffix;
/// svcgen numbers them per address type (`<service>-v4-0`, …).
pub fn pack(
    svc: &ServiceInfo,
    families: &[IpFamily],
    groups: BTreeMap<(IpFamily, Vec<SlicePort>), Vec<EndpointInfo>>,
) -> Vec<SliceInfo> {
    // setEndpointSliceLabels: the Service's labels, the Service's name, the
    // managing controller, and the headless label for a headless Service
    // (kube-proxy's informer skips slices with that label).
    let mut labels = svc.labels.clone();
    labels.insert(
        "endpointslice.kubernetes.io/managed-by".into(),
        "endpointslice-controller.k8s.io".into(),
    );
    labels.insert("kubernetes.io/service-name".into(), svc.name.clone());
    if svc.headless {
        labels.insert("service.kubernetes.io/headless".into(), String::new());
    }
    let mut out = Vec::new();
    for family in families {
        let mut contents: Vec<(Vec<SlicePort>, Vec<EndpointInfo>)> = Vec::new();
        for ((f, ports), endpoints) in &groups {
            if f == family {
                for chunk in endpoints.chunks(MAX_ENDPOINTS_PER_SLICE) {
                    contents.push((ports.clone(), chunk.to_vec()));
                }
            }
        }
        if contents.is_empty() {
            contents.push((Vec::new(), Vec::new()));
        }
        let (tag, address_type) = match family {
            IpFamily::IPv4 => ("v4", AddressType::IPv4),
            IpFamily::IPv6 => ("v6", AddressType::IPv6),
        };
        for (n, (ports, endpoints)) in contents.into_iter().enumerate() {
            out.push(SliceInfo {
                name: format!("{}-{tag}-{n}", svc.name),
                address_type,
                ports,
                endpoints,
                source: SliceSource::Computed,
                labels: labels.clone(),
                origin: None,
            });
        }
    }
    out
}
