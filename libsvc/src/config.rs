//! Node, proxy and cluster settings: what `render` needs besides the objects.
//!
//! They come from `kind: Node` and `kind: KubeProxyConfiguration` objects in
//! the input stream and from flags ([`Overrides`]); flags win.

use crate::diag::{Diagnostic, Severity};
use crate::model::Objects;
use ipnet::IpNet;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// An IP family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum IpFamily {
    /// IPv4.
    IPv4,
    /// IPv6.
    IPv6,
}

impl IpFamily {
    /// The family of an address.
    pub fn of(ip: &IpAddr) -> IpFamily {
        if ip.is_ipv4() {
            IpFamily::IPv4
        } else {
            IpFamily::IPv6
        }
    }

    /// Parses `IPv4` / `IPv6`.
    pub fn parse(s: &str) -> Option<IpFamily> {
        match s {
            "IPv4" => Some(IpFamily::IPv4),
            "IPv6" => Some(IpFamily::IPv6),
            _ => None,
        }
    }

    /// Both families, IPv4 first.
    pub const BOTH: [IpFamily; 2] = [IpFamily::IPv4, IpFamily::IPv6];
}

impl std::fmt::Display for IpFamily {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IpFamily::IPv4 => "IPv4",
            IpFamily::IPv6 => "IPv6",
        })
    }
}

/// The node kube-proxy runs on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeSettings {
    /// The node name (kube-proxy's hostname).
    pub name: String,
    /// The node's addresses, in order; the first of each family is the
    /// primary IP. Loopback is not listed but always present (see [`NodeSettings::local_ips`]).
    pub ips: Vec<IpAddr>,
}

impl NodeSettings {
    /// The node's primary IP of `family`, if it has one.
    pub fn primary_ip(&self, family: IpFamily) -> Option<IpAddr> {
        self.ips
            .iter()
            .copied()
            .find(|ip| IpFamily::of(ip) == family)
    }

    /// Every local address of `family`: the loopback address and the node IPs.
    pub fn local_ips(&self, family: IpFamily) -> Vec<IpAddr> {
        let lo: IpAddr = match family {
            IpFamily::IPv4 => IpAddr::from([127, 0, 0, 1]),
            IpFamily::IPv6 => IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]),
        };
        let mut out = vec![lo];
        out.extend(
            self.ips
                .iter()
                .copied()
                .filter(|ip| IpFamily::of(ip) == family),
        );
        out
    }
}

/// kube-proxy's configuration (KubeProxyConfiguration v1alpha1 fields svcgen uses).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProxySettings {
    /// `mode` (`iptables`, `nftables`, `ipvs`), if given.
    pub mode: Option<String>,
    /// `clusterCIDR`, split on commas.
    pub cluster_cidrs: Vec<IpNet>,
    /// `detectLocalMode` (`ClusterCIDR` by default).
    pub detect_local_mode: String,
    /// `iptables.masqueradeBit` (default 14).
    pub iptables_masquerade_bit: u32,
    /// `iptables.masqueradeAll`.
    pub iptables_masquerade_all: bool,
    /// `iptables.localhostNodePorts` (default true).
    pub iptables_localhost_node_ports: bool,
    /// `nftables.masqueradeBit` (default 14).
    pub nftables_masquerade_bit: u32,
    /// `nftables.masqueradeAll`.
    pub nftables_masquerade_all: bool,
    /// `ipvs.scheduler` (empty: `rr`).
    pub ipvs_scheduler: String,
    /// `ipvs.strictARP`.
    pub ipvs_strict_arp: bool,
    /// `nodePortAddresses` (CIDRs, or the word `primary`); `None`: all local addresses.
    pub node_port_addresses: Option<Vec<String>>,
    /// `featureGates`.
    pub feature_gates: BTreeMap<String, bool>,
}

impl Default for ProxySettings {
    fn default() -> Self {
        ProxySettings {
            mode: None,
            cluster_cidrs: Vec::new(),
            detect_local_mode: "ClusterCIDR".into(),
            iptables_masquerade_bit: 14,
            iptables_masquerade_all: false,
            iptables_localhost_node_ports: true,
            nftables_masquerade_bit: 14,
            nftables_masquerade_all: false,
            ipvs_scheduler: String::new(),
            ipvs_strict_arp: false,
            node_port_addresses: None,
            feature_gates: BTreeMap::new(),
        }
    }
}

