//! kube-apiserver's Service create path (`pkg/registry/core/service/storage`,
//! `alloc.go`): initialise the IP-family fields (`initIPFamilyFields`, with
//! the cluster-IP checks of validation as a gate), reserve the requested
//! cluster IPs and node ports (`allocateCreate`), then allocate what was left
//! to the allocator. This is the one implementation: `validate` reports its
//! errors, `resolve` takes its values ([`allocate_services`]).
//!
//! Two passes. Requests are reserved in input order (the create order), so
//! when two Services claim the same value the second gets the error; a
//! Service's reservations are kept only when its create succeeds, as
//! kube-apiserver releases them when a create fails. Then, in
//! `namespace/name` order, what is left to the allocator is picked
//! deterministically (a hash of the name, first free value), among values
//! no Service of the input requests: kube-apiserver picks at random, svcgen
//! must give the same answer whatever the document order.
//!
//! Three kinds of Service ([`crate::model::ObjectMeta::is_stored`]):
//! - *stored* (read from a cluster or a dump: `uid`, `resourceVersion` or
//!   `creationTimestamp`): a real API server allocated its values; they are
//!   reserved as they are, with no allocator error (the dump's cluster may
//!   have ranges svcgen can only infer), and nothing is added;
//! - *created with a cluster IP* (a manifest that writes `spec.clusterIP`):
//!   checked as a create, rendered as written (kube-proxy's own tests build
//!   such objects), nothing is added;
//! - *created without one*: checked, then allocated.

use super::defaults::Svc;
use super::field::{BadValue, FieldError};
use super::ip::{family_name, parse_ip};
use super::service::{cluster_ips_at, cluster_ips_related};
use crate::config::{IpFamily, Settings, nth_address};
use crate::diag::Location;
use crate::model::Service;
use ipnet::IpNet;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// Who holds a reserved address or port.
#[derive(Debug, Clone)]
pub struct Holder {
    /// `namespace/name`.
    pub name: String,
    /// Where it asked for the value.
    pub at: Location,
}

/// The values a Service reserved, to be kept if its create succeeds.
#[derive(Debug, Default)]
pub struct Reserved {
    ips: Vec<(IpAddr, Location)>,
    ports: Vec<(i64, Location)>,
}

/// The cluster's reserved cluster IPs and node ports.
#[derive(Debug, Default)]
pub struct Allocations {
    ips: BTreeMap<IpAddr, Holder>,
    ports: BTreeMap<i64, Holder>,
}

impl Allocations {
    /// Keeps what a successfully created Service reserved.
    pub fn commit(&mut self, name: &str, reserved: Reserved) {
        for (ip, at) in reserved.ips {
            self.ips.entry(ip).or_insert(Holder {
                name: name.to_string(),
                at,
            });
        }
        for (port, at) in reserved.ports {
            self.ports.entry(port).or_insert(Holder {
                name: name.to_string(),
                at,
            });
        }
    }

    /// `allocateCreate`: initialises `svc`'s IP-family fields and reserves
    /// its requested cluster IPs and node ports.
    pub fn allocate_create(
        &self,
        svc: &mut Svc,
        settings: &Settings,
    ) -> Result<Reserved, Vec<FieldError>> {
        let mut reserved = Reserved::default();
        let cidrs = &settings.cluster.service_cidrs;
        init_ip_families(svc, cidrs, false)?;
        self.reserve_cluster_ips(svc, cidrs, &mut reserved)?;
        self.reserve_node_ports(svc, settings.cluster.node_port_range, &mut reserved)?;
        Ok(reserved)
    }

