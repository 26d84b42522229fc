//! What kube-proxy's IPVS mode programs on a node, as typed values: IPVS
//! virtual and real servers, ipsets, the iptables rules that go with them,
//! the addresses bound to `kube-ipvs0`, and the sysctls it sets.
//!
//! Nothing here holds text from the input: every field is an address, a
//! port, a protocol or one of kube-proxy's own constants, so no Service
//! name or annotation can reach the rendered rules.

use crate::config::IpFamily;
use crate::table::Protocol;
use ipnet::IpNet;
use serde::Serialize;
use std::net::{IpAddr, SocketAddr};

/// Everything IPVS mode programs: one [`FamilyRuleset`] per proxier
/// (kube-proxy runs an IPv4 and an IPv6 proxier on a dual-stack node).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IpvsRuleset {
    /// One per IP family, IPv4 first.
    pub families: Vec<FamilyRuleset>,
    /// The sysctls kube-proxy sets at start-up (`NewProxier`).
    pub sysctls: Vec<Sysctl>,
}

/// What one single-stack IPVS proxier programs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FamilyRuleset {
    /// The proxier's family.
    pub family: IpFamily,
    /// IPVS virtual servers with their real servers, sorted by protocol,
    /// address and port (the kernel keeps them in a hash; order carries no meaning).
    pub virtual_servers: Vec<VirtualServer>,
    /// Every ipset kube-proxy creates, in kube-proxy's `ipsetInfo` order.
    pub ipsets: Vec<IpSet>,
    /// The `nat` and `filter` tables kube-proxy restores.
    pub tables: Vec<Table>,
    /// The jumps kube-proxy inserts into the built-in chains (`iptables -I`).
    pub jumps: Vec<Jump>,
    /// Addresses bound to the `kube-ipvs0` dummy interface, sorted.
    pub bound_addresses: Vec<IpAddr>,
    /// The node addresses used for node-port virtual servers.
    pub node_port_addresses: Vec<IpAddr>,
}

/// What a virtual server fronts (kube-proxy creates one per kind of address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum VirtualServerKind {
    /// The cluster IP on the service port.
    ClusterIP,
    /// An external IP on the service port.
    ExternalIP,
    /// A load-balancer ingress IP on the service port.
    LoadBalancer,
    /// A node address on the node port.
    NodePort,
}

/// An IPVS virtual service (`ipvsadm -A`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VirtualServer {
    /// The address.
    pub address: IpAddr,
    /// The port.
    pub port: u16,
    /// The protocol.
    pub protocol: Protocol,
    /// The scheduler (`rr`, `wrr`, `lc`, `wlc`, `lblc`, `lblcr`, `sh`, `dh`, `sed`, `nq`, `mh`).
    pub scheduler: String,
    /// ClientIP session affinity: the persistence timeout in seconds
    /// (flag `persistent` with `timeout`).
    pub persistence_timeout: Option<u32>,
    /// The second scheduler flag (0x10), which kube-proxy sets for `mh`
    /// (ipvsadm shows it as `mh-port`).
    pub sched_flag_port: bool,
    /// What the address is.
    pub kind: VirtualServerKind,
    /// The service port it belongs to (`namespace/name:port`).
    pub service_port: String,
    /// The real servers, sorted by address and port.
    pub real_servers: Vec<RealServer>,
}

impl VirtualServer {
    /// `address:port`, IPv6 in brackets.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.address, self.port)
    }
}

/// An IPVS destination (`ipvsadm -a`): masquerading (NAT) forwarding.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RealServer {
    /// The endpoint address.
    pub address: IpAddr,
    /// The endpoint port.
    pub port: u16,
    /// The weight (kube-proxy always uses 1).
    pub weight: u32,
}

impl RealServer {
    /// `address:port`, IPv6 in brackets.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.address, self.port)
    }
}

/// An ipset type, as `ipset create` names it (JSON: that name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetType {
    /// `hash:ip`.
    HashIp,
    /// `hash:ip,port`.
    HashIpPort,
    /// `hash:ip,port,ip`.
    HashIpPortIp,
    /// `hash:ip,port,net`.
    HashIpPortNet,
    /// `bitmap:port`.
    BitmapPort,
}

impl SetType {
    /// The type as `ipset` writes it.
    pub fn as_str(&self) -> &'static str {
        match self {
            SetType::HashIp => "hash:ip",
            SetType::HashIpPort => "hash:ip,port",
            SetType::HashIpPortIp => "hash:ip,port,ip",
            SetType::HashIpPortNet => "hash:ip,port,net",
            SetType::BitmapPort => "bitmap:port",
        }
    }
}

