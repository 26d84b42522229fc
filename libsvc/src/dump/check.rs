//! `svcgen check`: a node's dumped kube-proxy rules against what
//! kube-proxy should program for the manifests on that node.
//!
//! Both sides are the generic model ([`super::model`]): the render is read
//! back from the text `svcgen render` prints (iptables with its jumps), the dump as read. Each is cut down to what
//! kube-proxy owns — iptables: the `KUBE-*` chains and the jumps to them
//! from the built-in chains; nftables: the tables `ip`/`ip6 kube-proxy`;
//! IPVS: virtual and real servers, the `KUBE-*` ipsets and the iptables
//! part — and compared as multisets of canonical items
//! ([`super::model::Rule::canonical`], set elements sorted), so order that
//! kube-proxy leaves random (set elements, chain order, the order of
//! `iptables-save`'s options) is never a difference. Each difference is
//! attributed to a Service port by the rule's comment, the chain it jumps
//! to, or the chain it sits in (kube-proxy names its nftables chains
//! `service-HASH-NS/NAME/PROTO/PORT`, and comments its iptables rules
//! `NS/NAME:PORT`).

use super::model::*;
use crate::Loaded;
use crate::render::{Mode, RenderOptions, render};
use serde::Serialize;
use std::collections::HashMap;
use std::net::IpAddr;

/// What is wrong with one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// kube-proxy should have programmed it; the node does not have it.
    Missing,
    /// The node has it in a chain, set or virtual server the manifests also
    /// give, but the manifests do not give it.
    Extra,
    /// The node has it where the manifests give nothing at all: left over
    /// from a Service, port or endpoint that is gone.
    Stale,
}

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// The Service port (`NS/NAME:PORT`, or `NS/NAME` for an unnamed
    /// port), when the item can be attributed to one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_port: Option<String>,
    /// Missing, extra or stale.
    pub kind: Kind,
    /// Where: `nat/KUBE-SVC-…`, `ip kube-proxy/service-…`, `set cluster-ips`, `ipvs`.
    pub place: String,
    /// What, in Kubernetes terms (`endpoint 10.244.2.7:8080`) or as written.
    pub item: String,
    /// The dump's `file:line` for an extra or stale item.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let who = self.service_port.as_deref().unwrap_or("(node)");
        let endpoint = self.item.starts_with("endpoint ");
        let how = match (self.kind, endpoint) {
            (Kind::Missing, true) => "in an EndpointSlice but not programmed".to_string(),
            (Kind::Missing, false) => "not programmed".to_string(),
            (_, true) => "programmed but not in any EndpointSlice".to_string(),
            (Kind::Extra, false) => "programmed but not in the manifests".to_string(),
            (Kind::Stale, false) => "stale: programmed for nothing in the manifests".to_string(),
        };
        write!(f, "{who}: {} {how} ({})", self.item, self.place)?;
        if let Some(at) = &self.at {
            write!(f, " at {at}")?;
        }
        Ok(())
    }
}

/// The result of a check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The proxy mode checked.
    pub mode: String,
    /// No difference.
    pub in_sync: bool,
    /// How many items of kube-proxy's were compared (rules, chains, set
    /// elements, servers) on the expected side.
    pub compared: usize,
    /// The differences, by Service port then place.
    pub differences: Vec<Difference>,
}

impl Report {
    /// The text form: one line per difference, then a summary.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for d in &self.differences {
            out.push_str(&d.to_string());
            out.push('\n');
        }
        if self.in_sync {
            out.push_str(&format!(
                "in sync: {} kube-proxy {} item(s) match the manifests\n",
                self.compared, self.mode
            ));
        } else {
            out.push_str(&format!(
                "drift: {} difference(s) in {} kube-proxy {} item(s)\n",
                self.differences.len(),
                self.compared,
                self.mode
            ));
        }
        out
    }
}

