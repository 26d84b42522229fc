//! ServiceTable + Settings → the ruleset kube-proxy's nftables proxier
//! (v1.37) programs after a full sync: its `setupNFTables` objects, then
//! per service port what `syncProxyRules` adds.

use super::model::*;
use super::names;
use crate::config::{IpFamily, KubeVersion, Settings};
use crate::diag::{Diagnostic, Severity};
use crate::proxy::{
    Categorized, EndpointRef, LocalDetector, ServicePortInfo, categorize_endpoints, local_detector,
    node_port_cidrs, service_ports, service_ports_of,
};
use crate::table::{Protocol, ServiceInfo, ServiceTable};
use ipnet::IpNet;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};

const TABLE: &str = "kube-proxy";

// Base chains.
const FILTER_PREROUTING_PRE_DNAT: &str = "filter-prerouting-pre-dnat";
const FILTER_OUTPUT_PRE_DNAT: &str = "filter-output-pre-dnat";
const FILTER_INPUT: &str = "filter-input";
const FILTER_FORWARD: &str = "filter-forward";
const FILTER_OUTPUT: &str = "filter-output";
const NAT_PREROUTING: &str = "nat-prerouting";
const NAT_OUTPUT: &str = "nat-output";
const NAT_POSTROUTING: &str = "nat-postrouting";

// Regular top-level chains, sets and maps.
const SERVICES: &str = "services";
const SERVICE_IPS: &str = "service-ips";
const SERVICE_NODEPORTS: &str = "service-nodeports";
const NODEPORT_IPS: &str = "nodeport-ips";
const CLUSTER_IPS: &str = "cluster-ips";
const SERVICE_ENDPOINTS_CHECK: &str = "service-endpoints-check";
const NODEPORT_ENDPOINTS_CHECK: &str = "nodeport-endpoints-check";
const NO_ENDPOINT_SERVICES: &str = "no-endpoint-services";
const NO_ENDPOINT_NODEPORTS: &str = "no-endpoint-nodeports";
const REJECT_CHAIN: &str = "reject-chain";
const CLUSTER_IPS_CHECK: &str = "cluster-ips-check";
const FIREWALL_IPS: &str = "firewall-ips";
const FIREWALL_CHECK: &str = "firewall-check";
const MASQUERADING: &str = "masquerading";
const HAIRPIN_CONNECTIONS: &str = "hairpin-connections";
const LOCALHOST_REJECT_MAP: &str = "localhost-nodeport-reject-ports";
/// Until 1.35: the chain every masquerade decision jumps to
/// ([`KubeVersion::nftables_endpoint_chains`]).
const MARK_FOR_MASQUERADE: &str = "mark-for-masquerade";

/// The feature gate that turns on localhost NodePort rejection.
pub const LOCALHOST_NODEPORTS_GATE: &str = "KubeProxyNFTablesLocalhostNodePorts";

/// Comments are cut to this many bytes (knftables' `CommentLengthMax`).
pub const COMMENT_LENGTH_MAX: usize = 128;

/// What one single-family proxier is configured with.
struct Proxier {
    family: Family,
    /// The masquerade mark (`1 << masqueradeBit`).
    mark: u32,
    masquerade_all: bool,
    /// The local-traffic detector (`None`: kube-proxy's no-op detector).
    detector: Option<LocalDetector>,
    /// kube-proxy's node IP of this family (loopback when unknown).
    node_ip: IpAddr,
    /// `nodePortAddresses` matches every address (no `nodeport-ips` set).
    nodeports_match_all: bool,
    /// The addresses that accept NodePorts (loopback excluded).
    nodeport_ips: Vec<IpAddr>,
    /// Service CIDRs of this family.
    service_cidrs: Vec<IpNet>,
    /// Protocols whose localhost NodePorts are rejected.
    localhost_reject: Vec<Protocol>,
    /// The release rendered.
    version: KubeVersion,
}

