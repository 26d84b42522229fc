//! The EndpointSlices of each Service: given ones, ones mirrored from v1
//! Endpoints (the EndpointSliceMirroring controller), or ones the
//! EndpointSlice controller would compute from Pods.

use crate::config::{IpFamily, Settings};
use crate::diag::{Diagnostic, Severity};
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
    diags: &mut Vec<Diagnostic>,
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
    let nodes = super::topology::Nodes::new(&objects.nodes);
    let pods = PodIndex::new(&objects.pods);
    let written: BTreeMap<(&str, &str), &crate::model::Service> = objects
        .services
        .iter()
        .rev()
        .map(|s| ((s.meta.namespace(), s.meta.name.as_str()), s))
        .collect();
    for svc in services.iter_mut() {
        // Owned, so that the lookups do not hold `svc`.
        let (ns, name) = (svc.namespace.clone(), svc.name.clone());
        let key = (ns.as_str(), name.as_str());
        let given = given.get(&key).map(Vec::as_slice);
        let legacy = legacy.get(&key).copied();
        let selected = match svc.selector.as_ref().filter(|s| !s.is_empty()) {
            Some(selector) => pods.select(&ns, selector),
            None => Vec::new(),
        };
        let written = written.get(&key).copied();
        attach(
            svc, given, legacy, &selected, written, objects, &nodes, diags,
        );
    }
}

/// [`attach_slices`] for one Service, its objects found by a scan (the
/// incremental engine re-resolves one Service at a time).
pub(super) fn attach_slices_of(
    svc: &mut ServiceInfo,
    objects: &Objects,
    diags: &mut Vec<Diagnostic>,
) {
    let (ns, name) = (svc.namespace.as_str(), svc.name.as_str());
    let given: Vec<&EndpointSlice> = objects
        .endpoint_slices
        .iter()
        .filter(|s| {
            s.meta.namespace() == ns
                && s.meta.labels.get(SERVICE_NAME_LABEL).map(String::as_str) == Some(name)
        })
        .collect();
    let legacy = objects
        .endpoints
        .iter()
        .find(|e| e.meta.namespace() == ns && e.meta.name == name);
    let selected: Vec<&Pod> = match svc.selector.as_ref().filter(|s| !s.is_empty()) {
        Some(selector) => objects
            .pods
            .iter()
            .filter(|p| p.meta.namespace() == ns && selects(selector, &p.meta.labels))
            .collect(),
        None => Vec::new(),
    };
    // The first Service of that name, as `attach_slices` finds it.
    let written = objects
        .services
        .iter()
        .find(|s| s.meta.namespace() == ns && s.meta.name == name);
    let nodes = super::topology::Nodes::new(&objects.nodes);
    let given = (!given.is_empty()).then_some(given.as_slice());
    attach(
        svc, given, legacy, &selected, written, objects, &nodes, diags,
    );
}

/// The slices of one Service: given ones (by the service-name label), else
/// computed from the Pods its selector picks, else mirrored from its v1
/// Endpoints; then the topology pass. `selected`: the Pods its selector
/// picks; `written`: the Service object it was resolved from.
#[allow(clippy::too_many_arguments)]
fn attach(
    svc: &mut ServiceInfo,
    given: Option<&[&EndpointSlice]>,
    legacy: Option<&Endpoints>,
    selected: &[&Pod],
    written: Option<&crate::model::Service>,
    objects: &Objects,
    nodes: &super::topology::Nodes,
    diags: &mut Vec<Diagnostic>,
) {
    let has_selector = svc.selector.as_ref().is_some_and(|s| !s.is_empty());
    let mut slices = if let Some(list) = given {
        list.iter().map(|s| given_slice(s)).collect()
    } else if has_selector {
        explain(svc, selected, written, objects, diags);
        compute(svc, selected)
    } else if let Some(ep) = legacy {
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
    super::topology::write_hints(svc, nodes);
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
                    serving: e.serving.unwrap_or(true),
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
        labels: s.meta.labels.clone(),
        origin: Some(s.origin.clone()),
    }
}

/// The Pods of the input, found by namespace and label: what the
/// controllers' informer indexers give them (`podLister.Pods(ns)`), plus
/// one index per label pair so that a selector is matched against the
/// Pods carrying its rarest pair rather than every Pod of the namespace
/// (Services × Pods made resolving a large cluster quadratic).
pub(crate) struct PodIndex<'a> {
    pods: &'a [Pod],
    by_namespace: BTreeMap<&'a str, Vec<usize>>,
    /// namespace → label key → value → Pods.
    by_label: BTreeMap<&'a str, BTreeMap<&'a str, BTreeMap<&'a str, Vec<usize>>>>,
}

