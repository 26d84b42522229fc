//! ServiceTable + Settings → the typed ruleset, one IP family at a time,
//! following kube-proxy's `syncProxyRules` (a full sync): the same chains,
//! the same rules in the same order within each service. Services are
//! visited sorted by port name, so the output is deterministic (kube-proxy's
//! own order across services is random).

use super::model::{
    Addr, AddrSide, BuiltinJump, Chain, Comment, Match, Rule, Ruleset, Table, TableName, Target,
};
use crate::config::{IpFamily, Settings};
use crate::proxy::{
    EndpointRef, LocalDetector, ServicePortInfo, categorize_endpoints, local_detector,
    node_port_cidrs, service_ports,
};
use crate::table::ServiceTable;
use ipnet::IpNet;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

/// kube-proxy's fixed chains.
pub const KUBE_SERVICES: &str = "KUBE-SERVICES";
/// Filter chain for traffic to external IPs and node ports without endpoints.
pub const KUBE_EXTERNAL_SERVICES: &str = "KUBE-EXTERNAL-SERVICES";
/// Node ports (nat) and health-check node ports (filter).
pub const KUBE_NODEPORTS: &str = "KUBE-NODEPORTS";
/// Masquerades marked traffic.
pub const KUBE_POSTROUTING: &str = "KUBE-POSTROUTING";
/// Marks traffic for masquerade.
pub const KUBE_MARK_MASQ: &str = "KUBE-MARK-MASQ";
/// Accepts forwarded service traffic; drops INVALID.
pub const KUBE_FORWARD: &str = "KUBE-FORWARD";
/// Drops load-balancer traffic from outside the source ranges.
pub const KUBE_PROXY_FIREWALL: &str = "KUBE-PROXY-FIREWALL";
/// kubelet's anti-martian chain, duplicated by kube-proxy.
pub const KUBE_FIREWALL: &str = "KUBE-FIREWALL";

/// Above this many endpoints kube-proxy drops the per-endpoint comments.
pub const LARGE_CLUSTER_THRESHOLD: usize = 1000;

/// The nfacct counter of dropped INVALID packets.
pub const NFACCT_INVALID: &str = "ct_state_invalid_dropped_pkts";
/// The nfacct counter of accepted localhost node-port packets.
pub const NFACCT_LOCALHOST_NP: &str = "localhost_nps_accepted_pkts";

/// The first 16 characters of base32(sha256(text)).
fn hash16(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let mut s = base32::encode(base32::Alphabet::Rfc4648 { padding: true }, &digest);
    s.truncate(16);
    s
}

/// The chain-name suffix of a service port: kube-proxy's `portProtoHash`.
pub fn port_proto_hash(port_name: &str, protocol: &str) -> String {
    hash16(&format!("{port_name}{protocol}"))
}

/// `KUBE-SEP-…`: hash of port name, protocol and endpoint `IP:port`.
pub fn endpoint_chain_name(port_name: &str, protocol: &str, endpoint: &str) -> String {
    format!(
        "KUBE-SEP-{}",
        hash16(&format!("{port_name}{protocol}{endpoint}"))
    )
}

/// What kube-proxy's proxier of one family knows besides the objects.
struct Config {
    masquerade_all: bool,
    mark: u32,
    /// The local-traffic detector (`None`: kube-proxy's no-op detector).
    detector: Option<LocalDetector>,
    /// kube-proxy's node IP of this family (loopback when unknown).
    node_ip: IpAddr,
    localhost_node_ports: bool,
    nfacct_invalid: bool,
    nfacct_localhost: bool,
    tcp_be_liberal: bool,
    /// `None`: node ports on every local address; else these addresses.
    node_port_ips: Option<Vec<IpAddr>>,
}

