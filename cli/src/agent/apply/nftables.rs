//! nftables: one `nft -f -` transaction per family on the agent's own table
//! (`ip kube-proxy`, `ip6 kube-proxy`), the way kube-proxy's nftables mode
//! syncs.
//!
//! The rule text is the dump kube-proxy's tests compare (one `add` command per
//! line: table, chains, sets, maps, counters, rules, elements). The agent
//! reads it as objects so that it can send only the difference:
//!
//! - full sync: `add` every object, `flush` every chain and every static set
//!   and map, re-add all rules and elements, and delete the owned objects the
//!   kernel still has but the text no longer names. Dynamic sets (ClientIP
//!   affinity) are never flushed, so affinity survives a resync.
//! - partial sync: flush and rewrite only the chains whose rules changed,
//!   delete and add only the elements that changed, delete removed objects.
//!
//! Each transaction is atomic: the kernel holds either the old table or the
//! new one, never a mix. If a full sync is refused (say a base chain changed
//! its priority), the table is deleted and recreated in one transaction.

use super::{
    Applier, ApplyError, ApplyKind, ApplyStats, Desired, Family, run, run_in_scratch_netns,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// The table kube-proxy (and so the agent) owns in each family.
pub const TABLE: &str = "kube-proxy";

fn family_word(f: Family) -> &'static str {
    match f {
        Family::V4 => "ip",
        Family::V6 => "ip6",
    }
}

/// The kinds of named objects in a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    Chain,
    Set,
    Map,
    Counter,
}

impl Kind {
    fn parse(s: &str) -> Option<Kind> {
        match s {
            "chain" => Some(Kind::Chain),
            "set" => Some(Kind::Set),
            "map" => Some(Kind::Map),
            "counter" => Some(Kind::Counter),
            _ => None,
        }
    }
    fn word(self) -> &'static str {
        match self {
            Kind::Chain => "chain",
            Kind::Set => "set",
            Kind::Map => "map",
            Kind::Counter => "counter",
        }
    }
}

/// One family's table, read from the rule text.
#[derive(Debug, Clone, Default, PartialEq)]
struct Table {
    /// The `add table` line.
    table_line: String,
    /// Named objects in text order, with their `add` line.
    objects: Vec<((Kind, String), String)>,
    /// Rule lines per chain, in order.
    rules: HashMap<String, Vec<String>>,
    /// Element lines per set or map, in order.
    elements: HashMap<String, Vec<String>>,
    rule_count: usize,
    /// Where each object is in `objects`.
    index: HashMap<(Kind, String), usize>,
}

impl Table {
    fn object(&self, kind: Kind, name: &str) -> Option<&str> {
        self.index
            .get(&(kind, name.to_string()))
            .map(|&i| self.objects[i].1.as_str())
    }
}

/// Reads the text of one family; refuses anything outside the owned table.
fn parse(family: Family, text: &str) -> Result<Table, ApplyError> {
    let fam = family_word(family);
    let mut t = Table::default();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad =
            |why: &str| ApplyError::Rules(format!("nftables rules line {}: {why}: {line}", n + 1));
        let mut words = line.splitn(5, ' ');
        let (cmd, kind, f, table) = (
            words.next().unwrap_or(""),
            words.next().unwrap_or(""),
            words.next().unwrap_or(""),
            words.next().unwrap_or(""),
        );
        let rest = words.next().unwrap_or("");
        if cmd != "add" {
            return Err(bad("only `add` commands are applied"));
        }
        if f != fam || table.split_whitespace().next() != Some(TABLE) {
            return Err(bad(&format!("the agent owns only table {fam} {TABLE}")));
        }
        let name = rest.split_whitespace().next().unwrap_or("").to_string();
        match kind {
            "table" => t.table_line = line.to_string(),
            "rule" => {
                t.rules.entry(name).or_default().push(line.to_string());
                t.rule_count += 1;
            }
            "element" => t.elements.entry(name).or_default().push(line.to_string()),
            k => match Kind::parse(k) {
                Some(k) if !name.is_empty() => {
                    t.index.insert((k, name.clone()), t.objects.len());
                    t.objects.push(((k, name), line.to_string()));
                }
                _ => return Err(bad("unknown object")),
            },
        }
    }
    if t.table_line.is_empty() && !(t.objects.is_empty() && t.rules.is_empty()) {
        return Err(ApplyError::Rules(format!(
            "nftables rules have no `add table {fam} {TABLE}` line"
        )));
    }
    Ok(t)
}

