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
//!   is named once and is not `kube-system/kube-dns` (kubelet's cluster
//!   DNS address).
//! - Stored Services (read from a cluster) shape the service CIDRs when
//!   none is given (`config::infer_service_cidrs`): when the snapshot's
//!   CIDRs were inferred and an affected Service is stored, the inference
//!   over the new objects must give the same ranges; only its count of
//!   stored cluster IPs may move, and its info line is rewritten with it.
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

use super::iptables::{DeltaChain, FamilyDelta, TableDelta};
use super::{Deltas, State, Update, changed_service};
use crate::config::{InferredCidrs, infer_service_cidrs, parse_cidr, parse_ip};
use crate::diag::Severity;
use crate::model::{EndpointSlice, Endpoints, Objects, Service};
use crate::parse::Parsed;
use crate::proxy::iptables::build::{
    LARGE_CLUSTER_THRESHOLD, Layout, PortPart, PortSpan, service_parts,
};
use crate::proxy::iptables::model as ipt;
use crate::proxy::nftables::build::{Fragment, Shared, service_fragment};
use crate::proxy::nftables::model::{Chain, Element, KeyPart, Map, Ruleset, Set, Table};
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
    /// iptables, per family.
    ipt: Vec<IptIndex>,
    /// When no service CIDR is given (no flag, no ServiceCIDR object), the
    /// settings take those the stored Services imply.
    inferred: Option<Inferred>,
}

/// The service CIDRs inferred from the stored Services.
#[derive(Debug, Clone)]
struct Inferred {
    cidrs: Option<InferredCidrs>,
    /// Where its info line is among the diagnostics.
    line: Option<usize>,
}

