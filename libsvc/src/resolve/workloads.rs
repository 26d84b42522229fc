//! Workloads become Pods: what the cluster's controllers, the scheduler and
//! kubelet would make of Deployments, ReplicaSets, ReplicationControllers,
//! StatefulSets and DaemonSets — deterministically, with no randomness.
//!
//! - Controllers: a Deployment makes a ReplicaSet `<deployment>-<hash>`
//!   (pkg/controller/deployment/sync.go getNewReplicaSet, with
//!   controller.ComputeHash encoded by rand.SafeEncodeString); ReplicaSets,
//!   ReplicationControllers and DaemonSets make Pods `<owner>-<5 characters>`
//!   (generateName, apiserver/pkg/storage/names SimpleNameGenerator); a
//!   StatefulSet makes `<set>-<ordinal>` with `hostname` = the Pod's name and
//!   `subdomain` = `spec.serviceName` (pkg/controller/statefulset/
//!   stateful_set_utils.go newStatefulSetPod, initIdentity). The random
//!   characters are taken from a stable hash of the owner and the index.
//! - Scheduler: the input's Nodes in name order, round robin across all
//!   simulated Pods, respecting `nodeName` and `nodeSelector`; no Node in the
//!   input: one default node, the node svcgen renders for.
//! - kubelet and the CNI: Pods are Running and Ready; each takes the next free
//!   address of its node's pod range from the third address on (the first is
//!   the network, the second the node's bridge/gateway, as with the
//!   host-local IPAM plugin). A node's range is its `spec.podCIDRs`, else the
//!   cluster CIDR cut as kube-controller-manager's node IPAM does by default
//!   (`--node-cidr-mask-size` 24 for IPv4, 64 for IPv6; pkg/controller/
//!   nodeipam/ipam/cidrset), one per family on a dual-stack cluster.
//!
//! A workload whose Pods the input already holds (by ownerReferences; for a
//! Deployment through its ReplicaSet; or orphan Pods its selector matches,
//! which its controller would adopt) is not simulated: the input is the
//! cluster's state.

use crate::config::{IpFamily, Settings};
use crate::diag::{Diagnostic, Severity};
use crate::model::{ObjectMeta, Objects, Pod, Workload, WorkloadKind};
use ipnet::IpNet;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// The pod network used when neither a Node's podCIDR nor a clusterCIDR is
/// given: kind's default `podSubnet` (also flannel's), for each family.
pub const DEFAULT_POD_CIDR_V4: &str = "10.244.0.0/16";
/// The IPv6 counterpart of [`DEFAULT_POD_CIDR_V4`] (kind's default).
pub const DEFAULT_POD_CIDR_V6: &str = "fd00:10:244::/56";
/// The annotation a simulated Pod carries: the workload it stands for, as
/// `Kind/name`, so it shows as simulated wherever its metadata is printed.
pub const SIMULATED_ANNOTATION: &str = "svcgen/simulated-from";
/// At most this many Pods are simulated for one workload, so that a huge
/// `replicas` cannot exhaust memory.
pub const MAX_PODS_PER_WORKLOAD: i64 = 1000;
/// The alphabet of generated names (k8s.io/apimachinery/pkg/util/rand).
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
/// kubelet's well-known labels every registered Node carries.
const LABEL_HOSTNAME: &str = "kubernetes.io/hostname";
const LABEL_OS: &str = "kubernetes.io/os";
const LABEL_ARCH: &str = "kubernetes.io/arch";

/// A node Pods can be placed on.
struct SimNode {
    name: String,
    labels: BTreeMap<String, String>,
    pod_cidrs: Vec<IpNet>,
    host_ips: Vec<IpAddr>,
    /// May the scheduler pick it (a Node of the input, or the default node)?
    schedulable: bool,
    /// svcgen's default node (the input has no Node).
    default: bool,
}

/// What was simulated, for the one summary line.
#[derive(Default)]
struct Summary {
    pods: usize,
    by_kind: BTreeMap<WorkloadKind, usize>,
    held: usize,
    pending: usize,
    ranges: BTreeSet<String>,
}