/// The key of an element line: what `delete element` needs (no comment, no value).
fn element_key(line: &str) -> Option<&str> {
    let body = line.split_once('{')?.1.rsplit_once('}')?.0.trim();
    let end = [body.find(" comment \""), body.find(" : ")]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(body.len());
    Some(body[..end].trim())
}

fn is_dynamic(def: &str) -> bool {
    def.contains("dynamic")
}

/// The names of the objects the kernel's table holds, from `nft list table`.
fn listed_objects(listing: &str) -> BTreeSet<(Kind, String)> {
    listing
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let (kind, rest) = l.split_once(' ')?;
            let name = rest.strip_suffix(" {")?;
            Some((Kind::parse(kind)?, name.to_string()))
        })
        .collect()
}

/// `nft list table` output in a canonical order: objects sorted by kind
/// and name, set and map elements one per line and sorted; rules keep their
/// order. The kernel lists objects in creation order, so the same ruleset
/// reached by different histories would otherwise list differently.
pub fn canonical(listing: &str) -> String {
    let mut head = Vec::new();
    let mut blocks: Vec<Vec<String>> = Vec::new();
    let mut block: Option<Vec<String>> = None;
    let mut elements: Option<String> = None;
    let mut tail = Vec::new();
    for line in listing.lines() {
        if let Some(acc) = elements.as_mut() {
            acc.push(' ');
            acc.push_str(line.trim());
            if line.trim_end().ends_with('}') {
                let all = elements.take().unwrap_or_default();
                push_elements(block.as_mut(), &all);
            }
            continue;
        }
        if let Some(b) = block.as_mut() {
            if line == "\t}" {
                b.push(line.to_string());
                blocks.extend(block.take());
            } else if line.trim_start().starts_with("elements = {") {
                if line.trim_end().ends_with('}') {
                    push_elements(Some(b), line);
                } else {
                    elements = Some(line.trim().to_string());
                }
            } else if !line.trim().is_empty() {
                b.push(line.to_string());
            }
            continue;
        }
        if line.starts_with('\t') && line.ends_with(" {") {
            block = Some(vec![line.to_string()]);
        } else if line == "}" {
            tail.push(line.to_string());
        } else if !line.trim().is_empty() {
            head.push(line.to_string());
        }
    }
    blocks.sort();
    let mut out = head.join("\n");
    for b in blocks {
        out.push('\n');
        out.push_str(&b.join("\n"));
    }
    for t in tail {
        out.push('\n');
        out.push_str(&t);
    }
    out.push('\n');
    out
}

fn push_elements(block: Option<&mut Vec<String>>, line: &str) {
    let Some(b) = block else { return };
    let inner = line
        .trim()
        .trim_start_matches("elements = {")
        .trim_end_matches('}')
        .trim();
    let mut items: Vec<&str> = inner
        .split(", ")
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .collect();
    items.sort_unstable();
    b.push("\t\telements = {".to_string());
    for i in items {
        b.push(format!("\t\t\t{i},"));
    }
    b.push("\t\t}".to_string());
}

/// The nftables applier.
#[derive(Debug, Default)]
pub struct Nftables {
    /// What was last applied successfully, per family.
    last: BTreeMap<Family, Table>,
}