impl Config {
    fn new(settings: &Settings, family: IpFamily) -> Config {
        let p = &settings.proxy;
        let has = |name: &str| {
            settings
                .host
                .nfacct_counters
                .as_ref()
                .is_some_and(|v| v.iter().any(|c| c == name))
        };
        let detector = local_detector(settings, family).ok();
        let node_ip = settings.node.node_ip(family);
        // None, or a zero CIDR, means every local address.
        let cidrs = node_port_cidrs(settings, family, false);
        let mut match_all = true;
        let mut contains_v4_loopback = true;
        if !cidrs.is_empty() {
            match_all = cidrs.iter().any(|n| n.prefix_len() == 0);
            let lo = IpAddr::from([127, 0, 0, 1]);
            contains_v4_loopback = match_all
                || cidrs
                    .iter()
                    .any(|n| n.addr().is_loopback() || n.contains(&lo));
        }
        let node_port_ips = (!match_all).then(|| {
            settings
                .node
                .local_ips(family)
                .into_iter()
                .filter(|ip| cidrs.iter().any(|n| n.contains(ip)))
                .collect()
        });
        Config {
            masquerade_all: p.iptables_masquerade_all,
            mark: 1u32 << p.iptables_masquerade_bit.min(31),
            detector,
            node_ip,
            localhost_node_ports: family == IpFamily::IPv4
                && p.iptables_localhost_node_ports
                && contains_v4_loopback,
            nfacct_invalid: has(NFACCT_INVALID),
            nfacct_localhost: has(NFACCT_LOCALHOST_NP),
            tcp_be_liberal: settings.host.conntrack_tcp_be_liberal,
            node_port_ips,
        }
    }

    /// The detector's `IfLocal()` (`negated`: `IfNotLocal()`) arguments.
    fn detector_match(&self, negated: bool) -> Option<Match> {
        Some(match self.detector.as_ref()? {
            LocalDetector::Cidr(n) => Match::Source {
                negated,
                addr: Addr::Net(*n),
            },
            LocalDetector::Interface(name) => Match::InInterface {
                negated,
                name: name.clone(),
            },
            LocalDetector::InterfacePrefix(prefix) => Match::InInterface {
                negated,
                name: format!("{prefix}+"),
            },
        })
    }

    fn if_local(&self) -> Option<Match> {
        self.detector_match(false)
    }

    fn if_not_local(&self) -> Option<Match> {
        self.detector_match(true)
    }
}

/// Chains of one table in declaration order, with rules appended by name.
/// The index only holds chains added through `declare`/`add` (the fixed
/// chains, or one service's own chains); per-service chains are appended
/// to the table whole, so lookups stay small.
#[derive(Default)]
struct TableBuilder {
    chains: Vec<Chain>,
    index: BTreeMap<String, usize>,
}

impl TableBuilder {
    fn declare(&mut self, name: &str) {
        if !self.index.contains_key(name) {
            self.index.insert(name.to_string(), self.chains.len());
            self.chains.push(Chain {
                name: name.to_string(),
                rules: Vec::new(),
            });
        }
    }

    fn add(&mut self, chain: &str, rule: Rule) {
        self.declare(chain);
        if let Some(&i) = self.index.get(chain) {
            self.chains[i].rules.push(rule);
        }
    }
}

fn comment(text: impl Into<String>, quoted: bool) -> Match {
    Match::Comment(Comment {
        text: text.into(),
        quoted,
    })
}

fn dst(ip: IpAddr) -> Match {
    Match::Destination {
        negated: false,
        addr: Addr::Ip(ip),
    }
}

fn jump(chain: &str) -> Target {
    Target::Jump(chain.to_string())
}

/// The ruleset kube-proxy's proxier of `family` programs for `table`.
pub fn build(table: &ServiceTable, settings: &Settings, family: IpFamily) -> Ruleset {
    build_indexed(table, settings, family).0
}

/// Where each service port's rules are in a ruleset [`build`] made, for the
/// incremental engine: every service port adds rules to the fixed chains
/// (KUBE-SERVICES, KUBE-NODEPORTS, …, declared first in each table) and
/// appends its own chains to the nat table, in port-name order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Layout {
    /// Per table (filter, nat): the rules of each fixed chain before the
    /// first service port's.
    pub base: [Vec<usize>; 2],
    /// The service ports, in the order they were added.
    pub ports: Vec<PortSpan>,
    /// Endpoints over all service ports (kube-proxy's large-cluster mode
    /// starts above [`LARGE_CLUSTER_THRESHOLD`]).
    pub endpoints: usize,
}