/// Facts about the host that change kube-proxy's output but are not configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HostFacts {
    /// The iptables binary supports `--random-fully`.
    pub iptables_random_fully: bool,
    /// sysctl `net.netfilter.nf_conntrack_tcp_be_liberal` is non-zero.
    pub conntrack_tcp_be_liberal: bool,
    /// The nfacct counters that exist (`None`: nfacct unavailable).
    pub nfacct_counters: Option<Vec<String>>,
}

/// Cluster-wide settings (kube-apiserver and kubelet flags).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterSettings {
    /// The service CIDRs (`--service-cluster-ip-range`, ServiceCIDR objects).
    pub service_cidrs: Vec<IpNet>,
    /// `--service-node-port-range`, inclusive.
    pub node_port_range: (u16, u16),
    /// The cluster domain (`cluster.local`).
    pub cluster_domain: String,
    /// The cluster DNS server addresses (kubelet `clusterDNS`).
    pub cluster_dns: Vec<IpAddr>,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        ClusterSettings {
            service_cidrs: vec!["10.96.0.0/12".parse().expect("literal CIDR")],
            node_port_range: (30000, 32767),
            cluster_domain: "cluster.local".into(),
            cluster_dns: vec![IpAddr::from([10, 96, 0, 10])],
        }
    }
}

/// Everything besides the objects.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Settings {
    /// The node.
    pub node: NodeSettings,
    /// kube-proxy's configuration.
    pub proxy: ProxySettings,
    /// Host facts.
    pub host: HostFacts,
    /// Cluster settings.
    pub cluster: ClusterSettings,
    /// Render only this family (kube-proxy's single-stack proxier); `None`: both.
    pub ip_family: Option<IpFamily>,
}

impl Default for NodeSettings {
    fn default() -> Self {
        NodeSettings {
            name: "node".into(),
            ips: Vec::new(),
        }
    }
}

impl Settings {
    /// The families a proxier renders for.
    pub fn families(&self) -> Vec<IpFamily> {
        match self.ip_family {
            Some(f) => vec![f],
            None => IpFamily::BOTH.to_vec(),
        }
    }
}

/// Settings given as flags; each `Some` / non-empty value overrides the
/// objects in the input.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    /// `--node-name`.
    pub node_name: Option<String>,
    /// `--node-ip` (repeatable).
    pub node_ips: Vec<IpAddr>,
    /// `--service-cidr` (repeatable).
    pub service_cidrs: Vec<IpNet>,
    /// `--service-node-port-range`.
    pub node_port_range: Option<(u16, u16)>,
    /// `--cluster-domain`.
    pub cluster_domain: Option<String>,
    /// `--cluster-dns` (repeatable).
    pub cluster_dns: Vec<IpAddr>,
    /// `--cluster-cidr`.
    pub cluster_cidrs: Vec<IpNet>,
    /// `--ip-family`.
    pub ip_family: Option<IpFamily>,
    /// `--iptables-random-fully`.
    pub iptables_random_fully: Option<bool>,
    /// `--conntrack-tcp-be-liberal`.
    pub conntrack_tcp_be_liberal: Option<bool>,
    /// `--nfacct-counters`.
    pub nfacct_counters: Option<Vec<String>>,
    /// `--scheduler` (IPVS).
    pub ipvs_scheduler: Option<String>,
}

/// Parses a CIDR as kube-proxy does (`ParseCIDRSloppy`: surrounding
/// blanks tolerated, IPv4 parts and the prefix length may have leading zeros).
pub fn parse_cidr(s: &str) -> Option<IpNet> {
    let s = s.trim();
    if let Ok(n) = s.parse() {
        return Some(n);
    }
    let (ip, len) = s.split_once('/')?;
    let ip = parse_ip(ip)?;
    let len = parse_decimal(len)?;
    IpNet::new(ip, u8::try_from(len).ok()?).ok()
}

/// Parses an IP address as Kubernetes does (`ParseIPSloppy`: surrounding
/// blanks tolerated, IPv4 parts may have leading zeros, read as decimal,
/// so `10.180.00.001` is `10.180.0.1`).
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut octets = [0u8; 4];
    for (o, p) in octets.iter_mut().zip(parts) {
        *o = u8::try_from(parse_decimal(p)?).ok()?;
    }
    Some(IpAddr::from(octets))
}

