//! The fast path of reading (trees built from the scan's events,
//! `parse/tree.rs`) against the reference (every document read again by
//! serde-saphyr, `parse::parse_slow`): the same objects, positions,
//! diagnostics and skipped objects, byte for byte, on every manifest of
//! the repository, on generated clusters, and on generated documents full
//! of scalars whose YAML type is in doubt.

use libsvc::Input;
use libsvc::parse::{parse, parse_slow};
use proptest::prelude::*;
use std::path::{Path, PathBuf};

fn same(inputs: &[Input]) -> Result<(), String> {
    let fast = format!("{:#?}", parse(inputs));
    let slow = format!("{:#?}", parse_slow(inputs));
    if fast == slow {
        return Ok(());
    }
    let line = fast
        .lines()
        .zip(slow.lines())
        .position(|(a, b)| a != b)
        .unwrap_or(0);
    Err(format!(
        "fast and slow paths differ at line {line} of their Debug:\nfast: {:?}\nslow: {:?}",
        fast.lines().nth(line),
        slow.lines().nth(line)
    ))
}

fn manifests(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if !p.ends_with("target") && !p.ends_with("node_modules") {
                manifests(&p, out);
            }
        } else if p
            .extension()
            .is_some_and(|x| x == "yaml" || x == "yml" || x == "json")
        {
            out.push(p);
        }
    }
}

/// Upstream reference: none (this is svcgen's own reading); the slow path
/// is what `read.rs` did before the fast path existed.
#[test]
fn every_manifest_of_the_repository_reads_the_same_both_ways() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in [
        "examples",
        "libsvc/tests",
        "cli/tests",
        "web",
        "docs",
        "fuzz",
    ] {
        manifests(&root.join(dir), &mut files);
    }
    assert!(files.len() > 100, "found only {} manifests", files.len());
    for f in files {
        let bytes = std::fs::read(&f).expect("readable");
        let Ok(input) = Input::from_bytes(f.display().to_string(), bytes) else {
            continue;
        };
        same(std::slice::from_ref(&input)).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        same(&[input.in_directory()]).unwrap_or_else(|e| panic!("{} (dir): {e}", f.display()));
    }
}

/// Scalars whose type a YAML reader must decide, and shapes the fast path
/// hands back to serde-saphyr (anchors, tags, merge keys, repeated keys,
/// complex keys, deep nesting).
const SCALARS: &[&str] = &[
    "80",
    "0",
    "-1",
    "+1",
    "0755",
    "0x1F",
    "0o17",
    "0b11",
    "1_000",
    "1.5",
    "1e3",
    "-0",
    ".5",
    ".inf",
    "-.inf",
    ".nan",
    "nan",
    "inf",
    "y",
    "n",
    "Yes",
    "NO",
    "on",
    "OFF",
    "true",
    "False",
    "null",
    "Null",
    "~",
    "",
    "10.0.0.1",
    "10.0.0.0/8",
    "500m",
    "1Gi",
    "1.2.3",
    "12abc",
    "9e999",
    "18446744073709551616",
    "9223372036854775808",
    "9223372036854775807",
    "\"80\"",
    "'y'",
    "!!str 80",
    "!!int \"80\"",
    "&a x",
    "*a",
    "/healthz",
    "a b",
    "\"a\\tb\"",
    "{{ x }}",
    "[1, 2]",
    "{a: 1}",
    "|\n    text\n",
    ">-\n    folded\n",
    "0.0.0.0",
    "::1",
    "fe80::1",
    "日本",
    "\"é ü\"",
    "a: b",
    "x # comment",
    "'it''s'",
    "\"\\u00e9\"",
    "[",
    "}",
];

fn document(picks: &[(usize, usize)]) -> String {
    let mut y = String::from(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n  labels:\n    app: x\n",
    );
    let mut spec = String::from("spec:\n  selector: {app: x}\n  ports:\n");
    for (i, &(field, scalar)) in picks.iter().enumerate() {
        let v = SCALARS[scalar % SCALARS.len()];
        match field % 8 {
            0 => spec.push_str(&format!("  - port: {v}\n")),
            1 => spec.push_str(&format!("  - port: 80\n    targetPort: {v}\n")),
            2 => spec.push_str(&format!("  - {{port: 80, name: {v}}}\n")),
            3 => y.push_str(&format!("    l{i}: {v}\n")),
            4 => spec.push_str(&format!("  - port: 80\n    protocol: {v}\n")),
            5 => y.push_str(&format!("    {v}: x\n")),
            6 => spec.push_str("  - &p {port: 81}\n  - *p\n"),
            _ => y.push_str("    <<: {merged: x}\n"),
        }
    }
    y + &spec
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// One Service with generated values; and the same as an item of a List.
    #[test]
    fn generated_documents_read_the_same_both_ways(
        picks in proptest::collection::vec((0usize..8, 0usize..72), 0..6),
        list in any::<bool>(),
        crlf in any::<bool>(),
    ) {
        let doc = document(&picks);
        let text = if list {
            let indented: String = doc.lines().map(|l| format!("    {l}\n")).collect();
            format!("apiVersion: v1\nkind: List\nitems:\n  -\n{indented}  - {{apiVersion: v1, kind: Pod, metadata: {{name: p}}}}\n")
        } else {
            format!("{doc}---\n{doc}")
        };
        let text = if crlf { text.replace('\n', "\r\n") } else { text };
        prop_assert_eq!(same(&[Input::new("gen.yaml", text)]), Ok(()));
    }
}

