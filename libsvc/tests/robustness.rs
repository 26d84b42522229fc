//! Bad input gets a clear error with a location, never a panic, never a
//! hang, never half an output.

use libsvc::{Input, Overrides, Severity, load};

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
fn unknown_kinds_are_skipped_and_summed_up_in_one_line() {
    let text = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: web\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: x\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n";
    let loaded = load(&[Input::new("in.yaml", text)], &Overrides::default());
    assert!(loaded.errors().next().is_none());
    assert_eq!(
        diagnostics_of("in.yaml", text),
        ["info: skipped 3 objects svcgen does not use: 2 ConfigMap, 1 Ingress; -v lists them"]
    );
    let notes: Vec<String> = loaded
        .skipped
        .iter()
        .map(|s| s.note().to_string())
        .collect();
    assert_eq!(
        notes,
        [
            "in.yaml:1:1: info: skipped Ingress web (networking.k8s.io/v1): svcgen does not use this kind",
            "in.yaml:6:1: info: skipped ConfigMap x/a (v1): svcgen does not use this kind",
            "in.yaml:12:1: info: skipped ConfigMap b (v1): svcgen does not use this kind",
        ]
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

/// The real install manifest of a popular project: CustomResourceDefinitions
/// nesting deeper than svcgen reads (the whole file used to fail with
/// `budget breached: Depth { depth: 33 }`) next to the Services.
#[test]
fn a_real_install_manifest_with_large_crds_gives_its_services() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/real/argo-cd-install.yaml"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let loaded = load(&[Input::new("install.yaml", text)], &Overrides::default());
    // No error; no warning from reading (workloads may add their own).
    let read_problems: Vec<String> = loaded
        .diagnostics
        .iter()
        .filter(|d| {
            d.is_error() || d.message.contains("unknown field") || d.message.contains("cannot")
        })
        .map(|d| d.to_string())
        .collect();
    assert_eq!(read_problems, Vec::<String>::new());
    let summary = loaded
        .diagnostics
        .iter()
        .find(|d| d.message.starts_with("skipped "))
        .map(|d| d.message.clone())
        .unwrap_or_default();
    for part in [
        "7 ConfigMap",
        "7 NetworkPolicy",
        "3 CustomResourceDefinition",
        "2 Secret",
    ] {
        assert!(summary.contains(part), "{summary}");
    }
    let services: Vec<&str> = loaded
        .table
        .services
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(
        services,
        [
            "argocd-applicationset-controller",
            "argocd-dex-server",
            "argocd-metrics",
            "argocd-notifications-controller-metrics",
            "argocd-redis",
            "argocd-repo-server",
            "argocd-server",
            "argocd-server-metrics",
        ]
    );
    let crds: Vec<String> = loaded
        .skipped
        .iter()
        .filter(|s| s.kind.as_deref() == Some("CustomResourceDefinition"))
        .map(|s| s.note().to_string())
        .collect();
    assert_eq!(
        crds,
        [
            "install.yaml:2:1: info: skipped CustomResourceDefinition applications.argoproj.io (apiextensions.k8s.io/v1): svcgen does not use this kind",
            "install.yaml:7232:1: info: skipped CustomResourceDefinition applicationsets.argoproj.io (apiextensions.k8s.io/v1): svcgen does not use this kind",
            "install.yaml:30714:1: info: skipped CustomResourceDefinition appprojects.argoproj.io (apiextensions.k8s.io/v1): svcgen does not use this kind",
        ]
    );
}

fn deep_map(indent: usize, levels: usize) -> String {
    let mut out = String::new();
    for i in 0..levels {
        out.push_str(&format!("{}k{i}:\n", " ".repeat(indent + 2 * i)));
    }
    out.push_str(&format!("{}v: 1\n", " ".repeat(indent + 2 * levels)));
    out
}

const SERVICE_AFTER: &str = "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: after\nspec:\n  clusterIP: 10.96.0.7\n  ports:\n  - port: 80\n";

#[test]
fn deep_nesting_inside_a_skipped_kind_is_fine() {
    let crd = format!(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: deep.example.com\nspec:\n{}{SERVICE_AFTER}",
        deep_map(2, 200)
    );
    let loaded = load(&[Input::new("crd.yaml", crd)], &Overrides::default());
    assert!(
        loaded.errors().next().is_none(),
        "{:#?}",
        loaded.diagnostics
    );
    assert_eq!(loaded.table.services[0].name, "after");
    assert_eq!(loaded.skipped.len(), 1);
    // The same as JSON in a List (`kubectl get crd,svc -o json`), deeper
    // than the parser's 255 levels for flow collections: the CRD cannot be
    // parsed, which for a kind svcgen does not use is a warning.
    let mut deep_json = String::from("1");
    for _ in 0..300 {
        deep_json = format!("{{\"a\": {deep_json}}}");
    }
    let list = format!(
        "{{\"apiVersion\": \"v1\", \"items\": [\n{{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {{\"name\": \"first\"}}, \"spec\": {{\"clusterIP\": \"10.96.0.8\", \"ports\": [{{\"port\": 80}}]}}}},\n{{\"apiVersion\": \"apiextensions.k8s.io/v1\", \"kind\": \"CustomResourceDefinition\", \"metadata\": {{\"name\": \"json.example.com\"}}, \"spec\": {deep_json}}}\n], \"kind\": \"List\"}}\n{SERVICE_AFTER}"
    );
    let loaded = load(&[Input::new("list.json", list)], &Overrides::default());
    assert!(
        loaded.errors().next().is_none(),
        "{:#?}",
        loaded.diagnostics
    );
    let names: Vec<&str> = loaded
        .table
        .services
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, ["after", "first"]);
    let warnings: Vec<String> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .map(|d| d.to_string())
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        warnings[0].starts_with("list.json:3:") && warnings[0].contains("cannot parse CustomResourceDefinition json.example.com, skipped (svcgen does not use this kind)"),
        "{warnings:#?}"
    );
    // 40 levels in a List item that is read whole: fine (positions kept).
    let list = format!(
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {{name: c}}\n  data:\n{}- apiVersion: v1\n  kind: Service\n  metadata:\n    name: item\n  spec:\n    ports:\n    - port: \"80\"\n",
        deep_map(4, 40)
    );
    let d = diagnostics_of("list.yaml", &list);
    assert!(
        d.iter().any(|m| m == "list.yaml:55:13: error: spec.ports[0].port: Invalid type: expected integer, got string \"80\""),
        "{d:#?}"
    );
}