/// A run of ASCII digits as a number (leading zeros allowed).
fn parse_decimal(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = s.trim_start_matches('0');
    if digits.len() > 9 {
        return None;
    }
    Some(digits.parse().unwrap_or(0))
}

/// Builds the settings from the objects of the input and the flags.
pub fn settings_from(
    objects: &Objects,
    overrides: &Overrides,
    diags: &mut Vec<Diagnostic>,
) -> Settings {
    let mut s = Settings::default();
    if let Some(node) = objects.nodes.last() {
        s.node.name = node.meta.name.clone();
        for (i, (kind, addr)) in node.addresses.iter().enumerate() {
            if kind != "InternalIP" {
                continue;
            }
            match addr.trim().parse::<IpAddr>() {
                Ok(ip) => s.node.ips.push(ip),
                Err(_) => diags.push(Diagnostic::new(
                    Severity::Warning,
                    format!("status.addresses[{i}].address: Invalid value: {addr:?}: must be a valid IP address; ignored"),
                    Some(node.origin.locate(&format!("status.addresses[{i}].address"))),
                )),
            }
        }
    }
    if let Some(c) = objects.proxy_configs.last() {
        let p = &mut s.proxy;
        p.mode = c.mode.clone().filter(|m| !m.is_empty());
        if let Some(h) = c.hostname_override.as_ref().filter(|h| !h.is_empty()) {
            s.node.name = h.clone();
        }
        if let Some(cidrs) = &c.cluster_cidr {
            for part in cidrs.split(',').filter(|x| !x.trim().is_empty()) {
                match parse_cidr(part) {
                    Some(n) => p.cluster_cidrs.push(n),
                    None => diags.push(Diagnostic::new(
                        Severity::Warning,
                        format!(
                            "clusterCIDR: Invalid value: {part:?}: must be a valid CIDR; ignored"
                        ),
                        Some(c.origin.locate("clusterCIDR")),
                    )),
                }
            }
        }
        if let Some(m) = c.detect_local_mode.as_ref().filter(|m| !m.is_empty()) {
            p.detect_local_mode = m.clone();
        }
        let bit = |v: Option<i64>, field: &str, diags: &mut Vec<Diagnostic>| match v {
            Some(b @ 0..=31) => Some(b as u32),
            Some(b) => {
                diags.push(Diagnostic::new(
                    Severity::Warning,
                    format!("{field}: Invalid value: {b}: must be in the range [0, 31]; using 14"),
                    Some(c.origin.locate(field)),
                ));
                None
            }
            None => None,
        };
        if let Some(b) = bit(c.iptables_masquerade_bit, "iptables.masqueradeBit", diags) {
            p.iptables_masquerade_bit = b;
        }
        if let Some(b) = bit(c.nftables_masquerade_bit, "nftables.masqueradeBit", diags) {
            p.nftables_masquerade_bit = b;
        }
        p.iptables_masquerade_all = c.iptables_masquerade_all.unwrap_or(false);
        p.iptables_localhost_node_ports = c.iptables_localhost_node_ports.unwrap_or(true);
        p.nftables_masquerade_all = c.nftables_masquerade_all.unwrap_or(false);
        p.ipvs_scheduler = c.ipvs_scheduler.clone().unwrap_or_default();
        p.ipvs_strict_arp = c.ipvs_strict_arp.unwrap_or(false);
        p.node_port_addresses = c.node_port_addresses.clone().filter(|v| !v.is_empty());
        p.feature_gates = c.feature_gates.clone();
    }
    let mut cidrs: Vec<IpNet> = Vec::new();
    for sc in &objects.service_cidrs {
        for (i, c) in sc.cidrs.iter().enumerate() {
            match parse_cidr(c) {
                Some(n) => cidrs.push(n),
                None => diags.push(Diagnostic::new(
                    Severity::Warning,
                    format!("spec.cidrs[{i}]: Invalid value: {c:?}: must be a valid CIDR; ignored"),
                    Some(sc.origin.locate(&format!("spec.cidrs[{i}]"))),
                )),
            }
        }
    }
    if !overrides.service_cidrs.is_empty() {
        cidrs = overrides.service_cidrs.clone();
    }
    if cidrs.is_empty()
        && let Some(inferred) = infer_service_cidrs(objects)
    {
        diags.push(Diagnostic::new(Severity::Info, inferred.message(), None));
        cidrs = inferred.cidrs;
    }
    if !cidrs.is_empty() {
        s.cluster.service_cidrs = cidrs;
        // kubeadm's convention: the cluster DNS service is the tenth address.
        s.cluster.cluster_dns = s
            .cluster
            .service_cidrs
            .first()
            .and_then(|n| nth_address(n, 10))
            .into_iter()
            .collect();
    }
    let o = overrides;
    if let Some(n) = &o.node_name {
        s.node.name = n.clone();
    }
    if !o.node_ips.is_empty() {
        s.node.ips = o.node_ips.clone();
    }
    if let Some(r) = o.node_port_range {
        s.cluster.node_port_range = r;
    }
    if let Some(d) = &o.cluster_domain {
        s.cluster.cluster_domain = d.trim_end_matches('.').to_string();
    }
    if !o.cluster_dns.is_empty() {
        s.cluster.cluster_dns = o.cluster_dns.clone();
    }
    if !o.cluster_cidrs.is_empty() {
        s.proxy.cluster_cidrs = o.cluster_cidrs.clone();
    }
    s.ip_family = o.ip_family;
    if let Some(v) = o.iptables_random_fully {
        s.host.iptables_random_fully = v;
    }
    if let Some(v) = o.conntrack_tcp_be_liberal {
        s.host.conntrack_tcp_be_liberal = v;
    }
    if let Some(v) = &o.nfacct_counters {
        s.host.nfacct_counters = Some(v.clone());
    }
    if let Some(v) = &o.ipvs_scheduler {
        s.proxy.ipvs_scheduler = v.clone();
    }
    s
}

