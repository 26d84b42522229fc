//! The nftables delta: the `nft -f` transaction that takes the kernel from
//! one ruleset to the next, the way kube-proxy's partial sync does
//! (pkg/proxy/nftables/proxier.go, `syncProxyRules` with `doFullSync`
//! false): add the objects that are new, flush and refill only the chains
//! whose rules changed, delete and add only the map and set elements that
//! changed, and delete the objects that are gone — chains flushed first,
//! deleted last.
//!
//! A definition that `add` cannot change (a base chain's hook or priority,
//! a set's type or flags, the table comment) replaces the whole table in
//! the same transaction (`add table`, `delete table`, then everything), as
//! kube-proxy does when it must start over.

use crate::proxy::nftables::model::{
    Chain, Counter, Element, Family, KeyPart, Map, Rule, Ruleset, Set, Table,
};
use crate::proxy::nftables::render::{rule_text, write_chain, write_element, write_map, write_set};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::{self, Write};

/// The kinds of named objects in a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    /// A chain.
    Chain,
    /// A map.
    Map,
    /// A set.
    Set,
    /// A named counter.
    Counter,
}

impl ObjectKind {
    fn word(self) -> &'static str {
        match self {
            ObjectKind::Chain => "chain",
            ObjectKind::Map => "map",
            ObjectKind::Set => "set",
            ObjectKind::Counter => "counter",
        }
    }
}

/// The delta of one table.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TableDelta {
    /// The table is new, or a definition changed: replace it whole.
    Replace(Table),
    /// The table is gone.
    Delete {
        /// Its family.
        family: Family,
        /// Its name.
        name: String,
    },
    /// Objects, rules and elements that changed.
    Partial(PartialDelta),
}

/// The changes inside a table that stays.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartialDelta {
    /// The family.
    pub family: Family,
    /// The table's name.
    pub name: String,
    /// New chains (definitions; their rules are in `chains`).
    pub added_chains: Vec<Chain>,
    /// New sets (definitions; their elements are in `added_elements`).
    pub added_sets: Vec<Set>,
    /// New maps (definitions; their elements are in `added_elements`).
    pub added_maps: Vec<Map>,
    /// New counters.
    pub added_counters: Vec<Counter>,
    /// Chains whose rules are (re)written: name and every rule.
    pub chains: Vec<(String, Vec<Rule>)>,
    /// Elements removed from sets and maps that stay: set or map, key.
    pub removed_elements: Vec<(String, Vec<KeyPart>)>,
    /// Elements added to sets and maps: set or map, element.
    pub added_elements: Vec<(String, Element)>,
    /// Objects that are gone.
    pub deleted: Vec<(ObjectKind, String)>,
}

impl PartialDelta {
    fn is_empty(&self) -> bool {
        self.added_chains.is_empty()
            && self.added_sets.is_empty()
            && self.added_maps.is_empty()
            && self.added_counters.is_empty()
            && self.chains.is_empty()
            && self.removed_elements.is_empty()
            && self.added_elements.is_empty()
            && self.deleted.is_empty()
    }
}

/// The delta between two nftables rulesets: one entry per table that changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Delta {
    /// The tables that changed, in the new ruleset's order, then the deleted ones.
    pub tables: Vec<TableDelta>,
}

impl Delta {
    /// Nothing changed.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    /// (rules added, rules removed, elements added, elements removed).
    pub fn counts(&self, old: &Ruleset) -> (usize, usize, usize, usize) {
        let mut c = (0, 0, 0, 0);
        for t in &self.tables {
            match t {
                TableDelta::Replace(t) => {
                    c.0 += t.chains.iter().map(|c| c.rules.len()).sum::<usize>();
                    c.2 += element_count(t);
                    if let Some(o) = find(old, t.family, &t.name) {
                        c.1 += o.chains.iter().map(|c| c.rules.len()).sum::<usize>();
                        c.3 += element_count(o);
                    }
                }
                TableDelta::Delete { family, name } => {
                    if let Some(o) = find(old, *family, name) {
                        c.1 += o.chains.iter().map(|c| c.rules.len()).sum::<usize>();
                        c.3 += element_count(o);
                    }
                }
                TableDelta::Partial(p) => {
                    let o = find(old, p.family, &p.name);
                    for (name, rules) in &p.chains {
                        c.0 += rules.len();
                        c.1 += o.and_then(|o| o.chain(name)).map_or(0, |c| c.rules.len());
                    }
                    for (kind, name) in &p.deleted {
                        if *kind == ObjectKind::Chain {
                            c.1 += o.and_then(|o| o.chain(name)).map_or(0, |c| c.rules.len());
                        }
                    }
                    c.2 += p.added_elements.len();
                    c.3 += p.removed_elements.len();
                }
            }
        }
        c
    }
}

