//! Answering a query the way a pod sees it: its stub resolver walks the
//! search list, and CoreDNS (the `kubernetes` plugin with the default
//! kubeadm Corefile: `pods insecure`, reverse zones with fallthrough)
//! answers each name the way its lookup computes the answer (parse.go
//! `parseRequest`, kubernetes.go `Records`/`findServices`, backend_lookup.go).

use super::record::{RData, Record, RecordType, parse_reverse_name};
use super::resolv::ResolvConf;
use super::zone::{
    Flavor, SCHEMA_VERSION, TTL, VERSION_TTL, Zone, dashed_address, endpoint_published,
    external_name_target, service_name, srv_weight,
};
use crate::Loaded;
use crate::table::{AddressType, ServiceType};
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;

/// What is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryType {
    /// One record type.
    Record(RecordType),
    /// `ANY`: CoreDNS's kubernetes plugin answers it like an unsupported
    /// type, with no records (NODATA) or NXDOMAIN.
    Any,
}

impl QueryType {
    /// Parses `A`, `AAAA`, `SRV`, `PTR`, `CNAME`, `TXT` or `ANY`, any case.
    pub fn parse(s: &str) -> Option<QueryType> {
        if s.eq_ignore_ascii_case("ANY") {
            return Some(QueryType::Any);
        }
        RecordType::parse(s).map(QueryType::Record)
    }
}

impl Serialize for QueryType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl fmt::Display for QueryType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryType::Record(t) => write!(f, "{t}"),
            QueryType::Any => f.write_str("ANY"),
        }
    }
}

/// The response code of one name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Rcode {
    /// The name exists (with or without records of the type asked: NODATA).
    #[serde(rename = "NOERROR")]
    NoError,
    /// The name does not exist.
    #[serde(rename = "NXDOMAIN")]
    NxDomain,
    /// Outside the cluster zone: CoreDNS forwards it to the upstream
    /// resolver, whose answer svcgen does not know.
    #[serde(rename = "FORWARDED")]
    Forwarded,
}

impl fmt::Display for Rcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rcode::NoError => "NOERROR",
            Rcode::NxDomain => "NXDOMAIN",
            Rcode::Forwarded => "FORWARDED",
        })
    }
}

/// One absolute name the stub resolver asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// The absolute name.
    pub name: String,
    /// CoreDNS's response code for it.
    pub rcode: Rcode,
    /// How many answer records it got.
    pub answers: usize,
}

/// The outcome of a lookup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Answer {
    /// The name as asked.
    pub question: String,
    /// The type asked.
    #[serde(rename = "type")]
    pub qtype: QueryType,
    /// The names tried, in order, until one answered.
    pub tried: Vec<Attempt>,
    /// The final status.
    pub rcode: Rcode,
    /// The absolute name that answered (or gave NODATA).
    pub name: Option<String>,
    /// The answer section.
    pub answer: Vec<Record>,
    /// The additional section (addresses of SRV targets).
    pub additional: Vec<Record>,
    /// Explanations.
    pub notes: Vec<String>,
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, ";; question: {} {}", self.question, self.qtype)?;
        for a in &self.tried {
            writeln!(f, ";; tried {} {}, answers: {}", a.name, a.rcode, a.answers)?;
        }
        writeln!(f, ";; status: {}", self.rcode)?;
        for n in &self.notes {
            writeln!(f, ";; note: {n}")?;
        }
        if !self.answer.is_empty() {
            writeln!(f, ";; answer:")?;
            for r in &self.answer {
                writeln!(f, "{r}")?;
            }
        }
        if !self.additional.is_empty() {
            writeln!(f, ";; additional:")?;
            for r in &self.additional {
                writeln!(f, "{r}")?;
            }
        }
        Ok(())
    }
}

/// Is `name` (absolute, trailing dot) `zone.` or below it?
fn in_domain(name: &str, zone: &str) -> bool {
    let n = name.to_ascii_lowercase();
    let z = format!("{}.", zone.to_ascii_lowercase());
    n == z || n.ends_with(&format!(".{z}"))
}