/// What kube-proxy of `mode` should program on the node of `loaded`, in
/// the generic model.
pub fn expected(loaded: &Loaded, mode: Mode) -> Result<Dump, String> {
    let mut dump = Dump::default();
    let mut diags = Vec::new();
    match mode {
        // what `svcgen render` prints (and the agent applies): the
        // iptables-restore text with the jumps from the built-in chains,
        // of the families of the input (`render::one_family_payload`)
        Mode::Iptables | Mode::Nftables => {
            let opts = RenderOptions {
                with_jumps: true,
                ..Default::default()
            };
            let text = render(loaded, mode, &opts).map_err(|e| e.to_string())?.text;
            let p = super::parse(&format!("render:{mode:?}"), &text);
            diags.extend(p.diagnostics);
            dump.tables.extend(p.tables);
        }
        Mode::Ipvs => {
            for section in ["ipvs", "ipset", "iptables"] {
                let opts = RenderOptions {
                    section: Some(section.into()),
                    with_jumps: true,
                    ..Default::default()
                };
                let text = render(loaded, mode, &opts).map_err(|e| e.to_string())?.text;
                let p = super::parse(&format!("render:ipvs-{section}"), &text);
                diags.extend(p.diagnostics);
                dump.tables.extend(p.tables);
                dump.ipsets.extend(p.ipsets);
                dump.ipvs.extend(p.ipvs);
            }
        }
        other => {
            return Err(format!(
                "svcgen check compares kube-proxy modes, not {other:?}"
            ));
        }
    }
    if let Some(d) = diags.first() {
        // svcgen's own render always reads back (dump_roundtrip); if not, say so.
        return Err(format!("the render did not read back: {d}"));
    }
    Ok(dump)
}

/// Checks the dump of a node against the manifests of `loaded` for `mode`.
pub fn check(loaded: &Loaded, mode: Mode, node: &Dump) -> Result<Report, String> {
    let want = expected(loaded, mode)?;
    Ok(compare_named(mode, &want, node, &virtual_servers(loaded)))
}

/// A virtual server's key: protocol, address (none: a node port on any
/// node address), port.
type VsKey = (String, Option<IpAddr>, u16);

/// The Service port of each virtual server kube-proxy's IPVS mode makes:
/// one per cluster IP, external IP and load-balancer IP, and per node
/// address for a node port (pkg/proxy/ipvs/proxier.go, `syncService`
/// callers in `syncProxyRules`).
fn virtual_servers(loaded: &Loaded) -> HashMap<VsKey, String> {
    let mut out = HashMap::new();
    for s in &loaded.table.services {
        for p in &s.ports {
            let name = if p.name.is_empty() {
                format!("{}/{}", s.namespace, s.name)
            } else {
                format!("{}/{}:{}", s.namespace, s.name, p.name)
            };
            let proto = p.protocol.as_str().to_lowercase();
            let ips = s
                .cluster_ips
                .iter()
                .copied()
                .chain(s.external_ips.iter().filter_map(|i| i.parse().ok()))
                .chain(s.lb_ingress.iter().map(|i| i.ip));
            for ip in ips {
                out.insert((proto.clone(), Some(ip), p.port), name.clone());
            }
            if let Some(np) = p.node_port {
                out.insert((proto.clone(), None, np), name.clone());
            }
        }
    }
    out
}

/// Chains other programs create under kube-proxy's prefix: kubelet's
/// canary and firewall chains (pkg/kubelet/kubelet_network_linux.go,
/// `syncIPTablesRules`), and kube-proxy's own canary
/// (pkg/proxy/iptables/proxier.go, `NewProxier`: `KUBE-PROXY-CANARY`, which
/// only tells kube-proxy the tables were flushed). They count only when the
/// expected side has them too.
const NOT_COMPARED: [&str; 4] = [
    "KUBE-KUBELET-CANARY",
    "KUBE-PROXY-CANARY",
    "KUBE-FIREWALL",
    "KUBE-MARK-DROP",
];

/// One comparable item.
#[derive(Debug, Clone)]
struct Item {
    /// Where (a chain, a set, `ipvs`).
    place: String,
    /// The canonical form (the comparison key, with `place`).
    canon: String,
    /// What, for people.
    what: String,
    /// The chain or set it belongs to (for stale / attribution).
    owner: String,
    /// A Service port named by the item itself (a comment, a chain name).
    service_port: Option<String>,
    /// A chain it jumps or goes to.
    target: Option<String>,
    /// `file:line`.
    at: String,
}

/// Compares two dumps restricted to kube-proxy's part of `mode`.
pub fn compare(mode: Mode, want: &Dump, got: &Dump) -> Report {
    compare_named(mode, want, got, &HashMap::new())
}

