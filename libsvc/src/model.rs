//! The Kubernetes objects svcgen reads, as written in the manifests.
//!
//! Fields keep the raw shape the user wrote (strings stay strings, numbers
//! stay wide integers) so that validation can answer with kube-apiserver's
//! exact words, e.g. `spec.type: Unsupported value: "Foo"`. Defaulting and
//! interpretation happen later, in `resolve`.

use crate::parse::Origin;
use std::collections::BTreeMap;

/// `metadata` of any object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectMeta {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace` as written (`None` when absent; it defaults to `default`).
    pub namespace: Option<String>,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// `metadata.annotations`.
    pub annotations: BTreeMap<String, String>,
    /// `metadata.deletionTimestamp` is set (the object is terminating).
    pub deleting: bool,
    /// `metadata.creationTimestamp` as written (RFC 3339), if any.
    pub creation_timestamp: Option<String>,
    /// `metadata.ownerReferences` as (kind, name), in order.
    pub owner_references: Vec<(String, String)>,
    /// `metadata.uid`, if any.
    pub uid: Option<String>,
    /// `metadata.resourceVersion`, if any.
    pub resource_version: Option<String>,
}

impl ObjectMeta {
    /// A *stored* object: one read from a cluster or a dump, which an API
    /// server has created (and, for a Service, allocated). Only an API
    /// server writes `uid`, `resourceVersion` and `creationTimestamp`; a
    /// manifest written by hand carries none of them and is *created*.
    pub fn is_stored(&self) -> bool {
        [&self.uid, &self.resource_version, &self.creation_timestamp]
            .iter()
            .any(|f| f.as_deref().is_some_and(|v| !v.is_empty()))
    }

    /// The namespace, with Kubernetes' default.
    pub fn namespace(&self) -> &str {
        match self.namespace.as_deref() {
            None | Some("") => "default",
            Some(ns) => ns,
        }
    }
}

/// An integer or a string, as `targetPort` is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(untagged)]
pub enum IntOrString {
    /// A number.
    Int(i64),
    /// A name.
    Str(String),
}

impl std::fmt::Display for IntOrString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IntOrString::Int(i) => write!(f, "{i}"),
            IntOrString::Str(s) => f.write_str(s),
        }
    }
}

/// A v1 Service.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Service {
    /// `metadata`.
    pub meta: ObjectMeta,
    /// `spec`.
    pub spec: ServiceSpec,
    /// `status.loadBalancer.ingress`.
    pub lb_ingress: Vec<LoadBalancerIngress>,
    /// Where it came from.
    pub origin: Origin,
}

/// `spec` of a Service, as written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceSpec {
    /// `spec.type` (`None`: absent, defaults to ClusterIP).
    pub type_: Option<String>,
    /// `spec.clusterIP`.
    pub cluster_ip: Option<String>,
    /// `spec.clusterIPs`.
    pub cluster_ips: Vec<String>,
    /// `spec.ipFamilies`.
    pub ip_families: Vec<String>,
    /// `spec.ipFamilyPolicy`.
    pub ip_family_policy: Option<String>,
    /// `spec.ports`.
    pub ports: Vec<ServicePort>,
    /// `spec.selector` (`None`: absent — a selector-less Service).
    pub selector: Option<BTreeMap<String, String>>,
    /// `spec.externalIPs`.
    pub external_ips: Vec<String>,
    /// `spec.externalName`.
    pub external_name: Option<String>,
    /// `spec.sessionAffinity`.
    pub session_affinity: Option<String>,
    /// `spec.sessionAffinityConfig` is present.
    pub session_affinity_config: bool,
    /// `spec.sessionAffinityConfig.clientIP.timeoutSeconds`.
    pub affinity_timeout: Option<i64>,
    /// `spec.loadBalancerIP`.
    pub load_balancer_ip: Option<String>,
    /// `spec.loadBalancerSourceRanges`.
    pub load_balancer_source_ranges: Vec<String>,
    /// `spec.loadBalancerClass`.
    pub load_balancer_class: Option<String>,
    /// `spec.allocateLoadBalancerNodePorts`.
    pub allocate_load_balancer_node_ports: Option<bool>,
    /// `spec.externalTrafficPolicy`.
    pub external_traffic_policy: Option<String>,
    /// `spec.internalTrafficPolicy`.
    pub internal_traffic_policy: Option<String>,
    /// `spec.healthCheckNodePort`.
    pub health_check_node_port: Option<i64>,
    /// `spec.publishNotReadyAddresses`.
    pub publish_not_ready_addresses: bool,
    /// `spec.trafficDistribution`.
    pub traffic_distribution: Option<String>,
}

