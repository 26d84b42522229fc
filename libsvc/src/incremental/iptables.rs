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

use crate::config::IpFamily;
use crate::proxy::iptables::model::{Chain, Rule, Ruleset, TableName};
use crate::proxy::iptables::render::write_rule_line;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::fmt::{self, Write};

/// The changes to one table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableDelta {
    /// The table.
    pub name: TableName,
    /// Chains (new or changed) with all their rules, in the new ruleset's order.
    pub chains: Vec<Chain>,
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
        let chains: Vec<Chain> = new_chains
            .iter()
            .filter(|c| old_chains.get(c.name.as_str()) != Some(&&c.rules))
            .cloned()
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
            for r in &c.rules {
                write_rule_line(f, &c.name, r)?;
                f.write_char('\n')?;
            }
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
                    None => t.chains.push(c.clone()),
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
