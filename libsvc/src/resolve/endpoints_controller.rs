//! v1 Endpoints: the objects `kubectl get endpoints` lists.
//!
//! For a Service with a selector they are what the Endpoints controller
//! (`pkg/controller/endpoint`, `Controller.syncService`) writes from the
//! Pods; an Endpoints object given in the input is shown as the API server
//! stores it (`endpointsStrategy.Canonicalize` repacks a created one; a
//! stored one, read from a cluster, is as it is). Subsets are repacked and
//! sorted as `endpoints.RepackSubsets` / `SortSubsets` do, which order by
//! the MD5 of each value printed by `dump.ForHash` (spew's `%#v`).

use super::endpoints::{resolve_target_port, selects};
use super::md5::md5;
use crate::config::{IpFamily, parse_ip};
use crate::model::{Endpoints, Objects, Pod};
use crate::table::{ServiceInfo, ServiceTable, ServiceType};
use serde::Serialize;
use std::collections::BTreeMap;

/// `endpoints.kubernetes.io/over-capacity`: set to `truncated` when the
/// controller had more than [`MAX_CAPACITY`] addresses.
pub const OVER_CAPACITY_ANNOTATION: &str = "endpoints.kubernetes.io/over-capacity";
/// The Endpoints controller's `maxCapacity`.
pub const MAX_CAPACITY: usize = 1000;
/// `service.kubernetes.io/headless`, on the Endpoints of a Service without a
/// cluster IP.
pub const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";

/// Who wrote an Endpoints object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum EndpointsSource {
    /// Given in the input.
    Given,
    /// Written by the Endpoints controller from the Pods of the input.
    Controller,
}

/// A v1 Endpoints object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndpointsObject {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name` (the Service's).
    pub name: String,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// `metadata.annotations`.
    pub annotations: BTreeMap<String, String>,
    /// `subsets`.
    pub subsets: Vec<Subset>,
    /// Who wrote it.
    pub source: EndpointsSource,
}

/// `subsets[*]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subset {
    /// `addresses` (ready).
    pub addresses: Vec<Address>,
    /// `notReadyAddresses`.
    pub not_ready_addresses: Vec<Address>,
    /// `ports`.
    pub ports: Vec<Port>,
}

/// `subsets[*].addresses[*]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Address {
    /// `ip`, as written (the controller copies the Pod's `podIPs` entry).
    pub ip: String,
    /// `hostname` (empty: unset).
    pub hostname: String,
    /// `nodeName`.
    pub node_name: Option<String>,
    /// `targetRef`.
    pub target_ref: Option<TargetRef>,
}

/// `targetRef` of an address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct TargetRef {
    /// `kind`.
    pub kind: String,
    /// `namespace`.
    pub namespace: String,
    /// `name`.
    pub name: String,
    /// `uid` (empty: unknown).
    pub uid: String,
}

impl From<&crate::model::ObjectReference> for TargetRef {
    /// A `targetRef` as written (no uid: svcgen does not keep one).
    fn from(r: &crate::model::ObjectReference) -> Self {
        TargetRef {
            kind: r.kind.clone().unwrap_or_default(),
            namespace: r.namespace.clone().unwrap_or_default(),
            name: r.name.clone().unwrap_or_default(),
            uid: String::new(),
        }
    }
}

/// `subsets[*].ports[*]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Port {
    /// `name`.
    pub name: String,
    /// `port`.
    pub port: i64,
    /// `protocol`.
    pub protocol: String,
    /// `appProtocol`.
    pub app_protocol: Option<String>,
}

