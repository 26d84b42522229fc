//! What the kernel should hold, kept up to date from [`SourceEvent`]s:
//! libsvc's incremental engine ([`libsvc::incremental::State`]) over the
//! manifests, with the agent's rule that a broken or refused file holds
//! back only its own objects.
//!
//! A change set yields the engine's delta in the tool's own input format
//! (the `nft -f` transaction of changed chains and elements; the
//! `iptables-restore --noflush` payload of changed chains), which the sync
//! loop sends as is: kube-proxy's partial sync
//! (pkg/proxy/nftables/proxier.go and pkg/proxy/iptables/proxier.go,
//! `syncProxyRules` with `doFullSync` false). A full sync sends the whole
//! ruleset, rendered from the same state.
//!
//! [`SourceEvent`]: super::source::SourceEvent

use super::ProxyMode;
use super::apply::{Desired, Family};
use libsvc::config::IpFamily;
use libsvc::incremental::{Change, Deltas, State};
use libsvc::parse::Input;
use libsvc::render::{Mode, RenderOptions};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// How big a delta is (for logs and metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeltaSize {
    /// Rules written (in chains added or rewritten).
    pub rules_added: usize,
    /// Rules taken out (the old rules of rewritten and deleted chains).
    pub rules_removed: usize,
    /// Set and map elements (nftables), or ipset entries, added.
    pub elements_added: usize,
    /// Set and map elements, or ipset entries, removed.
    pub elements_removed: usize,
}

/// What a change set asks of the kernel.
#[derive(Debug)]
pub enum Plan {
    /// Nothing that the kernel holds changed.
    Nothing,
    /// Send this delta (one payload per family, in the tool's input format).
    Delta(Desired, DeltaSize),
    /// Only a full sync can do it (a delta the engine cannot give as one
    /// payload, or a mode without deltas).
    Full,
}

/// The manifests' state and the node's desired rules.
pub struct Engine {
    mode: ProxyMode,
    overrides: libsvc::Overrides,
    state: Option<State>,
    /// Every input as the source last reported it, good or not: what a
    /// relist is retried from while no state could be loaded.
    listed: BTreeMap<Arc<str>, Input>,
    /// Rules per chain as last programmed (`family table chain`), to count
    /// the rules a delta takes out.
    chain_rules: HashMap<String, usize>,
    /// The files held back now (their last good version, or nothing,
    /// stands in); `true` for those refused only for a conflict with other
    /// files (alone they are accepted), which the next change may resolve.
    held: BTreeMap<Arc<str>, bool>,
}

impl Engine {
    /// An engine for `mode`; nothing is loaded until the first relist.
    pub fn new(mode: ProxyMode, overrides: libsvc::Overrides) -> Self {
        Engine {
            mode,
            overrides,
            state: None,
            listed: BTreeMap::new(),
            chain_rules: HashMap::new(),
            held: BTreeMap::new(),
        }
    }

    fn render_mode(&self) -> Mode {
        match self.mode {
            ProxyMode::Iptables => Mode::Iptables,
            ProxyMode::Nftables => Mode::Nftables,
            ProxyMode::Ipvs => Mode::Ipvs,
        }
    }

    /// The loaded snapshot, once there is one.
    pub fn state_loaded(&self) -> Option<&libsvc::Loaded> {
        self.state.as_ref().map(State::loaded)
    }

    /// How many files are held back now.
    pub fn held_back(&self) -> usize {
        self.held.len()
    }

    /// Has a relist been loaded?
    pub fn loaded(&self) -> bool {
        self.state.is_some()
    }

