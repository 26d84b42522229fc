//! IPVS: sysctls, the `kube-ipvs0` dummy interface and its addresses,
//! kube-proxy's ipsets, the iptables part, and the IPVS virtual and real
//! servers.
//!
//! The desired text is libsvc's whole `--mode ipvs` render of one family:
//! its `# ---- <family> <section>: …` headers split it into the sections
//! ([`Sections`]), each in its tool's own language. One apply, in an order
//! that keeps traffic working (things are added before anything refers to
//! them, and removed only after nothing does):
//!
//! 1. sysctls, written when they differ and the file is writable (else a warning);
//! 2. `ip -batch -`: create `kube-ipvs0` if missing, add missing addresses;
//! 3. `ipset restore -exist`: every set is created if missing; a set whose
//!    entries differ is refilled into a temporary set that is then `swap`ped
//!    with it (atomic per set: a packet sees the old or the new members,
//!    never a half-filled set, which flush + add would expose) and destroyed;
//! 4. `iptables-restore --noflush` via the iptables applier with the ipvs
//!    [`Profile`]: one atomic commit of kube-proxy's ipvs-mode chains;
//! 5. `ipvsadm-restore`: the virtual/real servers to add or edit (computed
//!    from `ipvsadm-save -n` by [`ipvs_commands`]), then the ones to delete;
//! 6. `ip -batch -`: stale kube-ipvs0 addresses removed;
//! 7. `ipset restore`: stale `KUBE-*` sets of this family destroyed (now
//!    that no rule refers to them).
//!
//! Owned: addresses on kube-ipvs0 (and the interface), `KUBE-*` ipsets, the
//! ipvs-mode `KUBE-*` chains and their jumps, and virtual servers whose
//! address is on kube-ipvs0 or whose port is a node port (a `KUBE-NODE-PORT-*`
//! set member). The kernel must have IPVS (`/proc/net/ip_vs`, or `modprobe
//! ip_vs` making it appear); many kernels, this project's CI included, have
//! none, and that is reported plainly at start instead of failing later.

use super::iptables::{Iptables, Profile};
use super::{Applier, ApplyError, ApplyKind, ApplyStats, Desired, Family, run};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

/// The dummy interface service addresses are bound to.
pub const DEVICE: &str = "kube-ipvs0";

/// The temporary set a changed set is refilled into before the swap.
const TMP_SET: &str = "KUBE-SVCGEN-TMP";

/// The IPVS applier.
#[derive(Debug)]
pub struct Ipvs {
    iptables: Iptables,
    /// The text last applied per family, to skip an unchanged non-full apply.
    last: BTreeMap<Family, String>,
}

impl Default for Ipvs {
    fn default() -> Self {
        Ipvs {
            iptables: Iptables::with_profile(Profile::ipvs()),
            last: BTreeMap::new(),
        }
    }
}

/// Is IPVS in the kernel (loading the module if needed)? The error says why not.
pub fn kernel_support() -> Result<(), String> {
    if Path::new("/proc/net/ip_vs").exists() {
        return Ok(());
    }
    let modprobe = match run("modprobe", &["ip_vs"], None) {
        Ok(_) if Path::new("/proc/net/ip_vs").exists() => return Ok(()),
        Ok(_) => "modprobe ip_vs succeeded but /proc/net/ip_vs is still absent".to_string(),
        Err(e) => e.to_string(),
    };
    Err(format!(
        "this kernel has no IPVS: /proc/net/ip_vs does not exist and loading the module failed ({modprobe}); use --mode nftables or --mode iptables"
    ))
}

/// One family's render, split by section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sections {
    /// `ipvsadm-save -n` lines.
    pub ipvs: String,
    /// `ipset restore` input.
    pub ipset: String,
    /// `iptables-restore` input.
    pub iptables: String,
    /// `ip -batch` lines.
    pub addresses: String,
    /// `sysctl -p` lines.
    pub sysctls: String,
}

