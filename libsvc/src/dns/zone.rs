//! The records of the cluster zone, per the Kubernetes DNS specification
//! 1.1.0 (kubernetes/dns `docs/specification.md`), with CoreDNS's choices
//! where the specification leaves one open (TTL 5, endpoint identifiers,
//! SRV priority and weight).

use super::record::{RData, Record, is_domain, is_label, reverse_name, sort_records};
use crate::Loaded;
use crate::diag::{Diagnostic, Severity};
use crate::table::{AddressType, EndpointInfo, ServiceInfo, ServiceType, SliceInfo, SliceSource};
use serde::Serialize;
use std::fmt;
use std::net::IpAddr;

/// The TTL of every record but `dns-version` (CoreDNS's default).
pub const TTL: u32 = 5;

/// The TTL of the `dns-version` TXT record (the specification's example).
pub const VERSION_TTL: u32 = 28800;

/// The schema version this zone follows.
pub const SCHEMA_VERSION: &str = "1.1.0";

/// The Service annotation that makes the not-ready addresses of an
/// Endpoints object count as ready (specification 2.4).
pub const TOLERATE_UNREADY_ANNOTATION: &str =
    "service.alpha.kubernetes.io/tolerate-unready-endpoints";

/// Which records to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flavor {
    /// Exactly what the specification requires (the `render --mode dns` listing).
    #[default]
    Specification,
    /// Also the endpoint names and reverse records CoreDNS serves for the
    /// endpoints of Services that have a cluster IP. `resolve` answers
    /// reverse lookups from this set (forward names are answered the way
    /// CoreDNS's lookup computes them, in `query`).
    CoreDns,
}

/// The cluster zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Zone {
    /// The cluster domain, without the trailing dot.
    pub domain: String,
    /// The records, in canonical order, each once.
    pub records: Vec<Record>,
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.records {
            writeln!(f, "{r}")?;
        }
        Ok(())
    }
}

/// `<svc>.<ns>.svc.<domain>.`
pub fn service_name(svc: &ServiceInfo, domain: &str) -> String {
    format!("{}.{}.svc.{domain}.", svc.name, svc.namespace)
}

/// The identifier of an endpoint address without a hostname: CoreDNS's
/// form, the address as written with `.` or `:` turned into `-`, and a `0`
/// after a trailing `-` (`fd00::` → `fd00--0`).
pub fn dashed_address(address: &str) -> String {
    if address.contains('.') {
        address.replace('.', "-")
    } else {
        let dashed = address.replace(':', "-");
        if dashed.ends_with('-') {
            dashed + "0"
        } else {
            dashed
        }
    }
}

/// Is this endpoint published? An EndpointSlice endpoint is unless
/// `conditions.ready` is false; the not-ready addresses of a v1 Endpoints
/// object are when the Service carries the tolerate-unready annotation.
/// (With `publishNotReadyAddresses` the EndpointSlice controller already
/// writes `ready: true`; DNS reads `ready` only.)
pub fn endpoint_published(svc: &ServiceInfo, slice: &SliceInfo, ep: &EndpointInfo) -> bool {
    ep.ready
        || (slice.source == SliceSource::MirroredFromEndpoints
            && svc
                .annotations
                .get(TOLERATE_UNREADY_ANNOTATION)
                .is_some_and(|v| v == "true"))
}

/// The CNAME target of an ExternalName Service, fully qualified: CoreDNS
/// serves a CNAME only when the name is not an IP address (`msg.Service.
/// HostType`); an empty or malformed name gets none either.
pub fn external_name_target(svc: &ServiceInfo) -> Option<String> {
    let ext = svc.external_name.as_deref()?;
    if ext.parse::<IpAddr>().is_ok() {
        return None;
    }
    let target = ext.strip_suffix('.').unwrap_or(ext);
    is_domain(target).then(|| format!("{target}."))
}

