//! The env corpus (`tests/conformance/env`): kubelet's service variables.
//!
//! Compared as the README says: the set of `KEY=VALUE` pairs, and, since
//! svcgen keeps kubelet's order inside one Service, each Service's lines as
//! a sequence (Services themselves may come in any order).

mod common;

use libsvc::render::{Mode, RenderOptions, render};

/// Cases that fail for a documented reason (docs/differences.md, "env").
const KNOWN: &[&str] = &[];

/// Splits `KEY=VALUE` lines into per-Service groups: each group starts at a
/// `_SERVICE_HOST` line.
fn groups(text: &str) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let key = line.split('=').next().unwrap_or("");
        if key.ends_with("_SERVICE_HOST") || out.is_empty() {
            out.push(Vec::new());
        }
        out.last_mut().unwrap().push(line.to_string());
    }
    out.sort();
    out
}

fn check(case: &common::Case) -> Result<(), String> {
    let loaded = case.load();
    let pod = &case.meta["pod"];
    let options = RenderOptions {
        namespace: Some(pod["namespace"].as_str().unwrap_or("default").to_string()),
        enable_service_links: Some(pod["enableServiceLinks"].as_bool().unwrap_or(true)),
        ..Default::default()
    };
    let rendered = render(&loaded, Mode::Env, &options).map_err(|e| e.to_string())?;
    let expected = case.file("expected.env");
    let (want, got) = (groups(&expected), groups(&rendered.text));
    if want != got {
        return Err(format!(
            "expected:\n{expected}\nactual:\n{}\n{}",
            rendered.text,
            common::first_difference(&expected, &rendered.text)
        ));
    }
    Ok(())
}

#[test]
fn env_corpus() {
    let results: Vec<(String, Result<(), String>)> = common::cases("env")
        .iter()
        .map(|c| (c.name.clone(), check(c)))
        .collect();
    assert!(!results.is_empty());
    common::report("env", &results, KNOWN);
}
