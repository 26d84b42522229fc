//! The typed record model: owner names, record data, and their zone-file text.

use serde::Serialize;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A record type svcgen serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum RecordType {
    /// IPv4 address.
    A,
    /// IPv6 address.
    AAAA,
    /// Alias.
    CNAME,
    /// Reverse pointer.
    PTR,
    /// Service location.
    SRV,
    /// Text.
    TXT,
}

impl RecordType {
    /// The mnemonic.
    pub fn as_str(&self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::AAAA => "AAAA",
            RecordType::CNAME => "CNAME",
            RecordType::PTR => "PTR",
            RecordType::SRV => "SRV",
            RecordType::TXT => "TXT",
        }
    }

    /// The type code (RFC 1035, 2782, 3596); records of one owner sort by it.
    pub fn code(&self) -> u16 {
        match self {
            RecordType::A => 1,
            RecordType::CNAME => 5,
            RecordType::PTR => 12,
            RecordType::TXT => 16,
            RecordType::AAAA => 28,
            RecordType::SRV => 33,
        }
    }

    /// Parses a mnemonic, case-insensitively.
    pub fn parse(s: &str) -> Option<RecordType> {
        [
            RecordType::A,
            RecordType::AAAA,
            RecordType::CNAME,
            RecordType::PTR,
            RecordType::SRV,
            RecordType::TXT,
        ]
        .into_iter()
        .find(|t| t.as_str().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The data of a record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "type")]
pub enum RData {
    /// An IPv4 address.
    A {
        /// The address.
        address: Ipv4Addr,
    },
    /// An IPv6 address.
    AAAA {
        /// The address.
        address: Ipv6Addr,
    },
    /// An alias: the owner is another name for `target`.
    CNAME {
        /// Fully qualified, with the trailing dot.
        target: String,
    },
    /// A reverse pointer.
    PTR {
        /// Fully qualified, with the trailing dot.
        target: String,
    },
    /// A service location (RFC 2782).
    SRV {
        /// Priority (the specification leaves it open; CoreDNS writes 0).
        priority: u16,
        /// Weight (left open too; CoreDNS's numbers).
        weight: u16,
        /// The port.
        port: u16,
        /// Fully qualified, with the trailing dot.
        target: String,
    },
    /// Text (one character-string).
    TXT {
        /// The text, without quotes.
        text: String,
    },
}

impl RData {
    /// The address record for `ip`. An IPv4-mapped IPv6 address
    /// (`::ffff:a.b.c.d`) gives an A record, as in CoreDNS (Go reads it as IPv4).
    pub fn address(ip: IpAddr) -> RData {
        match ip {
            IpAddr::V4(address) => RData::A { address },
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(address) => RData::A { address },
                None => RData::AAAA { address: v6 },
            },
        }
    }

    /// Its type.
    pub fn record_type(&self) -> RecordType {
        match self {
            RData::A { .. } => RecordType::A,
            RData::AAAA { .. } => RecordType::AAAA,
            RData::CNAME { .. } => RecordType::CNAME,
            RData::PTR { .. } => RecordType::PTR,
            RData::SRV { .. } => RecordType::SRV,
            RData::TXT { .. } => RecordType::TXT,
        }
    }

    /// The name this data points at (CNAME, PTR, SRV), if any.
    pub fn target(&self) -> Option<&str> {
        match self {
            RData::CNAME { target } | RData::PTR { target } | RData::SRV { target, .. } => {
                Some(target)
            }
            _ => None,
        }
    }
}

impl fmt::Display for RData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RData::A { address } => write!(f, "{address}"),
            RData::AAAA { address } => write!(f, "{address}"),
            RData::CNAME { target } | RData::PTR { target } => f.write_str(target),
            RData::SRV {
                priority,
                weight,
                port,
                target,
            } => write!(f, "{priority} {weight} {port} {target}"),
            RData::TXT { text } => {
                // Zone-file quoting: backslash and quote are escaped; the
                // texts svcgen writes are plain, this only keeps it so.
                f.write_str("\"")?;
                for c in text.chars() {
                    match c {
                        '"' | '\\' => write!(f, "\\{c}")?,
                        c if c.is_ascii_graphic() || c == ' ' => write!(f, "{c}")?,
                        c => {
                            let mut buf = [0u8; 4];
                            for b in c.encode_utf8(&mut buf).bytes() {
                                write!(f, "\\{b:03}")?;
                            }
                        }
                    }
                }
                f.write_str("\"")
            }
        }
    }
}

/// One resource record, class IN.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Record {
    /// The owner name, fully qualified, with the trailing dot.
    pub name: String,
    /// Time to live, seconds.
    pub ttl: u32,
    /// The data (its `type` is serialised next to the name).
    #[serde(flatten)]
    pub data: RData,
}

impl Record {
    /// A record.
    pub fn new(name: impl Into<String>, ttl: u32, data: RData) -> Record {
        Record {
            name: name.into(),
            ttl,
            data,
        }
    }

    /// Its type.
    pub fn record_type(&self) -> RecordType {
        self.data.record_type()
    }