impl Index {
    /// The index of a snapshot (`nft_shared` from its nftables build).
    pub(super) fn new(
        loaded: &crate::Loaded,
        overrides: &crate::Overrides,
        nft_shared: Shared,
        ipt: Vec<IptIndex>,
    ) -> Index {
        let objects = &loaded.objects;
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
        // As `config::settings_from` decides: no flag, no valid CIDR in a
        // ServiceCIDR object (neither changes on the scoped path).
        let given = !overrides.service_cidrs.is_empty()
            || objects
                .service_cidrs
                .iter()
                .flat_map(|sc| &sc.cidrs)
                .any(|c| parse_cidr(c).is_some());
        let inferred = (!given).then(|| {
            let cidrs = infer_service_cidrs(objects);
            let line = cidrs.as_ref().and_then(|i| {
                let message = i.message();
                loaded.diagnostics.iter().position(|d| {
                    d.severity == Severity::Info && d.location.is_none() && d.message == message
                })
            });
            Inferred { cidrs, line }
        });
        Index {
            written,
            fresh,
            nft_shared,
            ipt,
            inferred,
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
        let mut stored = false;
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
                if special || !writes_cluster_ip(s) {
                    return None;
                }
                stored |= s.meta.is_stored();
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
        // Inferred service CIDRs: the same ranges after the change.
        let mut inferred = None;
        if let (true, Some(before)) = (stored, &self.index.inferred) {
            let after = infer_service_cidrs(objects);
            let ranges =
                |i: &Option<InferredCidrs>| i.as_ref().map(|i| (i.cidrs.clone(), i.anchor));
            if ranges(&after) != ranges(&before.cidrs) {
                return None;
            }
            inferred = Some(Inferred {
                cidrs: after,
                line: before.line,
            });
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
        let scoped_infos: Vec<(Option<ServiceInfo>, Option<ServiceInfo>)> = scoped
            .iter()
            .map(|s| (s.old.clone(), s.new.clone()))
            .collect();
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
        if let Some(after) = inferred {
            if let (Some(i), Some(at)) = (&after.cidrs, after.line) {
                self.loaded.diagnostics[at].message = i.message();
            }
            self.index.inferred = Some(after);
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
        if let Some(rulesets) = self.outputs.iptables.as_mut() {
            let settings = &self.loaded.settings;
            let plans: Option<Vec<IptPlan>> = rulesets
                .iter()
                .zip(&self.index.ipt)
                .map(|(rs, ix)| ipt_plan(rs, &ix.layout, &scoped_infos, settings))
                .collect();
            deltas.iptables = Some(match plans {
                Some(plans) => {
                    let mut families = Vec::new();
                    for ((rs, ix), plan) in rulesets
                        .iter_mut()
                        .zip(self.index.ipt.iter_mut())
                        .zip(plans)
                    {
                        let fd = ipt_splice(rs, ix, plan);
                        if !fd.tables.is_empty() {
                            families.push(fd);
                        }
                    }
                    super::iptables::Delta {
                        families,
                        family_count: rulesets.len(),
                    }
                }
                None => {
                    // Another Service's rules move too: the whole ruleset.
                    let (new, ipt) = iptables_full(&self.loaded);
                    let d = super::iptables::diff(rulesets, &new);
                    *rulesets = new;
                    self.index.ipt = ipt;
                    d
                }
            });
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
            let taken = !own_chains.contains(c.name.as_str()) && chain_at(t, &c.name).is_ok();
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

/// Chains are kept in name order (the build's `BTreeMap`).
fn chain_at(t: &Table, name: &str) -> Result<usize, usize> {
    t.chains.binary_search_by(|x| x.name.as_str().cmp(name))
}

/// Elements are kept in key order (the build's `BTreeMap`).
fn find(v: &[Element], key: &[KeyPart]) -> Result<usize, usize> {
    v.binary_search_by(|e| e.key.as_slice().cmp(key))
}

/// Replaces the parts `old` by `new` in `t`: chains (kept in name order)
/// and elements (in key order).
fn splice_fragments(t: &mut Table, old: &[Fragment], new: &[Fragment]) {
    let gone: BTreeSet<&str> = old
        .iter()
        .flat_map(|f| &f.chains)
        .map(|c| c.name.as_str())
        .collect();
    let come: Vec<Chain> = new.iter().flat_map(|f| f.chains.iter().cloned()).collect();
    merge_chains(&mut t.chains, gone, come);
    for f in old {
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

/// Takes the chains named `gone` out of `chains` (kept in name order) and
/// puts `come` in: a chain that comes back under its name in place, the
/// others in one pass over the table (a table of 10k Services has some
/// 100k chains: one move per chain, not one per change).
fn merge_chains(chains: &mut Vec<Chain>, mut gone: BTreeSet<&str>, mut come: Vec<Chain>) {
    come.sort_by(|a, b| a.name.cmp(&b.name));
    let mut insert: Vec<(usize, Chain)> = Vec::new();
    for c in come {
        match chains.binary_search_by(|x| x.name.as_str().cmp(&c.name)) {
            Ok(i) => {
                gone.remove(c.name.as_str());
                chains[i] = c;
            }
            Err(i) => insert.push((i, c)),
        }
    }
    let drop: Vec<usize> = gone
        .iter()
        .filter_map(|n| chains.binary_search_by(|x| x.name.as_str().cmp(n)).ok())
        .collect();
    if drop.is_empty() && insert.is_empty() {
        return;
    }
    let old = std::mem::take(chains);
    let mut out = Vec::with_capacity(old.len() + insert.len() - drop.len());
    let mut insert = insert.into_iter().peekable();
    let mut drop = drop.into_iter().peekable();
    for (i, c) in old.into_iter().enumerate() {
        while let Some((_, c)) = insert.next_if(|(at, _)| *at <= i) {
            out.push(c);
        }
        if drop.next_if_eq(&i).is_none() {
            out.push(c);
        }
    }
    out.extend(insert.map(|(_, c)| c));
    *chains = out;
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
        // (`chains` iterates in name order, the table's order.)
        chains: chains
            .iter()
            .filter_map(|name| chain_at(t, name).ok().map(|i| t.chains[i].clone()))
            .collect(),
        sets: t
            .sets
            .iter()
            .map(|s| Set {
                name: s.name.clone(),
                key_type: s.key_type.clone(),
                flags: s.flags.clone(),
                timeout: s.timeout,
                comment: s.comment.clone(),
                elements: pick(&s.name, &s.elements),
            })
            .collect(),
        maps: t
            .maps
            .iter()
            .map(|m| Map {
                name: m.name.clone(),
                key_type: m.key_type.clone(),
                comment: m.comment.clone(),
                elements: pick(&m.name, &m.elements),
            })
            .collect(),
        counters: t.counters.clone(),
    }
}

/// What the scoped path keeps of one family's iptables ruleset.
#[derive(Debug, Clone)]
pub(super) struct IptIndex {
    /// Where each service port's rules are.
    layout: Layout,
    /// Per table (filter, nat): the fixed chains (the layout's `base`), as
    /// the ruleset has them, kept written for the deltas (each delta that
    /// rewrites one shares it, see `incremental::iptables::DeltaChain`).
    fixed: [Vec<DeltaChain>; 2],
}

impl IptIndex {
    fn new(rs: &ipt::Ruleset, layout: Layout) -> IptIndex {
        let fixed = |t: usize| -> Vec<DeltaChain> {
            let chains = rs.tables.get(t).map_or(&[][..], |x| &x.chains[..]);
            chains
                .iter()
                .take(layout.base[t].len())
                .map(|c| DeltaChain::written(c.clone()))
                .collect()
        };
        IptIndex {
            fixed: [fixed(0), fixed(1)],
            layout,
        }
    }
}

/// The iptables rulesets of every family, with what the scoped path keeps
/// of them.
pub(super) fn iptables_full(loaded: &crate::Loaded) -> (Vec<ipt::Ruleset>, Vec<IptIndex>) {
    loaded
        .settings
        .families()
        .into_iter()
        .map(|f| {
            let (rs, layout) =
                crate::proxy::iptables::build::build_indexed(&loaded.table, &loaded.settings, f);
            let ix = IptIndex::new(&rs, layout);
            (rs, ix)
        })
        .unzip()
}

/// How one family's iptables ruleset changes: the service ports
/// `a..b` of its layout give way to `parts`.
pub(super) struct IptPlan {
    a: usize,
    b: usize,
    parts: Vec<PortPart>,
}

/// The plan for one family, when the affected Services' ports can be
/// replaced where they are: only one affected Service has ports (old or
/// new), its port names sit together in the layout, and the large-cluster
/// mode stays as it is (it changes every endpoint rule's comment).
fn ipt_plan(
    rs: &ipt::Ruleset,
    layout: &Layout,
    scoped: &[(Option<ServiceInfo>, Option<ServiceInfo>)],
    settings: &crate::config::Settings,
) -> Option<IptPlan> {
    let family = rs.family;
    let large = layout.endpoints > LARGE_CLUSTER_THRESHOLD;
    let fixed: Vec<usize> = layout.base.iter().map(Vec::len).collect();
    let chains =
        |t: usize| -> &[ipt::Chain] { rs.tables.get(t).map_or(&[], |x| &x.chains[..fixed[t]]) };
    let mut with_ports = Vec::new();
    for (old, new) in scoped {
        let old_names: Vec<String> = old
            .iter()
            .flat_map(|s| crate::proxy::service_ports_of(s, settings, family))
            .map(|sp| sp.port_name())
            .collect();
        let parts = new
            .as_ref()
            .map(|s| service_parts(s, settings, family, [chains(0), chains(1)], large))
            .unwrap_or_default();
        if !old_names.is_empty() || !parts.is_empty() {
            with_ports.push((old_names, parts));
        }
    }
    let Some((old_names, parts)) = with_ports.pop() else {
        return Some(IptPlan {
            a: 0,
            b: 0,
            parts: Vec::new(),
        });
    };
    if !with_ports.is_empty() {
        return None;
    }
    let ports = &layout.ports;
    let at = |name: &str| ports.partition_point(|p| p.name.as_str() < name);
    let (a, b) = match old_names.first() {
        Some(first) => {
            let a = at(first);
            let b = a + old_names.len();
            let here = ports.get(a..b)?;
            if here.iter().zip(&old_names).any(|(p, n)| p.name != *n) {
                return None;
            }
            (a, b)
        }
        None => {
            let a = at(&parts[0].span.name);
            (a, a)
        }
    };
    // The new names fit between the neighbours of the block.
    if let (Some(first), Some(last)) = (parts.first(), parts.last()) {
        let before = a.checked_sub(1).map(|i| ports[i].name.as_str());
        let after = ports.get(b).map(|p| p.name.as_str());
        if before.is_some_and(|n| n >= first.span.name.as_str())
            || after.is_some_and(|n| n <= last.span.name.as_str())
        {
            return None;
        }
    }
    let gone: usize = ports[a..b].iter().map(|p| p.endpoints).sum();
    let come: usize = parts.iter().map(|p| p.span.endpoints).sum();
    if (layout.endpoints - gone + come > LARGE_CLUSTER_THRESHOLD) != large {
        return None;
    }
    Some(IptPlan { a, b, parts })
}

/// Carries out `plan` on one family's ruleset and layout, and returns that
/// family's delta as `iptables::diff` gives it: the fixed chains whose
/// rules changed and the Service's own chains that are new or changed, in
/// table order, and its own chains that are gone.
fn ipt_splice(rs: &mut ipt::Ruleset, ix: &mut IptIndex, plan: IptPlan) -> FamilyDelta {
    let IptPlan { a, b, parts } = plan;
    let IptIndex { layout, fixed } = ix;
    let mut tables = Vec::new();
    for (t, (table, kept)) in rs.tables.iter_mut().zip(fixed).enumerate() {
        let fixed = layout.base[t].len();
        // Where the block starts in each fixed chain, and its rules there
        // (one pass over the ports before it).
        let mut start = layout.base[t].clone();
        for p in &layout.ports[..a] {
            for (s, n) in start.iter_mut().zip(&p.rules[t]) {
                *s += n;
            }
        }
        let mut count = vec![0; fixed];
        for p in &layout.ports[a..b] {
            for (s, n) in count.iter_mut().zip(&p.rules[t]) {
                *s += n;
            }
        }
        let mut changed = Vec::new();
        for c in 0..fixed {
            let (off, n) = (start[c], count[c]);
            let new: Vec<ipt::Rule> = parts
                .iter()
                .flat_map(|p| p.rules[t][c].iter().cloned())
                .collect();
            let rules = &mut table.chains[c].rules;
            if rules[off..off + n] != new[..] {
                rules.splice(off..off + n, new.iter().cloned());
                kept[c].splice(off..off + n, new);
                changed.push(c);
            }
        }
        let off = fixed + layout.ports[..a].iter().map(|p| p.own[t]).sum::<usize>();
        let n = layout.ports[a..b].iter().map(|p| p.own[t]).sum::<usize>();
        let new: Vec<ipt::Chain> = parts
            .iter()
            .flat_map(|p| p.own[t].iter().cloned())
            .collect();
        let old: Vec<ipt::Chain> = table
            .chains
            .splice(off..off + n, new.iter().cloned())
            .collect();
        let deleted: Vec<String> = old
            .iter()
            .filter(|o| !new.iter().any(|c| c.name == o.name))
            .map(|o| o.name.clone())
            .collect();
        // The fixed chains shared with the index, not copied.
        let mut chains: Vec<DeltaChain> = changed.iter().map(|&c| kept[c].clone()).collect();
        chains.extend(
            new.into_iter()
                .filter(|c| !old.iter().any(|o| o.name == c.name && o.rules == c.rules))
                .map(DeltaChain::new),
        );
        if !chains.is_empty() || !deleted.is_empty() {
            tables.push(TableDelta {
                name: table.name,
                chains,
                deleted,
            });
        }
    }
    let gone: usize = layout.ports[a..b].iter().map(|p| p.endpoints).sum();
    let spans: Vec<PortSpan> = parts.into_iter().map(|p| p.span).collect();
    layout.endpoints = layout.endpoints - gone + spans.iter().map(|p| p.endpoints).sum::<usize>();
    layout.ports.splice(a..b, spans);
    FamilyDelta {
        family: rs.family,
        tables,
        jumps_changed: false,
    }
}
