//! The iptables delta: the `iptables-restore --noflush` payload that takes
//! the kernel from one ruleset to the next, the way kube-proxy's partial
//! sync writes it (pkg/proxy/iptables/proxier.go, `syncProxyRules` with
//! `tryPartialSync`): only the chains whose rules changed are declared
//! (`:CHAIN - [0:0]`, which flushes them) and rewritten, and chains that
//! are gone are declared and then deleted (`-X`). Tables with no change are
//! left out.
//!
//! The jumps from the built-in chains are not part of the payload (they are
//! installed apart, as kube-proxy's `ensureChain`/`ensureRule` do, and do not
//! depend on Services); a change to them is a change of settings that needs a
//! full sync, reported by [`Delta::jumps_changed`].
//!
//! A delta's chains are [`DeltaChain`]s, shared rather than copied: the
//! scoped path hands every delta the fixed chains it keeps (KUBE-SERVICES
//! has a rule per service port, 10k at 10k Services) with their `-A`
//! lines already written, so a change costs its own rules, not a copy
//! and a new rendering of the whole chain.

use crate::config::IpFamily;
use crate::proxy::iptables::model::{Chain, Rule, Ruleset, TableName};
use crate::proxy::iptables::render::write_rule_line;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::fmt::{self, Write};
use std::ops::{Deref, Range};
use std::sync::Arc;

/// A chain of a delta, with all its rules (it reads as a [`Chain`]).
/// Cloning shares it; the state that keeps it changes it in place when no
/// other clone holds it, and copies it first otherwise (copy on write).
#[derive(Clone)]
pub struct DeltaChain(Arc<Kept>);

#[derive(Clone)]
struct Kept {
    chain: Chain,
    /// Its rules' `-A` lines, when kept written (`DeltaChain::written`).
    lines: Option<Lines>,
}

/// Rule lines as [`write_rule_line`] writes them, each with its newline.
#[derive(Clone)]
struct Lines {
    text: String,
    /// Where each rule's line starts in `text`, then `text.len()`.
    starts: Vec<usize>,
}

impl Lines {
    /// The lines of `rules` of chain `chain`, the first at `base`.
    fn of(chain: &str, rules: &[Rule], base: usize) -> Lines {
        let mut text = String::new();
        let mut starts = Vec::with_capacity(rules.len() + 1);
        for r in rules {
            starts.push(base + text.len());
            // Writing into a String cannot fail.
            let _ = write_rule_line(&mut text, chain, r);
            text.push('\n');
        }
        starts.push(base + text.len());
        Lines { text, starts }
    }
}

impl DeltaChain {
    /// A chain whose lines are written when the delta is.
    pub fn new(chain: Chain) -> DeltaChain {
        DeltaChain(Arc::new(Kept { chain, lines: None }))
    }

    /// A chain kept with its lines written, for a state that hands it to
    /// many deltas.
    pub(crate) fn written(chain: Chain) -> DeltaChain {
        let lines = Lines::of(&chain.name, &chain.rules, 0);
        DeltaChain(Arc::new(Kept {
            chain,
            lines: Some(lines),
        }))
    }

    /// Replaces the rules `range` by `rules` (and their lines, when kept).
    pub(crate) fn splice(&mut self, range: Range<usize>, rules: Vec<Rule>) {
        let kept = Arc::make_mut(&mut self.0);
        if let Some(lines) = &mut kept.lines {
            let (from, to) = (lines.starts[range.start], lines.starts[range.end]);
            let new = Lines::of(&kept.chain.name, &rules, from);
            lines.text.replace_range(from..to, &new.text);
            // The starts of the rules after the range move by the change
            // in length; the new rules' starts go in between.
            let after = range.start + rules.len();
            lines
                .starts
                .splice(range.clone(), new.starts[..rules.len()].iter().copied());
            let shift = new.text.len().wrapping_sub(to - from);
            for s in &mut lines.starts[after..] {
                *s = s.wrapping_add(shift);
            }
        }
        kept.chain.rules.splice(range, rules);
    }

    /// Writes its `-A` lines, each with its newline.
    fn write_rules(&self, f: &mut impl Write) -> fmt::Result {
        let Kept { chain, lines } = &*self.0;
        if let Some(lines) = lines {
            return f.write_str(&lines.text);
        }
        for r in &chain.rules {
            write_rule_line(f, &chain.name, r)?;
            f.write_char('\n')?;
        }
        Ok(())
    }
}

impl Deref for DeltaChain {
    type Target = Chain;
    fn deref(&self) -> &Chain {
        &self.0.chain
    }
}

impl From<Chain> for DeltaChain {
    fn from(chain: Chain) -> DeltaChain {
        DeltaChain::new(chain)
    }
}

/// Equal chains are equal deltas, whether their lines are kept or not.
impl PartialEq for DeltaChain {
    fn eq(&self, other: &DeltaChain) -> bool {
        self.0.chain == other.0.chain
    }
}

impl fmt::Debug for DeltaChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.chain.fmt(f)
    }
}

/// As the chain (`-o json` shows chains, not how they are kept).
impl Serialize for DeltaChain {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.chain.serialize(s)
    }
}

