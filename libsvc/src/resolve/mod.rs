//! Objects → [`ServiceTable`]: v1 defaults, allocation of cluster IPs and
//! node ports, and the EndpointSlices of every Service.

mod allocate;
mod endpoints;
pub mod endpoints_controller;
mod md5;
pub mod mirroring;
pub mod slice_controller;
pub mod topology;
pub mod workloads;

pub use endpoints::SERVICE_NAME_LABEL;

use crate::config::{IpFamily, Settings};
use crate::diag::{Diagnostic, Severity};
use crate::model::{IntOrString, Objects, Service};
use crate::table::{LbIngress, PortInfo, Protocol, ServiceInfo, ServiceTable, ServiceType};
use std::collections::BTreeSet;
use std::net::IpAddr;

/// The legacy annotation that carries load-balancer source ranges.
pub const SOURCE_RANGES_ANNOTATION: &str = "service.beta.kubernetes.io/load-balancer-source-ranges";

/// Builds the table. Problems found here (a duplicate object, an unusable
/// value) become diagnostics; validation proper is [`crate::validate`].
pub fn resolve(
    objects: &Objects,
    settings: &Settings,
    diags: &mut Vec<Diagnostic>,
) -> ServiceTable {
    let created = crate::validate::allocation::allocate_services(&objects.services, settings);
    resolve_created(objects, settings, &created.services, diags)
}

/// [`resolve`] with the create path already run over `objects.services`
/// (its values by Service, in input order): `load` runs it once for
/// validation and the table.
pub fn resolve_created(
    objects: &Objects,
    settings: &Settings,
    created: &[crate::validate::allocation::ServiceAllocation],
    diags: &mut Vec<Diagnostic>,
) -> ServiceTable {
    let mut order: Vec<&Service> = objects.services.iter().collect();
    // Sorting by key makes every later step independent of document order.
    order.sort_by(|a, b| {
        (a.meta.namespace(), a.meta.name.as_str()).cmp(&(b.meta.namespace(), b.meta.name.as_str()))
    });
    let mut seen = BTreeSet::new();
    let mut services = Vec::with_capacity(order.len());
    for svc in order {
        let key = (svc.meta.namespace().to_string(), svc.meta.name.clone());
        if !seen.insert(key.clone()) {
            diags.push(Diagnostic::new(
                Severity::Warning,
                format!(
                    "Service {}/{} is given more than once; the first one (in file order) is used",
                    key.0, key.1
                ),
                Some(svc.origin.location()),
            ));
            continue;
        }
        services.push(defaulted(svc, diags));
    }
    allocate::allocate(&mut services, &objects.services, created);
    for svc in &mut services {
        drop_unparsable_cluster_ips(svc);
    }
    endpoints::attach_slices(&mut services, objects, settings, diags);
    dual_stack_hints(objects, settings, diags);
    ServiceTable { services }
}

/// The table entry of one Service, by the same steps as [`resolve`], for
/// the incremental engine. Exact only when the create path gives `svc`
/// alone what it gives it among all of `objects.services`: no other Service
/// writes one of its cluster IPs or node ports, it is not left to the
/// allocator, and its name is given once (`incremental::scoped` checks
/// this before calling). Its diagnostics, including the dual-stack hint,
/// go to `diags`.
pub fn resolve_service(
    svc: &Service,
    objects: &Objects,
    settings: &Settings,
    diags: &mut Vec<Diagnostic>,
) -> ServiceInfo {
    let mut info = defaulted(svc, diags);
    let created =
        crate::validate::allocation::allocate_services(std::slice::from_ref(svc), settings);
    allocate::allocate(
        std::slice::from_mut(&mut info),
        std::slice::from_ref(svc),
        &created.services,
    );
    drop_unparsable_cluster_ips(&mut info);
    endpoints::attach_slices_of(&mut info, objects, diags);
    dual_stack_hint(svc, settings, diags);
    info
}

/// Taken out after allocation: an address that does not parse was still
/// written, so the Service is not one the allocator would fill in.
fn drop_unparsable_cluster_ips(svc: &mut ServiceInfo) {
    svc.cluster_ips_text
        .retain(|ip| ip == "None" || crate::config::parse_ip(ip).is_some());
}