/// What one service port added to a ruleset.
#[derive(Debug, Clone, PartialEq)]
pub struct PortSpan {
    /// kube-proxy's `ServicePortName` text.
    pub name: String,
    /// Per table: the rules it added to each fixed chain.
    pub rules: [Vec<usize>; 2],
    /// Per table: its own chains.
    pub own: [usize; 2],
    /// Its endpoints.
    pub endpoints: usize,
}

/// What one service port adds: rules per fixed chain and own chains, per
/// table (filter, nat), from [`service_port_rules`] as the full build
/// calls it.
#[derive(Debug, Clone, PartialEq)]
pub struct PortPart {
    /// Its place in the [`Layout`].
    pub span: PortSpan,
    /// Per table: the rules it adds to each fixed chain.
    pub rules: [Vec<Vec<Rule>>; 2],
    /// Per table: its own chains.
    pub own: [Vec<Chain>; 2],
}

fn rule_counts(t: &TableBuilder, fixed: usize) -> Vec<usize> {
    t.chains[..fixed].iter().map(|c| c.rules.len()).collect()
}

/// The parts of the service ports of `svc` (in port-name order), in a
/// ruleset whose fixed chains are `fixed` (per table) and whose
/// large-cluster mode is `large`.
pub fn service_parts(
    svc: &crate::table::ServiceInfo,
    settings: &Settings,
    family: IpFamily,
    fixed: [&[Chain]; 2],
    large: bool,
) -> Vec<PortPart> {
    let cfg = Config::new(settings, family);
    let mut out = Vec::new();
    for sp in crate::proxy::service_ports_of(svc, settings, family) {
        let mut tables = [TableBuilder::default(), TableBuilder::default()];
        for (t, chains) in tables.iter_mut().zip(fixed) {
            for c in chains {
                t.declare(&c.name);
            }
        }
        let [filter, nat] = &mut tables;
        service_port_rules(&cfg, &sp, large, filter, nat);
        let mut rules = [Vec::new(), Vec::new()];
        let mut own = [Vec::new(), Vec::new()];
        for (i, t) in tables.into_iter().enumerate() {
            let mut chains = t.chains;
            own[i] = chains.split_off(fixed[i].len());
            rules[i] = chains.into_iter().map(|c| c.rules).collect();
        }
        out.push(PortPart {
            span: PortSpan {
                name: sp.port_name(),
                rules: [
                    rules[0].iter().map(Vec::len).collect(),
                    rules[1].iter().map(Vec::len).collect(),
                ],
                own: [own[0].len(), own[1].len()],
                endpoints: sp.endpoints.len(),
            },
            rules,
            own,
        });
    }
    out
}