fn compare_named(mode: Mode, want: &Dump, got: &Dump, vs: &HashMap<VsKey, String>) -> Report {
    let keep = |name: &str, other: &Dump| {
        !NOT_COMPARED.contains(&name) || other.tables.iter().any(|t| t.chain(name).is_some())
    };
    let w = items(mode, want, &|_| true, vs);
    let g = items(mode, got, &|n| keep(n, want), vs);
    // the Service port of each chain/set that names one, from both sides
    let mut owners: HashMap<String, Option<String>> = HashMap::new();
    for i in w.iter().chain(&g).filter(|i| per_service_port(&i.owner)) {
        if let Some(sp) = &i.service_port {
            owners
                .entry(i.owner.clone())
                .and_modify(|o| {
                    if o.as_ref() != Some(sp) {
                        *o = None // a chain of several Service ports (KUBE-SERVICES)
                    }
                })
                .or_insert_with(|| Some(sp.clone()));
        }
    }
    let attribute = |i: &Item| -> Option<String> {
        i.service_port
            .clone()
            .or_else(|| {
                i.target
                    .as_ref()
                    .and_then(|t| owners.get(t).cloned().flatten())
            })
            .or_else(|| owners.get(&i.owner).cloned().flatten())
    };
    let mut count: HashMap<(&str, &str), i64> = HashMap::new();
    for i in &w {
        *count.entry((&i.place, &i.canon)).or_default() += 1;
    }
    let want_owners: std::collections::HashSet<&str> = w.iter().map(|i| i.owner.as_str()).collect();
    let mut diffs = Vec::new();
    for i in &g {
        let c = count.entry((&i.place, &i.canon)).or_default();
        if *c > 0 {
            *c -= 1;
            continue;
        }
        let kind = if want_owners.contains(i.owner.as_str()) {
            Kind::Extra
        } else {
            Kind::Stale
        };
        diffs.push(Difference {
            service_port: attribute(i),
            kind,
            place: i.place.clone(),
            item: i.what.clone(),
            at: Some(i.at.clone()),
        });
    }
    for i in &w {
        let c = count.entry((&i.place, &i.canon)).or_default();
        if *c > 0 {
            *c -= 1;
            diffs.push(Difference {
                service_port: attribute(i),
                kind: Kind::Missing,
                place: i.place.clone(),
                item: i.what.clone(),
                at: None,
            });
        }
    }
    diffs.sort_by(|a, b| {
        (&a.service_port, &a.place, a.kind, &a.item, &a.at).cmp(&(
            &b.service_port,
            &b.place,
            b.kind,
            &b.item,
            &b.at,
        ))
    });
    Report {
        mode: format!("{mode:?}").to_lowercase(),
        in_sync: diffs.is_empty(),
        compared: w.len(),
        differences: diffs,
    }
}

/// kube-proxy's part of a dump, as items. `keep` decides on KUBE-* chains
/// of [`NOT_COMPARED`].
fn items(
    mode: Mode,
    d: &Dump,
    keep: &dyn Fn(&str) -> bool,
    names: &HashMap<VsKey, String>,
) -> Vec<Item> {
    let mut out = Vec::new();
    for t in &d.tables {
        match (mode, t.origin) {
            (Mode::Iptables | Mode::Ipvs, Origin::Iptables) => iptables_items(t, keep, &mut out),
            (Mode::Nftables, Origin::Nft)
                if t.name == "kube-proxy" && matches!(t.family, Family::Ip | Family::Ip6) =>
            {
                nft_items(t, &mut out)
            }
            _ => {}
        }
    }
    if mode == Mode::Ipvs {
        for vs in &d.ipvs {
            let place = "ipvs".to_string();
            let name = format!("virtual server {} {}", vs.protocol.to_uppercase(), vs.addr);
            let at = format!("ipvsadm-save line {}", vs.pos.line);
            let proto = vs.protocol.to_lowercase();
            let port = vs.addr.port();
            let service_port = names
                .get(&(proto.clone(), Some(vs.addr.ip()), port))
                .or_else(|| names.get(&(proto, None, port)))
                .cloned();
            let mut sched = format!("scheduler {}", vs.scheduler);
            if let Some(p) = vs.persistent {
                sched.push_str(&format!(", persistent {p}"));
            }
            out.push(Item {
                place: place.clone(),
                canon: format!("{name} {sched}"),
                what: format!("{name} ({sched})"),
                owner: name.clone(),
                service_port: service_port.clone(),
                target: None,
                at: at.clone(),
            });
            for (real, weight) in &vs.reals {
                out.push(Item {
                    place: name.clone(),
                    canon: format!("{real} {weight}"),
                    what: format!("endpoint {real} (weight {weight})"),
                    owner: name.clone(),
                    service_port: service_port.clone(),
                    target: None,
                    at: at.clone(),
                });
            }
        }
        for s in d.ipsets.iter().filter(|s| s.name.starts_with("KUBE-")) {
            set_items(&format!("ipset {}", s.name), s, "ipset", &mut out);
        }
    }
    out
}