/// A Service with the v1 defaults applied (SetDefaults_Service), its
/// values parsed; nothing allocated yet.
fn defaulted(svc: &Service, diags: &mut Vec<Diagnostic>) -> ServiceInfo {
    let spec = &svc.spec;
    let type_ = spec
        .type_
        .as_deref()
        .filter(|t| !t.is_empty())
        .map_or(Some(ServiceType::ClusterIP), ServiceType::parse)
        .unwrap_or(ServiceType::ClusterIP);
    let ports = spec
        .ports
        .iter()
        .enumerate()
        .filter(|(i, p)| programmable_port(svc, *i, p, diags))
        .map(|(_, p)| PortInfo {
            name: p.name.clone(),
            port: u16::try_from(p.port).unwrap_or(0),
            protocol: Protocol::parse(p.protocol.as_deref()).unwrap_or(Protocol::TCP),
            target_port: match &p.target_port {
                None | Some(IntOrString::Int(0)) => IntOrString::Int(p.port),
                Some(IntOrString::Str(s)) if s.is_empty() => IntOrString::Int(p.port),
                Some(t) => t.clone(),
            },
            node_port: p
                .node_port
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| *n != 0),
            app_protocol: p.app_protocol.clone(),
        })
        .collect();
    let mut cluster_ips_text: Vec<String> = spec.cluster_ips.clone();
    if let Some(ip) = spec.cluster_ip.as_ref().filter(|ip| !ip.is_empty())
        && cluster_ips_text.is_empty()
    {
        cluster_ips_text.push(ip.clone());
    }
    if type_ == ServiceType::ExternalName {
        cluster_ips_text.clear();
    }
    let field = if spec.cluster_ips.is_empty() {
        |_| "spec.clusterIP".to_string()
    } else {
        |i| format!("spec.clusterIPs[{i}]")
    };
    for (i, ip) in cluster_ips_text.iter().enumerate() {
        if ip != "None" && crate::config::parse_ip(ip).is_none() {
            unprogrammable(
                svc,
                &field(i),
                &format!("{ip:?}"),
                "is not an IP address",
                "address",
                diags,
            );
        }
    }
    let headless = cluster_ips_text.first().is_some_and(|ip| ip == "None");
    let cluster_ips: Vec<IpAddr> = if headless {
        Vec::new()
    } else {
        cluster_ips_text
            .iter()
            .filter_map(|ip| crate::config::parse_ip(ip))
            .collect()
    };
    let mut ip_families: Vec<IpFamily> = spec
        .ip_families
        .iter()
        .filter_map(|f| IpFamily::parse(f))
        .collect();
    if ip_families.is_empty() {
        ip_families = cluster_ips.iter().map(IpFamily::of).collect();
    }
    let external = matches!(type_, ServiceType::NodePort | ServiceType::LoadBalancer)
        || !spec.external_ips.is_empty();
    let affinity = spec
        .session_affinity
        .clone()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "None".into());
    let affinity_timeout = (affinity == "ClientIP").then(|| {
        spec.affinity_timeout
            .and_then(|t| u32::try_from(t).ok())
            .filter(|t| *t > 0)
            .unwrap_or(10800)
    });
    // Only the spec field: the legacy annotation is read by cloud providers
    // (and validated by kube-apiserver), not by kube-proxy
    // (newBaseServiceInfo) or kubectl describe.
    let lb_source_ranges = spec.load_balancer_source_ranges.clone();
    ServiceInfo {
        namespace: svc.meta.namespace().to_string(),
        name: svc.meta.name.clone(),
        labels: svc.meta.labels.clone(),
        annotations: svc.meta.annotations.clone(),
        type_,
        cluster_ips_text,
        cluster_ips,
        headless,
        allocated_cluster_ip: false,
        ip_families,
        ip_family_policy: spec
            .ip_family_policy
            .clone()
            .unwrap_or_else(|| "SingleStack".into()),
        external_name: spec.external_name.clone(),
        ports,
        selector: spec.selector.clone(),
        external_ips: spec
            .external_ips
            .iter()
            .enumerate()
            .filter(|(i, ip)| {
                let ok = crate::config::parse_ip(ip).is_some();
                if !ok {
                    let field = format!("spec.externalIPs[{i}]");
                    unprogrammable(
                        svc,
                        &field,
                        &format!("{ip:?}"),
                        "is not an IP address",
                        "address",
                        diags,
                    );
                }
                ok
            })
            .map(|(_, ip)| ip.clone())
            .collect(),
        lb_ingress: svc
            .lb_ingress
            .iter()
            .filter_map(|i| {
                Some(LbIngress {
                    ip: crate::config::parse_ip(i.ip.as_ref()?)?,
                    // kube-proxy's IsVIPMode: unset or `VIP`.
                    ip_mode_proxy: i.ip_mode.as_deref().is_some_and(|m| m != "VIP"),
                    ip_mode: default_ip_mode(i.ip_mode.as_deref()),
                })
            })
            .collect(),
        lb_ingress_hostnames: svc
            .lb_ingress
            .iter()
            .filter_map(|i| i.hostname.clone())
            .collect(),
        lb_source_ranges,
        load_balancer_ip: spec.load_balancer_ip.clone(),
        affinity_timeout,
        external_traffic_policy: if external {
            Some(
                spec.external_traffic_policy
                    .clone()
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| "Cluster".into()),
            )
        } else {
            spec.external_traffic_policy
                .clone()
                .filter(|p| !p.is_empty())
        },
        internal_traffic_policy: if type_ == ServiceType::ExternalName {
            spec.internal_traffic_policy.clone()
        } else {
            Some(
                spec.internal_traffic_policy
                    .clone()
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| "Cluster".into()),
            )
        },
        health_check_node_port: spec
            .health_check_node_port
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| *n != 0),
        publish_not_ready_addresses: spec.publish_not_ready_addresses,
        allocate_load_balancer_node_ports: match (type_, spec.allocate_load_balancer_node_ports) {
            (ServiceType::LoadBalancer, None) => Some(true),
            (_, v) => v,
        },
        traffic_distribution: spec.traffic_distribution.clone(),
        session_affinity: affinity,
        slices: Vec::new(),
        origin: svc.origin.clone(),
        creation_timestamp: svc.meta.creation_timestamp.clone(),
    }
}

