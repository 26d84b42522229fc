//! The wasm API as JavaScript sees it, run in wasm under node by
//! `wasm-bindgen-test-runner` (web/test.sh):
//! `CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner cargo test --target wasm32-unknown-unknown -p svcgen-web`.
#![cfg(target_arch = "wasm32")]

use serde_json::Value;
use svcgen_web::{api, examples};
use wasm_bindgen_test::wasm_bindgen_test;

fn json(s: &str) -> Value {
    serde_json::from_str(s).expect("the API answers JSON")
}

#[wasm_bindgen_test]
fn modes_are_libsvcs() {
    let modes = json(&api::modes());
    let names: Vec<&str> = libsvc::render::Mode::ALL.iter().map(|m| m.name()).collect();
    assert_eq!(modes, Value::from(names));
}

#[wasm_bindgen_test]
fn examples_start_with_the_starter() {
    let list = json(&api::examples());
    assert_eq!(list[0]["name"], "starter");
    assert_eq!(list[0]["manifests"], examples::STARTER);
    assert_eq!(list.as_array().map(Vec::len), Some(examples::all().len()));
}

#[wasm_bindgen_test]
fn render_answers_for_every_mode() {
    for mode in libsvc::render::Mode::ALL {
        let out = json(&api::render(examples::STARTER, "{}", mode.name()));
        if out["ok"] == true {
            assert!(out["text"].is_string(), "{mode:?}: {out}");
            assert!(out["diagnostics"].is_array());
        } else {
            assert_eq!(out["notImplemented"], true, "{mode:?}: {out}");
        }
    }
    let bad = json(&api::render(examples::STARTER, "{}", "nope"));
    assert_eq!(bad["ok"], false);
    let bad = json(&api::render(examples::STARTER, "{not json", "env"));
    assert!(bad["error"].as_str().unwrap().starts_with("settings:"));
}

#[wasm_bindgen_test]
fn validate_places_errors_in_utf16() {
    let text =
        "# 😀 ü\napiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n  ports: [{port: x}]\n";
    let diags = json(&api::validate(text, r#"{"nodeIPs": "10.0.0.1, bogus"}"#));
    let list = diags.as_array().expect("a list");
    let port = list
        .iter()
        .find(|d| {
            d["message"]
                .as_str()
                .unwrap_or("")
                .contains("spec.ports[0].port")
        })
        .expect("the bad port is reported");
    assert_eq!(port["severity"], "error");
    assert_eq!(port["line"], 6);
    let col = port["column"].as_u64().unwrap();
    // Line 1 is "# 😀 ü\n": 5 characters + newline, but 6 + 1 UTF-16 units.
    let before: u64 =
        7 + "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n".len() as u64;
    assert_eq!(port["offset"].as_u64().unwrap(), before + col - 1);
    assert!(
        list.iter()
            .any(|d| d["source"] == "settings" && d["field"] == "nodeIPs")
    );
}

#[wasm_bindgen_test]
fn trace_answers() {
    let packet = r#"{"mode": "iptables", "src": "10.244.3.9", "dst": "10.96.0.20", "port": "80", "proto": "tcp"}"#;
    let out = json(&api::trace(examples::STARTER, "", packet));
    if out["ok"] == true {
        assert!(out["report"].as_str().unwrap().contains("10.96.0.20:80"));
        assert!(out["result"]["path"].is_array());
    } else {
        assert_eq!(out["notImplemented"], true, "{out}");
    }
    let bad = json(&api::trace(
        examples::STARTER,
        "",
        r#"{"mode": "env", "src": "1.2.3.4", "dst": "x", "port": "80"}"#,
    ));
    assert_eq!(bad["ok"], false);
    assert!(bad["error"].as_str().unwrap().contains("destination"));
}

#[wasm_bindgen_test]
fn state_round_trips() {
    let state = r#"{"manifests":"kind: Service # ü","settings":{"nodeName":"n1","withJumps":true},"tab":"env","trace":{"mode":"ipvs","src":"1.1.1.1","dst":"2.2.2.2","port":"53","proto":"udp"}}"#;
    let enc = api::encode_state(state);
    assert!(enc.starts_with("1."));
    assert_eq!(
        json(&api::decode_state(&enc)),
        json(state)
            .as_object()
            .map(|o| {
                // Settings come back with every field.
                let mut o = o.clone();
                let mut s =
                    serde_json::to_value(svcgen_web::settings::FormSettings::default()).unwrap();
                s["nodeName"] = "n1".into();
                s["withJumps"] = true.into();
                o.insert("settings".into(), s);
                // A link without node rules (older links) has none.
                o.insert("node".into(), serde_json::json!({"rules": "", "mode": ""}));
                Value::Object(o)
            })
            .unwrap()
    );
    assert_eq!(json(&api::decode_state("1.garbage"))["ok"], false);
}

// As `svcgen check` and `svcgen trace --rules` (libsvc::dump::check::check,
// libsvc::dump::trace::trace): the example dump drifts by one endpoint.
#[wasm_bindgen_test]
fn check_and_trace_a_nodes_rules() {
    let settings = svcgen_web::settings::FormSettings::default();
    let (loaded, _) = svcgen_web::compute::load(examples::STARTER, &settings);
    let dump = svcgen_web::node::example(&loaded, libsvc::render::Mode::Iptables).unwrap();
    let out = json(&api::check_rules(examples::STARTER, "{}", &dump, ""));
    assert_eq!(out["mode"], "iptables", "{out}");
    assert_eq!(out["modeFound"], true);
    assert_eq!(out["report"]["in_sync"], false);
    assert_eq!(
        out["report"]["differences"][0]["service_port"],
        "default/web:http"
    );
    let bad = json(&api::check_rules(examples::STARTER, "{}", "hello", ""));
    assert_eq!(bad["diagnostics"][0]["line"], 1);
    assert!(bad.get("report").is_none());
    let packet = r#"{"src": "10.244.3.9", "dst": "web", "port": "http", "proto": "tcp"}"#;
    let t = json(&api::trace_rules(examples::STARTER, "{}", &dump, packet));
    assert_eq!(t["result"]["outcome"], "10.244.1.5:8080", "{t}");
    assert!(t["report"].as_str().unwrap().contains("10.244.1.5:8080"));
}
