//! Answering a query the way a pod sees it: its stub resolver walks the
//! search list, and CoreDNS (the `kubernetes` plugin with the default
//! kubeadm Corefile: `pods insecure`, reverse zones with fallthrough)
//! answers each name from the zone.

use super::record::{RData, Record, RecordType, parse_reverse_name};
use super::resolv::ResolvConf;
use super::zone::{TTL, Zone};
use serde::Serialize;
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

/// CoreDNS `pods insecure`: `a-b-c-d.<ns>.pod.<zone>.` answers with the
/// address spelled in its first label, whether or not such a pod exists.
fn pod_record(name: &str, zone: &Zone) -> Option<Record> {
    let lower = name.to_ascii_lowercase();
    let rest = lower.strip_suffix(&format!(".pod.{}.", zone.domain.to_ascii_lowercase()))?;
    let (label, namespace) = rest.split_once('.')?;
    if namespace.is_empty() || namespace.contains('.') {
        return None;
    }
    let text = if label.matches('-').count() == 3 && !label.contains("--") {
        label.replace('-', ".")
    } else {
        label.replace('-', ":")
    };
    let ip: IpAddr = text.parse().ok()?;
    Some(Record::new(name, TTL, RData::address(ip)))
}

/// The records CoreDNS answers for one absolute name, and its status.
fn answer_name(zone: &Zone, name: &str, qtype: QueryType) -> (Rcode, Vec<Record>, Vec<Record>) {
    let reverse = parse_reverse_name(name).is_some();
    if !in_domain(name, &zone.domain) && !reverse {
        return (Rcode::Forwarded, Vec::new(), Vec::new());
    }
    let mut at: Vec<Record> = zone
        .records
        .iter()
        .filter(|r| r.owned_by(name))
        .cloned()
        .collect();
    at.extend(pod_record(name, zone));
    if at.is_empty() && reverse {
        // Reverse zones fall through to the next plugin (upstream).
        return (Rcode::Forwarded, Vec::new(), Vec::new());
    }
    let below = format!(".{}", name.to_ascii_lowercase());
    let exists = !at.is_empty()
        || name.eq_ignore_ascii_case(&format!("{}.", zone.domain))
        || zone
            .records
            .iter()
            .any(|r| r.name.to_ascii_lowercase().ends_with(&below));
    if !exists {
        return (Rcode::NxDomain, Vec::new(), Vec::new());
    }
    let QueryType::Record(t) = qtype else {
        return (Rcode::NoError, Vec::new(), Vec::new());
    };
    let mut answer: Vec<Record> = at
        .iter()
        .filter(|r| r.record_type() == t)
        .cloned()
        .collect();
    if answer.is_empty() && t != RecordType::CNAME {
        // An alias: the CNAME, then the target's records when CoreDNS
        // knows them (a target inside the cluster zone), a few levels deep.
        let mut current = at;
        for _ in 0..8 {
            let Some(cname) = current
                .iter()
                .find(|r| r.record_type() == RecordType::CNAME)
                .cloned()
            else {
                break;
            };
            let target = cname.data.target().unwrap_or_default().to_string();
            answer.push(cname);
            current = zone
                .records
                .iter()
                .filter(|r| r.owned_by(&target))
                .cloned()
                .collect();
            let found: Vec<Record> = current
                .iter()
                .filter(|r| r.record_type() == t)
                .cloned()
                .collect();
            if !found.is_empty() {
                answer.extend(found);
                break;
            }
        }
    }
    let mut additional = Vec::new();
    if t == RecordType::SRV {
        for srv in &answer {
            let Some(target) = srv.data.target() else {
                continue;
            };
            for r in zone.records.iter().filter(|r| {
                r.owned_by(target) && matches!(r.record_type(), RecordType::A | RecordType::AAAA)
            }) {
                if !additional.contains(r) {
                    additional.push(r.clone());
                }
            }
        }
    }
    (Rcode::NoError, answer, additional)
}

/// Looks `name` up as a pod with resolver configuration `resolv` would:
/// each candidate name of the search list in turn, until one has answers.
/// A name with no answers anywhere is NODATA if one candidate exists,
/// NXDOMAIN if none of the candidates inside the cluster zone exists,
/// and FORWARDED if none of them lies inside it.
pub fn lookup(zone: &Zone, resolv: &ResolvConf, name: &str, qtype: QueryType) -> Answer {
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
        let (rcode, answer, additional) = answer_name(zone, &candidate, qtype);
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