/// The namespaces that exist: Kubernetes' own four, and every namespace an
/// object of the input lives in. (CoreDNS's `namespaceExposed` asks the API
/// server; svcgen sees only the input.)
fn existing_namespaces(loaded: &Loaded) -> BTreeSet<String> {
    let o = &loaded.objects;
    ["default", "kube-system", "kube-public", "kube-node-lease"]
        .into_iter()
        .map(String::from)
        .chain(o.services.iter().map(|x| x.meta.namespace().to_string()))
        .chain(o.endpoints.iter().map(|x| x.meta.namespace().to_string()))
        .chain(
            o.endpoint_slices
                .iter()
                .map(|x| x.meta.namespace().to_string()),
        )
        .chain(o.pods.iter().map(|x| x.meta.namespace().to_string()))
        .map(|n| n.to_ascii_lowercase())
        .collect()
}

/// What CoreDNS (the kubernetes plugin) answers from: the Services and
/// their EndpointSlices, the namespaces that exist, and the reverse records
/// of the cluster zone.
pub struct Server<'a> {
    loaded: &'a Loaded,
    /// The cluster zone ([`Flavor::CoreDns`]): its PTR records answer
    /// reverse lookups.
    zone: Zone,
    namespaces: BTreeSet<String>,
}

/// The name does not exist (CoreDNS's `errNoItems`, `errNsNotExposed`,
/// `errInvalidRequest`: `IsNameError`).
struct NameError;

/// A parsed query name (parse.go `parseRequest`): `_port._protocol.service.
/// namespace.svc.zone`, `endpoint.service.namespace.svc.zone`,
/// `service.namespace.svc|pod.zone`, or shorter. Empty fields match
/// anything.
#[derive(Debug, Default, PartialEq, Eq)]
struct Request {
    port: String,
    protocol: String,
    endpoint: String,
    service: String,
    namespace: String,
    /// `svc` or `pod`; empty for the zone, `svc.zone` and `pod.zone`.
    pod_or_svc: String,
}

/// What CoreDNS's lookup collects for a name (`msg.Service`): a host (an
/// address, or a name for ExternalName), a port (-1: none declared), and
/// the name the record is published under (an SRV target).
struct Item {
    host: Host,
    port: i32,
    key: String,
}

enum Host {
    Ip(IpAddr),
    Name(String),
}

/// parse.go `parseRequest`, for a name inside `domain` (lower case).
fn parse_request(name: &str, domain: &str) -> Result<Request, NameError> {
    let lower = name.to_ascii_lowercase();
    let apex = format!("{}.", domain.to_ascii_lowercase());
    let base = if lower == apex {
        ""
    } else {
        lower.strip_suffix(&format!(".{apex}")).ok_or(NameError)?
    };
    let mut r = Request::default();
    if base.is_empty() || base == "svc" || base == "pod" {
        return Ok(r);
    }
    let mut segs: Vec<&str> = base.split('.').collect();
    let strip = |s: &str| s.strip_prefix('_').unwrap_or(s).to_string();
    r.pod_or_svc = segs.pop().unwrap_or_default().to_string();
    if r.pod_or_svc != "svc" && r.pod_or_svc != "pod" {
        return Err(NameError);
    }
    let Some(ns) = segs.pop() else { return Ok(r) };
    r.namespace = ns.to_string();
    let Some(svc) = segs.pop() else { return Ok(r) };
    r.service = svc.to_string();
    match segs.as_slice() {
        [] => {}
        [endpoint] => r.endpoint = endpoint.to_string(),
        [port, protocol] => {
            r.port = strip(port);
            r.protocol = strip(protocol);
        }
        _ => return Err(NameError),
    }
    Ok(r)
}

/// kubernetes.go `matchPortAndProtocol`: an empty query part matches anything.
fn port_and_protocol_match(r: &Request, name: &str, protocol: &str) -> bool {
    (r.port.is_empty() || r.port.eq_ignore_ascii_case(name))
        && (r.protocol.is_empty() || r.protocol.eq_ignore_ascii_case(protocol))
}