#[test]
fn deep_nesting_inside_a_service_is_refused_in_words() {
    let svc = format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: deep\n  namespace: ns\nspec:\n  selector:\n{}",
        deep_map(4, 40)
    );
    let d = diagnostics_of("svc.yaml", &svc);
    assert_eq!(
        d,
        [
            "svc.yaml:38:65: error: Service ns/deep nests deeper than 32 levels (under spec.selector.k0 … k28.k29); svcgen refuses such input to protect itself (Kubernetes objects of this kind nest far less)"
        ]
    );
    // In a List item, the levels are counted from the item.
    let list = format!(
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata:\n    name: deep\n  spec:\n{}",
        deep_map(4, 40)
    );
    let d = diagnostics_of("list.yaml", &list);
    assert_eq!(d.len(), 1, "{d:#?}");
    assert!(
        d[0].starts_with("list.yaml:40:67: error: Service deep nests deeper than 32 levels (under spec.k0.k1 … k29.k30)"),
        "{d:#?}"
    );
}

#[test]
fn an_alias_bomb_in_a_service_is_refused_in_words_and_ignored_in_a_skipped_kind() {
    let mut bomb = String::from("    a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        bomb.push_str(&format!(
            "    a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let svc =
        format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: bomb\n  annotations:\n{bomb}");
    let d = diagnostics_of("svc.yaml", &svc);
    assert_eq!(d.len(), 1, "{d:#?}");
    assert!(
        d[0].contains("error: Service bomb cannot be read: "),
        "{d:#?}"
    );
    assert!(
        d[0].contains("svcgen refuses such input to protect itself"),
        "{d:#?}"
    );
    assert!(!d[0].contains("budget") && !d[0].contains('{'), "{d:#?}");
    // In a kind svcgen does not use, aliases are never expanded.
    let cm = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\ndata:\n{bomb}{SERVICE_AFTER}"
    );
    let loaded = load(&[Input::new("cm.yaml", cm)], &Overrides::default());
    assert!(
        loaded.errors().next().is_none(),
        "{:#?}",
        loaded.diagnostics
    );
    assert_eq!(loaded.table.services[0].name, "after");
}

