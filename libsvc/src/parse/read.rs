//! One input → objects: each document (and each item of a `List`) is
//! classified by the scan (or, for JSON, by [`super::json`]), then the
//! kinds svcgen uses are decoded from the tree the scan built, or read in
//! full with serde-saphyr under its budgets when it built none, and every
//! other kind is skipped unread — so a CustomResourceDefinition nesting 60 levels, or one
//! that is not even valid YAML, never stops the Services next to it.

use super::decode::{api_versions, decode_document, is_list};
use super::node::{Node, Pos, Value};
use super::scan::{self, Doc, MAX_DEPTH, Shape, SyntaxError, Unit};
use super::{Input, Parsed, Skipped};
use crate::diag::{Diagnostic, Location, Severity};
use serde_saphyr::budget::{BudgetBreach, BudgetReport};
use std::cell::RefCell;
use std::rc::Rc;

/// serde-saphyr's limits for one whole input (all the documents read in
/// full share them), sized for real clusters — tens of thousands of objects
/// in one stream — while keeping alias bombs out.
#[derive(Debug, Clone)]
struct Allowance {
    events: usize,
    nodes: usize,
    aliases: usize,
    anchors: usize,
    recorded_anchor_events: usize,
    recorded_anchor_bytes: usize,
    scalar_bytes: usize,
}

impl Default for Allowance {
    fn default() -> Self {
        Allowance {
            events: 100_000_000,
            nodes: 50_000_000,
            aliases: 10_000,
            anchors: 50_000,
            recorded_anchor_events: 100_000,
            recorded_anchor_bytes: 16 * 1024 * 1024,
            scalar_bytes: 64 * 1024 * 1024,
        }
    }
}

impl Allowance {
    fn budget(&self, max_depth: usize) -> serde_saphyr::Budget {
        let mut b = serde_saphyr::Budget::default();
        b.max_documents = 1;
        b.max_events = self.events;
        b.max_nodes = self.nodes;
        b.max_aliases = self.aliases;
        b.max_anchors = self.anchors;
        b.max_recorded_anchor_events = self.recorded_anchor_events;
        b.max_recorded_anchor_bytes = self.recorded_anchor_bytes;
        b.max_total_scalar_bytes = self.scalar_bytes;
        // Each level costs stack in the deserializer; the scan has already
        // refused deeper documents with a clearer message.
        b.max_depth = max_depth;
        b
    }

    fn spend(&mut self, used: &BudgetReport) {
        self.events = self.events.saturating_sub(used.events);
        self.nodes = self.nodes.saturating_sub(used.nodes);
        self.aliases = self.aliases.saturating_sub(used.aliases);
        self.anchors = self.anchors.saturating_sub(used.anchors);
        self.recorded_anchor_events = self
            .recorded_anchor_events
            .saturating_sub(used.recorded_anchor_events);
        self.recorded_anchor_bytes = self
            .recorded_anchor_bytes
            .saturating_sub(used.recorded_anchor_bytes);
        self.scalar_bytes = self.scalar_bytes.saturating_sub(used.total_scalar_bytes);
    }
}

struct Reader<'a> {
    input: &'a Input,
    out: &'a mut Parsed,
    allowance: Allowance,
    /// The input was found to be a template; said once.
    template: bool,
    /// Use the trees the scan built (see [`super::tree`]).
    fast: bool,
}

pub(super) fn parse_input(input: &Input, out: &mut Parsed, fast: bool) {
    if input.text.len() > super::MAX_INPUT_BYTES {
        out.diagnostics.push(Diagnostic::new(
            Severity::Error,
            format!(
                "input is {} bytes; svcgen reads at most {} MiB per input",
                input.text.len(),
                super::MAX_INPUT_BYTES / (1024 * 1024)
            ),
            Some(Location {
                file: input.name.clone(),
                line: 1,
                column: 1,
            }),
        ));
        return;
    }
    let mut r = Reader {
        input,
        out,
        allowance: Allowance::default(),
        template: false,
        fast,
    };
    if r.fast
        && let Some(doc) = super::json::doc(&input.text, scan::TREE_DEPTH)
        && read_by_items(&doc)
    {
        return r.doc(doc);
    }
    scan::scan(&input.text, r.fast, |doc| r.doc(doc));
}

