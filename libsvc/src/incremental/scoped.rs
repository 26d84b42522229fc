//! The Service-scoped path of [`State::apply`]: when a change set touches
//! only Services, EndpointSlices and Endpoints, and nothing links the
//! changed Services to the others (allocation, duplicate names,
//! diagnostics, shared set elements), only those Services are validated,
//! resolved and built again, their parts of the models are replaced, and
//! the delta is taken over those parts alone — as kube-proxy's change
//! trackers (pkg/proxy/servicechangetracker.go, endpointschangetracker.go)
//! hand `syncProxyRules` only the Services that changed.
//!
//! Exactness comes first: every condition below is one under which the
//! full pipeline (`lib.rs::load_parsed`, then each backend's build) gives
//! the other Services exactly what they had, so the result equals a fresh
//! [`State::new`]; when one fails, [`State::apply`] takes the full path.
//! The conditions, and why each is needed:
//!
//! - Changed inputs hold only Services, EndpointSlices and Endpoints, and
//!   have no parse diagnostics or skipped objects (old and new): Pods,
//!   Nodes, workloads, settings and service CIDRs reach every Service.
//! - Each affected Service (changed, or whose slices or Endpoints changed)
//!   is named once, is not stored (stored Services shape the inferred
//!   service CIDRs, `config::infer_service_cidrs`) and is not
//!   `kube-system/kube-dns` (kubelet's cluster DNS address).
//! - The create path (`validate/allocation.rs`, `allocate_services`) gives
//!   it alone what it gives it among all: it writes its cluster IP (the
//!   allocator does not pick for it) and no other Service writes one of
//!   its cluster IPs or node ports (no reservation conflict either way).
//!   When its written values change, no Service may be left to the
//!   allocator (their picks avoid every written value).
//! - Its validation and resolution give no diagnostic, old and new, so the
//!   snapshot's diagnostics stay as they are.
//! - nftables: no set or map element it adds is added by another service
//!   port too (the element would then be what the order of additions
//!   decides), and it has no affinity sets (their place in the table's set
//!   list follows the service ports' order).

use super::{Deltas, State, Update, changed_service};
use crate::config::parse_ip;
use crate::model::{EndpointSlice, Endpoints, Objects, Service};
use crate::parse::Parsed;
use crate::proxy::nftables::build::{Fragment, Shared, service_fragment};
use crate::proxy::nftables::model::{Element, KeyPart, Ruleset, Table};
use crate::render::Mode;
use crate::resolve::SERVICE_NAME_LABEL;
use crate::table::ServiceInfo;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

/// A value the create path reserves when a Service writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Written {
    Ip(IpAddr),
    Port(i64),
}

/// What the scoped path keeps about the whole snapshot, rebuilt by every
/// full load.
#[derive(Debug, Clone, Default)]
pub(super) struct Index {
    /// Each written cluster IP and node port, with how many Services write it.
    written: BTreeMap<Written, u32>,
    /// Services the allocator may fill in (no cluster IP written).
    fresh: usize,
    /// nftables: elements that more than one service port adds.
    nft_shared: Shared,
}

impl Index {
    /// The index of a snapshot (`nft_shared` from its nftables build).
    pub(super) fn new(objects: &Objects, nft_shared: Shared) -> Index {
        let mut written = BTreeMap::new();
        let mut fresh = 0;
        for svc in &objects.services {
            for w in written_values(svc) {
                *written.entry(w).or_insert(0) += 1;
            }
            if !writes_cluster_ip(svc) && !svc.meta.is_stored() {
                fresh += 1;
            }
        }
        Index {
            written,
            fresh,
            nft_shared,
        }
    }
}

/// The cluster IPs and node ports `svc` writes.
fn written_values(svc: &Service) -> Vec<Written> {
    let spec = &svc.spec;
    let ips = spec.cluster_ip.iter().chain(&spec.cluster_ips);
    let mut out: Vec<Written> = ips.filter_map(|t| parse_ip(t)).map(Written::Ip).collect();
    let ports = spec.ports.iter().filter_map(|p| p.node_port);
    out.extend(
        ports
            .chain(spec.health_check_node_port)
            .filter(|p| *p != 0)
            .map(Written::Port),
    );
    out.sort();
    out.dedup();
    out
}