fn element_count(t: &Table) -> usize {
    t.sets.iter().map(|s| s.elements.len()).sum::<usize>()
        + t.maps.iter().map(|m| m.elements.len()).sum::<usize>()
}

fn find<'a>(rs: &'a Ruleset, family: Family, name: &str) -> Option<&'a Table> {
    rs.tables
        .iter()
        .find(|t| t.family == family && t.name == name)
}

/// The delta from `old` to `new`.
pub fn diff(old: &Ruleset, new: &Ruleset) -> Delta {
    let mut tables = Vec::new();
    for n in &new.tables {
        match find(old, n.family, &n.name) {
            None => tables.push(TableDelta::Replace(n.clone())),
            Some(o) => match diff_table(o, n) {
                None => tables.push(TableDelta::Replace(n.clone())),
                Some(p) if p.is_empty() => {}
                Some(p) => tables.push(TableDelta::Partial(p)),
            },
        }
    }
    for o in &old.tables {
        if find(new, o.family, &o.name).is_none() {
            tables.push(TableDelta::Delete {
                family: o.family,
                name: o.name.clone(),
            });
        }
    }
    Delta { tables }
}

/// A chain's definition without its rules.
fn chain_def(c: &Chain) -> Chain {
    Chain {
        rules: Vec::new(),
        ..c.clone()
    }
}

/// The partial delta of a table; `None` when a definition changed.
fn diff_table(o: &Table, n: &Table) -> Option<PartialDelta> {
    if o.comment != n.comment {
        return None;
    }
    let mut p = PartialDelta {
        family: n.family,
        name: n.name.clone(),
        added_chains: Vec::new(),
        added_sets: Vec::new(),
        added_maps: Vec::new(),
        added_counters: Vec::new(),
        chains: Vec::new(),
        removed_elements: Vec::new(),
        added_elements: Vec::new(),
        deleted: Vec::new(),
    };
    let old_chains: HashMap<&str, &Chain> = o.chains.iter().map(|c| (c.name.as_str(), c)).collect();
    for c in &n.chains {
        match old_chains.get(c.name.as_str()) {
            None => {
                p.added_chains.push(chain_def(c));
                if !c.rules.is_empty() {
                    p.chains.push((c.name.clone(), c.rules.clone()));
                }
            }
            Some(oc) => {
                if oc.base != c.base || oc.comment != c.comment {
                    return None;
                }
                if oc.rules != c.rules {
                    p.chains.push((c.name.clone(), c.rules.clone()));
                }
            }
        }
    }
    let old_sets: HashMap<&str, &Set> = o.sets.iter().map(|s| (s.name.as_str(), s)).collect();
    for s in &n.sets {
        match old_sets.get(s.name.as_str()) {
            None => {
                p.added_sets.push(Set {
                    elements: Vec::new(),
                    ..s.clone()
                });
                p.added_elements
                    .extend(s.elements.iter().map(|e| (s.name.clone(), e.clone())));
            }
            Some(os) => {
                if os.key_type != s.key_type
                    || os.flags != s.flags
                    || os.timeout != s.timeout
                    || os.comment != s.comment
                {
                    return None;
                }
                diff_elements(&s.name, &os.elements, &s.elements, &mut p);
            }
        }
    }
    let old_maps: HashMap<&str, &Map> = o.maps.iter().map(|m| (m.name.as_str(), m)).collect();
    for m in &n.maps {
        match old_maps.get(m.name.as_str()) {
            None => {
                p.added_maps.push(Map {
                    elements: Vec::new(),
                    ..m.clone()
                });
                p.added_elements
                    .extend(m.elements.iter().map(|e| (m.name.clone(), e.clone())));
            }
            Some(om) => {
                if om.key_type != m.key_type || om.comment != m.comment {
                    return None;
                }
                diff_elements(&m.name, &om.elements, &m.elements, &mut p);
            }
        }
    }
    let old_counters: HashSet<&str> = o.counters.iter().map(|c| c.name.as_str()).collect();
    p.added_counters = n
        .counters
        .iter()
        .filter(|c| !old_counters.contains(c.name.as_str()))
        .cloned()
        .collect();
    let new_names: HashSet<(ObjectKind, &str)> = names(n).collect();
    p.deleted = names(o)
        .filter(|k| !new_names.contains(k))
        .map(|(k, n)| (k, n.to_string()))
        .collect();
    Some(p)
}