/// The JSON fast path gives a document with `items` only their trees
/// (the root's has an empty list there): it takes only a `List`, which
/// [`Reader::doc`] reads item by item.
fn read_by_items(doc: &Doc) -> bool {
    let Some(root) = &doc.root else {
        return false;
    };
    if doc.items.is_none() {
        return true;
    }
    matches!(class(root), Class::Read(kind) if is_list(kind, root.api_version.as_ref().map(|t| t.value.as_str())))
}

/// The kinds a document may be: read in full, skipped, or without a kind.
enum Class<'u> {
    Read(&'u str),
    Skip(&'u str),
    NoKind,
}

fn class(unit: &Unit) -> Class<'_> {
    let Some(kind) = &unit.kind else {
        return Class::NoKind;
    };
    let k = kind.value.as_str();
    // A kind must be a name; a plain `1`, `true` or `~` is a value of
    // another type, which the decoder reports.
    let name = k.starts_with(|c: char| c.is_ascii_alphabetic())
        && k.chars().all(|c| c.is_ascii_alphanumeric())
        && !(kind.plain && matches!(k, "true" | "false" | "True" | "False" | "TRUE" | "FALSE"));
    if !name {
        return Class::Read(k);
    }
    let api_version = unit.api_version.as_ref().map(|t| t.value.as_str());
    if api_versions(k).is_some() || is_list(k, api_version) {
        Class::Read(k)
    } else {
        Class::Skip(k)
    }
}

/// `Service default/web`, `Service web`, or `Service`.
fn describe(kind: &str, unit: &Unit) -> String {
    match (&unit.namespace, &unit.name) {
        (Some(ns), Some(n)) => format!("{kind} {ns}/{n}"),
        (None, Some(n)) => format!("{kind} {n}"),
        _ => kind.to_string(),
    }
}