impl Nftables {
    /// A new applier that knows nothing of the kernel yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn table_exists(family: Family) -> Result<bool, ApplyError> {
        let want = format!("table {} {TABLE}", family_word(family));
        Ok(run("nft", &["list", "tables"], None)?
            .lines()
            .any(|l| l.trim() == want))
    }

    fn full_tx(family: Family, t: &Table, kernel: &BTreeSet<(Kind, String)>) -> String {
        let fam = family_word(family);
        let mut tx = String::new();
        tx.push_str(&t.table_line);
        tx.push('\n');
        for (_, def) in &t.objects {
            tx.push_str(def);
            tx.push('\n');
        }
        for ((kind, name), def) in &t.objects {
            match kind {
                Kind::Chain => tx.push_str(&format!("flush chain {fam} {TABLE} {name}\n")),
                Kind::Set | Kind::Map if !is_dynamic(def) => {
                    tx.push_str(&format!("flush {} {fam} {TABLE} {name}\n", kind.word()))
                }
                _ => {}
            }
        }
        let stale: Vec<&(Kind, String)> = kernel
            .iter()
            .filter(|(k, n)| t.object(*k, n).is_none())
            .collect();
        for (kind, name) in &stale {
            if *kind == Kind::Chain {
                tx.push_str(&format!("flush chain {fam} {TABLE} {name}\n"));
            }
        }
        push_rules_and_elements(&mut tx, t, |_| true, |_| true);
        push_deletes(&mut tx, fam, stale.into_iter());
        tx
    }

    /// The transaction from `old` (in the kernel) to `new`; `None` when a
    /// definition changed and only a full sync can do it.
    fn partial_tx(family: Family, old: &Table, new: &Table) -> Option<String> {
        let fam = family_word(family);
        if old.table_line != new.table_line {
            return None;
        }
        let mut tx = String::new();
        let mut added = Vec::new();
        for ((kind, name), def) in &new.objects {
            match old.object(*kind, name) {
                Some(d) if d == def => {}
                Some(_) => return None,
                None => added.push(def.as_str()),
            }
        }
        let removed: Vec<(Kind, String)> = old
            .objects
            .iter()
            .filter(|((k, n), _)| new.object(*k, n).is_none())
            .map(|(key, _)| key.clone())
            .collect();
        let changed_chains: BTreeSet<String> = new
            .objects
            .iter()
            .filter(|((k, _), _)| *k == Kind::Chain)
            .map(|((_, n), _)| n)
            .filter(|n| old.rules.get(*n) != new.rules.get(*n))
            .cloned()
            .collect();
        if added.is_empty()
            && removed.is_empty()
            && changed_chains.is_empty()
            && old.elements == new.elements
        {
            return Some(String::new());
        }
        tx.push_str(&new.table_line);
        tx.push('\n');
        for def in added {
            tx.push_str(def);
            tx.push('\n');
        }
        for name in &changed_chains {
            tx.push_str(&format!("flush chain {fam} {TABLE} {name}\n"));
        }
        // Removed elements first, so that a changed value is a delete then an add.
        for (set, lines) in &old.elements {
            if removed.iter().any(|(_, n)| n == set) {
                continue;
            }
            let keep: HashSet<&String> = new.elements.get(set).into_iter().flatten().collect();
            for l in lines.iter().filter(|l| !keep.contains(l)) {
                let key = element_key(l)?;
                tx.push_str(&format!("delete element {fam} {TABLE} {set} {{ {key} }}\n"));
            }
        }
        let old_elements: HashMap<&String, HashSet<&String>> = old
            .elements
            .iter()
            .map(|(set, lines)| (set, lines.iter().collect()))
            .collect();
        push_rules_and_elements(
            &mut tx,
            new,
            |chain| changed_chains.contains(chain),
            |(set, line)| !old_elements.get(set).is_some_and(|o| o.contains(line)),
        );
        for (kind, name) in &removed {
            if *kind == Kind::Chain {
                tx.push_str(&format!("flush chain {fam} {TABLE} {name}\n"));
            }
        }
        push_deletes(&mut tx, fam, removed.iter());
        Some(tx)
    }
}

fn push_rules_and_elements(
    tx: &mut String,
    t: &Table,
    chain_wanted: impl Fn(&str) -> bool,
    element_wanted: impl Fn((&String, &String)) -> bool,
) {
    // Elements before rules: vmap elements name chains (already added),
    // rules name sets (already added); either order works, this one keeps
    // the text close to the dump's.
    for ((kind, name), _) in &t.objects {
        if matches!(kind, Kind::Set | Kind::Map) {
            for l in t.elements.get(name).into_iter().flatten() {
                if element_wanted((name, l)) {
                    tx.push_str(l);
                    tx.push('\n');
                }
            }
        }
    }
    for ((kind, name), _) in &t.objects {
        if *kind == Kind::Chain && chain_wanted(name) {
            for l in t.rules.get(name).into_iter().flatten() {
                tx.push_str(l);
                tx.push('\n');
            }
        }
    }
}

