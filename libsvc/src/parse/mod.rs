//! Reading manifests: YAML or JSON text → [`Objects`] with source positions.
//!
//! Every field that is read records its position under its field path
//! (`spec.ports[0].port`), so a diagnostic found at any later stage can point
//! at the line and column it is about ([`Origin::locate`]).

mod decode;
pub mod node;

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
}

impl Input {
    /// An input from text.
    pub fn new(name: impl Into<Arc<str>>, text: impl Into<String>) -> Self {
        Input {
            name: name.into(),
            text: text.into(),
        }
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
                Ok(Input { name, text })
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
    pub spans: Arc<BTreeMap<String, Pos>>,
}

impl Origin {
    /// The location of `path`, or of its nearest recorded parent (a missing
    /// field is reported where its parent is), or of the object.
    pub fn locate(&self, path: &str) -> Location {
        let mut p = path;
        let pos = loop {
            if let Some(pos) = self.spans.get(p) {
                break *pos;
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
    /// Errors (unreadable input, wrong types), and notes on skipped kinds.
    pub diagnostics: Vec<Diagnostic>,
}

/// Reads every input. Never panics; what cannot be read becomes a diagnostic.
pub fn parse(inputs: &[Input]) -> Parsed {
    let mut parsed = Parsed::default();
    for input in inputs {
        decode::parse_input(input, &mut parsed);
    }
    parsed
}
