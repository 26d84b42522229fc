//! `ValidateService` (pkg/apis/core/validation) on a defaulted, allocated
//! Service: every error it finds, in kube-apiserver's order.

use super::defaults::{Port, Svc};
use super::field::{BadValue, FieldError, json_string};
use super::ip::{INVALID_CIDR, INVALID_IP, parse_cidr, parse_ip, special_ip_messages};
use super::names;
use crate::model::{IntOrString, ObjectMeta};
use crate::resolve::SOURCE_RANGES_ANNOTATION;
use std::collections::{BTreeMap, BTreeSet};

const TOPOLOGY_MODE: &str = "service.kubernetes.io/topology-mode";
const TOPOLOGY_HINTS: &str = "service.kubernetes.io/topology-aware-hints";
/// `TotalAnnotationSizeLimitB`.
const ANNOTATIONS_MAX_BYTES: usize = 256 * 1024;

/// Which name rule `metadata.name` follows.
#[derive(Clone, Copy)]
pub enum NameRule {
    /// DNS-1035 label (Services).
    Dns1035Label,
    /// DNS-1123 subdomain (Endpoints, EndpointSlices).
    Dns1123Subdomain,
}

/// `ValidateObjectMeta` for a namespaced object on create: name, namespace,
/// labels, annotations.
pub fn object_meta(meta: &ObjectMeta, rule: NameRule) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if meta.name.is_empty() {
        errs.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else {
        let msgs = match rule {
            NameRule::Dns1035Label => names::dns1035_label(&meta.name),
            NameRule::Dns1123Subdomain => names::dns1123_subdomain(&meta.name),
        };
        for m in msgs {
            errs.push(FieldError::invalid_str("metadata.name", &meta.name, m));
        }
    }
    // An absent or empty namespace is the request's (here: `default`).
    if let Some(ns) = meta.namespace.as_deref().filter(|ns| !ns.is_empty()) {
        for m in names::dns1123_label(ns) {
            errs.push(FieldError::invalid_str("metadata.namespace", ns, m));
        }
    }
    errs.extend(labels(&meta.labels, "metadata.labels"));
    for k in meta.annotations.keys() {
        // Annotation keys are qualified names, case-insensitively.
        for m in names::qualified_name(&k.to_lowercase()) {
            errs.push(
                FieldError::invalid_str("metadata.annotations", k, m)
                    .at(format!("metadata.annotations.{k}")),
            );
        }
    }
    let size: usize = meta
        .annotations
        .iter()
        .map(|(k, v)| k.len() + v.len())
        .sum();
    if size > ANNOTATIONS_MAX_BYTES {
        errs.push(FieldError::too_long(
            "metadata.annotations",
            ANNOTATIONS_MAX_BYTES,
        ));
    }
    errs
}

/// `ValidateLabels`: every key and value, errors on the map's path. Go
/// walks the map in random order; svcgen uses key order.
pub fn labels(map: &BTreeMap<String, String>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (k, v) in map {
        let at = format!("{path}.{k}");
        for m in names::qualified_name(k) {
            errs.push(FieldError::invalid_str(path, k, m).at(at.clone()));
        }
        for m in names::label_value(v) {
            errs.push(FieldError::invalid_str(path, v, m).at(at.clone()));
        }
    }
    errs
}

