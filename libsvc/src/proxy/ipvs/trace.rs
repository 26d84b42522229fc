//! A new connection walked through the IPVS-mode model: nat
//! `PREROUTING` (or `OUTPUT` for a packet from the node itself) into
//! `KUBE-SERVICES`; then, as the kernel routes it, either (a local
//! destination: a node address, or one bound to kube-ipvs0) the filter
//! chains on the way in, the IPVS virtual server and the real server its
//! scheduler picks, or (any other destination: IPVS never sees it) the
//! filter `FORWARD` chain; then `KUBE-POSTROUTING`.
//!
//! Assumptions, stated in the result's notes where they matter: the packet
//! does not come in through a bridge port (`physdev`), and real servers were
//! added in the order svcgen renders them (kube-proxy adds them in Go map
//! order, which decides the kernel's destination list order).

use super::build::build;
use super::model::*;
use crate::Loaded;
use crate::config::IpFamily;
use crate::render::RenderError;
use crate::trace::{EndpointShare, Packet, Step, TraceResult};
use std::net::IpAddr;

/// What a chain walk ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Fell off the end or RETURNed: the calling chain goes on.
    Continue,
    Accept,
    Drop,
    Reject,
    Masquerade,
}

/// The walk's state: the packet, the node's local addresses, the mark.
struct Walk<'a> {
    fr: &'a FamilyRuleset,
    packet: &'a Packet,
    local: Vec<IpAddr>,
    mark: u32,
    path: Vec<Step>,
    /// The destination after IPVS picked a real server (for KUBE-LOOP-BACK).
    dnat: Option<(IpAddr, u16)>,
}