impl<'a> Server<'a> {
    /// CoreDNS for `loaded`.
    pub fn new(loaded: &'a Loaded) -> Result<Server<'a>, String> {
        let (zone, _) = super::zone::build(loaded, Flavor::CoreDns)?;
        Ok(Server {
            loaded,
            zone,
            namespaces: existing_namespaces(loaded),
        })
    }

    fn domain(&self) -> &str {
        &self.zone.domain
    }

    /// kubernetes.go `Records`: what a name stands for.
    fn records(&self, name: &str) -> Result<Vec<Item>, NameError> {
        let r = parse_request(name, self.domain())?;
        if r.pod_or_svc.is_empty() {
            return Ok(Vec::new());
        }
        if !self.namespaces.contains(&r.namespace) {
            return Err(NameError);
        }
        if r.pod_or_svc == "pod" {
            self.find_pods(&r)
        } else {
            self.find_services(&r)
        }
    }

    /// kubernetes.go `findPods` with `pods insecure`: the address spelled
    /// in the label, whether or not such a pod exists.
    fn find_pods(&self, r: &Request) -> Result<Vec<Item>, NameError> {
        let pod = &r.service;
        if pod.is_empty() {
            return Ok(Vec::new());
        }
        let text = if pod.matches('-').count() == 3 && !pod.contains("--") {
            pod.replace('-', ".")
        } else {
            pod.replace('-', ":")
        };
        let ip: IpAddr = text.parse().map_err(|_| NameError)?;
        Ok(vec![Item {
            host: Host::Ip(ip),
            port: 0,
            key: format!("{pod}.{}.pod.{}.", r.namespace, self.domain()),
        }])
    }

    /// kubernetes.go `findServices`: one item per cluster IP × matching
    /// port, per published endpoint address × matching port (headless
    /// Services, or any Service asked for an endpoint name), or the
    /// ExternalName. No match at all is NXDOMAIN.
    fn find_services(&self, r: &Request) -> Result<Vec<Item>, NameError> {
        if r.service.is_empty() {
            return Ok(Vec::new());
        }
        let mut found = false;
        let mut items = Vec::new();
        for svc in self.loaded.table.services.iter().filter(|s| {
            s.namespace.eq_ignore_ascii_case(&r.namespace)
                && s.name.eq_ignore_ascii_case(&r.service)
        }) {
            let owner = service_name(svc, self.domain());
            if svc.type_ == ServiceType::ExternalName {
                // No endpoints, ports or protocols under an ExternalName.
                if !(r.endpoint.is_empty() && r.port.is_empty() && r.protocol.is_empty()) {
                    continue;
                }
                if let Some(target) = external_name_target(svc) {
                    items.push(Item {
                        host: Host::Name(target),
                        port: 0,
                        key: owner,
                    });
                    found = true;
                }
                continue;
            }
            if svc.headless || !r.endpoint.is_empty() {
                for slice in svc
                    .slices
                    .iter()
                    .filter(|s| s.address_type != AddressType::FQDN)
                {
                    // A slice without ports stands for one port -1 (CoreDNS's sentinel).
                    let ports: Vec<(&str, &str, i32)> = if slice.ports.is_empty() {
                        vec![("", "", -1)]
                    } else {
                        slice
                            .ports
                            .iter()
                            .map(|p| {
                                let port = p.port.map_or(-1, i32::from);
                                (p.name.as_str(), p.protocol.as_str(), port)
                            })
                            .collect()
                    };
                    for ep in slice
                        .endpoints
                        .iter()
                        .filter(|ep| endpoint_published(svc, slice, ep))
                    {
                        for text in &ep.addresses {
                            let Ok(ip) = text.parse::<IpAddr>() else {
                                continue;
                            };
                            let host = match ep.hostname.as_deref().filter(|h| !h.is_empty()) {
                                Some(h) => h.to_string(),
                                None => dashed_address(text),
                            };
                            if !r.endpoint.is_empty() && !r.endpoint.eq_ignore_ascii_case(&host) {
                                continue;
                            }
                            for (name, protocol, port) in &ports {
                                if !port_and_protocol_match(r, name, protocol) {
                                    continue;
                                }
                                found = true;
                                items.push(Item {
                                    host: Host::Ip(ip),
                                    port: *port,
                                    key: format!("{host}.{owner}"),
                                });
                            }
                        }
                    }
                }
                continue;
            }
            if crate::env::explicitly_unallocated(self.loaded, svc) {
                continue;
            }
            // A Service without ports stands for one port -1.
            let ports: Vec<(&str, &str, i32)> = if svc.ports.is_empty() {
                vec![("", "", -1)]
            } else {
                svc.ports
                    .iter()
                    .map(|p| (p.name.as_str(), p.protocol.as_str(), i32::from(p.port)))
                    .collect()
            };
            for (name, protocol, port) in ports {
                if !port_and_protocol_match(r, name, protocol) {
                    continue;
                }
                found = true;
                for ip in &svc.cluster_ips {
                    items.push(Item {
                        host: Host::Ip(*ip),
                        port,
                        key: owner.clone(),
                    });
                }
            }
        }
        if found { Ok(items) } else { Err(NameError) }
    }

    /// backend_lookup.go `A` / `AAAA`: the addresses of the items, each
    /// once, under the name asked; an ExternalName's CNAME, followed when
    /// its target lies in the cluster zone.
    fn addresses(
        &self,
        name: &str,
        t: RecordType,
        depth: usize,
        notes: &mut Vec<String>,
    ) -> Result<Vec<Record>, NameError> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        for item in self.records(name)? {
            match item.host {
                Host::Name(target) => {
                    if target.eq_ignore_ascii_case(name) || depth >= MAX_CNAME_CHAIN {
                        continue;
                    }
                    let cname = Record::new(
                        name,
                        TTL,
                        RData::CNAME {
                            target: target.clone(),
                        },
                    );
                    if in_domain(&target, self.domain()) {
                        // Only a CNAME whose target has addresses is given.
                        if let Ok(next) = self.addresses(&target, t, depth + 1, notes)
                            && !next.is_empty()
                        {
                            out.push(cname);
                            out.extend(next);
                        }
                    } else {
                        notes.push(format!(
                            "CoreDNS resolves {target} upstream and adds its records; svcgen does not know them"
                        ));
                        out.push(cname);
                    }
                }
                Host::Ip(ip) => {
                    let data = RData::address(ip);
                    if data.record_type() == t && seen.insert(ip) {
                        out.push(Record::new(name, TTL, data));
                    }
                }
            }
        }
        Ok(out)
    }