/// One entry of `spec.ports`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServicePort {
    /// `name`.
    pub name: String,
    /// `protocol` (`None`: absent, defaults to TCP).
    pub protocol: Option<String>,
    /// `appProtocol`.
    pub app_protocol: Option<String>,
    /// `port`.
    pub port: i64,
    /// `targetPort` (`None`: absent, defaults to `port`).
    pub target_port: Option<IntOrString>,
    /// `nodePort` (`None` or 0: not set).
    pub node_port: Option<i64>,
}

/// One entry of `status.loadBalancer.ingress`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadBalancerIngress {
    /// `ip`.
    pub ip: Option<String>,
    /// `hostname`.
    pub hostname: Option<String>,
    /// `ipMode` (`VIP` or `Proxy`).
    pub ip_mode: Option<String>,
}

/// A reference to the object behind an endpoint (usually a Pod).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectReference {
    /// `kind`.
    pub kind: Option<String>,
    /// `namespace`.
    pub namespace: Option<String>,
    /// `name`.
    pub name: Option<String>,
}

/// A v1 Endpoints object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Endpoints {
    /// `metadata`.
    pub meta: ObjectMeta,
    /// `subsets`.
    pub subsets: Vec<EndpointSubset>,
    /// Where it came from.
    pub origin: Origin,
}

/// One `subsets` entry of an Endpoints object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EndpointSubset {
    /// `addresses` (ready).
    pub addresses: Vec<EndpointAddress>,
    /// `notReadyAddresses`.
    pub not_ready_addresses: Vec<EndpointAddress>,
    /// `ports`.
    pub ports: Vec<EndpointPort>,
}

/// An address of an Endpoints subset.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EndpointAddress {
    /// `ip`.
    pub ip: String,
    /// `hostname`.
    pub hostname: Option<String>,
    /// `nodeName`.
    pub node_name: Option<String>,
    /// `targetRef`.
    pub target_ref: Option<ObjectReference>,
}

/// A port of an Endpoints subset or of an EndpointSlice.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EndpointPort {
    /// `name` (empty: unnamed).
    pub name: String,
    /// `port` (`None` in a slice means "all ports").
    pub port: Option<i64>,
    /// `protocol` (defaults to TCP).
    pub protocol: Option<String>,
    /// `appProtocol`.
    pub app_protocol: Option<String>,
}

/// A discovery.k8s.io/v1 EndpointSlice.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EndpointSlice {
    /// `metadata`.
    pub meta: ObjectMeta,
    /// `addressType`: `IPv4`, `IPv6` or `FQDN`.
    pub address_type: String,
    /// `endpoints`.
    pub endpoints: Vec<SliceEndpoint>,
    /// `ports`.
    pub ports: Vec<EndpointPort>,
    /// Where it came from.
    pub origin: Origin,
}

/// One endpoint of an EndpointSlice.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SliceEndpoint {
    /// `addresses` (kube-proxy uses the first).
    pub addresses: Vec<String>,
    /// `conditions.ready` (`None`: unknown, read as ready).
    pub ready: Option<bool>,
    /// `conditions.serving` (`None`: unknown; kube-proxy reads it as serving).
    pub serving: Option<bool>,
    /// `conditions.terminating` (`None`: not terminating).
    pub terminating: Option<bool>,
    /// `hostname`.
    pub hostname: Option<String>,
    /// `nodeName`.
    pub node_name: Option<String>,
    /// `zone`.
    pub zone: Option<String>,
    /// `hints.forZones[*].name`.
    pub hint_zones: Vec<String>,
    /// `hints.forNodes[*].name`.
    pub hint_nodes: Vec<String>,
    /// `targetRef`.
    pub target_ref: Option<ObjectReference>,
}

