//! What the EndpointSlice controller writes for topology-aware routing
//! (`staging/src/k8s.io/endpointslice`): each computed endpoint's `zone`
//! from its Pod's Node, and the `hints` it derives from them:
//!
//! - `service.kubernetes.io/topology-mode: Auto` (or the deprecated
//!   `service.kubernetes.io/topology-aware-hints`): the topology cache
//!   (`topologycache`) shares endpoints out to zones in proportion to the
//!   zones' allocatable CPU;
//! - otherwise `spec.trafficDistribution` `PreferClose` / `PreferSameZone`
//!   (a zone hint: the endpoint's own zone) or `PreferSameNode` (also a node
//!   hint: its own node) (`trafficdist`);
//! - otherwise no hints.
//!
//! Only computed slices are touched: given slices are stored state, and the
//! mirroring controller writes no hints.

use crate::model::Node;
use crate::proxy::topology::ZONE_LABEL;
use crate::table::{AddressType, EndpointInfo, ServiceInfo, SliceInfo, SliceSource};
use std::collections::BTreeMap;

/// `service.kubernetes.io/topology-mode` (`v1.AnnotationTopologyMode`).
pub const TOPOLOGY_MODE_ANNOTATION: &str = "service.kubernetes.io/topology-mode";
/// `service.kubernetes.io/topology-aware-hints`, deprecated; wins when both are set.
pub const TOPOLOGY_AWARE_HINTS_ANNOTATION: &str = "service.kubernetes.io/topology-aware-hints";

/// The topology cache's limit on how far one endpoint may be overloaded
/// (`overloadThreshold`).
const OVERLOAD_THRESHOLD: f64 = 0.2;

/// The topology cache's event messages (`topologycache/event.go`).
pub mod events {
    /// `NoZoneSpecified`.
    pub const NO_ZONE_SPECIFIED: &str = "One or more endpoints do not have a zone specified";
    /// `NoAllocatedHintsForZones`.
    pub const NO_ALLOCATED_HINTS_FOR_ZONES: &str = "No hints allocated for zones";
    /// `InsufficientNodeInfo`.
    pub const INSUFFICIENT_NODE_INFO: &str =
        "Insufficient Node information: allocatable CPU or zone not specified on one or more nodes";
    /// `NodesReadyInOneZoneOnly`.
    pub const NODES_READY_IN_ONE_ZONE_ONLY: &str = "Nodes only ready in one zone";
    /// `InsufficientNumberOfEndpoints`.
    pub const INSUFFICIENT_NUMBER_OF_ENDPOINTS: &str = "Insufficient number of endpoints";
    /// `MinAllocationExceedsOverloadThreshold`.
    pub const MIN_ALLOCATION_EXCEEDS_OVERLOAD_THRESHOLD: &str = "Unable to allocate minimum required endpoints to each zone without exceeding overload threshold";
}

/// The Nodes of the cluster, as the controller's node lister sees them.
pub struct Nodes<'a> {
    by_name: BTreeMap<&'a str, &'a Node>,
}

impl<'a> Nodes<'a> {
    /// Indexes `nodes` by name (a later Node of the same name wins).
    pub fn new(nodes: &'a [Node]) -> Self {
        Nodes {
            by_name: nodes.iter().map(|n| (n.meta.name.as_str(), n)).collect(),
        }
    }

    /// `podToEndpoint`: an endpoint's zone is its Node's zone label, when
    /// the Node exists and the label is not empty.
    pub fn zone_of(&self, node_name: Option<&str>) -> Option<String> {
        let node = self.by_name.get(node_name?)?;
        node.meta
            .labels
            .get(ZONE_LABEL)
            .filter(|z| !z.is_empty())
            .cloned()
    }

    fn all(&self) -> impl Iterator<Item = &'a Node> + '_ {
        self.by_name.values().copied()
    }
}