/// Appends to `objects.pods` the Pods the workloads of the input stand for,
/// flagged `simulated`, and says what it did in one info diagnostic.
pub fn simulate(objects: &mut Objects, settings: &Settings, diags: &mut Vec<Diagnostic>) {
    if objects.workloads.is_empty() {
        return;
    }
    let mut workloads: Vec<&Workload> = objects.workloads.iter().collect();
    // Name order, not document order, decides every name, node and address.
    workloads.sort_by(|a, b| key(a).cmp(&key(b)));
    workloads.dedup_by(|a, b| key(a) == key(b));

    let (nodes, default_node) = nodes(objects, settings, &workloads);
    let mut used: BTreeSet<IpAddr> = objects
        .pods
        .iter()
        .flat_map(|p| {
            p.pod_ips
                .iter()
                .filter_map(|ip| crate::config::parse_ip(ip))
        })
        .collect();
    let mut names: BTreeSet<(String, String)> = objects
        .pods
        .iter()
        .map(|p| (p.meta.namespace().to_string(), p.meta.name.clone()))
        .collect();
    let mut ipam = Ipam::new(settings, &nodes);
    let mut summary = Summary::default();
    let mut cursor = 0usize;
    let mut made = Vec::new();
    let owners = owners(objects);
    let orphans = orphans(&objects.pods);
    for w in &workloads {
        if held_by_input(w, &owners) || adopts(w, &orphans) {
            summary.held += 1;
            continue;
        }
        let replicas = w.replicas.unwrap_or(1).max(0);
        if replicas > MAX_PODS_PER_WORKLOAD {
            diags.push(Diagnostic::new(
                Severity::Warning,
                format!(
                    "{} {}/{}: spec.replicas is {replicas}; svcgen simulates its first {MAX_PODS_PER_WORKLOAD} Pods",
                    w.kind,
                    w.meta.namespace(),
                    w.meta.name
                ),
                Some(w.origin.locate("spec.replicas")),
            ));
        }
        let ns = w.meta.namespace().to_string();
        let mut pods = Vec::new();
        match w.kind {
            WorkloadKind::DaemonSet => {
                // One Pod per node the template fits on.
                for (i, n) in nodes.iter().enumerate() {
                    if n.schedulable && fits(&w.template.node_selector, n) {
                        let name = generated_name(&w.meta.name, &ns, &n.name, &mut names);
                        pods.push((name, BTreeMap::new(), Some(i)));
                    }
                }
            }
            kind => {
                let (owner, extra) = match kind {
                    WorkloadKind::Deployment => {
                        let hash = template_hash(w);
                        let rs = format!("{}-{hash}", w.meta.name);
                        (rs, Some(("pod-template-hash".to_string(), hash)))
                    }
                    _ => (w.meta.name.clone(), None),
                };
                for i in 0..replicas.min(MAX_PODS_PER_WORKLOAD) {
                    let mut labels = BTreeMap::new();
                    let name = if kind == WorkloadKind::StatefulSet {
                        let name = format!("{}-{i}", w.meta.name);
                        // The name is fixed: a Pod of that name that is not
                        // the set's keeps the controller from creating it.
                        if !names.insert((ns.clone(), name.clone())) {
                            diags.push(Diagnostic::new(
                                Severity::Warning,
                                format!(
                                    "StatefulSet {ns}/{}: Pod {name} already exists and is not the set's, so the StatefulSet controller cannot create it; svcgen leaves it out",
                                    w.meta.name
                                ),
                                Some(w.origin.location()),
                            ));
                            continue;
                        }
                        labels.insert("apps.kubernetes.io/pod-index".into(), i.to_string());
                        labels.insert("statefulset.kubernetes.io/pod-name".into(), name.clone());
                        name
                    } else {
                        generated_name(&owner, &ns, &i.to_string(), &mut names)
                    };
                    if let Some((k, v)) = &extra {
                        labels.insert(k.clone(), v.clone());
                    }
                    let node = schedule(w, &nodes, &mut cursor);
                    pods.push((name, labels, node));
                }
            }
        }
        for (name, extra_labels, node) in pods {
            let pod = make_pod(w, name, extra_labels, node, &nodes, &mut ipam, &mut used);
            summary.pods += 1;
            if pod.node_name.is_none() {
                summary.pending += 1;
            }
            made.push(pod);
        }
        *summary.by_kind.entry(w.kind).or_default() += 1;
    }
    for (range, (node, pods)) in &ipam.full {
        diags.push(Diagnostic::new(
            Severity::Warning,
            format!(
                "the pod range {range} of node {node} is full: {pods} simulated Pod(s) get no address from it and serve no endpoints; give the Nodes wider spec.podCIDRs, or more Nodes"
            ),
            None,
        ));
    }
    summary.ranges = ipam.described;
    if summary.pods > 0 || summary.held > 0 {
        diags.push(Diagnostic::new(
            Severity::Info,
            summary_line(&summary, &nodes, default_node.as_deref()),
            None,
        ));
    }
    objects.pods.extend(made);
}

