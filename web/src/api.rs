//! The playground's functions for JavaScript (`wasm-bindgen`): the same
//! calls the page makes, with JSON strings in and out so that any script
//! can use them.
//!
//! `settings` is the settings form as JSON (`{"nodeName": …, "nodeIPs": …,
//! "clusterCIDR": …, "serviceCIDR": …, "clusterDomain": …, "ipFamily": …,
//! "ipvsScheduler": …, "namespace": …, "withJumps": …}`, every field
//! optional; an empty string means "not set").

use crate::compute::{self, Output, Traced};
use crate::settings::FormSettings;
use crate::share::{self, TraceForm};
use libsvc::render::Mode;
use serde_json::{Value, json};
use wasm_bindgen::prelude::*;

fn settings(json: &str) -> Result<FormSettings, String> {
    if json.trim().is_empty() {
        return Ok(FormSettings::default());
    }
    serde_json::from_str(json).map_err(|e| format!("settings: {e}"))
}

fn error(message: impl Into<String>) -> String {
    json!({"ok": false, "error": message.into()}).to_string()
}

/// The modes, in tab order: `["iptables", "nftables", …]`.
#[wasm_bindgen]
pub fn modes() -> String {
    Value::from(Mode::ALL.map(|m| m.name()).to_vec()).to_string()
}

/// The examples: `[{"name": …, "manifests": …}, …]`, the starter first.
#[wasm_bindgen]
pub fn examples() -> String {
    let list: Vec<Value> = crate::examples::all()
        .into_iter()
        .map(|(name, text)| json!({"name": name, "manifests": text}))
        .collect();
    Value::from(list).to_string()
}

/// Renders one mode: `{"ok": true, "text", "json", "diagnostics"}`, or
/// `{"ok": false, "error", "notImplemented"?}`.
#[wasm_bindgen]
pub fn render(manifests: &str, settings_json: &str, mode: &str) -> String {
    let Some(mode) = Mode::parse(mode) else {
        return error(format!("unknown mode {mode:?}"));
    };
    let form = match settings(settings_json) {
        Ok(s) => s,
        Err(e) => return error(e),
    };
    let (loaded, mapped) = compute::load(manifests, &form);
    match compute::render(&loaded, &mapped, mode) {
        Output::Rendered(r) => json!({
            "ok": true,
            "text": r.text,
            "json": r.json,
            "diagnostics": r.diagnostics,
        })
        .to_string(),
        Output::NotImplemented => json!({
            "ok": false,
            "notImplemented": true,
            "error": format!("{} is not available yet", mode.name()),
        })
        .to_string(),
        Output::Invalid(e) => error(e),
        Output::Blocked | Output::Pending => {
            error("the manifests could not be read; see validate()")
        }
    }
}

/// Every diagnostic of the input and the settings, placed in the text:
/// `[{"severity", "message", "field"?, "object"?, "source", "line"?,
/// "column"?, "offset"?}]` (`offset` in UTF-16 code units).
#[wasm_bindgen]
pub fn validate(manifests: &str, settings_json: &str) -> String {
    let form = match settings(settings_json) {
        Ok(s) => s,
        Err(e) => return error(e),
    };
    let out = compute::compute(manifests, &form);
    serde_json::to_string(&out.diagnostics()).unwrap_or_else(|e| error(e.to_string()))
}

/// Traces a packet: `packet` is `{"mode", "src", "dst", "port", "proto"}`.
/// Gives `{"ok": true, "report", "result"}` or `{"ok": false, "error",
/// "notImplemented"?}`.
#[wasm_bindgen]
pub fn trace(manifests: &str, settings_json: &str, packet_json: &str) -> String {
    let form = match settings(settings_json) {
        Ok(s) => s,
        Err(e) => return error(e),
    };
    let packet: TraceForm = match serde_json::from_str(packet_json) {
        Ok(p) => p,
        Err(e) => return error(format!("packet: {e}")),
    };
    let (loaded, _) = compute::load(manifests, &form);
    match compute::trace(&loaded, &packet, &namespace(&form)) {
        Traced::Done(p, r, warning) => json!({
            "ok": true,
            "report": libsvc::trace::report(&p, &r),
            "result": r,
            "warning": warning,
        })
        .to_string(),
        Traced::NotImplemented(m) => json!({
            "ok": false,
            "notImplemented": true,
            "error": format!("tracing {} is not available yet", m.name()),
        })
        .to_string(),
        Traced::Failed(e) => error(e),
    }
}

/// Checks a node's dumped rules against the manifests, as `svcgen check`:
/// `{"ok": true, "mode", "modeFound", "diagnostics": [{"severity",
/// "message", "line", "column"}], "report"?: {"mode", "in_sync",
/// "compared", "differences"}, "text"?}` (no report while the dump is
/// empty or has errors), or `{"ok": false, "error"}`. `mode` is
/// `iptables`, `nftables`, `ipvs`, or empty: found from the dump.
#[wasm_bindgen(js_name = checkRules)]
pub fn check_rules(manifests: &str, settings_json: &str, rules: &str, mode: &str) -> String {
    let form = match settings(settings_json) {
        Ok(s) => s,
        Err(e) => return error(e),
    };
    let (loaded, _) = compute::load(manifests, &form);
    let node = crate::node::check(
        &loaded,
        &crate::node::NodeForm {
            rules: rules.to_string(),
            mode: mode.to_string(),
        },
    );
    let mut out = json!({
        "ok": true,
        "mode": node.mode.0.name(),
        "modeFound": node.mode.1,
        "diagnostics": node.diagnostics,
    });
    match node.check {
        Some(Ok(r)) => {
            out["text"] = r.text().into();
            out["report"] = serde_json::to_value(&r).unwrap_or_default();
        }
        Some(Err(e)) => return error(e),
        None => {}
    }
    out.to_string()
}