fn iptables_items(t: &Table, keep: &dyn Fn(&str) -> bool, out: &mut Vec<Item>) {
    // no family in the place: an `ip6tables-save` dump without an IPv6
    // address reads as IPv4; the canonical rules hold the addresses
    for c in &t.chains {
        let ours = c.name.starts_with("KUBE-");
        if ours && !keep(&c.name) {
            continue;
        }
        let place = format!("{}/{}", t.name, c.name);
        if ours {
            out.push(Item {
                place: place.clone(),
                canon: "chain".into(),
                what: format!("chain {}", c.name),
                owner: c.name.clone(),
                service_port: None,
                target: None,
                at: format!("{}:{}", t.file, c.pos.line),
            });
        }
        for r in &c.rules {
            let target = r.stmts.iter().find_map(|s| match s {
                Stmt::Verdict(Verdict::Jump(x) | Verdict::Goto(x)) => Some(x.clone()),
                _ => None,
            });
            // from a built-in chain, only the jumps into kube-proxy's chains
            if !ours
                && !target
                    .as_deref()
                    .is_some_and(|x| x.starts_with("KUBE-") && keep(x))
            {
                continue;
            }
            if target.as_deref().is_some_and(|x| !keep(x)) {
                continue;
            }
            out.push(rule_item(&place, &c.name, t, r, target));
        }
    }
}

fn rule_item(place: &str, chain: &str, t: &Table, r: &Rule, target: Option<String>) -> Item {
    let comment = r.matches.iter().find_map(|m| match m {
        Match::Comment(c) => c.split_whitespace().next().filter(|w| w.contains('/')),
        _ => None,
    });
    let dnat = r.stmts.iter().find_map(|s| match s {
        Stmt::Dnat(n) => Some(n.to_string()),
        _ => None,
    });
    // A Service chain's jump to an endpoint chain carries the endpoint in
    // its comment, `NS/NAME:PORT -> IP:PORT` (pkg/proxy/iptables/proxier.go
    // writeServiceToEndpointRules): a lost one reads as that endpoint.
    let jump_to_endpoint = target
        .as_deref()
        .is_some_and(|t| t.starts_with("KUBE-SEP-"))
        .then(|| {
            r.matches.iter().find_map(|m| match m {
                Match::Comment(c) => c
                    .trim_matches('"')
                    .split_once(" -> ")
                    .map(|(_, ep)| ep.trim().to_string()),
                _ => None,
            })
        })
        .flatten();
    Item {
        place: place.to_string(),
        canon: r.canonical(),
        what: match (dnat, jump_to_endpoint) {
            (Some(ep), _) => format!("endpoint {ep}"),
            (None, Some(ep)) => format!("jump to endpoint {ep}"),
            (None, None) => format!("rule `{}`", r.text.trim()),
        },
        owner: chain.to_string(),
        service_port: comment
            .map(|c| c.trim_matches('"').to_string())
            .or_else(|| nft_service_port(chain)),
        target,
        at: format!("{}:{}", t.file, r.pos.line),
    }
}