/// The `n`th address of a network (0 is the network address), if inside it.
pub fn nth_address(net: &IpNet, n: u128) -> Option<IpAddr> {
    match net {
        IpNet::V4(v4) => {
            let base = u32::from(v4.network()) as u128;
            let size = 1u128 << (32 - v4.prefix_len());
            (n < size).then(|| IpAddr::from(std::net::Ipv4Addr::from((base + n) as u32)))
        }
        IpNet::V6(v6) => {
            let base = u128::from(v6.network());
            let bits = 128 - v6.prefix_len() as u32;
            let fits = bits >= 128 || n < (1u128 << bits);
            fits.then(|| IpAddr::from(std::net::Ipv6Addr::from(base + n)))
        }
    }
}

/// Service CIDRs read off stored objects, when none is given.
#[derive(Debug, Clone, PartialEq)]
pub struct InferredCidrs {
    /// Primary first.
    pub cidrs: Vec<IpNet>,
    /// `default/kubernetes`'s cluster IP, when it anchored the primary range.
    pub anchor: Option<IpAddr>,
    /// How many stored cluster IPs the ranges cover.
    pub stored_ips: usize,
}

impl InferredCidrs {
    /// The one info line: what was assumed, and how to say otherwise.
    pub fn message(&self) -> String {
        let list: Vec<String> = self.cidrs.iter().map(|n| n.to_string()).collect();
        let why = match self.anchor {
            Some(ip) => format!(
                "default/kubernetes holds {ip}, the first address of the primary range; the \
                 ranges cover the {} stored cluster IPs",
                self.stored_ips
            ),
            None => format!(
                "the ranges cover the {} stored cluster IPs",
                self.stored_ips
            ),
        };
        format!(
            "no service CIDR given: assuming {} from the stored Services ({why}); set it with \
             --service-cidr or a ServiceCIDR object",
            list.join(",")
        )
    }
}

