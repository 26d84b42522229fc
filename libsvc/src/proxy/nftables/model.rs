//! The typed nftables ruleset kube-proxy programs: tables with their
//! chains (base chains with hook and priority), sets, maps, counters, rules
//! and elements — the objects of knftables, not strings.
//!
//! Rules are sequences of typed expressions ([`Expr`]); their text comes
//! from `render`, and the tracer evaluates them directly.

use crate::table::Protocol;
use serde::Serialize;
use std::net::{IpAddr, SocketAddr};

/// An nftables address family (kube-proxy uses one table per IP family).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// `ip` (IPv4).
    Ip,
    /// `ip6` (IPv6).
    Ip6,
}

impl Family {
    /// `ip` or `ip6`: both the table family and the payload keyword.
    pub fn keyword(&self) -> &'static str {
        match self {
            Family::Ip => "ip",
            Family::Ip6 => "ip6",
        }
    }

    /// The address data type (`ipv4_addr`, `ipv6_addr`).
    pub fn addr_type(&self) -> &'static str {
        match self {
            Family::Ip => "ipv4_addr",
            Family::Ip6 => "ipv6_addr",
        }
    }
}

/// The whole transaction: one table per IP family rendered.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Ruleset {
    /// The tables (`ip kube-proxy` before `ip6 kube-proxy`).
    pub tables: Vec<Table>,
}

/// One table and everything in it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Table {
    /// The family.
    pub family: Family,
    /// The name (`kube-proxy`).
    pub name: String,
    /// The table comment.
    pub comment: Option<String>,
    /// Chains, in creation order.
    pub chains: Vec<Chain>,
    /// Sets, in creation order.
    pub sets: Vec<Set>,
    /// Verdict maps, in creation order.
    pub maps: Vec<Map>,
    /// Named counters.
    pub counters: Vec<Counter>,
}

impl Table {
    /// The chain called `name`.
    pub fn chain(&self, name: &str) -> Option<&Chain> {
        self.chains.iter().find(|c| c.name == name)
    }

    /// The set called `name`.
    pub fn set(&self, name: &str) -> Option<&Set> {
        self.sets.iter().find(|s| s.name == name)
    }

    /// The map called `name`.
    pub fn map(&self, name: &str) -> Option<&Map> {
        self.maps.iter().find(|m| m.name == name)
    }
}

/// A base chain's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChainType {
    /// `filter`.
    Filter,
    /// `nat`.
    Nat,
}

/// A netfilter hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Hook {
    /// `prerouting`.
    Prerouting,
    /// `input`.
    Input,
    /// `forward`.
    Forward,
    /// `output`.
    Output,
    /// `postrouting`.
    Postrouting,
}

/// What makes a chain a base chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BaseChain {
    /// The type.
    pub type_: ChainType,
    /// The hook.
    pub hook: Hook,
    /// The priority, as a number (`dstnat` is -100, `srcnat` 100, `filter` 0).
    pub priority: i32,
}

/// A chain with its rules.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Chain {
    /// The name.
    pub name: String,
    /// Hook, type and priority of a base chain.
    pub base: Option<BaseChain>,
    /// The chain comment.
    pub comment: Option<String>,
    /// The rules, in order.
    pub rules: Vec<Rule>,
}

/// One rule: expressions evaluated left to right, then an optional comment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    /// The expressions.
    pub exprs: Vec<Expr>,
    /// The rule comment.
    pub comment: Option<String>,
}

/// Which packet field a concatenated lookup key is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Lookup {
    /// `ip daddr . meta l4proto . th dport`.
    DaddrProtoPort,
    /// `meta l4proto . th dport`.
    ProtoPort,
}

