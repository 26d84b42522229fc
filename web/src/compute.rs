//! One update of the playground: the manifests and the settings form in,
//! every output, the diagnostics and (on demand) a trace out. Pure: the
//! yew app and the wasm API both call it.

use crate::settings::{FormSettings, Mapped};
use crate::share::TraceForm;
use crate::text;
use libsvc::render::{Mode, RenderError, Rendered};
use libsvc::table::Protocol;
use libsvc::trace::{Packet, TraceResult};
use libsvc::{Diagnostic, Input, Loaded, Severity};
use serde::Serialize;

/// The name diagnostics give the editor's text.
pub const INPUT_NAME: &str = "manifests.yaml";

/// A diagnostic, placed in the editor (UTF-16 offset) when it has a place.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diag {
    /// `error`, `warning` or `info`.
    pub severity: Severity,
    /// The message.
    pub message: String,
    /// The field path (or settings field) it is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The object, as `Kind namespace/name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// Where it comes from: `manifests`, `settings` or a mode name.
    pub source: String,
    /// 1-based line in the editor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// 1-based column in characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// The position as a UTF-16 offset into the editor's text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u32>,
}

impl Diag {
    fn new(d: &Diagnostic, source: &str, manifests: &str) -> Diag {
        let loc = d.location.as_ref().filter(|l| &*l.file == INPUT_NAME);
        Diag {
            severity: d.severity,
            message: d.message.clone(),
            field: d.field.clone(),
            object: d.object.clone(),
            source: source.to_string(),
            line: loc.map(|l| l.line),
            column: loc.map(|l| l.column),
            offset: loc.map(|l| text::utf16_offset(manifests, l.line, l.column)),
        }
    }
}

/// One mode's output.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Rendered.
    Rendered(Rendered),
    /// The mode is not written yet.
    NotImplemented,
    /// The mode refused the input or options.
    Invalid(String),
    /// The input could not be read, so nothing is rendered.
    Blocked,
}

/// Everything one update produces.
#[derive(Debug, Clone)]
pub struct Outputs {
    /// What libsvc read.
    pub loaded: Loaded,
    /// The settings as mapped.
    pub mapped: Mapped,
    /// One output per [`Mode::ALL`], in that order.
    pub modes: Vec<(Mode, Output)>,
    /// The service table as JSON.
    pub table: String,
    /// The effective settings as YAML.
    pub settings: String,
    /// Diagnostics: the input's, the settings form's, then the outputs'.
    pub diagnostics: Vec<Diag>,
}

impl Outputs {
    /// The output of `mode`.
    pub fn get(&self, mode: Mode) -> Option<&Output> {
        self.modes.iter().find(|(m, _)| *m == mode).map(|(_, o)| o)
    }

    /// Number of diagnostics of a severity.
    pub fn count(&self, severity: Severity) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == severity)
            .count()
    }
}

/// Loads the manifests with the settings.
pub fn load(manifests: &str, settings: &FormSettings) -> (Loaded, Mapped) {
    let mapped = settings.map();
    let loaded = libsvc::load(&[Input::new(INPUT_NAME, manifests)], &mapped.overrides);
    (loaded, mapped)
}

/// Renders one mode of loaded input, as the CLI would: nothing when the
/// input could not be read.
pub fn render(loaded: &Loaded, mapped: &Mapped, mode: Mode) -> Output {
    if loaded.has_parse_errors() {
        return Output::Blocked;
    }
    match libsvc::render::render(loaded, mode, &mapped.options) {
        Ok(r) => Output::Rendered(r),
        Err(RenderError::NotImplemented(_)) => Output::NotImplemented,
        Err(e) => Output::Invalid(e.to_string()),
    }
}

/// One full update: every mode, the table, the settings, the diagnostics.
pub fn compute(manifests: &str, settings: &FormSettings) -> Outputs {
    let (loaded, mapped) = load(manifests, settings);
    let modes: Vec<(Mode, Output)> = Mode::ALL
        .into_iter()
        .map(|m| (m, render(&loaded, &mapped, m)))
        .collect();
    let mut diagnostics: Vec<Diag> = loaded
        .diagnostics
        .iter()
        .map(|d| Diag::new(d, "manifests", manifests))
        .collect();
    diagnostics.extend(
        mapped
            .diagnostics
            .iter()
            .map(|d| Diag::new(d, "settings", manifests)),
    );
    for (mode, out) in &modes {
        if let Output::Rendered(r) = out {
            diagnostics.extend(
                r.diagnostics
                    .iter()
                    .map(|d| Diag::new(d, mode.name(), manifests)),
            );
        }
    }
    let table = serde_json::to_string_pretty(&loaded.table).unwrap_or_default();
    let settings = serde_saphyr::to_string(&loaded.settings).unwrap_or_default();
    Outputs {
        loaded,
        mapped,
        modes,
        table,
        settings,
        diagnostics,
    }
}