    fn reserve_cluster_ips(
        &self,
        svc: &mut Svc,
        cidrs: &[IpNet],
        reserved: &mut Reserved,
    ) -> Result<(), Vec<FieldError>> {
        if svc.type_ == "ExternalName" || svc.cluster_ips.first().is_some_and(|ip| ip == "None") {
            return Ok(());
        }
        // A family without an address gets an empty marker that the
        // allocator fills; it shows in the error value.
        while svc.cluster_ips.len() < svc.ip_families.len() {
            svc.cluster_ips.push(String::new());
        }
        let at = cluster_ips_at(svc);
        for (i, text) in svc.cluster_ips.iter().enumerate() {
            if text.is_empty() || i >= svc.ip_families.len() {
                continue;
            }
            // Validated above.
            let Some(ip) = parse_ip(text) else { continue };
            let location = svc.src.origin.locate(
                if at == "spec.clusterIP" {
                    at.to_string()
                } else {
                    format!("spec.clusterIPs[{i}]")
                }
                .as_str(),
            );
            // The ServiceCIDR allocator (the default since Kubernetes 1.33)
            // first looks for a CIDR that contains the address, then asks
            // that CIDR's allocator, which refuses its network (and IPv4
            // broadcast) address.
            let containing = cidrs.iter().find(|n| n.contains(&ip));
            let why = if containing.is_none() {
                Some("the provided network does not match the current range".to_string())
            } else if let Some(net) = containing.filter(|n| !usable(n, &ip)) {
                Some(format!(
                    "the provided IP ({ip}) is not in the valid range. The range of valid IPs is {net}"
                ))
            } else if let Some(h) = self.ips.get(&ip) {
                Some(format!(
                    "provided IP is already allocated (to Service {} at {})",
                    h.name, h.at
                ))
            } else if reserved.ips.iter().any(|(r, _)| *r == ip) {
                Some("provided IP is already allocated".to_string())
            } else {
                None
            };
            if let Some(why) = why {
                return Err(vec![
                    FieldError::invalid(
                        "spec.clusterIPs",
                        BadValue::strings(&svc.cluster_ips),
                        format!("failed to allocate IP {text}: {why}"),
                    )
                    .at(at),
                ]);
            }
            reserved.ips.push((ip, location));
        }
        Ok(())
    }

    /// `txnAllocNodePorts`: `initNodePorts`, then the health-check port.
    fn reserve_node_ports(
        &self,
        svc: &mut Svc,
        range: (u16, u16),
        reserved: &mut Reserved,
    ) -> Result<(), Vec<FieldError>> {
        let reserve = |port: i64, reserved: &Reserved| -> Result<(), String> {
            if port < range.0 as i64 || port > range.1 as i64 {
                return Err(format!(
                    "provided port is not in the valid range. The range of valid ports is {}-{}",
                    range.0, range.1
                ));
            }
            if let Some(h) = self.ports.get(&port) {
                return Err(format!(
                    "provided port is already allocated (to Service {} at {})",
                    h.name, h.at
                ));
            }
            if reserved.ports.iter().any(|(p, _)| *p == port) {
                return Err("provided port is already allocated".to_string());
            }
            Ok(())
        };
        if matches!(svc.type_.as_str(), "NodePort" | "LoadBalancer") {
            let allocate_new = svc.type_ == "NodePort" || svc.allocate_lb_node_ports == Some(true);
            // Service port number → node port; AUTO: left to the allocator.
            const AUTO: i64 = -1;
            let mut by_port: BTreeMap<i64, i64> = BTreeMap::new();
            for i in 0..svc.ports.len() {
                let (port, node_port) = (svc.ports[i].port, svc.ports[i].node_port);
                if node_port == 0 && !allocate_new {
                    continue;
                }
                let path = format!("spec.ports[{i}].nodePort");
                match by_port.get(&port).copied() {
                    None => {
                        // The first node port requested for this port number
                        // anywhere in the list.
                        let requested = svc
                            .ports
                            .iter()
                            .find(|p| p.port == port && p.node_port != 0)
                            .map(|p| p.node_port);
                        match requested {
                            Some(np) => {
                                reserve(np, reserved)
                                    .map_err(|why| vec![FieldError::invalid_int(&path, np, why)])?;
                                let at = svc.src.origin.locate(&path);
                                reserved.ports.push((np, at));
                                svc.ports[i].node_port = np;
                                by_port.insert(port, np);
                            }
                            None => {
                                by_port.insert(port, AUTO);
                            }
                        }
                    }
                    Some(shared) if shared != node_port => {
                        if node_port == 0 {
                            if shared != AUTO {
                                svc.ports[i].node_port = shared;
                            }
                        } else {
                            reserve(node_port, reserved).map_err(|why| {
                                vec![FieldError::invalid_int(&path, node_port, why)]
                            })?;
                            let at = svc.src.origin.locate(&path);
                            reserved.ports.push((node_port, at));
                        }
                    }
                    Some(_) => {}
                }
            }
        }
        let hc = svc.health_check_node_port;
        if svc.needs_health_check() && hc != 0 {
            reserve(hc, reserved).map_err(|why| {
                vec![FieldError::internal(
                    "spec.healthCheckNodePort",
                    format!("failed to allocate requested HealthCheck NodePort {hc}: {why}"),
                )]
            })?;
            reserved
                .ports
                .push((hc, svc.src.origin.locate("spec.healthCheckNodePort")));
        }
        Ok(())
    }
}

