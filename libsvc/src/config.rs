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

/// The node kube-proxy runs on: the Node object whose name is kube-proxy's
/// node name (`--node-name`, else `hostnameOverride`), as kube-proxy's node
/// manager reads it (`pkg/proxy/nodemanager`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeSettings {
    /// The node name (kube-proxy's hostname: trimmed, lower case).
    pub name: String,
    /// The node's own addresses, in order, as svcgen approximates its
    /// interfaces: every InternalIP of the Node, then its host IPs (or every
    /// `--node-ip`). Loopback is not listed but always present (see
    /// [`NodeSettings::local_ips`]).
    pub ips: Vec<IpAddr>,
    /// The `topology.kubernetes.io/zone` label of the Node named like the
    /// node (kube-proxy's topology labels); `None`: no such Node or label.
    pub zone: Option<String>,
    /// kube-proxy's node IPs, primary first, at most one per family
    /// (`GetNodeHostIPs`: InternalIPs, then ExternalIPs; `bindAddress`
    /// overrides the primary). A family without one is loopback
    /// ([`NodeSettings::node_ip`]).
    pub host_ips: Vec<IpAddr>,
    /// `spec.podCIDRs` of the Node (or `spec.podCIDR`), as written.
    pub pod_cidrs: Vec<String>,
    /// `metadata.labels` of the Node (e.g. `topology.kubernetes.io/zone`).
    pub labels: BTreeMap<String, String>,
    /// A Node object with this name is in the input.
    pub object_found: bool,
    /// The name was given (`--node-name`, `hostnameOverride`).
    pub name_given: bool,
    /// No node name was given and the input has several Nodes: the first was taken.
    pub name_guessed: bool,
}

impl NodeSettings {
    /// The node's primary IP of `family`, if it has one: the first of its
    /// addresses of that family.
    pub fn primary_ip(&self, family: IpFamily) -> Option<IpAddr> {
        self.ips
            .iter()
            .copied()
            .find(|ip| IpFamily::of(ip) == family)
    }

    /// kube-proxy's node IP of `family` (`detectNodeIPs`): the host IP of
    /// that family, else the loopback address.
    pub fn node_ip(&self, family: IpFamily) -> IpAddr {
        self.host_ips
            .iter()
            .copied()
            .find(|ip| IpFamily::of(ip) == family)
            .unwrap_or(match family {
                IpFamily::IPv4 => IpAddr::from([127, 0, 0, 1]),
                IpFamily::IPv6 => IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]),
            })
    }

    /// kube-proxy's primary IP family: the first host IP's, else IPv4.
    pub fn primary_family(&self) -> IpFamily {
        self.host_ips.first().map_or(IpFamily::IPv4, IpFamily::of)
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

/// `GetNodeHostIPs` (pkg/util/node): the first address of the list, then
/// the first of the other family after it.
pub fn host_ips(candidates: &[IpAddr]) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = candidates.first().copied().into_iter().collect();
    if let Some(first) = out.first().copied()
        && let Some(other) = candidates.iter().find(|ip| ip.is_ipv4() != first.is_ipv4())
    {
        out.push(*other);
    }
    out
}

/// `detectNodeIPs` (pkg/proxy/nodemanager): a `bindAddress` that is an IP and
/// not unspecified replaces the node IP of its family and makes that family
/// the primary one.
pub fn override_primary(host_ips: &[IpAddr], bind_address: Option<IpAddr>) -> Vec<IpAddr> {
    let Some(bind) = bind_address.filter(|ip| !ip.is_unspecified()) else {
        return host_ips.to_vec();
    };
    let mut out = vec![bind];
    out.extend(host_ips.iter().filter(|ip| ip.is_ipv4() != bind.is_ipv4()));
    out
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
    /// `detectLocal.bridgeInterface` (BridgeInterface mode).
    pub bridge_interface: String,
    /// `detectLocal.interfaceNamePrefix` (InterfaceNamePrefix mode).
    pub interface_name_prefix: String,
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
            bridge_interface: String::new(),
            interface_name_prefix: String::new(),
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
    /// The Kubernetes release whose kube-proxy is rendered (`--kube-version`).
    pub kube_version: KubeVersion,
}

impl Default for NodeSettings {
    fn default() -> Self {
        NodeSettings {
            name: "node".into(),
            ips: Vec::new(),
            zone: None,
            host_ips: Vec::new(),
            pod_cidrs: Vec::new(),
            labels: BTreeMap::new(),
            object_found: false,
            name_given: false,
            name_guessed: false,
        }
    }
}

