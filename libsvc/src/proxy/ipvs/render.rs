//! [`IpvsRuleset`] → text, each section in its tool's own input format:
//! `ipvsadm-save -n` lines, `ipset restore` input, `iptables-restore`
//! input, `ip -batch` lines for kube-ipvs0 and `sysctl -p` lines.

use super::model::*;
use crate::config::IpFamily;
use crate::table::Protocol;
use std::fmt::{self, Display, Formatter, Write};

/// The sections `--section` can name.
pub const SECTIONS: [&str; 5] = ["ipvs", "ipset", "iptables", "addresses", "sysctls"];

/// ipvsadm's service option for a protocol.
fn service_flag(p: Protocol) -> &'static str {
    match p {
        Protocol::TCP => "-t",
        Protocol::UDP => "-u",
        Protocol::SCTP => "--sctp-service",
    }
}

impl Display for VirtualServer {
    /// `-A -t VIP:PORT -s SCHED [-b mh-port] [-p TIMEOUT]`, then one
    /// `-a … -r EP:PORT -m -w WEIGHT` line per real server.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let svc = format!("{} {}", service_flag(self.protocol), self.addr());
        write!(f, "-A {svc} -s {}", self.scheduler)?;
        if self.sched_flag_port {
            write!(f, " -b {}-port", self.scheduler)?;
        }
        if let Some(t) = self.persistence_timeout {
            write!(f, " -p {t}")?;
        }
        writeln!(f)?;
        for rs in &self.real_servers {
            writeln!(f, "-a {svc} -r {} -m -w {}", rs.addr(), rs.weight)?;
        }
        Ok(())
    }
}

impl Display for SetType {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Display for SetEntry {
    /// The entry as `ipset add` takes it (protocol in lower case, IPv6 bare).
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            SetEntry::Ip(ip) => write!(f, "{ip}"),
            SetEntry::IpPort(ip, p, port) => write!(f, "{ip},{}:{port}", p.lower()),
            SetEntry::IpPortIp(ip, p, port, ip2) => write!(f, "{ip},{}:{port},{ip2}", p.lower()),
            SetEntry::IpPortNet(ip, p, port, net) => {
                write!(f, "{ip},{}:{port},{}", p.lower(), net.trunc())
            }
            SetEntry::Port(port) => write!(f, "{port}"),
        }
    }
}

impl IpSet {
    /// The `create` line, with the arguments kube-proxy's `ipset create` uses.
    pub fn create_line(&self) -> String {
        match self.set_type {
            SetType::BitmapPort => {
                format!(
                    "create {} {} range 0-65535",
                    self.name,
                    self.set_type.as_str()
                )
            }
            _ => format!(
                "create {} {} family {} hashsize 1024 maxelem 65536",
                self.name,
                self.set_type.as_str(),
                match self.family {
                    IpFamily::IPv4 => "inet",
                    IpFamily::IPv6 => "inet6",
                }
            ),
        }
    }
}

impl Display for IpSet {
    /// A `#` line with the set's comment, `create`, then one `add` per entry.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        writeln!(f, "# {}: {}", self.name, self.comment)?;
        writeln!(f, "{}", self.create_line())?;
        for e in &self.entries {
            writeln!(f, "add {} {e}", self.name)?;
        }
        Ok(())
    }
}

/// A mark as kube-proxy formats it (Go `%#08x`: `0x00004000`).
fn mark_text(mark: u32) -> String {
    format!("0x{mark:08x}")
}

impl Display for Match {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Match::Source { net, negated } => {
                write!(f, "{}-s {net}", if *negated { "! " } else { "" })
            }
            Match::SourceIp(ip) => write!(f, "-s {ip}"),
            Match::InInterface { name, negated } => {
                write!(f, "{}-i {name}", if *negated { "! " } else { "" })
            }
            Match::Protocol(p) => write!(f, "-p {}", p.lower()),
            // Comments are kube-proxy's constants; quoted as kube-proxy does.
            Match::Comment(c) => write!(f, "-m comment --comment \"{c}\""),
            Match::Set { name, dirs } => write!(f, "-m set --match-set {name} {dirs}"),
            Match::NotPhysdevIsIn => f.write_str("-m physdev ! --physdev-is-in"),
            Match::AddrTypeLocal { dst, negated } => write!(
                f,
                "-m addrtype {}--{}-type LOCAL",
                if *negated { "! " } else { "" },
                if *dst { "dst" } else { "src" }
            ),
            Match::Mark { mark, negated } => {
                let m = mark_text(*mark);
                write!(
                    f,
                    "-m mark {}--mark {m}/{m}",
                    if *negated { "! " } else { "" }
                )
            }
            Match::CtState(s) => write!(f, "-m conntrack --ctstate {s}"),
            Match::Ipvs {
                vaddr,
                vproto,
                vport,
            } => write!(
                f,
                "-m ipvs --vaddr {vaddr} --vproto {} --vport {vport}",
                vproto.lower()
            ),
        }
    }
}