fn key(w: &Workload) -> (&str, &str, WorkloadKind) {
    (w.meta.namespace(), w.meta.name.as_str(), w.kind)
}

/// The owners named by the input's Pods and ReplicaSets, as (namespace,
/// kind, name): a workload among them has run already.
type Owners<'a> = BTreeSet<(&'a str, &'a str, &'a str)>;

fn owners(objects: &Objects) -> Owners<'_> {
    let pods = objects.pods.iter().map(|p| &p.meta);
    let replica_sets = objects
        .workloads
        .iter()
        .filter(|w| w.kind == WorkloadKind::ReplicaSet)
        .map(|w| &w.meta);
    pods.chain(replica_sets)
        .flat_map(|m| {
            m.owner_references
                .iter()
                .map(move |(k, n)| (m.namespace(), k.as_str(), n.as_str()))
        })
        .collect()
}

/// Does the input already hold the Pods of `w` (so its controller has run)?
/// Pods name their owner in ownerReferences; a Deployment's Pods name its
/// ReplicaSet, `<deployment>-<pod-template-hash>`, which names the Deployment.
fn held_by_input(w: &Workload, owners: &Owners) -> bool {
    let ns = w.meta.namespace();
    let name = w.meta.name.as_str();
    if owners.contains(&(ns, w.kind.as_str(), name)) {
        return true;
    }
    if w.kind != WorkloadKind::Deployment {
        return false;
    }
    let prefix = format!("{name}-");
    let is_its_rs = |rs: &str| {
        rs.strip_prefix(&prefix)
            .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric()))
    };
    owners
        .range((ns, "ReplicaSet", prefix.as_str())..)
        .take_while(|(n, k, rs)| *n == ns && *k == "ReplicaSet" && rs.starts_with(&prefix))
        .any(|(_, _, rs)| is_its_rs(rs))
}

/// The labels of the input's orphan Pods (no ownerReferences), by namespace.
type Orphans<'a> = BTreeMap<&'a str, Vec<&'a BTreeMap<String, String>>>;

fn orphans(pods: &[Pod]) -> Orphans<'_> {
    let mut out: Orphans = BTreeMap::new();
    for p in pods.iter().filter(|p| p.meta.owner_references.is_empty()) {
        out.entry(p.meta.namespace())
            .or_default()
            .push(&p.meta.labels);
    }
    out
}

/// Would the controller adopt Pods of the input? Controllers claim orphan
/// Pods of their namespace that their selector matches
/// (pkg/controller/controller_ref_manager.go ClaimPods), so such Pods stand
/// for the workload's and none are simulated.
fn adopts(w: &Workload, orphans: &Orphans) -> bool {
    !w.selector.is_empty()
        && orphans.get(w.meta.namespace()).is_some_and(|pods| {
            pods.iter()
                .any(|labels| w.selector.iter().all(|(k, v)| labels.get(k) == Some(v)))
        })
}

/// The nodes: the input's Nodes in name order (with kubelet's well-known
/// labels where absent), else one default node named as the node svcgen
/// renders for; then nodes only named by a template's `nodeName`.
fn nodes(
    objects: &Objects,
    settings: &Settings,
    workloads: &[&Workload],
) -> (Vec<SimNode>, Option<String>) {
    let mut by_name: BTreeMap<String, SimNode> = BTreeMap::new();
    for n in &objects.nodes {
        by_name
            .entry(n.meta.name.clone())
            .or_insert_with(|| SimNode {
                name: n.meta.name.clone(),
                labels: with_kubelet_labels(&n.meta.name, &n.meta.labels),
                pod_cidrs: n
                    .pod_cidrs
                    .iter()
                    .filter_map(|c| crate::config::parse_cidr(c))
                    .collect(),
                host_ips: n
                    .addresses
                    .iter()
                    .filter(|(t, _)| t == "InternalIP")
                    .filter_map(|(_, a)| crate::config::parse_ip(a))
                    .collect(),
                schedulable: true,
                default: false,
            });
    }
    let mut default_node = None;
    if by_name.is_empty() {
        let name = settings.node.name.clone();
        default_node = Some(name.clone());
        by_name.insert(
            name.clone(),
            SimNode {
                labels: with_kubelet_labels(&name, &BTreeMap::new()),
                name,
                pod_cidrs: Vec::new(),
                host_ips: settings.node.ips.clone(),
                schedulable: true,
                default: true,
            },
        );
    }
    let mut out: Vec<SimNode> = by_name.into_values().collect();
    let mut extra: BTreeSet<&str> = BTreeSet::new();
    for w in workloads {
        if let Some(n) = w.template.node_name.as_deref().filter(|n| !n.is_empty())
            && !out.iter().any(|x| x.name == n)
        {
            extra.insert(n);
        }
    }
    for name in extra {
        out.push(SimNode {
            name: name.to_string(),
            labels: with_kubelet_labels(name, &BTreeMap::new()),
            pod_cidrs: Vec::new(),
            host_ips: Vec::new(),
            schedulable: false,
            default: false,
        });
    }
    (out, default_node)
}

