//! The incremental engine: a loaded [`State`] that takes a change set
//! (inputs added, replaced or removed, by name), reads only the inputs that
//! changed, and yields the new outputs and, per backend, the smallest delta
//! that takes what the old outputs programmed to what the new ones do —
//! the way kube-proxy's partial syncs follow its full ones.
//!
//! Deltas are computed on the typed models (`proxy::<mode>::model`, the env
//! variables, the DNS records), never from text: [`nftables::diff`],
//! [`iptables::diff`], [`ipvs::diff`], [`lines::Delta::between`]. Each has
//! an `apply` on the model, and the property test
//! (`libsvc/tests/incremental.rs`) shows `apply(old, diff(old, new)) == new`.
//!
//! What is kept: each input's parsed objects, so a change re-reads only its
//! own files, and the snapshot's objects, into which a change is spliced.
//! When the change set allows it ([`scoped`]), only the affected Services
//! are then validated, resolved and built, and their parts of the models
//! replaced; otherwise validation, resolution and the model build run over
//! the whole snapshot (allocation, slice mirroring and kube-apiserver's
//! cross-object checks look across Services). Either way the delta is
//! taken per chain, map, set element and virtual server, and equals the
//! delta of the whole models.

pub mod iptables;
pub mod ipvs;
pub mod lines;
pub mod nftables;
mod scoped;

use crate::dns::record::Record;
use crate::env::EnvVar;
use crate::model::Objects;
use crate::parse::{Input, Parsed};
use crate::render::{Mode, RenderError, RenderOptions};
use crate::{Loaded, Overrides};
use serde::Serialize;
use std::sync::Arc;

/// The outputs of one snapshot, as models (only the modes asked for).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outputs {
    /// iptables mode: one ruleset per family.
    pub iptables: Option<Vec<crate::proxy::iptables::Ruleset>>,
    /// nftables mode.
    pub nftables: Option<crate::proxy::nftables::model::Ruleset>,
    /// IPVS mode.
    pub ipvs: Option<crate::proxy::ipvs::model::IpvsRuleset>,
    /// The env variables of the pod the options name.
    pub env: Option<Vec<EnvVar>>,
    /// The cluster DNS records.
    pub dns: Option<Vec<Record>>,
}

impl Outputs {
    /// Builds the models of `modes` for `loaded`.
    pub fn build(
        loaded: &Loaded,
        modes: &[Mode],
        options: &RenderOptions,
    ) -> Result<Outputs, RenderError> {
        let mut out = Outputs::default();
        for mode in modes {
            match mode {
                Mode::Iptables => out.iptables = Some(crate::proxy::iptables::rulesets(loaded)),
                Mode::Nftables => out.nftables = Some(crate::proxy::nftables::ruleset(loaded).0),
                Mode::Ipvs => {
                    let rs = crate::proxy::ipvs::build::build(&loaded.table, &loaded.settings)
                        .map_err(|e| RenderError::Invalid(e.0))?;
                    out.ipvs = Some(rs);
                }
                Mode::Env => {
                    let ctx = crate::env::pod_context(
                        loaded,
                        options.namespace.as_deref(),
                        options.enable_service_links,
                        options.pod.as_deref(),
                    )
                    .map_err(RenderError::Invalid)?;
                    let env = crate::env::pod_env(loaded, &ctx);
                    out.env = Some(env.vars().cloned().collect());
                }
                Mode::Dns => {
                    let (zone, _) = crate::dns::zone(loaded).map_err(RenderError::Invalid)?;
                    out.dns = Some(zone.records);
                }
                Mode::Resolv => return Err(RenderError::NotImplemented(Mode::Resolv)),
            }
        }
        Ok(out)
    }
}

/// The delta of each mode that was built on both sides.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Deltas {
    /// The Services (`namespace/name`) whose resolved state changed, were
    /// added or were removed.
    pub services: Vec<String>,
    /// iptables mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iptables: Option<iptables::Delta>,
    /// nftables mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nftables: Option<nftables::Delta>,
    /// IPVS mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipvs: Option<ipvs::Delta>,
    /// Env variables.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<lines::Delta<EnvVar>>,
    /// DNS records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns: Option<lines::Delta<Record>>,
}