impl Proxier {
    fn new(settings: &Settings, family: IpFamily) -> Proxier {
        let of_family = |ip: &IpAddr| IpFamily::of(ip) == family;
        let p = &settings.proxy;
        let detector = local_detector(settings, family).ok();
        let node_ip = settings.node.node_ip(family);
        // nftables mode defaults nodePortAddresses to `primary`.
        let cidrs = node_port_cidrs(settings, family, true);
        let explicit_loopback = cidrs.iter().any(|n| n.addr().is_loopback());
        let match_all = cidrs.is_empty() || cidrs.iter().any(|n| n.prefix_len() == 0);
        let mut nodeport_ips: Vec<IpAddr> = if match_all {
            Vec::new()
        } else {
            settings
                .node
                .local_ips(family)
                .into_iter()
                .filter(|ip| !ip.is_loopback() && cidrs.iter().any(|n| n.contains(ip)))
                .collect()
        };
        nodeport_ips.sort();
        nodeport_ips.dedup();
        let localhost_reject = if p
            .feature_gates
            .get(LOCALHOST_NODEPORTS_GATE)
            .copied()
            .unwrap_or(false)
        {
            if explicit_loopback {
                // The userspace proxy serves TCP; only what it cannot serve is rejected.
                vec![Protocol::UDP, Protocol::SCTP]
            } else {
                vec![Protocol::TCP, Protocol::UDP, Protocol::SCTP]
            }
        } else {
            Vec::new()
        };
        Proxier {
            family: match family {
                IpFamily::IPv4 => Family::Ip,
                IpFamily::IPv6 => Family::Ip6,
            },
            mark: 1u32 << p.nftables_masquerade_bit.min(31),
            masquerade_all: p.nftables_masquerade_all,
            detector,
            node_ip,
            nodeports_match_all: match_all,
            nodeport_ips,
            service_cidrs: settings
                .cluster
                .service_cidrs
                .iter()
                .filter(|n| of_family(&n.addr()))
                .copied()
                .collect(),
            localhost_reject,
            version: settings.kube_version,
        }
    }

    /// Until 1.35: endpoint chains and the `mark-for-masquerade` chain.
    fn endpoint_chains(&self) -> bool {
        self.version.nftables_endpoint_chains()
    }

    /// The statement that marks a connection for masquerading: the jump
    /// to `mark-for-masquerade` until 1.35, the mark itself since 1.36
    /// (kubernetes#135800, `syncProxyRules`).
    fn mark_for_masquerade(&self) -> Expr {
        if self.endpoint_chains() {
            Expr::Jump(MARK_FOR_MASQUERADE.into())
        } else {
            Expr::SetMark(self.mark)
        }
    }

    /// The detector's `IfLocalNFT()` (`negated`: `IfNotLocalNFT()`) expression.
    fn detector_expr(&self, negated: bool) -> Option<Expr> {
        Some(match self.detector.as_ref()? {
            LocalDetector::Cidr(n) => Expr::Saddr {
                negated,
                addr: Addr::Net(*n),
            },
            LocalDetector::Interface(name) => self.interface(negated, name.clone()),
            LocalDetector::InterfacePrefix(prefix) => self.interface(negated, format!("{prefix}*")),
        })
    }

    /// An input-interface match: `iifname`, or `iif` before 1.34.
    fn interface(&self, negated: bool, name: String) -> Expr {
        if self.version.nftables_iifname() {
            Expr::Iifname { negated, name }
        } else {
            Expr::Iif { negated, name }
        }
    }

    fn localhost(&self) -> Addr {
        match self.family {
            Family::Ip => Addr::Net(IpNet::V4(
                ipnet::Ipv4Net::new([127, 0, 0, 0].into(), 8).expect("valid prefix"),
            )),
            Family::Ip6 => Addr::Ip(IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1])),
        }
    }
}

/// Elements of one set or map, keyed (re-adding a key replaces its value,
/// as kube-proxy's element storage does), with how many times each key was
/// added: a key added by two service ports ends up as the order of their
/// additions decides, which the incremental engine must know.
#[derive(Default)]
struct Elements(BTreeMap<Vec<KeyPart>, (Option<Verdict>, Option<String>, u32)>);

impl Elements {
    fn ensure(&mut self, key: Vec<KeyPart>, value: Option<Verdict>, comment: Option<&str>) {
        match self.0.get_mut(&key) {
            Some(existing) if existing.0 == value => existing.2 += 1,
            Some(existing) => *existing = (value, comment.map(String::from), existing.2 + 1),
            None => {
                self.0.insert(key, (value, comment.map(String::from), 1));
            }
        }
    }

    /// The keys added more than once.
    fn repeated(&self) -> impl Iterator<Item = &Vec<KeyPart>> {
        self.0.iter().filter(|(_, v)| v.2 > 1).map(|(k, _)| k)
    }

    fn into_vec(self) -> Vec<Element> {
        self.0
            .into_iter()
            .map(|(key, (value, comment, _))| Element {
                key,
                comment,
                value,
            })
            .collect()
    }
}

/// Everything a sync accumulates for one table.
#[derive(Default)]
struct Builder {
    chains: BTreeMap<String, Chain>,
    sets: Vec<Set>,
    maps: Vec<Map>,
    counters: Vec<Counter>,
    elements: BTreeMap<&'static str, Elements>,
}

impl Builder {
    fn chain(&mut self, name: &str) -> &mut Chain {
        self.chains
            .entry(name.to_string())
            .or_insert_with(|| Chain {
                name: name.to_string(),
                base: None,
                comment: None,
                rules: Vec::new(),
            })
    }

    fn rule(&mut self, chain: &str, exprs: Vec<Expr>, comment: Option<&str>) {
        self.chain(chain).rules.push(Rule {
            exprs,
            comment: comment.map(String::from),
        });
    }

