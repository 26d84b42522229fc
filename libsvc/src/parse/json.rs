//! The fast path for JSON input (`kubectl get -o json`): one strict JSON
//! value read by a small parser of its own, straight into the tree and the
//! scan's [`Doc`] — no YAML parser at all.
//!
//! JSON is YAML, and the result must be what the YAML path gives, so this
//! path only takes input where that is certain: one object or array and
//! nothing after it, integers only (no fractions or exponents, no `-0`),
//! strings without `\u` escapes, control characters or `{{`, keys on one
//! line with their colon and no longer than YAML's 1024-character simple
//! keys, no repeated keys, no tab or carriage return outside strings, and
//! at most [`super::scan`]'s tree depth. Anything else returns `None` and
//! the input takes the YAML path (`libsvc/tests/parse_paths.rs` compares
//! the two).

use super::node::{Node, Pos, Value};
use super::scan::{Doc, Shape, Text, Unit};

/// The document of a JSON input, or `None` when the YAML path must read it.
pub fn doc(text: &str, max_depth: usize) -> Option<Doc> {
    let first = text.bytes().find(|b| !matches!(b, b' ' | b'\n'))?;
    if first != b'{' && first != b'[' {
        return None;
    }
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        i: 0,
        line: 1,
        line_start: 0,
        counted: std::cell::Cell::new((0, 0)),
        max_depth,
        items: None,
    };
    p.ws();
    let root = p.value(0)?;
    p.ws();
    if p.i != p.s.len() {
        return None;
    }
    let mut unit = unit_of(&root);
    let items = p.items.take();
    unit.tree = Some(root);
    Some(Doc {
        root: Some(unit),
        items,
        ..Doc::default()
    })
}

/// What the scan notes about a unit ([`Unit`]): its shape, position,
/// `kind`, `apiVersion`, `metadata.name` and `metadata.namespace` when
/// written as scalars (numbers and literals as written).
fn unit_of(node: &Node) -> Unit {
    let shape = match node.value {
        Value::Map(_) => Shape::Map,
        Value::Seq(_) => Shape::Seq,
        _ => Shape::Scalar,
    };
    let scalar = |n: &Node| -> Option<(String, bool)> {
        Some(match &n.value {
            Value::Str(s) => (s.clone(), false),
            Value::Int(i) => (i.to_string(), true),
            Value::Bool(b) => (b.to_string(), true),
            Value::Null => ("null".to_string(), true),
            _ => return None,
        })
    };
    let text = |key: &str| {
        let n = node.get(key)?;
        let (value, plain) = scalar(n)?;
        Some(Text {
            value,
            plain,
            pos: n.pos,
        })
    };
    let meta = node.get("metadata");
    let meta_text = |key: &str| scalar(meta?.get(key)?).map(|(v, _)| v);
    Unit {
        range: 0..0,
        pos: node.pos,
        block: false,
        shape,
        kind: text("kind"),
        api_version: text("apiVersion"),
        name: meta_text("name"),
        namespace: meta_text("namespace"),
        too_deep: None,
        template: None,
        template_value: None,
        tree: None,
    }
}

/// Does a key appear twice? (serde-saphyr refuses that; the YAML path says so.)
fn repeated_key(entries: &[(Node, Node)]) -> bool {
    let mut keys: Vec<&str> = entries.iter().filter_map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    keys.windows(2).any(|w| w[0] == w[1])
}

struct Parser<'t> {
    s: &'t [u8],
    text: &'t str,
    i: usize,
    line: u32,
    line_start: usize,
    /// (byte offset, characters before it on its line): positions are
    /// asked in order, so columns are counted once (a one-line JSON of
    /// megabytes stays linear).
    counted: std::cell::Cell<(usize, usize)>,
    max_depth: usize,
    /// The items of the root's `items` array, each with its own tree.
    items: Option<Vec<Unit>>,
}