impl Deltas {
    /// Every mode's delta between two snapshots' outputs.
    pub fn between(old: &Outputs, new: &Outputs) -> Deltas {
        Deltas {
            services: Vec::new(),
            iptables: old
                .iptables
                .as_ref()
                .zip(new.iptables.as_ref())
                .map(|(o, n)| iptables::diff(o, n)),
            nftables: old
                .nftables
                .as_ref()
                .zip(new.nftables.as_ref())
                .map(|(o, n)| nftables::diff(o, n)),
            ipvs: old
                .ipvs
                .as_ref()
                .zip(new.ipvs.as_ref())
                .map(|(o, n)| ipvs::diff(o, n)),
            env: old
                .env
                .as_ref()
                .zip(new.env.as_ref())
                .map(|(o, n)| lines::Delta::between(o, n)),
            dns: old
                .dns
                .as_ref()
                .zip(new.dns.as_ref())
                .map(|(o, n)| lines::Delta::between(o, n)),
        }
    }

    /// No mode changed.
    pub fn is_empty(&self) -> bool {
        self.iptables.as_ref().is_none_or(iptables::Delta::is_empty)
            && self.nftables.as_ref().is_none_or(nftables::Delta::is_empty)
            && self.ipvs.as_ref().is_none_or(ipvs::Delta::is_empty)
            && self.env.as_ref().is_none_or(lines::Delta::is_empty)
            && self.dns.as_ref().is_none_or(lines::Delta::is_empty)
    }

    /// The delta of `mode` in its tool's input format (empty when nothing
    /// changed or the mode was not built).
    pub fn text(&self, mode: Mode) -> String {
        match mode {
            Mode::Iptables => self.iptables.as_ref().map(|d| d.to_string()),
            Mode::Nftables => self.nftables.as_ref().map(|d| d.to_string()),
            Mode::Ipvs => self.ipvs.as_ref().map(|d| d.to_string()),
            Mode::Env => self.env.as_ref().map(|d| d.to_string()),
            Mode::Dns => self.dns.as_ref().map(|d| d.to_string()),
            Mode::Resolv => None,
        }
        .unwrap_or_default()
    }
}

/// The Services whose resolved entry differs between two tables (added,
/// removed or changed), as `namespace/name`, in table order.
pub fn changed_services(old: &crate::ServiceTable, new: &crate::ServiceTable) -> Vec<String> {
    let (a, b) = (&old.services, &new.services);
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    let key = |s: &crate::table::ServiceInfo| (s.namespace.clone(), s.name.clone());
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => match key(x).cmp(&key(y)) {
                std::cmp::Ordering::Less => {
                    out.push(x.key());
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    out.push(y.key());
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    if changed_service(Some(x), Some(y)) {
                        out.push(x.key());
                    }
                    i += 1;
                    j += 1;
                }
            },
            (Some(x), None) => {
                out.push(x.key());
                i += 1;
            }
            (None, Some(y)) => {
                out.push(y.key());
                j += 1;
            }
            (None, None) => break,
        }
    }
    out
}

/// A Service's entry was added, removed, or changed (other than in where
/// it was read from).
fn changed_service(
    old: Option<&crate::table::ServiceInfo>,
    new: Option<&crate::table::ServiceInfo>,
) -> bool {
    match (old, new) {
        (Some(x), Some(y)) => x != y && !same_but_origin(x, y),
        (None, None) => false,
        _ => true,
    }
}

/// Equal but for where they were read from (file names, positions).
fn same_but_origin(x: &crate::table::ServiceInfo, y: &crate::table::ServiceInfo) -> bool {
    let mut y = y.clone();
    y.origin = x.origin.clone();
    if y.slices.len() == x.slices.len() {
        for (a, b) in x.slices.iter().zip(y.slices.iter_mut()) {
            b.origin = a.origin.clone();
        }
    }
    *x == y
}