    fn element(
        &mut self,
        container: &'static str,
        key: Vec<KeyPart>,
        value: Option<Verdict>,
        comment: Option<&str>,
    ) {
        self.elements
            .entry(container)
            .or_default()
            .ensure(key, value, comment);
    }

    fn set(&mut self, name: &str, key_type: String, comment: &str) {
        self.sets.push(Set {
            name: name.into(),
            key_type,
            flags: Vec::new(),
            timeout: None,
            comment: Some(comment.into()),
            elements: Vec::new(),
        });
    }

    fn map(&mut self, name: &str, key_type: String, comment: &str) {
        self.maps.push(Map {
            name: name.into(),
            key_type,
            comment: Some(comment.into()),
            elements: Vec::new(),
        });
    }
}

/// Builds the ruleset for every family `settings` renders; notes about
/// skipped input go to `diags`.
pub fn build(table: &ServiceTable, settings: &Settings, diags: &mut Vec<Diagnostic>) -> Ruleset {
    build_indexed(table, settings, diags).0
}

/// Set or map elements (`container`, key) that more than one service port
/// (or one port twice) added, per table of the ruleset.
pub type Shared = Vec<BTreeSet<(String, Vec<KeyPart>)>>;

/// [`build`], and the elements that service ports share ([`Shared`]), for
/// the incremental engine.
pub fn build_indexed(
    table: &ServiceTable,
    settings: &Settings,
    diags: &mut Vec<Diagnostic>,
) -> (Ruleset, Shared) {
    let mut out = Ruleset::default();
    let mut shared = Vec::new();
    let mut notes = Vec::new();
    for family in settings.families() {
        let (t, s) = build_table(table, settings, family, &mut notes);
        out.tables.push(t);
        shared.push(s);
    }
    // Both families say the same about the same input: keep one of each.
    let mut seen = BTreeSet::new();
    for d in notes {
        if seen.insert(d.message.clone()) {
            diags.push(d);
        }
    }
    (out, shared)
}

fn build_table(
    table: &ServiceTable,
    settings: &Settings,
    family: IpFamily,
    diags: &mut Vec<Diagnostic>,
) -> (Table, BTreeSet<(String, Vec<KeyPart>)>) {
    let px = Proxier::new(settings, family);
    let mut b = Builder::default();
    setup(&px, &mut b);
    if !px.version.nftables_iifname()
        && let Some(LocalDetector::Interface(_) | LocalDetector::InterfacePrefix(_)) = &px.detector
    {
        diags.push(Diagnostic::new(
            Severity::Warning,
            format!(
                "nftables: kube-proxy {} matches the pod interface with `iif`, which nft turns into \
                 an interface index when it loads the rules: a name prefix (`veth*`) or an \
                 interface that does not exist yet fails the whole transaction (\"Interface does \
                 not exist\"; fixed by kubernetes#134024 in 1.34)",
                px.version
            ),
            None,
        ));
    }
    for sp in service_ports(table, settings, family) {
        one_service_port(&px, &mut b, &sp, diags);
    }
    let shared = b
        .elements
        .iter()
        .flat_map(|(c, e)| e.repeated().map(|k| (c.to_string(), k.clone())))
        .collect();
    (b.into_table(&px), shared)
}

/// A service port's part of the table, unless its name cannot be part of
/// a chain name (then it is skipped, with a note).
fn one_service_port(
    px: &Proxier,
    b: &mut Builder,
    sp: &ServicePortInfo<'_>,
    diags: &mut Vec<Diagnostic>,
) {
    if let Some(bad) = names::unsafe_part(sp) {
        diags.push(Diagnostic::new(
            Severity::Warning,
            format!(
                "nftables: service port {} skipped: {bad:?} cannot be used in an nftables chain name",
                sp.port_name()
            ),
            None,
        ));
        return;
    }
    service_port(px, b, sp);
}

/// What the service ports of one Service add to one family's table: its
/// chains (by name), the affinity sets it creates (in creation order), and
/// the elements it adds to each set and map. The full build adds exactly
/// this for the Service ([`one_service_port`] is the one code path).
#[derive(Debug, Clone, PartialEq)]
pub struct Fragment {
    /// The table's family.
    pub family: Family,
    /// Chains, by name.
    pub chains: Vec<Chain>,
    /// Sets the Service creates (session affinity).
    pub sets: Vec<Set>,
    /// Elements by set or map name, by key.
    pub elements: BTreeMap<String, Vec<Element>>,
    /// Some key was added twice (by two of its ports, or twice by one).
    pub repeats_a_key: bool,
}