    /// backend_lookup.go `SRV`: one record per target and port, weighted
    /// 100 shared among every item found (portless ones included), and the
    /// targets' addresses as additional records. ExternalName gives none.
    fn srv(&self, name: &str) -> Result<(Vec<Record>, Vec<Record>), NameError> {
        let items: Vec<Item> = self
            .records(name)?
            .into_iter()
            .filter(|i| matches!(i.host, Host::Ip(_)))
            .collect();
        let weight = srv_weight(items.len());
        let (mut answer, mut additional) = (Vec::new(), Vec::new());
        let (mut seen_srv, mut seen_addr) = (BTreeSet::new(), BTreeSet::new());
        for item in &items {
            let (Host::Ip(ip), Ok(port)) = (&item.host, u16::try_from(item.port)) else {
                continue;
            };
            let target = item.key.to_ascii_lowercase();
            if seen_srv.insert((target.clone(), port)) {
                answer.push(Record::new(
                    name,
                    TTL,
                    RData::SRV {
                        priority: 0,
                        weight,
                        port,
                        target: item.key.clone(),
                    },
                ));
            }
            if seen_addr.insert((target, *ip)) {
                additional.push(Record::new(&item.key, TTL, RData::address(*ip)));
            }
        }
        Ok((answer, additional))
    }

    /// handler.go `ServeDNS` for one absolute name inside the cluster zone.
    fn serve(&self, name: &str, qtype: QueryType, notes: &mut Vec<String>) -> Served {
        let t = match qtype {
            QueryType::Record(t) => t,
            // Not a type the plugin serves: a fake A lookup tells NXDOMAIN from NODATA.
            QueryType::Any => RecordType::A,
        };
        let result = match t {
            RecordType::A | RecordType::AAAA => {
                self.addresses(name, t, 0, notes).map(|a| (a, Vec::new()))
            }
            RecordType::SRV => self.srv(name),
            RecordType::TXT => self.txt(name).map(|a| (a, Vec::new())),
            RecordType::CNAME => self.records(name).map(|items| {
                let first = items.into_iter().next();
                let cname = first.and_then(|i| match i.host {
                    Host::Name(target) => Some(Record::new(name, TTL, RData::CNAME { target })),
                    Host::Ip(_) => None,
                });
                (cname.into_iter().collect(), Vec::new())
            }),
            // kubernetes.go `Reverse` on a forward name: whether it exists.
            RecordType::PTR => self.records(name).map(|_| (Vec::new(), Vec::new())),
        };
        match result {
            Err(NameError) => (Rcode::NxDomain, Vec::new(), Vec::new()),
            Ok(_) if qtype == QueryType::Any => (Rcode::NoError, Vec::new(), Vec::new()),
            Ok((answer, additional)) => (Rcode::NoError, answer, additional),
        }
    }

