//! `ValidateEndpoints` (core/v1 Endpoints) and `ValidateEndpointSlice`
//! (discovery.k8s.io/v1) on create, after their v1 defaults (a port's
//! protocol is TCP when unset).

use super::field::{BadValue, FieldError};
use super::ip::{INVALID_IP, parse_ip, special_ip_messages};
use super::names;
use super::service::{NameRule, object_meta};
use crate::model::{EndpointAddress, EndpointPort, EndpointSlice, Endpoints};
use std::collections::BTreeSet;

/// `ValidateEndpointIP`: "must be a valid IP address" when it does not
/// parse, else the special-address messages.
fn endpoint_ip(text: &str, path: &str) -> Vec<FieldError> {
    match parse_ip(text) {
        None => vec![FieldError::invalid_str(
            path,
            text,
            "must be a valid IP address",
        )],
        Some(ip) => special_ip_messages(text, &ip)
            .into_iter()
            .map(|m| FieldError::invalid_str(path, text, m))
            .collect(),
    }
}

fn node_name(name: &str, path: &str) -> Vec<FieldError> {
    names::dns1123_subdomain(name)
        .into_iter()
        .map(|m| FieldError::invalid_str(path, name, m))
        .collect()
}

fn dns_label(value: &str, path: &str) -> Vec<FieldError> {
    names::dns1123_label(value)
        .into_iter()
        .map(|m| FieldError::invalid_str(path, value, m))
        .collect()
}

fn app_protocol(ap: &Option<String>, path: &str) -> Vec<FieldError> {
    let Some(ap) = ap else { return Vec::new() };
    names::qualified_name(ap)
        .into_iter()
        .map(|m| FieldError::invalid_str(path, ap, m))
        .collect()
}

fn protocol(p: &Option<String>, path: &str) -> Vec<FieldError> {
    match p.as_deref() {
        None => Vec::new(),
        Some("SCTP" | "TCP" | "UDP") => Vec::new(),
        Some(p) => vec![FieldError::not_supported(path, p, &["SCTP", "TCP", "UDP"])],
    }
}

/// `ValidateEndpoints`.
pub fn validate_endpoints(ep: &Endpoints) -> Vec<FieldError> {
    let mut errs = object_meta(&ep.meta, NameRule::Dns1123Subdomain);
    for (i, ss) in ep.subsets.iter().enumerate() {
        let base = format!("subsets[{i}]");
        if ss.addresses.is_empty() && ss.not_ready_addresses.is_empty() {
            errs.push(FieldError::required(
                &base,
                "must specify `addresses` or `notReadyAddresses`",
            ));
        }
        for (j, a) in ss.addresses.iter().enumerate() {
            errs.extend(endpoint_address(a, &format!("{base}.addresses[{j}]")));
        }
        for (j, a) in ss.not_ready_addresses.iter().enumerate() {
            errs.extend(endpoint_address(
                a,
                &format!("{base}.notReadyAddresses[{j}]"),
            ));
        }
        for (j, p) in ss.ports.iter().enumerate() {
            errs.extend(endpoints_port(
                p,
                ss.ports.len() > 1,
                &format!("{base}.ports[{j}]"),
            ));
        }
    }
    errs
}

/// `validateEndpointAddress`: note that an address that is not an IP is
/// reported twice, once by `IsValidIP` and once by `ValidateEndpointIP`.
fn endpoint_address(a: &EndpointAddress, path: &str) -> Vec<FieldError> {
    let ip_path = format!("{path}.ip");
    let mut errs = Vec::new();
    if parse_ip(&a.ip).is_none() {
        errs.push(FieldError::invalid_str(&ip_path, &a.ip, INVALID_IP));
    }
    if let Some(h) = a.hostname.as_deref().filter(|h| !h.is_empty()) {
        errs.extend(dns_label(h, &format!("{path}.hostname")));
    }
    if let Some(n) = &a.node_name {
        errs.extend(node_name(n, &format!("{path}.nodeName")));
    }
    errs.extend(endpoint_ip(&a.ip, &ip_path));
    errs
}

