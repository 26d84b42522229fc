//! The IPVS delta: what kube-proxy's IPVS proxier changes on a sync
//! (pkg/proxy/ipvs/proxier.go, `syncProxyRules` → `syncService` adds or
//! updates virtual servers, `syncEndpoint` adds and deletes real servers,
//! `cleanLegacyService` deletes the virtual servers that are gone; the
//! ipsets are refreshed entry by entry by `syncIPSetEntries`; unbinding and
//! binding `kube-ipvs0` addresses follows the virtual servers).
//!
//! The iptables rules of IPVS mode match ipsets, not Services; when they do
//! change (settings), the family's whole iptables payload is in the delta.

use crate::config::IpFamily;
use crate::proxy::ipvs::model::{
    FamilyRuleset, IpSet, IpvsRuleset, RealServer, SetEntry, Table, VirtualServer,
};
use crate::table::Protocol;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write};
use std::net::{IpAddr, SocketAddr};

/// A virtual server's identity in the kernel: protocol and address.
pub type VsKey = (Protocol, SocketAddr);

fn key(v: &VirtualServer) -> VsKey {
    (v.protocol, v.addr())
}

/// One family's changes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FamilyDelta {
    /// The family.
    pub family: IpFamily,
    /// New virtual servers, with their real servers.
    pub added: Vec<VirtualServer>,
    /// Virtual servers that stay with changed options (scheduler,
    /// persistence, flags; real servers in `real_added` / `real_removed`).
    pub edited: Vec<VirtualServer>,
    /// Virtual servers that are gone.
    pub deleted: Vec<VsKey>,
    /// Real servers added to virtual servers that stay.
    pub real_added: Vec<(VsKey, RealServer)>,
    /// Real servers re-weighted in virtual servers that stay.
    pub real_edited: Vec<(VsKey, RealServer)>,
    /// Real servers removed from virtual servers that stay.
    pub real_removed: Vec<(VsKey, SocketAddr)>,
    /// New ipsets (created, then filled through `entries_added`).
    pub sets_created: Vec<IpSet>,
    /// ipsets that are gone.
    pub sets_destroyed: Vec<String>,
    /// Entries added: set, entry.
    pub entries_added: Vec<(String, SetEntry)>,
    /// Entries removed: set, entry.
    pub entries_removed: Vec<(String, SetEntry)>,
    /// The iptables tables, when they changed.
    pub iptables: Option<Vec<Table>>,
    /// Addresses to bind to kube-ipvs0.
    pub addresses_added: Vec<IpAddr>,
    /// Addresses to unbind.
    pub addresses_removed: Vec<IpAddr>,
}

impl FamilyDelta {
    fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.edited.is_empty()
            && self.deleted.is_empty()
            && self.real_added.is_empty()
            && self.real_edited.is_empty()
            && self.real_removed.is_empty()
            && self.sets_created.is_empty()
            && self.sets_destroyed.is_empty()
            && self.entries_added.is_empty()
            && self.entries_removed.is_empty()
            && self.iptables.is_none()
            && self.addresses_added.is_empty()
            && self.addresses_removed.is_empty()
    }
}

/// The delta between two IPVS rulesets.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Delta {
    /// The families that changed.
    pub families: Vec<FamilyDelta>,
}

impl Delta {
    /// Nothing changed.
    pub fn is_empty(&self) -> bool {
        self.families.is_empty()
    }

    /// (servers and entries added, removed): virtual and real servers,
    /// ipset entries.
    pub fn counts(&self) -> (usize, usize) {
        let mut c = (0, 0);
        for f in &self.families {
            c.0 += f
                .added
                .iter()
                .map(|v| 1 + v.real_servers.len())
                .sum::<usize>()
                + f.real_added.len()
                + f.real_edited.len()
                + f.entries_added.len();
            c.1 += f.deleted.len() + f.real_removed.len() + f.entries_removed.len();
        }
        c
    }
}

