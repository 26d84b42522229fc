//! The one pass over an input's YAML events: where each document (and each
//! item of a `List`) starts and ends, its kind and name, how deep it nests,
//! and where the text stops being YAML.
//!
//! It walks the parser's event stream without recursion, so a
//! 100,000-level document costs no stack, and it recovers at the next `---`
//! after a syntax error. On the way it builds each unit's tree where that is
//! certain to be serde-saphyr's ([`super::tree`], at most [`TREE_DEPTH`]
//! levels, no aliases). What it learns decides what is read ([`super::read`]):
//! only the kinds svcgen uses are decoded — from that tree, or else read
//! again by serde-saphyr under its budgets; every other kind is skipped
//! whatever its size or nesting.

use super::node::{Node, Pos, Value};
use super::tree::{self, Builder};
use serde_saphyr::granit_parser::{ErrorKind, Event, Options, Parser, ScalarStyle, Span};
use std::ops::Range;

/// How deep a document of a kind svcgen reads may nest (maps and lists,
/// the document itself being level 1). Kubernetes objects nest about a
/// dozen levels, a Pod template in a workload about twenty.
pub const MAX_DEPTH: usize = 32;

/// One YAML document of the input.
#[derive(Debug, Default)]
pub struct Doc {
    /// The root node; `None` for an empty document.
    pub root: Option<Unit>,
    /// The items of a top-level `items:` list (a `List`), complete ones only.
    pub items: Option<Vec<Unit>>,
    /// The item that was being read when a syntax error stopped the document.
    pub broken_item: Option<Unit>,
    /// The document uses aliases (`*name`), which may point across items.
    pub aliases: bool,
    /// The first syntax error; the rest of the document is not read.
    pub error: Option<SyntaxError>,
}

/// A syntax error.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    /// Where the parser stopped.
    pub pos: Pos,
    /// The same, as a byte offset.
    pub offset: usize,
    /// The parser's words.
    pub message: String,
    /// A `:` where no mapping value may start (often a missing colon on
    /// the line before).
    pub mapping_value: bool,
    /// A line of a mapping without `:` (a missing colon on this line).
    pub simple_key: bool,
}

/// The shape of a unit's root node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A mapping.
    Map,
    /// A sequence.
    Seq,
    /// A scalar or an alias.
    Scalar,
}

/// A scalar value seen in a unit, with where it was written.
#[derive(Debug, Clone)]
pub struct Text {
    /// The value.
    pub value: String,
    /// Plain (unquoted) scalars may resolve to numbers, booleans or null.
    pub plain: bool,
    /// Where it was written.
    pub pos: Pos,
}

/// An object candidate: a document's root, or an item of a `List`.
#[derive(Debug, Clone)]
pub struct Unit {
    /// Its text: from the root node's start to its end.
    pub range: Range<usize>,
    /// Where the root node starts (its column is also its indentation
    /// when `block`).
    pub pos: Pos,
    /// The root is a block collection (its text needs its indentation).
    pub block: bool,
    /// What the root is.
    pub shape: Shape,
    /// `kind`, `apiVersion`, `metadata.name`, `metadata.namespace`, when
    /// written as scalars.
    pub kind: Option<Text>,
    /// See `kind`.
    pub api_version: Option<Text>,
    /// See `kind`.
    pub name: Option<String>,
    /// See `kind`.
    pub namespace: Option<String>,
    /// Where the unit first nests deeper than [`MAX_DEPTH`], and the field
    /// path that leads there.
    pub too_deep: Option<(Pos, String)>,
    /// A `{{` that YAML read as a mapping inside a mapping key: template text.
    pub template: Option<Pos>,
    /// A value that is entirely `{{ … }}` in a field svcgen may read.
    pub template_value: Option<Pos>,
    /// Its tree, built from the scan's events when that is certain to be
    /// what serde-saphyr would read ([`super::tree`]); `None`: read it again.
    pub tree: Option<Node>,
}

impl Unit {
    fn new(span: &Span, text: &str, shape: Shape, block: bool) -> Self {
        let start = offset(text, span.start);
        Unit {
            range: start..start,
            pos: pos(span.start),
            block,
            shape,
            kind: None,
            api_version: None,
            name: None,
            namespace: None,
            too_deep: None,
            template: None,
            template_value: None,
            tree: None,
        }
    }
}

