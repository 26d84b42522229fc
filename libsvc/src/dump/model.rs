//! The generic netfilter model every dump format is read into: tables of
//! chains of rules, a rule a list of matches and statements evaluated in
//! order (as nftables evaluates a rule; an iptables rule is its matches
//! then its target). What the model does not know is kept verbatim as
//! [`Match::Opaque`] / [`Stmt::Opaque`], never guessed.

use ipnet::IpNet;
use serde::Serialize;
use std::net::IpAddr;

/// Where something was read: 1-based line and column in the dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Pos {
    /// Line.
    pub line: u32,
    /// Column (characters).
    pub column: u32,
}

/// The address family a table filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// IPv4 (`iptables`, nft `ip`).
    Ip,
    /// IPv6 (`ip6tables`, nft `ip6`).
    Ip6,
    /// Both (nft `inet`).
    Inet,
    /// Anything else (`arp`, `bridge`, `netdev`): never on an IP packet's path.
    Other,
}

impl Family {
    /// Does a table of this family see a packet of `ip`'s family?
    pub fn sees(&self, ip: &IpAddr) -> bool {
        match self {
            Family::Ip => ip.is_ipv4(),
            Family::Ip6 => ip.is_ipv6(),
            Family::Inet => true,
            Family::Other => false,
        }
    }

    /// The nft name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Family::Ip => "ip",
            Family::Ip6 => "ip6",
            Family::Inet => "inet",
            Family::Other => "other",
        }
    }
}

/// Which tool wrote the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// `iptables-save` / `ip6tables-save`.
    Iptables,
    /// `nft list ruleset` (text or JSON).
    Nft,
}

/// A netfilter hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Hook {
    /// Before routing, on arrival.
    Prerouting,
    /// Delivery to a local process.
    Input,
    /// Routed through.
    Forward,
    /// Sent by a local process.
    Output,
    /// Leaving.
    Postrouting,
}

impl Hook {
    /// The nft name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Hook::Prerouting => "prerouting",
            Hook::Input => "input",
            Hook::Forward => "forward",
            Hook::Output => "output",
            Hook::Postrouting => "postrouting",
        }
    }

    /// Parses an nft hook name.
    pub fn parse(s: &str) -> Option<Hook> {
        Some(match s {
            "prerouting" => Hook::Prerouting,
            "input" => Hook::Input,
            "forward" => Hook::Forward,
            "output" => Hook::Output,
            "postrouting" => Hook::Postrouting,
            _ => return None,
        })
    }
}

/// What a base chain does (`type filter|nat|route`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChainType {
    /// Filter (also iptables raw, mangle, security).
    Filter,
    /// NAT: only the first packet of a connection, and only until a NAT
    /// binding is made for the hook's direction.
    Nat,
    /// Route (iptables mangle OUTPUT).
    Route,
}

/// A base chain's attachment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Base {
    /// `type`.
    pub kind: ChainType,
    /// The hook.
    pub hook: Hook,
    /// The priority (lower first).
    pub priority: i32,
    /// The policy: `true` accept, `false` drop.
    pub policy_accept: bool,
}

/// A verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Accept (ends this base chain; later ones still see the packet).
    Accept,
    /// Drop.
    Drop,
    /// Reject (a drop that answers).
    Reject,
    /// Back to the calling chain.
    Return,
    /// Next rule.
    Continue,
    /// Call a chain.
    Jump(String),
    /// Go to a chain (no return here).
    Goto(String),
}

/// An address, a network, or a range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AddrItem {
    /// A network (a single address is a /32 or /128).
    Net(IpNet),
    /// `a-b`.
    Range(IpAddr, IpAddr),
}

impl AddrItem {
    /// Does `ip` fall in it?
    pub fn contains(&self, ip: &IpAddr) -> bool {
        match self {
            AddrItem::Net(n) => n.contains(ip),
            AddrItem::Range(a, b) => a <= ip && ip <= b,
        }
    }
}

/// A value set a match compares with: an inline list, or a named set.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SetRef<T> {
    /// Inline (`-s a`, `{ a, b }`).
    List(Vec<T>),
    /// `@name` (nft) or an ipset (`--match-set`).
    Named(String),
}

/// Which side of the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Source.
    Src,
    /// Destination.
    Dst,
}

/// One component of a concatenated key (`ip daddr . meta l4proto . th dport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Key {
    /// `ip saddr`.
    Saddr,
    /// `ip daddr`.
    Daddr,
    /// `meta l4proto`.
    L4proto,
    /// `th sport`.
    Sport,
    /// `th dport`.
    Dport,
    /// `iifname`.
    Iifname,
    /// `oifname`.
    Oifname,
    /// `numgen random mod N` (the N is in the lookup).
    Numgen,
}

/// A value of a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Value {
    /// An address, network or range.
    Addr(AddrItem),
    /// A port, protocol number or numgen slot, or a range of them.
    Num(u32, u32),
    /// A protocol name (`tcp`).
    Proto(String),
    /// An interface name (may end in `*`/`+`).
    Name(String),
}