/// The delta from `old` to `new`.
pub fn diff(old: &IpvsRuleset, new: &IpvsRuleset) -> Delta {
    let mut families = Vec::new();
    for n in &new.families {
        let d = match old.families.iter().find(|o| o.family == n.family) {
            Some(o) => diff_family(o, n),
            None => diff_family(&nothing(n.family), n),
        };
        if !d.is_empty() {
            families.push(d);
        }
    }
    // A family the new snapshot no longer has (an IPv4-only cluster become
    // IPv6-only): everything of it goes.
    for o in &old.families {
        if !new.families.iter().any(|n| n.family == o.family) {
            let d = diff_family(o, &nothing(o.family));
            if !d.is_empty() {
                families.push(d);
            }
        }
    }
    Delta { families }
}

/// A family with nothing programmed.
fn nothing(family: IpFamily) -> FamilyRuleset {
    FamilyRuleset {
        family,
        virtual_servers: Vec::new(),
        ipsets: Vec::new(),
        tables: Vec::new(),
        jumps: Vec::new(),
        bound_addresses: Vec::new(),
        node_port_addresses: Vec::new(),
    }
}

/// Nothing of the family is programmed (what a delta can take away).
fn is_bare(f: &FamilyRuleset) -> bool {
    f.virtual_servers.is_empty()
        && f.ipsets.is_empty()
        && f.tables.is_empty()
        && f.bound_addresses.is_empty()
}

fn header(v: &VirtualServer) -> VirtualServer {
    VirtualServer {
        real_servers: Vec::new(),
        ..v.clone()
    }
}

fn diff_family(o: &FamilyRuleset, n: &FamilyRuleset) -> FamilyDelta {
    let mut d = FamilyDelta {
        family: n.family,
        added: Vec::new(),
        edited: Vec::new(),
        deleted: Vec::new(),
        real_added: Vec::new(),
        real_edited: Vec::new(),
        real_removed: Vec::new(),
        sets_created: Vec::new(),
        sets_destroyed: Vec::new(),
        entries_added: Vec::new(),
        entries_removed: Vec::new(),
        iptables: (o.tables != n.tables).then(|| n.tables.clone()),
        addresses_added: Vec::new(),
        addresses_removed: Vec::new(),
    };
    let old_vs: BTreeMap<VsKey, &VirtualServer> =
        o.virtual_servers.iter().map(|v| (key(v), v)).collect();
    let new_vs: BTreeMap<VsKey, &VirtualServer> =
        n.virtual_servers.iter().map(|v| (key(v), v)).collect();
    for (k, v) in &new_vs {
        let Some(ov) = old_vs.get(k) else {
            d.added.push((*v).clone());
            continue;
        };
        if header(ov) != header(v) {
            d.edited.push(header(v));
        }
        let old_rs: BTreeMap<SocketAddr, &RealServer> =
            ov.real_servers.iter().map(|r| (r.addr(), r)).collect();
        let new_rs: BTreeMap<SocketAddr, &RealServer> =
            v.real_servers.iter().map(|r| (r.addr(), r)).collect();
        for (a, r) in &new_rs {
            match old_rs.get(a) {
                None => d.real_added.push((*k, (*r).clone())),
                Some(or) if or != r => d.real_edited.push((*k, (*r).clone())),
                Some(_) => {}
            }
        }
        for a in old_rs.keys().filter(|a| !new_rs.contains_key(a)) {
            d.real_removed.push((*k, *a));
        }
    }
    d.deleted = old_vs
        .keys()
        .filter(|k| !new_vs.contains_key(k))
        .copied()
        .collect();
    for s in &n.ipsets {
        let old_entries: BTreeSet<&SetEntry> = match o.ipsets.iter().find(|os| os.name == s.name) {
            Some(os) => os.entries.iter().collect(),
            None => {
                d.sets_created.push(IpSet {
                    entries: Vec::new(),
                    ..s.clone()
                });
                BTreeSet::new()
            }
        };
        let new_entries: BTreeSet<&SetEntry> = s.entries.iter().collect();
        d.entries_added.extend(
            new_entries
                .difference(&old_entries)
                .map(|e| (s.name.clone(), (*e).clone())),
        );
        d.entries_removed.extend(
            old_entries
                .difference(&new_entries)
                .map(|e| (s.name.clone(), (*e).clone())),
        );
    }
    d.sets_destroyed = o
        .ipsets
        .iter()
        .filter(|s| !n.ipsets.iter().any(|ns| ns.name == s.name))
        .map(|s| s.name.clone())
        .collect();
    let old_addrs: BTreeSet<&IpAddr> = o.bound_addresses.iter().collect();
    let new_addrs: BTreeSet<&IpAddr> = n.bound_addresses.iter().collect();
    d.addresses_added = new_addrs.difference(&old_addrs).map(|a| **a).collect();
    d.addresses_removed = old_addrs.difference(&new_addrs).map(|a| **a).collect();
    d
}