/// The 1-based position of a marker.
fn pos(m: serde_saphyr::granit_parser::Marker) -> Pos {
    Pos {
        line: u32::try_from(m.line()).unwrap_or(u32::MAX),
        column: u32::try_from(m.col() + 1).unwrap_or(u32::MAX),
    }
}

/// The byte offset of a marker. The parser records it for text input; the
/// fallback counts characters.
fn offset(text: &str, m: serde_saphyr::granit_parser::Marker) -> usize {
    m.byte_offset().unwrap_or_else(|| {
        text.char_indices()
            .nth(m.index())
            .map_or(text.len(), |(i, _)| i)
    })
}

/// One open collection.
struct Frame {
    map: bool,
    /// In a map: the next node is a key.
    expect_key: bool,
    /// In a map: the key whose value is being read (a scalar key).
    key: Option<String>,
    /// In a sequence: the index of the next item.
    index: usize,
}

impl Frame {
    fn segment(&self) -> String {
        if self.map {
            self.key.clone().unwrap_or_else(|| "?".into())
        } else {
            format!("[{}]", self.index)
        }
    }
}

/// The field path to the node being read, from the frame at `base` on.
fn path(stack: &[Frame], base: usize) -> String {
    let mut out = String::new();
    for f in &stack[base.min(stack.len())..] {
        let seg = f.segment();
        if !out.is_empty() && f.map {
            out.push('.');
        }
        out.push_str(&seg);
    }
    out
}

/// Where the item of a `List` being read sits: the document's root map,
/// then its `items` sequence.
const ITEM_BASE: usize = 2;

struct Scan<'t, F> {
    text: &'t str,
    each: F,
    doc: Doc,
    /// The document's tree, when the fast path is on.
    tree: Option<Builder>,
    fast: bool,
    stack: Vec<Frame>,
    item: Option<Unit>,
    /// Where the node being read starts.
    current_pos: Pos,
}

/// How deep the fast path builds trees (the rest is read by serde-saphyr,
/// whose depth budget then decides). Two levels under [`MAX_DEPTH`], so a
/// tree it builds is never one serde-saphyr's budget would refuse.
pub const TREE_DEPTH: usize = MAX_DEPTH - 2;

/// Scans an input into documents, handing each to `each` as soon as it
/// ends (so only one document's trees are held at a time). `fast`: build
/// the trees the fast path can (see [`Unit::tree`]).
pub fn scan(text: &str, fast: bool, each: impl FnMut(Doc)) {
    let mut options = Options::default();
    options.set_emit_comments(false);
    let mut parser = Parser::new_from_str_with_options(text, options);
    let mut s = Scan {
        text,
        each,
        doc: Doc::default(),
        tree: None,
        fast,
        stack: Vec::new(),
        item: None,
        current_pos: Pos::default(),
    };
    let mut open = false;
    loop {
        match parser.next_event() {
            None => break,
            Some(Ok((event, span))) => match event {
                Event::StreamStart | Event::StreamEnd => {}
                Event::DocumentStart(..) => {
                    s.start_doc();
                    open = true;
                }
                Event::DocumentEnd => {
                    s.end_doc();
                    open = false;
                }
                Event::Alias(_) => {
                    s.doc.aliases = true;
                    s.node_start(&span, Shape::Scalar, false, None);
                    let done = s.tree.as_ref().map(|_| {
                        (
                            Node {
                                value: Value::Null,
                                pos: pos(span.start),
                            },
                            false,
                        )
                    });
                    s.node_end(&span, done);
                }
                Event::Scalar(value, style, anchor, tag) => {
                    s.node_start(&span, Shape::Scalar, false, Some((value.as_ref(), style)));
                    let done = s.tree.as_ref().map(|_| {
                        let v = if anchor == 0 && tag.is_none() {
                            tree::scalar(&value, style)
                        } else {
                            None
                        };
                        let sure = v.is_some();
                        (
                            Node {
                                value: v.unwrap_or(Value::Null),
                                pos: pos(span.start),
                            },
                            sure,
                        )
                    });
                    s.node_end(&span, done);
                }
                Event::SequenceStart(style, anchor, tag) => {
                    let block = style == serde_saphyr::granit_parser::StructureStyle::Block;
                    s.node_start(&span, Shape::Seq, block, None);
                    s.push(false);
                    s.tree_start(false, &span, anchor != 0 || tag.is_some());
                }
                Event::MappingStart(style, anchor, tag) => {
                    let block = style == serde_saphyr::granit_parser::StructureStyle::Block;
                    s.node_start(&span, Shape::Map, block, None);
                    s.push(true);
                    s.tree_start(true, &span, anchor != 0 || tag.is_some());
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    s.stack.pop();
                    let done = s.tree.as_mut().and_then(Builder::end);
                    s.node_end(&span, done);
                }
                _ => {}
            },
            Some(Err(e)) => {
                if !open {
                    // An error before any document event: start one so the
                    // error has a place.
                    s.start_doc();
                }
                s.doc.error = Some(SyntaxError {
                    pos: pos(*e.marker()),
                    offset: offset(text, *e.marker()).min(text.len()),
                    message: e.kind().to_string(),
                    mapping_value: matches!(e.kind(), ErrorKind::MappingValueNotAllowed),
                    simple_key: matches!(e.kind(), ErrorKind::SimpleKeyExpected),
                });
                s.doc.broken_item = s.item.take();
                // A broken document is not read whole.
                s.tree = None;
                s.end_doc();
                open = false;
                // Resume at the next `---` (or end): the rest of the stream
                // is still read.
                if !matches!(parser.proceed_next_document(), Ok(true)) {
                    break;
                }
            }
        }
    }
    if open {
        s.end_doc();
    }
}