fn names(t: &Table) -> impl Iterator<Item = (ObjectKind, &str)> {
    let chains = t
        .chains
        .iter()
        .map(|c| (ObjectKind::Chain, c.name.as_str()));
    let maps = t.maps.iter().map(|m| (ObjectKind::Map, m.name.as_str()));
    let sets = t.sets.iter().map(|s| (ObjectKind::Set, s.name.as_str()));
    let counters = t
        .counters
        .iter()
        .map(|c| (ObjectKind::Counter, c.name.as_str()));
    chains.chain(maps).chain(sets).chain(counters)
}

/// Elements keyed by their key: a changed comment or value is a delete
/// and an add (an element's key is what `delete element` names).
fn diff_elements(name: &str, old: &[Element], new: &[Element], p: &mut PartialDelta) {
    if old == new {
        return;
    }
    let old_by_key: BTreeMap<&[KeyPart], &Element> =
        old.iter().map(|e| (e.key.as_slice(), e)).collect();
    let new_by_key: BTreeMap<&[KeyPart], &Element> =
        new.iter().map(|e| (e.key.as_slice(), e)).collect();
    for e in old {
        if new_by_key.get(e.key.as_slice()) != Some(&e) {
            p.removed_elements.push((name.to_string(), e.key.clone()));
        }
    }
    for e in new {
        if old_by_key.get(e.key.as_slice()) != Some(&e) {
            p.added_elements.push((name.to_string(), e.clone()));
        }
    }
}

/// The `nft -f` transaction of the delta.
impl fmt::Display for Delta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for t in &self.tables {
            match t {
                TableDelta::Replace(t) => {
                    // `add` first so that `delete` cannot fail on a new table.
                    writeln!(f, "add table {} {}", t.family.keyword(), t.name)?;
                    writeln!(f, "delete table {} {}", t.family.keyword(), t.name)?;
                    let one = Ruleset {
                        tables: vec![t.clone()],
                    };
                    write!(f, "{one}")?;
                }
                TableDelta::Delete { family, name } => {
                    writeln!(f, "delete table {} {name}", family.keyword())?;
                }
                TableDelta::Partial(p) => write_partial(f, p)?,
            }
        }
        Ok(())
    }
}

fn write_partial(f: &mut impl Write, p: &PartialDelta) -> fmt::Result {
    let fam = p.family.keyword();
    let head = Table {
        family: p.family,
        name: p.name.clone(),
        comment: None,
        chains: Vec::new(),
        sets: Vec::new(),
        maps: Vec::new(),
        counters: Vec::new(),
    };
    for c in &p.added_chains {
        write_chain(f, &head, c)?;
    }
    for s in &p.added_sets {
        write_set(f, &head, s)?;
    }
    for m in &p.added_maps {
        write_map(f, &head, m)?;
    }
    for c in &p.added_counters {
        writeln!(f, "add counter {fam} {} {}", p.name, c.name)?;
    }
    let added: HashSet<&str> = p.added_chains.iter().map(|c| c.name.as_str()).collect();
    // Chains that go away are flushed before anything is deleted: their
    // rules may name other objects that go away too.
    for (name, _) in &p.chains {
        if !added.contains(name.as_str()) {
            writeln!(f, "flush chain {fam} {} {name}", p.name)?;
        }
    }
    for (kind, name) in &p.deleted {
        if *kind == ObjectKind::Chain {
            writeln!(f, "flush chain {fam} {} {name}", p.name)?;
        }
    }
    for (set, key) in &p.removed_elements {
        writeln!(
            f,
            "delete element {fam} {} {set} {{ {} }}",
            p.name,
            crate::proxy::nftables::render::key_text(key)
        )?;
    }
    for (set, e) in &p.added_elements {
        write_element(f, &head, set, e)?;
    }
    for (name, rules) in &p.chains {
        for r in rules {
            writeln!(
                f,
                "add rule {fam} {} {name} {}",
                p.name,
                rule_text(p.family, r)
            )?;
        }
    }
    // Chains before maps (a map's elements may name a chain, but the map
    // goes too), maps and chains before the sets their rules named.
    for want in [
        ObjectKind::Chain,
        ObjectKind::Map,
        ObjectKind::Set,
        ObjectKind::Counter,
    ] {
        for (kind, name) in p.deleted.iter().filter(|(k, _)| *k == want) {
            writeln!(f, "delete {} {fam} {} {name}", kind.word(), p.name)?;
        }
    }
    Ok(())
}