/// kubelet registers its Node with these labels (pkg/kubelet/
/// kubelet_node_status.go initialNode); a hand-written Node may omit them.
fn with_kubelet_labels(name: &str, labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut out = labels.clone();
    out.entry(LABEL_HOSTNAME.into())
        .or_insert_with(|| name.into());
    out.entry(LABEL_OS.into()).or_insert_with(|| "linux".into());
    out.entry(LABEL_ARCH.into())
        .or_insert_with(|| "amd64".into());
    out
}

fn fits(selector: &BTreeMap<String, String>, node: &SimNode) -> bool {
    selector.iter().all(|(k, v)| node.labels.get(k) == Some(v))
}

/// The scheduler, reduced to round robin: the next schedulable node (from
/// the cursor on) that the template's nodeSelector fits; `nodeName` binds
/// directly. `None`: no node fits, the Pod stays Pending.
fn schedule(w: &Workload, nodes: &[SimNode], cursor: &mut usize) -> Option<usize> {
    if let Some(n) = w.template.node_name.as_deref().filter(|n| !n.is_empty()) {
        return nodes.iter().position(|x| x.name == n);
    }
    let len = nodes.len();
    (0..len)
        .map(|k| (*cursor + k) % len)
        .find(|&i| nodes[i].schedulable && fits(&w.template.node_selector, &nodes[i]))
        .inspect(|&i| *cursor = i + 1)
}

/// A Pod as its controller, the scheduler and kubelet would leave it.
fn make_pod(
    w: &Workload,
    name: String,
    extra_labels: BTreeMap<String, String>,
    node: Option<usize>,
    nodes: &[SimNode],
    ipam: &mut Ipam,
    used: &mut BTreeSet<IpAddr>,
) -> Pod {
    let t = &w.template;
    let mut labels = t.labels.clone();
    labels.extend(extra_labels);
    let owner = match w.kind {
        WorkloadKind::Deployment => (
            "ReplicaSet".to_string(),
            format!(
                "{}-{}",
                w.meta.name,
                labels.get("pod-template-hash").cloned().unwrap_or_default()
            ),
        ),
        k => (k.as_str().to_string(), w.meta.name.clone()),
    };
    let (hostname, subdomain) = if w.kind == WorkloadKind::StatefulSet {
        (Some(name.clone()), w.service_name.clone())
    } else {
        (t.hostname.clone(), t.subdomain.clone())
    };
    let pod_ips = match node {
        Some(i) if t.host_network => nodes[i].host_ips.iter().map(|ip| ip.to_string()).collect(),
        Some(i) => ipam.assign(i, nodes, used),
        None => Vec::new(),
    };
    Pod {
        meta: ObjectMeta {
            name,
            namespace: Some(w.meta.namespace().to_string()),
            labels,
            annotations: BTreeMap::from([(
                SIMULATED_ANNOTATION.to_string(),
                format!("{}/{}", w.kind, w.meta.name),
            )]),
            owner_references: vec![owner],
            ..ObjectMeta::default()
        },
        node_name: node.map(|i| nodes[i].name.clone()),
        hostname,
        subdomain,
        enable_service_links: t.enable_service_links,
        container_ports: t.container_ports.clone(),
        pod_ips,
        phase: Some(if node.is_some() { "Running" } else { "Pending" }.into()),
        ready: Some(node.is_some()),
        simulated: true,
        origin: w.origin.clone(),
        containers: t.containers,
    }
}

