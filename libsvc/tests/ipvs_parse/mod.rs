//! A strict parser of the `ipvsadm-save -n` lines svcgen writes (this
//! kernel has no IPVS, so the format is checked here instead): every token
//! must be where ipvsadm puts it, addresses canonical, IPv6 in brackets.
#![allow(dead_code)]

use std::net::SocketAddr;

/// A virtual service: protocol flag and address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Service {
    /// `-t`, `-u` or `--sctp-service`.
    pub proto: String,
    /// `VIP:PORT`.
    pub addr: SocketAddr,
}

/// One line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// `-A SVC -s SCHED [-b FLAGS] [-p TIMEOUT]`.
    Add {
        /// The service.
        svc: Service,
        /// The scheduler.
        sched: String,
        /// `-b` flags.
        flags: Option<String>,
        /// `-p` timeout.
        persistent: Option<u32>,
    },
    /// `-a SVC -r RIP:PORT -m -w WEIGHT`.
    Real {
        /// The service.
        svc: Service,
        /// The real server.
        addr: SocketAddr,
        /// The weight.
        weight: u32,
    },
}

fn sock(s: &str) -> Result<SocketAddr, String> {
    let a: SocketAddr = s.parse().map_err(|_| format!("bad address {s:?}"))?;
    // Canonical spelling only (what ipvsadm -n prints).
    if a.to_string() != s {
        return Err(format!("non-canonical address {s:?}"));
    }
    if a.ip().is_ipv6() && !s.starts_with('[') {
        return Err(format!("IPv6 without brackets {s:?}"));
    }
    Ok(a)
}

fn number<T: std::str::FromStr>(s: Option<&str>, what: &str) -> Result<T, String> {
    let s = s.ok_or_else(|| format!("missing {what}"))?;
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return Err(format!("bad {what} {s:?}"));
    }
    s.parse().map_err(|_| format!("bad {what} {s:?}"))
}

const SCHEDULERS: [&str; 11] = [
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "sh", "dh", "sed", "nq", "mh",
];

/// Parses one line strictly.
pub fn parse_line(line: &str) -> Result<Line, String> {
    if line != line.trim() || line.contains("  ") || line.contains('\t') {
        return Err(format!("stray blanks in {line:?}"));
    }
    let mut t = line.split(' ');
    let op = t.next().unwrap_or_default();
    let proto = t.next().ok_or("missing protocol")?;
    if !matches!(proto, "-t" | "-u" | "--sctp-service") {
        return Err(format!("bad protocol flag {proto:?}"));
    }
    let svc = Service {
        proto: proto.into(),
        addr: sock(t.next().ok_or("missing service address")?)?,
    };
    let line = match op {
        "-A" => {
            if t.next() != Some("-s") {
                return Err("expected -s".into());
            }
            let sched = t.next().ok_or("missing scheduler")?.to_string();
            if !SCHEDULERS.contains(&sched.as_str()) {
                return Err(format!("unknown scheduler {sched:?}"));
            }
            let mut rest: Vec<&str> = t.collect();
            let mut flags = None;
            if rest.first() == Some(&"-b") {
                let f = rest.get(1).ok_or("missing -b flags")?;
                if !matches!(*f, "sh-fallback" | "sh-port" | "mh-fallback" | "mh-port") {
                    return Err(format!("bad flags {f:?}"));
                }
                flags = Some(f.to_string());
                rest.drain(..2);
            }
            let mut persistent = None;
            if rest.first() == Some(&"-p") {
                persistent = Some(number(rest.get(1).copied(), "timeout")?);
                rest.drain(..2);
            }
            if !rest.is_empty() {
                return Err(format!("trailing {rest:?}"));
            }
            Line::Add {
                svc,
                sched,
                flags,
                persistent,
            }
        }
        "-a" => {
            if t.next() != Some("-r") {
                return Err("expected -r".into());
            }
            let addr = sock(t.next().ok_or("missing real server")?)?;
            if addr.ip().is_ipv4() != svc.addr.ip().is_ipv4() {
                return Err("real server of another family".into());
            }
            if t.next() != Some("-m") {
                return Err("expected -m".into());
            }
            if t.next() != Some("-w") {
                return Err("expected -w".into());
            }
            let weight = number(t.next(), "weight")?;
            if let Some(x) = t.next() {
                return Err(format!("trailing {x:?}"));
            }
            Line::Real { svc, addr, weight }
        }
        _ => return Err(format!("bad command {op:?}")),
    };
    Ok(line)
}

/// Parses a whole text (no comments, no blank lines): every real server
/// must follow its own virtual service, and no service may repeat.
pub fn parse(text: &str) -> Result<Vec<Line>, String> {
    let mut out = Vec::new();
    let mut seen: Vec<Service> = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let line = parse_line(l).map_err(|e| format!("line {}: {e}", i + 1))?;
        match &line {
            Line::Add { svc, .. } => {
                if seen.contains(svc) {
                    return Err(format!("line {}: service repeated", i + 1));
                }
                seen.push(svc.clone());
            }
            Line::Real { svc, .. } => {
                if seen.last() != Some(svc) {
                    return Err(format!("line {}: real server outside its service", i + 1));
                }
            }
        }
        out.push(line);
    }
    Ok(out)
}