/// The allocator leaves `svc` alone: it writes a cluster IP (or `None`),
/// or is an ExternalName Service.
fn writes_cluster_ip(svc: &Service) -> bool {
    let spec = &svc.spec;
    spec.type_.as_deref() == Some("ExternalName")
        || spec
            .cluster_ip
            .iter()
            .chain(&spec.cluster_ips)
            .any(|t| !t.is_empty())
}

/// One input of the change set: what it held before and holds now.
pub(super) struct Touched<'a> {
    pub(super) old: Option<&'a Parsed>,
    pub(super) new: Option<&'a Parsed>,
}

/// Only Services, EndpointSlices and Endpoints, read without a diagnostic.
fn scoped_kinds(p: &Parsed) -> bool {
    let Objects {
        services: _,
        endpoints: _,
        endpoint_slices: _,
        pods,
        nodes,
        service_cidrs,
        proxy_configs,
        workloads,
    } = &p.objects;
    p.diagnostics.is_empty()
        && p.skipped.is_empty()
        && pods.is_empty()
        && nodes.is_empty()
        && service_cidrs.is_empty()
        && proxy_configs.is_empty()
        && workloads.is_empty()
}

type Key = (String, String);

fn service_key(s: &Service) -> Key {
    (s.meta.namespace().to_string(), s.meta.name.clone())
}

fn slice_key(s: &EndpointSlice) -> Option<Key> {
    let svc = s.meta.labels.get(SERVICE_NAME_LABEL)?;
    Some((s.meta.namespace().to_string(), svc.clone()))
}

fn endpoints_key(e: &Endpoints) -> Key {
    (e.meta.namespace().to_string(), e.meta.name.clone())
}

/// The Services a set of objects bears on.
fn keys_of(o: &Objects, keys: &mut BTreeSet<Key>) {
    keys.extend(o.services.iter().map(service_key));
    keys.extend(o.endpoint_slices.iter().filter_map(slice_key));
    keys.extend(o.endpoints.iter().map(endpoints_key));
}

/// Validation of the changed slices and Endpoints finds nothing.
fn endpoints_valid(o: &Objects) -> bool {
    o.endpoints
        .iter()
        .all(|e| crate::validate::endpoints::validate_endpoints(e).is_empty())
        && o.endpoint_slices
            .iter()
            .all(|s| crate::validate::endpoints::validate_endpoint_slice(s).is_empty())
}

/// One affected Service: its table entry before and after.
struct Scoped {
    key: Key,
    old: Option<ServiceInfo>,
    new: Option<ServiceInfo>,
}

