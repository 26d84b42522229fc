//! What kube-apiserver's Service storage does before validation on create
//! (`storage/alloc.go`): initialise the IP-family fields (with the
//! cluster-IP checks of validation as a gate), reserve the requested cluster
//! IPs and node ports. Its errors are the whole answer.
//!
//! Only requested values are modelled: an address or port left for the
//! allocator to choose is taken by `resolve`, which never picks one that is
//! requested anywhere, so it cannot fail here.
//!
//! The cluster-wide state (what earlier Services in the input hold) lives in
//! [`Allocations`]; a Service's reservations are kept only when its create
//! succeeds, as kube-apiserver releases them when a create fails.

use super::defaults::Svc;
use super::field::{BadValue, FieldError};
use super::ip::{family_name, parse_ip};
use super::service::{cluster_ips_at, cluster_ips_related};
use crate::config::Settings;
use crate::diag::Location;
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
        init_ip_families(svc, cidrs)?;
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

/// `initIPFamilyFields` on create.
fn init_ip_families(svc: &mut Svc, cidrs: &[IpNet]) -> Result<(), Vec<FieldError>> {
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
            if configured.contains(fam) {
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
    if policy == "RequireDualStack" && configured.len() < 2 {
        errs.push(FieldError::invalid_str(
            "spec.ipFamilyPolicy",
            &policy,
            "this cluster is not configured for dual-stack services",
        ));
    }
    for (i, fam) in svc.ip_families.iter().enumerate() {
        if !configured.contains(fam.as_str()) {
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