/// Traces a packet (`{"src", "dst", "port", "proto"}`, as [`trace`])
/// through a node's dumped rules, as `svcgen trace --rules`: `{"ok": true,
/// "report", "result"}` (`result` with the branches) or `{"ok": false,
/// "error"}`.
#[wasm_bindgen(js_name = traceRules)]
pub fn trace_rules(manifests: &str, settings_json: &str, rules: &str, packet_json: &str) -> String {
    let form = match settings(settings_json) {
        Ok(s) => s,
        Err(e) => return error(e),
    };
    let packet: TraceForm = match serde_json::from_str(packet_json) {
        Ok(p) => p,
        Err(e) => return error(format!("packet: {e}")),
    };
    let (loaded, _) = compute::load(manifests, &form);
    let node = crate::node::check(
        &loaded,
        &crate::node::NodeForm {
            rules: rules.to_string(),
            mode: String::new(),
        },
    );
    match crate::node::trace(&loaded, &node, &packet, &namespace(&form)) {
        Ok((p, t)) => json!({
            "ok": true,
            "report": libsvc::dump::trace::report(&p, &t),
            "result": t,
        })
        .to_string(),
        Err(e) => error(e),
    }
}

fn namespace(form: &FormSettings) -> String {
    match form.namespace.trim() {
        "" => "default".into(),
        ns => ns.into(),
    }
}

/// Encodes a state (`{"manifests", "settings", "tab", "trace"}`) for a URL
/// fragment; empty on a malformed state.
#[wasm_bindgen(js_name = encodeState)]
pub fn encode_state(state_json: &str) -> String {
    serde_json::from_str(state_json)
        .map(|s| share::encode(&s))
        .unwrap_or_default()
}

/// Decodes a URL fragment's state to JSON; `{"ok": false, "error"}` if it
/// is not one.
#[wasm_bindgen(js_name = decodeState)]
pub fn decode_state(encoded: &str) -> String {
    match share::decode(encoded) {
        Ok(s) => serde_json::to_string(&s).unwrap_or_default(),
        Err(e) => error(e),
    }
}

/// The page's clock (`performance.now()`, in the page and under node);
/// none natively.
fn clock() -> f64 {
    #[cfg(target_arch = "wasm32")]
    {
        use wasm_bindgen::JsCast;
        let perf = js_sys::Reflect::get(&js_sys::global(), &"performance".into()).ok();
        perf.and_then(|p| {
            let now: js_sys::Function = js_sys::Reflect::get(&p, &"now".into())
                .ok()?
                .dyn_into()
                .ok()?;
            now.call0(&p).ok()?.as_f64()
        })
        .unwrap_or(0.0)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        0.0
    }
}

/// A session of keystrokes, for the benchmark (`web/bench.mjs`): each
/// [`Session::update`] computes what the page computes for a keystroke
/// (libsvc reads only the edited YAML document, the visible output is
/// rendered, the diagnostics placed, the trace form's Service addresses
/// listed) and says where the time went.
#[wasm_bindgen]
pub struct Session {
    reader: compute::Reader,
    settings: FormSettings,
    /// Read the whole text every time (as before the reader kept documents).
    whole: bool,
}

#[wasm_bindgen]
impl Session {
    /// A new session with the settings form's JSON.
    #[wasm_bindgen(constructor)]
    pub fn new(settings_json: &str) -> Session {
        Session {
            reader: compute::Reader::default(),
            settings: settings(settings_json).unwrap_or_default(),
            whole: false,
        }
    }

    /// Reads the whole text on every update (`true`), for comparison.
    #[wasm_bindgen(js_name = readWhole)]
    pub fn read_whole(&mut self, whole: bool) {
        self.whole = whole;
    }

    /// One keystroke's update with `mode`'s tab open: `{"parse", "load",
    /// "rest", "render", "diagnostics", "targets", "total"}` in ms, and
    /// `"documents"`, `"reparsed"`.
    pub fn update(&mut self, manifests: &str, mode: &str) -> String {
        if self.whole {
            self.reader = compute::Reader::default();
        }
        let t0 = clock();
        let out = compute::update(&mut self.reader, manifests, &self.settings, &clock);
        let t1 = clock();
        if let Some(m) = Mode::parse(mode) {
            out.get(m);
        }
        let t2 = clock();
        let diagnostics = out.diagnostics().len();
        let t3 = clock();
        let targets = compute::targets(&out.loaded).len();
        let t4 = clock();
        let mut v = serde_json::to_value(&out.timings).unwrap_or_default();
        v["render"] = (t2 - t1).into();
        v["diagnostics"] = (t3 - t2).into();
        v["targets"] = (t4 - t3).into();
        v["total"] = (t4 - t0).into();
        v["diagnosticCount"] = diagnostics.into();
        v["targetCount"] = targets.into();
        v.to_string()
    }
}