impl Display for Target {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Target::Jump(c) => write!(f, "-j {c}"),
            Target::Accept => f.write_str("-j ACCEPT"),
            Target::Return => f.write_str("-j RETURN"),
            Target::Drop => f.write_str("-j DROP"),
            Target::Reject => f.write_str("-j REJECT"),
            Target::Masquerade { random_fully } => {
                f.write_str("-j MASQUERADE")?;
                if *random_fully {
                    f.write_str(" --random-fully")?;
                }
                Ok(())
            }
            Target::MarkOr(m) => write!(f, "-j MARK --or-mark {}", mark_text(*m)),
            Target::MarkXor(m) => write!(f, "-j MARK --xor-mark {}", mark_text(*m)),
        }
    }
}

impl Display for Rule {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "-A {}", self.chain)?;
        for m in &self.matches {
            write!(f, " {m}")?;
        }
        write!(f, " {}", self.target)
    }
}

impl Display for Jump {
    /// `-I FROM -m comment --comment "…" -j TO`, as kube-proxy prepends it.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "-I {} -m comment --comment \"{}\" -j {}",
            self.from, self.comment, self.to
        )
    }
}

/// The `iptables-restore` input of one family; with `jumps`, the jumps
/// from the built-in chains are inserted too.
pub fn iptables_text(fr: &FamilyRuleset, jumps: bool) -> String {
    let mut out = String::new();
    for t in &fr.tables {
        let _ = writeln!(out, "*{}", t.name);
        for c in &t.chains {
            let _ = writeln!(out, ":{c} - [0:0]");
        }
        if jumps {
            for j in fr.jumps.iter().filter(|j| j.table == t.name) {
                let _ = writeln!(out, "{j}");
            }
        }
        for r in &t.rules {
            let _ = writeln!(out, "{r}");
        }
        let _ = writeln!(out, "COMMIT");
    }
    out
}

/// The `ipvsadm-save -n` lines of one family.
pub fn ipvs_text(fr: &FamilyRuleset) -> String {
    fr.virtual_servers.iter().map(|v| v.to_string()).collect()
}

/// The `ipset restore` input of one family: every set kube-proxy creates.
pub fn ipset_text(fr: &FamilyRuleset) -> String {
    fr.ipsets.iter().map(|s| s.to_string()).collect()
}

/// `ip -batch` lines: the dummy interface and its addresses.
pub fn addresses_text(fr: &FamilyRuleset) -> String {
    let mut out = String::from("link add kube-ipvs0 type dummy\n");
    for ip in &fr.bound_addresses {
        let len = if ip.is_ipv4() { 32 } else { 128 };
        let _ = writeln!(out, "addr add {ip}/{len} dev kube-ipvs0");
    }
    out
}

/// `sysctl -p` lines.
pub fn sysctls_text(rs: &IpvsRuleset) -> String {
    rs.sysctls
        .iter()
        .map(|s| format!("{} = {}\n", s.key.replace('/', "."), s.value))
        .collect()
}

fn section_text(rs: &IpvsRuleset, section: &str, jumps: bool) -> String {
    if section == "sysctls" {
        return sysctls_text(rs);
    }
    let mut out = String::new();
    let two = rs.families.len() > 1;
    for fr in &rs.families {
        // Two families in one section: a comment line tells them apart
        // (ip6tables-restore takes the IPv6 part).
        if two {
            let _ = writeln!(out, "# {}", fr.family);
        }
        out.push_str(&match section {
            "ipvs" => ipvs_text(fr),
            "ipset" => ipset_text(fr),
            "iptables" => iptables_text(fr, jumps),
            _ => addresses_text(fr),
        });
    }
    out
}

/// The text of `section` (one of [`SECTIONS`]), or every section under
/// `#` headers when `None`.
pub fn text(rs: &IpvsRuleset, section: Option<&str>, jumps: bool) -> String {
    if let Some(s) = section {
        return section_text(rs, s, jumps);
    }
    let mut out = String::new();
    for fr in &rs.families {
        let fam = fr.family;
        let tool = match fam {
            IpFamily::IPv4 => "iptables-restore",
            IpFamily::IPv6 => "ip6tables-restore",
        };
        let _ = writeln!(out, "# ---- {fam} ipvs: ipvsadm-save -n (ipvsadm-restore)");
        out.push_str(&ipvs_text(fr));
        let _ = writeln!(out, "# ---- {fam} ipset: ipset restore -exist");
        out.push_str(&ipset_text(fr));
        let _ = writeln!(out, "# ---- {fam} iptables: {tool} --noflush");
        out.push_str(&iptables_text(fr, jumps));
        let _ = writeln!(out, "# ---- {fam} addresses: ip -batch");
        out.push_str(&addresses_text(fr));
    }
    let _ = writeln!(out, "# ---- sysctls: sysctl -p");
    out.push_str(&sysctls_text(rs));
    out
}