impl Sections {
    /// Splits a `--mode ipvs` render at its `# ---- … <section>: …` headers.
    pub fn parse(text: &str) -> Result<Sections, ApplyError> {
        let mut out = Sections::default();
        let mut cur: Option<&mut String> = None;
        for line in text.lines() {
            if let Some(h) = line.strip_prefix("# ---- ") {
                let name = h
                    .split_whitespace()
                    .find_map(|w| w.strip_suffix(':'))
                    .unwrap_or("");
                cur = Some(match name {
                    "ipvs" => &mut out.ipvs,
                    "ipset" => &mut out.ipset,
                    "iptables" => &mut out.iptables,
                    "addresses" => &mut out.addresses,
                    "sysctls" => &mut out.sysctls,
                    _ => return Err(ApplyError::Rules(format!("unknown ipvs section: {line}"))),
                });
                continue;
            }
            match cur.as_deref_mut() {
                Some(s) => {
                    s.push_str(line);
                    s.push('\n');
                }
                None if line.trim().is_empty() => {}
                None => {
                    return Err(ApplyError::Rules(format!(
                        "ipvs rules: a line before any `# ---- … section:` header: {line}"
                    )));
                }
            }
        }
        Ok(out)
    }
}

fn family_of(ip: &IpAddr) -> Family {
    if ip.is_ipv4() { Family::V4 } else { Family::V6 }
}

// ---- sysctls -------------------------------------------------------------

/// Writes each `key = value` whose file differs; the ones that cannot be
/// written are returned (`key: why`) for the caller to report.
pub fn apply_sysctls(text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        // kube-proxy sets only `net.…` integers; anything else (a rendered
        // file could say anything) must not become a path or a value.
        let key_ok = key.starts_with("net.")
            && !key.contains("..")
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !key_ok || value.parse::<u64>().is_err() {
            problems.push(format!("{key}: not a kube-proxy sysctl, not set"));
            continue;
        }
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        if std::fs::read_to_string(&path).is_ok_and(|v| v.trim() == value) {
            continue;
        }
        if let Err(e) = std::fs::write(&path, value) {
            problems.push(format!("{key}: cannot set to {value}: {e}"));
        }
    }
    problems
}

// ---- kube-ipvs0 addresses ------------------------------------------------

/// The addresses the `addresses` section binds (`addr add IP/LEN dev kube-ipvs0`).
pub fn wanted_addresses(text: &str) -> Result<BTreeSet<IpAddr>, ApplyError> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            [] | ["link", "add", DEVICE, "type", "dummy"] => {}
            ["addr", "add", cidr, "dev", DEVICE] => {
                let ip = cidr.split('/').next().unwrap_or("");
                out.insert(ip.parse().map_err(|_| {
                    ApplyError::Rules(format!("ipvs addresses: bad address: {line}"))
                })?);
            }
            _ => {
                return Err(ApplyError::Rules(format!(
                    "ipvs addresses: only `addr add IP/LEN dev {DEVICE}` is applied: {line}"
                )));
            }
        }
    }
    Ok(out)
}

/// The addresses on kube-ipvs0 now; `None` when the interface does not exist.
pub fn kernel_addresses() -> Result<Option<BTreeSet<IpAddr>>, ApplyError> {
    if run("ip", &["link", "show", "dev", DEVICE], None).is_err() {
        return Ok(None);
    }
    let out = run("ip", &["-o", "addr", "show", "dev", DEVICE], None)?;
    Ok(Some(parse_ip_addr(&out)))
}

/// The addresses of `ip -o addr show` lines (`… inet 10.96.0.1/32 …`).
fn parse_ip_addr(text: &str) -> BTreeSet<IpAddr> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let mut w = line.split_whitespace();
        while let Some(x) = w.next() {
            if (x == "inet" || x == "inet6")
                && let Some(ip) = w.next().and_then(|c| c.split('/').next()?.parse().ok())
            {
                out.insert(ip);
            }
        }
    }
    out
}

/// `ip -batch` input: (adding the device and the missing addresses of
/// `family`, removing the stale ones of `family`). Other families'
/// addresses are another apply's business.
pub fn address_batches(
    kernel: Option<&BTreeSet<IpAddr>>,
    want: &BTreeSet<IpAddr>,
    family: Family,
) -> (String, String) {
    let empty = BTreeSet::new();
    let have = kernel.unwrap_or(&empty);
    let mut add = String::new();
    if kernel.is_none() {
        add.push_str(&format!("link add {DEVICE} type dummy\n"));
    }
    for ip in want.difference(have) {
        add.push_str(&format!("addr add {} dev {DEVICE}\n", host_cidr(ip)));
    }
    let mut del = String::new();
    for ip in have.difference(want).filter(|ip| family_of(ip) == family) {
        del.push_str(&format!("addr del {} dev {DEVICE}\n", host_cidr(ip)));
    }
    (add, del)
}