impl Settings {
    /// kube-proxy reads node hints: `PreferSameTrafficDistribution` as
    /// `featureGates` sets it in 1.33 (alpha, off) and 1.34 (beta, on);
    /// locked on from 1.35 (pkg/features/kube_features.go, read by
    /// `topologyModeFromHints` in pkg/proxy/topology.go).
    pub fn prefer_same_node(&self) -> bool {
        let default = self.kube_version.prefer_same_node_by_default();
        if self.kube_version >= KubeVersion::V1_35 {
            return default;
        }
        self.proxy
            .feature_gates
            .get(PREFER_SAME_TRAFFIC_DISTRIBUTION)
            .copied()
            .unwrap_or(default)
    }

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
    /// `--detect-local-mode`.
    pub detect_local_mode: Option<String>,
    /// `--pod-bridge-interface`.
    pub bridge_interface: Option<String>,
    /// `--pod-interface-name-prefix`.
    pub interface_name_prefix: Option<String>,
    /// `--no-simulate`: keep workloads (Deployments, StatefulSets, …) as
    /// they are instead of simulating their Pods.
    pub no_simulate: bool,
    /// `--kube-version`.
    pub kube_version: Option<KubeVersion>,
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
    let config = objects.proxy_configs.last();
    node_settings(objects, overrides, config, &mut s.node, diags);
    if let Some(c) = objects.proxy_configs.last() {
        let p = &mut s.proxy;
        p.mode = c.mode.clone().filter(|m| !m.is_empty());
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
        p.bridge_interface = c.bridge_interface.clone().unwrap_or_default();
        p.interface_name_prefix = c.interface_name_prefix.clone().unwrap_or_default();
        // kube-proxy sets nf_conntrack_tcp_be_liberal before it builds its
        // proxier (setupConntrack), so the proxier sees it set.
        if c.conntrack_tcp_be_liberal == Some(true) {
            s.host.conntrack_tcp_be_liberal = true;
        }
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
    if let Some(ip) = kube_dns_ip(objects) {
        s.cluster.cluster_dns = vec![ip];
    }
    let o = overrides;
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
        s.host.conntrack_tcp_be_liberal |= v;
    }
    if let Some(v) = &o.nfacct_counters {
        s.host.nfacct_counters = Some(v.clone());
    }
    if let Some(v) = &o.ipvs_scheduler {
        s.proxy.ipvs_scheduler = v.clone();
    }
    if let Some(v) = o.detect_local_mode.as_ref().filter(|v| !v.is_empty()) {
        s.proxy.detect_local_mode = v.clone();
    }
    if let Some(v) = &o.bridge_interface {
        s.proxy.bridge_interface = v.clone();
    }
    if let Some(v) = &o.interface_name_prefix {
        s.proxy.interface_name_prefix = v.clone();
    }
    if let Some(v) = o.kube_version {
        s.kube_version = v;
    }
    release_gates(&mut s, objects, diags);
    // kube-proxy watches only the Node named like itself for its topology labels.
    s.node.zone = s
        .node
        .labels
        .get(crate::proxy::topology::ZONE_LABEL)
        .cloned();
    s
}

/// The kube-proxy releases svcgen renders: 1.33 to 1.37, the reference.
/// Where their rules differ is listed in docs/kube-versions.md; each
/// difference is one method here, asked by the code that renders it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Default)]
pub enum KubeVersion {
    /// Kubernetes 1.33.
    V1_33,
    /// Kubernetes 1.34.
    V1_34,
    /// Kubernetes 1.35.
    V1_35,
    /// Kubernetes 1.36.
    V1_36,
    /// Kubernetes 1.37 (the reference, and the default).
    #[default]
    V1_37,
}

impl KubeVersion {
    /// Every release, oldest first.
    pub const ALL: [KubeVersion; 5] = [
        KubeVersion::V1_33,
        KubeVersion::V1_34,
        KubeVersion::V1_35,
        KubeVersion::V1_36,
        KubeVersion::V1_37,
    ];