/// The [`Fragment`] of `svc` in the table of `family`.
pub fn service_fragment(svc: &ServiceInfo, settings: &Settings, family: IpFamily) -> Fragment {
    let px = Proxier::new(settings, family);
    let mut b = Builder::default();
    for sp in service_ports_of(svc, settings, family) {
        one_service_port(&px, &mut b, &sp, &mut Vec::new());
    }
    let repeats_a_key = b.elements.values().any(|e| e.repeated().next().is_some());
    Fragment {
        family: px.family,
        chains: b.chains.into_values().collect(),
        sets: b.sets,
        elements: b
            .elements
            .into_iter()
            .map(|(c, e)| (c.to_string(), e.into_vec()))
            .collect(),
        repeats_a_key,
    }
}

impl Builder {
    fn into_table(self, px: &Proxier) -> Table {
        let Builder {
            chains,
            mut sets,
            mut maps,
            counters,
            mut elements,
        } = self;
        for s in &mut sets {
            if let Some(e) = elements.remove(s.name.as_str()) {
                s.elements = e.into_vec();
            }
        }
        for m in &mut maps {
            if let Some(e) = elements.remove(m.name.as_str()) {
                m.elements = e.into_vec();
            }
        }
        Table {
            family: px.family,
            name: TABLE.into(),
            comment: Some("rules for kube-proxy".into()),
            chains: chains.into_values().collect(),
            sets,
            maps,
            counters,
        }
    }
}

