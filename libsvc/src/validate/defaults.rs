//! A Service as kube-apiserver holds it when it validates a create: the v1
//! defaults applied (`SetDefaults_Service`) and `clusterIPs` filled from
//! `clusterIP` (`NormalizeClusterIPs`). Strings keep the user's spelling;
//! absent pointers stay `None`, as the Go code distinguishes them.

use crate::model::{IntOrString, Service};
use std::collections::BTreeMap;

/// A port after defaulting.
#[derive(Debug, Clone)]
pub struct Port {
    /// `name`.
    pub name: String,
    /// `protocol` (defaulted to TCP).
    pub protocol: String,
    /// `appProtocol`.
    pub app_protocol: Option<String>,
    /// `port`.
    pub port: i64,
    /// `targetPort` (defaulted to `port` when 0 or empty).
    pub target_port: IntOrString,
    /// `nodePort` (0: not set).
    pub node_port: i64,
}

/// A Service after defaulting.
#[derive(Debug, Clone)]
pub struct Svc<'a> {
    /// The manifest.
    pub src: &'a Service,
    /// `spec.type` (defaulted to ClusterIP).
    pub type_: String,
    /// `spec.clusterIP`.
    pub cluster_ip: String,
    /// `spec.clusterIPs`.
    pub cluster_ips: Vec<String>,
    /// `spec.ipFamilies`.
    pub ip_families: Vec<String>,
    /// `spec.ipFamilyPolicy`.
    pub ip_family_policy: Option<String>,
    /// `spec.ports`.
    pub ports: Vec<Port>,
    /// `spec.sessionAffinity` (defaulted to None).
    pub session_affinity: String,
    /// `spec.sessionAffinityConfig.clientIP.timeoutSeconds` when affinity is
    /// ClientIP (defaulted to 10800).
    pub affinity_timeout: Option<i64>,
    /// `spec.externalTrafficPolicy` (defaulted to Cluster for externally
    /// reachable Services; empty when unset).
    pub external_traffic_policy: String,
    /// `spec.internalTrafficPolicy` (defaulted to Cluster for ClusterIP,
    /// NodePort and LoadBalancer).
    pub internal_traffic_policy: Option<String>,
    /// `spec.allocateLoadBalancerNodePorts` (defaulted to true for LoadBalancer).
    pub allocate_lb_node_ports: Option<bool>,
    /// `spec.healthCheckNodePort` (0: not set).
    pub health_check_node_port: i64,
}

impl<'a> Svc<'a> {
    /// Applies the v1 defaults and normalises `clusterIPs`.
    pub fn from(src: &'a Service) -> Self {
        let spec = &src.spec;
        let type_ = match spec.type_.as_deref() {
            None | Some("") => "ClusterIP".to_string(),
            Some(t) => t.to_string(),
        };
        let session_affinity = match spec.session_affinity.as_deref() {
            None | Some("") => "None".to_string(),
            Some(a) => a.to_string(),
        };
        let affinity_timeout =
            (session_affinity == "ClientIP").then(|| spec.affinity_timeout.unwrap_or(10800));
        let ports = spec
            .ports
            .iter()
            .map(|p| Port {
                name: p.name.clone(),
                protocol: match p.protocol.as_deref() {
                    None | Some("") => "TCP".to_string(),
                    Some(proto) => proto.to_string(),
                },
                app_protocol: p.app_protocol.clone(),
                port: p.port,
                target_port: match &p.target_port {
                    None | Some(IntOrString::Int(0)) => IntOrString::Int(p.port),
                    Some(IntOrString::Str(s)) if s.is_empty() => IntOrString::Int(p.port),
                    Some(t) => t.clone(),
                },
                node_port: p.node_port.unwrap_or(0),
            })
            .collect();
        let mut svc = Svc {
            src,
            type_,
            cluster_ip: spec.cluster_ip.clone().unwrap_or_default(),
            cluster_ips: spec.cluster_ips.clone(),
            ip_families: spec.ip_families.clone(),
            ip_family_policy: spec.ip_family_policy.clone(),
            ports,
            session_affinity,
            affinity_timeout,
            external_traffic_policy: spec.external_traffic_policy.clone().unwrap_or_default(),
            internal_traffic_policy: spec.internal_traffic_policy.clone(),
            allocate_lb_node_ports: spec.allocate_load_balancer_node_ports,
            health_check_node_port: spec.health_check_node_port.unwrap_or(0),
        };
        if svc.externally_accessible() && svc.external_traffic_policy.is_empty() {
            svc.external_traffic_policy = "Cluster".to_string();
        }
        if svc.internal_traffic_policy.is_none()
            && matches!(
                svc.type_.as_str(),
                "ClusterIP" | "NodePort" | "LoadBalancer"
            )
        {
            svc.internal_traffic_policy = Some("Cluster".to_string());
        }
        if svc.type_ == "LoadBalancer" && svc.allocate_lb_node_ports.is_none() {
            svc.allocate_lb_node_ports = Some(true);
        }
        // NormalizeClusterIPs: a lone clusterIP becomes clusterIPs[0].
        if !svc.cluster_ip.is_empty() && svc.cluster_ips.is_empty() {
            svc.cluster_ips = vec![svc.cluster_ip.clone()];
        }
        svc
    }

    /// `spec.selector` (`None` when absent).
    pub fn selector(&self) -> Option<&BTreeMap<String, String>> {
        self.src.spec.selector.as_ref()
    }

    /// `isHeadlessService`: exactly one cluster IP, `None`.
    pub fn is_headless(&self) -> bool {
        self.cluster_ips.len() == 1 && self.cluster_ips[0] == "None"
    }

    /// `ExternallyAccessible`: NodePort, LoadBalancer, or ClusterIP with
    /// external IPs.
    pub fn externally_accessible(&self) -> bool {
        matches!(self.type_.as_str(), "NodePort" | "LoadBalancer")
            || (self.type_ == "ClusterIP" && !self.src.spec.external_ips.is_empty())
    }

    /// `NeedsHealthCheck`: LoadBalancer with externalTrafficPolicy Local.
    pub fn needs_health_check(&self) -> bool {
        self.type_ == "LoadBalancer" && self.external_traffic_policy == "Local"
    }
}