#[path = "../benches/common/mod.rs"]
mod common;

#[test]
fn generated_clusters_read_the_same_both_ways() {
    let shape = common::Shape {
        node_port_every: 3,
        nodes: 2,
    };
    same(&[Input::new("c.yaml", common::cluster_yaml(50, 3, shape))]).unwrap();
    same(&[Input::new("c.json", common::cluster_json(50, 3, shape))]).unwrap();
}

#[test]
fn deep_documents_read_the_same_both_ways() {
    for depth in [28usize, 29, 30, 31, 32, 33, 34, 40] {
        let mut v = String::from("1");
        for _ in 0..depth.saturating_sub(2) {
            v = format!("{{a: {v}}}");
        }
        let text = format!("apiVersion: v1\nkind: Service\nmetadata: {{name: s}}\nspec: {v}\n");
        same(&[Input::new("deep.yaml", text.clone())]).unwrap();
        let list = format!(
            "{{apiVersion: v1, kind: List, items: [{{apiVersion: v1, kind: Service, metadata: {{name: s}}, spec: {v}}}]}}\n"
        );
        same(&[Input::new("deep-list.yaml", list)]).unwrap();
    }
}

/// JSON input takes its own fast path (`parse/json.rs`) where it is
/// certain to read as YAML would; these are the edges of that certainty.
#[test]
fn json_reads_the_same_both_ways() {
    let svc = |extra: &str| {
        format!(
            "{{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {{\"name\": \"s\", \"namespace\": \"n\"{extra}}}, \"spec\": {{\"clusterIP\": \"10.0.0.1\", \"ports\": [{{\"port\": 80, \"targetPort\": \"http\"}}]}}}}"
        )
    };
    let cases = [
        svc(""),
        svc(", \"labels\": {\"a\": \"x\\ty\", \"b\": \"\\\"q\\\" \\/ \\\\\"}"),
        svc(", \"labels\": {\"a\": \"\\u00e9\"}"),
        svc(", \"labels\": {\"a\": \"é ü\", \"b\": \"{{ x }}\"}"),
        svc(", \"labels\": {\"a\": \"1\", \"a\": \"2\"}"),
        svc(", \"generation\": 1.5"),
        svc(", \"generation\": -0"),
        svc(", \"generation\": -3"),
        svc(", \"generation\": 1e3"),
        svc(", \"generation\": 012"),
        svc(", \"generation\": 99999999999999999999"),
        svc(", \"generation\": true, \"x\": null, \"y\": false"),
        svc(", \"uid\": \"\""),
        format!(
            "{{\"kind\": \"List\", \"apiVersion\": \"v1\", \"items\": [{}, {}]}}",
            svc(""),
            svc("")
        ),
        format!(
            "{{\"items\": [{}, 3, [1], \"x\"], \"kind\": \"List\", \"apiVersion\": \"v1\"}}",
            svc("")
        ),
        format!(
            "{{\"items\": [{}], \"kind\": \"ConfigMap\", \"apiVersion\": \"v1\"}}",
            svc("")
        ),
        format!("{{\"items\": [{}], \"apiVersion\": \"v1\"}}", svc("")),
        format!(
            "{{\"items\": {}, \"kind\": \"List\", \"apiVersion\": \"v1\"}}",
            svc("")
        ),
        format!("[{}]", svc("")),
        format!("{}\n{}", svc(""), svc("")),
        format!("{}\n---\n{}", svc(""), svc("")),
        svc("").replace(", ", ",\n    ").replace(": ", ":"),
        svc("").replace(", ", ",\r\n"),
        svc("").replace(", ", ",\t"),
        svc("").replace("\"name\": ", "\"name\"\n: "),
        svc("").replace("\"kind\": \"Service\"", "\"kind\": 5"),
        svc("").replace("\"kind\": \"Service\"", "\"kind\": \"Secret\""),
        svc("").replace("\"kind\": \"Service\"", "\"kind\": \"Servce\""),
        svc("").replace("\"apiVersion\": \"v1\"", "\"apiVersion\": \"v2\""),
        svc("").replace("\"port\": 80", "\"port\": \"eighty\""),
        svc("").replace("}}", "}"),
        svc("") + "x",
        "{}".to_string(),
        "[]".to_string(),
        "{\"a\": [}".to_string(),
        format!(
            "{{\"kind\": \"List\", \"apiVersion\": \"v1\", \"items\": [{}, {{\"kind\": \"Service\", \"apiVersion\": \"v1\", \"metadata\": {{\"name\": \"b\"}} \"spec\": {{}}}}, {}]}}",
            svc(""),
            svc("")
        ),
        format!(
            "{{\"apiVersion\": \"v1\", \"items\": [{}, {}, {{\"kind\": \"Service\",,}}]}}",
            svc(""),
            svc("")
        ),
    ];
    for (i, c) in cases.iter().enumerate() {
        same(&[Input::new(format!("case{i}.json"), c.clone())])
            .unwrap_or_else(|e| panic!("case {i} {c:?}: {e}"));
        same(&[Input::new(format!("case{i}.json"), c.clone()).in_directory()])
            .unwrap_or_else(|e| panic!("case {i} in a directory {c:?}: {e}"));
    }
}
