//! ServiceTable + Settings → [`IpvsRuleset`], following kube-proxy's
//! `pkg/proxy/ipvs/proxier.go` (`syncProxyRules`, `writeIptablesRules`,
//! `syncEndpoint`) one step at a time.

use super::model::*;
use crate::config::{IpFamily, Settings};
use crate::proxy::{
    LocalDetector, ServicePortInfo, categorize_endpoints, local_detector, node_port_cidrs,
    service_ports,
};
use crate::table::{Protocol, ServiceTable};
use ipnet::IpNet;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// The schedulers kube-proxy's configuration validation accepts
/// (`validateIPVSSchedulerMethod`); empty means `rr`.
pub const SCHEDULERS: [&str; 11] = [
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "sh", "dh", "sed", "nq", "mh",
];

/// The ipsets of IPVS mode, in kube-proxy's `ipsetInfo` order; the index
/// into [`SET_INFO`] identifies a set while building.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetId {
    LoopBack,
    ClusterIp,
    ExternalIp,
    ExternalIpLocal,
    LoadBalancer,
    LoadBalancerFw,
    LoadBalancerLocal,
    LoadBalancerSourceIp,
    LoadBalancerSourceCidr,
    NodePortTcp,
    NodePortLocalTcp,
    NodePortUdp,
    NodePortLocalUdp,
    NodePortSctp,
    NodePortLocalSctp,
    HealthCheckNodePort,
    IpvsIps,
}

/// Name, type and comment of each set (`pkg/proxy/ipvs/ipset.go`).
const SET_INFO: [(SetId, &str, SetType, &str); 17] = [
    (
        SetId::LoopBack,
        "KUBE-LOOP-BACK",
        SetType::HashIpPortIp,
        "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose",
    ),
    (
        SetId::ClusterIp,
        "KUBE-CLUSTER-IP",
        SetType::HashIpPort,
        "Kubernetes service cluster ip + port for masquerade purpose",
    ),
    (
        SetId::ExternalIp,
        "KUBE-EXTERNAL-IP",
        SetType::HashIpPort,
        "Kubernetes service external ip + port for masquerade and filter purpose",
    ),
    (
        SetId::ExternalIpLocal,
        "KUBE-EXTERNAL-IP-LOCAL",
        SetType::HashIpPort,
        "Kubernetes service external ip + port with externalTrafficPolicy=local",
    ),
    (
        SetId::LoadBalancer,
        "KUBE-LOAD-BALANCER",
        SetType::HashIpPort,
        "Kubernetes service lb portal",
    ),
    (
        SetId::LoadBalancerFw,
        "KUBE-LOAD-BALANCER-FW",
        SetType::HashIpPort,
        "Kubernetes service load balancer ip + port for load balancer with sourceRange",
    ),
    (
        SetId::LoadBalancerLocal,
        "KUBE-LOAD-BALANCER-LOCAL",
        SetType::HashIpPort,
        "Kubernetes service load balancer ip + port with externalTrafficPolicy=local",
    ),
    (
        SetId::LoadBalancerSourceIp,
        "KUBE-LOAD-BALANCER-SOURCE-IP",
        SetType::HashIpPortIp,
        "Kubernetes service load balancer ip + port + source IP for packet filter purpose",
    ),
    (
        SetId::LoadBalancerSourceCidr,
        "KUBE-LOAD-BALANCER-SOURCE-CIDR",
        SetType::HashIpPortNet,
        "Kubernetes service load balancer ip + port + source cidr for packet filter purpose",
    ),
    (
        SetId::NodePortTcp,
        "KUBE-NODE-PORT-TCP",
        SetType::BitmapPort,
        "Kubernetes nodeport TCP port for masquerade purpose",
    ),
    (
        SetId::NodePortLocalTcp,
        "KUBE-NODE-PORT-LOCAL-TCP",
        SetType::BitmapPort,
        "Kubernetes nodeport TCP port with externalTrafficPolicy=local",
    ),
    (
        SetId::NodePortUdp,
        "KUBE-NODE-PORT-UDP",
        SetType::BitmapPort,
        "Kubernetes nodeport UDP port for masquerade purpose",
    ),
    (
        SetId::NodePortLocalUdp,
        "KUBE-NODE-PORT-LOCAL-UDP",
        SetType::BitmapPort,
        "Kubernetes nodeport UDP port with externalTrafficPolicy=local",
    ),
    (
        SetId::NodePortSctp,
        "KUBE-NODE-PORT-SCTP-HASH",
        SetType::HashIpPort,
        "Kubernetes nodeport SCTP port for masquerade purpose with type 'hash ip:port'",
    ),
    (
        SetId::NodePortLocalSctp,
        "KUBE-NODE-PORT-LOCAL-SCTP-HASH",
        SetType::HashIpPort,
        "Kubernetes nodeport SCTP port with externalTrafficPolicy=local with type 'hash ip:port'",
    ),
    (
        SetId::HealthCheckNodePort,
        "KUBE-HEALTH-CHECK-NODE-PORT",
        SetType::BitmapPort,
        "Kubernetes health check node port",
    ),
    (
        SetId::IpvsIps,
        "KUBE-IPVS-IPS",
        SetType::HashIp,
        "Addresses on the ipvs interface",
    ),
];

