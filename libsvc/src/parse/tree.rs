//! The fast path of reading: each document's tree built from the scan's own
//! events, so the common manifest is parsed once instead of twice.
//!
//! The tree is exactly what serde-saphyr would give ([`super::node`]) only
//! where that is certain: no anchors, aliases or tags (serde-saphyr expands
//! and budgets them), no merge or complex keys, no repeated keys, and
//! scalars whose type is beyond doubt ([`plain`]). Anything else marks the
//! tree unsure, and that unit is read again by serde-saphyr, as before —
//! so every value, position and diagnostic stays what the slow path gives
//! (`libsvc/tests/parse_paths.rs` compares the two on every input it has).

use super::node::{Node, Pos, Value};
use serde_saphyr::granit_parser::ScalarStyle;

/// The value of a plain (unquoted) scalar, when its type is certain:
/// serde-saphyr tries null, then booleans (YAML 1.1 spellings), integers
/// (decimal, `0x`, `0o`, `0b`, underscores), floats, then falls back to a
/// string. `None`: not certain (the caller reads the unit the slow way).
pub fn plain(s: &str) -> Option<Value> {
    let b = s.as_bytes();
    let Some(&first) = b.first() else {
        return Some(Value::Null);
    };
    if first.is_ascii_alphabetic() {
        // No number starts with a letter (`inf`, `nan` stay strings); only
        // the null and boolean words are not strings.
        if b.len() <= 5 {
            if matches!(s, "null" | "Null" | "NULL") {
                return Some(Value::Null);
            }
            for (word, v) in [
                ("true", true),
                ("yes", true),
                ("y", true),
                ("on", true),
                ("false", false),
                ("no", false),
                ("n", false),
                ("off", false),
            ] {
                if s.eq_ignore_ascii_case(word) {
                    return Some(Value::Bool(v));
                }
            }
        }
        // Trailing whitespace is never part of a plain scalar, but the
        // converter trims it: keep those to the slow path.
        if b[b.len() - 1].is_ascii_whitespace() {
            return None;
        }
        return Some(Value::Str(s.to_owned()));
    }
    if first.is_ascii_digit() {
        if b.iter().all(u8::is_ascii_digit) {
            // A leading zero (`0755`) depends on the octal settings.
            if first == b'0' && b.len() > 1 {
                return None;
            }
            return s.parse::<i64>().ok().map(Value::Int);
        }
        // Two dots (an IP address), or a character no number has (`500m`,
        // `10.0.0.0/8`, `1.2.3-rc`): a string.
        let dots = b.iter().filter(|&&c| c == b'.').count();
        let numeric = |c: &u8| {
            c.is_ascii_hexdigit()
                || matches!(c, b'.' | b'+' | b'-' | b'_' | b'x' | b'X' | b'o' | b'O')
        };
        if (dots >= 2 || !b.iter().all(numeric)) && !b[b.len() - 1].is_ascii_whitespace() {
            return Some(Value::Str(s.to_owned()));
        }
        return None;
    }
    if s == "~" {
        return Some(Value::Null);
    }
    if first == b'/' && !b[b.len() - 1].is_ascii_whitespace() {
        // Paths (`/healthz`).
        return Some(Value::Str(s.to_owned()));
    }
    None
}

/// A scalar's value when certain (see [`plain`]); quoted and block scalars
/// are strings.
pub fn scalar(value: &str, style: ScalarStyle) -> Option<Value> {
    if style == ScalarStyle::Plain {
        plain(value)
    } else {
        Some(Value::Str(value.to_owned()))
    }
}

/// One open collection of the tree being built.
struct Open {
    pos: Pos,
    map: bool,
    items: Vec<Node>,
    entries: Vec<(Node, Node)>,
    /// In a map: the key waiting for its value.
    key: Option<Node>,
}

/// Builds the tree of one document from its events. Collections deeper
/// than `max_depth` are not built (the tree is unsure).
pub struct Builder {
    open: Vec<Open>,
    /// Levels opened past `max_depth` (not built).
    skipped: usize,
    max_depth: usize,
    /// Something in the tree needs serde-saphyr: one flag per open level,
    /// and one for the whole document.
    unsure: Vec<bool>,
    doc_unsure: bool,
    root: Option<Node>,
}