/// The objects kube-proxy's `setupNFTables` creates.
fn setup(px: &Proxier, b: &mut Builder) {
    let addr = px.family.addr_type();
    let base = [
        (
            FILTER_PREROUTING_PRE_DNAT,
            ChainType::Filter,
            Hook::Prerouting,
            -110,
        ),
        (
            FILTER_OUTPUT_PRE_DNAT,
            ChainType::Filter,
            Hook::Output,
            -110,
        ),
        (FILTER_INPUT, ChainType::Filter, Hook::Input, 0),
        (FILTER_FORWARD, ChainType::Filter, Hook::Forward, 0),
        (FILTER_OUTPUT, ChainType::Filter, Hook::Output, 0),
        (NAT_PREROUTING, ChainType::Nat, Hook::Prerouting, -100),
        (NAT_OUTPUT, ChainType::Nat, Hook::Output, -100),
        (NAT_POSTROUTING, ChainType::Nat, Hook::Postrouting, 100),
    ];
    for (name, type_, hook, priority) in base {
        b.chain(name).base = Some(BaseChain {
            type_,
            hook,
            priority,
        });
    }
    // Jumps from the base chains, in kube-proxy's order.
    let jumps = [
        (NODEPORT_ENDPOINTS_CHECK, FILTER_INPUT, true),
        (SERVICE_ENDPOINTS_CHECK, FILTER_INPUT, true),
        (SERVICE_ENDPOINTS_CHECK, FILTER_FORWARD, true),
        (SERVICE_ENDPOINTS_CHECK, FILTER_OUTPUT, true),
        (FIREWALL_CHECK, FILTER_PREROUTING_PRE_DNAT, true),
        (FIREWALL_CHECK, FILTER_OUTPUT_PRE_DNAT, true),
        (SERVICES, NAT_OUTPUT, false),
        (SERVICES, NAT_PREROUTING, false),
        (MASQUERADING, NAT_POSTROUTING, false),
        (CLUSTER_IPS_CHECK, FILTER_FORWARD, true),
        (CLUSTER_IPS_CHECK, FILTER_OUTPUT, true),
    ];
    for (dst, src, new_only) in jumps {
        b.chain(dst);
        let mut exprs = Vec::new();
        if new_only {
            exprs.push(Expr::CtStateNew);
        }
        exprs.push(Expr::Jump(dst.into()));
        b.rule(src, exprs, None);
    }
    for c in [SERVICES, CLUSTER_IPS_CHECK, MASQUERADING] {
        b.chain(c);
    }

    if px.endpoint_chains() {
        legacy_masquerading(px, b);
    } else {
        masquerading(px, b);
    }

    b.set(CLUSTER_IPS, addr.into(), "Active ClusterIPs");
    b.rule(
        CLUSTER_IPS_CHECK,
        vec![Expr::DaddrInSet(CLUSTER_IPS.into()), Expr::Reject],
        Some("Reject traffic to invalid ports of ClusterIPs"),
    );
    if !px.service_cidrs.is_empty() {
        b.rule(
            CLUSTER_IPS_CHECK,
            vec![
                Expr::DaddrInCidrs(px.service_cidrs.iter().map(|n| Addr::Net(*n)).collect()),
                Expr::Drop,
            ],
            Some("Drop traffic to unallocated ClusterIPs"),
        );
    }

    if !px.nodeports_match_all {
        b.set(
            NODEPORT_IPS,
            addr.into(),
            "IPs that accept NodePort traffic",
        );
        for ip in &px.nodeport_ips {
            b.element(NODEPORT_IPS, vec![KeyPart::Addr(*ip)], None, None);
        }
    }

    b.map(
        NO_ENDPOINT_SERVICES,
        format!("{addr} . inet_proto . inet_service"),
        "vmap to drop or reject packets to services with no endpoints",
    );
    b.map(
        NO_ENDPOINT_NODEPORTS,
        "inet_proto . inet_service".into(),
        "vmap to drop or reject packets to service nodeports with no endpoints",
    );
    b.chain(REJECT_CHAIN).comment =
        Some("helper for @no-endpoint-services / @no-endpoint-nodeports".into());
    b.rule(REJECT_CHAIN, vec![Expr::Reject], None);
    b.rule(
        SERVICE_ENDPOINTS_CHECK,
        vec![Expr::Vmap {
            key: Lookup::DaddrProtoPort,
            map: NO_ENDPOINT_SERVICES.into(),
        }],
        None,
    );
    let nodeport_dst = if px.nodeports_match_all {
        Expr::Daddr {
            negated: true,
            addr: px.localhost(),
        }
    } else {
        Expr::DaddrInSet(NODEPORT_IPS.into())
    };
    b.rule(
        NODEPORT_ENDPOINTS_CHECK,
        vec![
            nodeport_dst.clone(),
            Expr::Vmap {
                key: Lookup::ProtoPort,
                map: NO_ENDPOINT_NODEPORTS.into(),
            },
        ],
        None,
    );

    if !px.localhost_reject.is_empty() {
        b.map(
            LOCALHOST_REJECT_MAP,
            "inet_proto . inet_service".into(),
            "localhost NodePorts rejected by kube-proxy",
        );
        for proto in &px.localhost_reject {
            let counter = names::localhost_reject_counter(*proto);
            b.counters.push(Counter {
                name: counter.clone(),
            });
            b.rule(
                &names::localhost_reject_chain(*proto),
                vec![Expr::NamedCounter(counter), Expr::Reject],
                None,
            );
        }
        b.rule(
            NODEPORT_ENDPOINTS_CHECK,
            vec![
                Expr::Daddr {
                    negated: false,
                    addr: px.localhost(),
                },
                Expr::Vmap {
                    key: Lookup::ProtoPort,
                    map: LOCALHOST_REJECT_MAP.into(),
                },
            ],
            None,
        );
    }

    b.map(
        FIREWALL_IPS,
        format!("{addr} . inet_proto . inet_service"),
        "destinations that are subject to LoadBalancerSourceRanges",
    );
    b.rule(
        FIREWALL_CHECK,
        vec![Expr::Vmap {
            key: Lookup::DaddrProtoPort,
            map: FIREWALL_IPS.into(),
        }],
        None,
    );

    b.map(
        SERVICE_IPS,
        format!("{addr} . inet_proto . inet_service"),
        "ClusterIP, ExternalIP and LoadBalancer IP traffic",
    );
    b.map(
        SERVICE_NODEPORTS,
        "inet_proto . inet_service".into(),
        "NodePort traffic",
    );
    if px.endpoint_chains() {
        // Until 1.35 each service chain masquerades its own cluster IP.
    } else if px.masquerade_all {
        b.rule(
            SERVICES,
            vec![Expr::DaddrInSet(CLUSTER_IPS.into()), Expr::SetMark(px.mark)],
            Some("masquerade all clusterIP traffic"),
        );
    } else if let Some(not_local) = px.detector_expr(true) {
        b.rule(
            SERVICES,
            vec![
                Expr::DaddrInSet(CLUSTER_IPS.into()),
                not_local,
                Expr::SetMark(px.mark),
            ],
            Some("masquerade clusterIP traffic from outside cluster"),
        );
    }
    b.rule(
        SERVICES,
        vec![Expr::Vmap {
            key: Lookup::DaddrProtoPort,
            map: SERVICE_IPS.into(),
        }],
        None,
    );
    let mut nodeports = Vec::new();
    if px.nodeports_match_all {
        nodeports.push(Expr::FibDaddrLocal);
    }
    nodeports.push(nodeport_dst);
    nodeports.push(Expr::Vmap {
        key: Lookup::ProtoPort,
        map: SERVICE_NODEPORTS.into(),
    });
    b.rule(SERVICES, nodeports, None);
}

/// The masquerading chain since 1.36: marked connections and hairpin
/// connections (kubernetes#135800, kubernetes#136499; `setupNFTables`).
fn masquerading(px: &Proxier, b: &mut Builder) {
    let addr = px.family.addr_type();
    b.set(
        HAIRPIN_CONNECTIONS,
        format!("{addr} . {addr} . inet_proto . inet_service"),
        "service hairpin connections",
    );
    b.rule(
        MASQUERADING,
        vec![
            Expr::MarkSet(px.mark),
            Expr::ClearMark(px.mark),
            Expr::Masquerade,
        ],
        None,
    );
    b.rule(
        MASQUERADING,
        vec![
            Expr::CtStatusDnat,
            Expr::ConnectionInSet(HAIRPIN_CONNECTIONS.into()),
            Expr::Masquerade,
        ],
        None,
    );
}