impl State {
    /// The scoped path, when the change set allows it (see the module
    /// documentation); `None` leaves the state as it was, for the full path.
    /// The inputs and objects are already the new ones.
    pub(super) fn apply_scoped(&mut self, touched: &[Touched<'_>]) -> Option<Update> {
        if !self
            .modes
            .iter()
            .all(|m| matches!(m, Mode::Nftables | Mode::Iptables))
        {
            return None;
        }
        if !touched
            .iter()
            .flat_map(|t| t.old.iter().chain(t.new.iter()))
            .all(|p| scoped_kinds(p))
        {
            return None;
        }
        let mut keys = BTreeSet::new();
        for p in touched
            .iter()
            .flat_map(|t| t.old.iter().chain(t.new.iter()))
        {
            keys_of(&p.objects, &mut keys);
            if !endpoints_valid(&p.objects) {
                return None;
            }
        }
        let settings = &self.loaded.settings;
        let objects = &self.loaded.objects;

        // The old and new Service objects of each key.
        let old_changed: Vec<&Service> = touched
            .iter()
            .flat_map(|t| t.old.iter().flat_map(|p| &p.objects.services))
            .collect();
        let new_changed: Vec<&Service> = touched
            .iter()
            .flat_map(|t| t.new.iter().flat_map(|p| &p.objects.services))
            .collect();
        // The Services of each affected name now (a scan; few names).
        let mut now: Vec<(&Key, Vec<&Service>)> = keys.iter().map(|k| (k, Vec::new())).collect();
        for s in &objects.services {
            let (ns, name) = (s.meta.namespace(), s.meta.name.as_str());
            if let Some((_, v)) = now.iter_mut().find(|(k, _)| k.0 == ns && k.1 == name) {
                v.push(s);
            }
        }
        // Files whose diagnostics would name an affected Service.
        let mut files: BTreeSet<Arc<str>> = BTreeSet::new();
        for t in touched {
            for p in t.old.iter().chain(t.new.iter()) {
                for s in &p.objects.services {
                    files.insert(s.origin.file.clone());
                }
                for s in &p.objects.endpoint_slices {
                    files.insert(s.origin.file.clone());
                }
                for e in &p.objects.endpoints {
                    files.insert(e.origin.file.clone());
                }
            }
        }
        let mut pairs: Vec<(&Key, Option<&Service>, Option<&Service>)> = Vec::new();
        for (key, current) in &now {
            let is = |s: &&&Service| s.meta.namespace() == key.0 && s.meta.name == key.1;
            let removed = old_changed.iter().filter(is).count();
            let added = new_changed.iter().filter(is).count();
            // Services of this name before the change set.
            let before = current.len() + removed - added;
            if current.len() > 1 || before > 1 {
                return None;
            }
            let new = current.first().copied();
            let old = if added == 0 && removed == 0 {
                new
            } else {
                old_changed.iter().copied().find(|s| is(&s))
            };
            for s in old.iter().chain(new.iter()) {
                let special =
                    (s.meta.namespace(), s.meta.name.as_str()) == ("kube-system", "kube-dns");
                if s.meta.is_stored() || special || !writes_cluster_ip(s) {
                    return None;
                }
                files.insert(s.origin.file.clone());
            }
            pairs.push((key, old, new));
        }
        if self
            .loaded
            .diagnostics
            .iter()
            .any(|d| d.location.as_ref().is_some_and(|l| files.contains(&l.file)))
        {
            return None;
        }

        // The create path: each affected Service alone gets what it gets
        // among all, when no other Service writes one of its values.
        // `adjust`: how the change set moves each written value's count.
        let mut adjust: BTreeMap<Written, i64> = BTreeMap::new();
        let mut values_changed = false;
        for (_, old, new) in &pairs {
            let o = old.map(written_values).unwrap_or_default();
            let n = new.map(written_values).unwrap_or_default();
            values_changed |= o != n;
            for w in o {
                *adjust.entry(w).or_insert(0) -= 1;
            }
            for w in n {
                *adjust.entry(w).or_insert(0) += 1;
            }
        }
        let count = |w: &Written| i64::from(self.index.written.get(w).copied().unwrap_or(0));
        for (_, old, new) in &pairs {
            // Only this Service writes each of its values, before and after.
            let before = old.map(written_values).unwrap_or_default();
            let after = new.map(written_values).unwrap_or_default();
            if before.iter().any(|w| count(w) != 1)
                || after.iter().any(|w| count(w) + adjust[w] != 1)
            {
                return None;
            }
        }
        if values_changed && self.index.fresh > 0 {
            return None;
        }

        // Validation and resolution of each affected Service, old and new.
        let mut scoped = Vec::with_capacity(pairs.len());
        for (key, old, new) in &pairs {
            for s in old.iter().chain(new.iter()) {
                let created = crate::validate::allocation::allocate_services(
                    std::slice::from_ref(*s),
                    settings,
                );
                if created.errors.iter().any(|e| !e.is_empty()) {
                    return None;
                }
            }
            let mut diags = Vec::new();
            let info =
                new.map(|s| crate::resolve::resolve_service(s, objects, settings, &mut diags));
            if !diags.is_empty() {
                return None;
            }
            let at = self.position(key);
            let before = at.ok().map(|i| self.loaded.table.services[i].clone());
            scoped.push(Scoped {
                key: (*key).clone(),
                old: before,
                new: info,
            });
        }

        // nftables: the affected Services' parts, old and new.
        let mut nft = None;
        if let Some(rs) = &self.outputs.nftables {
            let families = settings.families();
            let mut parts = Vec::new();
            for (t, family) in rs.tables.iter().zip(&families) {
                let frag = |s: &Option<ServiceInfo>| {
                    s.iter()
                        .map(|s| service_fragment(s, settings, *family))
                        .collect::<Vec<_>>()
                };
                let old: Vec<Fragment> = scoped.iter().flat_map(|s| frag(&s.old)).collect();
                let new: Vec<Fragment> = scoped.iter().flat_map(|s| frag(&s.new)).collect();
                parts.push((t, old, new));
            }
            for ((t, old, new), shared) in parts.iter().zip(&self.index.nft_shared) {
                if !splice_allowed(t, old, new, shared) {
                    return None;
                }
            }
            nft = Some(
                parts
                    .into_iter()
                    .map(|(_, o, n)| (o, n))
                    .collect::<Vec<_>>(),
            );
        }

        // Everything holds: change the table and the models in place.
        let mut deltas = Deltas::default();
        for s in &scoped {
            if changed_service(s.old.as_ref(), s.new.as_ref()) {
                deltas.services.push(format!("{}/{}", s.key.0, s.key.1));
            }
        }
        for s in scoped {
            match (self.position(&s.key), s.new) {
                (Ok(i), Some(n)) => self.loaded.table.services[i] = n,
                (Ok(i), None) => {
                    self.loaded.table.services.remove(i);
                }
                (Err(i), Some(n)) => self.loaded.table.services.insert(i, n),
                (Err(_), None) => {}
            }
        }
        for (w, d) in adjust {
            let c = self.index.written.entry(w).or_insert(0);
            *c = u32::try_from(i64::from(*c) + d).unwrap_or(0);
            if *c == 0 {
                self.index.written.remove(&w);
            }
        }
        if let (Some(rs), Some(parts)) = (self.outputs.nftables.as_mut(), nft) {
            let before = restrict_all(rs, &parts);
            for (t, (old, new)) in rs.tables.iter_mut().zip(&parts) {
                splice_fragments(t, old, new);
            }
            let after = restrict_all(rs, &parts);
            deltas.nftables = Some(super::nftables::diff(&before, &after));
        }
        if self.outputs.iptables.is_some() {
            let new = crate::proxy::iptables::rulesets(&self.loaded);
            let old = self.outputs.iptables.replace(new);
            deltas.iptables = old
                .as_ref()
                .zip(self.outputs.iptables.as_ref())
                .map(|(o, n)| super::iptables::diff(o, n));
        }
        Some(Update {
            deltas,
            scoped: true,
        })
    }

    /// Where the Service `key` is (or would go) in the table.
    fn position(&self, key: &Key) -> Result<usize, usize> {
        self.loaded
            .table
            .services
            .binary_search_by(|s| (s.namespace.as_str(), s.name.as_str()).cmp(&(&key.0, &key.1)))
    }
}

/// Taking `old` out of `t` and putting `new` in gives what a full build
/// would: no element of theirs is shared with another service port, no
/// affinity set, no chain name taken by another Service.
fn splice_allowed(
    t: &Table,
    old: &[Fragment],
    new: &[Fragment],
    shared: &BTreeSet<(String, Vec<KeyPart>)>,
) -> bool {
    if old
        .iter()
        .chain(new)
        .any(|f| f.repeats_a_key || !f.sets.is_empty())
    {
        return false;
    }
    let own_elements: BTreeSet<(&str, &[KeyPart])> = old
        .iter()
        .flat_map(|f| &f.elements)
        .flat_map(|(c, es)| es.iter().map(move |e| (c.as_str(), e.key.as_slice())))
        .collect();
    for (c, key) in &own_elements {
        if shared.contains(&(c.to_string(), key.to_vec())) {
            return false;
        }
    }
    let own_chains: BTreeSet<&str> = old
        .iter()
        .flat_map(|f| &f.chains)
        .map(|c| c.name.as_str())
        .collect();
    let mut seen_chains = BTreeSet::new();
    let mut seen_elements = BTreeSet::new();
    for f in new {
        for c in &f.chains {
            let taken = !own_chains.contains(c.name.as_str()) && t.chain(&c.name).is_some();
            if taken || !seen_chains.insert(c.name.as_str()) {
                return false;
            }
        }
        for (c, es) in &f.elements {
            for e in es {
                let k = (c.as_str(), e.key.as_slice());
                let taken = !own_elements.contains(&k)
                    && elements_of(t, c).is_some_and(|v| find(v, &e.key).is_ok());
                if taken || !seen_elements.insert(k) {
                    return false;
                }
            }
        }
    }
    true
}

/// The elements of the set or map `name` (the full build drops elements
/// of a container the table does not have).
fn elements_of<'a>(t: &'a Table, name: &str) -> Option<&'a Vec<Element>> {
    t.sets
        .iter()
        .find(|s| s.name == name)
        .map(|s| &s.elements)
        .or_else(|| t.maps.iter().find(|m| m.name == name).map(|m| &m.elements))
}