#[test]
fn a_broken_document_does_not_hide_the_ones_after_it() {
    // Of a kind svcgen does not use: a warning.
    let text = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\ndata:\n  a: [x\n{SERVICE_AFTER}"
    );
    let loaded = load(&[Input::new("in.yaml", text)], &Overrides::default());
    assert!(!loaded.has_parse_errors());
    assert_eq!(
        diagnostics_of(
            "in.yaml",
            &format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\ndata:\n  a: [x\n{SERVICE_AFTER}"
            )
        ),
        [
            "in.yaml:6:6: warning: cannot parse ConfigMap broken, skipped (svcgen does not use this kind): unclosed bracket '['",
            "info: skipped 1 object svcgen does not use: 1 ConfigMap; -v lists them",
        ]
    );
    assert_eq!(loaded.table.services[0].name, "after");
    // Of a kind svcgen reads: an error; the next document is still read
    // (its problems are reported too).
    let text = "apiVersion: v1\nkind: Service\nmetadata:\n  name: [x\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: next\nspec:\n  ports:\n  - port: \"80\"\n";
    let d = diagnostics_of("in.yaml", text);
    assert_eq!(
        d,
        [
            "in.yaml:4:9: error: cannot parse YAML/JSON: unclosed bracket '['",
            "in.yaml:12:11: error: spec.ports[0].port: Invalid type: expected integer, got string \"80\"",
        ]
    );
}

/// A missing colon makes the parser read two lines as one plain text and
/// fail at the `:` of the second: the error points at the first.
#[test]
fn a_missing_colon_is_reported_on_its_own_line() {
    let d = diagnostics_of(
        "in.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name web\n  namespace: x\n",
    );
    assert_eq!(
        d,
        [
            "in.yaml:4:7: error: cannot parse YAML/JSON: missing \":\" after \"name\"? (the parser read this line and the next as one text, then found a mapping value at line 5, column 12, where none is allowed)"
        ]
    );
    let d = diagnostics_of(
        "in.yaml",
        "apiVersion: v1\nkind: Service\nspec:\n  ports:\n  - port 80\n\n    targetPort: 8080\n",
    );
    assert_eq!(d.len(), 1, "{d:#?}");
    assert!(
        d[0].starts_with(
            "in.yaml:5:9: error: cannot parse YAML/JSON: missing \":\" after \"port\"?"
        ),
        "{d:#?}"
    );
    // A line of a mapping without its colon, followed by another key.
    let d = diagnostics_of(
        "in.yaml",
        "apiVersion: v1\nkind Service\nmetadata:\n  name: x\n",
    );
    assert_eq!(
        d,
        [
            "in.yaml:2:5: error: cannot parse YAML/JSON: missing \":\" after \"kind\"? (a line of a mapping must be \"key: value\")"
        ]
    );
    // A `:` after a line that is not plain words keeps the parser's position.
    let d = diagnostics_of("in.yaml", "a:\n  b: [1,\n  c: 2]\n");
    assert!(!d.is_empty() && !d[0].contains("missing \":\""), "{d:#?}");
}

