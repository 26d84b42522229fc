//! Bad input gets a clear error with a location, never a panic, never a
//! hang, never half an output.

use libsvc::{Input, Overrides, load};

fn diagnostics_of(name: &str, text: &str) -> Vec<String> {
    let loaded = load(&[Input::new(name, text)], &Overrides::default());
    loaded.diagnostics.iter().map(|d| d.to_string()).collect()
}

fn assert_error_at(text: &str, needle: &str, line: u32) {
    let loaded = load(&[Input::new("in.yaml", text)], &Overrides::default());
    let errors: Vec<_> = loaded.errors().collect();
    assert!(
        errors
            .iter()
            .any(|d| d.message.contains(needle)
                && d.location.as_ref().is_some_and(|l| l.line == line)),
        "expected an error containing {needle:?} at line {line}, got {errors:#?}"
    );
}

#[test]
fn malformed_yaml_is_an_error_with_its_position() {
    assert_error_at(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: [x\n",
        "cannot parse",
        4,
    );
    assert_error_at(
        "apiVersion: v1\nkind: Service\n  bad indent: 1\n",
        "cannot parse",
        3,
    );
    assert_error_at(
        "{\"apiVersion\": \"v1\", \"kind\": \"Service\",\n \"metadata\": {\"name\": \"x\"\n",
        "unclosed bracket",
        2,
    );
}

#[test]
fn wrong_types_name_the_field_and_what_was_expected() {
    let text = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: \"80\"\n    nodePort: [1]\n  selector: [a]\n";
    let d = diagnostics_of("in.yaml", text);
    assert!(d.iter().any(|m| m == "in.yaml:7:11: error: spec.ports[0].port: Invalid type: expected integer, got string \"80\""), "{d:#?}");
    assert!(
        d.iter().any(|m| m.starts_with(
            "in.yaml:8:15: error: spec.ports[0].nodePort: Invalid type: expected integer, got list"
        )),
        "{d:#?}"
    );
    assert!(
        d.iter().any(|m| m.starts_with(
            "in.yaml:9:13: error: spec.selector: Invalid type: expected object, got list"
        )),
        "{d:#?}"
    );
    assert!(d.iter().any(|m| m.contains("spec.selector")), "{d:#?}");
}

#[test]
fn a_document_that_is_not_an_object_is_an_error() {
    assert_error_at("---\n- a\n- b\n", "must be an object", 2);
    assert_error_at("just a string\n", "must be an object", 1);
}

#[test]
fn empty_documents_and_streams_are_fine() {
    for text in ["", "---\n", "---\n---\n...\n", "# only a comment\n", "~\n"] {
        let loaded = load(&[Input::new("in.yaml", text)], &Overrides::default());
        assert!(
            loaded.errors().next().is_none(),
            "{text:?}: {:#?}",
            loaded.diagnostics
        );
        assert!(loaded.table.services.is_empty());
    }
}

#[test]
fn unknown_kinds_are_skipped_with_a_note() {
    // (Deployments are read since workloads became Pods; a ConfigMap is not.)
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n";
    let loaded = load(&[Input::new("in.yaml", text)], &Overrides::default());
    assert!(loaded.errors().next().is_none());
    assert!(
        loaded
            .diagnostics
            .iter()
            .any(|d| d.message.contains("skipped ConfigMap")),
        "{:#?}",
        loaded.diagnostics
    );
}

#[test]
fn missing_kind_or_api_version_is_an_error() {
    assert_error_at("metadata:\n  name: x\n", "kind: Required value", 1);
    assert_error_at(
        "kind: Service\nmetadata:\n  name: x\n",
        "apiVersion: Required value",
        1,
    );
}

#[test]
fn invalid_utf8_points_at_the_bad_byte() {
    let mut bytes = b"apiVersion: v1\nkind: Service\nmetadata:\n  name: caf".to_vec();
    bytes.push(0xff);
    let err = Input::from_bytes("bad.yaml", bytes).unwrap_err();
    let loc = err.location.clone().unwrap();
    assert_eq!((loc.line, loc.column), (4, 12), "{err}");
    assert!(err.message.contains("not valid UTF-8"), "{err}");
}

#[test]
fn alias_bomb_is_refused_quickly() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        text.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let loaded = load(&[Input::new("bomb.yaml", text)], &Overrides::default());
    assert!(loaded.has_parse_errors(), "{:#?}", loaded.diagnostics);
}

#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    let flow = "[".repeat(100_000);
    let loaded = load(&[Input::new("flow.yaml", flow)], &Overrides::default());
    assert!(loaded.has_parse_errors());
    let flow_map = "{a: ".repeat(100_000);
    let loaded = load(
        &[Input::new("flowmap.yaml", flow_map)],
        &Overrides::default(),
    );
    assert!(loaded.has_parse_errors());
    let block: String = (0..100_000)
        .map(|i| format!("{}- \n", " ".repeat(i % 2000)))
        .collect();
    let loaded = load(&[Input::new("block.yaml", block)], &Overrides::default());
    // Either refused for depth or read as shallow lists; never a crash.
    let _ = loaded.diagnostics.len();
    let nested: String = (0..100_000usize)
        .map(|i| format!("{}a:\n", " ".repeat(i.min(5000))))
        .collect();
    let loaded = load(&[Input::new("nested.yaml", nested)], &Overrides::default());
    assert!(loaded.has_parse_errors());
}

#[test]
fn a_100_mb_input_is_refused_with_a_clear_error() {
    let big = vec![b'#'; 100 * 1024 * 1024];
    let err = Input::from_bytes("big.yaml", big).unwrap_err();
    assert!(err.message.contains("at most 64 MiB"), "{err}");
    // The library refuses it too when handed the text directly.
    let text = "#".repeat(100 * 1024 * 1024);
    let loaded = load(&[Input::new("big.yaml", text)], &Overrides::default());
    assert!(loaded.has_parse_errors());
}

#[test]
fn hostile_values_are_kept_as_data() {
    // A name that tries to close a comment and add a rule: it fails
    // validation (not a DNS label) and stays a plain string in the table.
    let text = "apiVersion: v1\nkind: Service\nmetadata:\n  name: \"x\\\" -j ACCEPT\\n-A KUBE-SERVICES\"\nspec:\n  clusterIP: 10.96.0.5\n  ports:\n  - port: 80\n";
    let loaded = load(&[Input::new("in.yaml", text)], &Overrides::default());
    assert!(!loaded.has_parse_errors());
    assert_eq!(
        loaded.table.services[0].name,
        "x\" -j ACCEPT\n-A KUBE-SERVICES"
    );
}
