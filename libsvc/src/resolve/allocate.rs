//! Deterministic allocation of cluster IPs and node ports.
//!
//! kube-apiserver allocates at random; svcgen must give the same answer for
//! the same input, whatever the document order. So each Service starts
//! probing at a hash of its `namespace/name` and takes the first free value.
//! Only Services that never went through an API server are allocated: one
//! with a `spec.clusterIP` is taken as stored (the API server allocates
//! cluster IPs and node ports in the same create, so a stored object that
//! lacks a node port has none).

use crate::config::{IpFamily, Settings, nth_address};
use crate::table::{ServiceInfo, ServiceType};
use ipnet::IpNet;
use std::collections::BTreeSet;
use std::net::IpAddr;

/// FNV-1a: small, stable across platforms and releases.
fn hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

pub(super) fn allocate(services: &mut [ServiceInfo], settings: &Settings) {
    let mut used_ips: BTreeSet<IpAddr> = services
        .iter()
        .flat_map(|s| s.cluster_ips.iter().copied())
        .collect();
    let mut used_ports: BTreeSet<u16> = services
        .iter()
        .flat_map(|s| {
            s.ports
                .iter()
                .filter_map(|p| p.node_port)
                .chain(s.health_check_node_port)
        })
        .collect();
    for svc in services.iter_mut() {
        if svc.headless && svc.ip_families.is_empty() {
            default_headless_families(svc, settings);
        }
        let fresh = svc.cluster_ips_text.is_empty() && svc.type_ != ServiceType::ExternalName;
        if !fresh {
            continue;
        }
        allocate_cluster_ips(svc, settings, &mut used_ips);
        allocate_node_ports(svc, settings, &mut used_ports);
    }
}

fn allocate_cluster_ips(svc: &mut ServiceInfo, settings: &Settings, used: &mut BTreeSet<IpAddr>) {
    let cidrs = &settings.cluster.service_cidrs;
    let default_family = cidrs
        .first()
        .map_or(IpFamily::IPv4, |n| IpFamily::of(&n.addr()));
    let mut families = svc.ip_families.clone();
    if families.is_empty() {
        families.push(default_family);
    }
    if matches!(
        svc.ip_family_policy.as_str(),
        "PreferDualStack" | "RequireDualStack"
    ) && families.len() == 1
    {
        let other = if families[0] == IpFamily::IPv4 {
            IpFamily::IPv6
        } else {
            IpFamily::IPv4
        };
        if cidrs.iter().any(|n| IpFamily::of(&n.addr()) == other) {
            families.push(other);
        }
    }
    families.truncate(2);
    let key = svc.key();
    let mut ips = Vec::new();
    for family in &families {
        let Some(net) = cidrs.iter().find(|n| IpFamily::of(&n.addr()) == *family) else {
            continue;
        };
        if let Some(ip) = pick_ip(net, hash(&key), used) {
            used.insert(ip);
            ips.push(ip);
        }
    }
    svc.ip_families = ips.iter().map(IpFamily::of).collect();
    svc.cluster_ips_text = ips.iter().map(|ip| ip.to_string()).collect();
    svc.cluster_ips = ips;
    svc.allocated_cluster_ip = true;
}

/// The first free address at or after the hashed start, skipping the
/// network address (and the IPv4 broadcast address), wrapping around.
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
    let start = (h as u128) % span;
    // Probe at most a bounded number of addresses: a full range is an error
    // the validator reports, not a reason to loop over 2^64 values.
    for i in 0..span.min(1 << 20) {
        let n = first + (start + i) % span;
        let ip = nth_address(net, n)?;
        if !used.contains(&ip) {
            return Some(ip);
        }
    }
    None
}

fn allocate_node_ports(svc: &mut ServiceInfo, settings: &Settings, used: &mut BTreeSet<u16>) {
    let wants_node_ports = match svc.type_ {
        ServiceType::NodePort => true,
        ServiceType::LoadBalancer => svc.allocate_load_balancer_node_ports != Some(false),
        _ => false,
    };
    let (lo, hi) = settings.cluster.node_port_range;
    let span = (hi as u32).saturating_sub(lo as u32) + 1;
    let key = svc.key();
    let pick = |salt: &str, used: &mut BTreeSet<u16>| -> Option<u16> {
        let start = (hash(&format!("{key}/{salt}")) % span as u64) as u32;
        (0..span)
            .map(|i| (lo as u32 + (start + i) % span) as u16)
            .find(|p| !used.contains(p))
            .inspect(|p| {
                used.insert(*p);
            })
    };
    if wants_node_ports {
        for i in 0..svc.ports.len() {
            if svc.ports[i].node_port.is_some() {
                continue;
            }
            // The API server gives a port number used with two protocols the
            // same node port.
            let port = svc.ports[i].port;
            let twin = svc
                .ports
                .iter()
                .find(|p| p.port == port && p.node_port.is_some())
                .and_then(|p| p.node_port);
            svc.ports[i].node_port = twin.or_else(|| pick(&format!("{port}"), used));
        }
    }
    if svc.type_ == ServiceType::LoadBalancer
        && svc.external_policy_local()
        && svc.health_check_node_port.is_none()
    {
        svc.health_check_node_port = pick("healthz", used);
    }
}

/// kube-apiserver gives a headless Service the cluster's primary family
/// (with a selector: SingleStack), or every family the cluster has
/// (without one: PreferDualStack).
fn default_headless_families(svc: &mut ServiceInfo, settings: &Settings) {
    let mut families: Vec<IpFamily> = Vec::new();
    for net in &settings.cluster.service_cidrs {
        let f = IpFamily::of(&net.addr());
        if !families.contains(&f) {
            families.push(f);
        }
    }
    if svc.selector.as_ref().is_some_and(|s| !s.is_empty()) {
        families.truncate(1);
    } else if svc.ip_family_policy == "SingleStack" {
        svc.ip_family_policy = "PreferDualStack".into();
    }
    svc.ip_families = families;
}