fn host_cidr(ip: &IpAddr) -> String {
    format!("{ip}/{}", if ip.is_ipv4() { 32 } else { 128 })
}

fn ip_batch(input: &str) -> Result<(), ApplyError> {
    if !input.is_empty() {
        run("ip", &["-batch", "-"], Some(input))?;
    }
    Ok(())
}

// ---- ipsets --------------------------------------------------------------

/// One ipset: its `create` line and its entries (as `ipset save` / `add` write them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Set {
    /// `create NAME TYPE …`.
    pub create: String,
    /// The members.
    pub entries: BTreeSet<String>,
}

/// Is this set one the agent owns?
pub fn owns_set(name: &str) -> bool {
    name.starts_with("KUBE-")
}

/// The family a kube-proxy set belongs to (the IPv6 proxier's are `KUBE-6-…`).
fn set_family(name: &str) -> Family {
    if name.starts_with("KUBE-6-") {
        Family::V6
    } else {
        Family::V4
    }
}

/// Reads `ipset restore` input or `ipset save` output: the owned sets by name.
pub fn parse_sets(text: &str) -> BTreeMap<String, Set> {
    let mut out: BTreeMap<String, Set> = BTreeMap::new();
    for line in text.lines() {
        let mut w = line.splitn(3, ' ');
        let (cmd, name, rest) = (w.next(), w.next(), w.next());
        let Some(name) = name.filter(|n| owns_set(n)) else {
            continue;
        };
        match (cmd, rest) {
            (Some("create"), _) => out.entry(name.to_string()).or_default().create = line.into(),
            (Some("add"), Some(e)) => {
                out.entry(name.to_string())
                    .or_default()
                    .entries
                    .insert(e.trim().to_string());
            }
            _ => {}
        }
    }
    out
}

/// `ipset restore -exist` input: (creating the wanted sets and refilling
/// the ones whose entries differ by temp-set swap, destroying the stale
/// owned sets of `family`). `kernel`: the kernel's owned sets.
pub fn ipset_batches(
    want: &BTreeMap<String, Set>,
    kernel: &BTreeMap<String, Set>,
    family: Family,
) -> (String, String) {
    let mut refresh = String::new();
    if kernel.contains_key(TMP_SET) {
        // Left by an interrupted apply.
        refresh.push_str(&format!("destroy {TMP_SET}\n"));
    }
    for (name, set) in want {
        let have = kernel.get(name);
        if have.is_some_and(|h| h.entries == set.entries) {
            continue;
        }
        if have.is_none() {
            refresh.push_str(&format!("{}\n", set.create));
        }
        if set.entries.is_empty() {
            refresh.push_str(&format!("flush {name}\n"));
            continue;
        }
        let tmp_create = set.create.replacen(name.as_str(), TMP_SET, 1);
        refresh.push_str(&format!("{tmp_create}\n"));
        for e in &set.entries {
            refresh.push_str(&format!("add {TMP_SET} {e}\n"));
        }
        refresh.push_str(&format!("swap {TMP_SET} {name}\ndestroy {TMP_SET}\n"));
    }
    let mut destroy = String::new();
    for name in kernel.keys() {
        if name != TMP_SET && !want.contains_key(name) && set_family(name) == family {
            destroy.push_str(&format!("flush {name}\ndestroy {name}\n"));
        }
    }
    (refresh, destroy)
}

/// `ipset restore` input creating `sets` with their entries.
fn sets_text(sets: &BTreeMap<String, Set>) -> String {
    let mut out = String::new();
    for (name, set) in sets {
        out.push_str(&format!("{}\n", set.create));
        for e in &set.entries {
            out.push_str(&format!("add {name} {e}\n"));
        }
    }
    out
}

fn kernel_sets() -> Result<BTreeMap<String, Set>, ApplyError> {
    Ok(parse_sets(&run("ipset", &["save"], None)?))
}

fn ipset_restore(input: &str) -> Result<(), ApplyError> {
    if !input.is_empty() {
        run("ipset", &["restore", "-exist"], Some(input))?;
    }
    Ok(())
}

// ---- IPVS virtual servers -------------------------------------------------

/// A virtual server as `ipvsadm-save -n` lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VirtualServer {
    /// The options after the address (`-s rr -p 10800`).
    pub options: String,
    /// Real server `addr:port` → its options (`-m -w 1`).
    pub reals: BTreeMap<String, String>,
}