impl<'a> PodIndex<'a> {
    pub(crate) fn new(pods: &'a [Pod]) -> Self {
        let mut index = PodIndex {
            pods,
            by_namespace: BTreeMap::new(),
            by_label: BTreeMap::new(),
        };
        for (i, p) in pods.iter().enumerate() {
            let ns = p.meta.namespace();
            index.by_namespace.entry(ns).or_default().push(i);
            let labels = index.by_label.entry(ns).or_default();
            for (k, v) in &p.meta.labels {
                labels
                    .entry(k.as_str())
                    .or_default()
                    .entry(v.as_str())
                    .or_default()
                    .push(i);
            }
        }
        index
    }

    /// The Pods of `namespace` that `selector` matches, in input order
    /// (an empty selector matches every Pod of the namespace).
    pub(crate) fn select(
        &self,
        namespace: &str,
        selector: &BTreeMap<String, String>,
    ) -> Vec<&'a Pod> {
        let candidates = if selector.is_empty() {
            self.by_namespace.get(namespace)
        } else {
            let labels = self.by_label.get(namespace);
            selector
                .iter()
                .map(|(k, v)| labels.and_then(|l| l.get(k.as_str())?.get(v.as_str())))
                .min_by_key(|l| l.map_or(0, Vec::len))
                .flatten()
        };
        candidates
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .map(|&i| &self.pods[i])
            .filter(|p| selects(selector, &p.meta.labels))
            .collect()
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
/// packed into slices (`super::slice_controller::pack`). `pods`: those its
/// selector matches in its namespace ([`PodIndex::select`]).
fn compute(svc: &ServiceInfo, pods: &[&Pod]) -> Vec<SliceInfo> {
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
        .copied()
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

/// `k=v,k2=v2`, as kubectl prints a selector.
fn selector_text(selector: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
    parts.join(",")
}

/// Says why a Service with a selector would have no endpoints, in one
/// place: a selector that matches nothing in the input, or a named
/// targetPort that no selected Pod defines. kube-proxy's rules stay as they
/// are (a Service without endpoints rejects its traffic). `pods`: those its
/// selector matches in its namespace; `written`: the Service as written.
fn explain(
    svc: &ServiceInfo,
    pods: &[&Pod],
    written: Option<&crate::model::Service>,
    objects: &Objects,
    diags: &mut Vec<Diagnostic>,
) {
    let Some(selector) = svc.selector.as_ref().filter(|s| !s.is_empty()) else {
        return;
    };
    let ns = svc.namespace.as_str();
    let selected: Vec<&Pod> = pods
        .iter()
        .copied()
        .filter(|p| selects(selector, &p.meta.labels))
        .filter(|p| !matches!(p.phase.as_deref(), Some("Succeeded") | Some("Failed")))
        .collect();
    let workload_matches = || {
        objects
            .workloads
            .iter()
            .any(|w| w.meta.namespace() == ns && selects(selector, &w.template.labels))
    };
    let sel = selector_text(selector);
    if selected.is_empty() && !workload_matches() {
        let hint = nothing_matches_hint(selector, ns, objects);
        let mut d = Diagnostic::new(
            Severity::Warning,
            format!(
                "selector {sel} matches nothing in the input; {hint}; Service {ns}/{} has no endpoints, so kube-proxy rejects its connections",
                svc.name
            ),
            Some(svc.origin.locate("spec.selector")),
        );
        d.field = Some("spec.selector".into());
        diags.push(d);
        return;
    }
    let named =
        |p: &crate::table::PortInfo| matches!(&p.target_port, IntOrString::Str(s) if !s.is_empty());
    if selected.is_empty() || !svc.ports.iter().any(named) {
        return;
    }
    // The Service as written, for the index of each port in spec.ports.
    let Some(written) = written else {
        return;
    };
    for (i, port) in written.spec.ports.iter().enumerate() {
        let Some(IntOrString::Str(name)) = port
            .target_port
            .as_ref()
            .filter(|t| !matches!(t, IntOrString::Str(s) if s.is_empty()))
        else {
            continue;
        };
        let Some(protocol) = Protocol::parse(port.protocol.as_deref()) else {
            continue;
        };
        let target = IntOrString::Str(name.clone());
        if selected
            .iter()
            .any(|p| resolve_target_port(p, &target, protocol).is_some())
        {
            continue;
        }
        let mut defined: Vec<String> = selected
            .iter()
            .flat_map(|p| &p.container_ports)
            .filter_map(|cp| {
                let n = cp.name.as_deref().filter(|n| !n.is_empty())?;
                let proto = Protocol::parse(cp.protocol.as_deref()).map_or("?", |p| p.as_str());
                Some(format!("{n}/{proto}"))
            })
            .collect();
        defined.sort();
        defined.dedup();
        let defined = if defined.is_empty() {
            "they name no container port".to_string()
        } else {
            format!("they name {}", defined.join(", "))
        };
        let field = format!("spec.ports[{i}].targetPort");
        let mut d = Diagnostic::new(
            Severity::Warning,
            format!(
                "{field}: no Pod selected by {sel} defines a container port named {name:?} ({}): {defined}; this Service port has no endpoints",
                protocol.as_str()
            ),
            Some(svc.origin.locate(&field)),
        );
        d.field = Some(field);
        diags.push(d);
    }
}

/// What is nearest to matching: Pods of another namespace, or the values the
/// selector's keys take in this one.
fn nothing_matches_hint(
    selector: &BTreeMap<String, String>,
    ns: &str,
    objects: &Objects,
) -> String {
    let labelled = || {
        objects
            .pods
            .iter()
            .map(|p| (p.meta.namespace(), &p.meta.labels))
            .chain(
                objects
                    .workloads
                    .iter()
                    .map(|w| (w.meta.namespace(), &w.template.labels)),
            )
    };
    let mut elsewhere: Vec<&str> = labelled()
        .filter(|(n, l)| *n != ns && selects(selector, l))
        .map(|(n, _)| n)
        .collect();
    elsewhere.sort();
    elsewhere.dedup();
    if !elsewhere.is_empty() {
        return format!(
            "Pods in namespace {} match it, but a Service selects Pods of its own namespace ({ns}) only",
            elsewhere.join(", ")
        );
    }
    let mut seen: Vec<String> = Vec::new();
    for key in selector.keys() {
        let mut values: Vec<&str> = labelled()
            .filter(|(n, _)| *n == ns)
            .filter_map(|(_, l)| l.get(key).map(String::as_str))
            .collect();
        values.sort();
        values.dedup();
        if !values.is_empty() {
            let pairs: Vec<String> = values.iter().map(|v| format!("{key}={v}")).collect();
            seen.push(pairs.join(" or "));
        }
    }
    if seen.is_empty() {
        let keys: Vec<&str> = selector.keys().map(String::as_str).collect();
        format!(
            "no Pod or workload template in namespace {ns} has the label {} (add the Deployment, StatefulSet or Pods it is for)",
            keys.join(", ")
        )
    } else {
        format!(
            "in namespace {ns}, Pods and workload templates carry {} (check the selector against their labels)",
            seen.join("; ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The controllers list a Service's Pods as
    /// `podLister.Pods(service.Namespace).List(selector)`
    /// (pkg/controller/endpointslice/endpointslice_controller.go and
    /// pkg/controller/endpoint/endpoints_controller.go, `syncService`): the
    /// index gives the same Pods, in input order, as that scan.
    #[test]
    fn pod_index_selects_what_the_namespace_scan_selects() {
        let mut y = String::new();
        for i in 0..40 {
            y.push_str(&format!(
                "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p{i}\n  namespace: ns{}\n  labels: {{app: a{}, tier: t{}, k{}: v}}\n",
                i % 3,
                i % 4,
                i % 2,
                i % 5
            ));
        }
        let parsed = crate::parse::parse(&[crate::Input::new("pods.yaml", y)]);
        let pods = &parsed.objects.pods;
        let index = PodIndex::new(pods);
        let sel = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        for ns in ["ns0", "ns1", "ns2", "ns9"] {
            for selector in [
                sel(&[]),
                sel(&[("app", "a1")]),
                sel(&[("app", "a2"), ("tier", "t0")]),
                sel(&[("tier", "t1"), ("k3", "v")]),
                sel(&[("app", "a1"), ("tier", "t0")]),
                sel(&[("nope", "x")]),
            ] {
                let scan: Vec<&str> = pods
                    .iter()
                    .filter(|p| p.meta.namespace() == ns && selects(&selector, &p.meta.labels))
                    .map(|p| p.meta.name.as_str())
                    .collect();
                let indexed: Vec<&str> = index
                    .select(ns, &selector)
                    .iter()
                    .map(|p| p.meta.name.as_str())
                    .collect();
                assert_eq!(indexed, scan, "{ns} {selector:?}");
            }
        }
        assert!(!index.select("ns1", &sel(&[("app", "a1")])).is_empty());
    }
}