impl Parser<'_> {
    fn pos(&self) -> Pos {
        let (at, before) = self.counted.get();
        let (from, before) = if at >= self.line_start && at <= self.i {
            (at, before)
        } else {
            (self.line_start, 0)
        };
        let column = before + self.text.get(from..self.i).map_or(0, |l| l.chars().count());
        self.counted.set((self.i, column));
        Pos {
            line: self.line,
            column: u32::try_from(column + 1).unwrap_or(u32::MAX),
        }
    }

    fn ws(&mut self) {
        while let Some(&b) = self.s.get(self.i) {
            match b {
                b' ' => self.i += 1,
                b'\n' => {
                    self.i += 1;
                    self.line += 1;
                    self.line_start = self.i;
                }
                _ => return,
            }
        }
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        (self.s.get(self.i) == Some(&b)).then(|| self.i += 1)
    }

    /// A value at `depth` (collections opened above it).
    fn value(&mut self, depth: usize) -> Option<Node> {
        let pos = self.pos();
        let value = match *self.s.get(self.i)? {
            b'{' => {
                if depth >= self.max_depth {
                    return None;
                }
                self.i += 1;
                let mut entries: Vec<(Node, Node)> = Vec::new();
                self.ws();
                if self.eat(b'}').is_none() {
                    loop {
                        self.ws();
                        let kpos = self.pos();
                        let key = self.string()?;
                        let key_line = self.line;
                        if key.chars().count() > 1024 {
                            return None;
                        }
                        self.ws();
                        if self.line != key_line {
                            return None;
                        }
                        self.eat(b':')?;
                        self.ws();
                        let is_items = depth == 0 && key == "items";
                        let v = if is_items && self.s.get(self.i) == Some(&b'[') {
                            self.items_array(depth + 1)?
                        } else {
                            self.value(depth + 1)?
                        };
                        entries.push((
                            Node {
                                value: Value::Str(key),
                                pos: kpos,
                            },
                            v,
                        ));
                        self.ws();
                        if self.eat(b',').is_none() {
                            self.eat(b'}')?;
                            break;
                        }
                    }
                }
                if repeated_key(&entries) {
                    return None;
                }
                Value::Map(entries)
            }
            b'[' => {
                if depth >= self.max_depth {
                    return None;
                }
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.eat(b']').is_none() {
                    loop {
                        self.ws();
                        items.push(self.value(depth + 1)?);
                        self.ws();
                        if self.eat(b',').is_none() {
                            self.eat(b']')?;
                            break;
                        }
                    }
                }
                Value::Seq(items)
            }
            b'"' => Value::Str(self.string()?),
            b't' => self.literal("true", Value::Bool(true))?,
            b'f' => self.literal("false", Value::Bool(false))?,
            b'n' => self.literal("null", Value::Null)?,
            b'-' | b'0'..=b'9' => self.integer()?,
            _ => return None,
        };
        Some(Node { value, pos })
    }

    /// The root's `items` array: each item becomes a [`Unit`] of its own
    /// (as the scan makes them); the root's tree gets an empty list.
    fn items_array(&mut self, depth: usize) -> Option<Node> {
        let pos = self.pos();
        if depth >= self.max_depth {
            return None;
        }
        self.i += 1;
        let mut units = Vec::new();
        self.ws();
        if self.eat(b']').is_none() {
            loop {
                self.ws();
                let item = self.value(depth + 1)?;
                let mut unit = unit_of(&item);
                unit.tree = Some(item);
                units.push(unit);
                self.ws();
                if self.eat(b',').is_none() {
                    self.eat(b']')?;
                    break;
                }
            }
        }
        if self.items.replace(units).is_some() {
            return None;
        }
        Some(Node {
            value: Value::Seq(Vec::new()),
            pos,
        })
    }

    fn literal(&mut self, word: &str, value: Value) -> Option<Value> {
        if !self.s[self.i..].starts_with(word.as_bytes()) {
            return None;
        }
        self.i += word.len();
        // `nullx` is one plain scalar in YAML.
        if self
            .s
            .get(self.i)
            .is_some_and(|b| !matches!(b, b',' | b'}' | b']' | b' ' | b'\n'))
        {
            return None;
        }
        Some(value)
    }

    fn integer(&mut self) -> Option<Value> {
        let start = self.i;
        if self.s[self.i] == b'-' {
            self.i += 1;
        }
        let digits = self.i;
        while self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        let n = &self.text[start..self.i];
        let d = &self.text[digits..self.i];
        // Fractions, exponents, leading zeros, `-0`: the YAML path decides.
        if d.is_empty()
            || (d.starts_with('0') && (d.len() > 1 || n.starts_with('-')))
            || self
                .s
                .get(self.i)
                .is_some_and(|b| !matches!(b, b',' | b'}' | b']' | b' ' | b'\n'))
        {
            return None;
        }
        n.parse::<i64>().ok().map(Value::Int)
    }

    /// A string: simple escapes only; no control characters, no `{{`.
    fn string(&mut self) -> Option<String> {
        self.eat(b'"')?;
        let start = self.i;
        let mut out: Option<String> = None;
        let mut from = start;
        loop {
            let b = *self.s.get(self.i)?;
            match b {
                b'"' => break,
                b'\\' => {
                    let o = out.get_or_insert_with(String::new);
                    o.push_str(&self.text[from..self.i]);
                    let c = match *self.s.get(self.i + 1)? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        _ => return None,
                    };
                    o.push(c);
                    self.i += 2;
                    from = self.i;
                }
                0..=0x1f => return None,
                _ => self.i += 1,
            }
        }
        let raw = &self.text[from..self.i];
        self.i += 1;
        let s = match out {
            Some(mut o) => {
                o.push_str(raw);
                o
            }
            None => raw.to_string(),
        };
        if s.contains("{{") {
            return None;
        }
        Some(s)
    }
}