/// Every v1 Endpoints object of the cluster, sorted by namespace and name:
/// the Endpoints controller's for Services with a selector, the input's
/// for the others (and stored ones, read from a cluster, as they are).
pub fn endpoints_objects(objects: &Objects, table: &ServiceTable) -> Vec<EndpointsObject> {
    let mut out: BTreeMap<(String, String), EndpointsObject> = BTreeMap::new();
    let mut stored: std::collections::BTreeSet<(&str, &str)> = Default::default();
    for e in &objects.endpoints {
        let key = (e.meta.namespace().to_string(), e.meta.name.clone());
        out.entry(key).or_insert_with(|| given(e));
        if e.meta.is_stored() {
            stored.insert((e.meta.namespace(), e.meta.name.as_str()));
        }
    }
    let pods = super::endpoints::PodIndex::new(&objects.pods);
    for svc in &table.services {
        let key = (svc.namespace.clone(), svc.name.clone());
        // A stored object is the cluster's state; any other Endpoints of a
        // Service with a selector is overwritten by the controller.
        if stored.contains(&(svc.namespace.as_str(), svc.name.as_str())) {
            continue;
        }
        // The Pod scan runs only for a Service whose slices the input gives.
        let slices_without_pods = svc.type_ != ServiceType::ExternalName
            && svc
                .slices
                .iter()
                .any(|sl| sl.source == crate::table::SliceSource::Given)
            && svc
                .selector
                .as_ref()
                .filter(|sel| !sel.is_empty())
                .is_some_and(|sel| pods.select(&svc.namespace, sel).is_empty());
        if slices_without_pods {
            // The input gives the Service's EndpointSlices but none of its
            // Pods: the slices stand for the Pods the cluster has (as they
            // do for kube-proxy and DNS), so the Endpoints are what the
            // controller would write from those Pods.
            out.insert(key, from_slices(svc));
        } else if let Some(e) =
            sync_selected(svc, |sel| pods.select(&svc.namespace, sel).into_iter())
        {
            out.insert(key, e);
        }
    }
    out.into_values().collect()
}

/// The Endpoints the controller would write for the Pods behind the given
/// EndpointSlices of `svc`: its primary family, ready endpoints in
/// `addresses`, the others (not terminating) in `notReadyAddresses`, one
/// subset per endpoint and port, repacked and sorted as `syncService` does.
fn from_slices(svc: &ServiceInfo) -> EndpointsObject {
    let primary = svc.ip_families.first().copied();
    let mut subsets = Vec::new();
    for sl in svc
        .slices
        .iter()
        .filter(|sl| primary.is_none_or(|f| sl.address_type.family() == Some(f)))
    {
        for e in &sl.endpoints {
            let Some(ip) = e.addresses.first() else {
                continue;
            };
            let ready = e.ready || svc.publish_not_ready_addresses;
            if !ready && e.terminating {
                continue;
            }
            let address = Address {
                ip: ip.clone(),
                hostname: e.hostname.clone().unwrap_or_default(),
                node_name: e.node_name.clone(),
                target_ref: e.target_ref.as_ref().map(TargetRef::from),
            };
            let ports: Vec<Port> = sl
                .ports
                .iter()
                .map(|p| Port {
                    name: p.name.clone(),
                    port: p.port.map_or(0, i64::from),
                    protocol: p.protocol.as_str().to_string(),
                    app_protocol: p.app_protocol.clone(),
                })
                .collect();
            let (addresses, not_ready_addresses) = if ready {
                (vec![address], Vec::new())
            } else {
                (Vec::new(), vec![address])
            };
            subsets.push(Subset {
                addresses,
                not_ready_addresses,
                ports,
            });
        }
    }
    controller_object(svc, subsets)
}

/// The subsets of an Endpoints object of the input, as written.
pub(super) fn subsets_of(e: &Endpoints) -> Vec<Subset> {
    let address = |a: &crate::model::EndpointAddress| Address {
        ip: a.ip.clone(),
        hostname: a.hostname.clone().unwrap_or_default(),
        node_name: a.node_name.clone(),
        target_ref: a.target_ref.as_ref().map(TargetRef::from),
    };
    e.subsets
        .iter()
        .map(|s| Subset {
            addresses: s.addresses.iter().map(address).collect(),
            not_ready_addresses: s.not_ready_addresses.iter().map(address).collect(),
            ports: s
                .ports
                .iter()
                .map(|p| Port {
                    name: p.name.clone(),
                    port: p.port.unwrap_or(0),
                    protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                    app_protocol: p.app_protocol.clone(),
                })
                .collect(),
        })
        .collect()
}

/// An Endpoints object of the input, as the API server stores it.
fn given(e: &Endpoints) -> EndpointsObject {
    let subsets = subsets_of(e);
    EndpointsObject {
        namespace: e.meta.namespace().to_string(),
        name: e.meta.name.clone(),
        labels: e.meta.labels.clone(),
        annotations: e.meta.annotations.clone(),
        subsets: if e.meta.is_stored() {
            subsets
        } else {
            // The internal API types print as `core.…`.
            repack_subsets(subsets, "core")
        },
        source: EndpointsSource::Given,
    }
}