/// [`build`], and where each service port's rules are ([`Layout`]).
pub fn build_indexed(
    table: &ServiceTable,
    settings: &Settings,
    family: IpFamily,
) -> (Ruleset, Layout) {
    let cfg = Config::new(settings, family);
    let ports = service_ports(table, settings, family);
    let mut filter = TableBuilder::default();
    let mut nat = TableBuilder::default();
    for c in [
        KUBE_SERVICES,
        KUBE_EXTERNAL_SERVICES,
        KUBE_FORWARD,
        KUBE_NODEPORTS,
        KUBE_PROXY_FIREWALL,
    ] {
        filter.declare(c);
    }
    for c in [
        KUBE_SERVICES,
        KUBE_NODEPORTS,
        KUBE_POSTROUTING,
        KUBE_MARK_MASQ,
    ] {
        nat.declare(c);
    }
    nat.add(
        KUBE_POSTROUTING,
        Rule::new(
            vec![Match::Mark {
                negated: true,
                mark: cfg.mark,
            }],
            Target::Return,
        ),
    );
    nat.add(
        KUBE_POSTROUTING,
        Rule::new(vec![], Target::MarkXor(cfg.mark)),
    );
    // v1.37 always asks for --random-fully (the capability check is gone).
    nat.add(
        KUBE_POSTROUTING,
        Rule::new(
            vec![comment("kubernetes service traffic requiring SNAT", true)],
            Target::Masquerade { random_fully: true },
        ),
    );
    nat.add(KUBE_MARK_MASQ, Rule::new(vec![], Target::MarkOr(cfg.mark)));
    if cfg.localhost_node_ports {
        let lo: IpNet = IpNet::new(IpAddr::from([127, 0, 0, 0]), 8).unwrap_or_default();
        filter.add(
            KUBE_FIREWALL,
            Rule::new(
                vec![
                    comment("block incoming localnet connections", true),
                    Match::Destination {
                        negated: false,
                        addr: Addr::Net(lo),
                    },
                    Match::Source {
                        negated: true,
                        addr: Addr::Net(lo),
                    },
                    Match::CtState {
                        negated: true,
                        states: "RELATED,ESTABLISHED,DNAT".into(),
                    },
                ],
                Target::Drop,
            ),
        );
    }

    let total: usize = ports.iter().map(|sp| sp.endpoints.len()).sum();
    let large = total > LARGE_CLUSTER_THRESHOLD;
    let fixed = [filter.chains.len(), nat.chains.len()];
    let mut layout = Layout {
        base: [rule_counts(&filter, fixed[0]), rule_counts(&nat, fixed[1])],
        ports: Vec::with_capacity(ports.len()),
        endpoints: total,
    };
    for sp in &ports {
        let before = [rule_counts(&filter, fixed[0]), rule_counts(&nat, fixed[1])];
        let chains = [filter.chains.len(), nat.chains.len()];
        service_port_rules(&cfg, sp, large, &mut filter, &mut nat);
        let after = [rule_counts(&filter, fixed[0]), rule_counts(&nat, fixed[1])];
        let added = |t: usize| -> Vec<usize> {
            after[t]
                .iter()
                .zip(&before[t])
                .map(|(a, b)| a - b)
                .collect()
        };
        layout.ports.push(PortSpan {
            name: sp.port_name(),
            rules: [added(0), added(1)],
            own: [
                filter.chains.len() - chains[0],
                nat.chains.len() - chains[1],
            ],
            endpoints: sp.endpoints.len(),
        });
    }

    // The jump to KUBE-NODEPORTS must be the last rule of KUBE-SERVICES.
    let np_comment = "kubernetes service nodeports; NOTE: this must be the last rule in this chain";
    match &cfg.node_port_ips {
        None => {
            let mut m = vec![
                comment(np_comment, true),
                Match::AddrTypeLocal(AddrSide::Dst),
            ];
            let block = match family {
                IpFamily::IPv6 => Some("::1/128"),
                IpFamily::IPv4 if !cfg.localhost_node_ports => Some("127.0.0.0/8"),
                IpFamily::IPv4 => None,
            };
            if let Some(net) = block.and_then(|b| b.parse::<IpNet>().ok()) {
                m.push(Match::Destination {
                    negated: true,
                    addr: Addr::Net(net),
                });
            }
            nat.add(KUBE_SERVICES, Rule::new(m, jump(KUBE_NODEPORTS)));
        }
        Some(ips) => {
            for ip in ips {
                if ip.is_loopback() && (family == IpFamily::IPv6 || !cfg.localhost_node_ports) {
                    continue;
                }
                nat.add(
                    KUBE_SERVICES,
                    Rule::new(
                        vec![comment(np_comment, true), dst(*ip)],
                        jump(KUBE_NODEPORTS),
                    ),
                );
            }
        }
    }

    if !cfg.tcp_be_liberal {
        let mut m = vec![Match::CtState {
            negated: false,
            states: "INVALID".into(),
        }];
        if cfg.nfacct_invalid {
            m.push(Match::Nfacct(NFACCT_INVALID.into()));
        }
        filter.add(KUBE_FORWARD, Rule::new(m, Target::Drop));
    }
    filter.add(
        KUBE_FORWARD,
        Rule::new(
            vec![
                comment("kubernetes forwarding rules", true),
                Match::Mark {
                    negated: false,
                    mark: cfg.mark,
                },
            ],
            Target::Accept,
        ),
    );
    filter.add(
        KUBE_FORWARD,
        Rule::new(
            vec![
                comment("kubernetes forwarding conntrack rule", true),
                Match::CtState {
                    negated: false,
                    states: "RELATED,ESTABLISHED".into(),
                },
            ],
            Target::Accept,
        ),
    );

    let jumps = builtin_jumps(&filter);
    let rs = Ruleset {
        family,
        tables: vec![
            Table {
                name: TableName::Filter,
                chains: filter.chains,
            },
            Table {
                name: TableName::Nat,
                chains: nat.chains,
            },
        ],
        jumps,
    };
    (rs, layout)
}