    /// Parses `1.33`, `v1.33` or a patch release such as `v1.33.4`.
    pub fn parse(s: &str) -> Option<KubeVersion> {
        let s = s.trim();
        let s = s.strip_prefix('v').unwrap_or(s);
        let mut parts = s.split('.');
        let (major, minor) = (parts.next()?, parts.next()?);
        if let Some(patch) = parts.next()
            && (patch.is_empty() || !patch.bytes().all(|b| b.is_ascii_digit()))
        {
            return None;
        }
        if major != "1" || parts.next().is_some() {
            return None;
        }
        KubeVersion::ALL
            .into_iter()
            .find(|v| v.minor().to_string() == minor)
    }

    /// The minor number (33 for 1.33).
    pub fn minor(self) -> u32 {
        match self {
            KubeVersion::V1_33 => 33,
            KubeVersion::V1_34 => 34,
            KubeVersion::V1_35 => 35,
            KubeVersion::V1_36 => 36,
            KubeVersion::V1_37 => 37,
        }
    }

    /// nftables: a chain per endpoint (`endpoint-…`: hairpin mark, DNAT),
    /// a `numgen … vmap` in the service chain, and the `mark-for-masquerade`
    /// chain every masquerade jumps to. Until 1.35; kubernetes#135800 (the
    /// chain inlined as `mark set mark or …`) and kubernetes#136499 (the
    /// `hairpin-connections` set, DNAT in the service chain, one
    /// `@cluster-ips` masquerade rule in `services`), both in 1.36
    /// (pkg/proxy/nftables/proxier.go, `syncProxyRules`, `setupNFTables`).
    pub fn nftables_endpoint_chains(self) -> bool {
        self <= KubeVersion::V1_35
    }

    /// nftables: a service port with one endpoint (no affinity) gets a
    /// plain `dnat to IP:PORT`, not a `numgen random mod 1 map`. 1.37:
    /// kubernetes#140723, its final form from kubernetes#140960
    /// (`syncProxyRules`).
    pub fn nftables_single_endpoint_dnat(self) -> bool {
        self >= KubeVersion::V1_37
    }

    /// nftables: the per-service masquerade rule also matches the
    /// protocol and port (`ip daddr IP tcp dport P …`). Until 1.33;
    /// kubernetes#131492 (1.34) dropped the match (`syncProxyRules`).
    pub fn nftables_masquerade_matches_port(self) -> bool {
        self <= KubeVersion::V1_33
    }

    /// nftables: the interface local-traffic detectors match `iifname`.
    /// 1.33 wrote `iif` (an interface index, resolved by `nft` at load
    /// time); kubernetes#134024 (1.35, cherry-picked to 1.34 by
    /// kubernetes#134118) fixed it (pkg/proxy/util/localdetector.go,
    /// `IfLocalNFT` / `IfNotLocalNFT`).
    pub fn nftables_iifname(self) -> bool {
        self >= KubeVersion::V1_34
    }

    /// The `KubeProxyNFTablesLocalhostNodePorts` feature gate exists
    /// (KEP-6032, alpha in 1.37: kubernetes#138427); before, kube-proxy
    /// does not know it (pkg/features/kube_features.go).
    pub fn has_localhost_nodeports_gate(self) -> bool {
        self >= KubeVersion::V1_37
    }

    /// `PreferSameTrafficDistribution` is on unless turned off: beta (on by
    /// default) in 1.34, GA and locked in 1.35. In 1.33 it is alpha, off
    /// by default, and kube-proxy ignores node hints unless it is turned on
    /// (pkg/proxy/topology.go, `topologyModeFromHints`).
    pub fn prefer_same_node_by_default(self) -> bool {
        self >= KubeVersion::V1_34
    }
}

impl std::fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "1.{}", self.minor())
    }
}

/// The feature gate names whose defaults differ between releases.
pub const PREFER_SAME_TRAFFIC_DISTRIBUTION: &str = "PreferSameTrafficDistribution";

