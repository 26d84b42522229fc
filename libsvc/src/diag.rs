//! Diagnostics: what went wrong (or is worth knowing), and where.

use crate::parse::Input;
use serde::Serialize;
use std::cell::OnceCell;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The input is wrong: kube-apiserver would refuse it, or it cannot be read.
    Error,
    /// The input is accepted but probably not what was meant.
    Warning,
    /// Something worth knowing (e.g. a skipped kind).
    Info,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        })
    }
}

/// A place in an input file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Location {
    /// The input's name (a path, or `-` for stdin).
    pub file: Arc<str>,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// One message about the input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// How serious it is.
    pub severity: Severity,
    /// The message; for validation errors exactly kube-apiserver's
    /// `field.path: Type: detail`.
    pub message: String,
    /// The field path the message is about, if any (`spec.ports[0].port`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The object the message is about, as `Kind namespace/name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// Where in the input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
}

impl Diagnostic {
    /// A new diagnostic without a field or object.
    pub fn new(severity: Severity, message: impl Into<String>, location: Option<Location>) -> Self {
        Diagnostic {
            severity,
            message: message.into(),
            field: None,
            object: None,
            location,
        }
    }

    /// Is this an error?
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The diagnostic followed by the source line and a caret under the
    /// column, rustc-style, when the input is among `inputs`. To render
    /// many diagnostics, use one [`Snippets`]: this looks the line up anew.
    pub fn render(&self, inputs: &[Input]) -> String {
        Snippets::new(inputs).render(self)
    }
}

/// How much of a source line a rendered diagnostic shows, in characters.
const SHOWN: usize = 200;

/// Renders diagnostics with their source lines. Each input's lines are
/// indexed once, on first use, so that rendering any number of diagnostics
/// costs time in proportion to the input and the output, not their product.
pub struct Snippets<'a> {
    inputs: HashMap<&'a str, (&'a str, OnceCell<Vec<usize>>)>,
}

impl<'a> Snippets<'a> {
    /// A renderer over these inputs.
    pub fn new(inputs: &'a [Input]) -> Self {
        let mut by_name = HashMap::new();
        for i in inputs {
            // Two inputs of one name: the first, as a lookup in order finds.
            by_name
                .entry(&*i.name)
                .or_insert((i.text.as_str(), OnceCell::new()));
        }
        Snippets { inputs: by_name }
    }

    /// The text of line `line` (1-based) of input `file`, without its line
    /// break.
    fn line(&self, file: &str, line: u32) -> Option<&'a str> {
        let (text, starts) = self.inputs.get(file)?;
        let starts = starts.get_or_init(|| {
            std::iter::once(0)
                .chain(text.match_indices('\n').map(|(i, _)| i + 1))
                .collect()
        });
        let start = *starts.get(line.checked_sub(1)? as usize)?;
        let end = starts
            .get(line as usize)
            .map_or(text.len(), |next| next - 1);
        if start > text.len() || start > end {
            return None;
        }
        Some(text[start..end].trim_end_matches('\r'))
    }

    /// The diagnostic followed by the source line and a caret under the
    /// column, rustc-style, when its input is known.
    pub fn render(&self, d: &Diagnostic) -> String {
        let mut out = d.to_string();
        let Some(loc) = &d.location else {
            return out;
        };
        let Some(line) = self.line(&loc.file, loc.line) else {
            return out;
        };
        let gutter = loc.line.to_string();
        let pad = " ".repeat(gutter.len());
        // At most the first 200 characters are shown (a minified JSON line
        // can be megabytes), with the caret under the column (counted in
        // characters) when it is among them; tabs are kept so that it lines
        // up in a terminal.
        let shown: String = line.chars().take(SHOWN).collect();
        let column = loc.column.saturating_sub(1) as usize;
        if column > SHOWN {
            out.push_str(&format!("\n{pad} |\n{gutter} | {shown}…"));
            return out;
        }
        let lead: String = shown
            .chars()
            .take(column)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        out.push_str(&format!("\n{pad} |\n{gutter} | {shown}\n{pad} | {lead}^"));
        out
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(loc) = &self.location {
            write!(f, "{loc}: ")?;
        }
        write!(f, "{}: {}", self.severity, self.message)
    }
}