/// Is this Service port one a proxy, kubelet or DNS server could program as
/// written? A number that is not a 16-bit port (a port, a numeric
/// targetPort or a nodePort above 65535 or negative) has no value to
/// program; rather than write another number in its place, the whole port
/// is left out, with an error that says so. (kube-apiserver refuses such a
/// port on create, so no stored Service has one.) Port 0 is a value a
/// proxy can program as written — kube-proxy does, and its tests (IPVS
/// cases 025, 028) rely on it — so it renders, with validation's error.
fn programmable_port(
    svc: &Service,
    i: usize,
    p: &crate::model::ServicePort,
    diags: &mut Vec<Diagnostic>,
) -> bool {
    let in_range = |n: i64| (0..=65535).contains(&n);
    let bad = if !in_range(p.port) {
        Some(("port", p.port))
    } else if let Some(IntOrString::Int(t)) = p.target_port
        && !in_range(t)
    {
        Some(("targetPort", t))
    } else {
        match p.node_port {
            Some(n) if !in_range(n) => Some(("nodePort", n)),
            _ => None,
        }
    };
    let Some((name, value)) = bad else {
        return true;
    };
    let field = format!("spec.ports[{i}].{name}");
    unprogrammable(
        svc,
        &field,
        &value.to_string(),
        "is not a port number (0-65535)",
        "port",
        diags,
    );
    false
}

/// The error for a value that cannot be programmed: where it is, and what
/// is left out because of it.
fn unprogrammable(
    svc: &Service,
    field: &str,
    value: &str,
    why: &str,
    what: &str,
    diags: &mut Vec<Diagnostic>,
) {
    // When kube-apiserver's validation already refused this field, that
    // error stands (and `validate` prints exactly kube-apiserver's words);
    // this one then only says what the outputs leave out.
    let at = svc.origin.locate(field);
    let refused = diags.iter().any(|d| {
        d.is_error() && d.field.as_deref() == Some(field) && d.location.as_ref() == Some(&at)
    });
    let mut d = Diagnostic::new(
        if refused {
            Severity::Warning
        } else {
            Severity::Error
        },
        format!(
            "{field}: {value} {why} and cannot be programmed: this {what} of Service {}/{} is left out of every output (env, DNS, proxy rules, views)",
            svc.meta.namespace(),
            svc.meta.name
        ),
        Some(at),
    );
    d.field = Some(field.to_string());
    diags.push(d);
}