/// `ValidateService`.
pub fn validate_service(svc: &Svc) -> Vec<FieldError> {
    let spec = &svc.src.spec;
    let meta = &svc.src.meta;
    let mut errs = object_meta(meta, NameRule::Dns1035Label);

    if let (Some(mode), Some(hints)) = (
        meta.annotations.get(TOPOLOGY_MODE),
        meta.annotations.get(TOPOLOGY_HINTS),
    ) && mode != hints
    {
        errs.push(
            FieldError::invalid_str(
                &format!("metadata.annotations[{TOPOLOGY_MODE}]"),
                mode,
                format!("must match annotations[{TOPOLOGY_HINTS}] when both are specified"),
            )
            .at(format!("metadata.annotations.{TOPOLOGY_MODE}")),
        );
    }

    if svc.ports.is_empty() && !svc.is_headless() && svc.type_ != "ExternalName" {
        errs.push(FieldError::required("spec.ports", ""));
    }
    match svc.type_.as_str() {
        "LoadBalancer" | "NodePort" if svc.is_headless() => {
            errs.push(
                FieldError::invalid_str(
                    "spec.clusterIPs[0]",
                    &svc.cluster_ips[0],
                    format!("may not be set to 'None' for {} services", svc.type_),
                )
                .at(cluster_ips_at(svc)),
            );
        }
        "ExternalName" => {
            if !svc.cluster_ips.is_empty() {
                errs.push(
                    FieldError::forbidden(
                        "spec.clusterIPs",
                        "may not be set for ExternalName services",
                    )
                    .at(cluster_ips_at(svc)),
                );
            }
            if !svc.ip_families.is_empty() {
                errs.push(FieldError::forbidden(
                    "spec.ipFamilies",
                    "may not be set for ExternalName services",
                ));
            }
            if svc.ip_family_policy.is_some() {
                errs.push(FieldError::forbidden(
                    "spec.ipFamilyPolicy",
                    "may not be set for ExternalName services",
                ));
            }
            let name = spec.external_name.as_deref().unwrap_or("");
            let cname = name.strip_suffix('.').unwrap_or(name);
            if cname.is_empty() {
                errs.push(FieldError::required("spec.externalName", ""));
            } else {
                for m in names::dns1123_subdomain(cname) {
                    errs.push(FieldError::invalid_str("spec.externalName", cname, m));
                }
            }
        }
        _ => {}
    }

    let mut port_names = BTreeSet::new();
    for (i, p) in svc.ports.iter().enumerate() {
        errs.extend(service_port(p, svc.ports.len() > 1, &mut port_names, i));
    }

    if let Some(selector) = svc.selector() {
        errs.extend(labels(selector, "spec.selector"));
    }

    // sessionAffinity is never empty after defaulting.
    if !matches!(svc.session_affinity.as_str(), "ClientIP" | "None") {
        errs.push(FieldError::not_supported(
            "spec.sessionAffinity",
            &svc.session_affinity,
            &["ClientIP", "None"],
        ));
    }
    // With affinity None the defaults dropped the config; with ClientIP
    // they filled in the timeout.
    if let Some(t) = svc.affinity_timeout
        && !(1..=86400).contains(&t)
    {
        errs.push(FieldError::invalid_int(
            "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
            t,
            "must be greater than 0 and less than 86400",
        ));
    }

    // ValidateServiceClusterIPsRelatedFields already ran, and passed, before
    // allocation (it is the whole answer when it fails); allocation only
    // fills in what it checks, so it has nothing to add here.

    for (i, ip) in spec.external_ips.iter().enumerate() {
        let path = format!("spec.externalIPs[{i}]");
        match parse_ip(ip) {
            None => errs.push(FieldError::invalid_str(&path, ip, INVALID_IP)),
            Some(addr) => {
                for m in special_ip_messages(ip, &addr) {
                    errs.push(FieldError::invalid_str(&path, ip, m));
                }
            }
        }
    }

    // type is never empty after defaulting.
    if !matches!(
        svc.type_.as_str(),
        "ClusterIP" | "ExternalName" | "LoadBalancer" | "NodePort"
    ) {
        errs.push(FieldError::not_supported(
            "spec.type",
            &svc.type_,
            &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
        ));
    }

    if svc.type_ == "ClusterIP" {
        for (i, p) in svc.ports.iter().enumerate() {
            if p.node_port != 0 {
                errs.push(FieldError::forbidden(
                    &format!("spec.ports[{i}].nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                ));
            }
        }
    }

    let mut node_ports = BTreeSet::new();
    for (i, p) in svc.ports.iter().enumerate() {
        if p.node_port == 0 {
            continue;
        }
        if !node_ports.insert((p.protocol.as_str(), p.node_port)) {
            errs.push(FieldError::duplicate(
                &format!("spec.ports[{i}].nodePort"),
                BadValue::Int(p.node_port),
            ));
        }
    }

    let mut seen_ports = BTreeSet::new();
    for (i, p) in svc.ports.iter().enumerate() {
        if !seen_ports.insert((p.protocol.as_str(), p.port)) {
            errs.push(FieldError::duplicate(
                &format!("spec.ports[{i}]"),
                BadValue::Json(port_key_json(&p.protocol, p.port)),
            ));
        }
    }

    errs.extend(source_ranges(svc));

    if spec.allocate_load_balancer_node_ports.is_some() && svc.type_ != "LoadBalancer" {
        errs.push(FieldError::forbidden(
            "spec.allocateLoadBalancerNodePorts",
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }
    // The Required check on allocateLoadBalancerNodePorts cannot fire: the
    // v1 defaults set it for every LoadBalancer.

    if let Some(class) = &spec.load_balancer_class {
        if svc.type_ == "LoadBalancer" {
            for m in names::qualified_name(class) {
                errs.push(FieldError::invalid_str("spec.loadBalancerClass", class, m));
            }
        } else {
            errs.push(FieldError::forbidden(
                "spec.loadBalancerClass",
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
    }

    errs.extend(external_traffic_policy(svc));

    match &svc.internal_traffic_policy {
        None => {
            if matches!(
                svc.type_.as_str(),
                "NodePort" | "LoadBalancer" | "ClusterIP"
            ) {
                errs.push(FieldError::required("spec.internalTrafficPolicy", ""));
            }
        }
        Some(p) if p != "Cluster" && p != "Local" => {
            errs.push(FieldError::not_supported(
                "spec.internalTrafficPolicy",
                p,
                &["Cluster", "Local"],
            ));
        }
        Some(_) => {}
    }

    if let Some(td) = &spec.traffic_distribution
        && !matches!(
            td.as_str(),
            "PreferClose" | "PreferSameZone" | "PreferSameNode"
        )
    {
        errs.push(FieldError::not_supported(
            "spec.trafficDistribution",
            td,
            // Listed in the API's order, not sorted.
            &["PreferClose", "PreferSameZone", "PreferSameNode"],
        ));
    }
    errs
}

/// Where errors on `spec.clusterIPs` point when the manifest only set
/// `clusterIP`.
pub fn cluster_ips_at(svc: &Svc) -> &'static str {
    if svc.src.spec.cluster_ips.is_empty() {
        "spec.clusterIP"
    } else {
        "spec.clusterIPs"
    }
}

/// The Duplicate value of a (protocol, port) pair: the internal
/// `core.ServicePort` with only those two fields set, as JSON.
fn port_key_json(protocol: &str, port: i64) -> String {
    format!(
        "{{\"Name\":\"\",\"Protocol\":{},\"AppProtocol\":null,\"Port\":{port},\"TargetPort\":0,\"NodePort\":0}}",
        json_string(protocol)
    )
}

/// `validateServicePort`.
fn service_port(
    p: &Port,
    require_name: bool,
    names_seen: &mut BTreeSet<String>,
    i: usize,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let base = format!("spec.ports[{i}]");
    let name_path = format!("{base}.name");
    if require_name && p.name.is_empty() {
        errs.push(FieldError::required(&name_path, ""));
    } else if !p.name.is_empty() {
        for m in names::dns1123_label(&p.name) {
            errs.push(FieldError::invalid_str(&name_path, &p.name, m));
        }
        if !names_seen.insert(p.name.clone()) {
            errs.push(FieldError::duplicate(
                &name_path,
                BadValue::Str(p.name.clone()),
            ));
        }
    }
    for m in names::port_num(p.port) {
        errs.push(FieldError::invalid_int(&format!("{base}.port"), p.port, m));
    }
    // protocol is never empty after defaulting.
    if !matches!(p.protocol.as_str(), "SCTP" | "TCP" | "UDP") {
        errs.push(FieldError::not_supported(
            &format!("{base}.protocol"),
            &p.protocol,
            &["SCTP", "TCP", "UDP"],
        ));
    }
    errs.extend(port_num_or_name(
        &p.target_port,
        &format!("{base}.targetPort"),
    ));
    if let Some(ap) = &p.app_protocol {
        for m in names::qualified_name(ap) {
            errs.push(FieldError::invalid_str(
                &format!("{base}.appProtocol"),
                ap,
                m,
            ));
        }
    }
    errs
}

/// `ValidatePortNumOrName`.
fn port_num_or_name(port: &IntOrString, path: &str) -> Vec<FieldError> {
    match port {
        IntOrString::Int(n) => names::port_num(*n)
            .into_iter()
            .map(|m| FieldError::invalid_int(path, *n, m))
            .collect(),
        IntOrString::Str(s) => names::port_name(s)
            .into_iter()
            .map(|m| FieldError::invalid_str(path, s, m))
            .collect(),
    }
}

/// `spec.loadBalancerSourceRanges`, or else the legacy annotation.
fn source_ranges(svc: &Svc) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let ranges = &svc.src.spec.load_balancer_source_ranges;
    if !ranges.is_empty() {
        // kube-apiserver names the field with a capital L.
        let path = "spec.LoadBalancerSourceRanges";
        if svc.type_ != "LoadBalancer" {
            errs.push(
                FieldError::forbidden(path, "may only be used when `type` is 'LoadBalancer'")
                    .at("spec.loadBalancerSourceRanges"),
            );
        }
        for (i, r) in ranges.iter().enumerate() {
            // Values may be space-padded (a historical accident).
            let v = r.trim();
            if parse_cidr(v).is_none() {
                errs.push(
                    FieldError::invalid_str(&format!("{path}[{i}]"), v, INVALID_CIDR)
                        .at(format!("spec.loadBalancerSourceRanges[{i}]")),
                );
            }
        }
    } else if let Some(val) = svc.src.meta.annotations.get(SOURCE_RANGES_ANNOTATION) {
        let path = format!("metadata.annotations[{SOURCE_RANGES_ANNOTATION}]");
        let at = format!("metadata.annotations.{SOURCE_RANGES_ANNOTATION}");
        if svc.type_ != "LoadBalancer" {
            errs.push(
                FieldError::forbidden(&path, "may only be used when `type` is 'LoadBalancer'")
                    .at(at.clone()),
            );
        }
        let val = val.trim();
        if !val.is_empty() {
            for v in val.split(',').map(str::trim) {
                if parse_cidr(v).is_none() {
                    errs.push(FieldError::invalid_str(&path, v, INVALID_CIDR).at(at.clone()));
                }
            }
        }
    }
    errs
}

/// `validateServiceExternalTrafficPolicy` (with the health-check node port).
fn external_traffic_policy(svc: &Svc) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let policy = &svc.external_traffic_policy;
    if !svc.externally_accessible() {
        if !policy.is_empty() {
            errs.push(FieldError::invalid_str(
                "spec.externalTrafficPolicy",
                policy,
                "may only be set for externally-accessible services",
            ));
        }
    } else if policy.is_empty() {
        errs.push(FieldError::required("spec.externalTrafficPolicy", ""));
    } else if policy != "Cluster" && policy != "Local" {
        errs.push(FieldError::not_supported(
            "spec.externalTrafficPolicy",
            policy,
            &["Cluster", "Local"],
        ));
    }
    let hc = svc.health_check_node_port;
    if !svc.needs_health_check() {
        if hc != 0 {
            errs.push(FieldError::invalid_int(
                "spec.healthCheckNodePort",
                hc,
                "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
            ));
        }
    } else if hc != 0 {
        // A missing port was allocated before validation.
        for m in names::port_num(hc) {
            errs.push(FieldError::invalid_int("spec.healthCheckNodePort", hc, m));
        }
    }
    errs
}

/// `ValidateServiceClusterIPsRelatedFields`: clusterIP/clusterIPs agree,
/// families and policy are known values, cluster IPs are IPs, at most two,
/// one per family, matching `ipFamilies`. Not for ExternalName.
pub fn cluster_ips_related(svc: &Svc) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if svc.type_ == "ExternalName" {
        return errs;
    }
    let at = cluster_ips_at(svc);
    let ips = &svc.cluster_ips;
    let ips_value = || BadValue::strings(ips);
    if !svc.cluster_ip.is_empty() {
        if ips.is_empty() {
            errs.push(FieldError::required("spec.clusterIPs", "").at(at));
        } else if ips[0] != svc.cluster_ip {
            errs.push(
                FieldError::invalid(
                    "spec.clusterIPs",
                    ips_value(),
                    "first value must match `clusterIP`",
                )
                .at(at),
            );
        }
    } else if !ips.is_empty() {
        errs.push(
            FieldError::invalid(
                "spec.clusterIPs",
                ips_value(),
                "must be empty when `clusterIP` is not specified",
            )
            .at(at),
        );
    }

    let mut seen = BTreeSet::new();
    for (i, fam) in svc.ip_families.iter().enumerate() {
        let path = format!("spec.ipFamilies[{i}]");
        if fam != "IPv4" && fam != "IPv6" {
            errs.push(FieldError::not_supported(&path, fam, &["IPv4", "IPv6"]));
        }
        if !seen.insert(fam.as_str()) {
            errs.push(FieldError::duplicate(&path, BadValue::Str(fam.clone())));
        }
    }

    if let Some(policy) = &svc.ip_family_policy
        && !matches!(
            policy.as_str(),
            "SingleStack" | "PreferDualStack" | "RequireDualStack"
        )
    {
        errs.push(FieldError::not_supported(
            "spec.ipFamilyPolicy",
            policy,
            &["PreferDualStack", "RequireDualStack", "SingleStack"],
        ));
    }

    let mut invalid_ips = false;
    for (i, ip) in ips.iter().enumerate() {
        if i == 0 && ip == "None" {
            if ips.len() > 1 {
                invalid_ips = true;
                errs.push(
                    FieldError::invalid(
                        "spec.clusterIPs",
                        ips_value(),
                        "'None' must be the first and only value",
                    )
                    .at(at),
                );
            }
            continue;
        }
        if parse_ip(ip).is_none() {
            invalid_ips = true;
            let path = format!("spec.clusterIPs[{i}]");
            let loc = if at == "spec.clusterIP" {
                at.to_string()
            } else {
                path.clone()
            };
            errs.push(FieldError::invalid_str(&path, ip, INVALID_IP).at(loc));
        }
    }

    if ips.len() > 2 {
        errs.push(
            FieldError::invalid(
                "spec.clusterIPs",
                ips_value(),
                "may only hold up to 2 values",
            )
            .at(at),
        );
    }
    if invalid_ips {
        return errs;
    }

    if ips.len() > 1 {
        let parsed: Vec<_> = ips.iter().filter_map(|ip| parse_ip(ip)).collect();
        let dual = parsed.iter().any(|ip| ip.is_ipv4()) && parsed.iter().any(|ip| ip.is_ipv6());
        if !dual {
            errs.push(
                FieldError::invalid(
                    "spec.clusterIPs",
                    ips_value(),
                    "may specify no more than one IP for each IP family",
                )
                .at(at),
            );
        }
    }

    if !svc.is_headless() && !ips.is_empty() && !svc.ip_families.is_empty() {
        for (i, ip) in ips.iter().enumerate().take(svc.ip_families.len()) {
            let is_v6 = parse_ip(ip).is_some_and(|a| a.is_ipv6());
            let fam = &svc.ip_families[i];
            let want = match fam.as_str() {
                "IPv4" if is_v6 => "IPv4",
                "IPv6" if !is_v6 => "IPv6",
                _ => continue,
            };
            let path = format!("spec.clusterIPs[{i}]");
            let loc = if at == "spec.clusterIP" {
                at.to_string()
            } else {
                path.clone()
            };
            errs.push(
                FieldError::invalid_str(
                    &path,
                    ip,
                    format!("expected an {want} value as indicated by `ipFamilies[{i}]`"),
                )
                .at(loc),
            );
        }
    }
    errs
}