#[test]
fn an_unrendered_helm_template_says_what_to_run_first() {
    let chart = "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ include \"mychart.fullname\" . }}\n  labels:\n    {{- include \"mychart.labels\" . | nindent 4 }}\nspec:\n  type: {{ .Values.service.type }}\n  ports:\n    - port: {{ .Values.service.port }}\n---\n{{- if .Values.ingress.enabled }}\napiVersion: v1\nkind: ConfigMap\n{{- end }}\n";
    let d = diagnostics_of("service.yaml", chart);
    assert_eq!(
        d,
        [
            "service.yaml:4:9: error: unrendered Helm (Go) template: `{{ … }}` is template syntax, not YAML; render the chart first, e.g. `helm template RELEASE CHART | svcgen validate -f -`"
        ]
    );
    // Template values that still parse as YAML, in fields svcgen reads.
    let quoted = "apiVersion: v1\nkind: Service\nmetadata:\n  name: \"{{ .Release.Name }}\"\n";
    let d = diagnostics_of("svc.yaml", quoted);
    assert_eq!(d.len(), 1, "{d:#?}");
    assert!(
        d[0].starts_with("svc.yaml:4:9: error: unrendered Helm (Go) template"),
        "{d:#?}"
    );
    // Go templates in annotations (for other programs) are data.
    let annotated = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  annotations:\n    tmpl: \"{{ .Name }}\"\nspec:\n  clusterIP: 10.96.0.9\n  ports:\n  - port: 80\n";
    assert_eq!(diagnostics_of("svc.yaml", annotated), Vec::<String>::new());
}

#[test]
fn a_document_without_kind_is_skipped_in_a_directory_and_an_error_when_named() {
    let kustomization = "apiVersion: kustomize.config.k8s.io/v1beta1\nresources:\n- svc.yaml\n";
    let named = load(
        &[Input::new("kustomization.yaml", kustomization)],
        &Overrides::default(),
    );
    assert!(named.has_parse_errors());
    let found = load(
        &[Input::new("dir/kustomization.yaml", kustomization).in_directory()],
        &Overrides::default(),
    );
    assert!(found.errors().next().is_none(), "{:#?}", found.diagnostics);
    let shown: Vec<String> = found.diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        shown,
        ["info: skipped 1 object svcgen does not use: 1 without kind; -v lists them"]
    );
    assert_eq!(
        found.skipped[0].note().to_string(),
        "dir/kustomization.yaml:1:1: info: skipped a document without kind (kustomize.config.k8s.io/v1beta1): not a Kubernetes object (found in a directory; named with -f it would be an error)"
    );
    // A chart's values.yaml, a list, a bare string: the same.
    for text in ["service:\n  port: 80\n", "- a\n- b\n", "just text\n"] {
        let found = load(
            &[Input::new("dir/x.yaml", text).in_directory()],
            &Overrides::default(),
        );
        assert!(
            found.errors().next().is_none(),
            "{text:?}: {:#?}",
            found.diagnostics
        );
        assert_eq!(found.skipped.len(), 1, "{text:?}");
    }
}

/// kube-apiserver's strict field validation (`kubectl apply
/// --validate=strict`; sigs.k8s.io/json decode.go `decodeState.object`
/// saves `unknown field "spec.ports[0].targetport"` for a key no field
/// matches case-sensitively): the same words, as warnings, with a suggestion
/// when a known field is a case change or one or two letters off.
#[test]
fn unknown_fields_are_warnings_with_their_path_and_position() {
    let text = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  lables: {a: b}\nspec:\n  clusterIP: 10.96.0.9\n  selector: {app: web}\n  ports:\n  - port: 80\n    targetport: 8080\n    nodeport: 30080\n  sessionAffinityConfig:\n    clientIP:\n      timeout: 10\nstatus:\n  loadBalancer:\n    ingress:\n    - ip: 1.2.3.4\n      ipmode: VIP\n";
    let d = diagnostics_of("svc.yaml", text);
    // (The selector matches no Pod here, which is a warning of its own.)
    let warnings: Vec<&String> = d
        .iter()
        .filter(|m| m.contains("warning: unknown field"))
        .collect();
    assert_eq!(
        warnings,
        [
            "svc.yaml:5:3: warning: unknown field \"metadata.lables\" (did you mean \"labels\"?)",
            "svc.yaml:11:5: warning: unknown field \"spec.ports[0].targetport\" (did you mean \"targetPort\"?)",
            "svc.yaml:12:5: warning: unknown field \"spec.ports[0].nodeport\" (did you mean \"nodePort\"?)",
            "svc.yaml:15:7: warning: unknown field \"spec.sessionAffinityConfig.clientIP.timeout\"",
            "svc.yaml:20:7: warning: unknown field \"status.loadBalancer.ingress[0].ipmode\" (did you mean \"ipMode\"?)",
        ]
    );
    let loaded = load(&[Input::new("svc.yaml", text)], &Overrides::default());
    let field = loaded.diagnostics.iter().find_map(|d| d.field.clone());
    assert_eq!(field.as_deref(), Some("metadata.lables"));
    let text = "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: web-1\n  labels: {kubernetes.io/service-name: web}\naddressType: IPv4\nendpoints:\n- addresses: [10.0.0.1]\n  condition: {ready: true}\nports:\n- port: 80\n  portName: http\n";
    let d = diagnostics_of("slice.yaml", text);
    let warnings: Vec<&String> = d.iter().filter(|m| m.contains("warning")).collect();
    assert_eq!(
        warnings,
        [
            "slice.yaml:9:3: warning: unknown field \"endpoints[0].condition\" (did you mean \"conditions\"?)",
            "slice.yaml:12:3: warning: unknown field \"ports[0].portName\"",
        ]
    );
}