    /// Replaces every input. Files with errors of their own are held back
    /// (their last good version stands in, or nothing if they never had
    /// one); the problems come back, one line each, to be logged. Errors
    /// that name no file refuse the whole relist (the old state stays).
    pub fn relist(&mut self, inputs: Vec<Input>) -> Result<Vec<String>, Vec<String>> {
        // One input per name, the last one winning (as a change set would).
        let mut by_name: BTreeMap<Arc<str>, Input> = BTreeMap::new();
        for i in inputs {
            by_name.insert(i.name.clone(), i);
        }
        self.listed = by_name.clone();
        let last_good: HashMap<Arc<str>, Input> = self
            .state
            .as_ref()
            .map(|s| s.inputs().map(|i| (i.name.clone(), i.clone())).collect())
            .unwrap_or_default();
        let mut bad: BTreeSet<Arc<str>> = BTreeSet::new();
        let mut held = Vec::new();
        loop {
            let current: Vec<Input> = by_name
                .iter()
                .filter_map(|(n, i)| {
                    if bad.contains(n) {
                        last_good.get(n).cloned()
                    } else {
                        Some(i.clone())
                    }
                })
                .collect();
            if current.is_empty() && !by_name.is_empty() {
                // Every file is held back and none was ever good: nothing
                // to program; refuse, and the kernel keeps what it has.
                return Err(held);
            }
            let state = State::new(
                current,
                self.overrides.clone(),
                &[self.render_mode()],
                RenderOptions::default(),
            )
            .map_err(|e| vec![e.to_string()])?;
            let errors: Vec<&libsvc::Diagnostic> = state.loaded().errors().collect();
            if errors.is_empty() {
                self.state = Some(state);
                self.count_chains();
                self.held.clear();
                for name in &bad {
                    let conflict = conflict_only(by_name.get(name), &self.overrides);
                    self.held.insert(name.clone(), conflict);
                }
                return Ok(held);
            }
            let all: Vec<String> = errors.iter().map(|d| d.to_string()).collect();
            let mut new_bad = false;
            for d in &errors {
                match &d.location {
                    Some(l) => new_bad |= bad.insert(l.file.clone()),
                    None => return Err(all),
                }
            }
            if !new_bad {
                // The errors stay without the broken files (their last good
                // versions are wrong together): refuse.
                return Err(all);
            }
            held.extend(all);
        }
    }