/// A v1 Pod, as far as Services care.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pod {
    /// `metadata`.
    pub meta: ObjectMeta,
    /// `spec.nodeName`.
    pub node_name: Option<String>,
    /// `spec.hostname`.
    pub hostname: Option<String>,
    /// `spec.subdomain`.
    pub subdomain: Option<String>,
    /// `spec.enableServiceLinks` (`None`: true).
    pub enable_service_links: Option<bool>,
    /// The container ports of all containers, in order.
    pub container_ports: Vec<ContainerPort>,
    /// `status.podIPs[*].ip`, or `status.podIP` when `podIPs` is absent.
    pub pod_ips: Vec<String>,
    /// `status.phase`.
    pub phase: Option<String>,
    /// `status.conditions` of type `Ready`: `Some(true)` when status is `True`.
    pub ready: Option<bool>,
    /// Not in the input: made by svcgen from a workload (Deployment,
    /// StatefulSet, …) as its controller, the scheduler and kubelet would.
    pub simulated: bool,
    /// Where it came from.
    pub origin: Origin,
    /// How many containers it runs: `spec.containers` and the restartable
    /// init containers (native sidecars), as kubectl's READY counts them.
    pub containers: usize,
}

/// A container port of a Pod.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerPort {
    /// `name`.
    pub name: Option<String>,
    /// `containerPort`.
    pub container_port: i64,
    /// `protocol` (defaults to TCP).
    pub protocol: Option<String>,
}

/// A v1 Node: its name and addresses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Node {
    /// `metadata`.
    pub meta: ObjectMeta,
    /// `status.addresses` as (type, address), in order.
    pub addresses: Vec<(String, String)>,
    /// `spec.podCIDRs`, or `spec.podCIDR` when `podCIDRs` is absent, as written.
    pub pod_cidrs: Vec<String>,
    /// Where it came from.
    pub origin: Origin,
    /// `status.allocatable.cpu` as written (a quantity: `4`, `3500m`).
    pub allocatable_cpu: Option<String>,
    /// `status.conditions` of type `Ready`: `Some(true)` when status is `True`.
    pub ready: Option<bool>,
}

/// A networking.k8s.io/v1 ServiceCIDR.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceCidr {
    /// `metadata`.
    pub meta: ObjectMeta,
    /// `spec.cidrs`.
    pub cidrs: Vec<String>,
    /// Where it came from.
    pub origin: Origin,
}

/// A kubeproxy.config.k8s.io/v1alpha1 KubeProxyConfiguration (the fields svcgen uses).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KubeProxyConfiguration {
    /// `mode`.
    pub mode: Option<String>,
    /// `hostnameOverride`.
    pub hostname_override: Option<String>,
    /// `clusterCIDR` (comma-separated list allowed, as in kube-proxy).
    pub cluster_cidr: Option<String>,
    /// `detectLocalMode`.
    pub detect_local_mode: Option<String>,
    /// `iptables.masqueradeBit`.
    pub iptables_masquerade_bit: Option<i64>,
    /// `iptables.masqueradeAll`.
    pub iptables_masquerade_all: Option<bool>,
    /// `iptables.localhostNodePorts`.
    pub iptables_localhost_node_ports: Option<bool>,
    /// `nftables.masqueradeBit`.
    pub nftables_masquerade_bit: Option<i64>,
    /// `nftables.masqueradeAll`.
    pub nftables_masquerade_all: Option<bool>,
    /// `ipvs.scheduler`.
    pub ipvs_scheduler: Option<String>,
    /// `ipvs.strictARP`.
    pub ipvs_strict_arp: Option<bool>,
    /// `nodePortAddresses`.
    pub node_port_addresses: Option<Vec<String>>,
    /// `featureGates`.
    pub feature_gates: BTreeMap<String, bool>,
    /// `detectLocal.bridgeInterface`.
    pub bridge_interface: Option<String>,
    /// `detectLocal.interfaceNamePrefix`.
    pub interface_name_prefix: Option<String>,
    /// `bindAddress` (overrides the node's primary IP).
    pub bind_address: Option<String>,
    /// `conntrack.tcpBeLiberal`.
    pub conntrack_tcp_be_liberal: Option<bool>,
    /// Where it came from.
    pub origin: Origin,
}

