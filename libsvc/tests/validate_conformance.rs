//! The `validate` conformance corpus: each case's Service, loaded with the
//! default settings, must get exactly kube-apiserver's errors, in order.

mod common;

use libsvc::{Input, Overrides};

/// Cases that fail for a documented reason (docs/differences.md, "validate").
const KNOWN: &[&str] = &[];

fn check(case: &common::Case) -> Result<(), String> {
    let loaded = libsvc::load(
        &[Input::new(
            format!("{}/input.yaml", case.name),
            case.file("input.yaml"),
        )],
        &Overrides::default(),
    );
    if loaded.has_parse_errors() {
        return Err(format!("parse errors: {:#?}", loaded.diagnostics));
    }
    let got: Vec<String> = loaded
        .errors()
        .filter(|d| {
            d.object
                .as_deref()
                .is_some_and(|o| o.starts_with("Service "))
        })
        .map(|d| d.message.clone())
        .collect();
    let want: Vec<String> = case
        .file("expected.errors")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    let compare = &case.meta["compare"];
    let mode = compare["mode"].as_str().unwrap_or("exact");
    let ok = if mode == "exact" {
        got == want
    } else {
        // The value's rendering changed across releases: compare the
        // stable prefix and suffix of the lines that have them.
        let pre = compare["prefix"].as_str().unwrap_or("");
        let suf = compare["suffix"].as_str().unwrap_or("");
        got.len() == want.len()
            && got.iter().zip(&want).all(|(g, w)| {
                if w.starts_with(pre) {
                    g.starts_with(pre) && g.ends_with(suf)
                } else {
                    g == w
                }
            })
    };
    if ok {
        Ok(())
    } else {
        Err(common::first_difference(&want.join("\n"), &got.join("\n")))
    }
}

#[test]
fn validate_conformance() {
    let results: Vec<(String, Result<(), String>)> = common::cases("validate")
        .iter()
        .map(|c| (c.name.clone(), check(c)))
        .collect();
    assert!(!results.is_empty());
    common::report("validate", &results, KNOWN);
}