/// `validateEndpointPort`.
fn endpoints_port(p: &EndpointPort, require_name: bool, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name_path = format!("{path}.name");
    if require_name && p.name.is_empty() {
        errs.push(FieldError::required(&name_path, ""));
    } else if !p.name.is_empty() {
        errs.extend(dns_label(&p.name, &name_path));
    }
    let port = p.port.unwrap_or(0);
    for m in names::port_num(port) {
        errs.push(FieldError::invalid_int(&format!("{path}.port"), port, m));
    }
    // The v1 defaults turn an empty protocol into TCP.
    let proto = p.protocol.clone().filter(|s| !s.is_empty());
    errs.extend(protocol(&proto, &format!("{path}.protocol")));
    errs.extend(app_protocol(
        &p.app_protocol,
        &format!("{path}.appProtocol"),
    ));
    errs
}

/// `ValidateEndpointSlice`.
pub fn validate_endpoint_slice(slice: &EndpointSlice) -> Vec<FieldError> {
    let mut errs = object_meta(&slice.meta, NameRule::Dns1123Subdomain);
    let at = slice.address_type.as_str();
    if at.is_empty() {
        errs.push(FieldError::required("addressType", ""));
    } else if !matches!(at, "IPv4" | "IPv6" | "FQDN") {
        errs.push(FieldError::not_supported(
            "addressType",
            at,
            &["FQDN", "IPv4", "IPv6"],
        ));
    }
    if slice.endpoints.len() > 1000 {
        errs.push(FieldError::too_many(
            "endpoints",
            slice.endpoints.len(),
            1000,
        ));
    } else {
        for (i, ep) in slice.endpoints.iter().enumerate() {
            let base = format!("endpoints[{i}]");
            let apath = format!("{base}.addresses");
            if ep.addresses.is_empty() {
                errs.push(FieldError::required(
                    &apath,
                    "must contain at least 1 address",
                ));
            } else if ep.addresses.len() > 100 {
                errs.push(FieldError::too_many(&apath, ep.addresses.len(), 100));
            }
            for (j, addr) in ep.addresses.iter().enumerate() {
                let path = format!("{apath}[{j}]");
                match at {
                    "IPv4" | "IPv6" => {
                        let want_v4 = at == "IPv4";
                        if parse_ip(addr).is_none_or(|ip| ip.is_ipv4() != want_v4) {
                            errs.push(FieldError::invalid_str(
                                &path,
                                addr,
                                format!("must be a valid {at} address"),
                            ));
                        }
                        errs.extend(endpoint_ip(addr, &path));
                    }
                    "FQDN" => {
                        if addr.is_empty() {
                            errs.push(FieldError::required(&path, ""));
                        } else if let Some((value, msg)) = names::fully_qualified_domain_name(addr)
                        {
                            errs.push(FieldError::invalid_str(&path, &value, msg));
                        }
                    }
                    // Unknown types were refused above; their addresses are
                    // not looked at.
                    _ => {}
                }
            }
            if let Some(n) = &ep.node_name {
                errs.extend(node_name(n, &format!("{base}.nodeName")));
            }
            if let Some(h) = &ep.hostname {
                errs.extend(dns_label(h, &format!("{base}.hostname")));
            }
            let zpath = format!("{base}.hints.forZones");
            if ep.hint_zones.len() > 8 {
                errs.push(FieldError::too_many(&zpath, ep.hint_zones.len(), 8));
            } else {
                let mut seen = BTreeSet::new();
                for (j, z) in ep.hint_zones.iter().enumerate() {
                    let path = format!("{zpath}[{j}].name");
                    if !seen.insert(z.as_str()) {
                        errs.push(FieldError::duplicate(&path, BadValue::Str(z.clone())));
                    }
                    for m in names::label_value(z) {
                        errs.push(FieldError::invalid_str(&path, z, m));
                    }
                }
            }
        }
    }
    if slice.ports.len() > 20000 {
        errs.push(FieldError::too_many("ports", slice.ports.len(), 20000));
        return errs;
    }
    let mut seen = BTreeSet::new();
    for (i, p) in slice.ports.iter().enumerate() {
        let base = format!("ports[{i}]");
        let name_path = format!("{base}.name");
        if !p.name.is_empty() {
            errs.extend(dns_label(&p.name, &name_path));
        }
        if !seen.insert(p.name.as_str()) {
            errs.push(FieldError::duplicate(
                &name_path,
                BadValue::Str(p.name.clone()),
            ));
        }
        // discovery/v1 defaults only an absent protocol.
        errs.extend(protocol(&p.protocol, &format!("{base}.protocol")));
        errs.extend(app_protocol(
            &p.app_protocol,
            &format!("{base}.appProtocol"),
        ));
    }
    errs
}