impl Reader<'_> {
    fn location(&self, pos: Pos) -> Location {
        Location {
            file: self.input.name.clone(),
            line: pos.line.max(1),
            column: pos.column.max(1),
        }
    }

    fn push(&mut self, severity: Severity, pos: Pos, message: String, field: Option<String>) {
        let mut d = Diagnostic::new(severity, message, Some(self.location(pos)));
        d.field = field.filter(|f| !f.is_empty());
        self.out.diagnostics.push(d);
    }

    fn doc(&mut self, mut doc: Doc) {
        if let Some(error) = doc.error.take() {
            return self.broken(&mut doc, &error);
        }
        let Some(root) = &mut doc.root else {
            return;
        };
        if let Some(at) = root.template {
            return self.template(at);
        }
        // A List is read item by item, so that a large item of another
        // kind is skipped like a document of its own. Aliases could point
        // from one item into another: then the List is read whole.
        if let (Class::Read(kind), Some(items)) = (class(root), &mut doc.items)
            && is_list(kind, root.api_version.as_ref().map(|t| t.value.as_str()))
            && !doc.aliases
        {
            for item in items {
                self.unit(item, MAX_DEPTH);
            }
            return;
        }
        // A List read whole holds its items two levels down.
        let depth = match class(root) {
            Class::Read(k) if is_list(k, root.api_version.as_ref().map(|t| t.value.as_str())) => {
                MAX_DEPTH + 2
            }
            _ => MAX_DEPTH,
        };
        self.unit(root, depth);
    }

    /// A document that is not valid YAML. If it is of a kind svcgen skips,
    /// that is a warning; otherwise an error. The documents after it are
    /// still read.
    fn broken(&mut self, doc: &mut Doc, error: &SyntaxError) {
        // Template text mostly breaks YAML right where a `{{` is, if not
        // before (a `{{ x }}` that still parsed as a mapping).
        let earlier = [doc.root.as_ref(), doc.broken_item.as_ref()]
            .into_iter()
            .flatten()
            .find_map(|u| u.template);
        if let Some(at) = earlier {
            return self.template(at);
        }
        let text = &self.input.text;
        let line_start = text[..error.offset].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[error.offset..]
            .find('\n')
            .map_or(text.len(), |i| error.offset + i);
        if let Some(i) = text[line_start..line_end].find("{{") {
            let at = Pos {
                line: error.pos.line,
                column: text[line_start..line_start + i].chars().count() as u32 + 1,
            };
            self.template(at);
            return;
        }
        // The complete items of a List before the broken one are read. (In
        // kubectl's JSON, `kind: List` comes after the items, so a root
        // with `items` and no kind yet is taken for a List.)
        let mut failed = doc.root.as_ref();
        if let (Some(root), Some(items)) = (&doc.root, &mut doc.items)
            && match class(root) {
                Class::Read(kind) => {
                    is_list(kind, root.api_version.as_ref().map(|t| t.value.as_str()))
                }
                Class::NoKind => true,
                Class::Skip(_) => false,
            }
        {
            for item in items {
                self.unit(item, MAX_DEPTH);
            }
            failed = doc.broken_item.as_ref();
        }
        let (pos, message) = explain(&self.input.text, error);
        if let Some(unit) = failed
            && let Class::Skip(kind) = class(unit)
        {
            let what = describe(kind, unit);
            self.push(
                Severity::Warning,
                pos,
                format!("cannot parse {what}, skipped (svcgen does not use this kind): {message}"),
                None,
            );
            return self.skip(kind, unit);
        }
        self.push(
            Severity::Error,
            pos,
            format!("cannot parse YAML/JSON: {message}"),
            None,
        );
    }

    /// Text with `{{ … }}` in it is a Helm (Go) template: said once per input.
    fn template(&mut self, at: Pos) {
        if std::mem::replace(&mut self.template, true) {
            return;
        }
        self.push(
            Severity::Error,
            at,
            "unrendered Helm (Go) template: `{{ … }}` is template syntax, not YAML; render the \
             chart first, e.g. `helm template RELEASE CHART | svcgen validate -f -`"
                .into(),
            None,
        );
    }

    /// Records an object of a kind svcgen does not use.
    fn skip(&mut self, kind: &str, unit: &Unit) {
        let name = match (&unit.namespace, &unit.name) {
            (Some(ns), Some(n)) => Some(format!("{ns}/{n}")),
            (None, Some(n)) => Some(n.clone()),
            _ => None,
        };
        let location = self.location(unit.pos);
        self.out.skipped.push(Skipped {
            kind: Some(kind.to_string()),
            api_version: unit.api_version.as_ref().map(|t| t.value.clone()),
            name,
            location,
        });
    }

    /// One object candidate.
    fn unit(&mut self, unit: &mut Unit, max_depth: usize) {
        if let Some(at) = unit.template {
            return self.template(at);
        }
        let what = match class(unit) {
            Class::Skip(kind) => {
                if let Some(kind_text) = &unit.kind
                    && let Some(meant) = super::fields::meant_kind(kind)
                {
                    self.push(
                        Severity::Warning,
                        kind_text.pos,
                        format!("unknown kind {kind:?}: did you mean {meant:?}? (skipped)"),
                        Some("kind".into()),
                    );
                }
                return self.skip(kind, unit);
            }
            Class::NoKind if self.input.from_directory && unit.shape != Shape::Scalar => {
                self.out.skipped.push(Skipped {
                    kind: None,
                    api_version: unit.api_version.as_ref().map(|t| t.value.clone()),
                    name: unit.name.clone(),
                    location: self.location(unit.pos),
                });
                return;
            }
            Class::Read(kind) => describe(kind, unit),
            Class::NoKind => "this document".to_string(),
        };
        if let Some(at) = unit.template_value {
            return self.template(at);
        }
        // (A List read whole is held to the budget's depth, two more levels.)
        if max_depth == MAX_DEPTH
            && let Some((at, path)) = &unit.too_deep
        {
            let depth = max_depth;
            let place = if path.is_empty() {
                String::new()
            } else {
                format!(" (under {})", elide(path))
            };
            return self.push(
                Severity::Error,
                *at,
                format!(
                    "{what} nests deeper than {depth} levels{place}; svcgen refuses such input to \
                     protect itself (Kubernetes objects of this kind nest far less)"
                ),
                Some(path.clone()),
            );
        }
        let tree = unit.tree.take();
        let Some(node) = tree.or_else(|| self.read(unit, max_depth, &what)) else {
            return;
        };
        if matches!(node.value, Value::Null) {
            return;
        }
        if self.input.from_directory && matches!(class(unit), Class::NoKind) {
            // A scalar document in a directory: not a manifest.
            self.out.skipped.push(Skipped {
                kind: None,
                api_version: None,
                name: None,
                location: self.location(unit.pos),
            });
            return;
        }
        decode_document(&self.input.name, &node, self.out);
    }

    /// Reads a unit's text in full with serde-saphyr, under the input's
    /// remaining budget.
    fn read(&mut self, unit: &Unit, max_depth: usize, what: &str) -> Option<Node> {
        let text = &self.input.text;
        let body = &text[unit.range.clone()];
        // A block collection needs its indentation; a flow one may start
        // mid-line, and only its first line's columns move.
        let (owned, column_shift);
        let source = if unit.block {
            owned = format!(
                "{}{body}",
                " ".repeat(unit.pos.column.saturating_sub(1) as usize)
            );
            column_shift = 0;
            owned.as_str()
        } else {
            column_shift = unit.pos.column.saturating_sub(1);
            body
        };
        let line_shift = unit.pos.line.saturating_sub(1);
        let report: Rc<RefCell<Option<BudgetReport>>> = Rc::default();
        let sink = report.clone();
        let mut options = serde_saphyr::Options::default();
        options.budget = Some(self.allowance.budget(max_depth));
        let options = options.with_budget_report(move |r| *sink.borrow_mut() = Some(r));
        let result = serde_saphyr::from_str_with_options::<Node>(source, options);
        match &*report.borrow() {
            Some(used) => self.allowance.spend(used),
            // No report (the parse stopped on an error of its own): charge
            // what the text could hold without aliases.
            None => {
                self.allowance.events = self.allowance.events.saturating_sub(body.len());
                self.allowance.nodes = self.allowance.nodes.saturating_sub(body.len());
            }
        }
        match result {
            Ok(mut node) => {
                shift(&mut node, line_shift, column_shift);
                Some(node)
            }
            Err(e) => {
                let at = e.location().map_or(unit.pos, |l| {
                    let line = (l.line() as u32).max(1);
                    let column = (l.column() as u32).max(1);
                    Pos {
                        line: line + line_shift,
                        column: if line == 1 {
                            column + column_shift
                        } else {
                            column
                        },
                    }
                });
                let message = match budget_breach(&e) {
                    Some(b) => breach_message(b, what, max_depth),
                    None => format!("cannot parse YAML/JSON: {}", first_line(&e.to_string())),
                };
                self.push(Severity::Error, at, message, None);
                None
            }
        }
    }
}

