//! A new connection walked through the typed ruleset.
//!
//! The walk follows kube-proxy's own test tracer, so that its outcome string
//! is the one the upstream tests assert: nat PREROUTING (OUTPUT when the
//! source is a local address) into KUBE-SERVICES; then, with the DNAT
//! address as destination, the filter chains KUBE-SERVICES,
//! KUBE-EXTERNAL-SERVICES, KUBE-NODEPORTS and KUBE-PROXY-FIREWALL; finally
//! nat POSTROUTING, which shows the masquerade. The tracer has no
//! connection state: rules testing `--ctstate`, `--rcheck` or (before
//! POSTROUTING) `--mark` never match. Statistic matches split the packet:
//! each branch is walked with its share, so every endpoint of a service is
//! listed with its probability.

use super::build::{
    KUBE_EXTERNAL_SERVICES, KUBE_MARK_MASQ, KUBE_NODEPORTS, KUBE_PROXY_FIREWALL, KUBE_SERVICES,
};
use super::model::{AddrSide, Match, Rule, Ruleset, TableName, Target};
use crate::trace::{EndpointShare, Packet, Step, TraceResult};
use std::net::IpAddr;

/// Deepest chain nesting followed (kube-proxy's rulesets nest 5 deep).
const MAX_DEPTH: usize = 16;

struct Walker<'a> {
    rs: &'a Ruleset,
    local: &'a [IpAddr],
    packet: &'a Packet,
    dst: IpAddr,
    /// Marked for masquerade (KUBE-MARK-MASQ was hit).
    masq: bool,
    /// `--mark` is evaluated (POSTROUTING), rather than never matching.
    marks_known: bool,
    /// What the walk recorded, with the share of the packet that got there.
    records: Vec<(String, f64, Option<std::net::SocketAddr>)>,
    path: Vec<Step>,
}

impl Walker<'_> {
    fn is_local(&self, ip: &IpAddr) -> bool {
        self.local.contains(ip)
    }

    fn matches(&self, rule: &Rule) -> bool {
        let p = self.packet;
        rule.matches.iter().all(|m| match m {
            Match::Comment(_) | Match::Nfacct(_) | Match::Probability(_) | Match::RecentSet(_) => {
                true
            }
            Match::Protocol(proto) => *proto == p.protocol,
            Match::Source { negated, addr } => addr.contains(&p.src) != *negated,
            Match::InInterface { negated, name } => {
                Match::interface_matches(name, p.in_interface.as_deref()) != *negated
            }
            Match::Destination { negated, addr } => addr.contains(&self.dst) != *negated,
            Match::DestPort(port) => *port == p.port,
            Match::AddrTypeLocal(AddrSide::Src) => self.is_local(&p.src),
            Match::AddrTypeLocal(AddrSide::Dst) => self.is_local(&self.dst),
            Match::RecentCheck { .. } | Match::CtState { .. } => false,
            Match::Mark { negated, .. } => self.marks_known && (self.masq != *negated),
        })
    }

    fn step(&mut self, table: TableName, chain: &str, rule: &Rule) {
        self.path.push(Step {
            table: table.as_str().into(),
            chain: chain.into(),
            rule: rule.to_string(),
        });
    }

    /// Walks `rules` of `chain`; true when a recording target ended it.
    fn walk_rules<'r>(
        &mut self,
        table: TableName,
        chain: &str,
        rules: impl Iterator<Item = &'r Rule>,
        mut share: f64,
        depth: usize,
    ) -> bool {
        for rule in rules {
            let Some(target) = &rule.target else { continue };
            if !self.matches(rule) {
                continue;
            }
            self.step(table, chain, rule);
            let record = |w: &mut Self, what: String, to| {
                w.records.push((what, share, to));
                true
            };
            match target {
                Target::Jump(c) if c == KUBE_MARK_MASQ => self.masq = true,
                Target::Accept => return record(self, "ACCEPT".into(), None),
                Target::Drop => return record(self, "DROP".into(), None),
                Target::Reject => return record(self, "REJECT".into(), None),
                Target::Dnat(to) => return record(self, to.to_string(), Some(*to)),
                Target::Return | Target::Masquerade { .. } => return false,
                Target::MarkOr(_) => self.masq = true,
                Target::MarkXor(_) => {}
                Target::Jump(next) => {
                    let p = rule.probability_n().map(Match::probability);
                    let ended = self.walk(table, next, share * p.unwrap_or(1.0), depth + 1);
                    match p {
                        Some(p) => share *= 1.0 - p,
                        None if ended => return true,
                        None => {}
                    }
                }
            }
        }
        false
    }

    fn walk(&mut self, table: TableName, chain: &str, share: f64, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        let rs = self.rs;
        let Some(c) = rs.chain(table, chain) else {
            return false;
        };
        self.walk_rules(table, chain, c.rules.iter(), share, depth)
    }

    /// A built-in chain: kube-proxy's jumps, in kernel order (each was
    /// prepended, so the last one inserted comes first).
    fn walk_builtin(&mut self, table: TableName, chain: &str) -> bool {
        let rs = self.rs;
        let rules: Vec<&Rule> = rs
            .jumps
            .iter()
            .rev()
            .filter(|j| j.table == table && j.chain == chain)
            .map(|j| &j.rule)
            .collect();
        self.walk_rules(table, chain, rules.into_iter(), 1.0, 0)
    }
}

/// Traces `packet` through `rs`; `local` are the node's local addresses.
pub fn trace(rs: &Ruleset, local: &[IpAddr], packet: &Packet) -> TraceResult {
    let mut w = Walker {
        rs,
        local,
        packet,
        dst: packet.dst,
        masq: false,
        marks_known: false,
        records: Vec::new(),
        path: Vec::new(),
    };
    let entry = if local.contains(&packet.src) {
        "OUTPUT"
    } else {
        "PREROUTING"
    };
    w.walk_builtin(TableName::Nat, entry);
    if let Some(to) = w.records.first().and_then(|r| r.2) {
        w.dst = to.ip();
    }
    for chain in [
        KUBE_SERVICES,
        KUBE_EXTERNAL_SERVICES,
        KUBE_NODEPORTS,
        KUBE_PROXY_FIREWALL,
    ] {
        w.walk(TableName::Filter, chain, 1.0, 0);
    }
    let masquerade = w.masq;
    let dropped = w.records.iter().any(|r| r.0 == "DROP" || r.0 == "REJECT");
    if !dropped {
        w.marks_known = true;
        w.walk_builtin(TableName::Nat, "POSTROUTING");
    }
    let mut endpoints: Vec<EndpointShare> = Vec::new();
    for (text, share, to) in &w.records {
        if to.is_none() {
            continue;
        }
        match endpoints.iter_mut().find(|e| &e.endpoint == text) {
            Some(e) => e.probability += share,
            None => endpoints.push(EndpointShare {
                endpoint: text.clone(),
                probability: *share,
            }),
        }
    }
    let outcome = w
        .records
        .iter()
        .map(|r| r.0.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let mut notes = Vec::new();
    let affinity = w.path.iter().any(|st| {
        rs.chain(TableName::Nat, &st.chain).is_some_and(|c| {
            c.rules.iter().any(|r| {
                r.matches
                    .iter()
                    .any(|m| matches!(m, Match::RecentCheck { .. }))
            })
        })
    });
    if affinity && !endpoints.is_empty() {
        notes.push(
            "ClientIP affinity: a client seen within the timeout goes back to its previous endpoint"
                .into(),
        );
    }
    TraceResult {
        outcome,
        masquerade,
        endpoints,
        path: w.path,
        notes,
    }
}