/// Builds the zone of `loaded.settings.cluster.cluster_domain`. Values that
/// cannot be part of a name (invalid names, which kube-apiserver refuses)
/// are left out with a warning.
pub fn build(loaded: &Loaded, flavor: Flavor) -> Result<(Zone, Vec<Diagnostic>), String> {
    let domain = loaded.settings.cluster.cluster_domain.clone();
    if !is_domain(&domain) {
        return Err(format!(
            "cluster domain {domain:?} is not a DNS name (labels of letters, digits and '-', joined by dots)"
        ));
    }
    let mut b = Builder {
        domain: &domain,
        flavor,
        records: vec![Record::new(
            format!("dns-version.{domain}."),
            VERSION_TTL,
            RData::TXT {
                text: SCHEMA_VERSION.into(),
            },
        )],
        diags: Vec::new(),
    };
    for svc in &loaded.table.services {
        if !is_label(&svc.name) || !is_label(&svc.namespace) {
            b.warn(
                svc,
                format!(
                    "Service {}: its name or namespace is not a DNS label; it has no DNS records",
                    svc.key()
                ),
            );
            continue;
        }
        if svc.type_ == ServiceType::ExternalName {
            b.external_name(svc);
        } else if svc.headless {
            b.headless(svc);
        } else if !crate::env::explicitly_unallocated(loaded, svc) {
            b.cluster_ip(svc);
        }
    }
    let Builder { records, diags, .. } = b;
    let mut records = records;
    sort_records(&mut records);
    Ok((Zone { domain, records }, diags))
}

struct Builder<'a> {
    domain: &'a str,
    flavor: Flavor,
    records: Vec<Record>,
    diags: Vec<Diagnostic>,
}

impl Builder<'_> {
    fn warn(&mut self, svc: &ServiceInfo, message: String) {
        self.diags.push(Diagnostic::new(
            Severity::Warning,
            message,
            Some(svc.origin.location()),
        ));
    }

    fn push(&mut self, name: &str, data: RData) {
        self.records.push(Record::new(name, TTL, data));
    }

    /// ExternalName: a CNAME to the external name, fully qualified. CoreDNS
    /// serves nothing for an IP literal (the docs say such names are not
    /// resolved), nor for an empty name.
    fn external_name(&mut self, svc: &ServiceInfo) {
        let Some(ext) = svc.external_name.as_deref().filter(|e| !e.is_empty()) else {
            return;
        };
        let Some(target) = external_name_target(svc) else {
            let why = if ext.parse::<IpAddr>().is_ok() {
                "is an IP address; cluster DNS serves no record for it (NXDOMAIN)"
            } else {
                "is not a DNS name; no CNAME record"
            };
            self.warn(
                svc,
                format!("Service {}: externalName {ext:?} {why}", svc.key()),
            );
            return;
        };
        let owner = service_name(svc, self.domain);
        self.push(&owner, RData::CNAME { target });
    }

    /// A Service with cluster IPs: an address and a PTR record per cluster
    /// IP, an SRV record per named port, whatever its endpoints.
    fn cluster_ip(&mut self, svc: &ServiceInfo) {
        if svc.cluster_ips.is_empty() {
            return;
        }
        let owner = service_name(svc, self.domain);
        for ip in &svc.cluster_ips {
            self.push(&owner, RData::address(*ip));
            self.push(
                &reverse_name(*ip),
                RData::PTR {
                    target: owner.clone(),
                },
            );
        }
        for p in &svc.ports {
            let srv = RData::SRV {
                priority: 0,
                weight: 100,
                port: p.port,
                target: owner.clone(),
            };
            if is_label(&p.name) {
                self.push(&format!("_{}._{}.{owner}", p.name, p.protocol.lower()), srv);
            } else if !p.name.is_empty() {
                self.warn(
                    svc,
                    format!(
                        "Service {}: port name {:?} is not a DNS label; no SRV record",
                        svc.key(),
                        p.name
                    ),
                );
            }
        }
        if self.flavor == Flavor::CoreDns {
            // CoreDNS answers endpoint names and endpoint reverse lookups
            // for any Service, not only headless ones.
            self.endpoints(svc, &owner, false);
        }
    }

    /// A headless Service: its published endpoints, under the Service name
    /// and under each endpoint's own name, with SRV and PTR records.
    fn headless(&mut self, svc: &ServiceInfo) {
        let owner = service_name(svc, self.domain);
        self.endpoints(svc, &owner, true);
    }

    /// The records of the published endpoints of `svc`. `on_service`: also
    /// the address records on the Service name and the SRV records
    /// (headless Services).
    fn endpoints(&mut self, svc: &ServiceInfo, owner: &str, on_service: bool) {
        for slice in &svc.slices {
            if slice.address_type == AddressType::FQDN {
                continue;
            }
            let published: Vec<(usize, &EndpointInfo)> = slice
                .endpoints
                .iter()
                .enumerate()
                .filter(|(i, ep)| {
                    let ok = endpoint_published(svc, slice, ep);
                    if !ok && svc.publish_not_ready_addresses && slice.source == SliceSource::Given {
                        self.diags.push(Diagnostic::new(
                            Severity::Warning,
                            format!(
                                "EndpointSlice {}: endpoint {} is not ready although Service {} sets publishNotReadyAddresses (the EndpointSlice controller would write ready: true); DNS reads ready and leaves it out",
                                slice.name,
                                ep.addresses.first().map_or("", String::as_str),
                                svc.key()
                            ),
                            slice.origin.as_ref().map(|o| o.locate(&format!("endpoints[{i}].conditions.ready"))),
                        ));
                    }
                    ok
                })
                .collect();
            // CoreDNS's zone transfer (xfr.go `calcSRVWeight`): 100 shared
            // among the slice's published addresses, never below 1.
            let count: usize = published.iter().map(|(_, ep)| ep.addresses.len()).sum();
            let weight = srv_weight(count);
            for (i, ep) in published {
                for (j, text) in ep.addresses.iter().enumerate() {
                    let Ok(ip) = text.parse::<IpAddr>() else {
                        self.diags.push(Diagnostic::new(
                            Severity::Warning,
                            format!("EndpointSlice {}: address {text:?} is not an IP address; no DNS record", slice.name),
                            slice.origin.as_ref().map(|o| o.locate(&format!("endpoints[{i}].addresses[{j}]"))),
                        ));
                        continue;
                    };
                    let host = match ep.hostname.as_deref().filter(|h| !h.is_empty()) {
                        Some(h) => h.to_string(),
                        None => dashed_address(text),
                    };
                    if !is_label(&host) {
                        self.warn(svc, format!("Service {}: endpoint hostname {host:?} is not a DNS label; no record for {text}", svc.key()));
                        continue;
                    }
                    let ep_name = format!("{host}.{owner}");
                    if on_service {
                        self.push(owner, RData::address(ip));
                    }
                    self.push(&ep_name, RData::address(ip));
                    self.push(
                        &reverse_name(ip),
                        RData::PTR {
                            target: ep_name.clone(),
                        },
                    );
                    if !on_service {
                        continue;
                    }
                    for p in &slice.ports {
                        let Some(port) = p.port else { continue };
                        let srv = RData::SRV {
                            priority: 0,
                            weight,
                            port,
                            target: ep_name.clone(),
                        };
                        if is_label(&p.name) {
                            self.push(&format!("_{}._{}.{owner}", p.name, p.protocol.lower()), srv);
                        }
                    }
                }
            }
        }
    }
}

