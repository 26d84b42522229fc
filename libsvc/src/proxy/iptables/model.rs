//! The typed ruleset of kube-proxy's iptables mode: tables of chains of
//! rules, each rule a list of matches and a target, in the order
//! kube-proxy writes their options. `render` turns it into text; `trace`
//! walks it.

use crate::config::IpFamily;
use crate::table::Protocol;
use serde::Serialize;
use std::net::SocketAddr;

/// An iptables table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum TableName {
    /// `filter`.
    Filter,
    /// `nat`.
    Nat,
}

impl TableName {
    /// The name iptables uses.
    pub fn as_str(&self) -> &'static str {
        match self {
            TableName::Filter => "filter",
            TableName::Nat => "nat",
        }
    }
}

/// The ruleset of one IP family: what kube-proxy restores with
/// `iptables-restore` (or `ip6tables-restore`), plus the jumps it installs
/// from the built-in chains outside that payload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ruleset {
    /// The family (IPv4: iptables, IPv6: ip6tables).
    pub family: IpFamily,
    /// `filter` then `nat`.
    pub tables: Vec<Table>,
    /// Jumps from the built-in chains, in the order kube-proxy prepends them.
    pub jumps: Vec<BuiltinJump>,
}

impl Ruleset {
    /// The table `name`.
    pub fn table(&self, name: TableName) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// The chain `chain` of table `table`.
    pub fn chain(&self, table: TableName, chain: &str) -> Option<&Chain> {
        self.table(table)?.chains.iter().find(|c| c.name == chain)
    }
}

/// One table of the payload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Table {
    /// The table.
    pub name: TableName,
    /// Its chains, in the order kube-proxy declares them.
    pub chains: Vec<Chain>,
}

/// A chain (always kube-proxy's own; the payload flushes and refills it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Chain {
    /// The name (`KUBE-SERVICES`, `KUBE-SVC-…`).
    pub name: String,
    /// The rules, in order.
    pub rules: Vec<Rule>,
}

/// A rule kube-proxy installs in a built-in chain (`-I CHAIN …`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BuiltinJump {
    /// The table.
    pub table: TableName,
    /// The built-in chain (`PREROUTING`, `INPUT`, …).
    pub chain: String,
    /// The rule.
    pub rule: Rule,
}

/// One rule: matches in the order they are written, then the target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    /// The matches.
    pub matches: Vec<Match>,
    /// The target; `None` for a rule that only counts (the end of a KUBE-FW chain).
    pub target: Option<Target>,
}

pub use crate::proxy::Addr;

/// The iptables JSON names an address's kinds `Ip` / `Net`, like the rest
/// of this model (the shared [`Addr`] itself says `ip` / `net`, as the
/// nftables JSON does).
fn addr_json<S: serde::Serializer>(addr: &Addr, s: S) -> Result<S::Ok, S::Error> {
    match addr {
        Addr::Ip(ip) => s.serialize_newtype_variant("Addr", 0, "Ip", ip),
        Addr::Net(net) => s.serialize_newtype_variant("Addr", 1, "Net", net),
    }
}

/// `--src-type` or `--dst-type` of the addrtype match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AddrSide {
    /// `--src-type`.
    Src,
    /// `--dst-type`.
    Dst,
}

/// A comment and whether kube-proxy writes it in double quotes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Comment {
    /// The text.
    pub text: String,
    /// kube-proxy quotes it (multi-word comments); text that is not a
    /// plain token is always quoted when rendered.
    pub quoted: bool,
}

/// One match of a rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Match {
    /// `-m comment --comment TEXT`.
    Comment(Comment),
    /// `-m PROTO -p PROTO`.
    Protocol(Protocol),
    /// `[!] -s ADDR`.
    Source {
        /// Negated.
        negated: bool,
        /// The address.
        #[serde(serialize_with = "addr_json")]
        addr: Addr,
    },
    /// `[!] -i NAME` (a name ending in `+` matches every interface it prefixes).
    InInterface {
        /// Negated.
        negated: bool,
        /// The interface name, as written.
        name: String,
    },
    /// `[!] -d ADDR`.
    Destination {
        /// Negated.
        negated: bool,
        /// The address.
        #[serde(serialize_with = "addr_json")]
        addr: Addr,
    },
    /// `--dport N` (follows a `Protocol`).
    DestPort(u16),
    /// `-m addrtype --src-type LOCAL` / `--dst-type LOCAL`.
    AddrTypeLocal(AddrSide),
    /// `-m nfacct --nfacct-name NAME`.
    Nfacct(String),
    /// `-m statistic --mode random --probability 1/n` (n: the endpoints left).
    Probability(usize),
    /// `-m recent --name NAME --set`.
    RecentSet(String),
    /// `-m recent --name NAME --rcheck --seconds N --reap`.
    RecentCheck {
        /// The list (the endpoint chain).
        name: String,
        /// The affinity timeout.
        seconds: u32,
    },
    /// `-m mark [!] --mark M/M`.
    Mark {
        /// Negated.
        negated: bool,
        /// The mark.
        mark: u32,
    },
    /// `-m conntrack [!] --ctstate STATES`.
    CtState {
        /// Negated.
        negated: bool,
        /// `INVALID`, `RELATED,ESTABLISHED`, …
        states: String,
    },
}

impl Match {
    /// Does interface `name` as iptables writes it (`eth0`, `veth+`) match
    /// the input interface `iface` (`None`: none, e.g. a locally sent packet)?
    pub fn interface_matches(name: &str, iface: Option<&str>) -> bool {
        match (name.strip_suffix('+'), iface) {
            (_, None) => false,
            (Some(prefix), Some(i)) => i.starts_with(prefix),
            (None, Some(i)) => i == name,
        }
    }

    /// The probability of a statistic match (1/n).
    pub fn probability(n: usize) -> f64 {
        1.0 / n.max(1) as f64
    }
}

/// The target of a rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Target {
    /// `-j CHAIN`.
    Jump(String),
    /// `-j ACCEPT`.
    Accept,
    /// `-j DROP`.
    Drop,
    /// `-j REJECT`.
    Reject,
    /// `-j RETURN`.
    Return,
    /// `-j MARK --or-mark M`.
    MarkOr(u32),
    /// `-j MARK --xor-mark M`.
    MarkXor(u32),
    /// `-j MASQUERADE [--random-fully]`.
    Masquerade {
        /// `--random-fully`.
        random_fully: bool,
    },
    /// `-j DNAT --to-destination IP:port`.
    Dnat(SocketAddr),
}

impl Rule {
    /// A rule from its matches and target.
    pub fn new(matches: Vec<Match>, target: Target) -> Rule {
        Rule {
            matches,
            target: Some(target),
        }
    }

    /// The statistic match's `n`, if the rule has one.
    pub fn probability_n(&self) -> Option<usize> {
        self.matches.iter().find_map(|m| match m {
            Match::Probability(n) => Some(*n),
            _ => None,
        })
    }
}