/// Every field the API has is known: a Service, EndpointSlice, Pod and Node
/// with all their fields (as a cluster dump shows them) give no warning.
#[test]
fn fields_that_exist_are_never_reported() {
    let text = r#"apiVersion: v1
kind: Service
metadata:
  name: full
  namespace: default
  uid: 0b7c1b4e-0000-0000-0000-000000000000
  resourceVersion: "1"
  generation: 1
  creationTimestamp: "2026-01-01T00:00:00Z"
  labels: {a: b}
  annotations: {x: y}
  finalizers: [service.kubernetes.io/load-balancer-cleanup]
  ownerReferences: [{apiVersion: v1, kind: X, name: y, uid: z, controller: true, blockOwnerDeletion: true}]
  managedFields: [{manager: kubectl, operation: Update, apiVersion: v1, time: "2026-01-01T00:00:00Z", fieldsType: FieldsV1, fieldsV1: {"f:spec": {}}, subresource: status}]
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.10
  clusterIPs: [10.96.0.10]
  ipFamilies: [IPv4]
  ipFamilyPolicy: SingleStack
  selector: {app: full}
  ports: [{name: http, protocol: TCP, appProtocol: http, port: 80, targetPort: 8080, nodePort: 30080}]
  externalIPs: []
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 100}}
  loadBalancerSourceRanges: []
  externalTrafficPolicy: Cluster
  internalTrafficPolicy: Cluster
  allocateLoadBalancerNodePorts: true
  loadBalancerClass: example.com/lb
  publishNotReadyAddresses: false
  trafficDistribution: PreferClose
status:
  loadBalancer: {ingress: [{ip: 192.0.2.1, ipMode: VIP, ports: [{port: 80, protocol: TCP, error: ""}]}]}
  conditions: [{type: Ready, status: "True", observedGeneration: 1, lastTransitionTime: "2026-01-01T00:00:00Z", reason: R, message: M}]
---
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: default, labels: {app: full}}
spec:
  nodeName: n1
  hostname: h
  subdomain: s
  enableServiceLinks: true
  containers:
  - name: c
    image: nginx
    ports: [{name: http, containerPort: 8080, protocol: TCP, hostPort: 0, hostIP: ""}]
    readinessProbe: {httpGet: {path: /, port: http}}
    resources: {requests: {cpu: 1m}}
  initContainers:
  - {name: sidecar, image: x, restartPolicy: Always}
  ephemeralContainers:
  - {name: debug, image: busybox, targetContainerName: c}
  volumes: [{name: v, emptyDir: {}}]
  affinity: {}
  tolerations: []
