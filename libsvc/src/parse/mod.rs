//! Reading manifests: YAML or JSON text → [`Objects`] with source positions.
//!
//! Every field that is read records its position under its field path
//! (`spec.ports[0].port`), so a diagnostic found at any later stage can point
//! at the line and column it is about ([`Origin::locate`]).

mod decode;
mod fields;
mod json;
pub mod node;
mod read;
mod scan;
mod tree;

use crate::diag::{Diagnostic, Location, Severity};
use crate::model::Objects;
pub use node::{Node, Pos, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The largest input svcgen reads; larger inputs are refused with an error
/// instead of being held in memory several times over.
pub const MAX_INPUT_BYTES: usize = 64 * 1024 * 1024;

/// One input text: a file, stdin, or an editor buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// Its name as diagnostics show it (a path, or `-`).
    pub name: Arc<str>,
    /// Its text.
    pub text: String,
    /// It was found in a directory rather than named: a document without
    /// `kind` there (`kustomization.yaml`, a chart's `values.yaml`) is
    /// skipped with a note instead of being an error.
    pub from_directory: bool,
}

impl Input {
    /// An input from text.
    pub fn new(name: impl Into<Arc<str>>, text: impl Into<String>) -> Self {
        Input {
            name: name.into(),
            text: text.into(),
            from_directory: false,
        }
    }

    /// The same input, marked as found in a directory.
    pub fn in_directory(mut self) -> Self {
        self.from_directory = true;
        self
    }

    /// An input from bytes, which must be UTF-8 (or UTF-8 with a BOM).
    /// Invalid UTF-8 is an error pointing at the first bad byte.
    pub fn from_bytes(name: impl Into<Arc<str>>, bytes: Vec<u8>) -> Result<Self, Box<Diagnostic>> {
        let name = name.into();
        if bytes.len() > MAX_INPUT_BYTES {
            return Err(Box::new(Diagnostic::new(
                Severity::Error,
                format!(
                    "input is {} bytes; svcgen reads at most {} MiB per input",
                    bytes.len(),
                    MAX_INPUT_BYTES / (1024 * 1024)
                ),
                Some(Location {
                    file: name,
                    line: 1,
                    column: 1,
                }),
            )));
        }
        match String::from_utf8(bytes) {
            Ok(mut text) => {
                if text.starts_with('\u{feff}') {
                    text.remove(0);
                }
                Ok(Input {
                    name,
                    text,
                    from_directory: false,
                })
            }
            Err(e) => {
                let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                // `good` is valid UTF-8 by construction.
                let good = std::str::from_utf8(good).unwrap_or_default();
                let line = good.matches('\n').count() as u32 + 1;
                let column = good.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u32 + 1;
                Err(Box::new(Diagnostic::new(
                    Severity::Error,
                    format!(
                        "input is not valid UTF-8 (byte 0x{:02x} at offset {}); manifests must be UTF-8",
                        e.as_bytes()[good.len()],
                        good.len()
                    ),
                    Some(Location {
                        file: name,
                        line,
                        column,
                    }),
                )))
            }
        }
    }
}

/// Where an object came from: its input, where its document starts, and the
/// position of every field that was read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Origin {
    /// The input's name.
    pub file: Arc<str>,
    /// Where the object starts.
    pub pos: Pos,
    /// Field path → position of its value.
    pub spans: Arc<Spans>,
}

/// Equal when they map the same paths to the same positions (as the map
/// they replace was), whatever order the paths were recorded in.
impl PartialEq for Spans {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

/// Field path → position, for one object. All the paths live in one
/// string with an index sorted by path: two allocations per object
/// instead of one per field (objects hold hundreds of fields, and a
/// cluster's load made and freed them all).
#[derive(Debug, Clone, Default)]
pub struct Spans {
    paths: String,
    /// (start, end) in `paths`, and the position; sorted by path once
    /// [`Spans::sorted`].
    index: Vec<(u32, u32, Pos)>,
}

impl Spans {
    /// Records `path` at `pos` (a later record of the same path wins).
    pub fn insert(&mut self, path: &str, pos: Pos) {
        let start = self.paths.len();
        self.paths.push_str(path);
        // Inputs are capped at 64 MiB, so offsets fit; saturate regardless.
        let at = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        self.index.push((at(start), at(self.paths.len()), pos));
    }

    fn path(&self, (start, end, _): &(u32, u32, Pos)) -> &str {
        self.paths.get(*start as usize..*end as usize).unwrap_or("")
    }