/// One piece of a rule: a match, a statement or a verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Expr {
    /// `ct state new`.
    CtStateNew,
    /// `ct status dnat`.
    CtStatusDnat,
    /// `ip daddr @SET`.
    DaddrInSet(String),
    /// `ip saddr @SET`.
    SaddrInSet(String),
    /// `ip daddr [!=] ADDR`.
    Daddr {
        /// `!=`.
        negated: bool,
        /// The address or network.
        addr: Addr,
    },
    /// `ip saddr [!=] ADDR`.
    Saddr {
        /// `!=`.
        negated: bool,
        /// The address or network.
        addr: Addr,
    },
    /// `iifname [!=] NAME` (a name ending in `*` matches every interface it
    /// prefixes): the interface local-traffic detectors.
    Iifname {
        /// `!=`.
        negated: bool,
        /// The name as written (`cbr0`, `veth*`).
        name: String,
    },
    /// `iif [!=] NAME`: what the interface detectors wrote before 1.34
    /// (see [`crate::config::KubeVersion::nftables_iifname`]).
    Iif {
        /// `!=`.
        negated: bool,
        /// The name as written.
        name: String,
    },
    /// `PROTO dport PORT` (before 1.34, the per-service masquerade rule;
    /// see [`crate::config::KubeVersion::nftables_masquerade_matches_port`]).
    Dport(Protocol, u16),
    /// `ip daddr { A,B }` (kube-proxy joins its service CIDRs with a bare comma).
    DaddrInCidrs(Vec<Addr>),
    /// `ip saddr != { A , B }`.
    SaddrNotIn(Vec<Addr>),
    /// `fib saddr type local`.
    FibSaddrLocal,
    /// `fib daddr type local`.
    FibDaddrLocal,
    /// `ip saddr . ip daddr . meta l4proto . th dport @SET`.
    ConnectionInSet(String),
    /// `mark and MARK != 0`.
    MarkSet(u32),
    /// `mark and MARK == 0` (the masquerading chain until 1.35).
    MarkUnset(u32),
    /// `meta l4proto PROTO`.
    L4Proto(Protocol),
    /// `mark set mark or MARK`.
    SetMark(u32),
    /// `mark set mark xor MARK`.
    ClearMark(u32),
    /// `masquerade fully-random`.
    Masquerade,
    /// `update @SET { ip saddr }`.
    UpdateSaddr(String),
    /// `counter name "NAME"`.
    NamedCounter(String),
    /// `KEY vmap @MAP`.
    Vmap {
        /// The key.
        key: Lookup,
        /// The map.
        map: String,
    },
    /// `numgen random mod N vmap { 0 : goto A , 1 : goto B }`.
    NumgenGoto(Vec<String>),
    /// `dnat to IP:PORT` (`[IP]:PORT` for IPv6).
    DnatTo(SocketAddr),
    /// `dnat ip addr . port to numgen random mod N map { 0 : IP . PORT , … }`.
    DnatNumgen(Vec<SocketAddr>),
    /// `jump CHAIN`.
    Jump(String),
    /// `goto CHAIN`.
    Goto(String),
    /// `return`.
    Return,
    /// `drop`.
    Drop,
    /// `reject`.
    Reject,
}

pub use crate::proxy::Addr;

/// A set's flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SetFlag {
    /// `dynamic`.
    Dynamic,
    /// `timeout`.
    Timeout,
}

/// A named set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Set {
    /// The name.
    pub name: String,
    /// The key type (`ipv4_addr`, `ipv4_addr . inet_proto . inet_service`, …).
    pub key_type: String,
    /// Flags.
    pub flags: Vec<SetFlag>,
    /// Element timeout in seconds.
    pub timeout: Option<u32>,
    /// The set comment.
    pub comment: Option<String>,
    /// The elements.
    pub elements: Vec<Element>,
}

/// A named verdict map.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Map {
    /// The name.
    pub name: String,
    /// The key type; the value type is always `verdict`.
    pub key_type: String,
    /// The map comment.
    pub comment: Option<String>,
    /// The elements.
    pub elements: Vec<Element>,
}

/// One part of an element key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyPart {
    /// An address.
    Addr(IpAddr),
    /// A protocol (`tcp`, `udp`, `sctp`).
    Proto(Protocol),
    /// A port.
    Port(u16),
}

/// A map value: the verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// `goto CHAIN`.
    Goto(String),
    /// `drop`.
    Drop,
}

/// A set or map element.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Element {
    /// The key parts, joined by ` . `.
    pub key: Vec<KeyPart>,
    /// The element comment.
    pub comment: Option<String>,
    /// The value (maps only).
    pub value: Option<Verdict>,
}

/// A named counter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Counter {
    /// The name.
    pub name: String,
}