/// One element of a set or map: its key parts, and for a map its value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Element {
    /// The key (one part per concatenated component).
    pub key: Vec<Value>,
    /// The mapped value: a verdict, or a NAT target `addr . port` / `addr:port`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<MapValue>,
}

/// What a map maps to.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MapValue {
    /// A verdict (`vmap`).
    Verdict(Verdict),
    /// A NAT destination.
    Nat(NatTo),
}

/// A set, map or ipset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Set {
    /// The name.
    pub name: String,
    /// The type as written (`ipv4_addr . inet_proto . inet_service`, `hash:ip,port`).
    pub kind: String,
    /// The elements.
    pub elements: Vec<Element>,
    /// An ipset's key dimensions (`hash:ip,port` → `ip`, `port`); empty for nft.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dims: Vec<String>,
    /// nft `timeout` in seconds (kube-proxy's affinity sets: the
    /// sessionAffinity timeout); `nft list` writes `3h` for `10800s`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
}

/// A NAT target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NatTo {
    /// The address (none: keep).
    pub addr: Option<IpAddr>,
    /// The port (none: keep).
    pub port: Option<u16>,
}

impl std::fmt::Display for NatTo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.addr, self.port) {
            (Some(a), Some(p)) => std::net::SocketAddr::new(a, p).fmt(f),
            (Some(a), None) => a.fmt(f),
            (None, Some(p)) => write!(f, ":{p}"),
            (None, None) => Ok(()),
        }
    }
}

/// A match: a test on the packet or its connection.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Match {
    /// `[!] -p PROTO`, `meta l4proto [!=] PROTO`.
    Proto {
        /// Negated.
        negated: bool,
        /// The protocol names or numbers.
        protos: Vec<String>,
    },
    /// `[!] -s/-d`, `ip saddr/daddr [!=] …`.
    Addr {
        /// Which address.
        side: Side,
        /// Negated.
        negated: bool,
        /// The addresses.
        set: SetRef<AddrItem>,
    },
    /// `--sport/--dport`, `-m multiport`, `th dport`, `tcp dport`.
    Port {
        /// Which port.
        side: Side,
        /// Negated.
        negated: bool,
        /// Port ranges (a port is `n..=n`).
        set: SetRef<(u16, u16)>,
    },
    /// `[!] -i/-o IF` (`+` wildcard), `iifname/oifname`.
    Iface {
        /// In (true) or out.
        input: bool,
        /// Negated.
        negated: bool,
        /// Names (a trailing `+` or `*` matches any suffix).
        names: Vec<String>,
    },
    /// `-m mark [!] --mark V[/M]`, `mark and M != 0`, `mark V`.
    Mark {
        /// Negated.
        negated: bool,
        /// Value compared with `mark & mask`.
        value: u32,
        /// The mask.
        mask: u32,
    },
    /// `-m conntrack [!] --ctstate S,…`, `-m state --state`, `ct state`, `ct status`.
    CtState {
        /// Negated.
        negated: bool,
        /// Upper-case names (`NEW`, `DNAT`, …).
        states: Vec<String>,
    },
    /// `-m addrtype [!] --src-type/--dst-type T,…`, `fib daddr type [!=] local`.
    AddrType {
        /// Which address.
        side: Side,
        /// Negated.
        negated: bool,
        /// Upper-case types (`LOCAL`, `UNICAST`, …).
        types: Vec<String>,
    },
    /// A lookup of a concatenated key in a set (`-m set --match-set S src,dst`, `ip daddr . th dport @s`).
    Lookup {
        /// Negated.
        negated: bool,
        /// The key.
        key: Vec<Key>,
        /// The set.
        set: SetRef<Element>,
    },
    /// `-m statistic --mode random --probability P` (`P` in 0..=1).
    Random(f64),
    /// `-m statistic --mode nth --every N --packet P`: for one new connection, 1/N.
    Nth {
        /// Every.
        every: u32,
        /// Packet.
        packet: u32,
    },
    /// `-m recent --rcheck/--update` (needs earlier connections; a first one never matches).
    RecentCheck {
        /// The list (`--name`).
        name: String,
        /// `--seconds` (the affinity timeout).
        seconds: Option<u32>,
    },
    /// `-m recent --set` (always matches; records the source).
    RecentSet(String),
    /// `-m comment --comment TEXT`, nft `comment`.
    Comment(String),
    /// Not understood: kept verbatim.
    Opaque(String),
}

