//! The values kube-apiserver's create path gives each Service, copied into
//! the table. The create path itself (IP-family defaulting, reservation,
//! deterministic allocation) has one implementation,
//! [`crate::validate::allocation::allocate_services`], which `validate`
//! reports the errors of.

use crate::config::parse_ip;
use crate::model::Service;
use crate::table::ServiceInfo;
use crate::validate::allocation::ServiceAllocation;
use std::collections::BTreeMap;

/// Fills the IP-family fields, cluster IPs and node ports of `services`
/// (one per name, the first in file order) from the create path run over
/// `objects` (every Service of the input, in input order): `created`, its
/// values by Service in that order.
pub(super) fn allocate(
    services: &mut [ServiceInfo],
    objects: &[Service],
    created: &[ServiceAllocation],
) {
    let mut by_key = BTreeMap::new();
    for (src, v) in objects.iter().zip(created) {
        by_key
            .entry((src.meta.namespace(), src.meta.name.as_str()))
            .or_insert(v);
    }
    for svc in services.iter_mut() {
        let Some(v) = by_key.get(&(svc.namespace.as_str(), svc.name.as_str())) else {
            continue;
        };
        svc.ip_families = v.ip_families.clone();
        if let Some(p) = &v.ip_family_policy {
            svc.ip_family_policy = p.clone();
        }
        if v.allocated_cluster_ips {
            svc.cluster_ips_text = v.cluster_ips.clone();
            svc.cluster_ips = v.cluster_ips.iter().filter_map(|ip| parse_ip(ip)).collect();
            svc.allocated_cluster_ip = true;
        }
        for (p, np) in svc.ports.iter_mut().zip(&v.node_ports) {
            p.node_port = *np;
        }
        svc.health_check_node_port = v.health_check_node_port;
    }
}