/// kube-proxy's chains, per table, in `iptablesChains` order (public:
/// the node agent owns exactly these chains in ipvs mode).
pub const NAT_CHAINS: [&str; 5] = [
    "KUBE-SERVICES",
    "KUBE-POSTROUTING",
    "KUBE-NODE-PORT",
    "KUBE-LOAD-BALANCER",
    "KUBE-MARK-MASQ",
];
/// The `filter` table's chains, in `iptablesChains` order.
pub const FILTER_CHAINS: [&str; 6] = [
    "KUBE-FORWARD",
    "KUBE-NODE-PORT",
    "KUBE-PROXY-FIREWALL",
    "KUBE-SOURCE-RANGES-FIREWALL",
    "KUBE-IPVS-FILTER",
    "KUBE-IPVS-OUT-FILTER",
];

/// The jumps from built-in chains (`iptablesJumpChain`), in the order
/// kube-proxy inserts them: (table, from, to, comment). Public: the node
/// agent inserts and removes exactly these.
pub const JUMPS: [(&str, &str, &str, &str); 9] = [
    (
        "nat",
        "OUTPUT",
        "KUBE-SERVICES",
        "kubernetes service portals",
    ),
    (
        "nat",
        "PREROUTING",
        "KUBE-SERVICES",
        "kubernetes service portals",
    ),
    (
        "nat",
        "POSTROUTING",
        "KUBE-POSTROUTING",
        "kubernetes postrouting rules",
    ),
    (
        "filter",
        "FORWARD",
        "KUBE-FORWARD",
        "kubernetes forwarding rules",
    ),
    (
        "filter",
        "INPUT",
        "KUBE-NODE-PORT",
        "kubernetes health check rules",
    ),
    (
        "filter",
        "INPUT",
        "KUBE-PROXY-FIREWALL",
        "kube-proxy firewall rules",
    ),
    (
        "filter",
        "FORWARD",
        "KUBE-PROXY-FIREWALL",
        "kube-proxy firewall rules",
    ),
    (
        "filter",
        "INPUT",
        "KUBE-IPVS-FILTER",
        "kubernetes ipvs access filter",
    ),
    (
        "filter",
        "OUTPUT",
        "KUBE-IPVS-OUT-FILTER",
        "kubernetes ipvs access filter",
    ),
];

/// Why the ruleset cannot be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError(pub String);

/// Builds what kube-proxy's IPVS proxiers program for the families of `settings`.
pub fn build(table: &ServiceTable, settings: &Settings) -> Result<IpvsRuleset, BuildError> {
    let scheduler = match settings.proxy.ipvs_scheduler.as_str() {
        "" => "rr",
        s if SCHEDULERS.contains(&s) => s,
        s => {
            return Err(BuildError(format!(
                "ipvs.scheduler: Invalid value: {s:?}: supported values: {}",
                SCHEDULERS.join(", ")
            )));
        }
    };
    let families = families(table, settings)
        .into_iter()
        .map(|f| build_family(table, settings, f, scheduler))
        .collect();
    Ok(IpvsRuleset {
        families,
        sysctls: sysctls(settings),
    })
}