/// The controller's topology pass over the computed slices of `svc`:
/// zones from the Nodes, then hints (`Reconciler.reconcileByAddressType`).
pub fn write_hints(svc: &mut ServiceInfo, nodes: &Nodes) {
    let auto = hints_enabled(&svc.annotations);
    let distribution = svc
        .traffic_distribution
        .as_deref()
        .filter(|_| !auto)
        .filter(|d| valid_traffic_distribution(d));
    let ratios = auto.then(|| cpu_ratios_by_zone(nodes.all()));
    for address_type in [AddressType::IPv4, AddressType::IPv6, AddressType::FQDN] {
        let mut slices: Vec<&mut SliceInfo> = svc
            .slices
            .iter_mut()
            .filter(|s| s.source == SliceSource::Computed && s.address_type == address_type)
            .collect();
        if slices.is_empty() {
            continue;
        }
        for e in slices.iter_mut().flat_map(|s| s.endpoints.iter_mut()) {
            // podToEndpoint writes nodeName only when the Pod has one.
            e.node_name = e.node_name.take().filter(|n| !n.is_empty());
            e.zone = nodes.zone_of(e.node_name.as_deref());
        }
        if let Some(ratios) = &ratios {
            // A refusal is an event on the Service in a cluster; the slices
            // are simply left without hints.
            let _ = add_hints(&mut slices, ratios.as_ref());
        } else if let Some(d) = distribution {
            reconcile_hints(Some(d), &mut slices);
        } else {
            remove_hints(&mut slices);
        }
    }
}

/// `hintsEnabled`: the topology annotation asks for `Auto` (or `auto`);
/// the deprecated annotation, when present, is the one read.
pub fn hints_enabled(annotations: &BTreeMap<String, String>) -> bool {
    let value = annotations
        .get(TOPOLOGY_AWARE_HINTS_ANNOTATION)
        .or_else(|| annotations.get(TOPOLOGY_MODE_ANNOTATION));
    matches!(value.map(String::as_str), Some("Auto" | "auto"))
}

/// `Reconciler.validTrafficDistribution` (with `PreferSameTrafficDistribution`
/// GA since v1.35): the values the controller writes hints for.
pub fn valid_traffic_distribution(value: &str) -> bool {
    matches!(value, "PreferClose" | "PreferSameZone" | "PreferSameNode")
}

/// `EndpointReady`: the controller counts only an explicit `ready: true`.
fn endpoint_ready(e: &EndpointInfo) -> bool {
    e.ready_given == Some(true)
}

/// `RemoveHintsFromSlices`: every endpoint loses its hints.
pub fn remove_hints(slices: &mut [&mut SliceInfo]) {
    for e in slices.iter_mut().flat_map(|s| s.endpoints.iter_mut()) {
        e.hint_zones.clear();
        e.hint_nodes.clear();
    }
}

/// `trafficdist.ReconcileHints`, as the slices end up: for `PreferClose`,
/// `PreferSameZone` and `PreferSameNode`, each ready endpoint is hinted for
/// its own zone (and, for `PreferSameNode`, its own node); unready
/// endpoints keep what they had. Any other value removes every hint.
pub fn reconcile_hints(traffic_distribution: Option<&str>, slices: &mut [&mut SliceInfo]) {
    let Some(d) = traffic_distribution.filter(|d| valid_traffic_distribution(d)) else {
        remove_hints(slices);
        return;
    };
    let node_hints = d == "PreferSameNode";
    for e in slices.iter_mut().flat_map(|s| s.endpoints.iter_mut()) {
        if !endpoint_ready(e) {
            continue;
        }
        e.hint_zones = e.zone.iter().cloned().collect();
        e.hint_nodes = if node_hints {
            e.node_name.iter().cloned().collect()
        } else {
            Vec::new()
        };
    }
}

/// `TopologyCache.SetNodes`: each zone's share of the allocatable CPU of
/// the ready Nodes that are not control-plane Nodes. `None` (insufficient
/// Node information) when such a Node has no zone or no CPU, or fewer than
/// two zones remain.
pub fn cpu_ratios_by_zone<'n>(
    nodes: impl Iterator<Item = &'n Node>,
) -> Option<BTreeMap<String, f64>> {
    let mut by_zone: BTreeMap<String, i128> = BTreeMap::new();
    let mut total: i128 = 0;
    for node in nodes {
        let labels = &node.meta.labels;
        if labels.contains_key("node-role.kubernetes.io/control-plane")
            || labels.contains_key("node-role.kubernetes.io/master")
            || node.ready != Some(true)
        {
            continue;
        }
        let cpu = node
            .allocatable_cpu
            .as_deref()
            .and_then(cpu_nanos)
            .unwrap_or(0);
        let zone = labels.get(ZONE_LABEL).filter(|z| !z.is_empty())?;
        if cpu == 0 {
            return None;
        }
        total += cpu;
        *by_zone.entry(zone.clone()).or_default() += cpu;
    }
    if total == 0 || by_zone.len() < 2 {
        return None;
    }
    // Quantity.MilliValue rounds up to a whole millicore.
    let milli = |n: i128| ((n + 999_999).div_euclid(1_000_000)) as f64;
    Some(
        by_zone
            .into_iter()
            .map(|(z, cpu)| (z, milli(cpu) / milli(total)))
            .collect(),
    )
}