fn push_deletes<'a>(tx: &mut String, fam: &str, objs: impl Iterator<Item = &'a (Kind, String)>) {
    // Chains last but one: a stale chain may be named by a stale map's
    // elements only, which go with the map. Sets after chains: a stale
    // chain's (flushed) rules may have named them.
    let objs: Vec<&(Kind, String)> = objs.collect();
    for want in [Kind::Chain, Kind::Map, Kind::Set, Kind::Counter] {
        for (kind, name) in objs.iter().filter(|(k, _)| *k == want) {
            tx.push_str(&format!("delete {} {fam} {TABLE} {name}\n", kind.word()));
        }
    }
}

impl Applier for Nftables {
    fn check_support(&self) -> Result<(), ApplyError> {
        run("nft", &["list", "tables"], None)
            .map(|_| ())
            .map_err(|e| {
                ApplyError::Unsupported(format!(
                    "nftables mode needs the nft tool and nf_tables in the kernel: {e}"
                ))
            })
    }

    fn apply(&mut self, desired: &Desired, full: bool) -> Result<ApplyStats, ApplyError> {
        let mut stats = ApplyStats::default();
        for (family, text) in &desired.texts {
            let family = *family;
            let new = parse(family, text)?;
            stats.rules.push((family, new.rule_count));
            let partial = match (full, self.last.get(&family)) {
                (false, Some(old)) => Self::partial_tx(family, old, &new),
                _ => None,
            };
            let (tx, kind) = match partial {
                Some(tx) if tx.is_empty() => continue,
                Some(tx) => (tx, ApplyKind::Partial),
                None => {
                    let kernel = if Self::table_exists(family)? {
                        listed_objects(&run(
                            "nft",
                            &["list", "table", family_word(family), TABLE],
                            None,
                        )?)
                    } else {
                        BTreeSet::new()
                    };
                    (Self::full_tx(family, &new, &kernel), ApplyKind::Full)
                }
            };
            // Forget the old state first: if this apply fails or is killed,
            // the next one must be full.
            self.last.remove(&family);
            stats.bytes += tx.len();
            if let Err(e) = run("nft", &["-f", "-"], Some(&tx)) {
                if kind != ApplyKind::Full {
                    return Err(e);
                }
                // The kernel refused to change a definition in place:
                // replace the whole table, still in one transaction.
                let fam = family_word(family);
                let recreate =
                    format!("add table {fam} {TABLE}\ndelete table {fam} {TABLE}\n{text}\n");
                stats.bytes += recreate.len();
                run("nft", &["-f", "-"], Some(&recreate))
                    .map_err(|e2| ApplyError::Tool(format!("{e}; recreating the table: {e2}")))?;
            }
            if kind == ApplyKind::Full || stats.kind == ApplyKind::Noop {
                stats.kind = kind;
            }
            self.last.insert(family, new);
        }
        Ok(stats)
    }

    fn apply_delta(&mut self, delta: &Desired) -> Result<ApplyStats, ApplyError> {
        self.last.clear();
        // Every family's part in one transaction: all or nothing.
        let tx: String = delta.texts.iter().map(|(_, t)| t.as_str()).collect();
        if tx.is_empty() {
            return Ok(ApplyStats::default());
        }
        run("nft", &["-f", "-"], Some(&tx))?;
        Ok(ApplyStats {
            kind: ApplyKind::Partial,
            bytes: tx.len(),
            rules: Vec::new(),
        })
    }

    fn current(&self, family: Family) -> Result<String, ApplyError> {
        if !Self::table_exists(family)? {
            return Ok(String::new());
        }
        Ok(canonical(&run(
            "nft",
            &["list", "table", family_word(family), TABLE],
            None,
        )?))
    }