/// `Controller.syncService`: the Endpoints of `svc` from the Pods, or
/// `None` when the controller writes none (no selector, ExternalName).
pub fn sync_service(svc: &ServiceInfo, pods: &[Pod]) -> Option<EndpointsObject> {
    sync_selected(svc, |selector| {
        pods.iter().filter(move |p| {
            p.meta.namespace() == svc.namespace && selects(selector, &p.meta.labels)
        })
    })
}

/// [`sync_service`] given how to find the Pods a selector matches in the
/// Service's namespace (in input order).
fn sync_selected<'p, I: Iterator<Item = &'p Pod>>(
    svc: &'p ServiceInfo,
    select: impl FnOnce(&'p BTreeMap<String, String>) -> I,
) -> Option<EndpointsObject> {
    if svc.type_ == ServiceType::ExternalName {
        return None;
    }
    // An empty selector is stored as none.
    let selector = svc.selector.as_ref().filter(|s| !s.is_empty())?;
    let mut subsets = Vec::new();
    for pod in select(selector) {
        if !should_pod_be_in_endpoints(pod, svc.publish_not_ready_addresses) {
            continue;
        }
        let Some(mut address) = pod_to_endpoint_address(svc, pod) else {
            continue;
        };
        // ShouldSetHostname.
        if let Some(h) = pod.hostname.as_ref().filter(|h| !h.is_empty())
            && pod.subdomain.as_deref() == Some(svc.name.as_str())
        {
            address.hostname = h.clone();
        }
        let ready = svc.publish_not_ready_addresses || pod.ready == Some(true);
        let mut add = |ports: Vec<Port>| {
            let (addresses, not_ready_addresses) = if ready {
                (vec![address.clone()], Vec::new())
            } else {
                (Vec::new(), vec![address.clone()])
            };
            subsets.push(Subset {
                addresses,
                not_ready_addresses,
                ports,
            });
        };
        if svc.ports.is_empty() {
            // A headless Service may have no ports.
            if svc.headless {
                add(Vec::new());
            }
            continue;
        }
        for sp in &svc.ports {
            // A Pod whose (named) port does not resolve is left out of it.
            let Some(port) = resolve_target_port(pod, &sp.target_port, sp.protocol) else {
                continue;
            };
            add(vec![Port {
                name: sp.name.clone(),
                port: i64::from(port),
                protocol: sp.protocol.as_str().to_string(),
                app_protocol: sp.app_protocol.clone(),
            }]);
        }
    }
    Some(controller_object(svc, subsets))
}

/// The end of `syncService`: subsets repacked and sorted, the Service's
/// labels with the headless label when it has no cluster IP
/// (`!IsServiceIPSet`), truncation with the over-capacity annotation.
fn controller_object(svc: &ServiceInfo, subsets: Vec<Subset>) -> EndpointsObject {
    let mut subsets = repack_subsets(subsets, "v1");
    let mut labels = svc.labels.clone();
    if svc.cluster_ips.is_empty() {
        labels.insert(HEADLESS_LABEL.to_string(), String::new());
    } else {
        labels.remove(HEADLESS_LABEL);
    }
    let mut annotations = BTreeMap::new();
    if truncate_endpoints(&mut subsets) {
        annotations.insert(
            OVER_CAPACITY_ANNOTATION.to_string(),
            "truncated".to_string(),
        );
    }
    EndpointsObject {
        namespace: svc.namespace.clone(),
        name: svc.name.clone(),
        labels,
        annotations,
        subsets,
        source: EndpointsSource::Controller,
    }
}

/// `ShouldPodBeInEndpoints`: not terminal, has an IP, and not terminating
/// unless terminating Pods are included.
pub fn should_pod_be_in_endpoints(pod: &Pod, include_terminating: bool) -> bool {
    if matches!(pod.phase.as_deref(), Some("Succeeded") | Some("Failed")) {
        return false;
    }
    if pod.pod_ips.is_empty() {
        return false;
    }
    include_terminating || !pod.meta.deleting
}

/// `podToEndpointAddressForService`: the Pod's address of the Service's
/// primary family (`ipFamilies[0]`), as the Pod's status writes it.
fn pod_to_endpoint_address(svc: &ServiceInfo, pod: &Pod) -> Option<Address> {
    let family = match svc.ip_families.first() {
        Some(f) => *f,
        // An apiserver that did not default the families (never 1.37):
        // the cluster IP's family, else the Pod's.
        None => svc
            .cluster_ips
            .first()
            .map(IpFamily::of)
            .or_else(|| {
                pod.pod_ips
                    .first()
                    .and_then(|ip| parse_ip(ip))
                    .map(|ip| IpFamily::of(&ip))
            })
            .unwrap_or(IpFamily::IPv4),
    };
    // utilnet.IsIPv6String: anything that is not an IPv6 address counts as
    // IPv4 here.
    let ip = pod.pod_ips.iter().find(|ip| {
        let v6 = ip.parse::<std::net::Ipv6Addr>().is_ok();
        v6 == (family == IpFamily::IPv6)
    })?;
    Some(Address {
        ip: ip.clone(),
        hostname: String::new(),
        node_name: Some(pod.node_name.clone().unwrap_or_default()),
        target_ref: Some(TargetRef {
            kind: "Pod".to_string(),
            namespace: pod.meta.namespace().to_string(),
            name: pod.meta.name.clone(),
            uid: pod.meta.uid.clone().unwrap_or_default(),
        }),
    })
}

/// `truncateEndpoints`: at most [`MAX_CAPACITY`] addresses, ready ones
/// first, shared among the subsets in proportion (rounded up, the last
/// subsets taking what is left). Says whether it cut.
pub fn truncate_endpoints(subsets: &mut [Subset]) -> bool {
    let total_ready: usize = subsets.iter().map(|s| s.addresses.len()).sum();
    let total_not_ready: usize = subsets.iter().map(|s| s.not_ready_addresses.len()).sum();
    if total_ready + total_not_ready <= MAX_CAPACITY {
        return false;
    }
    let truncate_ready = total_ready > MAX_CAPACITY;
    let (max, num_total) = if truncate_ready {
        (MAX_CAPACITY, total_ready)
    } else {
        (MAX_CAPACITY - total_ready, total_not_ready)
    };
    let mut can_be_added = max;
    for s in subsets.iter_mut() {
        let in_subset = if truncate_ready {
            s.addresses.len()
        } else {
            s.not_ready_addresses.len()
        };
        // ceil(in_subset / num_total * max), in integers.
        let to_be_added = (in_subset * max).div_ceil(num_total).min(can_be_added);
        if truncate_ready {
            s.addresses.truncate(to_be_added);
            s.not_ready_addresses.clear();
            can_be_added -= s.addresses.len();
        } else {
            s.not_ready_addresses.truncate(to_be_added);
            can_be_added -= s.not_ready_addresses.len();
        }
    }
    true
}

/// `endpoints.RepackSubsets`: each address (by IP and target UID) with
/// every port it serves, not-ready winning over ready for a port; the
/// addresses that serve the same ports (with the same readiness) in one
/// subset; then `SortSubsets`. `pkg` names the Go package of the types
/// (`v1` for controllers, `core` inside the API server), which the hashes
/// that order subsets and ports depend on.
pub fn repack_subsets(subsets: Vec<Subset>, pkg: &str) -> Vec<Subset> {
    type Key = (String, String);
    let key = |a: &Address| -> Key {
        (
            a.ip.clone(),
            a.target_ref
                .as_ref()
                .map(|r| r.uid.clone())
                .unwrap_or_default(),
        )
    };
    // The first copy of each address is kept (node, hostname, …).
    let mut all: BTreeMap<Key, Address> = BTreeMap::new();
    // Port → address → ready. `None`: a subset without ports.
    let mut by_port: BTreeMap<Option<Port>, BTreeMap<Key, bool>> = BTreeMap::new();
    for s in &subsets {
        let ports: Vec<Option<Port>> = if s.ports.is_empty() {
            vec![None]
        } else {
            s.ports.iter().cloned().map(Some).collect()
        };
        for port in ports {
            let set = by_port.entry(port).or_default();
            for (a, ready) in s
                .addresses
                .iter()
                .map(|a| (a, true))
                .chain(s.not_ready_addresses.iter().map(|a| (a, false)))
            {
                let k = key(a);
                all.entry(k.clone()).or_insert_with(|| a.clone());
                let was = set.entry(k).or_insert(ready);
                *was = *was && ready;
            }
        }
    }
    // Address set → its ports.
    let mut groups: BTreeMap<Vec<(Key, bool)>, Vec<Port>> = BTreeMap::new();
    for (port, set) in by_port {
        let ports = groups.entry(set.into_iter().collect()).or_default();
        ports.extend(port);
    }
    let mut out: Vec<Subset> = groups
        .into_iter()
        .map(|(set, ports)| {
            let (mut addresses, mut not_ready_addresses) = (Vec::new(), Vec::new());
            for (k, ready) in set {
                let a = all[&k].clone();
                if ready {
                    addresses.push(a);
                } else {
                    not_ready_addresses.push(a);
                }
            }
            Subset {
                addresses,
                not_ready_addresses,
                ports,
            }
        })
        .collect();
    sort_subsets(&mut out, pkg);
    out
}

/// `endpoints.SortSubsets`: addresses by IP (bytes) then target UID, ports
/// and subsets by the MD5 of their `dump.ForHash` text.
pub fn sort_subsets(subsets: &mut [Subset], pkg: &str) {
    for s in subsets.iter_mut() {
        s.addresses.sort_by(less_endpoint_address);
        s.not_ready_addresses.sort_by(less_endpoint_address);
        s.ports
            .sort_by_cached_key(|p| md5(port_dump(p, pkg, true).as_bytes()));
    }
    subsets.sort_by_cached_key(|s| md5(subset_dump(s, pkg).as_bytes()));
}

/// `LessEndpointAddress`, as an ordering.
fn less_endpoint_address(a: &Address, b: &Address) -> std::cmp::Ordering {
    let uid = |x: &Address| x.target_ref.as_ref().map(|r| r.uid.clone());
    a.ip.as_bytes()
        .cmp(b.ip.as_bytes())
        .then_with(|| uid(a).cmp(&uid(b)))
}

/// spew's `%#v` of a `*string`.
fn string_ptr(s: Option<&str>) -> String {
    match s {
        Some(s) => format!("(*string){s}"),
        None => "(*string)<nil>".to_string(),
    }
}

/// `dump.ForHash` of an EndpointPort (`typed`: with its type in front, as
/// at the top level; elements of a slice print without it).
fn port_dump(p: &Port, pkg: &str, typed: bool) -> String {
    format!(
        "{}{{Name:(string){} Port:(int32){} Protocol:({pkg}.Protocol){} AppProtocol:{}}}",
        if typed {
            format!("({pkg}.EndpointPort)")
        } else {
            String::new()
        },
        p.name,
        p.port,
        p.protocol,
        string_ptr(p.app_protocol.as_deref()),
    )
}

fn address_dump(a: &Address, pkg: &str) -> String {
    let target = match &a.target_ref {
        Some(r) => format!(
            "(*{pkg}.ObjectReference){{Kind:(string){} Namespace:(string){} Name:(string){} \
             UID:(types.UID){} APIVersion:(string) ResourceVersion:(string) FieldPath:(string)}}",
            r.kind, r.namespace, r.name, r.uid
        ),
        None => format!("(*{pkg}.ObjectReference)<nil>"),
    };
    format!(
        "{{IP:(string){} Hostname:(string){} NodeName:{} TargetRef:{target}}}",
        a.ip,
        a.hostname,
        string_ptr(a.node_name.as_deref()),
    )
}

/// A slice field: `<nil>` when empty (RepackSubsets leaves empty lists nil).
fn slice_dump<T>(items: &[T], ty: &str, f: impl Fn(&T) -> String) -> String {
    if items.is_empty() {
        format!("([]{ty})<nil>")
    } else {
        let parts: Vec<String> = items.iter().map(f).collect();
        format!("([]{ty})[{}]", parts.join(" "))
    }
}

/// `dump.ForHash` of an EndpointSubset.
fn subset_dump(s: &Subset, pkg: &str) -> String {
    format!(
        "({pkg}.EndpointSubset){{Addresses:{} NotReadyAddresses:{} Ports:{}}}",
        slice_dump(&s.addresses, &format!("{pkg}.EndpointAddress"), |a| {
            address_dump(a, pkg)
        }),
        slice_dump(
            &s.not_ready_addresses,
            &format!("{pkg}.EndpointAddress"),
            |a| { address_dump(a, pkg) }
        ),
        slice_dump(&s.ports, &format!("{pkg}.EndpointPort"), |p| port_dump(
            p, pkg, false
        )),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(ip: &str, uid: &str) -> Address {
        Address {
            ip: ip.to_string(),
            hostname: String::new(),
            node_name: Some("n1".to_string()),
            target_ref: Some(TargetRef {
                kind: "Pod".into(),
                namespace: "ns".into(),
                name: format!("p-{uid}"),
                uid: uid.to_string(),
            }),
        }
    }

    /// apimachinery `dump.ForHash` = spew `%#v` with DisablePointerAddresses
    /// (spew format.go: `formatPtr` prints `(*T)` then the value, a nil
    /// pointer `(*T)<nil>`; struct fields `Name:(type)value`; slice
    /// elements without their type; a nil slice `([]T)<nil>`).
    #[test]
    fn dump_for_hash_text() {
        let p = Port {
            name: "http".into(),
            port: 80,
            protocol: "TCP".into(),
            app_protocol: None,
        };
        assert_eq!(
            port_dump(&p, "v1", true),
            "(v1.EndpointPort){Name:(string)http Port:(int32)80 Protocol:(v1.Protocol)TCP AppProtocol:(*string)<nil>}"
        );
        let s = Subset {
            addresses: vec![address("10.0.0.1", "u1")],
            not_ready_addresses: Vec::new(),
            ports: vec![Port {
                app_protocol: Some("h2c".into()),
                ..p
            }],
        };
        assert_eq!(
            subset_dump(&s, "v1"),
            "(v1.EndpointSubset){Addresses:([]v1.EndpointAddress)[{IP:(string)10.0.0.1 \
             Hostname:(string) NodeName:(*string)n1 TargetRef:(*v1.ObjectReference){Kind:(string)Pod \
             Namespace:(string)ns Name:(string)p-u1 UID:(types.UID)u1 APIVersion:(string) \
             ResourceVersion:(string) FieldPath:(string)}}] NotReadyAddresses:([]v1.EndpointAddress)<nil> \
             Ports:([]v1.EndpointPort)[{Name:(string)http Port:(int32)80 Protocol:(v1.Protocol)TCP \
             AppProtocol:(*string)h2c}]}"
        );
    }

    /// pkg/api/v1/endpoints/util.go `RepackSubsets`: an address in two
    /// subsets with the same port, ready in one and not ready in the other,
    /// is not ready ("not ready always trumps ready"); addresses serving
    /// the same ports share a subset; `LessEndpointAddress` sorts by IP
    /// bytes, then target UID.
    #[test]
    fn repack_subsets_merges_and_not_ready_wins() {
        let port = |n: i64| Port {
            name: String::new(),
            port: n,
            protocol: "TCP".into(),
            app_protocol: None,
        };
        let subsets = vec![
            Subset {
                addresses: vec![address("10.0.0.9", "a"), address("10.0.0.10", "b")],
                not_ready_addresses: Vec::new(),
                ports: vec![port(80)],
            },
            Subset {
                addresses: Vec::new(),
                not_ready_addresses: vec![address("10.0.0.9", "a")],
                ports: vec![port(80)],
            },
            Subset {
                addresses: vec![address("10.0.0.10", "b"), address("10.0.0.10", "c")],
                not_ready_addresses: Vec::new(),
                ports: vec![port(81)],
            },
        ];
        let out = repack_subsets(subsets, "v1");
        let shape: Vec<(Vec<&str>, Vec<&str>, Vec<i64>)> = out
            .iter()
            .map(|s| {
                (
                    s.addresses.iter().map(|a| a.ip.as_str()).collect(),
                    s.not_ready_addresses
                        .iter()
                        .map(|a| a.ip.as_str())
                        .collect(),
                    s.ports.iter().map(|p| p.port).collect(),
                )
            })
            .collect();
        let mut sorted = shape.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            [
                (vec!["10.0.0.10"], vec!["10.0.0.9"], vec![80]),
                (vec!["10.0.0.10", "10.0.0.10"], vec![], vec![81]),
            ]
        );
    }

    /// endpoints_controller.go `truncateEndpoints`: ready addresses kept
    /// first; not-ready ones shared in proportion, rounded up.
    #[test]
    fn truncation_keeps_ready_addresses_first() {
        let many = |n: usize, base: usize| -> Vec<Address> {
            (0..n)
                .map(|i| address(&format!("10.{}.{}.{}", base, i / 250, i % 250), ""))
                .collect()
        };
        let mut subsets = vec![
            Subset {
                addresses: many(900, 1),
                not_ready_addresses: many(150, 2),
                ports: Vec::new(),
            },
            Subset {
                addresses: Vec::new(),
                not_ready_addresses: many(50, 3),
                ports: Vec::new(),
            },
        ];
        assert!(truncate_endpoints(&mut subsets));
        // 100 not-ready places for 200: ceil(150/200*100) = 75, then 25.
        let counts: Vec<(usize, usize)> = subsets
            .iter()
            .map(|s| (s.addresses.len(), s.not_ready_addresses.len()))
            .collect();
        assert_eq!(counts, [(900, 75), (0, 25)]);
    }
}
