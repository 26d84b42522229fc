//! iptables: `iptables-restore --noflush` (IPv6: `ip6tables-restore`)
//! rewriting whole chains the agent owns, as kube-proxy's iptables mode does.
//!
//! The agent owns kube-proxy's chains (`KUBE-SERVICES`, `KUBE-SVC-…`,
//! `KUBE-SEP-…`, …, see [`is_owned`]) and the jump rules from the built-in
//! chains into them (libsvc's `jump_table`, the one `render --with-jumps`
//! prints). Every other chain
//! and rule is left as it is: with `--noflush`, a restore touches only the
//! chains it names, and declaring an owned chain (`:KUBE-SVC-X - [0:0]`)
//! replaces that chain's rules.
//!
//! - full sync: every owned chain of the text is declared and rewritten, the
//!   owned chains the kernel has but the text no longer names are flushed and
//!   deleted (`-X`), missing jumps are inserted, stale jumps removed.
//! - partial sync: only the chains whose rules changed since the last apply
//!   are rewritten (kube-proxy's partial sync does the same per service).
//!
//! All of it is one `iptables-restore` call: one atomic commit.

use super::{
    Applier, ApplyError, ApplyKind, ApplyStats, Desired, Family, run, run_in_scratch_netns,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// kube-proxy's own chains with fixed names.
const FIXED: [&str; 8] = [
    "KUBE-SERVICES",
    "KUBE-EXTERNAL-SERVICES",
    "KUBE-NODEPORTS",
    "KUBE-POSTROUTING",
    "KUBE-MARK-MASQ",
    "KUBE-FORWARD",
    "KUBE-PROXY-FIREWALL",
    "KUBE-FIREWALL",
];

/// The prefixes of kube-proxy's per-service and per-endpoint chains.
const PREFIXES: [&str; 5] = [
    "KUBE-SVC-",
    "KUBE-SVL-",
    "KUBE-EXT-",
    "KUBE-FW-",
    "KUBE-SEP-",
];

/// Is this chain one the agent owns?
pub fn is_owned(chain: &str) -> bool {
    FIXED.contains(&chain) || PREFIXES.iter().any(|p| chain.starts_with(p))
}

/// Which chains an applier owns and which jumps into them it keeps: the
/// iptables mode's ([`Profile::iptables`]) or the ipvs mode's iptables part
/// ([`Profile::ipvs`]). Everything else in this module is shared.
#[derive(Debug, Clone)]
pub struct Profile {
    owned: fn(&str) -> bool,
    /// (table, from, rule spec as `iptables-save` prints it, target).
    jumps: Vec<(&'static str, String, String, String)>,
}

impl Profile {
    /// kube-proxy's iptables mode: [`is_owned`] and libsvc's jump table
    /// (`proxy::iptables::build::jump_table`), whose rule text is what
    /// `iptables-save` prints after `-A FROM`.
    pub fn iptables() -> Self {
        use libsvc::proxy::iptables::model::Target;
        Profile {
            owned: is_owned,
            jumps: libsvc::proxy::iptables::build::jump_table()
                .into_iter()
                .filter_map(|j| {
                    let Some(Target::Jump(to)) = &j.rule.target else {
                        return None;
                    };
                    Some((
                        j.table.as_str(),
                        j.chain.clone(),
                        j.rule.to_string(),
                        to.clone(),
                    ))
                })
                .collect(),
        }
    }

    /// kube-proxy's ipvs mode: the chains and jumps libsvc's IPVS model declares.
    pub fn ipvs() -> Self {
        use libsvc::proxy::ipvs::build::{FILTER_CHAINS, JUMPS as IPVS_JUMPS, NAT_CHAINS};
        fn owned(chain: &str) -> bool {
            NAT_CHAINS.contains(&chain) || FILTER_CHAINS.contains(&chain)
        }
        Profile {
            owned,
            jumps: IPVS_JUMPS
                .iter()
                .map(|(t, f, to, comment)| {
                    (
                        *t,
                        f.to_string(),
                        format!("-m comment --comment \"{comment}\" -j {to}"),
                        to.to_string(),
                    )
                })
                .collect(),
        }
    }
}

/// Separates the sets from the rules in a preview's stdin.
const SPLIT: &str = "#--svcgen-rules--";

/// One table of a restore file: chains in order with their rule lines.
#[derive(Debug, Clone, Default, PartialEq)]
struct Table {
    chains: Vec<String>,
    /// The same names, for lookups.
    chain_set: HashSet<String>,
    rules: HashMap<String, Vec<String>>,
}

impl Table {
    /// Adds a chain unless present.
    fn declare(&mut self, chain: &str) {
        if self.chain_set.insert(chain.to_string()) {
            self.chains.push(chain.to_string());
        }
    }

    fn has(&self, chain: &str) -> bool {
        self.chain_set.contains(chain)
    }
}

/// A restore file, or the owned part of an `iptables-save` dump, by table.
#[derive(Debug, Clone, Default, PartialEq)]
struct Tables {
    tables: BTreeMap<String, Table>,
    /// `-A BUILTIN … -j OWNED` lines found in a dump: our jumps.
    jumps: BTreeMap<String, Vec<String>>,
    rule_count: usize,
}

/// Reads restore text. With `dump`, foreign chains and rules are skipped
/// (an `iptables-save` of the whole kernel); without, they are refused (our
/// own rule text may only touch owned chains).
fn parse(text: &str, dump: bool, profile: &Profile) -> Result<Tables, ApplyError> {
    let is_owned = profile.owned;
    let mut out = Tables::default();
    let mut table: Option<String> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        let bad = |why: String| {
            ApplyError::Rules(format!("iptables rules line {}: {why}: {line}", n + 1))
        };
        if line.is_empty() || line.starts_with('#') || line == "COMMIT" {
            continue;
        }
        if let Some(t) = line.strip_prefix('*') {
            table = Some(t.to_string());
            out.tables.entry(t.to_string()).or_default();
            continue;
        }
        let Some(t) = &table else {
            return Err(bad("a line before any *table".into()));
        };
        if let Some(decl) = line.strip_prefix(':') {
            let chain = decl.split_whitespace().next().unwrap_or("");
            if is_owned(chain) {
                out.tables.entry(t.clone()).or_default().declare(chain);
            } else if !dump {
                return Err(bad(format!(
                    "the agent owns only kube-proxy's chains, not {chain}"
                )));
            }
            continue;
        }
        let Some(rule) = line.strip_prefix("-A ") else {
            if dump {
                continue;
            }
            return Err(bad(
                "only chain declarations and -A rules are applied".into()
            ));
        };
        let chain = rule.split_whitespace().next().unwrap_or("");
        if is_owned(chain) {
            let tab = out.tables.entry(t.clone()).or_default();
            if !tab.has(chain) {
                if !dump {
                    return Err(bad(format!("rule for undeclared chain {chain}")));
                }
                tab.declare(chain);
            }
            tab.rules
                .entry(chain.to_string())
                .or_default()
                .push(line.to_string());
            out.rule_count += 1;
        } else if !dump {
            return Err(bad(format!(
                "the agent owns only kube-proxy's chains, not {chain}"
            )));
        } else if jump_target(rule).is_some_and(is_owned) {
            out.jumps
                .entry(t.clone())
                .or_default()
                .push(line.to_string());
        }
    }
    Ok(out)
}

fn jump_target(rule: &str) -> Option<&str> {
    let mut words = rule.split_whitespace();
    while let Some(w) = words.next() {
        if w == "-j" || w == "-g" {
            return words.next();
        }
    }
    None
}

/// The jumps kube-proxy wants for the chains `t` has: `-A FROM SPEC` lines.
fn wanted_jumps<'a>(profile: &'a Profile, table: &str, t: &Table) -> Vec<(&'a str, String)> {
    profile
        .jumps
        .iter()
        .filter(|(tab, _, _, target)| *tab == table && t.has(target))
        .map(|(_, from, spec, _)| (from.as_str(), format!("-A {from} {spec}")))
        .collect()
}

