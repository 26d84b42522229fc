//! The kube-proxy IPVS corpus (`tests/conformance/ipvs`, see its README):
//! each case rendered through `libsvc` and compared as the README says —
//! whole IPVS tables for `complete` cases, the listed sets, chains and
//! virtual servers for `partial` ones, kube-ipvs0 addresses where given.

mod common;
mod ipvs_parse;

use common::Case;
use ipvs_parse::{Line, Service};
use libsvc::proxy::ipvs::{build, model::*, render};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Failures written down in docs/differences.md ("IPVS mode").
const KNOWN: &[&str] = &[];

/// Virtual servers keyed by service: the `-A` line and the `-a` lines.
type Table = BTreeMap<Service, (String, BTreeSet<String>)>;

fn ipvs_table(text: &str) -> Result<Table, String> {
    let clean: String = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut out = Table::new();
    for (line, raw) in ipvs_parse::parse(&clean)?.into_iter().zip(clean.lines()) {
        match line {
            Line::Add { svc, .. } => {
                out.insert(svc, (raw.to_string(), BTreeSet::new()));
            }
            Line::Real { svc, .. } => {
                if let Some(e) = out.get_mut(&svc) {
                    e.1.insert(raw.to_string());
                }
            }
        }
    }
    Ok(out)
}

fn target_name(t: &Target) -> String {
    match t {
        Target::Jump(c) => c.to_string(),
        Target::Accept => "ACCEPT".into(),
        Target::Return => "RETURN".into(),
        Target::Drop => "DROP".into(),
        Target::Reject => "REJECT".into(),
        Target::Masquerade { .. } => "MASQUERADE".into(),
        Target::MarkOr(_) | Target::MarkXor(_) => "MARK".into(),
    }
}

/// The case's node addresses: `node.ips`, or when the case gives only
/// `node.interfaces` (019, which restricts nodePortAddresses to a CIDR),
/// the interface addresses — what kube-proxy reads from the interfaces.
fn load(case: &Case) -> libsvc::Loaded {
    let (stream, mut overrides) = case.stream();
    let node = &case.meta["node"];
    if node["ips"].as_array().is_none_or(|a| a.is_empty()) {
        for iface in node["interfaces"].as_array().into_iter().flatten() {
            for a in iface["addresses"].as_array().into_iter().flatten() {
                let a = a.as_str().unwrap_or_default();
                if let Ok(net) = a.parse::<ipnet::IpNet>() {
                    overrides.node_ips.push(net.addr());
                }
            }
        }
    }
    libsvc::load(
        &[libsvc::Input::new(
            format!("{}/input.yaml", case.name),
            stream,
        )],
        &overrides,
    )
}

fn check(case: &Case) -> Result<(), String> {
    let loaded = load(case);
    let rs = build::build(&loaded.table, &loaded.settings).map_err(|e| e.0)?;
    let fr = rs.families.first().ok_or("no family rendered")?;
    let exp = &case.meta["expected"];
    let mut errors = Vec::new();

    // IPVS: every virtual server with exactly its real servers.
    let actual = ipvs_table(&render::ipvs_text(fr)).map_err(|e| format!("our ipvs text: {e}"))?;
    let want = ipvs_table(&case.file("expected.ipvs")).map_err(|e| format!("expected: {e}"))?;
    if actual != want {
        let missing: Vec<_> = want
            .iter()
            .filter(|(k, v)| actual.get(k) != Some(v))
            .collect();
        let extra: Vec<_> = actual.keys().filter(|k| !want.contains_key(k)).collect();
        errors.push(format!(
            "ipvs ({}): wrong or missing {missing:?}; extra {extra:?}",
            exp["ipvs"]["coverage"].as_str().unwrap_or("?")
        ));
    }

    // ipsets: the listed sets, create line and entries.
    if exp["ipset"].is_object() {
        let text = case.file("expected.ipset");
        for name in exp["ipset"]["sets"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap_or_default();
            let Some(set) = fr.ipsets.iter().find(|s| s.name == name) else {
                errors.push(format!("ipset {name}: not created"));
                continue;
            };
            let want_create = text
                .lines()
                .find(|l| l.starts_with(&format!("create {name} ")))
                .unwrap_or_default();
            if set.create_line() != want_create {
                errors.push(format!(
                    "ipset {name}: {:?} != {want_create:?}",
                    set.create_line()
                ));
            }
            let want: BTreeSet<&str> = text
                .lines()
                .filter_map(|l| l.strip_prefix(&format!("add {name} ")))
                .collect();
            let got: Vec<String> = set.entries.iter().map(|e| e.to_string()).collect();
            let got: BTreeSet<&str> = got.iter().map(String::as_str).collect();
            if got != want {
                errors.push(format!("ipset {name}: entries {got:?}, want {want:?}"));
            }
        }
    }

    // iptables: per listed chain, nat rules then filter rules, compared by
    // jump target and set name; and every rule line of the file verbatim.
    if exp["iptables"].is_object() {
        let first_only = exp["iptables"]["asserted"]
            .as_str()
            .is_some_and(|a| a.contains("first rule"));
        for ch in exp["iptables"]["chains"].as_array().into_iter().flatten() {
            let chain = ch["chain"].as_str().unwrap_or_default();
            let want: Vec<(String, String, Option<String>)> = ch["rules"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| {
                    (
                        r["table"].as_str().unwrap_or_default().to_string(),
                        r["jump"].as_str().unwrap_or_default().to_string(),
                        r["matchSet"].as_str().map(String::from),
                    )
                })
                .collect();
            let mut got: Vec<(String, String, Option<String>)> = Vec::new();
            for t in &fr.tables {
                for r in t.rules.iter().filter(|r| r.chain == chain) {
                    let set = r.matches.iter().find_map(|m| match m {
                        Match::Set { name, .. } => Some(name.clone()),
                        _ => None,
                    });
                    got.push((t.name.to_string(), target_name(&r.target), set));
                }
            }
            if first_only {
                got.truncate(1);
            }
            if got != want {
                errors.push(format!("iptables {chain}: {got:?}\n  want {want:?}"));
            }
        }
        let ours = render::iptables_text(fr, false);
        for l in case.file("expected.iptables").lines() {
            if l.starts_with("-A ") && !ours.lines().any(|o| o == l) {
                errors.push(format!("iptables: no rule {l:?}"));
            }
        }
    }

    // kube-ipvs0 addresses.
    if let Some(addrs) = exp["kubeIpvs0Addresses"]["addresses"].as_array() {
        let want: Vec<String> = addrs
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect();
        let got: Vec<String> = fr.bound_addresses.iter().map(|a| a.to_string()).collect();
        if got != want {
            errors.push(format!("kube-ipvs0: {got:?}, want {want:?}"));
        }
    }

    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}

#[test]
fn ipvs_conformance() {
    let results: Vec<(String, Result<(), String>)> = common::cases("ipvs")
        .iter()
        .map(|c| (c.name.clone(), check(c)))
        .collect();
    assert!(!results.is_empty());
    common::report("ipvs", &results, KNOWN);
}

/// Our rendered ipvs text always passes the strict parser, for every case.
#[test]
fn rendered_ipvs_text_is_strict_ipvsadm_save() {
    for case in common::cases("ipvs") {
        let loaded = load(&case);
        let rs = build::build(&loaded.table, &loaded.settings).unwrap();
        for fr in &rs.families {
            ipvs_parse::parse(&render::ipvs_text(fr))
                .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        }
    }
}