/// The rules of one service port, in `syncProxyRules`' order.
fn service_port_rules(
    cfg: &Config,
    sp: &ServicePortInfo,
    large: bool,
    filter: &mut TableBuilder,
    nat: &mut TableBuilder,
) {
    let name = sp.port_name();
    let proto = sp.protocol();
    let proto_l = proto.lower();
    let hash = port_proto_hash(&name, proto_l);
    let svc_chain = format!("KUBE-SVC-{hash}");
    let svl_chain = format!("KUBE-SVL-{hash}");
    let fw_chain = format!("KUBE-FW-{hash}");
    let ext_chain = format!("KUBE-EXT-{hash}");
    let port = sp.port.port;

    let cat = categorize_endpoints(sp);
    let has_endpoints = cat.has_any;
    let uses_cluster_chain = !cat.cluster.is_empty() && sp.uses_cluster_endpoints();
    let uses_local_chain = !cat.local.is_empty() && sp.uses_local_endpoints();

    let mut internal_chain = &svc_chain;
    let mut has_internal = has_endpoints;
    if sp.internal_policy_local() {
        internal_chain = &svl_chain;
        has_internal &= !cat.local.is_empty();
    }
    let mut external_policy_chain = &svc_chain;
    let mut has_external = has_endpoints;
    if sp.external_policy_local() {
        external_policy_chain = &svl_chain;
        has_external &= !cat.local.is_empty();
    }
    let uses_ext_chain = has_endpoints && sp.externally_accessible();
    let uses_fw_chain =
        has_endpoints && !sp.load_balancer_vips.is_empty() && !sp.source_ranges.is_empty();
    let lb_chain = if uses_fw_chain { &fw_chain } else { &ext_chain };

    let (internal_filter, external_filter) = if !has_endpoints {
        let c = format!("{name} has no endpoints");
        ((Target::Reject, c.clone()), (Target::Reject, c))
    } else {
        let c = format!("{name} has no local endpoints");
        ((Target::Drop, c.clone()), (Target::Drop, c))
    };
    // `-m comment … -m PROTO -p PROTO -d IP --dport N`
    let vip = |text: &str, ip: IpAddr| {
        vec![
            comment(text, true),
            Match::Protocol(proto),
            dst(ip),
            Match::DestPort(port),
        ]
    };

    // Cluster IP.
    if has_internal {
        nat.add(
            KUBE_SERVICES,
            Rule::new(
                vip(&format!("{name} cluster IP"), sp.cluster_ip),
                jump(internal_chain),
            ),
        );
    } else {
        filter.add(
            KUBE_SERVICES,
            Rule::new(
                vip(&internal_filter.1, sp.cluster_ip),
                internal_filter.0.clone(),
            ),
        );
    }

    // External IPs.
    for ip in &sp.external_ips {
        if has_endpoints {
            nat.add(
                KUBE_SERVICES,
                Rule::new(vip(&format!("{name} external IP"), *ip), jump(&ext_chain)),
            );
        }
        if !has_external {
            filter.add(
                KUBE_EXTERNAL_SERVICES,
                Rule::new(vip(&external_filter.1, *ip), external_filter.0.clone()),
            );
        }
    }

    // Load-balancer IPs.
    for ip in &sp.load_balancer_vips {
        if has_endpoints {
            nat.add(
                KUBE_SERVICES,
                Rule::new(vip(&format!("{name} loadbalancer IP"), *ip), jump(lb_chain)),
            );
        }
        if uses_fw_chain {
            filter.add(
                KUBE_PROXY_FIREWALL,
                Rule::new(
                    vip(&format!("{name} traffic not accepted by {fw_chain}"), *ip),
                    Target::Drop,
                ),
            );
        }
    }
    if !has_external {
        for ip in &sp.load_balancer_vips {
            filter.add(
                KUBE_EXTERNAL_SERVICES,
                Rule::new(vip(&external_filter.1, *ip), external_filter.0.clone()),
            );
        }
    }

    // Node port.
    if let Some(np) = sp.node_port().filter(|p| *p != 0) {
        if has_endpoints {
            if cfg.localhost_node_ports && cfg.nfacct_localhost {
                let lo = IpNet::new(IpAddr::from([127, 0, 0, 0]), 8).unwrap_or_default();
                nat.add(
                    KUBE_NODEPORTS,
                    Rule::new(
                        vec![
                            comment(name.clone(), false),
                            Match::Protocol(proto),
                            Match::Destination {
                                negated: false,
                                addr: Addr::Net(lo),
                            },
                            Match::DestPort(np),
                            Match::Nfacct(NFACCT_LOCALHOST_NP.into()),
                        ],
                        jump(&ext_chain),
                    ),
                );
            }
            nat.add(
                KUBE_NODEPORTS,
                Rule::new(
                    vec![
                        comment(name.clone(), false),
                        Match::Protocol(proto),
                        Match::DestPort(np),
                    ],
                    jump(&ext_chain),
                ),
            );
        }
        if !has_external {
            filter.add(
                KUBE_EXTERNAL_SERVICES,
                Rule::new(
                    vec![
                        comment(external_filter.1.clone(), true),
                        Match::AddrTypeLocal(AddrSide::Dst),
                        Match::Protocol(proto),
                        Match::DestPort(np),
                    ],
                    external_filter.0.clone(),
                ),
            );
        }
    }

    // Health-check node port (always tcp).
    if let Some(hc) = sp.health_check_node_port().filter(|p| *p != 0) {
        filter.add(
            KUBE_NODEPORTS,
            Rule::new(
                vec![
                    comment(format!("{name} health check node port"), true),
                    Match::Protocol(crate::table::Protocol::TCP),
                    Match::DestPort(hc),
                ],
                Target::Accept,
            ),
        );
    }

    // The service's own chains: built apart (a small index) and appended
    // in kube-proxy's declaration order (EXT, FW, SVC, SVL, SEP).
    let mut own = TableBuilder::default();

    // Internal traffic: masquerade off-cluster (or all) traffic to the cluster IP.
    if has_internal {
        let mut m = vip(&format!("{name} cluster IP"), sp.cluster_ip);
        if cfg.masquerade_all {
            own.add(internal_chain, Rule::new(m, jump(KUBE_MARK_MASQ)));
        } else if let Some(not_local) = cfg.if_not_local() {
            m.push(not_local);
            own.add(internal_chain, Rule::new(m, jump(KUBE_MARK_MASQ)));
        }
    }

    // External traffic.
    if uses_ext_chain {
        own.declare(&ext_chain);
        if !sp.external_policy_local() {
            own.add(
                &ext_chain,
                Rule::new(
                    vec![comment(
                        format!("masquerade traffic for {name} external destinations"),
                        true,
                    )],
                    jump(KUBE_MARK_MASQ),
                ),
            );
        } else {
            if let Some(local) = cfg.if_local() {
                own.add(
                    &ext_chain,
                    Rule::new(
                        vec![
                            comment(
                                format!("pod traffic for {name} external destinations"),
                                true,
                            ),
                            local,
                        ],
                        jump(&svc_chain),
                    ),
                );
            }
            own.add(
                &ext_chain,
                Rule::new(
                    vec![
                        comment(
                            format!("masquerade LOCAL traffic for {name} external destinations"),
                            true,
                        ),
                        Match::AddrTypeLocal(AddrSide::Src),
                    ],
                    jump(KUBE_MARK_MASQ),
                ),
            );
            own.add(
                &ext_chain,
                Rule::new(
                    vec![
                        comment(
                            format!("route LOCAL traffic for {name} external destinations"),
                            true,
                        ),
                        Match::AddrTypeLocal(AddrSide::Src),
                    ],
                    jump(&svc_chain),
                ),
            );
        }
        if has_external {
            own.add(&ext_chain, Rule::new(vec![], jump(external_policy_chain)));
        }
    }

    // Load-balancer source ranges.
    if uses_fw_chain {
        own.declare(&fw_chain);
        let lb_comment = format!("{name} loadbalancer IP");
        // The source ranges; then, when one holds the node IP, the
        // load-balancer IPs (traffic the node sends to itself through them).
        let from_node: &[IpAddr] = if sp.source_ranges_allow_node(Some(cfg.node_ip)) {
            &sp.load_balancer_vips
        } else {
            &[]
        };
        let sources = (sp.source_ranges.iter().map(|n| Addr::Net(*n)))
            .chain(from_node.iter().map(|ip| Addr::Ip(*ip)));
        for addr in sources {
            own.add(
                &fw_chain,
                Rule::new(
                    vec![
                        comment(lb_comment.clone(), true),
                        Match::Source {
                            negated: false,
                            addr,
                        },
                    ],
                    jump(&ext_chain),
                ),
            );
        }
        own.add(
            &fw_chain,
            Rule {
                matches: vec![comment(
                    format!("other traffic to {name} will be dropped by KUBE-PROXY-FIREWALL"),
                    true,
                )],
                target: None,
            },
        );
    }

    if uses_cluster_chain {
        own.declare(&svc_chain);
        endpoint_jumps(&mut own, sp, &name, &svc_chain, &cat.cluster, large);
    }
    if uses_local_chain {
        own.declare(&svl_chain);
        endpoint_jumps(&mut own, sp, &name, &svl_chain, &cat.local, large);
    }

    // One chain per endpoint.
    for ep in &cat.all_reachable {
        let addr = ep.addr();
        let sep = endpoint_chain_name(&name, proto_l, &addr);
        own.declare(&sep);
        let mut base = Vec::new();
        if !large {
            base.push(comment(name.clone(), false));
        }
        let mut masq = base.clone();
        masq.push(Match::Source {
            negated: false,
            addr: Addr::Ip(ep.ip),
        });
        own.add(&sep, Rule::new(masq, jump(KUBE_MARK_MASQ)));
        let mut dnat = base;
        if sp.affinity_timeout().is_some() {
            dnat.push(Match::RecentSet(sep.clone()));
        }
        dnat.push(Match::Protocol(proto));
        own.add(
            &sep,
            Rule::new(dnat, Target::Dnat(SocketAddr::new(ep.ip, ep.port))),
        );
    }
    let rank = |c: &Chain| {
        ["KUBE-EXT-", "KUBE-FW-", "KUBE-SVC-", "KUBE-SVL-"]
            .iter()
            .position(|p| c.name.starts_with(p))
            .unwrap_or(4)
    };
    own.chains.sort_by_key(rank);
    nat.chains.extend(own.chains);
}