    /// Applies a change set. A changed file with errors of its own is held
    /// back: its last good version stays in force. Returns what the kernel
    /// must be told, and the problems to log.
    pub fn change(&mut self, changes: Vec<Change>) -> Result<(Plan, Vec<String>), Vec<String>> {
        if self.state.is_none() {
            // Nothing loaded yet (every file was refused): the source's
            // view with these changes is a relist.
            for c in changes {
                match c {
                    Change::Put(i) => self.listed.insert(i.name.clone(), i),
                    Change::Remove(n) => self.listed.remove(&n),
                };
            }
            let inputs = self.listed.values().cloned().collect();
            let held = self.relist(inputs)?;
            return Ok((Plan::Full, held));
        }
        for c in &changes {
            match c {
                Change::Put(i) => self.listed.insert(i.name.clone(), i.clone()),
                Change::Remove(n) => self.listed.remove(n),
            };
        }
        // Files held back for a conflict with other files go in again with
        // their newest versions: this change set may have resolved it (a
        // rename seen in two batches, a duplicate's first half removed).
        let mut changes = changes;
        let changed: BTreeSet<Arc<str>> = changes.iter().map(change_name).collect();
        for (name, conflict) in &self.held {
            if *conflict
                && !changed.contains(name)
                && let Some(i) = self.listed.get(name)
            {
                changes.push(Change::Put(i.clone()));
            }
        }
        for c in &changes {
            self.held.remove(&change_name(c));
        }
        let Some(state) = self.state.as_mut() else {
            return Err(vec!["no state loaded yet".into()]);
        };
        let mut held = Vec::new();
        let mut unparsed: Vec<Arc<str>> = Vec::new();
        // A file that does not even parse is held back before it touches
        // the state: the delta of the rest stays one payload.
        let mut changes: Vec<Change> = changes
            .into_iter()
            .filter(|c| match c {
                Change::Put(i) => {
                    let parsed = libsvc::parse::parse(std::slice::from_ref(i));
                    let errs: Vec<String> = parsed
                        .diagnostics
                        .iter()
                        .filter(|d| d.is_error())
                        .map(ToString::to_string)
                        .collect();
                    let ok = errs.is_empty();
                    if !ok {
                        unparsed.push(i.name.clone());
                    }
                    held.extend(errs);
                    ok
                }
                Change::Remove(_) => true,
            })
            .collect();
        for n in &unparsed {
            self.held.insert(n.clone(), false);
        }
        if changes.is_empty() {
            return Ok((Plan::Nothing, held));
        }
        let names: BTreeSet<Arc<str>> = changes.iter().map(change_name).collect();
        // The versions in force now, to go back to.
        let before: HashMap<Arc<str>, Input> = state
            .inputs()
            .filter(|i| names.contains(&i.name))
            .map(|i| (i.name.clone(), i.clone()))
            .collect();
        let first = state
            .apply(std::mem::take(&mut changes))
            .map_err(|e| vec![e.to_string()])?;
        let errors: Vec<libsvc::Diagnostic> = state.loaded().errors().cloned().collect();
        if errors.is_empty() {
            let plan = self.plan(&first.deltas);
            return Ok((plan, held));
        }
        // Refused by validation: the changed files named by the errors go
        // back to their last good versions (all changed files, when the
        // errors name none of them).
        let mut bad: BTreeSet<Arc<str>> = errors
            .iter()
            .filter_map(|d| d.location.as_ref().map(|l| l.file.clone()))
            .filter(|f| names.contains(f))
            .collect();
        if bad.is_empty() {
            bad = names;
        }
        held.extend(errors.iter().map(ToString::to_string));
        for n in &bad {
            let conflict = conflict_only(self.listed.get(n), &self.overrides);
            self.held.insert(n.clone(), conflict);
        }
        let revert: Vec<Change> = bad
            .iter()
            .map(|n| match before.get(n) {
                Some(i) => Change::Put(i.clone()),
                None => Change::Remove(n.clone()),
            })
            .collect();
        let second = state.apply(revert).map_err(|e| vec![e.to_string()])?;
        // Both deltas in order, in one `nft -f` transaction: the kernel
        // goes from the old state to the final one atomically. An
        // iptables-restore commits table by table, so there the way back
        // is a full sync instead.
        let plan = match (self.plan(&first.deltas), self.plan(&second.deltas)) {
            (Plan::Nothing, Plan::Nothing) => Plan::Nothing,
            _ if self.mode != ProxyMode::Nftables => Plan::Full,
            (Plan::Nothing, p) | (p, Plan::Nothing) => p,
            (Plan::Delta(mut a, sa), Plan::Delta(b, sb)) => {
                for (f, t) in b.texts {
                    match a.texts.iter_mut().find(|(g, _)| *g == f) {
                        Some((_, at)) => at.push_str(&t),
                        None => a.texts.push((f, t)),
                    }
                }
                let size = DeltaSize {
                    rules_added: sa.rules_added + sb.rules_added,
                    rules_removed: sa.rules_removed + sb.rules_removed,
                    elements_added: sa.elements_added + sb.elements_added,
                    elements_removed: sa.elements_removed + sb.elements_removed,
                };
                Plan::Delta(a, size)
            }
            _ => Plan::Full,
        };
        Ok((plan, held))
    }

    /// The node's IP families: those of its IPs (kube-proxy runs one
    /// proxier per family the node has an IP of), IPv4 when it has none.
    pub fn families(&self) -> Vec<IpFamily> {
        let Some(state) = &self.state else {
            return Vec::new();
        };
        let settings = &state.loaded().settings;
        if let Some(f) = settings.ip_family {
            return vec![f];
        }
        let mut fs: Vec<IpFamily> = settings.node.ips.iter().map(IpFamily::of).collect();
        fs.sort_by_key(|f| *f == IpFamily::IPv6);
        fs.dedup();
        if fs.is_empty() {
            fs.push(IpFamily::IPv4);
        }
        fs
    }

    /// Everything the kernel should hold, one text per family.
    pub fn full(&mut self) -> Result<Desired, String> {
        let families = self.families();
        let Some(state) = &self.state else {
            return Err("no state loaded yet".into());
        };
        let outputs = state.outputs();
        let mut out = Desired::default();
        for f in families {
            let family = agent_family(f);
            let text = match self.mode {
                ProxyMode::Nftables => {
                    let rs = outputs.nftables.as_ref().ok_or("no nftables model")?;
                    let tables = rs
                        .tables
                        .iter()
                        .filter(|t| nft_family(t.family) == family)
                        .cloned()
                        .collect();
                    libsvc::proxy::nftables::model::Ruleset { tables }.to_string()
                }
                ProxyMode::Iptables => {
                    let rs = outputs.iptables.as_ref().ok_or("no iptables model")?;
                    rs.iter()
                        .filter(|r| r.family == f)
                        .map(ToString::to_string)
                        .collect()
                }
                ProxyMode::Ipvs => {
                    // IPVS has no model-level split by family: render the
                    // family on its own.
                    let mut loaded = state.loaded().clone();
                    loaded.settings.ip_family = Some(f);
                    libsvc::render::render(&loaded, Mode::Ipvs, &RenderOptions::default())
                        .map_err(|e| e.to_string())?
                        .text
                }
            };
            out.texts.push((family, text));
        }
        self.count_chains();
        Ok(out)
    }