/// Feature gates `featureGates` names that this release's kube-proxy does
/// not know: kube-proxy refuses to start with an unrecognized gate
/// (`featuregate.Set`); svcgen says so and renders as if it were unset.
fn release_gates(s: &mut Settings, objects: &Objects, diags: &mut Vec<Diagnostic>) {
    let gate = crate::proxy::nftables::build::LOCALHOST_NODEPORTS_GATE;
    if !s.kube_version.has_localhost_nodeports_gate()
        && s.proxy.feature_gates.remove(gate).is_some()
    {
        diags.push(Diagnostic::new(
            Severity::Warning,
            format!(
                "featureGates: {gate}: kube-proxy {} does not know this feature gate \
                 (unrecognized feature gate: {gate}) and does not start; rendered as if unset",
                s.kube_version
            ),
            objects
                .proxy_configs
                .last()
                .map(|c| c.origin.locate(&format!("featureGates.{gate}"))),
        ));
    }
    // GA and locked from 1.35: turning it off is refused at start-up.
    let gate = PREFER_SAME_TRAFFIC_DISTRIBUTION;
    if s.kube_version >= KubeVersion::V1_35 && s.proxy.feature_gates.get(gate) == Some(&false) {
        diags.push(Diagnostic::new(
            Severity::Warning,
            format!(
                "featureGates: {gate}: false: the feature is GA and locked on in kube-proxy {}, \
                 which refuses to turn it off; rendered with it on",
                s.kube_version
            ),
            objects
                .proxy_configs
                .last()
                .map(|c| c.origin.locate(&format!("featureGates.{gate}"))),
        ));
    }
}

/// kube-proxy's node: its name (`GetHostname`: `--node-name`, else
/// `hostnameOverride`, trimmed and lower-cased), the Node object of that
/// name, its IPs (`GetNodeHostIPs`, `detectNodeIPs`) and pod CIDRs. svcgen
/// has no hostname: without a name, a lone Node is the node, and of several
/// the first is taken (and said so when rendering).
fn node_settings(
    objects: &Objects,
    overrides: &Overrides,
    config: Option<&crate::model::KubeProxyConfiguration>,
    node: &mut NodeSettings,
    diags: &mut Vec<Diagnostic>,
) {
    let given = overrides
        .node_name
        .clone()
        .or_else(|| config.and_then(|c| c.hostname_override.clone()))
        .map(|n| n.trim().to_lowercase())
        .filter(|n| !n.is_empty());
    let object = match &given {
        Some(name) => {
            node.name = name.clone();
            node.name_given = true;
            objects.nodes.iter().find(|n| &n.meta.name == name)
        }
        None => {
            node.name_guessed = objects.nodes.len() > 1;
            let first = objects.nodes.first();
            if let Some(n) = first {
                node.name = n.meta.name.clone();
            }
            first
        }
    };
    let mut internal = Vec::new();
    let mut external = Vec::new();
    if let Some(n) = object {
        node.object_found = true;
        node.pod_cidrs = n.pod_cidrs.clone();
        node.labels = n.meta.labels.clone();
        for (i, (kind, addr)) in n.addresses.iter().enumerate() {
            let list = match kind.as_str() {
                "InternalIP" => &mut internal,
                "ExternalIP" => &mut external,
                _ => continue,
            };
            match parse_ip(addr) {
                Some(ip) => list.push(ip),
                None => diags.push(Diagnostic::new(
                    Severity::Warning,
                    format!("status.addresses[{i}].address: Invalid value: {addr:?}: must be a valid IP address; ignored"),
                    Some(n.origin.locate(&format!("status.addresses[{i}].address"))),
                )),
            }
        }
    }
    if !overrides.node_ips.is_empty() {
        node.ips = overrides.node_ips.clone();
        node.host_ips = host_ips(&overrides.node_ips);
        return;
    }
    let candidates: Vec<IpAddr> = internal.iter().chain(&external).copied().collect();
    let bind = config
        .and_then(|c| c.bind_address.as_deref())
        .and_then(parse_ip);
    node.host_ips = override_primary(&host_ips(&candidates), bind);
    node.ips = internal;
    for ip in &node.host_ips {
        if !node.ips.contains(ip) {
            node.ips.push(*ip);
        }
    }
}

/// The cluster IP of the Service `kube-system/kube-dns`, if the input has
/// it: kubeadm gives kubelet `--cluster-dns` (`clusterDNS`) that address
/// (the DNS Service's IP, the tenth of the service CIDR when kubeadm
/// created it), so a dump of a cluster carries its own nameserver.
pub fn kube_dns_ip(objects: &Objects) -> Option<IpAddr> {
    let svc = objects
        .services
        .iter()
        .find(|s| s.meta.namespace() == "kube-system" && s.meta.name == "kube-dns")?;
    let primary = svc
        .spec
        .cluster_ips
        .first()
        .or(svc.spec.cluster_ip.as_ref())?;
    parse_ip(primary)
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