/// Every object of the input, by kind, in input order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Objects {
    /// Services.
    pub services: Vec<Service>,
    /// v1 Endpoints.
    pub endpoints: Vec<Endpoints>,
    /// EndpointSlices.
    pub endpoint_slices: Vec<EndpointSlice>,
    /// Pods.
    pub pods: Vec<Pod>,
    /// Nodes.
    pub nodes: Vec<Node>,
    /// ServiceCIDRs.
    pub service_cidrs: Vec<ServiceCidr>,
    /// KubeProxyConfigurations (the last one wins).
    pub proxy_configs: Vec<KubeProxyConfiguration>,
    /// Workloads (Deployment, ReplicaSet, ReplicationController,
    /// StatefulSet, DaemonSet): the Pods they stand for are simulated in
    /// `resolve::workloads` and appended to `pods`.
    pub workloads: Vec<Workload>,
}

/// The kinds of workload whose controllers create Pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WorkloadKind {
    /// apps/v1 Deployment (through a ReplicaSet).
    Deployment,
    /// apps/v1 ReplicaSet.
    ReplicaSet,
    /// v1 ReplicationController.
    ReplicationController,
    /// apps/v1 StatefulSet.
    StatefulSet,
    /// apps/v1 DaemonSet.
    DaemonSet,
}

impl WorkloadKind {
    /// The kind as Kubernetes spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::ReplicaSet => "ReplicaSet",
            WorkloadKind::ReplicationController => "ReplicationController",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
        }
    }

    /// The kind named `kind`, if it is a workload.
    pub fn parse(kind: &str) -> Option<WorkloadKind> {
        Some(match kind {
            "Deployment" => WorkloadKind::Deployment,
            "ReplicaSet" => WorkloadKind::ReplicaSet,
            "ReplicationController" => WorkloadKind::ReplicationController,
            "StatefulSet" => WorkloadKind::StatefulSet,
            "DaemonSet" => WorkloadKind::DaemonSet,
            _ => return None,
        })
    }
}

impl std::fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A workload: a controller object with a Pod template.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// Which controller owns it.
    pub kind: WorkloadKind,
    /// `metadata`.
    pub meta: ObjectMeta,
    /// `spec.replicas` (`None`: absent, defaults to 1; unused by DaemonSets).
    pub replicas: Option<i64>,
    /// `spec.selector.matchLabels` (a ReplicationController: `spec.selector`).
    pub selector: BTreeMap<String, String>,
    /// StatefulSet `spec.serviceName`.
    pub service_name: Option<String>,
    /// `spec.template`.
    pub template: PodTemplate,
    /// Where it came from.
    pub origin: Origin,
}

/// `spec.template` of a workload, as far as Services care.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodTemplate {
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// `spec.nodeName`.
    pub node_name: Option<String>,
    /// `spec.nodeSelector`.
    pub node_selector: BTreeMap<String, String>,
    /// `spec.hostname`.
    pub hostname: Option<String>,
    /// `spec.subdomain`.
    pub subdomain: Option<String>,
    /// `spec.hostNetwork`.
    pub host_network: bool,
    /// `spec.enableServiceLinks` (`None`: true).
    pub enable_service_links: Option<bool>,
    /// The ports of the containers, then of the restartable init
    /// containers (native sidecars), in order.
    pub container_ports: Vec<ContainerPort>,
    /// How many containers it runs (containers and native sidecars).
    pub containers: usize,
}