impl Walk<'_> {
    /// `--dst-type LOCAL` / the kernel's local routing table: the node's
    /// addresses, those bound to kube-ipvs0, and all of loopback.
    fn is_local(&self, ip: IpAddr) -> bool {
        ip.is_loopback() || self.local.contains(&ip)
    }

    fn set(&self, name: &str) -> Option<&IpSet> {
        self.fr.ipsets.iter().find(|s| s.name == name)
    }

    /// `-m set --match-set NAME DIRS` for this packet.
    fn in_set(&self, name: &str, dirs: &str) -> bool {
        let Some(set) = self.set(name) else {
            return false;
        };
        let p = self.packet;
        let (dst, dport) = self.dnat.unwrap_or((p.dst, p.port));
        let pick = |d: &str| if d == "src" { p.src } else { dst };
        let dirs: Vec<&str> = dirs.split(',').collect();
        set.entries.iter().any(|e| match (e, dirs.as_slice()) {
            (SetEntry::Ip(ip), [d, ..]) => *ip == pick(d),
            (SetEntry::Port(port), _) => *port == dport,
            (SetEntry::IpPort(ip, proto, port), [d, ..]) => {
                *ip == pick(d) && *proto == p.protocol && *port == dport
            }
            (SetEntry::IpPortIp(ip, proto, port, ip2), [d, _, d3]) => {
                *ip == pick(d) && *proto == p.protocol && *port == dport && *ip2 == pick(d3)
            }
            (SetEntry::IpPortNet(ip, proto, port, net), [d, _, d3]) => {
                *ip == pick(d) && *proto == p.protocol && *port == dport && net.contains(&pick(d3))
            }
            _ => false,
        })
    }

    fn matches(&self, m: &Match) -> bool {
        let p = self.packet;
        match m {
            Match::Source { net, negated } => net.contains(&p.src) != *negated,
            Match::SourceIp(ip) => *ip == p.src,
            Match::InInterface { name, negated } => {
                crate::proxy::iptables::model::Match::interface_matches(
                    name,
                    p.in_interface.as_deref(),
                ) != *negated
            }
            Match::Protocol(proto) => *proto == p.protocol,
            Match::Comment(_) => true,
            Match::Set { name, dirs } => self.in_set(name, dirs),
            // Assumed: not bridged.
            Match::NotPhysdevIsIn => true,
            Match::AddrTypeLocal { dst, negated } => {
                let addr = if *dst { p.dst } else { p.src };
                self.is_local(addr) != *negated
            }
            Match::Mark { mark, negated } => (self.mark & mark == *mark) != *negated,
            Match::CtState(states) => states.split(',').any(|s| s == "NEW"),
            Match::Ipvs {
                vaddr,
                vproto,
                vport,
            } => *vaddr == p.dst && *vproto == p.protocol && *vport == p.port,
        }
    }

    /// Walks `chain` of `table`, recording every rule that matched.
    fn chain(&mut self, table: &'static str, chain: &str, depth: usize) -> Verdict {
        let Some(t) = self.fr.tables.iter().find(|t| t.name == table) else {
            return Verdict::Continue;
        };
        if depth > 8 {
            return Verdict::Continue;
        }
        for rule in t.rules.iter().filter(|r| r.chain == chain) {
            if !rule.matches.iter().all(|m| self.matches(m)) {
                continue;
            }
            self.path.push(Step {
                table: table.into(),
                chain: chain.into(),
                rule: rule.to_string(),
            });
            match &rule.target {
                Target::Jump(next) => match self.chain(table, next, depth + 1) {
                    Verdict::Continue => {}
                    v => return v,
                },
                Target::Accept => return Verdict::Accept,
                Target::Return => return Verdict::Continue,
                Target::Drop => return Verdict::Drop,
                Target::Reject => return Verdict::Reject,
                Target::Masquerade { .. } => return Verdict::Masquerade,
                Target::MarkOr(m) => self.mark |= m,
                Target::MarkXor(m) => self.mark ^= m,
            }
        }
        Verdict::Continue
    }

    /// A jump from a built-in chain, recorded, then the kube-proxy chain.
    fn hook(&mut self, table: &'static str, from: &str, to: &str) -> Verdict {
        let Some(j) = self
            .fr
            .jumps
            .iter()
            .find(|j| j.table == table && j.from == from && j.to == to)
        else {
            return Verdict::Continue;
        };
        self.path.push(Step {
            table: table.into(),
            chain: from.into(),
            rule: j.to_string().replacen("-I ", "-A ", 1),
        });
        self.chain(table, to, 0)
    }
}

/// `svcgen trace --mode ipvs`.
pub fn trace(loaded: &Loaded, packet: &Packet) -> Result<TraceResult, RenderError> {
    let rs = build(&loaded.table, &loaded.settings).map_err(|e| RenderError::Invalid(e.0))?;
    let family = IpFamily::of(&packet.dst);
    if IpFamily::of(&packet.src) != family {
        return Err(RenderError::Invalid(
            "--src and --dst must be of the same IP family".into(),
        ));
    }
    let Some(fr) = rs.families.iter().find(|f| f.family == family) else {
        return Err(RenderError::Invalid(format!(
            "no {family} proxier (see --ip-family)"
        )));
    };
    Ok(trace_family(
        fr,
        &loaded.settings.node.local_ips(family),
        packet,
    ))
}