/// The iptables applier for one or both families.
#[derive(Debug, Default)]
pub struct Iptables {
    last: BTreeMap<Family, Tables>,
    profile: Profile,
}

impl Default for Profile {
    fn default() -> Self {
        Profile::iptables()
    }
}

fn tools(family: Family) -> (&'static str, &'static str) {
    match family {
        Family::V4 => ("iptables-restore", "iptables-save"),
        Family::V6 => ("ip6tables-restore", "ip6tables-save"),
    }
}

impl Iptables {
    /// A new applier that knows nothing of the kernel yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// An applier owning what `profile` names (the ipvs applier's iptables part).
    pub fn with_profile(profile: Profile) -> Self {
        Iptables {
            last: BTreeMap::new(),
            profile,
        }
    }

    /// The restore input from `kernel` (the owned part of a dump; `None`:
    /// only what changed since `old`, which the kernel is trusted to hold)
    /// to `new`.
    fn restore_input(&self, new: &Tables, old: &Tables, kernel: Option<&Tables>) -> String {
        let mut input = String::new();
        let have = kernel.unwrap_or(old);
        let names: BTreeSet<&String> = new.tables.keys().chain(have.tables.keys()).collect();
        let empty = Table::default();
        for name in names {
            let n = new.tables.get(name).unwrap_or(&empty);
            let h = have.tables.get(name).unwrap_or(&empty);
            let rewrite: Vec<&String> = n
                .chains
                .iter()
                .filter(|c| kernel.is_some() || !h.has(c) || h.rules.get(*c) != n.rules.get(*c))
                .collect();
            let stale: Vec<&String> = h.chains.iter().filter(|c| !n.has(c)).collect();
            let want = wanted_jumps(&self.profile, name, n);
            let have_jumps: Vec<String> = match kernel {
                Some(k) => k.jumps.get(name).cloned().unwrap_or_default(),
                None => wanted_jumps(&self.profile, name, h)
                    .into_iter()
                    .map(|(_, l)| l)
                    .collect(),
            };
            let add: Vec<&(&str, String)> = want
                .iter()
                .filter(|(_, l)| !have_jumps.contains(l))
                .collect();
            let del: Vec<&String> = have_jumps
                .iter()
                .filter(|l| !want.iter().any(|(_, w)| w == *l))
                .collect();
            if rewrite.is_empty() && stale.is_empty() && add.is_empty() && del.is_empty() {
                continue;
            }
            input.push_str(&format!("*{name}\n"));
            for c in rewrite.iter().chain(&stale) {
                input.push_str(&format!(":{c} - [0:0]\n"));
            }
            for l in del {
                input.push_str(&format!("-D{}\n", &l[2..]));
            }
            for c in &rewrite {
                for r in n.rules.get(*c).into_iter().flatten() {
                    input.push_str(r);
                    input.push('\n');
                }
            }
            for (from, l) in add {
                let spec = &l[3 + from.len()..];
                input.push_str(&format!("-I {from} 1{spec}\n"));
            }
            for c in &stale {
                input.push_str(&format!("-X {c}\n"));
            }
            input.push_str("COMMIT\n");
        }
        input
    }

