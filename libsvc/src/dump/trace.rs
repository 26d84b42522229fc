//! A new connection walked through a node's dumped rules as the kernel
//! walks it (net/netfilter: `nf_hook_slow` over the hook's entries sorted by
//! priority; net/ipv4: `ip_rcv` → PREROUTING → `ip_route_input` → INPUT or
//! FORWARD → POSTROUTING; `__ip_local_out` → OUTPUT → POSTROUTING, and to a
//! local address back in through loopback):
//!
//! * arriving (the source is not one of the node's addresses):
//!   prerouting, then input when the destination (after DNAT) is local,
//!   else forward and postrouting;
//! * sent by the node: output, postrouting, and for a local destination
//!   prerouting and input again over `lo` — where the NAT chains are not
//!   consulted, as conntrack already holds the connection's bindings
//!   (`nf_nat_inet_fn`);
//! * on each hook, the base chains of every table of the packet's family,
//!   iptables' and nft's alike, by priority; accept ends a base chain only,
//!   drop and reject end the walk; NAT chains stop being consulted on a hook
//!   once a binding is made there.
//!
//! A decision the dump alone cannot make is a fork, followed both ways:
//! statistic and numgen choices split the packet with their probabilities;
//! an opaque match (or statement) splits the world in two, "if it matches"
//! and "if not". The answer is the world where every opaque match fails,
//! plus one branch per other world.

use super::model::*;
use crate::table::Protocol;
use crate::trace::{EndpointShare, Packet, Step, TraceResult};
use serde::Serialize;
use std::net::IpAddr;

/// What the dump does not say about the packet and the node.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The node's addresses (route locality, `--dst-type LOCAL`, `fib … local`).
    pub local: Vec<IpAddr>,
    /// The interface the packet arrives on (unknown: `-i` matches fork).
    pub in_iface: Option<String>,
    /// The interface it leaves by (unknown: `-o` matches fork).
    pub out_iface: Option<String>,
}

/// A world where some opaque matches are taken to match.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Branch {
    /// What is assumed true: `unknown match -m owner … in filter/OUTPUT (line 12) matches`,
    /// `the packet arrives on docker0 …`.
    pub conditions: Vec<String>,
    /// The trace in that world.
    #[serde(flatten)]
    pub result: TraceResult,
}

/// The trace of a dump: today's trace result plus the branches.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DumpTrace {
    /// The world where every unknown match fails.
    #[serde(flatten)]
    pub result: TraceResult,
    /// The other worlds.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub branches: Vec<Branch>,
}

/// Most runs (leaves) followed; beyond, the trace says it was cut short.
const MAX_RUNS: usize = 20_000;
/// Most opaque forks on one path; beyond, further ones are taken to fail.
const MAX_UNKNOWN: usize = 6;
/// Deepest chain nesting followed.
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq)]
enum Fate {
    Passed,
    Dropped,
    Rejected,
    Unknown(String),
}

/// One fork point: how many ways, and the share of each.
struct Point {
    weights: Vec<f64>,
}

/// One path of the walk.
struct Run<'a> {
    dump: &'a Dump,
    opts: &'a Options,
    packet: &'a Packet,
    prefix: Vec<usize>,
    taken: Vec<usize>,
    points: Vec<Point>,
    share: f64,
    assumptions: Vec<(String, bool)>,
    dst: IpAddr,
    port: u16,
    mark: u32,
    dnat: bool,
    masq: bool,
    accepted: bool,
    /// IPVS picked a real server.
    ipvs_hit: bool,
    iif: Option<Option<String>>,
    oif: Option<Option<String>>,
    path: Vec<Step>,
    notes: Vec<String>,
}

enum Flow {
    Next,
    /// `return`, or a `goto`'s chain ended: the current chain is done.
    Return,
    Accept,
    End(Fate),
}

/// What a match says.
enum Tri {
    Yes,
    No,
    Unknown(String),
}

fn tri(b: bool) -> Tri {
    if b { Tri::Yes } else { Tri::No }
}

fn proto_matches(p: Protocol, name: &str) -> bool {
    let (n, num) = match p {
        Protocol::TCP => ("tcp", "6"),
        Protocol::UDP => ("udp", "17"),
        Protocol::SCTP => ("sctp", "132"),
    };
    name == n || name == num || name == "all" || name == "0"
}

