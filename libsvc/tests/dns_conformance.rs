//! The dns corpus (`tests/conformance/dns`): the records of the Kubernetes
//! DNS specification 1.1.0.
//!
//! Compared as the README says: a set of records; owner and target names
//! case-insensitive; SRV priority and weight not compared; the zone-wide
//! `dns-version` TXT record only in the case about it; with `complete:
//! true` nothing else may appear.

mod common;

use libsvc::render::{Mode, RenderOptions, render};
use std::collections::BTreeSet;

/// Cases that fail for a documented reason (docs/differences.md, "dns").
const KNOWN: &[&str] = &[];

/// One record line, normalised: `owner ttl class type rdata…`, names lower
/// case, SRV without priority and weight.
fn normalise(line: &str) -> Option<Vec<String>> {
    let parts: Vec<&str> = line.split_whitespace().collect();
    if parts.len() < 5 || line.starts_with(';') {
        return None;
    }
    let mut out: Vec<String> = parts.iter().map(|p| p.to_string()).collect();
    out[0] = out[0].to_ascii_lowercase();
    match parts[3] {
        "SRV" if parts.len() == 8 => {
            out = vec![
                out[0].clone(),
                out[1].clone(),
                out[2].clone(),
                out[3].clone(),
                parts[6].to_string(),
                parts[7].to_ascii_lowercase(),
            ];
        }
        "PTR" | "CNAME" => out[4] = out[4].to_ascii_lowercase(),
        _ => {}
    }
    Some(out)
}

fn record_set(text: &str, keep_version: bool) -> BTreeSet<Vec<String>> {
    text.lines()
        .filter_map(normalise)
        .filter(|r| keep_version || !(r[3] == "TXT" && r[0].starts_with("dns-version.")))
        .collect()
}

fn check(case: &common::Case) -> Result<(), String> {
    let loaded = case.load();
    let rendered =
        render(&loaded, Mode::Dns, &RenderOptions::default()).map_err(|e| e.to_string())?;
    let keep_version = case.name.starts_with("024-");
    let want = record_set(&case.file("expected.zone"), keep_version);
    let got = record_set(&rendered.text, keep_version);
    let complete = case.meta["complete"].as_bool().unwrap_or(true);
    let missing: Vec<_> = want.difference(&got).collect();
    let extra: Vec<_> = got.difference(&want).collect();
    if !missing.is_empty() || (complete && !extra.is_empty()) {
        return Err(format!(
            "missing: {missing:?}\nextra: {extra:?}\nrendered:\n{}",
            rendered.text
        ));
    }
    Ok(())
}

#[test]
fn dns_corpus() {
    let results: Vec<(String, Result<(), String>)> = common::cases("dns")
        .iter()
        .map(|c| (c.name.clone(), check(c)))
        .collect();
    assert!(!results.is_empty());
    common::report("dns", &results, KNOWN);
}
