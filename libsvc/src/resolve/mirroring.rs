//! The EndpointSliceMirroring controller (`pkg/controller/endpointslicemirroring`):
//! the EndpointSlices it writes for a v1 Endpoints object of a Service
//! without a selector.

use super::endpoints_controller::{Port, Subset, repack_subsets, subsets_of};
use crate::config::parse_ip;
use crate::model::{
    EndpointPort, EndpointSlice, Endpoints, ObjectMeta, ObjectReference, SliceEndpoint,
};
use std::collections::BTreeMap;

/// `endpointslice.kubernetes.io/skip-mirror`: `"true"` keeps an Endpoints
/// object from being mirrored.
pub const SKIP_MIRROR_LABEL: &str = "endpointslice.kubernetes.io/skip-mirror";
/// `control-plane.alpha.kubernetes.io/leader`: leader-election records are
/// never mirrored.
pub const LEADER_ANNOTATION: &str = "control-plane.alpha.kubernetes.io/leader";
/// The controller's default `maxEndpointsPerSubset`
/// (`--mirroring-max-endpoints-per-subset`).
pub const MAX_ENDPOINTS_PER_SUBSET: usize = 1000;
/// `endpointslice.kubernetes.io/managed-by` of mirrored slices.
pub const CONTROLLER_NAME: &str = "endpointslicemirroring-controller.k8s.io";

/// `shouldMirror`: not labelled skip-mirror, not a leader-election record.
pub fn should_mirror(ep: &Endpoints) -> bool {
    ep.meta.labels.get(SKIP_MIRROR_LABEL).map(String::as_str) != Some("true")
        && !ep.meta.annotations.contains_key(LEADER_ANNOTATION)
}

/// `reconciler.reconcile` for an Endpoints object whose Service has no
/// selector (the caller checks that): its subsets repacked
/// (`RepackSubsets`), each valid address (`ParseIPSloppy`, re-printed
/// canonically) an endpoint with only `ready` set, at most
/// [`MAX_ENDPOINTS_PER_SUBSET`] per subset, one slice per address type and
/// set of ports (subsets with the same ports share it). Invalid addresses
/// are skipped.
pub fn mirror(ep: &Endpoints) -> Vec<EndpointSlice> {
    if !should_mirror(ep) {
        return Vec::new();
    }
    // Target references are copied from the written addresses, by IP.
    let subsets: Vec<Subset> = subsets_of(ep)
        .into_iter()
        .map(|mut s| {
            for a in s
                .addresses
                .iter_mut()
                .chain(s.not_ready_addresses.iter_mut())
            {
                a.target_ref = None;
            }
            s
        })
        .collect();
    // The target references, by address, from the written subsets.
    let refs: BTreeMap<&str, &ObjectReference> = ep
        .subsets
        .iter()
        .flat_map(|s| s.addresses.iter().chain(&s.not_ready_addresses))
        .filter_map(|a| Some((a.ip.as_str(), a.target_ref.as_ref()?)))
        .collect();
    // (address type, ports) → endpoints, each address once.
    let mut desired: BTreeMap<(&'static str, Vec<Port>), Vec<SliceEndpoint>> = BTreeMap::new();
    for subset in repack_subsets(subsets, "v1") {
        let mut added = 0;
        for (a, ready) in subset
            .addresses
            .iter()
            .map(|a| (a, true))
            .chain(subset.not_ready_addresses.iter().map(|a| (a, false)))
        {
            if added >= MAX_ENDPOINTS_PER_SUBSET {
                break;
            }
            let Some(ip) = parse_ip(&a.ip) else {
                continue;
            };
            added += 1;
            let address_type = if ip.is_ipv4() { "IPv4" } else { "IPv6" };
            let endpoints = desired
                .entry((address_type, subset.ports.clone()))
                .or_default();
            let address = ip.to_string();
            if endpoints.iter().any(|e| e.addresses[0] == address) {
                continue;
            }
            endpoints.push(SliceEndpoint {
                addresses: vec![address],
                ready: Some(ready),
                hostname: Some(a.hostname.clone()).filter(|h| !h.is_empty()),
                node_name: a.node_name.clone(),
                target_ref: refs.get(a.ip.as_str()).map(|r| (*r).clone()),
                ..SliceEndpoint::default()
            });
        }
    }
    let mut labels = ep.meta.labels.clone();
    labels.insert(
        super::endpoints::SERVICE_NAME_LABEL.to_string(),
        ep.meta.name.clone(),
    );
    labels.insert(
        "endpointslice.kubernetes.io/managed-by".to_string(),
        CONTROLLER_NAME.to_string(),
    );
    desired
        .into_iter()
        .enumerate()
        .map(|(i, ((address_type, ports), mut endpoints))| {
            endpoints.truncate(MAX_ENDPOINTS_PER_SUBSET);
            EndpointSlice {
                meta: ObjectMeta {
                    name: format!("{}-{i}", ep.meta.name),
                    namespace: ep.meta.namespace.clone(),
                    labels: labels.clone(),
                    ..ObjectMeta::default()
                },
                address_type: address_type.to_string(),
                endpoints,
                ports: ports
                    .into_iter()
                    .map(|p| EndpointPort {
                        name: p.name,
                        port: Some(p.port),
                        protocol: Some(p.protocol),
                        app_protocol: p.app_protocol,
                    })
                    .collect(),
                origin: ep.origin.clone(),
            }
        })
        .collect()
}