/// (service flag `-t`/`-u`/`--sctp-service`, `addr:port`) → virtual server.
pub type VirtualServers = BTreeMap<(String, String), VirtualServer>;

/// Reads `ipvsadm-save -n` lines (fwmark services, which kube-proxy does
/// not use, are skipped).
pub fn parse_ipvsadm(text: &str) -> Result<VirtualServers, ApplyError> {
    let mut out = VirtualServers::new();
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            [] => {}
            ["-A", "-f", ..] | ["-a", "-f", ..] => {}
            ["-A", flag, addr, opts @ ..] => {
                out.entry((flag.to_string(), addr.to_string()))
                    .or_default()
                    .options = opts.join(" ");
            }
            ["-a", flag, addr, "-r", real, opts @ ..] => {
                out.entry((flag.to_string(), addr.to_string()))
                    .or_default()
                    .reals
                    .insert(real.to_string(), opts.join(" "));
            }
            _ => {
                return Err(ApplyError::Rules(format!(
                    "ipvs: cannot read this ipvsadm line: {line}"
                )));
            }
        }
    }
    Ok(out)
}

/// What the agent owns among virtual servers: those on these addresses
/// (kube-ipvs0's) or on these (flag, port) node ports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ownership {
    /// Service addresses (on kube-ipvs0).
    pub addresses: BTreeSet<IpAddr>,
    /// Node ports by service flag.
    pub node_ports: BTreeSet<(String, u16)>,
}

impl Ownership {
    /// Adds the node ports that kube-proxy's `KUBE-NODE-PORT-*` sets hold.
    pub fn add_node_ports(&mut self, sets: &BTreeMap<String, Set>) {
        for (name, set) in sets {
            let Some(base) = name
                .strip_prefix("KUBE-6-")
                .or_else(|| name.strip_prefix("KUBE-"))
            else {
                continue;
            };
            let flag = match base {
                "NODE-PORT-TCP" | "NODE-PORT-LOCAL-TCP" => "-t",
                "NODE-PORT-UDP" | "NODE-PORT-LOCAL-UDP" => "-u",
                b if b.starts_with("NODE-PORT-SCTP") || b.starts_with("NODE-PORT-LOCAL-SCTP") => {
                    "--sctp-service"
                }
                _ => continue,
            };
            for e in &set.entries {
                // bitmap:port `30080`, hash:ip,port `10.0.0.1,sctp:30080`.
                let port = e.rsplit(':').next().unwrap_or(e);
                if let Ok(p) = port.parse() {
                    self.node_ports.insert((flag.to_string(), p));
                }
            }
        }
    }

    /// Is this virtual server ours?
    pub fn owns(&self, flag: &str, addr: &str) -> bool {
        addr.parse::<SocketAddr>().is_ok_and(|a| {
            self.addresses.contains(&a.ip())
                || self.node_ports.contains(&(flag.to_string(), a.port()))
        })
    }
}

/// `ipvsadm-restore` input turning `current` into `want`: (adds and
/// edits, deletions of owned virtual servers and of real servers no longer
/// wanted). Foreign virtual servers are never named.
pub fn ipvs_commands(
    current: &VirtualServers,
    want: &VirtualServers,
    own: &Ownership,
) -> (String, String) {
    let (mut upsert, mut delete) = (String::new(), String::new());
    for ((flag, addr), w) in want {
        let svc = format!("{flag} {addr}");
        let have = current.get(&(flag.clone(), addr.clone()));
        match have {
            None => upsert.push_str(&format!("-A {svc} {}\n", w.options)),
            Some(h) if comparable(&h.options) != comparable(&w.options) => {
                upsert.push_str(&format!("-E {svc} {}\n", w.options))
            }
            Some(_) => {}
        }
        let no_reals = BTreeMap::new();
        let have_reals = have.map_or(&no_reals, |h| &h.reals);
        for (real, opts) in &w.reals {
            match have_reals.get(real) {
                None => upsert.push_str(&format!("-a {svc} -r {real} {opts}\n")),
                Some(o) if o != opts => upsert.push_str(&format!("-e {svc} -r {real} {opts}\n")),
                Some(_) => {}
            }
        }
        for real in have_reals.keys().filter(|r| !w.reals.contains_key(*r)) {
            delete.push_str(&format!("-d {svc} -r {real}\n"));
        }
    }
    for (flag, addr) in current.keys() {
        if own.owns(flag, addr) && !want.contains_key(&(flag.clone(), addr.clone())) {
            delete.push_str(&format!("-D {flag} {addr}\n"));
        }
    }
    (upsert, delete)
}

