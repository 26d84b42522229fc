//! `get … -o json|yaml` objects read back: the objects svcgen prints for
//! Services, Endpoints, EndpointSlices and Pods, fed back with the input's
//! other objects (Nodes, ServiceCIDRs, KubeProxyConfiguration), give every
//! output exactly as the input did.

mod common;

use libsvc::render::{Mode, RenderOptions, render};
use libsvc::views::objects;
use libsvc::views::{Namespaces, Query};
use libsvc::{Input, Loaded, Overrides};

/// The kinds `get` prints; every other document is carried over as it is.
const PRINTED: &[&str] = &["Service", "Endpoints", "EndpointSlice", "Pod"];

fn kind_of(doc: &str) -> Option<&str> {
    if let Some(i) = doc.find("\"kind\":\"") {
        let rest = &doc[i + 8..];
        return rest.split('"').next();
    }
    doc.lines()
        .find_map(|l| l.strip_prefix("kind:"))
        .map(|k| k.trim().trim_matches('"'))
}

/// Documents of a YAML stream (split on `---` lines).
fn documents(text: &str) -> Vec<String> {
    let mut docs = vec![String::new()];
    for line in text.lines() {
        if line.trim_end() == "---" || line.starts_with("--- ") {
            docs.push(String::new());
        } else {
            let d = docs.last_mut().unwrap();
            d.push_str(line);
            d.push('\n');
        }
    }
    docs
}

/// What `svcgen get svc,endpoints,endpointslices,pods -A -o FORMAT` prints.
fn printed(loaded: &Loaded, json: bool) -> String {
    let q = Query::new(Namespaces::All);
    let lists = [
        objects::services(loaded, &q),
        objects::endpoints(loaded, &q),
        objects::endpoint_slices(loaded, &q),
        objects::pods(loaded, &q),
    ];
    lists
        .into_iter()
        .map(|items| {
            let list = objects::list(items);
            if json {
                objects::to_json(&list)
            } else {
                objects::to_yaml(&list)
            }
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

fn outputs(loaded: &Loaded) -> Vec<(Mode, String)> {
    Mode::ALL
        .into_iter()
        .map(|m| {
            let text = render(loaded, m, &RenderOptions::default())
                .map(|r| r.text)
                .unwrap_or_else(|e| format!("error: {e}"));
            (m, text)
        })
        .collect()
}

/// Loads `text`, prints its objects, reads them back with the documents of
/// other kinds, and compares every mode's output. `Err` names the first mode
/// that differs.
fn round_trip(name: &str, text: &str, overrides: &Overrides) -> Result<(), String> {
    if text.contains("kind: List") {
        return Ok(()); // a List may hold both kinds; not split here
    }
    let loaded = libsvc::load(&[Input::new(name, text)], overrides);
    if loaded.has_parse_errors() {
        return Ok(());
    }
    let want = outputs(&loaded);
    let rest: Vec<String> = documents(text)
        .into_iter()
        .filter(|d| kind_of(d).is_some_and(|k| !PRINTED.contains(&k)))
        .collect();
    for json in [false, true] {
        let mut stream = printed(&loaded, json);
        for d in &rest {
            stream.push_str("---\n");
            stream.push_str(d);
        }
        let again = libsvc::load(&[Input::new("printed", stream.as_str())], overrides);
        if again.has_parse_errors() {
            return Err(format!(
                "{name}: printed objects do not parse: {:?}\n{stream}",
                again.diagnostics.iter().find(|d| d.is_error())
            ));
        }
        for ((mode, a), (_, b)) in want.iter().zip(outputs(&again)) {
            if *a != b {
                return Err(format!(
                    "{name} ({}) --mode {}: {}",
                    if json { "json" } else { "yaml" },
                    mode.name(),
                    common::first_difference(a, &b)
                ));
            }
        }
    }
    Ok(())
}

#[test]
fn the_examples_round_trip() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let text: String = files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect::<Vec<_>>()
        .join("\n---\n");
    round_trip("examples", &text, &Overrides::default()).unwrap();
}

#[test]
fn the_conformance_inputs_round_trip() {
    let mut failures = Vec::new();
    let mut count = 0;
    for mode in ["iptables", "nftables", "ipvs", "env", "dns"] {
        for case in common::cases(mode) {
            let (stream, overrides) = case.stream();
            count += 1;
            if let Err(e) = round_trip(&format!("{mode}/{}", case.name), &stream, &overrides) {
                failures.push(e);
            }
        }
    }
    assert!(count > 90, "{count} cases");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