impl<F: FnMut(Doc)> Scan<'_, F> {
    fn start_doc(&mut self) {
        self.doc = Doc::default();
        self.stack.clear();
        self.item = None;
        self.tree = self.fast.then(|| Builder::new(TREE_DEPTH));
    }

    fn end_doc(&mut self) {
        self.stack.clear();
        self.item = None;
        let mut doc = std::mem::take(&mut self.doc);
        if let (Some(root), Some(tree)) = (&mut doc.root, self.tree.take()) {
            root.tree = tree.finish();
        }
        (self.each)(doc);
    }

    /// A collection starts: in the tree too (an anchored or tagged one is
    /// serde-saphyr's to read).
    fn tree_start(&mut self, map: bool, span: &Span, unsure: bool) {
        if let Some(t) = &mut self.tree {
            t.start(map, pos(span.start));
            if unsure {
                t.poison();
            }
        }
    }

    fn push(&mut self, map: bool) {
        self.stack.push(Frame {
            map,
            expect_key: true,
            key: None,
            index: 0,
        });
        let depth = self.stack.len();
        if depth > MAX_DEPTH {
            self.note_depth(depth);
        }
    }

    /// Records where a unit first goes deeper than [`MAX_DEPTH`].
    fn note_depth(&mut self, depth: usize) {
        let at = self.current_pos;
        if let Some(root) = &mut self.doc.root
            && root.too_deep.is_none()
        {
            root.too_deep = Some((at, path(&self.stack[..depth - 1], 0)));
        }
        if depth > ITEM_BASE + MAX_DEPTH
            && let Some(item) = &mut self.item
            && item.too_deep.is_none()
        {
            let p = path(&self.stack[..depth - 1], ITEM_BASE);
            item.too_deep = Some((at, p));
        }
    }

    /// Is the node about to start the root of a `List` item? (The document
    /// root is a map, in the value of its `items` key, which is a sequence.)
    fn at_item_root(&self) -> bool {
        self.stack.len() == ITEM_BASE
            && self.stack[0].map
            && !self.stack[0].expect_key
            && self.stack[0].key.as_deref() == Some("items")
            && !self.stack[1].map
    }

    fn node_start(
        &mut self,
        span: &Span,
        shape: Shape,
        block: bool,
        scalar: Option<(&str, ScalarStyle)>,
    ) {
        self.current_pos = pos(span.start);
        if self.stack.is_empty() {
            self.doc.root = Some(Unit::new(span, self.text, shape, block));
        } else if self.at_item_root() {
            self.item = Some(Unit::new(span, self.text, shape, block));
        }
        // `items:` of the root map holds a sequence: a List's items.
        if shape == Shape::Seq
            && self.stack.len() == 1
            && !self.stack[0].expect_key
            && self.stack[0].key.as_deref() == Some("items")
        {
            self.doc.items = Some(Vec::new());
        }
        let Some(top) = self.stack.last() else {
            return;
        };
        if top.map && top.expect_key {
            if let Some((value, _)) = scalar {
                if let Some(top) = self.stack.last_mut() {
                    top.key = Some(value.to_string());
                }
            } else if shape == Shape::Map
                && !block
                && self
                    .text
                    .as_bytes()
                    .get(offset(self.text, span.start).wrapping_sub(1))
                    == Some(&b'{')
            {
                // `{{ x }}`: a flow mapping as the key of a flow mapping.
                // No manifest has one (JSON keys are strings); a template does.
                let at = pos(span.start);
                let at = Pos {
                    column: at.column.saturating_sub(1).max(1),
                    ..at
                };
                for unit in [self.doc.root.as_mut(), self.item.as_mut()]
                    .into_iter()
                    .flatten()
                {
                    unit.template.get_or_insert(at);
                }
            }
            return;
        }
        let Some((value, style)) = scalar else {
            return;
        };
        self.note_value(value, style == ScalarStyle::Plain, pos(span.start));
    }

    /// A scalar value: is it the kind, apiVersion, name or namespace of the
    /// document or of the List item being read?
    fn note_value(&mut self, value: &str, plain: bool, at: Pos) {
        let trimmed = value.trim();
        let template = trimmed.starts_with("{{") && trimmed.ends_with("}}") && {
            // Annotations and container commands may hold templates for
            // other programs; they are not read.
            !self.stack.iter().any(|f| {
                matches!(
                    f.key.as_deref(),
                    Some("annotations" | "containers" | "initContainers" | "ephemeralContainers")
                )
            })
        };
        let depth = self.stack.len();
        let text = || Text {
            value: value.to_string(),
            plain,
            pos: at,
        };
        let mut units: [(usize, Option<&mut Unit>); 2] =
            [(0, self.doc.root.as_mut()), (ITEM_BASE, self.item.as_mut())];
        for (base, unit) in units.iter_mut() {
            let Some(unit) = unit else { continue };
            if template {
                unit.template_value.get_or_insert(at);
            }
            if depth == *base + 1 {
                match self.stack[*base].key.as_deref() {
                    Some("kind") => unit.kind = Some(text()),
                    Some("apiVersion") => unit.api_version = Some(text()),
                    _ => {}
                }
            } else if depth == *base + 2 && self.stack[*base].key.as_deref() == Some("metadata") {
                match self.stack[*base + 1].key.as_deref() {
                    Some("name") => unit.name = Some(value.to_string()),
                    Some("namespace") => unit.namespace = Some(value.to_string()),
                    _ => {}
                }
            }
        }
    }

    /// A node ended at `span`: close the unit it was the root of, and
    /// move its parent on to the next key, value or item. `done`: the
    /// node's tree and whether it is sure (with the fast path on).
    fn node_end(&mut self, span: &Span, done: Option<(Node, bool)>) {
        let end = offset(self.text, span.end);
        let mut done = done;
        if self.stack.is_empty() {
            if let Some(root) = &mut self.doc.root {
                root.range.end = end.max(root.range.start);
            }
        } else if self.stack.len() == ITEM_BASE
            && let Some(mut item) = self.item.take()
        {
            item.range.end = end.max(item.range.start);
            // A List item keeps its own tree (read item by item); the
            // document's tree is then incomplete, hence unsure.
            if let (Some(t), Some((node, sure))) = (&mut self.tree, done.take()) {
                item.tree = sure.then_some(node);
                t.poison();
            }
            if let Some(items) = &mut self.doc.items {
                items.push(item);
            }
        }
        if let (Some(t), Some((node, sure))) = (&mut self.tree, done) {
            if !sure {
                t.poison();
            }
            t.add(node);
        }
        if let Some(top) = self.stack.last_mut() {
            if top.map {
                if top.expect_key {
                    top.expect_key = false;
                } else {
                    top.expect_key = true;
                    top.key = None;
                }
            } else {
                top.index += 1;
            }
        }
    }
}