fn elements_of_mut<'a>(t: &'a mut Table, name: &str) -> Option<&'a mut Vec<Element>> {
    if let Some(s) = t.sets.iter_mut().find(|s| s.name == name) {
        return Some(&mut s.elements);
    }
    t.maps
        .iter_mut()
        .find(|m| m.name == name)
        .map(|m| &mut m.elements)
}

/// Elements are kept in key order (the build's `BTreeMap`).
fn find(v: &[Element], key: &[KeyPart]) -> Result<usize, usize> {
    v.binary_search_by(|e| e.key.as_slice().cmp(key))
}

/// Replaces the parts `old` by `new` in `t`: chains (kept in name order)
/// and elements (in key order).
fn splice_fragments(t: &mut Table, old: &[Fragment], new: &[Fragment]) {
    for f in old {
        for c in &f.chains {
            if let Ok(i) = t.chains.binary_search_by(|x| x.name.as_str().cmp(&c.name)) {
                t.chains.remove(i);
            }
        }
        for (name, es) in &f.elements {
            if let Some(v) = elements_of_mut(t, name) {
                for e in es {
                    if let Ok(i) = find(v, &e.key) {
                        v.remove(i);
                    }
                }
            }
        }
    }
    for f in new {
        for c in &f.chains {
            match t.chains.binary_search_by(|x| x.name.as_str().cmp(&c.name)) {
                Ok(i) => t.chains[i] = c.clone(),
                Err(i) => t.chains.insert(i, c.clone()),
            }
        }
        for (name, es) in &f.elements {
            if let Some(v) = elements_of_mut(t, name) {
                for e in es {
                    match find(v, &e.key) {
                        Ok(i) => v[i] = e.clone(),
                        Err(i) => v.insert(i, e.clone()),
                    }
                }
            }
        }
    }
}