/// The trace through one proxier's model; `node_local` are the node's own
/// addresses (loopback included).
pub fn trace_family(fr: &FamilyRuleset, node_local: &[IpAddr], packet: &Packet) -> TraceResult {
    let mut local = node_local.to_vec();
    local.extend(fr.bound_addresses.iter().copied());
    let from_node = packet.src.is_loopback() || local.contains(&packet.src);
    let mut w = Walk {
        fr,
        packet,
        local,
        mark: 0,
        path: Vec::new(),
        dnat: None,
    };
    let mut notes = Vec::new();
    let finish =
        |w: Walk, outcome: &str, endpoints: Vec<EndpointShare>, notes: Vec<String>| TraceResult {
            outcome: outcome.into(),
            masquerade: false,
            endpoints,
            path: w.path,
            notes,
        };

    // nat: PREROUTING (from outside) or OUTPUT (from the node) → KUBE-SERVICES.
    let nat_hook = if from_node { "OUTPUT" } else { "PREROUTING" };
    match w.hook("nat", nat_hook, "KUBE-SERVICES") {
        Verdict::Drop => return finish(w, "DROP", vec![], notes),
        Verdict::Reject => return finish(w, "REJECT", vec![], notes),
        _ => {}
    }

    if !w.is_local(packet.dst) {
        // Routed onwards: IPVS (LOCAL_IN) never sees it; the filter
        // FORWARD hook and NAT POSTROUTING do.
        notes.push(format!(
            "routing: {} is not a node address or an address bound to kube-ipvs0: the packet is forwarded and IPVS does not see it",
            packet.dst
        ));
        if !from_node {
            match w.hook("filter", "FORWARD", "KUBE-FORWARD") {
                Verdict::Drop => return finish(w, "DROP", vec![], notes),
                Verdict::Reject => return finish(w, "REJECT", vec![], notes),
                _ => {}
            }
        }
        let masquerade = w.hook("nat", "POSTROUTING", "KUBE-POSTROUTING") == Verdict::Masquerade;
        let mut r = finish(w, "", vec![], notes);
        r.masquerade = masquerade;
        return r;
    }
    notes.push(format!(
        "routing: {} is a local address (a node address or bound to kube-ipvs0): the input hook, where IPVS sees it",
        packet.dst
    ));

    // filter: packets for local addresses go through INPUT (kube-proxy
    // prepends its jumps, so the last one inserted comes first);
    // node-originated ones through OUTPUT.
    let filter_hooks: &[(&str, &str)] = if from_node {
        &[("OUTPUT", "KUBE-IPVS-OUT-FILTER")]
    } else {
        &[
            ("INPUT", "KUBE-IPVS-FILTER"),
            ("INPUT", "KUBE-PROXY-FIREWALL"),
            ("INPUT", "KUBE-NODE-PORT"),
        ]
    };
    for (from, to) in filter_hooks {
        match w.hook("filter", from, to) {
            Verdict::Drop => return finish(w, "DROP", vec![], notes),
            Verdict::Reject => return finish(w, "REJECT", vec![], notes),
            Verdict::Accept => break,
            _ => {}
        }
    }

    // IPVS.
    let Some(vs) = fr.virtual_servers.iter().find(|v| {
        v.address == packet.dst && v.port == packet.port && v.protocol == packet.protocol
    }) else {
        notes.push(
            "no IPVS virtual server for this address and port; the node itself receives the packet"
                .into(),
        );
        return finish(w, "", vec![], notes);
    };
    w.path.push(Step {
        table: "ipvs".into(),
        chain: format!("{} {}", vs.protocol, vs.addr()),
        rule: vs
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .to_string(),
    });
    if vs.real_servers.is_empty() {
        notes.push(
            "the virtual server has no real servers: IPVS answers ICMP port unreachable".into(),
        );
        return finish(w, "REJECT", vec![], notes);
    }
    let (shares, why) = shares(vs, packet);
    notes.push(why);
    if let Some(t) = vs.persistence_timeout {
        notes.push(format!(
            "persistence: ClientIP affinity, -p {t}: later connections from {} within {t} s go to the same real server",
            packet.src
        ));
    }

    // nat POSTROUTING: masquerade when marked; hairpin (client = endpoint).
    let mut masquerade = false;
    for (rs, _) in shares.iter().filter(|(_, p)| *p > 0.0) {
        w.dnat = Some((rs.address, rs.port));
        let before = w.path.len();
        let mark = w.mark;
        if w.hook("nat", "POSTROUTING", "KUBE-POSTROUTING") == Verdict::Masquerade {
            masquerade = true;
        }
        w.mark = mark;
        // Record POSTROUTING once; other endpoints take the same path
        // unless they are the client itself.
        if masquerade || shares.len() == 1 {
            break;
        }
        w.path.truncate(before);
    }
    let outcome = shares
        .iter()
        .filter(|(_, p)| *p > 0.0)
        .map(|(rs, _)| rs.addr().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let endpoints = shares
        .iter()
        .filter(|(_, p)| *p > 0.0)
        .map(|(rs, p)| EndpointShare {
            endpoint: rs.addr().to_string(),
            probability: *p,
        })
        .collect();
    let mut r = finish(w, &outcome, endpoints, notes);
    r.masquerade = masquerade;
    r
}

/// `hash_32` of the kernel (`include/linux/hash.h`), 8 bits.
fn hash_32_8(v: u32) -> usize {
    (v.wrapping_mul(0x61C8_8647) >> 24) as usize
}

/// IPVS's address fold: IPv4 as is, IPv6 its four words XORed (host order).
fn addr_fold(ip: IpAddr) -> u32 {
    match ip {
        IpAddr::V4(v4) => u32::from(v4),
        IpAddr::V6(v6) => {
            let o = v6.octets();
            (0..4)
                .map(|i| u32::from_be_bytes([o[4 * i], o[4 * i + 1], o[4 * i + 2], o[4 * i + 3]]))
                .fold(0, |a, b| a ^ b)
        }
    }
}

/// The real servers' shares under the virtual server's scheduler, with a
/// note that says how they were found.
fn shares<'v>(vs: &'v VirtualServer, packet: &Packet) -> (Vec<(&'v RealServer, f64)>, String) {
    let n = vs.real_servers.len();
    // The kernel puts each new destination at the head of its list.
    let kernel_list: Vec<&RealServer> = vs.real_servers.iter().rev().collect();
    let only = |pick: &RealServer| -> Vec<(&RealServer, f64)> {
        vs.real_servers
            .iter()
            .map(|r| (r, if r == pick { 1.0 } else { 0.0 }))
            .collect()
    };
    match vs.scheduler.as_str() {
        "rr" | "wrr" => (
            vs.real_servers.iter().map(|r| (r, 1.0 / n as f64)).collect(),
            format!(
                "scheduler {}: every real server has weight 1, so each gets an equal share",
                vs.scheduler
            ),
        ),
        "sh" => {
            // ip_vs_sh: 256 buckets filled round robin over the destination
            // list (weight 1 each), indexed by hash_32 of the source address.
            let bucket = hash_32_8(addr_fold(packet.src));
            let pick = kernel_list[bucket % n];
            (
                only(pick),
                format!(
                    "scheduler sh: source {} hashes to bucket {bucket}, which holds {} (assuming real servers were added in the order shown)",
                    packet.src,
                    pick.addr()
                ),
            )
        }
        "dh" => {
            // ip_vs_dh: 256 buckets filled round robin, indexed by a
            // multiplicative hash of the destination address.
            let bucket = (addr_fold(packet.dst).wrapping_mul(2_654_435_761) & 0xff) as usize;
            let pick = kernel_list[bucket % n];
            (
                only(pick),
                format!(
                    "scheduler dh: destination {} hashes to bucket {bucket}, which holds {} (assuming real servers were added in the order shown)",
                    packet.dst,
                    pick.addr()
                ),
            )
        }
        "mh" => (
            vs.real_servers.iter().map(|r| (r, 1.0 / n as f64)).collect(),
            "scheduler mh (Maglev hashing with mh-port): each source address and port maps to one real server; over many clients each gets an equal share".into(),
        ),
        // lc, wlc, sed, nq, lblc, lblcr: with no live connections all
        // destinations tie and the kernel takes the first of its list.
        s => {
            let pick = kernel_list[0];
            (
                only(pick),
                format!(
                    "scheduler {s}: with no live connections every real server ties and the kernel picks the first of its list, {} (the last added; kube-proxy's add order is not fixed)",
                    pick.addr()
                ),
            )
        }
    }
}