/// Maps with more keys than this are left to serde-saphyr (the check for
/// repeated keys is linear per key).
const MAX_FAST_KEYS: usize = 64;

impl Builder {
    /// A builder for one document.
    pub fn new(max_depth: usize) -> Self {
        Builder {
            open: Vec::new(),
            skipped: 0,
            max_depth,
            unsure: Vec::new(),
            doc_unsure: false,
            root: None,
        }
    }

    /// Marks every open level (and the document) as unsure.
    pub fn poison(&mut self) {
        self.doc_unsure = true;
        for u in &mut self.unsure {
            *u = true;
        }
    }

    /// A sequence or mapping starts.
    pub fn start(&mut self, map: bool, pos: Pos) {
        if self.skipped > 0 || self.open.len() >= self.max_depth {
            self.poison();
            self.skipped += 1;
            return;
        }
        // A collection as a mapping key: serde-saphyr's business.
        if self.open.last().is_some_and(|o| o.map && o.key.is_none()) {
            self.poison();
        }
        self.open.push(Open {
            pos,
            map,
            items: Vec::new(),
            entries: Vec::new(),
            key: None,
        });
        self.unsure.push(false);
    }

    /// The innermost sequence or mapping ends. Returns the finished node
    /// and whether it is sure, so that the scan can keep a `List` item's
    /// tree apart (then the parent gets a placeholder and is unsure).
    pub fn end(&mut self) -> Option<(Node, bool)> {
        if self.skipped > 0 {
            self.skipped -= 1;
            return None;
        }
        let open = self.open.pop()?;
        let sure = !self.unsure.pop().unwrap_or(true);
        let value = if open.map {
            if open.key.is_some() {
                // A key without value cannot come from the parser; be safe.
                self.poison();
            }
            Value::Map(open.entries)
        } else {
            Value::Seq(open.items)
        };
        Some((
            Node {
                value,
                pos: open.pos,
            },
            sure,
        ))
    }

    /// Adds a finished node to its parent (or makes it the root).
    pub fn add(&mut self, node: Node) {
        if self.skipped > 0 {
            return;
        }
        let Some(top) = self.open.last_mut() else {
            self.root = Some(node);
            return;
        };
        if !top.map {
            top.items.push(node);
            return;
        }
        match top.key.take() {
            None => {
                let bad = match &node.value {
                    // The merge key is serde-saphyr's to expand.
                    Value::Str(k) => k == "<<" || top.entries.len() >= MAX_FAST_KEYS,
                    Value::Map(_) | Value::Seq(_) => true,
                    _ => top.entries.len() >= MAX_FAST_KEYS,
                } || top.entries.iter().any(|(k, _)| k.value == node.value);
                top.key = Some(node);
                if bad {
                    self.poison();
                }
            }
            Some(key) => top.entries.push((key, node)),
        }
    }

    /// The document's tree, if it is sure.
    pub fn finish(self) -> Option<Node> {
        if self.doc_unsure || !self.open.is_empty() || self.skipped > 0 {
            return None;
        }
        self.root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_scalars_typed_as_serde_saphyr_does() {
        // parse_scalars.rs of serde-saphyr: null → bool → int → float → string.
        for (s, v) in [
            ("", Some(Value::Null)),
            ("~", Some(Value::Null)),
            ("null", Some(Value::Null)),
            ("Yes", Some(Value::Bool(true))),
            ("OFF", Some(Value::Bool(false))),
            ("80", Some(Value::Int(80))),
            ("0", Some(Value::Int(0))),
            ("0755", None),
            ("1.5", None),
            ("1e3", None),
            ("0x1F", None),
            ("10.0.0.1", Some(Value::Str("10.0.0.1".into()))),
            ("500m", Some(Value::Str("500m".into()))),
            ("nan", Some(Value::Str("nan".into()))),
            ("-1", None),
            (".inf", None),
            ("/healthz", Some(Value::Str("/healthz".into()))),
        ] {
            assert_eq!(plain(s), v, "{s:?}");
        }
    }
}