/// CoreDNS's SRV weight for `n` records of one priority (backend_lookup.go
/// `SRV`, xfr.go `calcSRVWeight`): `floor(100 / (100·n) · 100)` in
/// floating point, as Go computes it, and at least 1.
pub fn srv_weight(n: usize) -> u16 {
    let w = (100.0 / (100.0 * n.max(1) as f64)) * 100.0;
    (w.floor() as u16).max(1)
}

#[cfg(test)]
mod tests {
    use super::{dashed_address, srv_weight};

    /// xfr.go `calcSRVWeight` / backend_lookup.go `SRV`: 100 shared among
    /// the records, floored, never below 1.
    #[test]
    fn srv_weights_are_corednss() {
        let got: Vec<u16> = [1, 2, 3, 4, 6, 7, 100, 101, 250]
            .into_iter()
            .map(srv_weight)
            .collect();
        assert_eq!(got, [100, 50, 33, 25, 16, 14, 1, 1, 1]);
    }

    #[test]
    fn endpoint_identifiers_are_coredns_dashed_addresses() {
        assert_eq!(dashed_address("10.3.0.1"), "10-3-0-1");
        assert_eq!(dashed_address("fd00:10:244:6::41"), "fd00-10-244-6--41");
        assert_eq!(dashed_address("fd00::"), "fd00--0");
    }
}