/// kube-proxy's nftables load balancing is one rule per Service port,
/// `dnat … to numgen random mod N map { 0 : A . P, … }`, or with session
/// affinity `numgen random mod N vmap { 0 : goto endpoint-…, … }`
/// (pkg/proxy/nftables/proxier.go writeServiceToEndpointRules): compared
/// as the rule's shape (the modulus only when it does not fit the slots)
/// plus one item per endpoint, so a changed or lost endpoint reads as
/// that endpoint and not as the whole rule.
fn numgen_items(place: &str, chain: &str, t: &Table, r: &Rule) -> Option<Vec<Item>> {
    let (modulus, elements) = r.stmts.iter().find_map(|s| match s {
        Stmt::DnatMap {
            modulus,
            map: SetRef::List(l),
        }
        | Stmt::Vmap {
            modulus: Some(modulus),
            map: SetRef::List(l),
            ..
        } => Some((*modulus, l)),
        _ => None,
    })?;
    let mut slots: Vec<u32> = elements
        .iter()
        .filter_map(|e| match e.key.as_slice() {
            [Value::Num(a, b)] if a == b => Some(*a),
            _ => None,
        })
        .collect();
    slots.sort_unstable();
    let fits = slots.len() == elements.len()
        && modulus as usize == slots.len()
        && slots.iter().enumerate().all(|(i, s)| *s as usize == i);
    let mut shape = r.clone();
    for s in &mut shape.stmts {
        if let Stmt::DnatMap { modulus: m, map }
        | Stmt::Vmap {
            modulus: Some(m),
            map,
            ..
        } = s
        {
            *map = SetRef::List(Vec::new());
            *m = if fits { 0 } else { *m };
        }
    }
    let mut canon = shape.canonical();
    if !fits {
        canon.push_str(&format!(" slots {slots:?}"));
    }
    let mut out = vec![Item {
        canon,
        ..rule_item(place, chain, t, r, None)
    }];
    for e in elements {
        let (what, target) = match &e.value {
            Some(MapValue::Nat(n)) => (format!("endpoint {n}"), None),
            Some(MapValue::Verdict(Verdict::Goto(c))) => (format!("goto {c}"), Some(c.clone())),
            Some(MapValue::Verdict(Verdict::Jump(c))) => (format!("jump {c}"), Some(c.clone())),
            _ => (format!("element {}", element(e)), None),
        };
        out.push(Item {
            canon: what.clone(),
            what,
            ..rule_item(place, chain, t, r, target)
        });
    }
    Some(out)
}

fn nft_items(t: &Table, out: &mut Vec<Item>) {
    let fam = t.family.as_str();
    for c in &t.chains {
        let place = format!("{fam} {}/{}", t.name, c.name);
        let mut decl = "chain".to_string();
        if let Some(b) = &c.base {
            decl = format!("chain {b:?}");
        }
        out.push(Item {
            place: place.clone(),
            canon: decl,
            what: format!("chain {}", c.name),
            owner: c.name.clone(),
            service_port: nft_service_port(&c.name),
            target: None,
            at: format!("{}:{}", t.file, c.pos.line),
        });
        for r in &c.rules {
            let target = r.stmts.iter().find_map(|s| match s {
                Stmt::Verdict(Verdict::Jump(x) | Verdict::Goto(x)) => Some(x.clone()),
                _ => None,
            });
            if let Some(split) = numgen_items(&place, &c.name, t, r) {
                out.extend(split);
                continue;
            }
            out.push(rule_item(&place, &c.name, t, r, target));
        }
    }
    for s in &t.sets {
        set_items(&format!("{fam} {}/{}", t.name, s.name), s, &t.file, out);
    }
}

fn set_items(place: &str, s: &Set, file: &str, out: &mut Vec<Item>) {
    out.push(Item {
        place: place.to_string(),
        canon: format!("set {} timeout {:?}", s.kind, s.timeout),
        what: format!("set {} ({})", s.name, s.kind),
        owner: s.name.clone(),
        service_port: None,
        target: None,
        at: file.to_string(),
    });
    for e in &s.elements {
        let target = match &e.value {
            Some(MapValue::Verdict(Verdict::Jump(x) | Verdict::Goto(x))) => Some(x.clone()),
            _ => None,
        };
        out.push(Item {
            place: place.to_string(),
            canon: format!("{e:?}"),
            what: format!("element {} of {}", element(e), s.name),
            owner: format!("element of {}", s.name),
            service_port: target.as_deref().and_then(nft_service_port),
            target,
            at: file.to_string(),
        });
    }
}

/// Is `chain` one kube-proxy makes per Service port (or per endpoint)?
/// iptables: `servicePortChainName`, `servicePortEndpointChainName`,
/// `externalTrafficChainName`, `serviceFirewallChainName`,
/// `servicePortPolicyClusterChain`, `servicePortPolicyLocalChainName` in
/// pkg/proxy/iptables/proxier.go; nftables: the names of
/// [`nft_service_port`]. Shared chains (KUBE-SERVICES, KUBE-NODEPORTS,
/// `services`) are never attributed as a whole, even with one Service.
fn per_service_port(chain: &str) -> bool {
    [
        "KUBE-SVC-",
        "KUBE-SEP-",
        "KUBE-EXT-",
        "KUBE-FW-",
        "KUBE-SVL-",
    ]
    .iter()
    .any(|p| chain.starts_with(p))
        || nft_service_port(chain).is_some()
        || chain.starts_with("virtual server ")
}