    /// How `current` would list `text` once applied: restored into a
    /// throwaway network namespace after `ipsets` (`ipset restore` input,
    /// for rules that match sets; may be empty), and listed there.
    pub fn preview_with_sets(
        &self,
        family: Family,
        text: &str,
        ipsets: &str,
    ) -> Result<String, ApplyError> {
        let new = parse(text, false, &self.profile)?;
        let input = self.restore_input(&new, &Tables::default(), Some(&Tables::default()));
        let (restore, save) = tools(family);
        let dump = if ipsets.is_empty() {
            run_in_scratch_netns(&format!("{restore} --noflush && {save}"), &input)?
        } else {
            // One stdin for both tools: the sets, a marker line, the rules.
            let script = format!(
                "t=$(cat); printf '%s\\n' \"${{t%%{SPLIT}*}}\" | ipset restore -exist && \
                 printf '%s\\n' \"${{t#*{SPLIT}}}\" | {restore} --noflush && {save}"
            );
            run_in_scratch_netns(&script, &format!("{ipsets}{SPLIT}\n{input}"))?
        };
        Ok(owned_listing(&parse(&dump, true, &self.profile)?))
    }

    fn kernel(&self, family: Family) -> Result<Tables, ApplyError> {
        parse(&run(tools(family).1, &[], None)?, true, &self.profile)
    }
}