/// One change to the inputs.
#[derive(Debug, Clone)]
pub enum Change {
    /// An input replaced (same name, same place), or added after the others.
    Put(Input),
    /// The input of this name is gone.
    Remove(Arc<str>),
}

/// A loaded snapshot that follows changes.
#[derive(Debug, Clone)]
pub struct State {
    overrides: Overrides,
    modes: Vec<Mode>,
    options: RenderOptions,
    /// Each input with what was read from it, in input order.
    inputs: Vec<(Input, Parsed)>,
    loaded: Loaded,
    outputs: Outputs,
    /// What the scoped path needs to know about the whole snapshot.
    index: scoped::Index,
}

/// What one change set did.
#[derive(Debug, Clone)]
pub struct Update {
    /// The deltas of the outputs (and the Services that changed).
    pub deltas: Deltas,
    /// Only the affected Services were validated, resolved and built again
    /// (the scoped path); otherwise the whole snapshot was.
    pub scoped: bool,
}

impl State {
    /// Loads `inputs` and builds the outputs of `modes`.
    pub fn new(
        inputs: Vec<Input>,
        overrides: Overrides,
        modes: &[Mode],
        options: RenderOptions,
    ) -> Result<State, RenderError> {
        let inputs: Vec<(Input, Parsed)> = inputs
            .into_iter()
            .map(|i| {
                let p = crate::parse::parse(std::slice::from_ref(&i));
                (i, p)
            })
            .collect();
        let loaded = crate::load_parsed(merge(&inputs), &overrides);
        let (outputs, index) = build_full(&loaded, &overrides, modes, &options)?;
        Ok(State {
            overrides,
            modes: modes.to_vec(),
            options,
            inputs,
            loaded,
            outputs,
            index,
        })
    }

    /// The loaded snapshot.
    pub fn loaded(&self) -> &Loaded {
        &self.loaded
    }

    /// The outputs' models.
    pub fn outputs(&self) -> &Outputs {
        &self.outputs
    }

    /// The inputs, in order.
    pub fn inputs(&self) -> impl Iterator<Item = &Input> {
        self.inputs.iter().map(|(i, _)| i)
    }