status:
  phase: Running
  podIP: 10.244.0.5
  podIPs: [{ip: 10.244.0.5}]
  hostIP: 192.168.0.2
  hostIPs: [{ip: 192.168.0.2}]
  conditions: [{type: Ready, status: "True", lastProbeTime: null, lastTransitionTime: "2026-01-01T00:00:00Z"}]
  containerStatuses: []
  qosClass: BestEffort
  startTime: "2026-01-01T00:00:00Z"
---
apiVersion: v1
kind: Node
metadata: {name: n1}
spec: {podCIDR: 10.244.0.0/24, podCIDRs: [10.244.0.0/24], providerID: x, taints: []}
status:
  addresses: [{type: InternalIP, address: 192.168.0.2}, {type: Hostname, address: n1}]
  capacity: {cpu: "2"}
  allocatable: {cpu: "2"}
  conditions: []
  nodeInfo: {kubeletVersion: v1.37.0}
  daemonEndpoints: {kubeletEndpoint: {Port: 10250}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: full-1, namespace: default, labels: {kubernetes.io/service-name: full}}
addressType: IPv4
endpoints:
- addresses: [10.244.0.5]
  conditions: {ready: true, serving: true, terminating: false}
  hostname: h
  nodeName: n1
  zone: z
  hints: {forZones: [{name: z}], forNodes: [{name: n1}]}
  targetRef: {kind: Pod, namespace: default, name: p, uid: u, apiVersion: v1, resourceVersion: "1", fieldPath: ""}
ports: [{name: http, protocol: TCP, port: 8080, appProtocol: http}]
"#;
    let d = diagnostics_of("dump.yaml", text);
    assert!(!d.iter().any(|m| m.contains("unknown field")), "{d:#?}");
}

/// Diagnostics cost time in proportion to the input: 10,000 objects of a
/// kind svcgen does not use are summed up in one line (the bench `load`
/// measures the time; a few tens of milliseconds).
#[test]
fn ten_thousand_skipped_objects_make_one_summary_line() {
    let text: String = (0..10_000)
        .map(|i| {
            let kind = if i % 4 == 0 { "Secret" } else { "ConfigMap" };
            format!("---\napiVersion: v1\nkind: {kind}\nmetadata:\n  name: o{i}\n")
        })
        .collect();
    let loaded = load(&[Input::new("many.yaml", text)], &Overrides::default());
    let shown: Vec<String> = loaded.diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        shown,
        [
            "info: skipped 10000 objects svcgen does not use: 7500 ConfigMap, 2500 Secret; -v lists them"
        ]
    );
    assert_eq!(loaded.skipped.len(), 10_000);
    assert_eq!(loaded.skipped[9_999].location.line, 49_997);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 300, ..Default::default() })]

    /// The scan, the per-document reading (Lists item by item, templates,
    /// missing colons, odd whitespace) and the rendering of what they say
    /// never panic, whatever the text.
    #[test]
    fn documents_lists_and_templates_never_panic(text in "(apiVersion: v1\n|kind: (List|Service|ConfigMap|Pod)\n|items:\n|- |  |\u{3000}|\t|name web\n|metadata:\n|  name: x\n|\\{\\{ x \\}\\}|\"\\{\\{ y \\}\\}\"|: |\n|---\n|\\.\\.\\.\n|[\\[\\]{}&*!|>:#%-]|a|é){0,60}") {
        let inputs = [Input::new("p.yaml", text.as_str()).in_directory()];
        let loaded = load(&inputs, &Overrides::default());
        let snippets = libsvc::diag::Snippets::new(&inputs);
        for d in &loaded.diagnostics {
            let _ = snippets.render(d);
        }
        for s in &loaded.skipped {
            let _ = snippets.render(&s.note());
        }
        let again = load(&[Input::new("p.yaml", text.as_str())], &Overrides::default());
        let _ = again.diagnostics.len();
    }
}

// ---- Found by the structure-aware fuzzer (fuzz/core, `cluster` and
// `changes` targets); each was a failing generated case.