    /// The delta of one change set, per family of the node.
    fn plan(&mut self, deltas: &Deltas) -> Plan {
        let families: Vec<Family> = self.families().into_iter().map(agent_family).collect();
        let mut out = Desired::default();
        let mut size = DeltaSize::default();
        match self.mode {
            ProxyMode::Nftables => {
                let Some(d) = &deltas.nftables else {
                    return Plan::Full;
                };
                for family in families {
                    let tables: Vec<_> = d
                        .tables
                        .iter()
                        .filter(|t| nft_family(table_family(t)) == family)
                        .cloned()
                        .collect();
                    if tables.is_empty() {
                        continue;
                    }
                    self.count_nft(&tables, &mut size);
                    let text = libsvc::incremental::nftables::Delta { tables }.to_string();
                    out.texts.push((family, text));
                }
            }
            ProxyMode::Iptables => {
                let Some(d) = &deltas.iptables else {
                    return Plan::Full;
                };
                // The jumps from the built-in chains are the applier's: a
                // change to them takes a full sync.
                if d.jumps_changed() {
                    return Plan::Full;
                }
                for fd in &d.families {
                    let family = agent_family(fd.family);
                    if !families.contains(&family) || fd.tables.is_empty() {
                        continue;
                    }
                    self.count_iptables(fd, &mut size);
                    let mut text = String::new();
                    // Writing into a String cannot fail.
                    let _ = libsvc::incremental::iptables::write_family(&mut text, fd);
                    out.texts.push((family, text));
                }
            }
            ProxyMode::Ipvs => return Plan::Full,
        }
        if out.texts.is_empty() {
            Plan::Nothing
        } else {
            Plan::Delta(out, size)
        }
    }

    /// Counts each chain's rules of the current outputs.
    fn count_chains(&mut self) {
        self.chain_rules.clear();
        let Some(state) = &self.state else {
            return;
        };
        let o = state.outputs();
        if let Some(rs) = &o.nftables {
            for t in &rs.tables {
                for c in &t.chains {
                    let key = format!("{:?} {} {}", t.family, t.name, c.name);
                    self.chain_rules.insert(key, c.rules.len());
                }
            }
        }
        for rs in o.iptables.iter().flatten() {
            for t in &rs.tables {
                for c in &t.chains {
                    let key = format!("{:?} {} {}", rs.family, t.name.as_str(), c.name);
                    self.chain_rules.insert(key, c.rules.len());
                }
            }
        }
    }

    fn count_nft(
        &mut self,
        tables: &[libsvc::incremental::nftables::TableDelta],
        size: &mut DeltaSize,
    ) {
        use libsvc::incremental::nftables::{ObjectKind, TableDelta};
        for t in tables {
            match t {
                TableDelta::Replace(t) => {
                    let prefix = format!("{:?} {} ", t.family, t.name);
                    self.chain_rules.retain(|k, n| {
                        let gone = k.starts_with(&prefix);
                        if gone {
                            size.rules_removed += *n;
                        }
                        !gone
                    });
                    for c in &t.chains {
                        size.rules_added += c.rules.len();
                        self.chain_rules
                            .insert(format!("{prefix}{}", c.name), c.rules.len());
                    }
                    size.elements_added += t.sets.iter().map(|s| s.elements.len()).sum::<usize>()
                        + t.maps.iter().map(|m| m.elements.len()).sum::<usize>();
                }
                TableDelta::Delete { family, name } => {
                    let prefix = format!("{family:?} {name} ");
                    self.chain_rules.retain(|k, n| {
                        let gone = k.starts_with(&prefix);
                        if gone {
                            size.rules_removed += *n;
                        }
                        !gone
                    });
                }
                TableDelta::Partial(p) => {
                    let prefix = format!("{:?} {} ", p.family, p.name);
                    for (name, rules) in &p.chains {
                        size.rules_added += rules.len();
                        size.rules_removed += self
                            .chain_rules
                            .insert(format!("{prefix}{name}"), rules.len())
                            .unwrap_or(0);
                    }
                    for (kind, name) in &p.deleted {
                        if *kind == ObjectKind::Chain {
                            size.rules_removed += self
                                .chain_rules
                                .remove(&format!("{prefix}{name}"))
                                .unwrap_or(0);
                        }
                    }
                    size.elements_added += p.added_elements.len();
                    size.elements_removed += p.removed_elements.len();
                }
            }
        }
    }