/// A statement: what a matching rule does.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stmt {
    /// A verdict.
    Verdict(Verdict),
    /// DNAT.
    Dnat(NatTo),
    /// DNAT through a map keyed by `numgen random mod N` (kube-proxy nftables).
    DnatMap {
        /// `mod N`.
        modulus: u32,
        /// The map.
        map: SetRef<Element>,
    },
    /// SNAT.
    Snat(NatTo),
    /// Masquerade.
    Masquerade {
        /// `--random-fully` / `fully-random`.
        random_fully: bool,
    },
    /// The mark becomes `(mark & !mask) ^ value` (`--set-xmark`; `--or-mark` is
    /// `value = mask = M`, `--xor-mark` is mask 0, `--and-mark` is value 0, mask !M).
    SetMark {
        /// Xored in.
        value: u32,
        /// Cleared first.
        mask: u32,
    },
    /// A verdict map lookup (`KEY vmap @m`, `numgen random mod N vmap {…}`).
    Vmap {
        /// The key.
        key: Vec<Key>,
        /// `numgen random mod N`: the N.
        modulus: Option<u32>,
        /// The map.
        map: SetRef<Element>,
    },
    /// Counting, logging, tracing: no effect on the packet's fate.
    Nop(String),
    /// Not understood: kept verbatim.
    Opaque(String),
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    /// Where it was read.
    pub pos: Pos,
    /// The rule as written (options after `-A CHAIN`, or nft statements).
    pub text: String,
    /// The matches, in order.
    pub matches: Vec<Match>,
    /// The statements, in order (after all matches: iptables' target; nft
    /// statements that precede a match are rare and kept in order here).
    pub stmts: Vec<Stmt>,
}

impl Rule {
    /// The rule in a canonical form, for comparing a dump with a render
    /// model to model: matches in a fixed order (iptables-save and nft
    /// list reorder options), probabilities to the precision the kernel
    /// keeps (a 32-bit fraction), statements in order.
    pub fn canonical(&self) -> String {
        let mut ms: Vec<String> = self
            .matches
            .iter()
            .map(|m| match m {
                Match::Random(p) => format!("Random({p:.6})"),
                // a set's elements have no order (nft list sorts them)
                Match::Addr { side, negated, set } => {
                    format!("Addr({side:?}, {negated}, {})", sorted(set))
                }
                Match::Port { side, negated, set } => {
                    format!("Port({side:?}, {negated}, {})", sorted(set))
                }
                Match::Lookup { negated, key, set } => {
                    format!("Lookup({key:?}, {negated}, {})", sorted(set))
                }
                Match::Proto { negated, protos }
                | Match::CtState {
                    negated,
                    states: protos,
                } => {
                    let mut p = protos.clone();
                    p.sort();
                    format!(
                        "{}({negated}, {p:?})",
                        if matches!(m, Match::Proto { .. }) {
                            "Proto"
                        } else {
                            "CtState"
                        }
                    )
                }
                other => format!("{other:?}"),
            })
            .collect();
        ms.sort();
        let ss: Vec<String> = self
            .stmts
            .iter()
            .map(|s| match s {
                Stmt::Nop(t) => format!(
                    "Nop({})",
                    t.split_whitespace().collect::<Vec<_>>().join(" ")
                ),
                other => format!("{other:?}"),
            })
            .collect();
        format!("{} => {}", ms.join(" "), ss.join("; "))
    }
}

/// A set reference with its inline elements in a fixed order.
fn sorted<T: std::fmt::Debug>(set: &SetRef<T>) -> String {
    match set {
        SetRef::Named(n) => format!("@{n}"),
        SetRef::List(l) => {
            let mut v: Vec<String> = l.iter().map(|x| format!("{x:?}")).collect();
            v.sort();
            format!("{{{}}}", v.join(", "))
        }
    }
}

/// A chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Chain {
    /// The name.
    pub name: String,
    /// A base chain's attachment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<Base>,
    /// The rules.
    pub rules: Vec<Rule>,
    /// Where declared.
    pub pos: Pos,
}

/// A table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Table {
    /// Who wrote it.
    pub origin: Origin,
    /// The family.
    pub family: Family,
    /// The name (`nat`, `kube-proxy`).
    pub name: String,
    /// The chains.
    pub chains: Vec<Chain>,
    /// Its sets and maps (nft).
    pub sets: Vec<Set>,
    /// The input it came from.
    pub file: String,
}

impl Table {
    /// The chain `name`.
    pub fn chain(&self, name: &str) -> Option<&Chain> {
        self.chains.iter().find(|c| c.name == name)
    }

    /// The set `name`.
    pub fn set(&self, name: &str) -> Option<&Set> {
        self.sets.iter().find(|s| s.name == name)
    }
}

/// An IPVS virtual server and its real servers (`ipvsadm-save -n`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VirtualServer {
    /// `tcp`, `udp`, `sctp` (`-t`, `-u`, `--sctp-service`).
    pub protocol: String,
    /// Address and port.
    pub addr: std::net::SocketAddr,
    /// `-s` scheduler.
    pub scheduler: String,
    /// `-p` persistence timeout.
    pub persistent: Option<u32>,
    /// The real servers with weights.
    pub reals: Vec<(std::net::SocketAddr, u32)>,
    /// Where read.
    pub pos: Pos,
}

/// Everything read from the dumps of one node.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Dump {
    /// All tables, iptables and nft.
    pub tables: Vec<Table>,
    /// ipsets (`ipset save`).
    pub ipsets: Vec<Set>,
    /// IPVS (`ipvsadm-save -n`).
    pub ipvs: Vec<VirtualServer>,
    /// Addresses the dumps show as local to the node (`kube-ipvs0` addresses).
    pub local_addrs: Vec<IpAddr>,
}