/// A dual-stack IPVS node with no Service renders its `ipvs` section as the
/// family headers alone (`# IPv4`, `# IPv6`); read back as a dump (what
/// `svcgen check --mode ipvs` does with its own render) that is an empty
/// dump, not "not a dump svcgen reads".
#[test]
fn fuzz_found_a_comment_only_dump_is_an_empty_dump() {
    let p = libsvc::dump::parse("render", "# IPv4\n# IPv6\n");
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
    assert!(p.tables.is_empty() && p.ipvs.is_empty() && p.ipsets.is_empty());
    // Anything else on a line is still judged.
    let p = libsvc::dump::parse("render", "# IPv4\nhello\n");
    assert_eq!(p.diagnostics.len(), 1);
    let node = "apiVersion: v1\nkind: Node\nmetadata: {name: node-0}\nstatus:\n  addresses:\n  - {type: InternalIP, address: 192.168.0.2}\n  - {type: InternalIP, address: \"2001:db8::2\"}\n";
    let overrides = Overrides {
        node_name: Some("node-0".into()),
        service_cidrs: vec![
            "10.96.0.0/16".parse().unwrap(),
            "fd00:10:96::/112".parse().unwrap(),
        ],
        ..Default::default()
    };
    let loaded = load(&[Input::new("node.yaml", node)], &overrides);
    libsvc::dump::check::expected(&loaded, libsvc::render::Mode::Ipvs)
        .expect("the render of a node without Services reads back");
}

/// The incremental engine splices the inputs' objects; the Pods the last
/// load simulated for a workload are not an input's, so after a change set
/// they are simulated anew (as a fresh load does), not kept as if the input
/// held them. (Before: "simulated 0 Pod(s) … workload(s) not simulated: the
/// input holds their Pods", and a Deployment scaled down kept its Pods.)
#[test]
fn fuzz_found_incremental_engine_simulates_workload_pods_anew() {
    use libsvc::incremental::{Change, State};
    use libsvc::render::{Mode, RenderOptions};
    let deployment = |replicas: u32| {
        Input::new(
            "app.yaml",
            format!(
                "apiVersion: v1\nkind: Service\nmetadata: {{name: web}}\nspec:\n  clusterIP: 10.96.0.20\n  selector: {{app: web}}\n  ports: [{{port: 80, targetPort: 8080}}]\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec: {{containers: [{{name: c, image: x, ports: [{{containerPort: 8080}}]}}]}}\n"
            ),
        )
    };
    let other = Input::new(
        "other.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: db}\nspec:\n  clusterIP: 10.96.0.21\n  ports: [{port: 5432}]\n",
    );
    let modes = [Mode::Iptables, Mode::Nftables];
    let overrides = Overrides::default();
    let fresh = |inputs: Vec<Input>| {
        State::new(inputs, overrides.clone(), &modes, RenderOptions::default()).unwrap()
    };
    let mut st = fresh(vec![deployment(3), other.clone()]);
    // A change to another file: the simulated Pods are the same as a fresh load's.
    st.apply(vec![Change::Put(Input::new(
        "other.yaml",
        format!("{}  type: ClusterIP\n", other.text),
    ))])
    .unwrap();
    let want = fresh(st.inputs().cloned().collect());
    assert_eq!(st.loaded().diagnostics, want.loaded().diagnostics);
    assert_eq!(st.loaded().objects.pods, want.loaded().objects.pods);
    // Scaled down: one Pod, as a fresh load says.
    st.apply(vec![Change::Put(deployment(1))]).unwrap();
    let want = fresh(st.inputs().cloned().collect());
    assert_eq!(st.outputs(), want.outputs());
    assert_eq!(
        st.loaded()
            .objects
            .pods
            .iter()
            .filter(|p| p.simulated)
            .count(),
        1
    );
}