/// The proxiers to run: the one `--ip-family` names; otherwise each family
/// the node or a Service uses (a single-stack node runs one proxier), IPv4
/// when nothing says.
fn families(table: &ServiceTable, settings: &Settings) -> Vec<IpFamily> {
    if let Some(f) = settings.ip_family {
        return vec![f];
    }
    let used: Vec<IpFamily> = IpFamily::BOTH
        .into_iter()
        .filter(|f| {
            settings.node.primary_ip(*f).is_some()
                || table.services.iter().any(|s| s.cluster_ip(*f).is_some())
        })
        .collect();
    if used.is_empty() {
        vec![IpFamily::IPv4]
    } else {
        used
    }
}

/// The sysctls `NewProxier` ensures. `net/ipv4/vs/conn_reuse_mode` is set
/// to 0 only on kernels older than 5.9 and left alone otherwise; svcgen
/// assumes a current kernel.
fn sysctls(settings: &Settings) -> Vec<Sysctl> {
    let mut out = vec![
        Sysctl {
            key: "net/ipv4/vs/conntrack",
            value: 1,
        },
        Sysctl {
            key: "net/ipv4/vs/expire_nodest_conn",
            value: 1,
        },
        Sysctl {
            key: "net/ipv4/vs/expire_quiescent_template",
            value: 1,
        },
        Sysctl {
            key: "net/ipv4/ip_forward",
            value: 1,
        },
    ];
    if settings.proxy.ipvs_strict_arp {
        out.push(Sysctl {
            key: "net/ipv4/conf/all/arp_ignore",
            value: 1,
        });
        out.push(Sysctl {
            key: "net/ipv4/conf/all/arp_announce",
            value: 2,
        });
    }
    out
}

/// The set name a proxier of `family` uses: IPv6 ones start `KUBE-6-`,
/// cut to ipset's 31-character limit.
pub fn set_name(base: &str, family: IpFamily) -> String {
    match (family, base.strip_prefix("KUBE-")) {
        (IpFamily::IPv6, Some(rest)) => {
            let mut name = format!("KUBE-6-{rest}");
            name.truncate(31);
            name
        }
        _ => base.to_string(),
    }
}

/// The node addresses kube-proxy sees on interfaces other than kube-ipvs0
/// (`GetAllLocalAddressesExcept`): of the family, not loopback, not IPv6 link-local.
fn node_address_set(settings: &Settings, family: IpFamily) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    for ip in settings.node.ips.iter().copied() {
        let link_local = matches!(ip, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80);
        if IpFamily::of(&ip) == family && !ip.is_loopback() && !link_local && !out.contains(&ip) {
            out.push(ip);
        }
    }
    out
}

/// The addresses node ports listen on (`nodePortAddresses`): all node
/// addresses when it is empty, has no CIDR of this family, or has a zero
/// CIDR; otherwise the node's non-loopback addresses inside its CIDRs
/// (`primary` meaning the node's primary IP).
fn node_port_ips(settings: &Settings, family: IpFamily, node_addrs: &[IpAddr]) -> Vec<IpAddr> {
    let cidrs = node_port_cidrs(settings, family, false);
    if cidrs.is_empty() || cidrs.iter().any(|n| n.prefix_len() == 0) {
        return node_addrs.to_vec();
    }
    settings
        .node
        .local_ips(family)
        .into_iter()
        .filter(|ip| !ip.is_loopback() && cidrs.iter().any(|n| n.contains(ip)))
        .fold(Vec::new(), |mut acc, ip| {
            if !acc.contains(&ip) {
                acc.push(ip);
            }
            acc
        })
}

/// `syncEndpoint`: the real servers of a virtual server; Local policy falls
/// back to the cluster-wide endpoints when there is no local one.
fn real_servers(sp: &ServicePortInfo, only_local: bool) -> Vec<RealServer> {
    let cat = categorize_endpoints(sp);
    let chosen = if only_local && !cat.local.is_empty() {
        cat.local
    } else {
        cat.cluster
    };
    let set: BTreeSet<RealServer> = chosen
        .into_iter()
        .map(|e| RealServer {
            address: e.ip,
            port: e.port,
            weight: 1,
        })
        .collect();
    set.into_iter().collect()
}

/// Accumulates one proxier's state while walking the service ports.
struct Builder<'s> {
    family: IpFamily,
    scheduler: &'s str,
    sets: Vec<BTreeSet<SetEntry>>,
    servers: BTreeMap<(Protocol, IpAddr, u16), VirtualServer>,
    bound: BTreeSet<IpAddr>,
    /// Load-balancer IP:port the node itself may not reach (source ranges
    /// that exclude the node IP): `KUBE-IPVS-OUT-FILTER` drops.
    lb_no_node_access: BTreeSet<(IpAddr, Protocol, u16)>,
}