/// Is `ip` (inside `net`) an address the allocator of `net` hands out (not
/// the network address, nor the IPv4 broadcast address)?
fn usable(net: &IpNet, ip: &IpAddr) -> bool {
    let network = net.network();
    if *ip == network {
        return false;
    }
    !(ip.is_ipv4() && net.prefix_len() < 32 && *ip == net.broadcast())
}

/// `initIPFamilyFields` on create. For a stored Service (`stored`), the
/// cluster's families are not checked: its cluster had them.
fn init_ip_families(svc: &mut Svc, cidrs: &[IpNet], stored: bool) -> Result<(), Vec<FieldError>> {
    if svc.type_ == "ExternalName" {
        return Ok(());
    }
    let configured: BTreeSet<&str> = cidrs.iter().map(|n| family_name(&n.addr())).collect();
    let default_family = cidrs.first().map_or("IPv4", |n| family_name(&n.addr()));
    let selectorless = svc.selector().is_none_or(|s| s.is_empty());
    if svc.ip_family_policy.is_none() {
        svc.ip_family_policy = Some(if svc.cluster_ip == "None" && selectorless {
            "RequireDualStack".to_string()
        } else {
            "SingleStack".to_string()
        });
    }
    let errs = cluster_ips_related(svc);
    if !errs.is_empty() {
        return Err(errs);
    }
    let policy = svc.ip_family_policy.clone().unwrap_or_default();
    let mut errs = Vec::new();
    if policy == "SingleStack" {
        if svc.cluster_ips.len() == 2 {
            errs.push(FieldError::invalid_str(
                "spec.ipFamilyPolicy",
                &policy,
                "must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified",
            ));
        }
        if svc.ip_families.len() == 2 {
            errs.push(FieldError::invalid_str(
                "spec.ipFamilyPolicy",
                &policy,
                "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified",
            ));
        }
    }
    // Families follow the given cluster IPs.
    for i in 0..svc.cluster_ips.len() {
        let ip = &svc.cluster_ips[i];
        if ip == "None" {
            break;
        }
        let Some(addr) = parse_ip(ip) else { continue };
        let fam = family_name(&addr);
        if i >= svc.ip_families.len() {
            if configured.contains(fam) || stored {
                svc.ip_families.push(fam.to_string());
            } else {
                errs.push(
                    FieldError::invalid(
                        &format!("spec.clusterIPs[{i}]"),
                        BadValue::strings(&svc.cluster_ips),
                        format!("{fam} is not configured on this cluster"),
                    )
                    .at(if svc.src.spec.cluster_ips.is_empty() {
                        "spec.clusterIP".to_string()
                    } else {
                        format!("spec.clusterIPs[{i}]")
                    }),
                );
            }
        }
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    let other = |f: &str| if f == "IPv4" { "IPv6" } else { "IPv4" };
    if svc.cluster_ip == "None" && selectorless {
        // Headless without selector: anything goes, on any cluster.
        if svc.ip_families.is_empty() {
            svc.ip_families.push(default_family.to_string());
        }
        if svc.ip_families.len() < 2 && policy != "SingleStack" {
            let o = other(&svc.ip_families[0]).to_string();
            svc.ip_families.push(o);
        }
        return Ok(());
    }
    if policy == "RequireDualStack" && configured.len() < 2 && !stored {
        errs.push(FieldError::invalid_str(
            "spec.ipFamilyPolicy",
            &policy,
            "this cluster is not configured for dual-stack services",
        ));
    }
    for (i, fam) in svc.ip_families.iter().enumerate() {
        if !configured.contains(fam.as_str()) && !stored {
            errs.push(FieldError::invalid_str(
                &format!("spec.ipFamilies[{i}]"),
                fam,
                "not configured on this cluster",
            ));
        }
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    if svc.ip_families.is_empty() {
        svc.ip_families.push(default_family.to_string());
    }
    if policy != "SingleStack" && svc.ip_families.len() == 1 && configured.len() == 2 {
        let o = other(&svc.ip_families[0]).to_string();
        svc.ip_families.push(o);
    }
    Ok(())
}

impl Allocations {
    /// A stored Service: its IP-family fields as they are (defaulted where a
    /// hand-trimmed dump left them out), its cluster IPs and node ports
    /// reserved as they are. Only the validation gate of
    /// `initIPFamilyFields` can fail.
    fn keep_stored(&self, svc: &mut Svc, settings: &Settings) -> Result<Reserved, Vec<FieldError>> {
        init_ip_families(svc, &settings.cluster.service_cidrs, true)?;
        let mut reserved = Reserved::default();
        if svc.type_ != "ExternalName" {
            for (i, text) in svc.cluster_ips.iter().enumerate() {
                if let Some(ip) = parse_ip(text) {
                    let at = svc.src.origin.locate(&format!("spec.clusterIPs[{i}]"));
                    reserved.ips.push((ip, at));
                }
            }
        }
        for (i, p) in svc.ports.iter().enumerate() {
            if p.node_port != 0 {
                let at = svc.src.origin.locate(&format!("spec.ports[{i}].nodePort"));
                reserved.ports.push((p.node_port, at));
            }
        }
        if svc.health_check_node_port != 0 {
            let at = svc.src.origin.locate("spec.healthCheckNodePort");
            reserved.ports.push((svc.health_check_node_port, at));
        }
        Ok(reserved)
    }
}

/// What the create path gave one Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAllocation {
    /// `spec.ipFamilies`, defaulted.
    pub ip_families: Vec<IpFamily>,
    /// `spec.ipFamilyPolicy`, defaulted (`None` for ExternalName).
    pub ip_family_policy: Option<String>,
    /// `spec.clusterIPs` as stored, primary first: the text written, or the
    /// addresses allocated. Empty when there is none.
    pub cluster_ips: Vec<String>,
    /// The cluster IPs were allocated by svcgen (the manifest had none).
    pub allocated_cluster_ips: bool,
    /// `spec.ports[i].nodePort`, by port index (written or allocated).
    pub node_ports: Vec<Option<u16>>,
    /// `spec.healthCheckNodePort` (written or allocated).
    pub health_check_node_port: Option<u16>,
}

/// The create path run over every Service of the input.
#[derive(Debug, Clone, Default)]
pub struct AllocationResult {
    /// By Service, in input order: the field errors of its create (empty
    /// when it succeeds).
    pub errors: Vec<Vec<FieldError>>,
    /// By Service, in input order.
    pub services: Vec<ServiceAllocation>,
}

/// Runs the create path over `services` (in input order, as `validate`
/// lists them): the errors of each create and the values each Service ends
/// up with.
pub fn allocate_services(services: &[Service], settings: &Settings) -> AllocationResult {
    let cidrs = &settings.cluster.service_cidrs;
    let mut allocations = Allocations::default();
    let mut result = AllocationResult::default();
    let mut defaulted: Vec<Svc> = Vec::with_capacity(services.len());
    for src in services {
        let key = format!("{}/{}", src.meta.namespace(), src.meta.name);
        let mut s = Svc::from(src);
        let stored = src.meta.is_stored();
        let created = if stored {
            allocations.keep_stored(&mut s, settings)
        } else {
            allocations.allocate_create(&mut s, settings)
        };
        let errs = match created {
            Ok(reserved) => {
                let errs = super::service::validate_service(&s);
                // A stored object holds its values whatever is wrong with it.
                if errs.is_empty() || stored {
                    allocations.commit(&key, reserved);
                }
                errs
            }
            Err(errs) => {
                // The create stopped half way: read the families the way
                // the manifest states them, for rendering.
                s = Svc::from(src);
                lenient_families(&mut s, cidrs);
                errs
            }
        };
        result.errors.push(errs);
        defaulted.push(s);
    }
    // Values requested anywhere are never handed out, whatever became of
    // the create that asked for them.
    let mut used_ips: BTreeSet<IpAddr> = defaulted
        .iter()
        .flat_map(|s| s.cluster_ips.iter().filter_map(|ip| parse_ip(ip)))
        .collect();
    let mut used_ports: BTreeSet<u16> = defaulted
        .iter()
        .flat_map(|s| {
            s.ports
                .iter()
                .map(|p| p.node_port)
                .chain([s.health_check_node_port])
        })
        .filter_map(|p| u16::try_from(p).ok().filter(|p| *p != 0))
        .collect();
    let mut order: Vec<usize> = (0..services.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&services[a].meta, &services[b].meta);
        (a.namespace(), a.name.as_str()).cmp(&(b.namespace(), b.name.as_str()))
    });
    let mut values: Vec<Option<ServiceAllocation>> = vec![None; services.len()];
    let mut seen = BTreeSet::new();
    for i in order {
        let s = &defaulted[i];
        // A name given twice: only the first (in file order) is used, so
        // only it is allocated.
        let first = seen.insert((services[i].meta.namespace(), services[i].meta.name.as_str()));
        let fresh = first
            && !services[i].meta.is_stored()
            // (`allocateCreate` marks a family still to allocate with "".)
            && s.cluster_ips.iter().all(String::is_empty)
            && s.type_ != "ExternalName";
        let mut v = ServiceAllocation {
            ip_families: s
                .ip_families
                .iter()
                .filter_map(|f| IpFamily::parse(f))
                .collect(),
            ip_family_policy: s.ip_family_policy.clone(),
            cluster_ips: s
                .cluster_ips
                .iter()
                .filter(|ip| !ip.is_empty())
                .cloned()
                .collect(),
            allocated_cluster_ips: false,
            node_ports: s
                .ports
                .iter()
                .map(|p| u16::try_from(p.node_port).ok().filter(|n| *n != 0))
                .collect(),
            health_check_node_port: u16::try_from(s.health_check_node_port)
                .ok()
                .filter(|n| *n != 0),
        };
        if s.type_ == "ExternalName" {
            v.ip_families.clear();
            v.ip_family_policy = None;
        }
        if fresh {
            let key = format!("{}/{}", services[i].meta.namespace(), services[i].meta.name);
            if !s.is_headless() {
                allocate_cluster_ips(&mut v, &key, cidrs, &mut used_ips);
            }
            allocate_node_ports(
                &mut v,
                s,
                &key,
                settings.cluster.node_port_range,
                &mut used_ports,
            );
        }
        values[i] = Some(v);
    }
    result.services = values.into_iter().flatten().collect();
    result
}