fn iface_matches(pattern: &str, name: &str) -> bool {
    match pattern
        .strip_suffix('+')
        .or_else(|| pattern.strip_suffix('*'))
    {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

impl<'a> Run<'a> {
    fn is_local(&self, ip: &IpAddr) -> bool {
        ip.is_loopback() || self.opts.local.contains(ip) || self.dump.local_addrs.contains(ip)
    }

    /// Takes the next decision among `weights`.
    fn choose(&mut self, weights: Vec<f64>) -> usize {
        let k = self.taken.len();
        let pick = self.prefix.get(k).copied().unwrap_or(0);
        self.share *= weights[pick];
        self.taken.push(pick);
        self.points.push(Point { weights });
        pick
    }

    /// An unknown: fork "does not match" / "matches" (past the limit, "does not match").
    fn unknown(&mut self, what: String) -> bool {
        if let Some((_, v)) = self.assumptions.iter().find(|(c, _)| *c == what) {
            return *v;
        }
        if self.assumptions.len() >= MAX_UNKNOWN {
            self.notes
                .push(format!("{what}: taken not to match (too many unknowns)"));
            return false;
        }
        let yes = self.choose(vec![1.0, 1.0]) == 1;
        self.assumptions.push((what, yes));
        yes
    }

    fn where_(table: &Table, chain: &Chain, rule: &Rule) -> String {
        format!(
            "in {}/{} (line {})",
            table_label(table),
            chain.name,
            rule.pos.line
        )
    }

    fn addr_in(&self, side: Side) -> IpAddr {
        match side {
            Side::Src => self.packet.src,
            Side::Dst => self.dst,
        }
    }

    fn set_of<'s>(&'s self, table: &'s Table, name: &str) -> Option<&'s Set> {
        match table.origin {
            Origin::Iptables => self.dump.ipsets.iter().find(|s| s.name == name),
            Origin::Nft => table.set(name),
        }
    }

    fn key_value(&self, k: Key, v: &Value) -> Tri {
        let p = self.packet;
        match (k, v) {
            (Key::Saddr | Key::Daddr, Value::Addr(a)) => {
                let side = if k == Key::Saddr {
                    Side::Src
                } else {
                    Side::Dst
                };
                tri(a.contains(&self.addr_in(side)))
            }
            (Key::Dport, Value::Num(a, b)) => tri(*a <= self.port as u32 && self.port as u32 <= *b),
            (Key::L4proto, Value::Proto(n)) => tri(proto_matches(p.protocol, n)),
            (Key::L4proto, Value::Num(a, _)) => tri(proto_matches(p.protocol, &a.to_string())),
            (Key::Iifname | Key::Oifname, Value::Name(n)) => {
                let known = if k == Key::Iifname {
                    &self.iif
                } else {
                    &self.oif
                };
                match known {
                    Some(Some(i)) => tri(iface_matches(n, i)),
                    Some(None) => Tri::No,
                    None => Tri::Unknown(format!("interface {n}")),
                }
            }
            (Key::Sport, _) => Tri::Unknown("the source port".into()),
            _ => Tri::No,
        }
    }

    /// Does `elem` match the packet on `key`? For an ipset, `key` are the
    /// `--match-set` flags, one per dimension.
    fn element_matches(&self, key: &[Key], set: &Set, elem: &Element) -> Tri {
        let mut unknown = None;
        for (i, v) in elem.key.iter().enumerate() {
            let Some(&k) = key.get(i).or(key.last()) else {
                return Tri::No;
            };
            let r = match set.dims.get(i).map(String::as_str) {
                Some("port") => {
                    let (side_port, proto) = (self.port, self.packet.protocol.lower());
                    if k == Key::Saddr {
                        Tri::Unknown("the source port".into())
                    } else if let Value::Name(s) = v {
                        tri(*s == format!("{proto}:{side_port}") || *s == side_port.to_string())
                    } else {
                        Tri::No
                    }
                }
                Some("ip" | "net") | None => {
                    let k = if set.dims.is_empty() {
                        k
                    } else if k == Key::Saddr {
                        Key::Saddr
                    } else {
                        Key::Daddr
                    };
                    self.key_value(k, v)
                }
                Some(other) => Tri::Unknown(format!("ipset dimension {other}")),
            };
            match r {
                Tri::No => return Tri::No,
                Tri::Unknown(u) => unknown = Some(u),
                Tri::Yes => {}
            }
        }
        match unknown {
            Some(u) => Tri::Unknown(u),
            None => Tri::Yes,
        }
    }

    /// The element of `set` the packet hits, if any.
    fn lookup(
        &self,
        table: &Table,
        key: &[Key],
        set: &SetRef<Element>,
        what: &str,
    ) -> Result<Option<Element>, String> {
        let (named, elems): (Option<&Set>, &[Element]) = match set {
            SetRef::List(l) => (None, l),
            SetRef::Named(n) => match self.set_of(table, n) {
                Some(s) => (Some(s), &s.elements),
                None => return Err(format!("set {n} is not in the dump ({what})")),
            },
        };
        let empty = Set {
            name: String::new(),
            kind: String::new(),
            elements: Vec::new(),
            dims: Vec::new(),
            timeout: None,
        };
        let s = named.unwrap_or(&empty);
        let mut unknown = None;
        for e in elems {
            match self.element_matches(key, s, e) {
                Tri::Yes => return Ok(Some(e.clone())),
                Tri::No => {}
                Tri::Unknown(u) => unknown = Some(u),
            }
        }
        match unknown {
            Some(u) => Err(format!("{u} is not known ({what})")),
            None => Ok(None),
        }
    }

    fn eval(&mut self, table: &Table, m: &Match) -> Tri {
        let p = self.packet;
        match m {
            Match::Comment(_) | Match::RecentSet(_) => Tri::Yes,
            Match::Proto { negated, protos } => {
                tri(protos.iter().any(|n| proto_matches(p.protocol, n)) != *negated)
            }
            Match::Addr { side, negated, set } => {
                let ip = self.addr_in(*side);
                match set {
                    SetRef::List(items) => {
                        // an address of the other family never matches
                        if items.iter().all(|i| match i {
                            AddrItem::Net(n) => n.addr().is_ipv4() != ip.is_ipv4(),
                            AddrItem::Range(a, _) => a.is_ipv4() != ip.is_ipv4(),
                        }) && !items.is_empty()
                        {
                            return Tri::No;
                        }
                        tri(items.iter().any(|i| i.contains(&ip)) != *negated)
                    }
                    SetRef::Named(n) => {
                        let key = [if *side == Side::Src {
                            Key::Saddr
                        } else {
                            Key::Daddr
                        }];
                        let set = SetRef::Named(n.clone());
                        match self.lookup(table, &key, &set, &m_text(m)) {
                            Ok(e) => tri(e.is_some() != *negated),
                            Err(u) => Tri::Unknown(u),
                        }
                    }
                }
            }
            Match::Port { side, negated, set } => {
                if *side == Side::Src {
                    return Tri::Unknown(format!("the source port ({})", m_text(m)));
                }
                match set {
                    SetRef::List(r) => {
                        tri(r.iter().any(|(a, b)| *a <= self.port && self.port <= *b) != *negated)
                    }
                    SetRef::Named(n) => {
                        let set = SetRef::Named(n.clone());
                        match self.lookup(table, &[Key::Dport], &set, &m_text(m)) {
                            Ok(e) => tri(e.is_some() != *negated),
                            Err(u) => Tri::Unknown(u),
                        }
                    }
                }
            }
            Match::Iface {
                input,
                negated,
                names,
            } => {
                let known = if *input { &self.iif } else { &self.oif };
                match known {
                    Some(Some(i)) => tri(names.iter().any(|n| iface_matches(n, i)) != *negated),
                    Some(None) => tri(*negated),
                    // one fact per interface name, so that `-i X` and
                    // `! -i X` of later rules agree with the first assumption
                    None => {
                        let mut any = false;
                        for n in names {
                            let fact = format!(
                                "the packet {} {n} (unknown: give --{}-iface)",
                                if *input { "arrives on" } else { "leaves by" },
                                if *input { "in" } else { "out" }
                            );
                            any |= self.unknown(fact);
                        }
                        tri(any != *negated)
                    }
                }
            }
            Match::Mark {
                negated,
                value,
                mask,
            } => tri((self.mark & mask == *value) != *negated),
            Match::CtState { negated, states } => {
                let mut any = false;
                for s in states {
                    any |= match s.as_str() {
                        "NEW" => true,
                        "DNAT" => self.dnat,
                        "ESTABLISHED" | "RELATED" | "INVALID" | "UNTRACKED" | "SNAT" | "REPLY"
                        | "EXPECTED" | "SEEN_REPLY" | "ASSURED" | "CONFIRMED" | "DYING" => false,
                        other => return Tri::Unknown(format!("conntrack state {other}")),
                    }
                }
                tri(any != *negated)
            }
            Match::AddrType {
                side,
                negated,
                types,
            } => {
                let ip = self.addr_in(*side);
                let mut any = false;
                for t in types {
                    any |= match t.as_str() {
                        "LOCAL" => self.is_local(&ip),
                        "UNICAST" => !ip.is_multicast() && ip != IpAddr::from([255, 255, 255, 255]),
                        "MULTICAST" => ip.is_multicast(),
                        "BROADCAST" => ip == IpAddr::from([255, 255, 255, 255]),
                        other => return Tri::Unknown(format!("address type {other}")),
                    }
                }
                tri(any != *negated)
            }
            Match::Lookup { negated, key, set } => match self.lookup(table, key, set, &m_text(m)) {
                Ok(e) => tri(e.is_some() != *negated),
                Err(u) => Tri::Unknown(u),
            },
            Match::Random(prob) => tri(self.choose(vec![*prob, 1.0 - prob]) == 0),
            Match::Nth { every, .. } => {
                let p = 1.0 / *every as f64;
                tri(self.choose(vec![p, 1.0 - p]) == 0)
            }
            Match::RecentCheck { name, .. } => {
                let note = format!(
                    "-m recent --name {name} (session affinity): taken as a first connection, which no list holds"
                );
                if !self.notes.contains(&note) {
                    self.notes.push(note);
                }
                Tri::No
            }
            Match::Opaque(t) => Tri::Unknown(format!("unknown match {t}")),
        }
    }

    fn step(&mut self, table: &Table, chain: &str, rule: String) {
        self.path.push(Step {
            table: table_label(table),
            chain: chain.to_string(),
            rule,
        });
    }

    fn rule_matches(&mut self, table: &Table, chain: &Chain, rule: &Rule) -> bool {
        for m in &rule.matches {
            match self.eval(table, m) {
                Tri::Yes => {}
                Tri::No => return false,
                Tri::Unknown(what) => {
                    let cond = format!("{what} {} matches", Self::where_(table, chain, rule));
                    if !self.unknown(cond) {
                        return false;
                    }
                }
            }
        }
        true
    }

    fn verdict(&mut self, table: &Table, kind: ChainType, v: &Verdict, depth: usize) -> Flow {
        match v {
            Verdict::Accept => {
                if kind != ChainType::Nat {
                    self.accepted = true;
                }
                Flow::Accept
            }
            Verdict::Drop => Flow::End(Fate::Dropped),
            Verdict::Reject => Flow::End(Fate::Rejected),
            Verdict::Return => Flow::Return,
            Verdict::Continue => Flow::Next,
            Verdict::Jump(c) | Verdict::Goto(c) => match table.chain(c) {
                Some(next) => {
                    let f = self.walk(table, next, kind, depth + 1);
                    match (f, v) {
                        (Flow::Next, Verdict::Goto(_)) => Flow::Return,
                        (f, _) => f,
                    }
                }
                None => Flow::End(Fate::Unknown(format!("chain {c} is not in the dump"))),
            },
        }
    }

    /// Walks `chain`; `Flow::Next` when it falls off its end or returns.
    fn walk(&mut self, table: &Table, chain: &Chain, kind: ChainType, depth: usize) -> Flow {
        if depth > MAX_DEPTH {
            return Flow::End(Fate::Unknown("chains nest too deep (a loop?)".into()));
        }
        for rule in &chain.rules {
            if !self.rule_matches(table, chain, rule) {
                continue;
            }
            let text = if rule.text.is_empty() {
                "(no options)".to_string()
            } else {
                rule.text.clone()
            };
            self.step(table, &chain.name, text);
            for s in &rule.stmts {
                let f = match s {
                    Stmt::Verdict(v) => self.verdict(table, kind, v, depth),
                    Stmt::Dnat(to) => {
                        self.apply_dnat(to);
                        Flow::Accept
                    }
                    Stmt::DnatMap { modulus, map } => {
                        let n = (*modulus).max(1);
                        let k = self.choose(vec![1.0 / n as f64; n as usize]) as u32;
                        let elems: Vec<Element> = match map {
                            SetRef::List(l) => l.clone(),
                            SetRef::Named(name) => table
                                .set(name)
                                .map(|s| s.elements.clone())
                                .unwrap_or_default(),
                        };
                        let hit = elems.iter().find(|e| {
                            matches!(e.key.first(), Some(Value::Num(a, b)) if *a <= k && k <= *b)
                        });
                        match hit.and_then(|e| e.value.as_ref()) {
                            Some(MapValue::Nat(to)) => {
                                let to = to.clone();
                                self.apply_dnat(&to);
                                Flow::Accept
                            }
                            // no element: the lookup breaks the rule (NFT_BREAK), the next rule runs
                            _ => Flow::Next,
                        }
                    }
                    Stmt::Snat(_) | Stmt::Masquerade { .. } => {
                        self.masq = true;
                        Flow::Accept
                    }
                    Stmt::SetMark { value, mask } => {
                        self.mark = (self.mark & !mask) ^ value;
                        Flow::Next
                    }
                    Stmt::Vmap { key, modulus, map } => {
                        let found = if let Some(n) = modulus {
                            let n = (*n).max(1);
                            let k = self.choose(vec![1.0 / n as f64; n as usize]) as u32;
                            let elems: &[Element] = match map {
                                SetRef::List(l) => l,
                                SetRef::Named(name) => {
                                    table.set(name).map(|s| &s.elements[..]).unwrap_or(&[])
                                }
                            };
                            Ok(elems
                                .iter()
                                .find(|e| matches!(e.key.first(), Some(Value::Num(a, b)) if *a <= k && k <= *b))
                                .cloned())
                        } else {
                            self.lookup(table, key, map, "vmap")
                        };
                        match found {
                            Ok(Some(Element {
                                value: Some(MapValue::Verdict(v)),
                                ..
                            })) => {
                                let v = v.clone();
                                self.verdict(table, kind, &v, depth)
                            }
                            Ok(_) => Flow::Next,
                            Err(u) => {
                                let cond = format!(
                                    "{u} {}: the lookup ends the packet's walk",
                                    Self::where_(table, chain, rule)
                                );
                                if self.unknown(cond) {
                                    Flow::End(Fate::Unknown(u))
                                } else {
                                    Flow::Next
                                }
                            }
                        }
                    }
                    Stmt::Nop(_) => Flow::Next,
                    Stmt::Opaque(t) => {
                        let cond = format!(
                            "unknown statement {t} {}: ends the packet's walk",
                            Self::where_(table, chain, rule)
                        );
                        if self.unknown(cond) {
                            Flow::End(Fate::Unknown(t.clone()))
                        } else {
                            Flow::Next
                        }
                    }
                };
                match f {
                    Flow::Next => {}
                    Flow::Return => return Flow::Next,
                    Flow::Accept => return Flow::Accept,
                    Flow::End(fate) => return Flow::End(fate),
                }
            }
        }
        Flow::Next
    }

    fn apply_dnat(&mut self, to: &NatTo) {
        if let Some(a) = to.addr {
            self.dst = a;
        }
        if let Some(p) = to.port {
            self.port = p;
        }
        self.dnat = true;
    }

    /// One hook: every base chain on it, by priority. `nat` false skips the
    /// NAT chains (the loopback pass).
    fn hook(&mut self, hook: Hook, nat: bool) -> Option<Fate> {
        let dump = self.dump;
        let ip = self.dst;
        let mut bases: Vec<(&Table, &Chain, &Base)> = dump
            .tables
            .iter()
            .filter(|t| t.family.sees(&ip))
            .flat_map(|t| {
                t.chains
                    .iter()
                    .filter_map(move |c| c.base.as_ref().map(|b| (t, c, b)))
            })
            .filter(|(_, _, b)| b.hook == hook)
            .collect();
        bases.sort_by_key(|(_, _, b)| b.priority);
        // IPVS takes new connections to a virtual server at LOCAL_IN
        // (`ip_vs_remote_request4`, NF_IP_PRI_NAT_SRC - 1) and LOCAL_OUT
        // (`ip_vs_local_request4`, NF_IP_PRI_NAT_DST + 2).
        let ipvs_at = match hook {
            Hook::Input if nat => Some(99),
            Hook::Output if nat => Some(-98),
            _ => None,
        };
        let mut ipvs_done = dump.ipvs.is_empty() || ipvs_at.is_none();
        let mut nat_bound = false;
        for b in bases.into_iter().map(Some).chain(std::iter::once(None)) {
            if !ipvs_done && b.is_none_or(|(_, _, b)| b.priority > ipvs_at.unwrap_or(0)) {
                ipvs_done = true;
                if let Some(fate) = self.ipvs() {
                    return Some(fate);
                }
                if hook == Hook::Input && self.ipvs_hit {
                    // sent on from here: LOCAL_OUT, then POSTROUTING
                    return None;
                }
            }
            let Some((t, c, b)) = b else { break };
            if b.kind == ChainType::Nat && (!nat || nat_bound) {
                continue;
            }
            let before = (self.dnat, self.masq);
            let flow = self.walk(t, c, b.kind, 0);
            if b.kind == ChainType::Nat && before != (self.dnat, self.masq) {
                nat_bound = true;
            }
            match flow {
                Flow::Accept => {}
                Flow::End(f) => return Some(f),
                Flow::Next | Flow::Return => {
                    if !b.policy_accept {
                        self.step(t, &c.name, "policy DROP".into());
                        return Some(Fate::Dropped);
                    }
                }
            }
        }
        None
    }

    /// The IPVS virtual server of the packet, if any: a real server by
    /// weight (each a fork with its share); none left is a drop.
    fn ipvs(&mut self) -> Option<Fate> {
        let proto = self.packet.protocol.lower();
        let vs = self.dump.ipvs.iter().find(|v| {
            v.protocol == proto && v.addr.ip() == self.dst && v.addr.port() == self.port
        })?;
        let reals: Vec<&(std::net::SocketAddr, u32)> =
            vs.reals.iter().filter(|(_, w)| *w > 0).collect();
        self.path.push(Step {
            table: "ipvs".into(),
            chain: format!("{} {}", proto.to_uppercase(), vs.addr),
            rule: format!("-s {}", vs.scheduler),
        });
        if reals.is_empty() {
            return Some(Fate::Dropped);
        }
        let total: u32 = reals.iter().map(|(_, w)| w).sum();
        let k = self.choose(
            reals
                .iter()
                .map(|(_, w)| *w as f64 / total as f64)
                .collect(),
        );
        let (to, w) = reals[k];
        self.path.push(Step {
            table: "ipvs".into(),
            chain: format!("{} {}", proto.to_uppercase(), vs.addr),
            rule: format!("-r {to} -m -w {w}"),
        });
        if let Some(p) = vs.persistent {
            let note = format!(
                "IPVS persistence {p}s: a client seen within it goes back to its real server"
            );
            if !self.notes.contains(&note) {
                self.notes.push(note);
            }
        }
        self.apply_dnat(&NatTo {
            addr: Some(to.ip()),
            port: Some(to.port()),
        });
        self.ipvs_hit = true;
        None
    }

    /// The whole walk of one path.
    fn run(&mut self) -> Fate {
        let from_node = self.is_local(&self.packet.src);
        if from_node {
            self.iif = Some(None);
            self.oif = None;
            if let Some(f) = self.hook(Hook::Output, true) {
                return f;
            }
            let to_node = self.is_local(&self.dst);
            if to_node {
                self.oif = Some(Some("lo".into()));
            } else if let Some(o) = &self.opts.out_iface {
                self.oif = Some(Some(o.clone()));
            }
            if let Some(f) = self.hook(Hook::Postrouting, true) {
                return f;
            }
            if to_node {
                self.iif = Some(Some("lo".into()));
                self.oif = Some(None);
                for h in [Hook::Prerouting, Hook::Input] {
                    if let Some(f) = self.hook(h, false) {
                        return f;
                    }
                }
            }
        } else {
            self.iif = self.opts.in_iface.clone().map(Some);
            self.oif = Some(None);
            if let Some(f) = self.hook(Hook::Prerouting, true) {
                return f;
            }
            if self.is_local(&self.dst) {
                if let Some(f) = self.hook(Hook::Input, true) {
                    return f;
                }
                if !self.ipvs_hit {
                    return Fate::Passed;
                }
                // IPVS sends the connection on to the real server
                self.iif = Some(None);
                self.oif = self.opts.out_iface.clone().map(Some);
                for (h, nat) in [(Hook::Output, false), (Hook::Postrouting, true)] {
                    if let Some(f) = self.hook(h, nat) {
                        return f;
                    }
                }
                return Fate::Passed;
            }
            self.oif = self.opts.out_iface.clone().map(Some);
            for h in [Hook::Forward, Hook::Postrouting] {
                if let Some(f) = self.hook(h, true) {
                    return f;
                }
            }
        }
        Fate::Passed
    }
}

/// `nat` for iptables, `ip kube-proxy` for nft.
fn table_label(t: &Table) -> String {
    match t.origin {
        Origin::Iptables => t.name.clone(),
        Origin::Nft => format!("{} {}", t.family.as_str(), t.name),
    }
}

fn set_name<T>(s: &SetRef<T>) -> String {
    match s {
        SetRef::Named(n) => format!("@{n}"),
        SetRef::List(_) => "{…}".to_string(),
    }
}

/// A short description of a match, for what a branch assumes.
fn m_text(m: &Match) -> String {
    match m {
        Match::Opaque(t) => t.clone(),
        Match::Addr { side, set, .. } => format!("{side:?} address in {}", set_name(set)),
        Match::Port { side, set, .. } => format!("{side:?} port in {}", set_name(set)),
        Match::Lookup { key, set, .. } => format!("{key:?} in {}", set_name(set)),
        other => format!("{other:?}"),
    }
}

/// One finished path.
struct Leaf {
    share: f64,
    assumptions: Vec<(String, bool)>,
    fate: Fate,
    endpoint: Option<String>,
    accepted: bool,
    masq: bool,
    path: Vec<Step>,
    notes: Vec<String>,
}

impl Leaf {
    fn outcome(&self) -> String {
        match &self.fate {
            Fate::Dropped => "DROP".into(),
            Fate::Rejected => "REJECT".into(),
            Fate::Unknown(t) => format!("UNKNOWN ({t})"),
            Fate::Passed => match &self.endpoint {
                Some(e) => e.clone(),
                None if self.accepted => "ACCEPT".into(),
                None => String::new(),
            },
        }
    }
}

/// Traces `packet` through `dump`.
pub fn trace(dump: &Dump, opts: &Options, packet: &Packet) -> DumpTrace {
    let mut leaves: Vec<Leaf> = Vec::new();
    let mut prefix: Vec<usize> = Vec::new();
    let mut cut = false;
    loop {
        let mut r = Run {
            dump,
            opts,
            packet,
            prefix: prefix.clone(),
            taken: Vec::new(),
            points: Vec::new(),
            share: 1.0,
            assumptions: Vec::new(),
            dst: packet.dst,
            port: packet.port,
            mark: 0,
            dnat: false,
            masq: false,
            accepted: false,
            ipvs_hit: false,
            iif: None,
            oif: None,
            path: Vec::new(),
            notes: Vec::new(),
        };
        let fate = r.run();
        let endpoint = r
            .dnat
            .then(|| std::net::SocketAddr::new(r.dst, r.port).to_string());
        leaves.push(Leaf {
            share: r.share,
            assumptions: r.assumptions,
            fate,
            endpoint,
            accepted: r.accepted,
            masq: r.masq,
            path: r.path,
            notes: r.notes,
        });
        // the next decision sequence, depth first
        let mut next = None;
        for k in (0..r.taken.len()).rev() {
            if r.taken[k] + 1 < r.points[k].weights.len() {
                let mut p = r.taken[..k].to_vec();
                p.push(r.taken[k] + 1);
                next = Some(p);
                break;
            }
        }
        match next {
            Some(p) if leaves.len() < MAX_RUNS => prefix = p,
            Some(_) => {
                cut = true;
                break;
            }
            None => break,
        }
    }
    // the worlds: every opaque condition false, then each other set seen
    let mut worlds: Vec<Vec<(String, bool)>> = vec![Vec::new()];
    for l in &leaves {
        if l.assumptions.iter().any(|(_, v)| *v) {
            let mut w: Vec<(String, bool)> =
                l.assumptions.iter().filter(|(_, v)| *v).cloned().collect();
            w.sort();
            if !worlds.contains(&w) {
                worlds.push(w);
            }
        }
    }
    let results: Vec<(Vec<(String, bool)>, TraceResult)> = worlds
        .into_iter()
        .map(|w| {
            let members: Vec<&Leaf> = leaves
                .iter()
                .filter(|l| {
                    l.assumptions
                        .iter()
                        .all(|(c, v)| w.iter().any(|(wc, _)| wc == c) == *v)
                })
                .collect();
            let mut r = merge(&members);
            if cut {
                r.notes
                    .push(format!("trace cut short after {MAX_RUNS} paths"));
            }
            (w, r)
        })
        .collect();
    let mut it = results.into_iter();
    let (_, result) = it.next().expect("the first world always exists");
    DumpTrace {
        result,
        branches: it
            .map(|(w, result)| Branch {
                conditions: w.into_iter().map(|(c, _)| c).collect(),
                result,
            })
            .collect(),
    }
}

/// One world's leaves as one result, like today's tracers: outcomes in the
/// order met, endpoints with summed probabilities, every rule hit.
fn merge(leaves: &[&Leaf]) -> TraceResult {
    let mut outcomes: Vec<String> = Vec::new();
    let mut endpoints: Vec<EndpointShare> = Vec::new();
    let mut path: Vec<Step> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let mut prev: &[Step] = &[];
    for l in leaves {
        let o = l.outcome();
        if !outcomes.contains(&o) {
            outcomes.push(o);
        }
        if let (Fate::Passed, Some(e)) = (&l.fate, &l.endpoint) {
            match endpoints.iter_mut().find(|x| x.endpoint == *e) {
                Some(x) => x.probability += l.share,
                None => endpoints.push(EndpointShare {
                    endpoint: e.clone(),
                    probability: l.share,
                }),
            }
        }
        let common = prev.iter().zip(&l.path).take_while(|(a, b)| a == b).count();
        path.extend(l.path[common..].iter().cloned());
        prev = &l.path;
        for n in &l.notes {
            if !notes.contains(n) {
                notes.push(n.clone());
            }
        }
    }
    outcomes.retain(|o| !o.is_empty() || leaves.len() == 1);
    TraceResult {
        outcome: outcomes.join(", "),
        masquerade: leaves.iter().any(|l| l.masq),
        endpoints,
        path,
        notes,
    }
}

/// The human report: today's report, then each branch's.
pub fn report(packet: &Packet, t: &DumpTrace) -> String {
    let mut out = crate::trace::report(packet, &t.result);
    for (i, b) in t.branches.iter().enumerate() {
        out.push_str(&format!("\nbranch {}: if\n", i + 1));
        for c in &b.conditions {
            out.push_str(&format!("  {c}\n"));
        }
        for line in crate::trace::report(packet, &b.result).lines().skip(1) {
            out.push_str(&format!("  {line}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Input;

    fn run(dumps: &[&str], src: &str, dst: &str, port: u16) -> DumpTrace {
        let inputs: Vec<Input> = dumps
            .iter()
            .enumerate()
            .map(|(i, t)| Input::new(format!("d{i}"), *t))
            .collect();
        let (d, diags) = crate::dump::load(&inputs);
        assert!(diags.is_empty(), "{diags:#?}");
        let opts = Options {
            local: vec!["192.168.0.2".parse().unwrap()],
            ..Default::default()
        };
        let p = Packet {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            port,
            protocol: Protocol::TCP,
            in_interface: None,
        };
        trace(&d, &opts, &p)
    }

    /// A base chain's DROP policy ends the walk, and the path says so.
    #[test]
    fn a_drop_policy_drops() {
        let t = run(
            &["*filter\n:FORWARD DROP [0:0]\n-A FORWARD -d 10.0.0.0/8 -j ACCEPT\nCOMMIT\n"],
            "203.0.113.1",
            "172.16.0.1",
            80,
        );
        assert_eq!(t.result.outcome, "DROP");
        assert_eq!(t.result.path.last().unwrap().rule, "policy DROP");
        let t = run(
            &["*filter\n:FORWARD DROP [0:0]\n-A FORWARD -d 10.0.0.0/8 -j ACCEPT\nCOMMIT\n"],
            "203.0.113.1",
            "10.1.2.3",
            80,
        );
        assert_eq!(t.result.outcome, "ACCEPT");
    }

    /// iptables' nat PREROUTING (priority -100) binds first; nft's NAT
    /// chain at a later priority is then not consulted (`nf_nat_inet_fn`).
    #[test]
    fn the_first_nat_binding_wins_across_tables() {
        let ipt = "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -d 10.96.0.1/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.1.1:8080\nCOMMIT\n";
        let nft = "table ip other {\n\tchain pre {\n\t\ttype nat hook prerouting priority dstnat + 10; policy accept;\n\t\tip daddr 10.96.0.1 dnat to 10.244.9.9:9\n\t}\n}\n";
        let t = run(&[nft, ipt], "10.244.2.2", "10.96.0.1", 80);
        assert_eq!(t.result.outcome, "10.244.1.1:8080");
        assert!(t.result.path.iter().all(|s| s.table == "nat"));
    }

    /// An interface is one fact for the whole walk: Docker's `-i docker0
    /// RETURN` and `! -i docker0 … DNAT` give two worlds, not four.
    #[test]
    fn an_unknown_interface_is_one_branch() {
        let docker = "*nat\n:DOCKER - [0:0]\n-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER\n-A DOCKER -i docker0 -j RETURN\n-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80\nCOMMIT\n";
        let t = run(&[docker], "203.0.113.9", "192.168.0.2", 8080);
        assert_eq!(t.result.outcome, "172.17.0.2:80");
        assert_eq!(t.branches.len(), 1, "{t:#?}");
        assert_eq!(t.branches[0].result.outcome, "");
        assert!(t.branches[0].conditions[0].starts_with("the packet arrives on docker0"));
    }

    /// A set that is not in the dumps is not guessed: a branch.
    #[test]
    fn a_missing_ipset_is_a_branch() {
        let t = run(
            &[
                "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -m set --match-set blocked src -j DROP\nCOMMIT\n",
            ],
            "10.0.0.1",
            "10.0.0.2",
            80,
        );
        assert_eq!(t.result.outcome, "");
        assert_eq!(t.branches[0].result.outcome, "DROP");
        assert!(t.branches[0].conditions[0].contains("set blocked is not in the dump"));
        // with the set, no branch
        let t = run(
            &[
                "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -m set --match-set blocked src -j DROP\nCOMMIT\n",
                "create blocked hash:net family inet\nadd blocked 10.0.0.0/24\n",
            ],
            "10.0.0.1",
            "10.0.0.2",
            80,
        );
        assert_eq!(t.result.outcome, "DROP");
        assert!(t.branches.is_empty());
    }

    /// nft: numgen splits with equal shares; a goto's chain ending returns
    /// to the caller's caller.
    #[test]
    fn nft_numgen_and_goto() {
        let nft = "table inet t {\n\tchain pre {\n\t\ttype nat hook prerouting priority -100; policy accept;\n\t\tjump svc\n\t\tip daddr 10.96.0.5 dnat to 10.9.9.9:1\n\t}\n\tchain svc {\n\t\tip daddr 10.96.0.5 goto pick\n\t\tip daddr 10.96.0.5 dnat to 10.8.8.8:1\n\t}\n\tchain pick {\n\t\ttcp dport 443 numgen random mod 2 vmap { 0 : goto a, 1 : goto b }\n\t}\n\tchain a {\n\t\tmeta l4proto tcp dnat to 10.0.0.1:443\n\t}\n\tchain b {\n\t\tmeta l4proto tcp dnat to 10.0.0.2:443\n\t}\n}\n";
        let t = run(&[nft], "10.244.0.1", "10.96.0.5", 443);
        assert_eq!(t.result.outcome, "10.0.0.1:443, 10.0.0.2:443");
        assert!((t.result.endpoints[0].probability - 0.5).abs() < 1e-9);
        // port 80: `pick` matches nothing, the goto returns to `pre`
        let t = run(&[nft], "10.244.0.1", "10.96.0.5", 80);
        assert_eq!(t.result.outcome, "10.9.9.9:1");
    }
}