    fn preview(&self, family: Family, text: &str) -> Result<String, ApplyError> {
        let t = parse(family, text)?;
        if t.table_line.is_empty() {
            return Ok(String::new());
        }
        let script = format!("nft -f - && nft list table {} {TABLE}", family_word(family));
        Ok(canonical(&run_in_scratch_netns(
            &script,
            &Self::full_tx(family, &t, &BTreeSet::new()),
        )?))
    }

    fn cleanup(&mut self) -> Result<(), ApplyError> {
        self.last.clear();
        let mut tx = String::new();
        for f in [Family::V4, Family::V6] {
            if Self::table_exists(f)? {
                tx.push_str(&format!("delete table {} {TABLE}\n", family_word(f)));
            }
        }
        if !tx.is_empty() {
            run("nft", &["-f", "-"], Some(&tx))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "add table ip kube-proxy { comment \"rules for kube-proxy\" ; }
add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }
add set ip kube-proxy affinity-X { type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; }
add chain ip kube-proxy services
add chain ip kube-proxy service-A
add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips
add rule ip kube-proxy service-A meta l4proto tcp dnat to 10.1.0.2:80
add element ip kube-proxy service-ips { 10.96.0.1 . tcp . 80 comment \"ns/a:p\" : goto service-A }
";

    #[test]
    fn element_keys_drop_comment_and_value() {
        assert_eq!(
            element_key(
                "add element ip kube-proxy m { 10.96.0.1 . tcp . 80 comment \"ns/a:p\" : goto x }"
            ),
            Some("10.96.0.1 . tcp . 80")
        );
        assert_eq!(
            element_key("add element ip kube-proxy s { 10.0.0.1 }"),
            Some("10.0.0.1")
        );
    }

    #[test]
    fn full_sync_keeps_dynamic_sets_and_deletes_stale() {
        let t = parse(Family::V4, A).unwrap();
        let kernel = BTreeSet::from([(Kind::Chain, "service-OLD".to_string())]);
        let tx = Nftables::full_tx(Family::V4, &t, &kernel);
        assert!(tx.contains("flush map ip kube-proxy service-ips\n"));
        assert!(!tx.contains("flush set ip kube-proxy affinity-X"));
        assert!(tx.ends_with("delete chain ip kube-proxy service-OLD\n"));
    }

    #[test]
    fn partial_sync_sends_only_the_difference() {
        let old = parse(Family::V4, A).unwrap();
        assert_eq!(
            Nftables::partial_tx(Family::V4, &old, &old),
            Some(String::new())
        );
        let b = A.replace("10.1.0.2:80", "10.1.0.3:80");
        let new = parse(Family::V4, &b).unwrap();
        let tx = Nftables::partial_tx(Family::V4, &old, &new).unwrap();
        assert_eq!(
            tx,
            "add table ip kube-proxy { comment \"rules for kube-proxy\" ; }\n\
             flush chain ip kube-proxy service-A\n\
             add rule ip kube-proxy service-A meta l4proto tcp dnat to 10.1.0.3:80\n"
        );
    }

    #[test]
    fn canonical_listing_ignores_creation_order() {
        let a = "table ip kube-proxy {\n\tchain b {\n\t\tjump a\n\t}\n\n\tset s {\n\t\ttype ipv4_addr\n\t\telements = { 10.0.0.2,\n\t\t\t     10.0.0.1 }\n\t}\n\n\tchain a {\n\t}\n}\n";
        let b = "table ip kube-proxy {\n\tchain a {\n\t}\n\n\tchain b {\n\t\tjump a\n\t}\n\n\tset s {\n\t\ttype ipv4_addr\n\t\telements = { 10.0.0.1, 10.0.0.2 }\n\t}\n}\n";
        assert_eq!(canonical(a), canonical(b));
        assert!(canonical(a).contains("\t\t\t10.0.0.1,\n\t\t\t10.0.0.2,\n"));
    }

    #[test]
    fn foreign_tables_are_refused() {
        assert!(parse(Family::V4, "add table inet filter\n").is_err());
        assert!(parse(Family::V4, "add table ip6 kube-proxy\n").is_err());
        assert!(parse(Family::V4, "delete table ip kube-proxy\n").is_err());
    }
}