    fn count_iptables(
        &mut self,
        fd: &libsvc::incremental::iptables::FamilyDelta,
        size: &mut DeltaSize,
    ) {
        for t in &fd.tables {
            let prefix = format!("{:?} {} ", fd.family, t.name.as_str());
            for c in &t.chains {
                size.rules_added += c.rules.len();
                size.rules_removed += self
                    .chain_rules
                    .insert(format!("{prefix}{}", c.name), c.rules.len())
                    .unwrap_or(0);
            }
            for name in &t.deleted {
                size.rules_removed += self
                    .chain_rules
                    .remove(&format!("{prefix}{name}"))
                    .unwrap_or(0);
            }
        }
    }
}

fn change_name(c: &Change) -> Arc<str> {
    match c {
        Change::Put(i) => i.name.clone(),
        Change::Remove(n) => n.clone(),
    }
}

fn agent_family(f: IpFamily) -> Family {
    match f {
        IpFamily::IPv4 => Family::V4,
        IpFamily::IPv6 => Family::V6,
    }
}

fn nft_family(f: libsvc::proxy::nftables::model::Family) -> Family {
    match f {
        libsvc::proxy::nftables::model::Family::Ip => Family::V4,
        libsvc::proxy::nftables::model::Family::Ip6 => Family::V6,
    }
}

fn table_family(
    t: &libsvc::incremental::nftables::TableDelta,
) -> libsvc::proxy::nftables::model::Family {
    use libsvc::incremental::nftables::TableDelta;
    match t {
        TableDelta::Replace(t) => t.family,
        TableDelta::Delete { family, .. } => *family,
        TableDelta::Partial(p) => p.family,
    }
}