impl Builder<'_> {
    fn add(&mut self, set: SetId, entry: SetEntry) {
        self.sets[set as usize].insert(entry);
    }

    fn is_empty(&self, set: SetId) -> bool {
        self.sets[set as usize].is_empty()
    }

    /// Adds a virtual server unless one with the same address, port and
    /// protocol exists (Services sharing an address: the first in
    /// `namespace/name:port` order keeps it; kube-proxy's map order decides).
    fn server(
        &mut self,
        sp: &ServicePortInfo,
        kind: VirtualServerKind,
        address: IpAddr,
        port: u16,
        only_local: bool,
    ) {
        let key = (sp.protocol(), address, port);
        if self.servers.contains_key(&key) {
            return;
        }
        let vs = VirtualServer {
            address,
            port,
            protocol: sp.protocol(),
            scheduler: self.scheduler.to_string(),
            persistence_timeout: sp.affinity_timeout(),
            sched_flag_port: self.scheduler == "mh",
            kind,
            service_port: sp.port_name(),
            real_servers: real_servers(sp, only_local),
        };
        self.servers.insert(key, vs);
    }
}

fn build_family(
    table: &ServiceTable,
    settings: &Settings,
    family: IpFamily,
    scheduler: &str,
) -> FamilyRuleset {
    let ports = service_ports(table, settings, family);
    let node_addrs = node_address_set(settings, family);
    let has_node_port = ports
        .iter()
        .any(|sp| sp.node_port().is_some_and(|p| p != 0));
    let node_ips = if has_node_port {
        node_port_ips(settings, family, &node_addrs)
    } else {
        Vec::new()
    };
    let node_ip = settings.node.node_ip(family);
    let mut b = Builder {
        family,
        scheduler,
        sets: vec![BTreeSet::new(); SET_INFO.len()],
        servers: BTreeMap::new(),
        bound: BTreeSet::new(),
        lb_no_node_access: BTreeSet::new(),
    };
    for sp in &ports {
        service_port(&mut b, sp, &node_addrs, &node_ips, node_ip);
    }
    // KUBE-IPVS-IPS always equals the addresses bound to kube-ipvs0.
    let bound: Vec<IpAddr> = b.bound.iter().copied().collect();
    for ip in &bound {
        b.add(SetId::IpvsIps, SetEntry::Ip(*ip));
    }
    let tables = iptables(&b, settings);
    let ipsets = SET_INFO
        .iter()
        .map(|(id, name, set_type, comment)| IpSet {
            name: set_name(name, family),
            base_name: name,
            set_type: *set_type,
            family,
            comment,
            entries: b.sets[*id as usize].iter().cloned().collect(),
        })
        .collect();
    let jumps = JUMPS
        .iter()
        .map(|(table, from, to, comment)| Jump {
            table,
            from,
            to,
            comment,
        })
        .collect();
    let mut virtual_servers: Vec<VirtualServer> = b.servers.into_values().collect();
    virtual_servers.sort_by_key(|v| (v.protocol, v.address, v.port));
    FamilyRuleset {
        family,
        virtual_servers,
        ipsets,
        tables,
        jumps,
        bound_addresses: bound,
        node_port_addresses: node_ips,
    }
}