    /// Ready for [`Spans::get`]: sorted by path, one record per path (the
    /// last one made).
    pub fn sorted(mut self) -> Self {
        let mut index = std::mem::take(&mut self.index);
        index.reverse();
        index.sort_by(|a, b| self.path(a).cmp(self.path(b)));
        index.dedup_by(|b, a| self.path(a) == self.path(b));
        self.index = index;
        self.index.shrink_to_fit();
        self.paths.shrink_to_fit();
        self
    }

    /// Every (path, position), sorted by path once [`Spans::sorted`].
    pub fn iter(&self) -> impl Iterator<Item = (&str, Pos)> + '_ {
        self.index.iter().map(|e| (self.path(e), e.2))
    }

    /// The position recorded for `path`.
    pub fn get(&self, path: &str) -> Option<Pos> {
        self.index
            .binary_search_by(|e| self.path(e).cmp(path))
            .ok()
            .map(|i| self.index[i].2)
    }
}

impl Origin {
    /// The location of `path`, or of its nearest recorded parent (a missing
    /// field is reported where its parent is), or of the object.
    pub fn locate(&self, path: &str) -> Location {
        let mut p = path;
        let pos = loop {
            if let Some(pos) = self.spans.get(p) {
                break pos;
            }
            match p.rfind(['.', '[']) {
                Some(i) => p = &p[..i],
                None => break self.pos,
            }
        };
        Location {
            file: self.file.clone(),
            line: pos.line,
            column: pos.column,
        }
    }

    /// The location of the object itself.
    pub fn location(&self) -> Location {
        Location {
            file: self.file.clone(),
            line: self.pos.line,
            column: self.pos.column,
        }
    }
}

/// The result of reading inputs: the objects understood and the diagnostics.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    /// The objects, by kind, in input order.
    pub objects: Objects,
    /// Errors (unreadable input, wrong types), warnings (unknown fields,
    /// skipped documents that cannot be parsed), and one summary of the
    /// skipped objects.
    pub diagnostics: Vec<Diagnostic>,
    /// The objects of kinds svcgen does not use, in input order.
    pub skipped: Vec<Skipped>,
}

/// An object svcgen did not read because it does not use its kind (or it
/// has none and was found in a directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Its kind; `None` when it has none.
    pub kind: Option<String>,
    /// Its apiVersion, if written.
    pub api_version: Option<String>,
    /// `namespace/name`, or `name`, if written.
    pub name: Option<String>,
    /// Where it starts.
    pub location: Location,
}

impl Skipped {
    /// The per-object note (`svcgen -v` prints these).
    pub fn note(&self) -> Diagnostic {
        let what = match (&self.kind, &self.name) {
            (Some(k), Some(n)) => format!("{k} {n}"),
            (Some(k), None) => k.clone(),
            (None, Some(n)) => format!("{n} (no kind)"),
            (None, None) => "a document without kind".into(),
        };
        let version = self
            .api_version
            .as_ref()
            .map(|v| format!(" ({v})"))
            .unwrap_or_default();
        let why = if self.kind.is_some() {
            "svcgen does not use this kind"
        } else {
            "not a Kubernetes object (found in a directory; named with -f it would be an error)"
        };
        Diagnostic::new(
            Severity::Info,
            format!("skipped {what}{version}: {why}"),
            Some(self.location.clone()),
        )
    }
}

/// One line for all skipped objects: `skipped 31 objects: 12
/// CustomResourceDefinition, 9 ConfigMap, …` (most frequent first).
pub fn skipped_summary(skipped: &[Skipped]) -> Option<Diagnostic> {
    if skipped.is_empty() {
        return None;
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for s in skipped {
        *counts
            .entry(s.kind.as_deref().unwrap_or("without kind"))
            .or_default() += 1;
    }
    let mut counts: Vec<(&str, usize)> = counts.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
    let objects = if skipped.len() == 1 {
        "object"
    } else {
        "objects"
    };
    Some(Diagnostic::new(
        Severity::Info,
        format!(
            "skipped {} {objects} svcgen does not use: {}; -v lists them",
            skipped.len(),
            parts.join(", ")
        ),
        None,
    ))
}

/// Reads every input. Never panics; what cannot be read becomes a diagnostic.
pub fn parse(inputs: &[Input]) -> Parsed {
    parse_with(inputs, true)
}

/// [`parse`] with every document read by serde-saphyr, none by the fast
/// path: the reference the fast path is tested against
/// (`libsvc/tests/parse_paths.rs`).
#[doc(hidden)]
pub fn parse_slow(inputs: &[Input]) -> Parsed {
    parse_with(inputs, false)
}

fn parse_with(inputs: &[Input], fast: bool) -> Parsed {
    let mut parsed = Parsed::default();
    for input in inputs {
        read::parse_input(input, &mut parsed, fast);
    }
    parsed.diagnostics.extend(skipped_summary(&parsed.skipped));
    parsed
}