/// `writeServiceToEndpointRules`: affinity checks, then one jump per
/// endpoint, each but the last with probability 1/(endpoints left).
fn endpoint_jumps(
    nat: &mut TableBuilder,
    sp: &ServicePortInfo,
    name: &str,
    chain: &str,
    endpoints: &[EndpointRef],
    large: bool,
) {
    let proto_l = sp.protocol().lower();
    let with_comment = |ep: &EndpointRef| {
        (!large)
            .then(|| comment(format!("{name} -> {}", ep.addr()), true))
            .into_iter()
            .collect::<Vec<Match>>()
    };
    if let Some(seconds) = sp.affinity_timeout() {
        for ep in endpoints {
            let sep = endpoint_chain_name(name, proto_l, &ep.addr());
            let mut m = with_comment(ep);
            m.push(Match::RecentCheck {
                name: sep.clone(),
                seconds,
            });
            nat.add(chain, Rule::new(m, jump(&sep)));
        }
    }
    let n = endpoints.len();
    for (i, ep) in endpoints.iter().enumerate() {
        let sep = endpoint_chain_name(name, proto_l, &ep.addr());
        let mut m = with_comment(ep);
        if i + 1 < n {
            m.push(Match::Probability(n - i));
        }
        nat.add(chain, Rule::new(m, jump(&sep)));
    }
}