    /// Does the owner name equal `name` (case-insensitively, as DNS compares)?
    pub fn owned_by(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    fn sort_key(&self) -> (Vec<String>, u16, String, String) {
        (
            canonical_labels(&self.name),
            self.record_type().code(),
            match &self.data {
                // Addresses in numeric order, not text order.
                RData::A { address } => format!("{:010}", u32::from(*address)),
                RData::AAAA { address } => format!("{:039}", u128::from(*address)),
                RData::SRV { port, target, .. } => {
                    format!("{port:05} {}", target.to_ascii_lowercase())
                }
                d => d.to_string().to_ascii_lowercase(),
            },
            // Last, the exact text: equal records end up side by side.
            self.to_string(),
        )
    }
}

impl fmt::Display for Record {
    /// `owner. TTL IN TYPE rdata`, as in a zone file.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} IN {} {}",
            self.name,
            self.ttl,
            self.record_type(),
            self.data
        )
    }
}

/// The labels of a name in DNS canonical order (RFC 4034 6.1): last label
/// first, lower case.
fn canonical_labels(name: &str) -> Vec<String> {
    name.trim_end_matches('.')
        .rsplit('.')
        .map(|l| l.to_ascii_lowercase())
        .collect()
}

/// Sorts records in canonical order (by owner, labels compared right to
/// left, then type, then data) and removes duplicates: a zone is a set.
pub fn sort_records(records: &mut Vec<Record>) {
    records.sort_by_cached_key(Record::sort_key);
    records.dedup();
}

/// The reverse name of an address: `d.c.b.a.in-addr.arpa.`, or the 32
/// nibbles of the expanded IPv6 address, lowest first, under `ip6.arpa.`.
pub fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa.", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut out = String::with_capacity(72);
            for byte in v6.octets().iter().rev() {
                out.push_str(&format!("{:x}.{:x}.", byte & 0xf, byte >> 4));
            }
            out.push_str("ip6.arpa.");
            out
        }
    }
}

/// The address a reverse name stands for (the inverse of [`reverse_name`]).
pub fn parse_reverse_name(name: &str) -> Option<IpAddr> {
    let lower = name.trim_end_matches('.').to_ascii_lowercase();
    if let Some(rest) = lower.strip_suffix(".in-addr.arpa") {
        let parts: Vec<u8> = rest
            .split('.')
            .map(|p| p.parse().ok())
            .collect::<Option<_>>()?;
        let [d, c, b, a] = parts.as_slice() else {
            return None;
        };
        return Some(IpAddr::V4(Ipv4Addr::new(*a, *b, *c, *d)));
    }
    let rest = lower.strip_suffix(".ip6.arpa")?;
    let nibbles: Vec<u8> = rest
        .split('.')
        .map(|n| u8::from_str_radix(n, 16).ok().filter(|_| n.len() == 1))
        .collect::<Option<_>>()?;
    if nibbles.len() != 32 {
        return None;
    }
    let mut v: u128 = 0;
    for n in nibbles.iter().rev() {
        v = (v << 4) | u128::from(*n);
    }
    Some(IpAddr::V6(Ipv6Addr::from(v)))
}

/// Is `s` usable as one label of a name svcgen writes: 1-63 characters of
/// letters, digits and `-`? Names of valid objects always are; anything
/// else (spaces, dots, newlines) is refused so it cannot alter the listing.
pub fn is_label(s: &str) -> bool {
    (1..=63).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Is `s` a name of labels as [`is_label`] says, joined by dots (no
/// trailing dot), at most 253 characters?
pub fn is_domain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_names_round_trip() {
        for (ip, name) in [
            ("10.0.0.11", "11.0.0.10.in-addr.arpa."),
            (
                "2001:db8::1",
                "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.",
            ),
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(reverse_name(ip), name);
            assert_eq!(parse_reverse_name(name), Some(ip));
            assert_eq!(parse_reverse_name(&name.to_uppercase()), Some(ip));
        }
        assert_eq!(parse_reverse_name("1.2.3.in-addr.arpa."), None);
        assert_eq!(parse_reverse_name("10.in-addr.arpa.x"), None);
    }

    #[test]
    fn zone_file_lines() {
        let srv = Record::new(
            "_http._tcp.web.default.svc.cluster.local.",
            5,
            RData::SRV {
                priority: 0,
                weight: 50,
                port: 80,
                target: "web-0.web.default.svc.cluster.local.".into(),
            },
        );
        assert_eq!(
            srv.to_string(),
            "_http._tcp.web.default.svc.cluster.local. 5 IN SRV 0 50 80 web-0.web.default.svc.cluster.local."
        );
        let txt = Record::new(
            "dns-version.cluster.local.",
            28800,
            RData::TXT {
                text: "1.1.0".into(),
            },
        );
        assert_eq!(
            txt.to_string(),
            "dns-version.cluster.local. 28800 IN TXT \"1.1.0\""
        );
        let q = RData::TXT {
            text: "a\"b\\\n".into(),
        };
        assert_eq!(q.to_string(), "\"a\\\"b\\\\\\010\"");
    }

    #[test]
    fn labels() {
        assert!(is_label("web-0") && is_label("10-3-0-1") && is_label("fd00--0"));
        assert!(
            !is_label("") && !is_label("a.b") && !is_label("a b") && !is_label(&"a".repeat(64))
        );
        assert!(is_domain("cluster.local") && !is_domain("cluster..local") && !is_domain("x\n"));
    }
}