/// Pod addresses: each node's range per family and the next free address in it.
struct Ipam {
    /// The families of the cluster's pod network, primary first.
    families: Vec<IpFamily>,
    /// The cluster CIDR per family (given, or the default).
    cluster: BTreeMap<IpFamily, (IpNet, bool)>,
    /// Next host offset per range.
    next: BTreeMap<IpNet, u128>,
    /// How each range in use was found, for the summary.
    described: BTreeSet<String>,
    /// Ranges that ran out, with the node and how many Pods got no address.
    full: BTreeMap<IpNet, (String, usize)>,
}

impl Ipam {
    fn new(settings: &Settings, nodes: &[SimNode]) -> Ipam {
        let mut families: Vec<IpFamily> = Vec::new();
        let mut push = |f: IpFamily| {
            if !families.contains(&f) {
                families.push(f);
            }
        };
        // The pod network's families: the nodes' podCIDRs, else clusterCIDR,
        // else the service CIDRs (a dual-stack cluster has both).
        let node_cidrs: Vec<&IpNet> = nodes.iter().flat_map(|n| &n.pod_cidrs).collect();
        if !node_cidrs.is_empty() {
            node_cidrs.iter().for_each(|n| push(family(n)));
        } else if !settings.proxy.cluster_cidrs.is_empty() {
            settings
                .proxy
                .cluster_cidrs
                .iter()
                .for_each(|n| push(family(n)));
        } else {
            settings
                .cluster
                .service_cidrs
                .iter()
                .for_each(|n| push(family(n)));
        }
        if families.is_empty() {
            families.push(IpFamily::IPv4);
        }
        let mut cluster = BTreeMap::new();
        for n in &settings.proxy.cluster_cidrs {
            cluster.entry(family(n)).or_insert((*n, true));
        }
        for (f, d) in [
            (IpFamily::IPv4, DEFAULT_POD_CIDR_V4),
            (IpFamily::IPv6, DEFAULT_POD_CIDR_V6),
        ] {
            if let Ok(net) = d.parse() {
                cluster.entry(f).or_insert((net, false));
            }
        }
        Ipam {
            families,
            cluster,
            next: BTreeMap::new(),
            described: BTreeSet::new(),
            full: BTreeMap::new(),
        }
    }

    /// The range of node `i` for `f`, and how it was found.
    fn range(&self, i: usize, nodes: &[SimNode], f: IpFamily) -> Option<(IpNet, String)> {
        let node = &nodes[i];
        if let Some(n) = node.pod_cidrs.iter().find(|n| family(n) == f) {
            return Some((*n, "the Nodes' spec.podCIDRs".to_string()));
        }
        let (cluster, given) = self.cluster.get(&f)?;
        let source = if *given {
            format!("clusterCIDR {cluster}")
        } else {
            format!(
                "{cluster} (svcgen's default pod network: the input gives no Node podCIDR and no clusterCIDR; --cluster-cidr sets it)"
            )
        };
        // svcgen's default node stands for the whole cluster: it takes the
        // whole pod network rather than one node's share.
        if node.default {
            return Some((cluster.trunc(), source));
        }
        // kube-controller-manager's default --node-cidr-mask-size.
        let mask: u8 = match f {
            IpFamily::IPv4 => 24,
            IpFamily::IPv6 => 64,
        };
        // cidrset hands out the subnets in order to the nodes that have none
        // of this family, skipping those a Node's podCIDR already occupies
        // (`occupyCIDRs` at start-up); svcgen visits nodes in name order.
        let occupied: Vec<IpNet> = nodes
            .iter()
            .flat_map(|n| n.pod_cidrs.iter().copied())
            .filter(|n| family(n) == f)
            .collect();
        let nth = nodes[..i]
            .iter()
            .filter(|n| !n.default && !n.pod_cidrs.iter().any(|c| family(c) == f))
            .count();
        // `subnet` wraps around; a bounded walk keeps a cluster CIDR that
        // Nodes fully occupy from looping (those nodes then get no range).
        let count = 1usize
            .checked_shl(u32::from(mask.saturating_sub(cluster.prefix_len())))
            .unwrap_or(usize::MAX)
            .min(1 << 16);
        let mut free = (0..count)
            .filter_map(|k| subnet(cluster, mask, k))
            .filter(|s| !occupied.iter().any(|o| o.contains(s) || s.contains(o)));
        let range = free.nth(nth)?;
        Some((range, format!("{source}, /{mask} per node")))
    }

