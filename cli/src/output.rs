//! Printing diagnostics and models as JSON or YAML.

use crate::OutputFormat;
use libsvc::{Diagnostic, Loaded};
use serde::Serialize;
use std::borrow::Cow;

/// One diagnostic as `validate -o json` prints it.
#[derive(Serialize)]
struct DiagnosticOut<'a> {
    severity: libsvc::Severity,
    message: &'a str,
    field: Option<&'a str>,
    file: Option<&'a str>,
    line: Option<u32>,
    column: Option<u32>,
}

/// Prints diagnostics as a JSON array (or YAML list).
pub fn print_diagnostics(diags: &[&Diagnostic], format: OutputFormat) {
    let out: Vec<DiagnosticOut> = diags
        .iter()
        .map(|d| DiagnosticOut {
            severity: d.severity,
            message: &d.message,
            field: d.field.as_deref(),
            file: d.location.as_ref().map(|l| &*l.file),
            line: d.location.as_ref().map(|l| l.line),
            column: d.location.as_ref().map(|l| l.column),
        })
        .collect();
    print_value(&out, format);
}

/// The diagnostics of a load to print as text: with `verbose`, one note per
/// skipped object first (the summary line stays last among them).
pub fn with_notes(loaded: &Loaded, verbose: bool) -> Vec<Cow<'_, Diagnostic>> {
    let notes = verbose
        .then(|| loaded.skipped.iter().map(|s| Cow::Owned(s.note())))
        .into_iter()
        .flatten();
    notes
        .chain(loaded.diagnostics.iter().map(Cow::Borrowed))
        .collect()
}

/// Writes to stdout. A closed pipe (`svcgen … | head`) ends the program
/// quietly, as Unix tools do, instead of panicking like `print!`.
pub fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("svcgen: cannot write output: {e}");
        std::process::exit(1);
    }
}

/// Prints a serializable value as JSON or YAML.
pub fn print_value<T: Serialize>(value: &T, format: OutputFormat) {
    match format {
        OutputFormat::Yaml => match serde_saphyr::to_string(value) {
            Ok(s) => emit(&s),
            Err(e) => eprintln!("svcgen: cannot write YAML: {e}"),
        },
        _ => match serde_json::to_string_pretty(value) {
            Ok(s) => emit(&format!("{s}\n")),
            Err(e) => eprintln!("svcgen: cannot write JSON: {e}"),
        },
    }
}