/// A load balancer with loadBalancerSourceRanges and no endpoints, asked
/// from a source outside the ranges: kube-proxy's iptables mode makes the
/// firewall chain only for a Service with endpoints
/// (pkg/proxy/iptables/proxier.go, syncProxyRules: `usesFWChain` requires
/// `hasEndpoints` besides load-balancer IPs and source ranges), so the
/// no-endpoints REJECT answers; the nftables mode's firewall
/// chain does not depend on endpoints (pkg/proxy/nftables/proxier.go,
/// syncProxyRules `usesFWChain`), so `firewall-check` drops first. The
/// fuzzer's tracer comparison lists this as a mode difference.
#[test]
fn fuzz_found_lb_source_ranges_without_endpoints_differ_by_mode() {
    use libsvc::render::Mode;
    use libsvc::table::Protocol;
    use libsvc::trace::{Packet, trace};
    let svc = "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec:\n  type: LoadBalancer\n  clusterIP: 10.96.0.215\n  loadBalancerSourceRanges: [203.0.113.0/25]\n  ports: [{name: https, port: 9756, protocol: UDP, nodePort: 30042}]\nstatus:\n  loadBalancer:\n    ingress: [{ip: 1.2.3.184}]\n";
    let loaded = load(&[Input::new("lb.yaml", svc)], &Overrides::default());
    assert!(loaded.errors().next().is_none(), "{:?}", loaded.diagnostics);
    let p = Packet {
        src: "10.244.1.77".parse().unwrap(),
        dst: "1.2.3.184".parse().unwrap(),
        port: 9756,
        protocol: Protocol::UDP,
        in_interface: None,
    };
    assert_eq!(
        trace(&loaded, Mode::Iptables, &p).unwrap().outcome,
        "REJECT"
    );
    assert_eq!(trace(&loaded, Mode::Nftables, &p).unwrap().outcome, "DROP");
}

/// Two ports with one ServicePortName (both unnamed, same protocol), which
/// kube-apiserver refuses (`render` shows that error as a warning, as for
/// every value that is well-formed but refused): kube-proxy's
/// ports map (pkg/proxy/servicechangetracker.go `serviceToServiceMap`,
/// keyed by namespace/name, port name and protocol) keeps the later one, so
/// every proxy mode programs that one port, once — never a chain declared
/// twice, which `iptables-restore` and `nft -f` would refuse.
#[test]
fn two_ports_with_one_service_port_name_program_the_later_one() {
    use libsvc::render::{Mode, RenderOptions, render};
    let text = "apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: default}\nspec:\n  clusterIP: 10.96.0.10\n  ports: [{port: 80, targetPort: 8080}, {port: 81, targetPort: 8081}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: a-1, namespace: default, labels: {kubernetes.io/service-name: a}}\naddressType: IPv4\nports: [{port: 8081}]\nendpoints: [{addresses: [10.1.0.1]}]\n";
    let o = Overrides {
        service_cidrs: vec!["10.96.0.0/16".parse().unwrap()],
        ..Default::default()
    };
    let l = load(&[Input::new("a.yaml", text)], &o);
    assert!(
        l.errors()
            .any(|d| d.message == "spec.ports[0].name: Required value"),
        "{:#?}",
        l.diagnostics
    );
    let opts = RenderOptions::default();
    let ipt = render(&l, Mode::Iptables, &opts).unwrap().text;
    let svc_chains: Vec<&str> = ipt
        .lines()
        .filter(|l| l.starts_with(":KUBE-SVC-"))
        .collect();
    assert_eq!(svc_chains.len(), 1, "{ipt}");
    assert!(
        ipt.contains("--dport 81 ") && !ipt.contains("--dport 80 "),
        "{ipt}"
    );
    let nft = render(&l, Mode::Nftables, &opts).unwrap().text;
    let chains: Vec<&str> = nft
        .lines()
        .filter(|l| l.starts_with("add chain ip kube-proxy service-") && l.contains("default/a/"))
        .collect();
    assert_eq!(chains.len(), 1, "{nft}");
    assert!(
        nft.contains("10.96.0.10 . tcp . 81 ") && !nft.contains(". tcp . 80 "),
        "{nft}"
    );
    let ipvs = render(&l, Mode::Ipvs, &opts).unwrap().text;
    assert!(
        ipvs.contains("10.96.0.10:81") && !ipvs.contains("10.96.0.10:80"),
        "{ipvs}"
    );
}