/// Is `input`, refused among the others, accepted alone? Then it was
/// refused for a conflict with another file (a cluster IP, node port or
/// name taken twice), not for an error of its own.
fn conflict_only(input: Option<&Input>, overrides: &libsvc::Overrides) -> bool {
    input.is_some_and(|i| {
        libsvc::load(std::slice::from_ref(i), overrides)
            .errors()
            .next()
            .is_none()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SVC: &str = "apiVersion: v1\nkind: Service\nmetadata: {name: NAME}\nspec:\n  clusterIP: THEIP\n  ports: [{port: 80}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: NAME-1, labels: {kubernetes.io/service-name: NAME}}\naddressType: IPv4\nports: [{port: 80}]\nendpoints: [{addresses: [EP]}]\n";

    fn svc(name: &str, ip: &str, ep: &str) -> Input {
        let text = SVC
            .replace("NAME", name)
            .replace("THEIP", ip)
            .replace("EP", ep);
        Input::new(format!("dir/{name}.yaml"), text).in_directory()
    }

    fn engine(mode: ProxyMode) -> Engine {
        let overrides = libsvc::Overrides {
            service_cidrs: vec!["10.96.0.0/16".parse().unwrap()],
            ip_family: Some(IpFamily::IPv4),
            ..Default::default()
        };
        Engine::new(mode, overrides)
    }

    fn text(d: &Desired) -> String {
        d.texts.iter().map(|(_, t)| t.as_str()).collect()
    }

    /// Start-up with one file refused by validation (a cluster IP equal to
    /// its CIDR's network address, which kube-apiserver refuses to
    /// allocate: pkg/registry/core/service/ipallocator, `Allocate`)
    /// programs everything else, and names the file (issue 12).
    #[test]
    fn start_up_with_one_bad_file_programs_everything_else() {
        let mut e = engine(ProxyMode::Nftables);
        let held = e
            .relist(vec![
                svc("a", "10.96.0.10", "10.1.0.1"),
                svc("c", "10.96.0.0", "10.1.0.3"),
                svc("b", "10.96.0.11", "10.1.0.2"),
            ])
            .unwrap();
        assert!(!held.is_empty() && held.iter().all(|p| p.starts_with("dir/c.yaml:")));
        assert_eq!(e.held_back(), 1);
        let full = text(&e.full().unwrap());
        assert!(
            full.contains("10.1.0.1") && full.contains("10.1.0.2"),
            "{full}"
        );
        assert!(!full.contains("10.1.0.3"), "{full}");
    }

    /// Every file broken at start-up: nothing to program, refused whole
    /// (the kernel keeps what it has).
    #[test]
    fn start_up_with_only_bad_files_is_refused() {
        let mut e = engine(ProxyMode::Nftables);
        let bad = Input::new("dir/x.yaml", "kind: Service\nmetadata: {name: [\n").in_directory();
        assert!(e.relist(vec![bad]).is_err());
        assert!(!e.loaded());
        // Fixing the file loads everything: a full sync.
        let (plan, held) = e
            .change(vec![Change::Put(svc("x", "10.96.0.10", "10.1.0.1"))])
            .unwrap();
        assert!(held.is_empty() && matches!(plan, Plan::Full), "{plan:?}");
        assert!(text(&e.full().unwrap()).contains("10.1.0.1"));
    }

    /// A broken or refused file holds back only its own objects: the
    /// others' changes go through as a delta, its last good state stays.
    #[test]
    fn a_broken_file_holds_back_only_its_own_objects() {
        let mut e = engine(ProxyMode::Nftables);
        e.relist(vec![
            svc("a", "10.96.0.10", "10.1.0.1"),
            svc("b", "10.96.0.11", "10.1.0.2"),
        ])
        .unwrap();
        // b breaks (a syntax error), a changes.
        let broken = Input::new("dir/b.yaml", "kind: Service\nmetadata: {name: [\n").in_directory();
        let (plan, held) = e
            .change(vec![
                Change::Put(broken),
                Change::Put(svc("a", "10.96.0.10", "10.1.0.9")),
            ])
            .unwrap();
        assert!(held.iter().all(|p| p.starts_with("dir/b.yaml:")) && !held.is_empty());
        let Plan::Delta(d, _) = plan else {
            panic!("expected a delta, got {plan:?}")
        };
        assert!(text(&d).contains("10.1.0.9"));
        let full = text(&e.full().unwrap());
        assert!(
            full.contains("10.1.0.9") && full.contains("10.1.0.2"),
            "{full}"
        );
        // b changes to a value validation refuses: held back too, its last
        // good state stays; the delta of the whole change set is empty.
        let (plan, held) = e
            .change(vec![Change::Put(svc("b", "10.96.0.0", "10.1.0.7"))])
            .unwrap();
        assert!(
            held.iter().any(|p| p.starts_with("dir/b.yaml:")),
            "{held:?}"
        );
        let full = text(&e.full().unwrap());
        assert!(
            full.contains("10.1.0.2") && !full.contains("10.1.0.7"),
            "{full}"
        );
        // b stays held back while other files change, until it is fixed or
        // removed (what `svcgen_agent_held_back_files` shows).
        assert_eq!(e.held_back(), 1);
        e.change(vec![Change::Put(svc("a", "10.96.0.10", "10.1.0.8"))])
            .unwrap();
        assert_eq!(e.held_back(), 1);
        e.change(vec![Change::Remove("dir/b.yaml".into())]).unwrap();
        assert_eq!(e.held_back(), 0);
        // The delta goes there and back in one nft transaction: it ends
        // with b's last good state.
        let Plan::Delta(d, _) = plan else {
            panic!("expected a delta, got {plan:?}")
        };
        let t = text(&d);
        let back = t.rfind("add element ip kube-proxy cluster-ips { 10.96.0.11 }");
        assert!(back > t.rfind("10.1.0.7"), "{t}");
    }

    /// A file refused for a conflict with another file (two Services
    /// writing one cluster IP) is tried again when the other files change:
    /// once the conflict is gone, its newest version is programmed, not the
    /// last good one it was held back to — whichever of the two files the
    /// allocator names. (The soak's finding itself is the rename below.)
    #[test]
    fn a_file_held_back_by_a_conflict_is_retried_when_others_change() {
        for (mode, (a, b)) in [ProxyMode::Nftables, ProxyMode::Iptables]
            .into_iter()
            .flat_map(|m| [(m, ("a", "b")), (m, ("b", "a"))])
        {
            let mut e = engine(mode);
            e.relist(vec![svc(a, "10.96.0.10", "10.1.0.1")]).unwrap();
            // In one batch: a changes, and b arrives half written with a's
            // cluster IP. One of the two is refused.
            let (_, held) = e
                .change(vec![
                    Change::Put(svc(a, "10.96.0.10", "10.1.0.2")),
                    Change::Put(svc(b, "10.96.0.10", "10.1.0.3")),
                ])
                .unwrap();
            assert!(!held.is_empty(), "{mode:?}: the conflict is refused");
            // b is finished: no conflict is left.
            e.change(vec![Change::Put(svc(b, "10.96.0.11", "10.1.0.3"))])
                .unwrap();
            let mut fresh = engine(mode);
            fresh
                .relist(vec![
                    svc(a, "10.96.0.10", "10.1.0.2"),
                    svc(b, "10.96.0.11", "10.1.0.3"),
                ])
                .unwrap();
            assert_eq!(e.held_back(), 0, "{mode:?}");
            assert_eq!(
                text(&e.full().unwrap()),
                text(&fresh.full().unwrap()),
                "{mode:?}"
            );
        }
    }

    /// A rename seen as two changes (the new name first, then the old one
    /// gone: a polled directory, or inotify's two halves in two batches):
    /// the new file duplicates the old one's Service and is held back;
    /// once the old file is gone it must be programmed.
    #[test]
    fn a_rename_seen_in_two_changes_ends_programmed() {
        for mode in [ProxyMode::Nftables, ProxyMode::Iptables] {
            let mut e = engine(mode);
            e.relist(vec![svc("a", "10.96.0.10", "10.1.0.1")]).unwrap();
            let renamed =
                Input::new("dir/a-2.yaml", svc("a", "10.96.0.10", "10.1.0.1").text).in_directory();
            let (_, held) = e.change(vec![Change::Put(renamed.clone())]).unwrap();
            assert!(!held.is_empty(), "{mode:?}: a duplicate is refused");
            e.change(vec![Change::Remove("dir/a.yaml".into())]).unwrap();
            let mut fresh = engine(mode);
            fresh.relist(vec![renamed]).unwrap();
            assert_eq!(e.held_back(), 0, "{mode:?}");
            let full = text(&e.full().unwrap());
            assert!(full.contains("10.1.0.1"), "{mode:?}: {full}");
            assert_eq!(full, text(&fresh.full().unwrap()), "{mode:?}");
        }
    }

    /// One changed Service in a loaded cluster: the payload names only its
    /// chains (kube-proxy's partial sync), and the sizes count its rules.
    #[test]
    fn a_change_is_a_small_delta() {
        for mode in [ProxyMode::Nftables, ProxyMode::Iptables] {
            let mut e = engine(mode);
            let inputs = (0..200)
                .map(|i| svc(&format!("s{i}"), &format!("10.96.1.{i}"), "10.1.0.1"))
                .collect();
            e.relist(inputs).unwrap();
            let full = text(&e.full().unwrap());
            let (plan, held) = e
                .change(vec![Change::Put(svc("s7", "10.96.1.7", "10.1.0.77"))])
                .unwrap();
            assert!(held.is_empty());
            let Plan::Delta(d, size) = plan else {
                panic!("{mode:?}: expected a delta, got {plan:?}")
            };
            let t = text(&d);
            assert!(t.contains("10.1.0.77"), "{t}");
            assert!(
                !t.contains("10.96.1.8"),
                "{mode:?}: other Services in the delta:\n{t}"
            );
            assert!(
                t.len() * 50 < full.len(),
                "{mode:?}: {} of {}",
                t.len(),
                full.len()
            );
            assert!(
                size.rules_added > 0 && size.rules_added == size.rules_removed,
                "{size:?}"
            );
            // Nothing changed: nothing to send.
            let (plan, _) = e
                .change(vec![Change::Put(svc("s7", "10.96.1.7", "10.1.0.77"))])
                .unwrap();
            assert!(matches!(plan, Plan::Nothing), "{plan:?}");
        }
    }
}