/// A long field path with its middle left out: `spec.a.b … y.z`.
fn elide(path: &str) -> String {
    let parts: Vec<&str> = path.split('.').collect();
    if parts.len() <= 6 {
        return path.to_string();
    }
    format!(
        "{} … {}",
        parts[..3].join("."),
        parts[parts.len() - 2..].join(".")
    )
}

/// Moves positions read from a unit's own text to the input's.
fn shift(node: &mut Node, lines: u32, first_line_columns: u32) {
    if node.pos.line == 1 {
        node.pos.column += first_line_columns;
    }
    node.pos.line += lines;
    match &mut node.value {
        Value::Seq(items) => items
            .iter_mut()
            .for_each(|n| shift(n, lines, first_line_columns)),
        Value::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
            shift(k, lines, first_line_columns);
            shift(v, lines, first_line_columns);
        }),
        _ => {}
    }
}

/// The budget breach behind an error, if that is what it is (possibly
/// wrapped with a snippet or the alias that led to it).
fn budget_breach(mut e: &serde_saphyr::Error) -> Option<&BudgetBreach> {
    use serde_saphyr::Error;
    loop {
        match e {
            Error::Budget { breach, .. } => return Some(breach),
            Error::WithSnippet { error, .. } | Error::AliasError { error, .. } => e = error,
            _ => return None,
        }
    }
}