    fn assign(&mut self, i: usize, nodes: &[SimNode], used: &mut BTreeSet<IpAddr>) -> Vec<String> {
        let mut out = Vec::new();
        for f in self.families.clone() {
            let Some((range, how)) = self.range(i, nodes, f) else {
                continue;
            };
            self.described.insert(how);
            let next = self.next.entry(range).or_insert(2);
            // The last IPv4 address is the broadcast address.
            let size = host_count(&range);
            let mut got = false;
            while *next < size && !got {
                let candidate = crate::config::nth_address(&range, *next);
                *next += 1;
                if let Some(ip) = candidate
                    && used.insert(ip)
                {
                    out.push(ip.to_string());
                    got = true;
                }
            }
            if !got {
                self.full
                    .entry(range)
                    .or_insert_with(|| (nodes[i].name.clone(), 0))
                    .1 += 1;
            }
        }
        out
    }
}

fn family(n: &IpNet) -> IpFamily {
    match n {
        IpNet::V4(_) => IpFamily::IPv4,
        IpNet::V6(_) => IpFamily::IPv6,
    }
}

/// How many addresses of `n` a Pod may take (IPv4 leaves out broadcast).
fn host_count(n: &IpNet) -> u128 {
    match n {
        IpNet::V4(v) => (1u128 << (32 - v.prefix_len())).saturating_sub(1),
        IpNet::V6(v) => {
            let bits = 128 - u32::from(v.prefix_len());
            if bits >= 127 {
                u128::MAX
            } else {
                1u128 << bits
            }
        }
    }
}

/// The `i`th subnet of length `mask` of `cluster`, as the node IPAM range
/// allocator hands them out in order (a cluster CIDR no larger than one
/// node's range is shared by every node).
fn subnet(cluster: &IpNet, mask: u8, i: usize) -> Option<IpNet> {
    if cluster.prefix_len() >= mask {
        return Some(cluster.trunc());
    }
    let bits = u32::from(mask - cluster.prefix_len());
    let count = if bits >= 64 { u64::MAX } else { 1u64 << bits };
    let i = (i as u64) % count;
    match cluster {
        IpNet::V4(v) => {
            let base = u32::from(v.network());
            let step = 1u32.checked_shl(32 - u32::from(mask)).unwrap_or(0);
            let addr = base.wrapping_add(step.wrapping_mul(i as u32));
            IpNet::new(IpAddr::from(std::net::Ipv4Addr::from(addr)), mask).ok()
        }
        IpNet::V6(v) => {
            let base = u128::from(v.network());
            let step = 1u128.checked_shl(128 - u32::from(mask)).unwrap_or(0);
            let addr = base.wrapping_add(step.wrapping_mul(u128::from(i)));
            IpNet::new(IpAddr::from(std::net::Ipv6Addr::from(addr)), mask).ok()
        }
    }
}