/// A CPU quantity (`4`, `0.5`, `3500m`, `1e3`, `2Ki`) in nano-cores, rounded
/// up (`resource.ParseQuantity`); `None` if it is not a non-negative quantity.
pub fn cpu_nanos(text: &str) -> Option<i128> {
    let s = text.strip_prefix('+').unwrap_or(text);
    let num_len = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(num_len);
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if int.is_empty() && frac.is_empty() || frac.contains('.') || frac.len() > 30 {
        return None;
    }
    let digits = format!("{int}{frac}");
    let mantissa: i128 = digits.trim_start_matches('0').parse().unwrap_or(0);
    // value = mantissa × 10^exp10 × 2^exp2; in nano-cores, exp10 gains 9.
    let (exp10, exp2): (i32, u32) = match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        e if e.starts_with(['e', 'E']) => {
            let n = e[1..].strip_prefix('+').unwrap_or(&e[1..]);
            if n.is_empty()
                || !n
                    .trim_start_matches('-')
                    .bytes()
                    .all(|b| b.is_ascii_digit())
            {
                return None;
            }
            (n.parse().ok().filter(|x: &i32| x.abs() <= 30)?, 0)
        }
        _ => return None,
    };
    let exp10 = exp10 + 9 - frac.len() as i32;
    let scaled = mantissa.checked_mul(1i128.checked_shl(exp2)?)?;
    if exp10 >= 0 {
        scaled.checked_mul(10i128.checked_pow(exp10 as u32)?)
    } else {
        let d = 10i128.checked_pow((-exp10) as u32)?;
        Some((scaled + d - 1) / d)
    }
}

/// One zone's share of endpoints (`allocation`).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Allocation {
    minimum: usize,
    maximum: usize,
    desired: f64,
}

/// `TopologyCache.getAllocations`: per zone, the fewest endpoints that keep
/// each below the overload threshold, and the most it may take.
fn allocations(
    ratios: Option<&BTreeMap<String, f64>>,
    endpoints: usize,
) -> Result<BTreeMap<String, Allocation>, String> {
    let Some(ratios) = ratios else {
        return Err(events::INSUFFICIENT_NODE_INFO.into());
    };
    if ratios.len() < 2 {
        return Err(events::NODES_READY_IN_ONE_ZONE_ONLY.into());
    }
    let counts = |m: &str| format!("{m} ({endpoints} endpoints, {} zones)", ratios.len());
    if ratios.len() > endpoints {
        return Err(counts(events::INSUFFICIENT_NUMBER_OF_ENDPOINTS));
    }
    let mut out = BTreeMap::new();
    let mut min_total = 0;
    for (zone, ratio) in ratios {
        let desired = ratio * endpoints as f64;
        let minimum = (desired * (1.0 / (1.0 + OVERLOAD_THRESHOLD))).ceil() as usize;
        min_total += minimum;
        if min_total > endpoints {
            return Err(counts(events::MIN_ALLOCATION_EXCEEDS_OVERLOAD_THRESHOLD));
        }
        out.insert(
            zone.clone(),
            Allocation {
                minimum,
                maximum: 0,
                desired: desired.max(minimum as f64),
            },
        );
    }
    for a in out.values_mut() {
        a.maximum = a.minimum + endpoints - min_total;
    }
    Ok(out)
}