/// One iteration of `syncProxyRules`' loop over service ports.
fn service_port(
    b: &mut Builder,
    sp: &ServicePortInfo,
    node_addrs: &[IpAddr],
    node_ips: &[IpAddr],
    node_ip: IpAddr,
) {
    let proto = sp.protocol();
    let port = sp.port.port;
    // Hairpin: every endpoint on this node, whatever its conditions.
    for ep in sp.endpoints.iter().filter(|e| e.is_local && e.port != 0) {
        b.add(
            SetId::LoopBack,
            SetEntry::IpPortIp(ep.ip, proto, ep.port, ep.ip),
        );
    }

    b.add(
        SetId::ClusterIp,
        SetEntry::IpPort(sp.cluster_ip, proto, port),
    );
    b.server(
        sp,
        VirtualServerKind::ClusterIP,
        sp.cluster_ip,
        port,
        sp.internal_policy_local(),
    );
    b.bound.insert(sp.cluster_ip);

    let external_local = sp.external_policy_local();
    for ip in &sp.external_ips {
        let set = if external_local {
            SetId::ExternalIpLocal
        } else {
            SetId::ExternalIp
        };
        b.add(set, SetEntry::IpPort(*ip, proto, port));
        b.server(sp, VirtualServerKind::ExternalIP, *ip, port, external_local);
        // An address already on another interface is not bound again.
        if !node_addrs.contains(ip) {
            b.bound.insert(*ip);
        }
    }

    for ip in &sp.load_balancer_vips {
        let entry = SetEntry::IpPort(*ip, proto, port);
        b.add(SetId::LoadBalancer, entry.clone());
        if external_local {
            b.add(SetId::LoadBalancerLocal, entry.clone());
        }
        if !sp.source_ranges.is_empty() {
            b.add(SetId::LoadBalancerFw, entry);
            for net in &sp.source_ranges {
                b.add(
                    SetId::LoadBalancerSourceCidr,
                    SetEntry::IpPortNet(*ip, proto, port, *net),
                );
            }
            if sp.source_ranges_allow_node(Some(node_ip)) {
                b.add(
                    SetId::LoadBalancerSourceIp,
                    SetEntry::IpPortIp(*ip, proto, port, *ip),
                );
            } else {
                b.lb_no_node_access.insert((*ip, proto, port));
            }
        }
        b.server(
            sp,
            VirtualServerKind::LoadBalancer,
            *ip,
            port,
            external_local,
        );
        if !node_addrs.contains(ip) {
            b.bound.insert(*ip);
        }
    }

    if let Some(node_port) = sp.node_port().filter(|p| *p != 0) {
        // Without a usable node address kube-proxy skips the rest of the
        // service port, health-check node port included.
        if node_ips.is_empty() {
            return;
        }
        let (set, local_set) = match proto {
            Protocol::TCP => (SetId::NodePortTcp, SetId::NodePortLocalTcp),
            Protocol::UDP => (SetId::NodePortUdp, SetId::NodePortLocalUdp),
            Protocol::SCTP => (SetId::NodePortSctp, SetId::NodePortLocalSctp),
        };
        let entries: Vec<SetEntry> = match proto {
            Protocol::SCTP => node_ips
                .iter()
                .map(|ip| SetEntry::IpPort(*ip, proto, node_port))
                .collect(),
            _ => vec![SetEntry::Port(node_port)],
        };
        for e in &entries {
            b.add(set, e.clone());
            if external_local {
                b.add(local_set, e.clone());
            }
        }
        for ip in node_ips {
            b.server(
                sp,
                VirtualServerKind::NodePort,
                *ip,
                node_port,
                external_local,
            );
        }
    }

    if let Some(hc) = sp.health_check_node_port().filter(|p| *p != 0) {
        b.add(SetId::HealthCheckNodePort, SetEntry::Port(hc));
    }
}

fn set_match(b: &Builder, set: SetId, dirs: &'static str) -> Match {
    Match::Set {
        name: set_name(SET_INFO[set as usize].1, b.family),
        dirs,
    }
}

fn comment(set: SetId) -> Match {
    Match::Comment(SET_INFO[set as usize].3)
}

fn rule(chain: &'static str, matches: Vec<Match>, target: Target) -> Rule {
    Rule {
        chain,
        matches,
        target,
    }
}