/// An element as nft writes it: `10.96.0.10 . udp . 53 : goto service-…`.
fn element(e: &Element) -> String {
    let key: Vec<String> = e
        .key
        .iter()
        .map(|v| match v {
            Value::Addr(AddrItem::Net(n)) if n.prefix_len() == n.max_prefix_len() => {
                n.addr().to_string()
            }
            Value::Addr(AddrItem::Net(n)) => n.to_string(),
            Value::Addr(AddrItem::Range(a, b)) => format!("{a}-{b}"),
            Value::Num(a, b) if a == b => a.to_string(),
            Value::Num(a, b) => format!("{a}-{b}"),
            Value::Proto(p) | Value::Name(p) => p.clone(),
        })
        .collect();
    let mut s = key.join(" . ");
    match &e.value {
        Some(MapValue::Verdict(Verdict::Jump(c))) => s.push_str(&format!(" : jump {c}")),
        Some(MapValue::Verdict(Verdict::Goto(c))) => s.push_str(&format!(" : goto {c}")),
        Some(MapValue::Verdict(v)) => s.push_str(&format!(" : {v:?}").to_lowercase()),
        Some(MapValue::Nat(n)) => s.push_str(&format!(" : {n}")),
        None => {}
    }
    s
}

/// The Service port in a kube-proxy nftables chain name:
/// `service-HASH-NS/NAME/PROTO/PORT`, `endpoint-HASH-NS/NAME/PROTO/PORT__IP/PORT`,
/// `external-…`, `firewall-…` (pkg/proxy/nftables/proxier.go,
/// `servicePortChainNameBase`, `servicePortEndpointChainNameBase`).
fn nft_service_port(chain: &str) -> Option<String> {
    let (prefix, rest) = chain.split_once('-')?;
    if !matches!(prefix, "service" | "endpoint" | "external" | "firewall") {
        return None;
    }
    let (_hash, rest) = rest.split_once('-')?;
    let rest = rest.split("__").next()?;
    let parts: Vec<&str> = rest.split('/').collect();
    let [ns, name, _proto, port] = parts[..] else {
        return None;
    };
    // an unnamed port appears as its empty name
    Some(if port.is_empty() {
        format!("{ns}/{name}")
    } else {
        format!("{ns}/{name}:{port}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nft_chain_names_give_service_ports() {
        // pkg/proxy/nftables/proxier.go servicePortChainNameBase /
        // servicePortEndpointChainNameBase
        assert_eq!(
            nft_service_port("service-ULMVA6XW-ns1/svc1/tcp/p80").as_deref(),
            Some("ns1/svc1:p80")
        );
        assert_eq!(
            nft_service_port("endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80").as_deref(),
            Some("ns1/svc1:p80")
        );
        assert_eq!(
            nft_service_port("external-X-default/web/tcp/").as_deref(),
            Some("default/web")
        );
        assert_eq!(nft_service_port("services"), None);
        assert_eq!(nft_service_port("cluster-ips-check"), None);
    }

    fn nft(text: &str) -> Dump {
        let p = super::super::parse("node.nft", text);
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        Dump {
            tables: p.tables,
            ..Default::default()
        }
    }

    #[test]
    fn element_order_is_not_a_difference_and_a_lost_endpoint_is() {
        let a = nft(
            "table ip kube-proxy {\n map service-ips {\n  type ipv4_addr . inet_proto . inet_service : verdict\n  elements = { 10.96.0.1 . tcp . 443 : goto service-A-default/kubernetes/tcp/https, 10.96.0.10 . udp . 53 : goto service-B-kube-system/kube-dns/udp/dns }\n }\n chain service-B-kube-system/kube-dns/udp/dns {\n  ip daddr 10.96.0.10 udp dport 53 jump endpoint-C-kube-system/kube-dns/udp/dns__10.244.0.5/53\n }\n chain endpoint-C-kube-system/kube-dns/udp/dns__10.244.0.5/53 {\n  meta l4proto udp dnat to 10.244.0.5:53\n }\n chain service-A-default/kubernetes/tcp/https {\n }\n}\n",
        );
        let b = nft(
            "table ip kube-proxy {\n map service-ips {\n  type ipv4_addr . inet_proto . inet_service : verdict\n  elements = { 10.96.0.10 . udp . 53 : goto service-B-kube-system/kube-dns/udp/dns, 10.96.0.1 . tcp . 443 : goto service-A-default/kubernetes/tcp/https }\n }\n chain service-A-default/kubernetes/tcp/https {\n }\n chain service-B-kube-system/kube-dns/udp/dns {\n  ip daddr 10.96.0.10 udp dport 53 jump endpoint-C-kube-system/kube-dns/udp/dns__10.244.0.5/53\n }\n chain endpoint-C-kube-system/kube-dns/udp/dns__10.244.0.5/53 {\n  meta l4proto udp dnat to 10.244.0.9:53\n }\n}\n",
        );
        assert!(compare(Mode::Nftables, &a, &a).in_sync);
        let r = compare(Mode::Nftables, &a, &b);
        let lines: Vec<String> = r.differences.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            lines,
            [
                "kube-system/kube-dns:dns: endpoint 10.244.0.5:53 in an EndpointSlice but not programmed (ip kube-proxy/endpoint-C-kube-system/kube-dns/udp/dns__10.244.0.5/53)",
                "kube-system/kube-dns:dns: endpoint 10.244.0.9:53 programmed but not in any EndpointSlice (ip kube-proxy/endpoint-C-kube-system/kube-dns/udp/dns__10.244.0.5/53) at node.nft:12",
            ]
        );
    }

    #[test]
    fn other_tables_are_not_compared() {
        let a = nft("table ip kube-proxy {\n chain services {\n }\n}\n");
        let b = nft(
            "table ip kube-proxy {\n chain services {\n }\n}\ntable ip filter {\n chain input {\n  type filter hook input priority 0; policy drop;\n }\n}\ntable ip6 kube-proxy {\n chain services {\n }\n}\n",
        );
        let r = compare(Mode::Nftables, &a, &b);
        // the ip6 table is kube-proxy's: its chain is stale; filter is not ours
        assert_eq!(r.differences.len(), 1, "{r:#?}");
        assert_eq!(r.differences[0].kind, Kind::Extra);
        assert_eq!(r.differences[0].place, "ip6 kube-proxy/services");
    }

    /// writeServiceToEndpointRules (pkg/proxy/nftables/proxier.go): the
    /// numgen DNAT map is compared endpoint by endpoint; slot order is not
    /// a difference, a modulus that does not fit its slots is.
    #[test]
    fn numgen_maps_compare_by_endpoint() {
        let chain = |map: &str| {
            nft(&format!(
                "table ip kube-proxy {{\n chain service-A-default/web/tcp/http {{\n  meta l4proto tcp dnat ip addr . port to numgen random mod {map}\n }}\n}}\n"
            ))
        };
        let want = chain("2 map { 0 : 10.244.1.30 . 8080 , 1 : 10.244.2.31 . 8080 }");
        let lines = |got: &Dump| -> Vec<String> {
            compare(Mode::Nftables, &want, got)
                .differences
                .iter()
                .map(|d| d.to_string())
                .collect()
        };
        let swapped = chain("2 map { 0 : 10.244.2.31 . 8080 , 1 : 10.244.1.30 . 8080 }");
        assert_eq!(lines(&swapped), Vec::<String>::new());
        let changed = chain("2 map { 0 : 10.244.1.30 . 8080 , 1 : 10.244.2.7 . 8080 }");
        assert_eq!(
            lines(&changed),
            [
                "default/web:http: endpoint 10.244.2.31:8080 in an EndpointSlice but not programmed (ip kube-proxy/service-A-default/web/tcp/http)",
                "default/web:http: endpoint 10.244.2.7:8080 programmed but not in any EndpointSlice (ip kube-proxy/service-A-default/web/tcp/http) at node.nft:3",
            ]
        );
        let lost = chain("1 map { 0 : 10.244.1.30 . 8080 }");
        assert_eq!(lines(&lost).len(), 1, "{:?}", lines(&lost));
        // one slot never taken: a third of the connections go nowhere
        let unfit = chain("3 map { 0 : 10.244.1.30 . 8080 , 1 : 10.244.2.31 . 8080 }");
        let l = lines(&unfit);
        assert_eq!(l.len(), 2, "{l:?}");
        assert!(
            l.iter().all(|x| x.contains("rule `meta l4proto tcp dnat")),
            "{l:?}"
        );
    }
}