/// The owned part of a dump, as text: tables, owned chains (counters
/// zeroed), their rules and our jumps.
fn owned_listing(t: &Tables) -> String {
    let mut out = String::new();
    for (name, tab) in &t.tables {
        let jumps = t.jumps.get(name);
        if tab.chains.is_empty() && jumps.is_none() {
            continue;
        }
        out.push_str(&format!("*{name}\n"));
        let mut chains = tab.chains.clone();
        chains.sort();
        for c in &chains {
            out.push_str(&format!(":{c} - [0:0]\n"));
        }
        // Sorted: the kernel lists jumps by built-in chain, not as inserted.
        let mut jumps: Vec<&String> = jumps.into_iter().flatten().collect();
        jumps.sort();
        for l in jumps {
            out.push_str(l);
            out.push('\n');
        }
        for c in &chains {
            for r in tab.rules.get(c).into_iter().flatten() {
                out.push_str(r);
                out.push('\n');
            }
        }
        out.push_str("COMMIT\n");
    }
    out
}

impl Applier for Iptables {
    fn check_support(&self) -> Result<(), ApplyError> {
        run("iptables-save", &["-t", "nat"], None).map(|_| ()).map_err(|e| {
            ApplyError::Unsupported(format!(
                "iptables mode needs iptables-save/iptables-restore and the kernel's nat table: {e}"
            ))
        })
    }

    fn apply(&mut self, desired: &Desired, full: bool) -> Result<ApplyStats, ApplyError> {
        let mut stats = ApplyStats::default();
        for (family, text) in &desired.texts {
            let family = *family;
            let new = parse(text, false, &self.profile)?;
            stats.rules.push((family, new.rule_count));
            let (input, kind) = match (full, self.last.get(&family)) {
                (false, Some(old)) => (self.restore_input(&new, old, None), ApplyKind::Partial),
                _ => {
                    let kernel = self.kernel(family)?;
                    (
                        self.restore_input(&new, &Tables::default(), Some(&kernel)),
                        ApplyKind::Full,
                    )
                }
            };
            if input.is_empty() {
                continue;
            }
            self.last.remove(&family);
            stats.bytes += input.len();
            run(tools(family).0, &["--noflush"], Some(&input))?;
            if kind == ApplyKind::Full || stats.kind == ApplyKind::Noop {
                stats.kind = kind;
            }
            self.last.insert(family, new);
        }
        Ok(stats)
    }

    fn apply_delta(&mut self, delta: &Desired) -> Result<ApplyStats, ApplyError> {
        self.last.clear();
        let mut stats = ApplyStats::default();
        for (family, text) in &delta.texts {
            if text.is_empty() {
                continue;
            }
            run(tools(*family).0, &["--noflush"], Some(text))?;
            stats.kind = ApplyKind::Partial;
            stats.bytes += text.len();
        }
        Ok(stats)
    }

    fn current(&self, family: Family) -> Result<String, ApplyError> {
        Ok(owned_listing(&self.kernel(family)?))
    }

    fn preview(&self, family: Family, text: &str) -> Result<String, ApplyError> {
        self.preview_with_sets(family, text, "")
    }

