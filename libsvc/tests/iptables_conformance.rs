//! kube-proxy iptables conformance: every case of `conformance/iptables/`
//! rendered and compared the way kube-proxy's unit tests compare
//! (`compare.py`), and every `flows.yaml` packet traced.

mod common;
#[path = "common/iptables.rs"]
mod ipt;

use libsvc::render::{Mode, RenderOptions, render};
use libsvc::table::Protocol;
use libsvc::trace::{Packet, trace};
use serde_json::Value;

/// Cases that fail for a documented reason (docs/differences.md, "iptables").
const KNOWN: &[&str] = &[];
const KNOWN_FLOWS: &[&str] = &[];

fn rendered(case: &common::Case) -> Result<String, String> {
    let loaded = case.load();
    render(&loaded, Mode::Iptables, &RenderOptions::default())
        .map(|r| r.text)
        .map_err(|e| e.to_string())
}

fn check(case: &common::Case, cmp: &Value, actual: &str) -> Result<(), String> {
    let mode = cmp["mode"].as_str().unwrap_or("");
    let expected = || case.file(cmp["expected"].as_str().unwrap_or("expected.txt"));
    match mode {
        "full-dump" => {
            let e = ipt::normalise(&expected())?;
            let a = ipt::normalise(actual)?;
            if e != a {
                return Err(format!(
                    "full dump differs: {}",
                    common::first_difference(&e, &a)
                ));
            }
            if cmp["checkConsistency"].as_bool() == Some(true) {
                ipt::check_jumps(actual)?;
            }
            Ok(())
        }
        "chain" => {
            let table = cmp["table"].as_str().unwrap_or("");
            let chain = cmp["chain"].as_str().unwrap_or("");
            let a = ipt::chain_rules(actual, table, chain)?;
            let e = expected();
            let e = e.trim_start_matches([' ', '\t', '\n']);
            if e != a {
                return Err(format!(
                    "{table}:{chain} differs: {}",
                    common::first_difference(e, &a)
                ));
            }
            Ok(())
        }
        "rule-presence" => {
            let table = cmp["table"].as_str().unwrap_or("");
            let chain = cmp["chain"].as_str().unwrap_or("");
            let dest = cmp["destination"].as_str().unwrap_or("");
            let present = cmp["present"].as_bool().unwrap_or(true);
            let rules = ipt::chain_rules(actual, table, chain)?;
            let found = rules
                .lines()
                .any(|r| ipt::destination_of(r).as_deref() == Some(dest));
            if found != present {
                return Err(format!(
                    "{table}:{chain}: rule with -d {dest} present={found}, expected {present}"
                ));
            }
            Ok(())
        }
        "endpoint-rules" => {
            let lines: Vec<&str> = actual
                .lines()
                .filter(|l| l.starts_with("-A KUBE-SEP-") && l.contains("-j DNAT"))
                .collect();
            let count = cmp["count"].as_u64().unwrap_or(0) as usize;
            let with_comment = cmp["withComment"].as_u64().unwrap_or(0) as usize;
            let n_comment = lines.iter().filter(|l| l.contains("--comment")).count();
            if lines.len() != count || n_comment != with_comment {
                return Err(format!(
                    "endpoint rules: {} (with comment {n_comment}), expected {count} ({with_comment})",
                    lines.len()
                ));
            }
            let needle = cmp["lineFor"].as_str().unwrap_or("");
            let want = cmp["line"].as_str().unwrap_or("");
            let last = lines.iter().rev().find(|l| l.contains(needle));
            if last.copied() != Some(want) {
                return Err(format!("line for {needle}: {last:?}, expected {want:?}"));
            }
            Ok(())
        }
        "packet-flows" => Ok(()), // traced by `flows`
        other => Err(format!("unknown compare mode {other:?}")),
    }
}

#[test]
fn render_cases() {
    let mut results = Vec::new();
    for case in common::cases("iptables") {
        let checks: Vec<&Value> = case.meta["compare"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["mode"] != "packet-flows")
            .collect();
        if checks.is_empty() {
            continue;
        }
        let r = rendered(&case)
            .and_then(|actual| checks.iter().try_for_each(|cmp| check(&case, cmp, &actual)));
        results.push((case.name.clone(), r));
    }
    common::report("iptables", &results, KNOWN);
}

fn protocol(v: &Value) -> Protocol {
    Protocol::parse(v.as_str()).unwrap_or(Protocol::TCP)
}

#[test]
fn flows() {
    let mut results = Vec::new();
    for case in common::cases("iptables") {
        if !case.has("flows.yaml") {
            continue;
        }
        let loaded = case.load();
        let flows: Value = serde_saphyr::from_str(&case.file("flows.yaml")).unwrap();
        for (i, f) in flows.as_array().into_iter().flatten().enumerate() {
            let name = format!(
                "{}#{i} {}",
                case.name,
                f["name"].as_str().unwrap_or_default()
            );
            let r = (|| {
                let packet = Packet {
                    in_interface: None,
                    src: f["sourceIP"]
                        .as_str()
                        .unwrap_or("")
                        .parse()
                        .map_err(|e| format!("{e}"))?,
                    dst: f["destIP"]
                        .as_str()
                        .unwrap_or("")
                        .parse()
                        .map_err(|e| format!("{e}"))?,
                    port: f["destPort"].as_u64().unwrap_or(0) as u16,
                    protocol: protocol(&f["protocol"]),
                };
                let t = trace(&loaded, Mode::Iptables, &packet).map_err(|e| e.to_string())?;
                let want = f["output"].as_str().unwrap_or("");
                let masq = f["masq"].as_bool().unwrap_or(false);
                if t.outcome != want || t.masquerade != masq {
                    return Err(format!(
                        "got {:?} masq={}, expected {want:?} masq={masq}\n{}",
                        t.outcome,
                        t.masquerade,
                        libsvc::trace::report(&packet, &t)
                    ));
                }
                Ok(())
            })();
            results.push((name, r));
        }
    }
    common::report("iptables-flows", &results, KNOWN_FLOWS);
}