/// The IP-family fields of a Service whose create failed, as its manifest
/// states them: the families written (or those of the cluster IPs written),
/// else the cluster's primary family.
fn lenient_families(svc: &mut Svc, cidrs: &[IpNet]) {
    let mut families: Vec<String> = Vec::new();
    let written = svc
        .ip_families
        .iter()
        .filter(|f| IpFamily::parse(f).is_some());
    let of_ips = svc
        .cluster_ips
        .iter()
        .filter_map(|ip| parse_ip(ip))
        .map(|ip| family_name(&ip).to_string());
    for f in written.cloned().chain(of_ips) {
        if !families.contains(&f) && families.len() < 2 {
            families.push(f);
        }
    }
    if families.is_empty() && svc.type_ != "ExternalName" {
        families.push(
            cidrs
                .first()
                .map_or("IPv4", |n| family_name(&n.addr()))
                .to_string(),
        );
    }
    svc.ip_families = families;
    if svc.ip_family_policy.is_none() {
        svc.ip_family_policy = Some("SingleStack".to_string());
    }
}

/// FNV-1a: small, stable across platforms and releases.
fn hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// One address per family, from that family's service CIDR.
fn allocate_cluster_ips(
    v: &mut ServiceAllocation,
    key: &str,
    cidrs: &[IpNet],
    used: &mut BTreeSet<IpAddr>,
) {
    let mut ips = Vec::new();
    for family in &v.ip_families {
        let Some(net) = cidrs.iter().find(|n| IpFamily::of(&n.addr()) == *family) else {
            continue;
        };
        if let Some(ip) = pick_ip(net, hash(key), used) {
            used.insert(ip);
            ips.push(ip);
        }
    }
    v.cluster_ips = ips.iter().map(|ip| ip.to_string()).collect();
    v.allocated_cluster_ips = true;
}