/// A budget breach in words.
fn breach_message(breach: &BudgetBreach, what: &str, max_depth: usize) -> String {
    let limit = match breach {
        BudgetBreach::Depth { .. } => {
            return format!(
                "{what} nests deeper than {max_depth} levels (counting YAML aliases expanded); \
                 svcgen refuses such input to protect itself"
            );
        }
        BudgetBreach::Aliases { .. } => "too many aliases (`*name`) for one input",
        BudgetBreach::Anchors { .. } => "too many anchors (`&name`) for one input",
        BudgetBreach::Events { .. } | BudgetBreach::Nodes { .. } => {
            "too many values once its aliases are expanded (an alias bomb?)"
        }
        BudgetBreach::ScalarBytes { .. } => "too much text once its aliases are expanded",
        _ => "its aliases expand to too much (an alias bomb?)",
    };
    format!("{what} cannot be read: {limit}; svcgen refuses such input to protect itself")
}

/// serde-saphyr's messages may carry a rendered snippet after the first line
/// and repeat the position we already report; keep just what went wrong.
fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or(s).trim();
    let line = line.strip_prefix("error: ").unwrap_or(line);
    // Advice to serde-saphyr's user, not ours.
    let line = line
        .split(", set DuplicateKeyPolicy")
        .next()
        .unwrap_or(line);
    match line
        .strip_prefix("line ")
        .and_then(|rest| rest.split_once(": "))
    {
        Some((pos, what)) if pos.contains("column") => what.to_string(),
        _ => line.to_string(),
    }
}

/// A syntax error's position and words. A `:` where no mapping value may
/// start, right after a line holding only words, is almost always a
/// missing colon on that line (`name web` then `namespace: x` reads as one
/// plain text `name web namespace`): point there, not at the `:` below.
fn explain(text: &str, e: &SyntaxError) -> (Pos, String) {
    if e.mapping_value
        && let Some(fix) = missing_colon(text, e)
    {
        return fix;
    }
    // `kind Service` in a mapping: the parser stops at the line's start.
    if e.simple_key {
        let start = text[..e.offset].rfind('\n').map_or(0, |i| i + 1);
        let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        if let Some((pos, word)) = plain_words(&text[start..end], e.pos.line) {
            return (
                pos,
                format!(
                    "missing \":\" after {word:?}? (a line of a mapping must be \"key: value\")"
                ),
            );
        }
    }
    (e.pos, e.message.clone())
}

/// If `line` holds plain words only (maybe after `- `), where a `:` after
/// its first word would go, and that word.
fn plain_words(line: &str, number: u32) -> Option<(Pos, &str)> {
    let line = line.trim_end_matches('\r');
    let indent = line.len() - line.trim_start().len();
    let mut body = line.trim_start();
    let mut dash = 0;
    if let Some(rest) = body.strip_prefix("- ") {
        dash = line.len() - indent - rest.trim_start().len();
        body = rest.trim_start();
    }
    if body.is_empty()
        || body.contains([':', '#', '{', '[', '"', '\'', '|', '>'])
        || body.starts_with(['-', '&', '*', '!', '?', '%', '@', '`'])
    {
        return None;
    }
    let word = body.split_whitespace().next()?;
    let column = (line[..indent].chars().count() + dash + word.chars().count() + 1) as u32;
    Some((
        Pos {
            line: number,
            column,
        },
        word,
    ))
}

fn missing_colon(text: &str, e: &SyntaxError) -> Option<(Pos, String)> {
    let line_start = text[..e.offset].rfind('\n').map_or(0, |i| i + 1);
    // The erroring line holds words, then the `:`.
    let head = text[line_start..e.offset].trim();
    if head.is_empty() || head.contains([':', '#', '{', '[', '"', '\'']) || head.starts_with('-') {
        return None;
    }
    // The line before it (blank lines and comments aside) holds words only.
    let mut end = line_start;
    let mut line = e.pos.line;
    let prev = loop {
        if end == 0 || e.pos.line.saturating_sub(line) > 64 {
            return None;
        }
        let start = text[..end - 1].rfind('\n').map_or(0, |i| i + 1);
        line = line.saturating_sub(1);
        let l = text[start..end - 1].trim_end_matches('\r');
        end = start;
        if !l.trim().is_empty() && !l.trim_start().starts_with('#') {
            break l;
        }
    };
    let (at, word) = plain_words(prev, line)?;
    Some((
        at,
        format!(
            "missing \":\" after {word:?}? (the parser read this line and the next as one text, \
             then found a mapping value at line {}, column {}, where none is allowed)",
            e.pos.line, e.pos.column
        ),
    ))
}