/// The masquerading chain until 1.35, and the `mark-for-masquerade` chain
/// it pairs with (`setupNFTables` before kubernetes#135800).
fn legacy_masquerading(px: &Proxier, b: &mut Builder) {
    b.rule(MARK_FOR_MASQUERADE, vec![Expr::SetMark(px.mark)], None);
    b.rule(
        MASQUERADING,
        vec![Expr::MarkUnset(px.mark), Expr::Return],
        None,
    );
    b.rule(MASQUERADING, vec![Expr::ClearMark(px.mark)], None);
    b.rule(MASQUERADING, vec![Expr::Masquerade], None);
}

/// What kube-proxy's `syncProxyRules` adds for one service port.
fn service_port(px: &Proxier, b: &mut Builder, sp: &ServicePortInfo<'_>) {
    let proto = sp.protocol();
    let port = sp.port.port;
    let comment = truncate_comment(&sp.port_name());
    let comment = Some(comment.as_str());
    let base = names::service_port_base(sp);
    let cluster_chain = format!("service-{base}");
    let local_chain = format!("local-{base}");
    let external_chain = format!("external-{base}");
    let firewall_chain = format!("firewall-{base}");

    let node_port = sp.node_port();
    let externally_accessible = sp.externally_accessible();
    let itp_local = sp.internal_policy_local();
    let etp_local = sp.external_policy_local();
    let uses_cluster = sp.uses_cluster_endpoints();
    let uses_local = sp.uses_local_endpoints();
    // Every list in kube-proxy's order: by `IP:port` text.
    let cat = categorize_endpoints(sp);
    let has_endpoints = cat.has_any;
    let affinity = sp.affinity_timeout();

    // Local endpoints are hairpin candidates (since 1.36; before, each
    // endpoint chain marks its own hairpin traffic).
    for e in &cat.all_reachable {
        if e.is_local && !px.endpoint_chains() {
            b.element(
                HAIRPIN_CONNECTIONS,
                vec![
                    KeyPart::Addr(e.ip),
                    KeyPart::Addr(e.ip),
                    KeyPart::Proto(proto),
                    KeyPart::Port(e.port),
                ],
                None,
                None,
            );
        }
    }

    let uses_cluster_chain = !cat.cluster.is_empty() && uses_cluster;
    let uses_local_chain = !cat.local.is_empty() && uses_local;
    if uses_cluster_chain {
        b.chain(&cluster_chain);
    }
    if uses_local_chain {
        b.chain(&local_chain);
    }

    let (internal_chain, has_internal) = if itp_local {
        (&local_chain, has_endpoints && !cat.local.is_empty())
    } else {
        (&cluster_chain, has_endpoints)
    };
    let (external_policy_chain, has_external) = if etp_local {
        (&local_chain, has_endpoints && !cat.local.is_empty())
    } else {
        (&cluster_chain, has_endpoints)
    };
    let uses_external_chain = has_endpoints && externally_accessible;
    if uses_external_chain {
        b.chain(&external_chain);
    }

    let (internal_filter, external_filter) = if !has_endpoints {
        (
            Verdict::Goto(REJECT_CHAIN.into()),
            Verdict::Goto(REJECT_CHAIN.into()),
        )
    } else {
        (Verdict::Drop, Verdict::Drop)
    };

    let key3 = |ip: IpAddr| {
        vec![
            KeyPart::Addr(ip),
            KeyPart::Proto(proto),
            KeyPart::Port(port),
        ]
    };
    let goto = |c: &str| Some(Verdict::Goto(c.to_string()));

    b.element(CLUSTER_IPS, vec![KeyPart::Addr(sp.cluster_ip)], None, None);
    if has_internal {
        b.element(SERVICE_IPS, key3(sp.cluster_ip), goto(internal_chain), None);
    } else {
        b.element(
            NO_ENDPOINT_SERVICES,
            key3(sp.cluster_ip),
            Some(internal_filter),
            comment,
        );
    }

    if has_internal && px.endpoint_chains() {
        legacy_cluster_ip_masquerade(px, b, sp, internal_chain);
    }

    for ip in &sp.external_ips {
        if has_endpoints {
            b.element(SERVICE_IPS, key3(*ip), goto(&external_chain), None);
        }
        if !has_external {
            b.element(
                NO_ENDPOINT_SERVICES,
                key3(*ip),
                Some(external_filter.clone()),
                comment,
            );
        }
    }

    let uses_firewall = !sp.load_balancer_vips.is_empty() && !sp.source_ranges.is_empty();
    if uses_firewall {
        b.chain(&firewall_chain);
    }
    for ip in &sp.load_balancer_vips {
        if has_endpoints {
            b.element(SERVICE_IPS, key3(*ip), goto(&external_chain), None);
        }
        if uses_firewall {
            b.element(FIREWALL_IPS, key3(*ip), goto(&firewall_chain), None);
        }
    }
    if !has_external {
        for ip in &sp.load_balancer_vips {
            b.element(
                NO_ENDPOINT_SERVICES,
                key3(*ip),
                Some(external_filter.clone()),
                comment,
            );
        }
    }

    if let Some(np) = node_port {
        let key2 = vec![KeyPart::Proto(proto), KeyPart::Port(np)];
        if px.localhost_reject.contains(&proto) {
            b.element(
                LOCALHOST_REJECT_MAP,
                key2.clone(),
                goto(&names::localhost_reject_chain(proto)),
                None,
            );
        }
        if has_endpoints {
            b.element(SERVICE_NODEPORTS, key2.clone(), goto(&external_chain), None);
        }
        if !has_external {
            b.element(
                NO_ENDPOINT_NODEPORTS,
                key2,
                Some(external_filter.clone()),
                comment,
            );
        }
    }

    if uses_external_chain {
        if !etp_local {
            // Remote endpoints may be used: masquerade in case we cross nodes.
            // (Until 1.35 a bare jump, without the comment.)
            let comment = (!px.endpoint_chains()).then_some("masquerade");
            b.rule(&external_chain, vec![px.mark_for_masquerade()], comment);
        } else {
            if let Some(local) = px.detector_expr(false) {
                b.rule(
                    &external_chain,
                    vec![local, Expr::Goto(cluster_chain.clone())],
                    Some("short-circuit pod traffic"),
                );
            }
            b.rule(
                &external_chain,
                vec![Expr::FibSaddrLocal, px.mark_for_masquerade()],
                Some("masquerade local traffic"),
            );
            b.rule(
                &external_chain,
                vec![Expr::FibSaddrLocal, Expr::Goto(cluster_chain.clone())],
                Some("short-circuit local traffic"),
            );
        }
        if has_external {
            b.rule(
                &external_chain,
                vec![Expr::Goto(external_policy_chain.clone())],
                None,
            );
        }
    }

    if uses_firewall {
        let mut sources: Vec<Addr> = sp
            .source_ranges
            .iter()
            .map(|n| Addr::Net(n.trunc()))
            .collect();
        if sp.source_ranges_allow_node(Some(px.node_ip)) {
            sources.extend(sp.load_balancer_vips.iter().map(|ip| Addr::Ip(*ip)));
        }
        b.rule(
            &firewall_chain,
            vec![Expr::SaddrNotIn(sources), Expr::Drop],
            None,
        );
    }

    if px.endpoint_chains() {
        let used = (uses_cluster_chain, uses_local_chain);
        legacy_endpoint_rules(px, b, sp, &cat, affinity, used);
        return;
    }
    match affinity {
        None => {
            let single = px.version.nftables_single_endpoint_dnat();
            if uses_cluster_chain {
                dnat_rules(b, &cluster_chain, proto, &cat.cluster, single);
            }
            if uses_local_chain {
                dnat_rules(b, &local_chain, proto, &cat.local, single);
            }
        }
        Some(timeout) => {
            for e in &cat.all_reachable {
                let ep_base = names::endpoint_base(sp, e);
                b.sets.push(Set {
                    name: format!("affinity-{ep_base}"),
                    key_type: px.family.addr_type().into(),
                    flags: vec![SetFlag::Dynamic, SetFlag::Timeout],
                    timeout: Some(timeout),
                    comment: None,
                    elements: Vec::new(),
                });
            }
            if uses_cluster_chain {
                affinity_jumps(b, sp, &cluster_chain, &cat.cluster);
            }
            if uses_local_chain {
                affinity_jumps(b, sp, &local_chain, &cat.local);
            }
            for e in &cat.all_reachable {
                let ep_base = names::endpoint_base(sp, e);
                let chain = format!("endpoint-{ep_base}");
                b.rule(
                    &chain,
                    vec![Expr::UpdateSaddr(format!("affinity-{ep_base}"))],
                    None,
                );
                b.rule(
                    &chain,
                    vec![
                        Expr::L4Proto(proto),
                        Expr::DnatTo(SocketAddr::new(e.ip, e.port)),
                    ],
                    None,
                );
            }
        }
    }
}