/// The free address to allocate in `net`: network address (and IPv4
/// broadcast address) excluded, the upper band first (see [`probe_order`]).
fn pick_ip(net: &IpNet, h: u64, used: &BTreeSet<IpAddr>) -> Option<IpAddr> {
    let host_bits = (net.max_prefix_len() - net.prefix_len()) as u32;
    let size: u128 = if host_bits >= 64 {
        1u128 << 64
    } else {
        1u128 << host_bits
    };
    let first = 1u128;
    let last = if net.addr().is_ipv4() {
        size.checked_sub(2)?
    } else {
        size - 1
    };
    if last < first {
        return None;
    }
    let span = last - first + 1;
    let offset = range_offset(size, 16, 256, 16);
    // Probe at most a bounded number of addresses: a full range is not a
    // reason to loop over 2^64 values.
    probe_order(span, offset, h)
        .take(1 << 20)
        .filter_map(|i| nth_address(net, first + i))
        .find(|ip| !used.contains(ip))
}

/// KEP-3070 / KEP-3668 `calculateRangeOffset`: the size of the lower
/// ("static") band of a range, `min(max(min, size/step), max)`, none for a
/// range of at most `min` values. Service IPs: 16, 256, 16; node ports:
/// 16, 128, 32.
fn range_offset(size: u128, min: u128, max: u128, step: u128) -> u128 {
    if size <= min {
        0
    } else {
        (size / step).clamp(min, max)
    }
}