/// The service CIDRs a cluster dump implies, when neither a flag nor a
/// ServiceCIDR object gives them.
///
/// Only *stored* Services count (read from a cluster: their cluster IPs
/// were allocated by its API server); hand-written manifests prove nothing.
/// kube-apiserver gives `default/kubernetes` the first address after the
/// network address of its primary range (`--service-cluster-ip-range`), so
/// that address minus one is the primary network. The prefix length is not
/// stored anywhere: svcgen takes the smallest range at that network that
/// holds every stored cluster IP of the family, but no smaller than 256
/// addresses (/24, /120; the apiserver's own default range is a /24). The
/// real range holds the network and every stored IP, so it contains this
/// one: whatever svcgen allocates in it is an address the cluster could
/// have given. Without `default/kubernetes` (or when its address cannot be
/// a range's first), the range is the smallest one holding the stored IPs.
pub fn infer_service_cidrs(objects: &Objects) -> Option<InferredCidrs> {
    let mut by_family: BTreeMap<IpFamily, Vec<IpAddr>> = BTreeMap::new();
    let mut anchor = None;
    for svc in objects.services.iter().filter(|s| s.meta.is_stored()) {
        if svc.spec.type_.as_deref() == Some("ExternalName") {
            continue;
        }
        let ips: Vec<IpAddr> = if svc.spec.cluster_ips.is_empty() {
            svc.spec
                .cluster_ip
                .iter()
                .filter_map(|ip| parse_ip(ip))
                .collect()
        } else {
            svc.spec
                .cluster_ips
                .iter()
                .filter_map(|ip| parse_ip(ip))
                .collect()
        };
        if svc.meta.namespace() == "default" && svc.meta.name == "kubernetes" {
            anchor = anchor.or(ips.first().copied());
        }
        for ip in ips {
            by_family.entry(IpFamily::of(&ip)).or_default().push(ip);
        }
    }
    let stored_ips = by_family.values().map(Vec::len).sum();
    let primary = anchor
        .map(|ip| IpFamily::of(&ip))
        .or_else(|| by_family.keys().next().copied())?;
    let mut cidrs = Vec::new();
    let mut anchored = None;
    for family in [primary, other_family(primary)] {
        let Some(ips) = by_family.get(&family) else {
            continue;
        };
        let network = anchor
            .filter(|a| IpFamily::of(a) == family)
            .and_then(|a| previous_address(&a));
        let (net, used_anchor) = smallest_range(ips, network);
        if used_anchor {
            anchored = anchor;
        }
        cidrs.push(net);
    }
    Some(InferredCidrs {
        cidrs,
        anchor: anchored,
        stored_ips,
    })
}

fn other_family(f: IpFamily) -> IpFamily {
    match f {
        IpFamily::IPv4 => IpFamily::IPv6,
        IpFamily::IPv6 => IpFamily::IPv4,
    }
}

fn to_bits(ip: &IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(v4) => (u32::from(*v4) as u128, 32),
        IpAddr::V6(v6) => (u128::from(*v6), 128),
    }
}

fn previous_address(ip: &IpAddr) -> Option<IpAddr> {
    match ip {
        IpAddr::V4(v4) => u32::from(*v4)
            .checked_sub(1)
            .map(|n| IpAddr::from(std::net::Ipv4Addr::from(n))),
        IpAddr::V6(v6) => u128::from(*v6)
            .checked_sub(1)
            .map(|n| IpAddr::from(std::net::Ipv6Addr::from(n))),
    }
}

/// The smallest range (at most /24 or /120) holding `ips`, with `network`
/// as its network address when it can be. Says whether `network` was used.
fn smallest_range(ips: &[IpAddr], network: Option<IpAddr>) -> (IpNet, bool) {
    let (first, width) = to_bits(&ips[0]);
    // The longest prefix every address shares.
    let common = |base: u128, len: u8| -> u8 {
        ips.iter().fold(len, |l, ip| {
            let x = to_bits(ip).0 ^ base;
            let lead = (x.leading_zeros() as u8).saturating_sub(128 - width);
            l.min(lead)
        })
    };
    let floor = width - 8;
    if let Some(n) = network {
        let (nb, _) = to_bits(&n);
        let len = common(nb, width).min(floor);
        let host = width - len;
        let mask = if host >= 128 {
            u128::MAX
        } else {
            (1u128 << host) - 1
        };
        if nb & mask == 0
            && let Ok(net) = IpNet::new(n, len)
        {
            return (net, true);
        }
    }
    let len = common(first, width).min(floor);
    let net = IpNet::new(ips[0], len)
        .map(|n| n.trunc())
        .unwrap_or_else(|_| IpNet::from(ips[0]));
    (net, false)
}