fn service_flag(p: Protocol) -> &'static str {
    match p {
        Protocol::TCP => "-t",
        Protocol::UDP => "-u",
        Protocol::SCTP => "--sctp-service",
    }
}

/// Each tool's input, under the `#` section lines `render` uses:
/// `ipvsadm-restore` commands, `ipset restore -exist` lines, the
/// `iptables-restore --noflush` payload, `ip -batch` lines.
impl fmt::Display for Delta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.families {
            write_family(f, d)?;
        }
        Ok(())
    }
}

fn write_family(f: &mut impl Write, d: &FamilyDelta) -> fmt::Result {
    let fam = d.family;
    if !(d.added.is_empty()
        && d.edited.is_empty()
        && d.deleted.is_empty()
        && d.real_added.is_empty()
        && d.real_edited.is_empty()
        && d.real_removed.is_empty())
    {
        writeln!(f, "# ---- {fam} ipvs: ipvsadm-restore")?;
        for (p, a) in &d.deleted {
            writeln!(f, "-D {} {a}", service_flag(*p))?;
        }
        for ((p, a), r) in &d.real_removed {
            writeln!(f, "-d {} {a} -r {r}", service_flag(*p))?;
        }
        for v in &d.edited {
            let line = v.to_string();
            // `-A …` of the header line is `-E …` for a server that stays.
            writeln!(
                f,
                "-E{}",
                line.trim_end().strip_prefix("-A").unwrap_or(&line)
            )?;
        }
        for v in &d.added {
            write!(f, "{v}")?;
        }
        for ((p, a), r) in &d.real_added {
            writeln!(
                f,
                "-a {} {a} -r {} -m -w {}",
                service_flag(*p),
                r.addr(),
                r.weight
            )?;
        }
        for ((p, a), r) in &d.real_edited {
            writeln!(
                f,
                "-e {} {a} -r {} -m -w {}",
                service_flag(*p),
                r.addr(),
                r.weight
            )?;
        }
    }
    if !(d.sets_created.is_empty()
        && d.sets_destroyed.is_empty()
        && d.entries_added.is_empty()
        && d.entries_removed.is_empty())
    {
        writeln!(f, "# ---- {fam} ipset: ipset restore -exist")?;
        for s in &d.sets_created {
            writeln!(f, "{}", s.create_line())?;
        }
        for (s, e) in &d.entries_removed {
            writeln!(f, "del {s} {e}")?;
        }
        for (s, e) in &d.entries_added {
            writeln!(f, "add {s} {e}")?;
        }
        for s in &d.sets_destroyed {
            writeln!(f, "destroy {s}")?;
        }
    }
    if let Some(tables) = &d.iptables {
        let tool = match fam {
            IpFamily::IPv4 => "iptables-restore",
            IpFamily::IPv6 => "ip6tables-restore",
        };
        writeln!(f, "# ---- {fam} iptables: {tool} --noflush")?;
        let fr = FamilyRuleset {
            tables: tables.clone(),
            ..nothing(fam)
        };
        f.write_str(&crate::proxy::ipvs::render::iptables_text(&fr, false))?;
    }
    if !(d.addresses_added.is_empty() && d.addresses_removed.is_empty()) {
        writeln!(f, "# ---- {fam} addresses: ip -batch")?;
        for ip in &d.addresses_removed {
            writeln!(
                f,
                "addr del {ip}/{} dev kube-ipvs0",
                if ip.is_ipv4() { 32 } else { 128 }
            )?;
        }
        for ip in &d.addresses_added {
            writeln!(
                f,
                "addr add {ip}/{} dev kube-ipvs0",
                if ip.is_ipv4() { 32 } else { 128 }
            )?;
        }
    }
    Ok(())
}

