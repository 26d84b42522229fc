//! The person's work, kept in the browser's localStorage: one draft per
//! example (its edited text), and which example was open. Nothing leaves
//! the browser. Without storage (private mode, tests) nothing is kept.

const PREFIX: &str = "svcgen.draft.";
const CURRENT: &str = "svcgen.current";
const RULES: &str = "svcgen.rules";

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// The kept draft of an example.
pub fn get(example: &str) -> Option<String> {
    storage()?.get_item(&format!("{PREFIX}{example}")).ok()?
}

/// Keeps `text` as the draft of `example`, or forgets it when it is the
/// example's own text.
pub fn put(example: &str, text: &str, original: &str) {
    let Some(s) = storage() else { return };
    let key = format!("{PREFIX}{example}");
    let _ = if text == original {
        s.remove_item(&key)
    } else {
        s.set_item(&key, text)
    };
}

/// The example open last.
pub fn current() -> Option<String> {
    storage()?.get_item(CURRENT).ok()?
}

/// Remembers the example open now.
pub fn set_current(example: &str) {
    if let Some(s) = storage() {
        let _ = s.set_item(CURRENT, example);
    }
}

/// The node rules panel's form, kept last.
pub fn rules() -> Option<crate::node::NodeForm> {
    let s = storage()?.get_item(RULES).ok()??;
    serde_json::from_str(&s).ok()
}

/// Keeps the node rules panel's form (forgets it when empty).
pub fn set_rules(form: &crate::node::NodeForm) {
    let Some(s) = storage() else { return };
    let _ = if form == &crate::node::NodeForm::default() {
        s.remove_item(RULES)
    } else {
        s.set_item(RULES, &serde_json::to_string(form).unwrap_or_default())
    };
}
