//! Printing diagnostics and models as JSON or YAML.

use crate::OutputFormat;
use libsvc::Diagnostic;
use serde::Serialize;

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

/// Prints a serializable value as JSON or YAML.
pub fn print_value<T: Serialize>(value: &T, format: OutputFormat) {
    match format {
        OutputFormat::Yaml => match serde_saphyr::to_string(value) {
            Ok(s) => print!("{s}"),
            Err(e) => eprintln!("svcgen: cannot write YAML: {e}"),
        },
        _ => match serde_json::to_string_pretty(value) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("svcgen: cannot write JSON: {e}"),
        },
    }
}