/// A service chain without affinity: one DNAT rule, to the only endpoint
/// (`single`: since 1.37) or through a `numgen` map over all of them.
fn dnat_rules(b: &mut Builder, chain: &str, proto: Protocol, eps: &[EndpointRef], single: bool) {
    let targets: Vec<SocketAddr> = eps.iter().map(|e| SocketAddr::new(e.ip, e.port)).collect();
    let dnat = match targets.as_slice() {
        [one] if single => Expr::DnatTo(*one),
        _ => Expr::DnatNumgen(targets),
    };
    b.rule(chain, vec![Expr::L4Proto(proto), dnat], None);
}

/// A service chain with ClientIP affinity: a jump per endpoint whose
/// affinity set holds the source, then a random choice.
fn affinity_jumps(b: &mut Builder, sp: &ServicePortInfo<'_>, chain: &str, eps: &[EndpointRef]) {
    let mut targets = Vec::new();
    for e in eps {
        let ep_base = names::endpoint_base(sp, e);
        let ep_chain = format!("endpoint-{ep_base}");
        b.rule(
            chain,
            vec![
                Expr::SaddrInSet(format!("affinity-{ep_base}")),
                Expr::Goto(ep_chain.clone()),
            ],
            None,
        );
        targets.push(ep_chain);
    }
    b.rule(chain, vec![Expr::NumgenGoto(targets)], None);
}