/// The changes to one table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableDelta {
    /// The table.
    pub name: TableName,
    /// Chains (new or changed) with all their rules, in the new ruleset's order.
    pub chains: Vec<DeltaChain>,
    /// Chains that are gone.
    pub deleted: Vec<String>,
}

/// The changes to one family's ruleset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FamilyDelta {
    /// The family.
    pub family: IpFamily,
    /// The tables that changed.
    pub tables: Vec<TableDelta>,
    /// The jumps from the built-in chains changed (a full sync is needed).
    pub jumps_changed: bool,
}

/// The delta between two sets of rulesets (one per family).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Delta {
    /// The families that changed, and how many families the output has
    /// (two families are printed each under its `#` command line, as
    /// `render` prints them).
    pub families: Vec<FamilyDelta>,
    /// Rendered families (1 or 2).
    #[serde(skip)]
    pub family_count: usize,
}

impl Delta {
    /// Nothing changed.
    pub fn is_empty(&self) -> bool {
        self.families.is_empty()
    }

    /// Some family's built-in jumps changed.
    pub fn jumps_changed(&self) -> bool {
        self.families.iter().any(|f| f.jumps_changed)
    }

    /// (rules added, rules removed): the rules of rewritten chains, new and
    /// old, and the rules of deleted chains.
    pub fn counts(&self, old: &[Ruleset]) -> (usize, usize) {
        let mut c = (0, 0);
        for fd in &self.families {
            let o = old.iter().find(|r| r.family == fd.family);
            for td in &fd.tables {
                let rules = |name: &str| {
                    o.and_then(|o| o.chain(td.name, name))
                        .map_or(0, |c| c.rules.len())
                };
                for ch in &td.chains {
                    c.0 += ch.rules.len();
                    c.1 += rules(&ch.name);
                }
                for name in &td.deleted {
                    c.1 += rules(name);
                }
            }
        }
        c
    }
}

/// The delta from `old` to `new` (one ruleset per family, as
/// `proxy::iptables::rulesets` gives them).
pub fn diff(old: &[Ruleset], new: &[Ruleset]) -> Delta {
    let empty = |family| Ruleset {
        family,
        tables: Vec::new(),
        jumps: Vec::new(),
    };
    let mut families = Vec::new();
    let mut all: Vec<IpFamily> = new.iter().map(|r| r.family).collect();
    all.extend(
        old.iter()
            .map(|r| r.family)
            .filter(|f| !new.iter().any(|r| r.family == *f)),
    );
    for family in all {
        let o = old
            .iter()
            .find(|r| r.family == family)
            .cloned()
            .unwrap_or_else(|| empty(family));
        let n = new
            .iter()
            .find(|r| r.family == family)
            .cloned()
            .unwrap_or_else(|| empty(family));
        let fd = diff_family(&o, &n);
        if !fd.tables.is_empty() || fd.jumps_changed {
            families.push(fd);
        }
    }
    Delta {
        families,
        family_count: new.len().max(old.len()),
    }
}

fn diff_family(o: &Ruleset, n: &Ruleset) -> FamilyDelta {
    let mut tables = Vec::new();
    let mut names: Vec<TableName> = n.tables.iter().map(|t| t.name).collect();
    names.extend(
        o.tables
            .iter()
            .map(|t| t.name)
            .filter(|t| n.table(*t).is_none()),
    );
    for name in names {
        let old_chains: HashMap<&str, &Vec<Rule>> = o
            .table(name)
            .into_iter()
            .flat_map(|t| &t.chains)
            .map(|c| (c.name.as_str(), &c.rules))
            .collect();
        let new_chains = n.table(name).map(|t| t.chains.as_slice()).unwrap_or(&[]);
        let kept: HashSet<&str> = new_chains.iter().map(|c| c.name.as_str()).collect();
        let chains: Vec<DeltaChain> = new_chains
            .iter()
            .filter(|c| old_chains.get(c.name.as_str()) != Some(&&c.rules))
            .map(|c| DeltaChain::new(c.clone()))
            .collect();
        let deleted: Vec<String> = o
            .table(name)
            .into_iter()
            .flat_map(|t| &t.chains)
            .filter(|c| !kept.contains(c.name.as_str()))
            .map(|c| c.name.clone())
            .collect();
        if !chains.is_empty() || !deleted.is_empty() {
            tables.push(TableDelta {
                name,
                chains,
                deleted,
            });
        }
    }
    FamilyDelta {
        family: n.family,
        tables,
        jumps_changed: o.jumps != n.jumps,
    }
}

/// The `iptables-restore --noflush` payload; with two families, each under
/// the `#` line naming its command, as `render` prints them.
impl fmt::Display for Delta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for fd in &self.families {
            if self.family_count > 1 {
                f.write_str(match fd.family {
                    IpFamily::IPv4 => "# iptables-restore\n",
                    IpFamily::IPv6 => "# ip6tables-restore\n",
                })?;
            }
            write_family(f, fd)?;
        }
        Ok(())
    }
}