    /// Applies a change set: re-reads the inputs it names and yields the
    /// deltas. When only Services, EndpointSlices and Endpoints changed and
    /// nothing ties them to the rest, only the affected Services are
    /// validated, resolved and built again ([`scoped`]); otherwise the
    /// whole snapshot is. Either way the state equals a fresh [`State::new`]
    /// of the new inputs. On an error the state is unchanged.
    pub fn apply(&mut self, changes: Vec<Change>) -> Result<Update, RenderError> {
        // Changed in place (a copy of every input would cost more than the
        // change), with what it takes to undo them on an error. The merged
        // objects of the snapshot are spliced, not merged again.
        let mut undo: Vec<Undo> = Vec::new();
        let mut objects = std::mem::take(&mut self.loaded.objects);
        // Each input changed, before and after (by position in `undo` and
        // name); one input named twice goes the full way.
        let mut names: Vec<Arc<str>> = Vec::new();
        let mut once = true;
        for c in changes {
            let name = match &c {
                Change::Put(i) => i.name.clone(),
                Change::Remove(n) => n.clone(),
            };
            once &= !names.contains(&name);
            names.push(name);
            match c {
                Change::Put(input) => {
                    let parsed = crate::parse::parse(std::slice::from_ref(&input));
                    match self.inputs.iter().position(|(i, _)| i.name == input.name) {
                        Some(at) => {
                            let start = self.offsets(at);
                            splice(
                                &mut objects,
                                start,
                                &self.inputs[at].1.objects,
                                &parsed.objects,
                            );
                            let old = std::mem::replace(&mut self.inputs[at], (input, parsed));
                            undo.push(Undo::Replaced(at, old));
                        }
                        None => {
                            let start = self.offsets(self.inputs.len());
                            splice(&mut objects, start, &Objects::default(), &parsed.objects);
                            self.inputs.push((input, parsed));
                            undo.push(Undo::Pushed);
                        }
                    }
                }
                Change::Remove(name) => {
                    match self.inputs.iter().position(|(i, _)| i.name == name) {
                        Some(at) => {
                            let start = self.offsets(at);
                            splice(
                                &mut objects,
                                start,
                                &self.inputs[at].1.objects,
                                &Objects::default(),
                            );
                            undo.push(Undo::Removed(at, self.inputs.remove(at)));
                        }
                        None => undo.push(Undo::Nothing),
                    }
                }
            }
        }
        self.loaded.objects = objects;
        if once {
            let now: Vec<Option<Parsed>> = names
                .iter()
                .map(|n| {
                    self.inputs
                        .iter()
                        .find(|(i, _)| i.name == *n)
                        .map(|(_, p)| p.clone())
                })
                .collect();
            let touched: Vec<scoped::Touched<'_>> = undo
                .iter()
                .zip(&now)
                .map(|(u, new)| scoped::Touched {
                    old: match u {
                        Undo::Replaced(_, (_, p)) | Undo::Removed(_, (_, p)) => Some(p),
                        Undo::Pushed | Undo::Nothing => None,
                    },
                    new: new.as_ref(),
                })
                .collect();
            if let Some(update) = self.apply_scoped(&touched) {
                return Ok(update);
            }
        }
        let mut objects = std::mem::take(&mut self.loaded.objects);
        // The Pods simulated for workloads follow the inputs' Pods; the
        // load simulates them again.
        let input_pods = self.inputs.iter().map(|(_, p)| p.objects.pods.len()).sum();
        objects.pods.truncate(input_pods);
        let diagnostics = self
            .inputs
            .iter()
            .flat_map(|(_, p)| p.diagnostics.iter().cloned())
            .collect();
        let skipped = self
            .inputs
            .iter()
            .flat_map(|(_, p)| p.skipped.iter().cloned())
            .collect();
        let parsed = Parsed {
            objects,
            diagnostics,
            skipped,
        };
        let loaded = crate::load_parsed(parsed, &self.overrides);
        let (outputs, index) =
            match build_full(&loaded, &self.overrides, &self.modes, &self.options) {
                Ok(o) => o,
                Err(e) => {
                    for u in undo.into_iter().rev() {
                        match u {
                            Undo::Replaced(at, old) => self.inputs[at] = old,
                            Undo::Pushed => {
                                self.inputs.pop();
                            }
                            Undo::Removed(at, old) => self.inputs.insert(at, old),
                            Undo::Nothing => {}
                        }
                    }
                    self.loaded.objects = merge(&self.inputs).objects;
                    return Err(e);
                }
            };
        let mut deltas = Deltas::between(&self.outputs, &outputs);
        deltas.services = changed_services(&self.loaded.table, &loaded.table);
        self.loaded = loaded;
        self.outputs = outputs;
        self.index = index;
        Ok(Update {
            deltas,
            scoped: false,
        })
    }

    /// Where the objects of input `at` start in the merged objects, per kind.
    fn offsets(&self, at: usize) -> [usize; KINDS] {
        let mut start = [0; KINDS];
        for (_, p) in &self.inputs[..at] {
            for (s, n) in start.iter_mut().zip(counts(&p.objects)) {
                *s += n;
            }
        }
        start
    }
}

/// The number of kinds of objects in [`Objects`].
const KINDS: usize = 8;

/// How many objects of each kind.
fn counts(o: &Objects) -> [usize; KINDS] {
    // Every field named, so that a new kind of object cannot be forgotten here.
    let Objects {
        services,
        endpoints,
        endpoint_slices,
        pods,
        nodes,
        service_cidrs,
        proxy_configs,
        workloads,
    } = o;
    [
        services.len(),
        endpoints.len(),
        endpoint_slices.len(),
        pods.len(),
        nodes.len(),
        service_cidrs.len(),
        proxy_configs.len(),
        workloads.len(),
    ]
}