/// Options as compared: without the scheduler flags (`-b mh-port`), which
/// some `ipvsadm-save` versions do not print; they follow the scheduler
/// (kube-proxy sets them only for `mh`), whose change is still seen.
fn comparable(options: &str) -> String {
    let mut out = Vec::new();
    let mut words = options.split_whitespace();
    while let Some(w) = words.next() {
        if w == "-b" {
            words.next();
        } else {
            out.push(w);
        }
    }
    out.join(" ")
}

fn ipvsadm_restore(input: &str) -> Result<(), ApplyError> {
    if !input.is_empty() {
        run("ipvsadm-restore", &[], Some(input))?;
    }
    Ok(())
}

fn kernel_virtual_servers() -> Result<VirtualServers, ApplyError> {
    parse_ipvsadm(&run("ipvsadm-save", &["-n"], None)?)
}

// ---- the parts together --------------------------------------------------

/// Steps 2–4 and 6–7 of an apply (everything but sysctls and IPVS): the
/// kube-ipvs0 addresses, ipsets and iptables of `family`. `between` runs
/// after the additions and before the removals (the IPVS step). Returns
/// the bytes sent.
pub fn apply_host_part(
    iptables: &mut Iptables,
    family: Family,
    s: &Sections,
    full: bool,
    between: impl FnOnce(&Ownership) -> Result<usize, ApplyError>,
) -> Result<usize, ApplyError> {
    let want_addrs = wanted_addresses(&s.addresses)?;
    let kernel_addrs = kernel_addresses()?;
    let want_sets = parse_sets(&s.ipset);
    let have_sets = kernel_sets()?;
    let mut own = Ownership {
        addresses: want_addrs
            .iter()
            .chain(kernel_addrs.iter().flatten())
            .copied()
            .collect(),
        node_ports: BTreeSet::new(),
    };
    own.add_node_ports(&want_sets);
    own.add_node_ports(&have_sets);

    let (add, del) = address_batches(kernel_addrs.as_ref(), &want_addrs, family);
    let (refresh, destroy) = ipset_batches(&want_sets, &have_sets, family);
    let mut bytes = add.len() + del.len() + refresh.len() + destroy.len();
    ip_batch(&add)?;
    ipset_restore(&refresh)?;
    let desired = Desired {
        texts: vec![(family, s.iptables.clone())],
    };
    bytes += iptables.apply(&desired, full)?.bytes;
    bytes += between(&own)?;
    ip_batch(&del)?;
    ipset_restore(&destroy)?;
    Ok(bytes)
}

/// Removes the kube-ipvs0 interface, the owned ipsets and chains, and
/// (when `ipvs`) the owned virtual servers.
fn cleanup_all(iptables: &mut Iptables, ipvs: bool) -> Result<(), ApplyError> {
    let sets = kernel_sets()?;
    let mut own = Ownership {
        addresses: kernel_addresses()?.unwrap_or_default(),
        node_ports: BTreeSet::new(),
    };
    own.add_node_ports(&sets);
    if ipvs {
        let (_, delete) = ipvs_commands(&kernel_virtual_servers()?, &VirtualServers::new(), &own);
        ipvsadm_restore(&delete)?;
    }
    iptables.cleanup()?;
    if !own.addresses.is_empty() || run("ip", &["link", "show", "dev", DEVICE], None).is_ok() {
        ip_batch(&format!("link del {DEVICE}\n"))?;
    }
    let mut destroy = String::new();
    for name in sets.keys() {
        destroy.push_str(&format!("flush {name}\ndestroy {name}\n"));
    }
    ipset_restore(&destroy)
}

/// The owned state as sorted lines per section (iptables in its own
/// order): what `current` lists and `preview` predicts.
fn listing(
    sysctls: &str,
    addrs: &BTreeSet<IpAddr>,
    sets: &BTreeMap<String, Set>,
    iptables: &str,
    vs: &VirtualServers,
) -> String {
    let mut out = String::from("# sysctls\n");
    let mut lines: Vec<&str> = sysctls.lines().filter(|l| !l.trim().is_empty()).collect();
    lines.sort();
    for l in lines {
        out.push_str(&format!("{l}\n"));
    }
    out.push_str(&format!("# {DEVICE} addresses\n"));
    for ip in addrs {
        out.push_str(&format!("{}\n", host_cidr(ip)));
    }
    out.push_str("# ipsets\n");
    for (name, set) in sets {
        // The type, without the kernel's bucketsize/initval.
        let ty = set.create.split_whitespace().nth(2).unwrap_or("");
        out.push_str(&format!("{name} {ty}\n"));
        for e in &set.entries {
            out.push_str(&format!("{name} {e}\n"));
        }
    }
    out.push_str("# iptables\n");
    out.push_str(iptables);
    out.push_str("# ipvs\n");
    for ((flag, addr), v) in vs {
        out.push_str(&format!("-A {flag} {addr} {}\n", v.options));
        for (r, o) in &v.reals {
            out.push_str(&format!("-a {flag} {addr} -r {r} {o}\n"));
        }
    }
    out
}