/// kube-proxy's (and kubelet's) jumps from the built-in chains, in the
/// order kube-proxy prepends them. The KUBE-FIREWALL jumps are left out
/// when the payload has no such chain (they would jump to an empty chain).
fn builtin_jumps(filter: &TableBuilder) -> Vec<BuiltinJump> {
    let firewall = filter.index.contains_key(KUBE_FIREWALL);
    jump_table()
        .into_iter()
        .filter(|j| firewall || j.rule.target != Some(jump(KUBE_FIREWALL)))
        .collect()
}

/// Every jump from the built-in chains, KUBE-FIREWALL's included
/// (pkg/proxy/iptables/proxier.go, `iptablesJumpChains`, and kubelet's
/// KUBE-FIREWALL): the one table `render --with-jumps` and the agent share.
pub fn jump_table() -> Vec<BuiltinJump> {
    let new = || Match::CtState {
        negated: false,
        states: "NEW".into(),
    };
    let j = |table: TableName, chain: &str, ct_new: bool, text: &str, to: &str| {
        let mut m = Vec::new();
        if ct_new {
            m.push(new());
        }
        if !text.is_empty() {
            m.push(comment(text, true));
        }
        BuiltinJump {
            table,
            chain: chain.into(),
            rule: Rule::new(m, jump(to)),
        }
    };
    use TableName::{Filter, Nat};
    let ext = "kubernetes externally-visible service portals";
    let portals = "kubernetes service portals";
    let lbfw = "kubernetes load balancer firewall";
    let mut out = vec![
        j(Filter, "INPUT", true, ext, KUBE_EXTERNAL_SERVICES),
        j(Filter, "FORWARD", true, ext, KUBE_EXTERNAL_SERVICES),
        j(
            Filter,
            "INPUT",
            false,
            "kubernetes health check service ports",
            KUBE_NODEPORTS,
        ),
        j(Filter, "FORWARD", true, portals, KUBE_SERVICES),
        j(Filter, "OUTPUT", true, portals, KUBE_SERVICES),
        j(
            Filter,
            "FORWARD",
            false,
            "kubernetes forwarding rules",
            KUBE_FORWARD,
        ),
        j(Filter, "INPUT", true, lbfw, KUBE_PROXY_FIREWALL),
        j(Filter, "OUTPUT", true, lbfw, KUBE_PROXY_FIREWALL),
        j(Filter, "FORWARD", true, lbfw, KUBE_PROXY_FIREWALL),
        j(Nat, "OUTPUT", false, portals, KUBE_SERVICES),
        j(Nat, "PREROUTING", false, portals, KUBE_SERVICES),
        j(
            Nat,
            "POSTROUTING",
            false,
            "kubernetes postrouting rules",
            KUBE_POSTROUTING,
        ),
    ];
    out.push(j(Filter, "INPUT", false, "", KUBE_FIREWALL));
    out.push(j(Filter, "OUTPUT", false, "", KUBE_FIREWALL));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The examples of the corpus README ("Chain names").
    #[test]
    fn chain_names_are_kube_proxys() {
        assert_eq!(port_proto_hash("ns1/svc1:p80", "tcp"), "XPGD46QRK7WJZT7O");
        assert_eq!(
            endpoint_chain_name("ns1/svc1:p80", "tcp", "10.180.0.1:80"),
            "KUBE-SEP-SXIVWICOYRO3J4NJ"
        );
    }
}