/// One family's payload.
pub fn write_family(f: &mut impl Write, fd: &FamilyDelta) -> fmt::Result {
    for td in &fd.tables {
        writeln!(f, "*{}", td.name.as_str())?;
        for c in &td.chains {
            writeln!(f, ":{} - [0:0]", c.name)?;
        }
        // Declaring a chain flushes it: nothing left in a chain about to
        // be deleted can still jump to another chain being deleted.
        for name in &td.deleted {
            writeln!(f, ":{name} - [0:0]")?;
        }
        for c in &td.chains {
            c.write_rules(f)?;
        }
        for name in &td.deleted {
            writeln!(f, "-X {name}")?;
        }
        f.write_str("COMMIT\n")?;
    }
    Ok(())
}

/// Applies a delta to rulesets, as `iptables-restore --noflush` would.
/// New chains go at the end of their table, new tables after the others.
pub fn apply(old: &[Ruleset], delta: &Delta) -> Vec<Ruleset> {
    let mut out = old.to_vec();
    for fd in &delta.families {
        let rs = match out.iter().position(|r| r.family == fd.family) {
            Some(i) => &mut out[i],
            None => {
                out.push(Ruleset {
                    family: fd.family,
                    tables: Vec::new(),
                    jumps: Vec::new(),
                });
                let last = out.len() - 1;
                &mut out[last]
            }
        };
        for td in &fd.tables {
            let t = match rs.tables.iter().position(|t| t.name == td.name) {
                Some(i) => &mut rs.tables[i],
                None => {
                    rs.tables.push(crate::proxy::iptables::model::Table {
                        name: td.name,
                        chains: Vec::new(),
                    });
                    let last = rs.tables.len() - 1;
                    &mut rs.tables[last]
                }
            };
            for c in &td.chains {
                match t.chains.iter_mut().find(|o| o.name == c.name) {
                    Some(o) => o.rules = c.rules.clone(),
                    None => t.chains.push(Chain::clone(c)),
                }
            }
            t.chains.retain(|c| !td.deleted.contains(&c.name));
        }
    }
    out
}

/// Rulesets with chains in name order (the kernel keeps no declaration
/// order), tables by name, families IPv4 first; empty tables dropped.
pub fn normalize(rs: &[Ruleset]) -> Vec<Ruleset> {
    let mut out = rs.to_vec();
    out.sort_by_key(|r| r.family);
    for r in &mut out {
        r.tables.retain(|t| !t.chains.is_empty());
        r.tables.sort_by_key(|t| t.name);
        for t in &mut r.tables {
            t.chains.sort_by(|a, b| a.name.cmp(&b.name));
        }
        // Jumps are applied apart (see the module comment).
        r.jumps.clear();
    }
    out.retain(|r| !r.tables.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::iptables::model::{Comment, Match, Target};
    use proptest::prelude::*;

    /// A rule whose line length varies with `i` (comments of 1 to 12
    /// characters, one rule without options).
    fn rule(i: u16) -> Rule {
        if i == 0 {
            return Rule {
                matches: Vec::new(),
                target: None,
            };
        }
        Rule::new(
            vec![
                Match::Comment(Comment {
                    text: "x".repeat(usize::from(i % 12) + 1),
                    quoted: i.is_multiple_of(3),
                }),
                Match::DestPort(i),
            ],
            Target::Jump(format!("KUBE-SVC-{i}")),
        )
    }

    /// The lines as a chain freshly written has them.
    fn fresh(chain: &Chain) -> String {
        let mut out = String::new();
        DeltaChain::new(chain.clone())
            .write_rules(&mut out)
            .expect("writes");
        out
    }

    proptest! {
        /// A kept chain, spliced again and again as the scoped path splices
        /// KUBE-SERVICES (pkg/proxy/iptables/proxier.go, `syncProxyRules`
        /// writes that chain whole on every sync, partial or not), writes
        /// the lines of its rules as a fresh chain would; a clone taken
        /// before a splice keeps what it had (copy on write).
        #[test]
        fn kept_lines_follow_splices(
            start in prop::collection::vec(0u16..40, 0..20),
            splices in prop::collection::vec(
                (0usize..25, 0usize..4, prop::collection::vec(0u16..40, 0..4)),
                1..12,
            ),
        ) {
            let chain = Chain {
                name: "KUBE-SERVICES".into(),
                rules: start.into_iter().map(rule).collect(),
            };
            let mut kept = DeltaChain::written(chain);
            for (at, n, new) in splices {
                let before = kept.clone();
                let before_text = fresh(&before);
                let len = kept.rules.len();
                let at = at.min(len);
                let range = at..(at + n).min(len);
                let new: Vec<Rule> = new.into_iter().map(rule).collect();
                let mut want = kept.rules.clone();
                want.splice(range.clone(), new.iter().cloned());
                kept.splice(range, new);
                prop_assert_eq!(&kept.rules, &want);
                let mut text = String::new();
                kept.write_rules(&mut text).expect("writes");
                prop_assert_eq!(&text, &fresh(&kept));
                let mut old = String::new();
                before.write_rules(&mut old).expect("writes");
                prop_assert_eq!(old, before_text);
            }
        }
    }
}