/// Replaces, from `start` on, the objects of `old` by those of `new`, kind by kind.
fn splice(all: &mut Objects, start: [usize; KINDS], old: &Objects, new: &Objects) {
    fn one<T: Clone>(v: &mut Vec<T>, at: usize, old: usize, new: &[T]) {
        v.splice(at..at + old, new.iter().cloned());
    }
    let n = counts(old);
    let Objects {
        services,
        endpoints,
        endpoint_slices,
        pods,
        nodes,
        service_cidrs,
        proxy_configs,
        workloads,
    } = new;
    one(&mut all.services, start[0], n[0], services);
    one(&mut all.endpoints, start[1], n[1], endpoints);
    one(&mut all.endpoint_slices, start[2], n[2], endpoint_slices);
    one(&mut all.pods, start[3], n[3], pods);
    one(&mut all.nodes, start[4], n[4], nodes);
    one(&mut all.service_cidrs, start[5], n[5], service_cidrs);
    one(&mut all.proxy_configs, start[6], n[6], proxy_configs);
    one(&mut all.workloads, start[7], n[7], workloads);
}

/// How to take back one change of a change set.
enum Undo {
    Replaced(usize, (Input, Parsed)),
    Pushed,
    Removed(usize, (Input, Parsed)),
    /// A removal of an input the state does not have.
    Nothing,
}

/// The outputs of `modes` and the scoped path's index, from scratch (the
/// nftables model with the elements its service ports share).
fn build_full(
    loaded: &Loaded,
    overrides: &Overrides,
    modes: &[Mode],
    options: &RenderOptions,
) -> Result<(Outputs, scoped::Index), RenderError> {
    let others: Vec<Mode> = modes
        .iter()
        .copied()
        .filter(|m| !matches!(m, Mode::Nftables | Mode::Iptables))
        .collect();
    let mut outputs = Outputs::build(loaded, &others, options)?;
    let mut shared = Vec::new();
    if modes.contains(&Mode::Nftables) {
        // As `proxy::nftables::ruleset` builds it (its notes are not kept).
        let (rs, s) = crate::proxy::nftables::build::build_indexed(
            &loaded.table,
            &loaded.settings,
            &mut Vec::new(),
        );
        outputs.nftables = Some(rs);
        shared = s;
    }
    let mut ipt = Vec::new();
    if modes.contains(&Mode::Iptables) {
        // As `proxy::iptables::rulesets` builds them.
        let (rs, ix) = scoped::iptables_full(loaded);
        outputs.iptables = Some(rs);
        ipt = ix;
    }
    Ok((outputs, scoped::Index::new(loaded, overrides, shared, ipt)))
}

/// The inputs' objects and diagnostics as one read of all of them would
/// give them: each kind in input order.
fn merge(inputs: &[(Input, Parsed)]) -> Parsed {
    let mut all = Parsed::default();
    for (_, p) in inputs {
        // Every field named, so that a new kind of object cannot be forgotten here.
        let crate::model::Objects {
            services,
            endpoints,
            endpoint_slices,
            pods,
            nodes,
            service_cidrs,
            proxy_configs,
            workloads,
        } = &p.objects;
        let o = &mut all.objects;
        o.services.extend(services.iter().cloned());
        o.endpoints.extend(endpoints.iter().cloned());
        o.endpoint_slices.extend(endpoint_slices.iter().cloned());
        o.pods.extend(pods.iter().cloned());
        o.nodes.extend(nodes.iter().cloned());
        o.service_cidrs.extend(service_cidrs.iter().cloned());
        o.proxy_configs.extend(proxy_configs.iter().cloned());
        o.workloads.extend(workloads.iter().cloned());
        all.diagnostics.extend(p.diagnostics.iter().cloned());
        all.skipped.extend(p.skipped.iter().cloned());
    }
    all
}