/// One ipset kube-proxy maintains.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IpSet {
    /// The set name (`KUBE-…`; the IPv6 proxier's are `KUBE-6-…`, cut to 31 characters).
    pub name: String,
    /// The name the IPv4 proxier uses (kube-proxy's constant), whatever the family.
    pub base_name: &'static str,
    /// The type.
    pub set_type: SetType,
    /// The family (`inet` / `inet6` for hash types).
    pub family: IpFamily,
    /// kube-proxy's comment for the set; used as `-m comment` text in rules.
    pub comment: &'static str,
    /// The entries, sorted and deduplicated.
    pub entries: Vec<SetEntry>,
}

/// One ipset member, in the shape of its set type (JSON: as `ipset add` takes it).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum SetEntry {
    /// `hash:ip`: an address.
    Ip(IpAddr),
    /// `hash:ip,port`: `ip,proto:port`.
    IpPort(IpAddr, Protocol, u16),
    /// `hash:ip,port,ip`: `ip,proto:port,ip2`.
    IpPortIp(IpAddr, Protocol, u16, IpAddr),
    /// `hash:ip,port,net`: `ip,proto:port,net`.
    IpPortNet(IpAddr, Protocol, u16, IpNet),
    /// `bitmap:port`: a port.
    Port(u16),
}

/// An iptables table kube-proxy restores.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Table {
    /// `nat` or `filter`.
    pub name: &'static str,
    /// The chains declared (`:CHAIN - [0:0]`), in kube-proxy's order.
    pub chains: Vec<&'static str>,
    /// The rules, in the order written.
    pub rules: Vec<Rule>,
}

/// One `-A CHAIN …` rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    /// The chain.
    pub chain: &'static str,
    /// The matches, in the order written.
    pub matches: Vec<Match>,
    /// The target.
    pub target: Target,
}

/// A rule match (JSON: its iptables text).
#[derive(Debug, Clone, PartialEq)]
pub enum Match {
    /// `-s NET` (`! -s NET` when negated).
    Source {
        /// The network.
        net: IpNet,
        /// `!`.
        negated: bool,
    },
    /// `-s IP`: a bare address, as kube-proxy writes it in `KUBE-IPVS-OUT-FILTER`.
    SourceIp(IpAddr),
    /// `-i NAME` (`! -i NAME` when negated; a name ending in `+` matches
    /// every interface it prefixes): the interface local-traffic detectors.
    InInterface {
        /// The interface name, as written.
        name: String,
        /// `!`.
        negated: bool,
    },
    /// `-p PROTO`.
    Protocol(Protocol),
    /// `-m comment --comment "TEXT"` (always one of kube-proxy's constants).
    Comment(&'static str),
    /// `-m set --match-set NAME DIRS`.
    Set {
        /// The set name.
        name: String,
        /// `dst`, `dst,dst`, `src,dst`, `dst,dst,src`.
        dirs: &'static str,
    },
    /// `-m physdev ! --physdev-is-in`: the packet did not come in through a bridge port.
    NotPhysdevIsIn,
    /// `-m addrtype [!] --src-type|--dst-type LOCAL`.
    AddrTypeLocal {
        /// `--dst-type` (else `--src-type`).
        dst: bool,
        /// `!`.
        negated: bool,
    },
    /// `-m mark [!] --mark MARK/MARK`.
    Mark {
        /// The mark and mask.
        mark: u32,
        /// `!`.
        negated: bool,
    },
    /// `-m conntrack --ctstate STATES`.
    CtState(&'static str),
    /// `-m ipvs --vaddr IP --vproto PROTO --vport PORT`.
    Ipvs {
        /// The virtual address.
        vaddr: IpAddr,
        /// The protocol.
        vproto: Protocol,
        /// The port.
        vport: u16,
    },
}

/// A rule target (JSON: its iptables text).
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// `-j CHAIN` (a kube-proxy chain).
    Jump(&'static str),
    /// `-j ACCEPT`.
    Accept,
    /// `-j RETURN`.
    Return,
    /// `-j DROP`.
    Drop,
    /// `-j REJECT`.
    Reject,
    /// `-j MASQUERADE [--random-fully]`.
    Masquerade {
        /// `--random-fully`.
        random_fully: bool,
    },
    /// `-j MARK --or-mark MARK`.
    MarkOr(u32),
    /// `-j MARK --xor-mark MARK`.
    MarkXor(u32),
}

/// A jump from a built-in chain into a kube-proxy chain, with its comment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Jump {
    /// `nat` or `filter`.
    pub table: &'static str,
    /// The built-in chain.
    pub from: &'static str,
    /// kube-proxy's chain.
    pub to: &'static str,
    /// The comment.
    pub comment: &'static str,
}

/// A sysctl kube-proxy sets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sysctl {
    /// The key, with slashes as kube-proxy writes it (`net/ipv4/vs/conntrack`).
    pub key: &'static str,
    /// The value.
    pub value: u32,
}

/// Types whose JSON form is their text (`Display`): set types, set
/// entries, matches and targets read as users know them from the tools.
macro_rules! serialize_as_text {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    )*};
}
serialize_as_text!(SetType, SetEntry, Match, Target);
