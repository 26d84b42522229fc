//! The manifest editor: CodeMirror 6 (web/editor/editor.js, bundled at
//! build time into dist/editor.js), reached through `window.svcgenEditor`.
//! Native builds (unit tests) have no editor: these calls do nothing there.

#[cfg(target_arch = "wasm32")]
mod js {
    use wasm_bindgen::prelude::*;

    #[wasm_bindgen(js_namespace = svcgenEditor)]
    extern "C" {
        #[wasm_bindgen(js_name = mount)]
        pub fn mount(
            host: &web_sys::Element,
            text: &str,
            on_change: &js_sys::Function,
            on_cursor: &js_sys::Function,
        );
        #[wasm_bindgen(js_name = setText)]
        pub fn set_text(text: &str);
        #[wasm_bindgen(js_name = setDiagnostics)]
        pub fn set_diagnostics(json: &str);
        #[wasm_bindgen(js_name = goto)]
        pub fn goto(offset: u32);
    }
}

use crate::compute::Diag;
use yew::Callback;

/// Mounts the editor in `host`: `on_change(text, time)` on every edit by the
/// person, `on_cursor(line, column)` when the caret moves.
pub fn mount(
    host: &web_sys::Element,
    text: &str,
    on_change: Callback<(String, f64)>,
    on_cursor: Callback<(u32, u32)>,
) {
    #[cfg(target_arch = "wasm32")]
    {
        use wasm_bindgen::JsCast;
        use wasm_bindgen::prelude::*;
        let change =
            Closure::<dyn Fn(String, f64)>::new(move |t: String, at: f64| on_change.emit((t, at)));
        let cursor = Closure::<dyn Fn(u32, u32)>::new(move |l: u32, c: u32| on_cursor.emit((l, c)));
        js::mount(
            host,
            text,
            change.as_ref().unchecked_ref(),
            cursor.as_ref().unchecked_ref(),
        );
        // The editor lives as long as the page.
        change.forget();
        cursor.forget();
    }
    #[cfg(not(target_arch = "wasm32"))]
    let _ = (host, text, on_change, on_cursor);
}

/// Replaces the editor's text (not reported back as an edit).
pub fn set_text(text: &str) {
    #[cfg(target_arch = "wasm32")]
    js::set_text(text);
    #[cfg(not(target_arch = "wasm32"))]
    let _ = text;
}

/// Marks the diagnostics that have a place in the text.
pub fn set_diagnostics(diags: &[Diag]) {
    let placed: Vec<serde_json::Value> = diags
        .iter()
        .filter_map(|d| {
            d.offset.map(|o| {
                serde_json::json!({"offset": o, "severity": d.severity.to_string(), "message": d.message})
            })
        })
        .collect();
    let json = serde_json::Value::from(placed).to_string();
    #[cfg(target_arch = "wasm32")]
    js::set_diagnostics(&json);
    #[cfg(not(target_arch = "wasm32"))]
    let _ = json;
}

/// Moves the caret to a UTF-16 offset, scrolls it into view, focuses.
pub fn goto(offset: u32) {
    #[cfg(target_arch = "wasm32")]
    js::goto(offset);
    #[cfg(not(target_arch = "wasm32"))]
    let _ = offset;
}