/// Applies a delta to a ruleset, as the kernel would apply its transaction.
pub fn apply(old: &Ruleset, delta: &Delta) -> Ruleset {
    let mut rs = old.clone();
    for t in &delta.tables {
        match t {
            TableDelta::Replace(t) => {
                rs.tables
                    .retain(|o| !(o.family == t.family && o.name == t.name));
                rs.tables.push(t.clone());
            }
            TableDelta::Delete { family, name } => {
                rs.tables
                    .retain(|o| !(o.family == *family && &o.name == name));
            }
            TableDelta::Partial(p) => {
                if let Some(t) = rs
                    .tables
                    .iter_mut()
                    .find(|o| o.family == p.family && o.name == p.name)
                {
                    apply_partial(t, p);
                }
            }
        }
    }
    rs
}

fn apply_partial(t: &mut Table, p: &PartialDelta) {
    t.chains.extend(p.added_chains.iter().cloned());
    t.sets.extend(p.added_sets.iter().cloned());
    t.maps.extend(p.added_maps.iter().cloned());
    t.counters.extend(p.added_counters.iter().cloned());
    for (name, rules) in &p.chains {
        if let Some(c) = t.chains.iter_mut().find(|c| &c.name == name) {
            c.rules = rules.clone();
        }
    }
    let removed: BTreeSet<(&str, &[KeyPart])> = p
        .removed_elements
        .iter()
        .map(|(s, k)| (s.as_str(), k.as_slice()))
        .collect();
    let mut added: BTreeMap<&str, Vec<&Element>> = BTreeMap::new();
    for (s, e) in &p.added_elements {
        added.entry(s.as_str()).or_default().push(e);
    }
    for s in &mut t.sets {
        s.elements
            .retain(|e| !removed.contains(&(s.name.as_str(), e.key.as_slice())));
        s.elements.extend(
            added
                .get(s.name.as_str())
                .into_iter()
                .flatten()
                .map(|e| (*e).clone()),
        );
    }
    for m in &mut t.maps {
        m.elements
            .retain(|e| !removed.contains(&(m.name.as_str(), e.key.as_slice())));
        m.elements.extend(
            added
                .get(m.name.as_str())
                .into_iter()
                .flatten()
                .map(|e| (*e).clone()),
        );
    }
    let gone: HashSet<(ObjectKind, &str)> =
        p.deleted.iter().map(|(k, n)| (*k, n.as_str())).collect();
    t.chains
        .retain(|c| !gone.contains(&(ObjectKind::Chain, c.name.as_str())));
    t.maps
        .retain(|m| !gone.contains(&(ObjectKind::Map, m.name.as_str())));
    t.sets
        .retain(|s| !gone.contains(&(ObjectKind::Set, s.name.as_str())));
    t.counters
        .retain(|c| !gone.contains(&(ObjectKind::Counter, c.name.as_str())));
}

/// The ruleset in the order the kernel keeps no record of: tables by
/// family and name, objects by name, elements by key. Two rulesets the
/// kernel cannot tell apart normalise to the same value.
pub fn normalize(rs: &Ruleset) -> Ruleset {
    let mut rs = rs.clone();
    rs.tables
        .sort_by(|a, b| (a.family, &a.name).cmp(&(b.family, &b.name)));
    for t in &mut rs.tables {
        t.chains.sort_by(|a, b| a.name.cmp(&b.name));
        t.sets.sort_by(|a, b| a.name.cmp(&b.name));
        t.maps.sort_by(|a, b| a.name.cmp(&b.name));
        t.counters.sort_by(|a, b| a.name.cmp(&b.name));
        for s in &mut t.sets {
            s.elements.sort_by(|a, b| a.key.cmp(&b.key));
        }
        for m in &mut t.maps {
            m.elements.sort_by(|a, b| a.key.cmp(&b.key));
        }
    }
    rs
}