/// FNV-1a, 32 bits (hash/fnv New32a, as controller.ComputeHash uses).
fn fnv32a(data: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in data {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// FNV-1a, 64 bits.
fn fnv64a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// rand.SafeEncodeString: each byte mapped into the generated-name alphabet.
fn safe_encode(s: &str) -> String {
    s.bytes()
        .map(|b| ALPHANUMS[usize::from(b) % ALPHANUMS.len()] as char)
        .collect()
}

/// The `pod-template-hash` of a Deployment's ReplicaSet: controller.ComputeHash
/// hashes the whole template with FNV-32a and encodes the decimal number with
/// SafeEncodeString. svcgen hashes the template fields it reads, so the shape
/// is Kubernetes' (up to 10 characters of the same alphabet), the value is not.
fn template_hash(w: &Workload) -> String {
    let t = &w.template;
    let text = format!(
        "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{}|{:?}",
        t.labels,
        t.node_name,
        t.node_selector,
        t.hostname,
        t.subdomain,
        t.enable_service_links,
        t.host_network,
        t.container_ports
    );
    safe_encode(&fnv32a(text.as_bytes()).to_string())
}

/// A name from `generateName: <owner>-`: the prefix cut to 58 bytes
/// (SimpleNameGenerator's maxGeneratedNameLength) and 5 characters of the
/// generated-name alphabet, here from a stable hash of namespace, owner and
/// `seed`; a clash with an existing name is retried, as the API server's
/// caller would.
fn generated_name(
    owner: &str,
    ns: &str,
    seed: &str,
    names: &mut BTreeSet<(String, String)>,
) -> String {
    let mut base = format!("{owner}-");
    if base.len() > 58 {
        let mut cut = 58;
        while !base.is_char_boundary(cut) {
            cut -= 1;
        }
        base.truncate(cut);
    }
    let mut attempt = 0u64;
    loop {
        let mut h = fnv64a(format!("{ns}/{owner}/{seed}/{attempt}").as_bytes());
        attempt += 1;
        let mut name = base.clone();
        for _ in 0..5 {
            name.push(ALPHANUMS[(h % ALPHANUMS.len() as u64) as usize] as char);
            h /= ALPHANUMS.len() as u64;
        }
        if names.insert((ns.to_string(), name.clone())) {
            return name;
        }
    }
}

fn summary_line(s: &Summary, nodes: &[SimNode], default_node: Option<&str>) -> String {
    let kinds: Vec<String> = s.by_kind.iter().map(|(k, n)| format!("{n} {k}")).collect();
    let workloads: usize = s.by_kind.values().sum();
    let mut line = format!(
        "simulated {} Pod(s) of {workloads} workload(s) ({}) as the controllers, scheduler and kubelet would; they are Running and Ready",
        s.pods,
        kinds.join(", ")
    );
    if s.pending > 0 {
        line.push_str(&format!(
            ", except {} Pending (no Node fits its nodeSelector)",
            s.pending
        ));
    }
    let placed: Vec<&str> = nodes
        .iter()
        .filter(|n| n.schedulable)
        .map(|n| n.name.as_str())
        .collect();
    match default_node {
        Some(n) => line.push_str(&format!(
            "; node: {n} (a default node: the input has no Node)"
        )),
        None => line.push_str(&format!("; nodes: {}", placed.join(", "))),
    }
    if !s.ranges.is_empty() {
        let ranges: Vec<&str> = s.ranges.iter().map(String::as_str).collect();
        line.push_str(&format!("; Pod IPs from {}", ranges.join(" and ")));
    }
    if s.held > 0 {
        line.push_str(&format!(
            "; {} workload(s) not simulated: the input holds their Pods",
            s.held
        ));
    }
    line.push_str("; --no-simulate turns this off");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    // apimachinery/pkg/util/rand/rand.go SafeEncodeString: digits map to
    // alphanums[byte % 27].
    #[test]
    fn safe_encode_maps_digits_like_apimachinery() {
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
    }

    // hash/fnv New32a test vector.
    #[test]
    fn fnv32a_matches_go() {
        assert_eq!(fnv32a(b""), 0x811c_9dc5);
        assert_eq!(fnv32a(b"a"), 0xe40c_292c);
    }

    // pkg/controller/nodeipam/ipam/cidrset: the i-th /24 of the cluster CIDR.
    #[test]
    fn node_ranges_follow_cidrset_order() {
        let c: IpNet = "10.244.0.0/16".parse().unwrap();
        assert_eq!(subnet(&c, 24, 0).unwrap().to_string(), "10.244.0.0/24");
        assert_eq!(subnet(&c, 24, 3).unwrap().to_string(), "10.244.3.0/24");
        let c6: IpNet = "fd00:10:244::/56".parse().unwrap();
        assert_eq!(
            subnet(&c6, 64, 1).unwrap().to_string(),
            "fd00:10:244:1::/64"
        );
        let small: IpNet = "10.1.2.0/26".parse().unwrap();
        assert_eq!(subnet(&small, 24, 5).unwrap().to_string(), "10.1.2.0/26");
    }

    // apiserver/pkg/storage/names/generate.go: prefix cut to 58, 5 characters.
    #[test]
    fn generated_names_are_bounded_and_unique() {
        let mut names = BTreeSet::new();
        let long = "x".repeat(70);
        let a = generated_name(&long, "ns", "0", &mut names);
        assert_eq!(a.len(), 63);
        let b = generated_name("web", "ns", "0", &mut names);
        let c = generated_name("web", "ns", "0", &mut names);
        assert_ne!(b, c);
        assert!(b.starts_with("web-") && b.len() == 9);
        assert!(b[4..].bytes().all(|x| ALPHANUMS.contains(&x)));
    }
}