/// Applies a delta to a ruleset, as the tools would.
pub fn apply(old: &IpvsRuleset, delta: &Delta) -> IpvsRuleset {
    let mut rs = old.clone();
    for d in &delta.families {
        let fr = match rs.families.iter().position(|f| f.family == d.family) {
            Some(i) => &mut rs.families[i],
            None => {
                rs.families.push(nothing(d.family));
                let last = rs.families.len() - 1;
                &mut rs.families[last]
            }
        };
        fr.virtual_servers.retain(|v| !d.deleted.contains(&key(v)));
        for e in &d.edited {
            if let Some(v) = fr.virtual_servers.iter_mut().find(|v| key(v) == key(e)) {
                let reals = std::mem::take(&mut v.real_servers);
                *v = VirtualServer {
                    real_servers: reals,
                    ..e.clone()
                };
            }
        }
        for (k, a) in &d.real_removed {
            if let Some(v) = fr.virtual_servers.iter_mut().find(|v| key(v) == *k) {
                v.real_servers.retain(|r| r.addr() != *a);
            }
        }
        for (k, r) in d.real_added.iter().chain(&d.real_edited) {
            if let Some(v) = fr.virtual_servers.iter_mut().find(|v| key(v) == *k) {
                v.real_servers.retain(|o| o.addr() != r.addr());
                v.real_servers.push(r.clone());
            }
        }
        fr.virtual_servers.extend(d.added.iter().cloned());
        fr.ipsets.retain(|s| !d.sets_destroyed.contains(&s.name));
        fr.ipsets.extend(d.sets_created.iter().cloned());
        for s in &mut fr.ipsets {
            s.entries.retain(|e| {
                !d.entries_removed
                    .iter()
                    .any(|(n, r)| *n == s.name && r == e)
            });
            s.entries.extend(
                d.entries_added
                    .iter()
                    .filter(|(n, _)| *n == s.name)
                    .map(|(_, e)| e.clone()),
            );
        }
        if let Some(t) = &d.iptables {
            fr.tables = t.clone();
        }
        fr.bound_addresses
            .retain(|a| !d.addresses_removed.contains(a));
        fr.bound_addresses.extend(d.addresses_added.iter().copied());
    }
    // A family the delta emptied is gone (the builder never makes a bare one).
    rs.families.retain(|f| !is_bare(f));
    rs
}

/// Virtual servers, real servers, entries and addresses in one order; the
/// kernel keeps none.
pub fn normalize(rs: &IpvsRuleset) -> IpvsRuleset {
    let mut rs = rs.clone();
    rs.families.sort_by_key(|f| f.family == IpFamily::IPv6);
    for fr in &mut rs.families {
        fr.virtual_servers.sort_by_key(key);
        for v in &mut fr.virtual_servers {
            v.real_servers.sort();
        }
        fr.ipsets.sort_by(|a, b| a.name.cmp(&b.name));
        for s in &mut fr.ipsets {
            s.entries.sort();
        }
        fr.bound_addresses.sort();
        // What the delta does not carry: kube-proxy programs it at start-up.
        fr.jumps.clear();
        fr.node_port_addresses.clear();
    }
    rs
}