/// A Service that asks for both IP families (`RequireDualStack`, or an
/// `ipFamilies` / `clusterIPs` entry of a family the service CIDRs lack) on
/// a single-stack cluster is refused by kube-apiserver's
/// `initIPFamilyFields` ("this cluster is not configured for dual-stack
/// services"); this names the flags that make the cluster dual-stack.
fn dual_stack_hints(objects: &Objects, settings: &Settings, diags: &mut Vec<Diagnostic>) {
    let cidrs = &settings.cluster.service_cidrs;
    let configured: BTreeSet<IpFamily> = cidrs.iter().map(|n| IpFamily::of(&n.addr())).collect();
    if configured.len() != 1 {
        return;
    }
    for svc in &objects.services {
        dual_stack_hint(svc, settings, diags);
    }
}

/// [`dual_stack_hints`] for one Service.
fn dual_stack_hint(svc: &Service, settings: &Settings, diags: &mut Vec<Diagnostic>) {
    let cidrs = &settings.cluster.service_cidrs;
    let configured: BTreeSet<IpFamily> = cidrs.iter().map(|n| IpFamily::of(&n.addr())).collect();
    if configured.len() != 1 {
        return;
    }
    let spec = &svc.spec;
    if spec.type_.as_deref() == Some("ExternalName") {
        return;
    }
    let given_ips = spec.cluster_ips.iter().chain(spec.cluster_ip.iter());
    let mut wanted: BTreeSet<IpFamily> = spec
        .ip_families
        .iter()
        .filter_map(|f| IpFamily::parse(f))
        .collect();
    wanted.extend(
        given_ips
            .clone()
            .filter_map(|ip| crate::config::parse_ip(ip))
            .map(|ip| IpFamily::of(&ip)),
    );
    let require = spec.ip_family_policy.as_deref() == Some("RequireDualStack");
    let Some(missing) = IpFamily::BOTH
        .into_iter()
        .find(|f| !configured.contains(f) && (require || wanted.contains(f)))
    else {
        return;
    };
    // A range for the missing family: around the Service's own address
    // of that family if it has one, else kubeadm-like defaults.
    let example = given_ips
        .filter_map(|ip| crate::config::parse_ip(ip))
        .find(|ip| IpFamily::of(ip) == missing)
        .and_then(|ip| {
            let len = if missing == IpFamily::IPv4 { 16 } else { 112 };
            ipnet::IpNet::new(ip, len)
                .ok()
                .map(|n| n.trunc().to_string())
        })
        .unwrap_or_else(|| match missing {
            IpFamily::IPv4 => "10.96.0.0/12".into(),
            IpFamily::IPv6 => "fd00:10:96::/112".into(),
        });
    let have: Vec<String> = cidrs
        .iter()
        .map(|n| format!("--service-cidr {n}"))
        .collect();
    let field = if require {
        "spec.ipFamilyPolicy"
    } else {
        "spec.ipFamilies"
    };
    let mut d = Diagnostic::new(
        Severity::Warning,
        format!(
            "Service {}/{} asks for {missing}, but the cluster's service CIDRs are {} only; to render it as a dual-stack cluster would, give both families: {} --service-cidr {example} (or a ServiceCIDR object with both)",
            svc.meta.namespace(),
            svc.meta.name,
            configured
                .iter()
                .next()
                .map(|f| f.to_string())
                .unwrap_or_default(),
            have.join(" "),
        ),
        Some(svc.origin.locate(field)),
    );
    d.field = Some(field.to_string());
    diags.push(d);
}

/// `SetDefaults_Service`: an ingress point with an IP and no `ipMode` is
/// stored with `ipMode: VIP` (feature LoadBalancerIPMode, GA in 1.32).
fn default_ip_mode(written: Option<&str>) -> String {
    written
        .filter(|m| !m.is_empty())
        .unwrap_or("VIP")
        .to_string()
}