/// The order in which values `0..span` are tried: kube-apiserver's
/// allocators pick at random in the upper ("dynamic") band `offset..span`
/// first and use the lower ("static") band only when it is full. svcgen
/// starts each band at a hash instead of a random value and walks it,
/// wrapping around.
fn probe_order(span: u128, offset: u128, h: u64) -> impl Iterator<Item = u128> {
    let offset = offset.min(span);
    let upper = span - offset;
    let h = h as u128;
    // Where the whole range's hash lands in the upper band, it starts there
    // (the same value as without bands); else at a hash of the band.
    let start = if upper == 0 {
        0
    } else if h % span >= offset {
        h % span - offset
    } else {
        h % upper
    };
    let dynamic = (0..upper).map(move |i| offset + (start + i) % upper);
    let lower_start = if offset == 0 { 0 } else { h % offset };
    let static_ = (0..offset).map(move |i| (lower_start + i) % offset);
    dynamic.chain(static_)
}

/// Node ports for the ports that need one and have none (`initNodePorts`:
/// a port number used with two protocols shares one node port), and the
/// health-check node port of a LoadBalancer with `externalTrafficPolicy:
/// Local`.
fn allocate_node_ports(
    v: &mut ServiceAllocation,
    s: &Svc,
    key: &str,
    (lo, hi): (u16, u16),
    used: &mut BTreeSet<u16>,
) {
    let span = (hi as u128).saturating_sub(lo as u128) + 1;
    let offset = range_offset(span, 16, 128, 32);
    let pick = |salt: &str, used: &mut BTreeSet<u16>| -> Option<u16> {
        probe_order(span, offset, hash(&format!("{key}/{salt}")))
            .filter_map(|i| u16::try_from(lo as u128 + i).ok())
            .find(|p| !used.contains(p))
            .inspect(|p| {
                used.insert(*p);
            })
    };
    let wants_node_ports = s.type_ == "NodePort"
        || (s.type_ == "LoadBalancer" && s.allocate_lb_node_ports != Some(false));
    if wants_node_ports {
        for i in 0..s.ports.len() {
            if v.node_ports[i].is_some() {
                continue;
            }
            let port = s.ports[i].port;
            let twin = s
                .ports
                .iter()
                .zip(&v.node_ports)
                .find(|(p, np)| p.port == port && np.is_some())
                .and_then(|(_, np)| *np);
            v.node_ports[i] = twin.or_else(|| pick(&format!("{port}"), used));
        }
    }
    if s.needs_health_check() && v.health_check_node_port.is_none() {
        v.health_check_node_port = pick("healthz", used);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// pkg/registry/core/service/ipallocator `calculateRangeOffset` (the
    /// test's comment: "subnet /25 = 128 ; dynamic block size is
    /// min(max(16,128/16),256) = 16") and portallocator's (30000-32767:
    /// 2768/32 = 86).
    #[test]
    fn static_band_sizes() {
        assert_eq!(range_offset(128, 16, 256, 16), 16);
        assert_eq!(range_offset(16, 16, 256, 16), 0);
        assert_eq!(range_offset(1 << 20, 16, 256, 16), 256);
        assert_eq!(range_offset(2768, 16, 128, 32), 86);
        assert_eq!(range_offset(129, 16, 128, 32), 16);
    }

    /// AllocateNext (TestAllocateReserved): the dynamic band is used up
    /// before any value of the static band is handed out.
    #[test]
    fn upper_band_first() {
        for h in [0u64, 5, 17, 127, 1 << 40] {
            let order: Vec<u128> = probe_order(127, 16, h).collect();
            assert_eq!(order.len(), 127);
            assert!(order[..111].iter().all(|i| *i >= 16), "{h}: {order:?}");
            assert!(order[111..].iter().all(|i| *i < 16));
            let mut sorted = order.clone();
            sorted.sort();
            assert_eq!(sorted, (0..127).collect::<Vec<_>>());
        }
    }
}