/// Reads the trace form into a packet and a mode.
pub fn packet(form: &TraceForm) -> Result<(Mode, Packet), String> {
    let mode =
        Mode::parse(form.mode.trim()).ok_or_else(|| format!("unknown mode {:?}", form.mode))?;
    let ip = |what: &str, s: &str| {
        s.trim()
            .parse()
            .map_err(|_| format!("{what}: {s:?} is not an IP address"))
    };
    let src = ip("source", &form.src)?;
    let dst = ip("destination", &form.dst)?;
    let port = form
        .port
        .trim()
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("port: {:?} is not a port (1-65535)", form.port))?;
    let protocol = Protocol::parse(Some(&form.proto.trim().to_uppercase()))
        .ok_or_else(|| format!("protocol: {:?}: expected tcp, udp or sctp", form.proto))?;
    Ok((
        mode,
        Packet {
            in_interface: None,
            src,
            dst,
            port,
            protocol,
        },
    ))
}

/// A trace's answer for the UI: the result, or why there is none.
#[derive(Debug, Clone, PartialEq)]
pub enum Traced {
    /// The packet's path.
    Done(Packet, TraceResult),
    /// The mode has no tracer yet.
    NotImplemented(Mode),
    /// The form or the input is wrong.
    Failed(String),
}

/// Traces the form's packet through the loaded input.
pub fn trace(loaded: &Loaded, form: &TraceForm) -> Traced {
    let (mode, packet) = match packet(form) {
        Ok(x) => x,
        Err(e) => return Traced::Failed(e),
    };
    if loaded.has_parse_errors() {
        return Traced::Failed("the manifests have errors; fix them to trace".into());
    }
    match libsvc::trace::trace(loaded, mode, &packet) {
        Ok(r) => Traced::Done(packet, r),
        Err(RenderError::NotImplemented(m)) => Traced::NotImplemented(m),
        Err(e) => Traced::Failed(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starter_loads_cleanly() {
        let out = compute(crate::examples::STARTER, &FormSettings::default());
        assert_eq!(out.count(Severity::Error), 0, "{:?}", out.diagnostics);
        assert_eq!(out.modes.len(), Mode::ALL.len());
        assert!(out.table.contains("\"web\""));
        assert!(out.settings.contains("node-a"));
    }

    #[test]
    fn every_example_reads() {
        for (name, text) in crate::examples::all() {
            let out = compute(text, &FormSettings::default());
            assert!(
                !out.loaded.has_parse_errors(),
                "{name}: {:?}",
                out.diagnostics
            );
            assert!(out.modes.iter().all(|(_, o)| *o != Output::Blocked));
        }
    }

    #[test]
    fn diagnostics_are_placed_in_utf16() {
        let text = "# 😀\napiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n  ports: [{port: \"x\"}]\n";
        let out = compute(text, &FormSettings::default());
        let d = out
            .diagnostics
            .iter()
            .find(|d| d.message.contains("spec.ports[0].port"))
            .expect("a port diagnostic");
        let (line, col) = (d.line.unwrap(), d.column.unwrap());
        assert_eq!(line, 6);
        // One UTF-16 unit more than characters: the emoji on line 1.
        let chars_before: usize = text
            .split('\n')
            .take(5)
            .map(|l| l.chars().count() + 1)
            .sum();
        assert_eq!(
            d.offset.unwrap() as usize,
            chars_before + col as usize - 1 + 1
        );
    }

    #[test]
    fn parse_errors_block_outputs() {
        let out = compute("kind: [", &FormSettings::default());
        assert!(out.count(Severity::Error) > 0);
        assert!(out.modes.iter().all(|(_, o)| *o == Output::Blocked));
    }

    #[test]
    fn bad_trace_form() {
        let (loaded, _) = load(crate::examples::STARTER, &FormSettings::default());
        let form = TraceForm {
            port: "0".into(),
            ..Default::default()
        };
        assert!(matches!(trace(&loaded, &form), Traced::Failed(e) if e.contains("port")));
    }
}