/// `TopologyCache.AddHints` on the slices of one address type, all of them
/// being written (the controller's "to create" / "to update"): every ready
/// endpoint is hinted for its own zone, then zones holding more than their
/// CPU share give endpoints to zones holding less. Returns the endpoints
/// hinted per zone, or the event message of why no hints are written (the
/// hints are then removed).
///
/// Where Go's map order picks (the zone that gives or receives first among
/// equals, the receiving zone of an endpoint), zones are taken in name order.
pub fn add_hints(
    slices: &mut [&mut SliceInfo],
    ratios: Option<&BTreeMap<String, f64>>,
) -> Result<BTreeMap<String, i64>, String> {
    let total = slices
        .iter()
        .flat_map(|s| s.endpoints.iter())
        .filter(|e| endpoint_ready(e))
        .count();
    let allocations = match allocations(ratios, total) {
        Ok(a) => a,
        Err(why) => {
            remove_hints(slices);
            return Err(why);
        }
    };
    // Step 1: every ready endpoint hinted for its own zone; one without a
    // zone stops it all.
    let zoneless = slices
        .iter()
        .flat_map(|s| s.endpoints.iter())
        .any(|e| endpoint_ready(e) && e.zone.as_deref().is_none_or(str::is_empty));
    if zoneless {
        remove_hints(slices);
        return Err(events::NO_ZONE_SPECIFIED.into());
    }
    let mut allocated: BTreeMap<String, i64> = BTreeMap::new();
    for e in slices.iter_mut().flat_map(|s| s.endpoints.iter_mut()) {
        if let (true, Some(zone)) = (endpoint_ready(e), e.zone.clone()) {
            *allocated.entry(zone.clone()).or_default() += 1;
            e.hint_zones = vec![zone];
            e.hint_nodes = Vec::new();
        }
    }
    // Steps 2 and 3: move hints from zones over their share to zones under it.
    let (mut giving, mut receiving) = giving_and_receiving_zones(&allocations, &allocated);
    'slices: for s in slices.iter_mut() {
        for e in s.endpoints.iter_mut() {
            if !endpoint_ready(e) {
                continue;
            }
            if giving.is_empty() || receiving.is_empty() {
                break 'slices;
            }
            let Some(from) = e.zone.clone() else { continue };
            if giving.get(&from).is_none_or(|n| *n <= 0) {
                continue;
            }
            let Some(to) = receiving
                .iter()
                .find(|(_, n)| **n > 0)
                .map(|(z, _)| z.clone())
            else {
                continue;
            };
            e.hint_zones = vec![to.clone()];
            for (map, zone) in [(&mut giving, &from), (&mut receiving, &to)] {
                let n = map.entry(zone.clone()).or_default();
                *n -= 1;
                if *n == 0 {
                    map.remove(zone);
                }
            }
            *allocated.entry(to).or_default() += 1;
            *allocated.entry(from).or_default() -= 1;
        }
    }
    if allocated.is_empty() {
        remove_hints(slices);
        return Err(events::NO_ALLOCATED_HINTS_FOR_ZONES.into());
    }
    Ok(allocated)
}

/// `getGivingAndReceivingZones`: how many endpoints each zone gives away
/// or receives, moving one at a time between the zones furthest over and
/// under their desired share while both are at least half an endpoint off.
fn giving_and_receiving_zones(
    allocations: &BTreeMap<String, Allocation>,
    allocated: &BTreeMap<String, i64>,
) -> (BTreeMap<String, i64>, BTreeMap<String, i64>) {
    let mut giving_desired: BTreeMap<&str, f64> = BTreeMap::new();
    let mut receiving_desired: BTreeMap<&str, f64> = BTreeMap::new();
    for (zone, a) in allocations {
        let have = allocated.get(zone).copied().unwrap_or(0) as f64;
        if have > a.desired {
            giving_desired.insert(zone, have - a.desired);
        } else if have < a.desired {
            receiving_desired.insert(zone, a.desired - have);
        }
    }
    // `getMost`: the zone with the largest value (the first in name order among equals).
    let most = |m: &BTreeMap<&str, f64>| -> Option<(String, f64)> {
        let mut best: Option<(&str, f64)> = None;
        for (z, n) in m {
            if *n > best.map_or(0.0, |b| b.1) {
                best = Some((z, *n));
            }
        }
        best.map(|(z, n)| (z.to_string(), n))
    };
    let mut giving = BTreeMap::new();
    let mut receiving = BTreeMap::new();
    while let (Some((g, to_give)), Some((r, to_receive))) =
        (most(&giving_desired), most(&receiving_desired))
    {
        if (to_give < 1.0 && to_receive < 1.0) || to_give < 0.5 || to_receive < 0.5 {
            break;
        }
        *giving.entry(g.clone()).or_default() += 1;
        if let Some(n) = giving_desired.get_mut(g.as_str()) {
            *n -= 1.0;
        }
        *receiving.entry(r.clone()).or_default() += 1;
        if let Some(n) = receiving_desired.get_mut(r.as_str()) {
            *n -= 1.0;
        }
    }
    (giving, receiving)
}