    /// kubernetes.go `Services` for TXT: `dns-version.<zone>` has the
    /// schema version; any other name is NODATA when it stands for
    /// something, else NXDOMAIN.
    fn txt(&self, name: &str) -> Result<Vec<Record>, NameError> {
        if name.eq_ignore_ascii_case(&format!("dns-version.{}.", self.domain())) {
            return Ok(vec![Record::new(
                name,
                VERSION_TTL,
                RData::TXT {
                    text: SCHEMA_VERSION.into(),
                },
            )]);
        }
        match self.records(name) {
            Ok(items) if !items.is_empty() => Ok(Vec::new()),
            _ => Err(NameError),
        }
    }

    /// The answer for one absolute name: the cluster zone as above;
    /// reverse names from the zone's PTR records, falling through to the
    /// upstream resolver when there is none (kubeadm's Corefile); any
    /// other name forwarded.
    fn answer_name(&self, name: &str, qtype: QueryType, notes: &mut Vec<String>) -> Served {
        if in_domain(name, self.domain()) {
            return self.serve(name, qtype, notes);
        }
        let ptr: Vec<Record> = match parse_reverse_name(name) {
            Some(_) => self
                .zone
                .records
                .iter()
                .filter(|r| r.owned_by(name) && r.record_type() == RecordType::PTR)
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        match qtype {
            QueryType::Record(RecordType::PTR) if !ptr.is_empty() => {
                (Rcode::NoError, ptr, Vec::new())
            }
            _ => (Rcode::Forwarded, Vec::new(), Vec::new()),
        }
    }
}

/// The response code, answer and additional records of one name.
type Served = (Rcode, Vec<Record>, Vec<Record>);

/// plugin.go `maxCnameChainLength`.
const MAX_CNAME_CHAIN: usize = 10;

/// Looks `name` up as a pod with resolver configuration `resolv` would:
/// each candidate name of the search list in turn, until one has answers.
/// A name with no answers anywhere is NODATA if one candidate exists,
/// NXDOMAIN if none of the candidates inside the cluster zone exists,
/// and FORWARDED if none of them lies inside it.
pub fn lookup(server: &Server, resolv: &ResolvConf, name: &str, qtype: QueryType) -> Answer {
    let mut tried = Vec::new();
    let mut nodata: Option<String> = None;
    let mut in_zone = false;
    let mut notes = Vec::new();
    if qtype == QueryType::Any {
        notes.push(
            "CoreDNS's kubernetes plugin does not answer ANY queries: it says only whether the name exists"
                .to_string(),
        );
    }
    for candidate in resolv.candidates(name.trim()) {
        let (rcode, answer, additional) = server.answer_name(&candidate, qtype, &mut notes);
        tried.push(Attempt {
            name: candidate.clone(),
            rcode,
            answers: answer.len(),
        });
        in_zone |= rcode != Rcode::Forwarded;
        if !answer.is_empty() {
            return Answer {
                question: name.to_string(),
                qtype,
                tried,
                rcode,
                name: Some(candidate),
                answer,
                additional,
                notes,
            };
        }
        if rcode == Rcode::NoError && nodata.is_none() {
            nodata = Some(candidate);
        }
    }
    let rcode = if nodata.is_some() {
        Rcode::NoError
    } else if in_zone {
        Rcode::NxDomain
    } else {
        Rcode::Forwarded
    };
    if tried.iter().any(|a| a.rcode == Rcode::Forwarded) {
        notes.push(
            "names outside the cluster zone go to the upstream resolver; svcgen does not know its answer"
                .to_string(),
        );
    }
    Answer {
        question: name.to_string(),
        qtype,
        tried,
        rcode,
        name: nodata,
        answer: Vec::new(),
        additional: Vec::new(),
        notes,
    }
}