impl Applier for Ipvs {
    fn check_support(&self) -> Result<(), ApplyError> {
        kernel_support().map_err(ApplyError::Unsupported)?;
        for tool in [
            ["ipvsadm-save", "-n"].as_slice(),
            &["ipset", "version"],
            &["ip", "-V"],
        ] {
            run(tool[0], &tool[1..], None).map_err(|e| {
                ApplyError::Unsupported(format!("ipvs mode needs {}: {e}", tool[0]))
            })?;
        }
        self.iptables.check_support()
    }

    fn apply(&mut self, desired: &Desired, full: bool) -> Result<ApplyStats, ApplyError> {
        let mut stats = ApplyStats::default();
        for (family, text) in &desired.texts {
            let family = *family;
            let s = Sections::parse(text)?;
            let want_vs = parse_ipvsadm(&s.ipvs)?;
            stats.rules.push((
                family,
                want_vs.values().map(|v| 1 + v.reals.len()).sum::<usize>()
                    + s.iptables.lines().filter(|l| l.starts_with("-A ")).count(),
            ));
            if !full && self.last.get(&family) == Some(text) {
                continue;
            }
            self.last.remove(&family);
            for p in apply_sysctls(&s.sysctls) {
                tracing::warn!(problem = %p, "sysctl not set");
            }
            stats.bytes += apply_host_part(&mut self.iptables, family, &s, full, |own| {
                let (upsert, delete) = ipvs_commands(&kernel_virtual_servers()?, &want_vs, own);
                ipvsadm_restore(&upsert)?;
                ipvsadm_restore(&delete)?;
                Ok(upsert.len() + delete.len())
            })?;
            stats.kind = ApplyKind::Full;
            self.last.insert(family, text.clone());
        }
        Ok(stats)
    }

    fn current(&self, family: Family) -> Result<String, ApplyError> {
        let sysctls = Sections::parse(self.last.get(&family).map_or("", |t| t))?.sysctls;
        let now: String = sysctls
            .lines()
            .filter_map(|l| {
                let key = l.split_once('=')?.0.trim();
                let v = std::fs::read_to_string(format!("/proc/sys/{}", key.replace('.', "/")));
                Some(format!(
                    "{key} = {}\n",
                    v.map_or("?".into(), |v| v.trim().to_string())
                ))
            })
            .collect();
        let addrs: BTreeSet<IpAddr> = kernel_addresses()?
            .unwrap_or_default()
            .into_iter()
            .filter(|ip| family_of(ip) == family)
            .collect();
        let mut sets = kernel_sets()?;
        sets.retain(|n, _| set_family(n) == family);
        let mut own = Ownership {
            addresses: addrs.clone(),
            node_ports: BTreeSet::new(),
        };
        own.add_node_ports(&sets);
        let mut vs = kernel_virtual_servers()?;
        vs.retain(|(flag, addr), _| own.owns(flag, addr));
        let iptables = self.iptables.current(family)?;
        Ok(listing(&now, &addrs, &sets, &iptables, &vs))
    }

    fn preview(&self, family: Family, text: &str) -> Result<String, ApplyError> {
        let s = Sections::parse(text)?;
        let sets = parse_sets(&s.ipset);
        Ok(listing(
            &s.sysctls,
            &wanted_addresses(&s.addresses)?,
            &sets,
            &self
                .iptables
                .preview_with_sets(family, &s.iptables, &sets_text(&sets))?,
            &parse_ipvsadm(&s.ipvs)?,
        ))
    }

    fn cleanup(&mut self) -> Result<(), ApplyError> {
        self.last.clear();
        cleanup_all(&mut self.iptables, kernel_support().is_ok())
    }
}

#[cfg(test)]
mod tests;