/// The ruleset cut down to what the fragments touch: their chains, every
/// set and map with only their elements, every counter. The delta of two
/// such cuts is the delta of the whole rulesets when nothing else differs
/// (`nftables::diff` goes by name and key, in table order).
fn restrict_all(rs: &Ruleset, parts: &[(Vec<Fragment>, Vec<Fragment>)]) -> Ruleset {
    Ruleset {
        tables: rs
            .tables
            .iter()
            .zip(parts)
            .map(|(t, (old, new))| restrict(t, old.iter().chain(new)))
            .collect(),
    }
}

fn restrict<'a>(t: &Table, frags: impl Iterator<Item = &'a Fragment> + Clone) -> Table {
    let chains: BTreeSet<&str> = frags
        .clone()
        .flat_map(|f| &f.chains)
        .map(|c| c.name.as_str())
        .collect();
    let mut keys: BTreeMap<&str, BTreeSet<&[KeyPart]>> = BTreeMap::new();
    for f in frags {
        for (c, es) in &f.elements {
            keys.entry(c.as_str())
                .or_default()
                .extend(es.iter().map(|e| e.key.as_slice()));
        }
    }
    let pick = |name: &str, v: &[Element]| -> Vec<Element> {
        keys.get(name).map_or_else(Vec::new, |ks| {
            ks.iter()
                .filter_map(|k| find(v, k).ok().map(|i| v[i].clone()))
                .collect()
        })
    };
    Table {
        family: t.family,
        name: t.name.clone(),
        comment: t.comment.clone(),
        chains: t
            .chains
            .iter()
            .filter(|c| chains.contains(c.name.as_str()))
            .cloned()
            .collect(),
        sets: t
            .sets
            .iter()
            .map(|s| crate::proxy::nftables::model::Set {
                elements: pick(&s.name, &s.elements),
                ..s.clone()
            })
            .collect(),
        maps: t
            .maps
            .iter()
            .map(|m| crate::proxy::nftables::model::Map {
                elements: pick(&m.name, &m.elements),
                ..m.clone()
            })
            .collect(),
        counters: t.counters.clone(),
    }
}