/// `writeIptablesRules`: the nat and filter rules, in kube-proxy's order.
fn iptables(b: &Builder, settings: &Settings) -> Vec<Table> {
    let family = b.family;
    let mark = 1u32 << settings.proxy.iptables_masquerade_bit.min(31);
    let mut nat: Vec<Rule> = Vec::new();
    let mut filter: Vec<Rule> = Vec::new();

    let loopback: IpNet = match family {
        IpFamily::IPv4 => "127.0.0.0/8".parse().expect("literal CIDR"),
        IpFamily::IPv6 => "::1/128".parse().expect("literal CIDR"),
    };
    nat.push(rule(
        "KUBE-SERVICES",
        vec![Match::Source {
            net: loopback,
            negated: false,
        }],
        Target::Return,
    ));

    // `ipsetWithIptablesChain`: one rule per non-empty set.
    let set_rules: [(SetId, bool, &'static str, &'static str, Target); 12] = [
        (
            SetId::LoopBack,
            false,
            "KUBE-POSTROUTING",
            "dst,dst,src",
            Target::Masquerade {
                random_fully: false,
            },
        ),
        (
            SetId::LoadBalancer,
            false,
            "KUBE-SERVICES",
            "dst,dst",
            Target::Jump("KUBE-LOAD-BALANCER"),
        ),
        (
            SetId::LoadBalancerLocal,
            false,
            "KUBE-LOAD-BALANCER",
            "dst,dst",
            Target::Return,
        ),
        (
            SetId::NodePortLocalTcp,
            false,
            "KUBE-NODE-PORT",
            "dst",
            Target::Return,
        ),
        (
            SetId::NodePortTcp,
            false,
            "KUBE-NODE-PORT",
            "dst",
            Target::Jump("KUBE-MARK-MASQ"),
        ),
        (
            SetId::NodePortLocalUdp,
            false,
            "KUBE-NODE-PORT",
            "dst",
            Target::Return,
        ),
        (
            SetId::NodePortUdp,
            false,
            "KUBE-NODE-PORT",
            "dst",
            Target::Jump("KUBE-MARK-MASQ"),
        ),
        (
            SetId::NodePortLocalSctp,
            false,
            "KUBE-NODE-PORT",
            "dst,dst",
            Target::Return,
        ),
        (
            SetId::NodePortSctp,
            false,
            "KUBE-NODE-PORT",
            "dst,dst",
            Target::Jump("KUBE-MARK-MASQ"),
        ),
        (
            SetId::LoadBalancerFw,
            true,
            "KUBE-PROXY-FIREWALL",
            "dst,dst",
            Target::Jump("KUBE-SOURCE-RANGES-FIREWALL"),
        ),
        (
            SetId::LoadBalancerSourceCidr,
            true,
            "KUBE-SOURCE-RANGES-FIREWALL",
            "dst,dst,src",
            Target::Return,
        ),
        (
            SetId::LoadBalancerSourceIp,
            true,
            "KUBE-SOURCE-RANGES-FIREWALL",
            "dst,dst,src",
            Target::Return,
        ),
    ];
    for (set, is_filter, chain, dirs, target) in set_rules {
        if b.is_empty(set) {
            continue;
        }
        let mut matches = Vec::new();
        let proto = match set {
            SetId::NodePortTcp | SetId::NodePortLocalTcp => Some(Protocol::TCP),
            SetId::NodePortUdp | SetId::NodePortLocalUdp => Some(Protocol::UDP),
            SetId::NodePortSctp | SetId::NodePortLocalSctp => Some(Protocol::SCTP),
            _ => None,
        };
        if let Some(p) = proto {
            matches.push(Match::Protocol(p));
        }
        matches.push(comment(set));
        matches.push(set_match(b, set, dirs));
        let r = rule(chain, matches, target);
        if is_filter {
            filter.push(r);
        } else {
            nat.push(r);
        }
    }

    if !b.is_empty(SetId::ClusterIp) {
        let mut matches = vec![comment(SetId::ClusterIp)];
        let detector = local_detector(settings, family).ok();
        if settings.proxy.iptables_masquerade_all {
            matches.push(set_match(b, SetId::ClusterIp, "dst,dst"));
        } else if let Some(d) = detector {
            // The detector's IfNotLocal().
            matches.push(set_match(b, SetId::ClusterIp, "dst,dst"));
            matches.push(match d {
                LocalDetector::Cidr(net) => Match::Source { net, negated: true },
                LocalDetector::Interface(name) => Match::InInterface {
                    name,
                    negated: true,
                },
                LocalDetector::InterfacePrefix(prefix) => Match::InInterface {
                    name: format!("{prefix}+"),
                    negated: true,
                },
            });
        } else {
            // No local-traffic detector: masquerade node-originated
            // traffic whose source is a VIP on kube-ipvs0.
            matches.push(set_match(b, SetId::ClusterIp, "src,dst"));
        }
        nat.push(rule(
            "KUBE-SERVICES",
            matches,
            Target::Jump("KUBE-MARK-MASQ"),
        ));
    }

    let external_accepts = |nat: &mut Vec<Rule>, set: SetId| {
        let base = vec![comment(set), set_match(b, set, "dst,dst")];
        let mut off_machine = base.clone();
        off_machine.push(Match::NotPhysdevIsIn);
        off_machine.push(Match::AddrTypeLocal {
            dst: false,
            negated: true,
        });
        nat.push(rule("KUBE-SERVICES", off_machine, Target::Accept));
        let mut dst_local = base;
        dst_local.push(Match::AddrTypeLocal {
            dst: true,
            negated: false,
        });
        nat.push(rule("KUBE-SERVICES", dst_local, Target::Accept));
    };
    if !b.is_empty(SetId::ExternalIp) {
        nat.push(rule(
            "KUBE-SERVICES",
            vec![
                comment(SetId::ExternalIp),
                set_match(b, SetId::ExternalIp, "dst,dst"),
            ],
            Target::Jump("KUBE-MARK-MASQ"),
        ));
        external_accepts(&mut nat, SetId::ExternalIp);
    }
    if !b.is_empty(SetId::ExternalIpLocal) {
        external_accepts(&mut nat, SetId::ExternalIpLocal);
    }

    nat.push(rule(
        "KUBE-SERVICES",
        vec![Match::AddrTypeLocal {
            dst: true,
            negated: false,
        }],
        Target::Jump("KUBE-NODE-PORT"),
    ));
    nat.push(rule(
        "KUBE-LOAD-BALANCER",
        vec![],
        Target::Jump("KUBE-MARK-MASQ"),
    ));
    filter.push(rule("KUBE-SOURCE-RANGES-FIREWALL", vec![], Target::Drop));
    for (ip, proto, port) in &b.lb_no_node_access {
        filter.push(rule(
            "KUBE-IPVS-OUT-FILTER",
            vec![
                Match::SourceIp(*ip),
                Match::Ipvs {
                    vaddr: *ip,
                    vproto: *proto,
                    vport: *port,
                },
            ],
            Target::Drop,
        ));
    }

    // `acceptIPVSTraffic`: these close KUBE-SERVICES.
    for set in [SetId::ClusterIp, SetId::LoadBalancer] {
        if !b.is_empty(set) {
            nat.push(rule(
                "KUBE-SERVICES",
                vec![set_match(b, set, "dst,dst")],
                Target::Accept,
            ));
        }
    }

    filter.push(rule(
        "KUBE-FORWARD",
        vec![
            Match::Comment("kubernetes forwarding rules"),
            Match::Mark {
                mark,
                negated: false,
            },
        ],
        Target::Accept,
    ));
    filter.push(rule(
        "KUBE-FORWARD",
        vec![
            Match::Comment("kubernetes forwarding conntrack rule"),
            Match::CtState("RELATED,ESTABLISHED"),
        ],
        Target::Accept,
    ));
    filter.push(rule(
        "KUBE-NODE-PORT",
        vec![
            comment(SetId::HealthCheckNodePort),
            set_match(b, SetId::HealthCheckNodePort, "dst"),
        ],
        Target::Accept,
    ));
    for (set, dirs) in [
        (SetId::LoadBalancer, "dst,dst"),
        (SetId::ClusterIp, "dst,dst"),
        (SetId::ExternalIp, "dst,dst"),
        (SetId::ExternalIpLocal, "dst,dst"),
        (SetId::HealthCheckNodePort, "dst"),
    ] {
        filter.push(rule(
            "KUBE-IPVS-FILTER",
            vec![set_match(b, set, dirs)],
            Target::Return,
        ));
    }
    filter.push(rule(
        "KUBE-IPVS-FILTER",
        vec![Match::CtState("NEW"), set_match(b, SetId::IpvsIps, "dst")],
        Target::Reject,
    ));

    nat.push(rule(
        "KUBE-POSTROUTING",
        vec![Match::Mark {
            mark,
            negated: true,
        }],
        Target::Return,
    ));
    nat.push(rule("KUBE-POSTROUTING", vec![], Target::MarkXor(mark)));
    nat.push(rule(
        "KUBE-POSTROUTING",
        vec![Match::Comment("kubernetes service traffic requiring SNAT")],
        Target::Masquerade { random_fully: true },
    ));
    nat.push(rule("KUBE-MARK-MASQ", vec![], Target::MarkOr(mark)));

    vec![
        Table {
            name: "nat",
            chains: NAT_CHAINS.to_vec(),
            rules: nat,
        },
        Table {
            name: "filter",
            chains: FILTER_CHAINS.to_vec(),
            rules: filter,
        },
    ]
}