/// Until 1.35: the service chain of internal traffic masquerades its
/// cluster IP, for every source (`masqueradeAll`) or sources the
/// local-traffic detector calls not local; 1.33 also matched the port
/// (`syncProxyRules`, "Set up internal traffic handling", before
/// kubernetes#131492 and kubernetes#135800).
fn legacy_cluster_ip_masquerade(
    px: &Proxier,
    b: &mut Builder,
    sp: &ServicePortInfo<'_>,
    chain: &str,
) {
    let mut exprs = vec![Expr::Daddr {
        negated: false,
        addr: Addr::Ip(sp.cluster_ip),
    }];
    if px.version.nftables_masquerade_matches_port() {
        exprs.push(Expr::Dport(sp.protocol(), sp.port.port));
    }
    if !px.masquerade_all {
        let Some(not_local) = px.detector_expr(true) else {
            return;
        };
        exprs.push(not_local);
    }
    exprs.push(Expr::Jump(MARK_FOR_MASQUERADE.into()));
    b.rule(chain, exprs, None);
}

/// Until 1.35: the policy chains pick an endpoint chain (affinity first,
/// then `numgen … vmap`), and every reachable endpoint has a chain that
/// marks hairpin traffic, records affinity and DNATs
/// (`writeServiceToEndpointRules` and "Generate the per-endpoint chains"
/// in `syncProxyRules`, before kubernetes#136499). `used`: the cluster and
/// local policy chains are in use.
fn legacy_endpoint_rules(
    px: &Proxier,
    b: &mut Builder,
    sp: &ServicePortInfo<'_>,
    cat: &Categorized,
    affinity: Option<u32>,
    used: (bool, bool),
) {
    let base = names::service_port_base(sp);
    if let Some(timeout) = affinity {
        for e in &cat.all_reachable {
            b.sets.push(Set {
                name: format!("affinity-{}", names::endpoint_base(sp, e)),
                key_type: px.family.addr_type().into(),
                flags: vec![SetFlag::Dynamic, SetFlag::Timeout],
                timeout: Some(timeout),
                comment: None,
                elements: Vec::new(),
            });
        }
    }
    let policy_chains = [
        (used.0, format!("service-{base}"), &cat.cluster),
        (used.1, format!("local-{base}"), &cat.local),
    ];
    for (in_use, chain, eps) in policy_chains {
        if !in_use {
            continue;
        }
        let mut targets = Vec::new();
        for e in eps.iter() {
            let ep_chain = format!("endpoint-{}", names::endpoint_base(sp, e));
            if affinity.is_some() {
                b.rule(
                    &chain,
                    vec![
                        Expr::SaddrInSet(format!("affinity-{}", names::endpoint_base(sp, e))),
                        Expr::Goto(ep_chain.clone()),
                    ],
                    None,
                );
            }
            targets.push(ep_chain);
        }
        b.rule(&chain, vec![Expr::NumgenGoto(targets)], None);
    }
    for e in &cat.all_reachable {
        let ep_base = names::endpoint_base(sp, e);
        let chain = format!("endpoint-{ep_base}");
        b.rule(
            &chain,
            vec![
                Expr::Saddr {
                    negated: false,
                    addr: Addr::Ip(e.ip),
                },
                Expr::Jump(MARK_FOR_MASQUERADE.into()),
            ],
            None,
        );
        if affinity.is_some() {
            b.rule(
                &chain,
                vec![Expr::UpdateSaddr(format!("affinity-{ep_base}"))],
                None,
            );
        }
        b.rule(
            &chain,
            vec![
                Expr::L4Proto(sp.protocol()),
                Expr::DnatTo(SocketAddr::new(e.ip, e.port)),
            ],
            None,
        );
    }
}

/// Cuts a comment to [`COMMENT_LENGTH_MAX`] bytes (at a character boundary).
pub fn truncate_comment(s: &str) -> String {
    if s.len() <= COMMENT_LENGTH_MAX {
        return s.to_string();
    }
    let mut end = COMMENT_LENGTH_MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}