    fn cleanup(&mut self) -> Result<(), ApplyError> {
        self.last.clear();
        for family in [Family::V4, Family::V6] {
            let (restore, save) = tools(family);
            // No ip6tables on this host is nothing to clean.
            let Ok(dump) = run(save, &[], None) else {
                continue;
            };
            let kernel = parse(&dump, true, &self.profile)?;
            let input = self.restore_input(&Tables::default(), &Tables::default(), Some(&kernel));
            if !input.is_empty() {
                run(restore, &["--noflush"], Some(&input))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "*nat
:KUBE-SERVICES - [0:0]
:KUBE-SVC-A - [0:0]
-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-A
-A KUBE-SVC-A -j DNAT -p tcp --to-destination 10.1.0.2:80
COMMIT
";

    /// The agent's jumps are `render --with-jumps`'s: one table, with
    /// kube-proxy's comments (pkg/proxy/iptables/proxier.go,
    /// `iptablesJumpChains`: "kubernetes load balancer firewall").
    #[test]
    fn jumps_are_the_ones_render_prints() {
        let p = Profile::iptables();
        let firewall: Vec<&String> = p
            .jumps
            .iter()
            .filter(|j| j.3 == "KUBE-PROXY-FIREWALL")
            .map(|j| &j.2)
            .collect();
        assert_eq!(firewall.len(), 3);
        for spec in firewall {
            assert_eq!(
                spec,
                "-m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL"
            );
        }
        let rendered: Vec<String> = libsvc::proxy::iptables::build::jump_table()
            .iter()
            .map(|j| j.to_string())
            .collect();
        let agent: Vec<String> = p
            .jumps
            .iter()
            .map(|(_, from, spec, _)| format!("-I {from} {spec}"))
            .collect();
        assert_eq!(agent, rendered);
    }

    #[test]
    fn full_sync_declares_jumps_and_drops_stale_chains() {
        let new = parse(A, false, &Profile::iptables()).unwrap();
        let kernel = parse(
            "*nat\n:PREROUTING ACCEPT [1:2]\n:KUBE-SEP-OLD - [0:0]\n:FOREIGN - [0:0]\n-A PREROUTING -j FOREIGN\nCOMMIT\n",
            true,
            &Profile::iptables(),
        )
        .unwrap();
        let input = Iptables::new().restore_input(&new, &Tables::default(), Some(&kernel));
        assert_eq!(
            input,
            "*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-SVC-A - [0:0]\n:KUBE-SEP-OLD - [0:0]\n\
             -A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-A\n\
             -A KUBE-SVC-A -j DNAT -p tcp --to-destination 10.1.0.2:80\n\
             -I OUTPUT 1 -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n\
             -I PREROUTING 1 -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n\
             -X KUBE-SEP-OLD\nCOMMIT\n"
        );
    }

    #[test]
    fn partial_sync_rewrites_changed_chains_only() {
        let old = parse(A, false, &Profile::iptables()).unwrap();
        assert_eq!(Iptables::new().restore_input(&old, &old, None), "");
        let new = parse(
            &A.replace("10.1.0.2", "10.1.0.3"),
            false,
            &Profile::iptables(),
        )
        .unwrap();
        assert_eq!(
            Iptables::new().restore_input(&new, &old, None),
            "*nat\n:KUBE-SVC-A - [0:0]\n-A KUBE-SVC-A -j DNAT -p tcp --to-destination 10.1.0.3:80\nCOMMIT\n"
        );
    }

    #[test]
    fn foreign_chains_are_refused() {
        assert!(
            parse(
                "*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n",
                false,
                &Profile::iptables()
            )
            .is_err()
        );
        assert!(
            parse(
                "*nat\n-A PREROUTING -j KUBE-SERVICES\nCOMMIT\n",
                false,
                &Profile::iptables()
            )
            .is_err()
        );
    }
}
