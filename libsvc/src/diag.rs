//! Diagnostics: what went wrong (or is worth knowing), and where.

use crate::parse::Input;
use serde::Serialize;
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
    /// column, rustc-style, when the input is among `inputs`.
    pub fn render(&self, inputs: &[Input]) -> String {
        let mut out = self.to_string();
        let Some(loc) = &self.location else {
            return out;
        };
        let Some(input) = inputs.iter().find(|i| *i.name == *loc.file) else {
            return out;
        };
        let Some(line) = input.text.lines().nth(loc.line.saturating_sub(1) as usize) else {
            return out;
        };
        let gutter = loc.line.to_string();
        let pad = " ".repeat(gutter.len());
        // The caret goes under the column (counted in characters); tabs are
        // kept so that it lines up in a terminal.
        let lead: String = line
            .chars()
            .take(loc.column.saturating_sub(1) as usize)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let shown: String = line.chars().take(200).collect();
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
