//! kube-proxy's IPVS mode: `build` (ServiceTable → typed ruleset),
//! `model` (the ruleset: virtual servers, ipsets, iptables, kube-ipvs0
//! addresses, sysctls), `render` (ruleset → each tool's text), `trace`
//! (a new connection walked through the model).

pub mod build;
pub mod model;
pub mod render;
pub mod trace;

use crate::Loaded;
use crate::render::{RenderError, RenderOptions, Rendered};

/// `svcgen render --mode ipvs`: every section, or the one `options.section` names.
pub fn render(loaded: &Loaded, options: &RenderOptions) -> Result<Rendered, RenderError> {
    let section = options.section.as_deref();
    if let Some(s) = section
        && !render::SECTIONS.contains(&s)
    {
        return Err(RenderError::Invalid(format!(
            "--section {s:?}: supported values: {}",
            render::SECTIONS.join(", ")
        )));
    }
    let rs =
        build::build(&loaded.table, &loaded.settings).map_err(|e| RenderError::Invalid(e.0))?;
    Ok(Rendered {
        text: render::text(&rs, section, options.with_jumps),
        json: serde_json::to_value(&rs).unwrap_or(serde_json::Value::Null),
        diagnostics: Vec::new(),
    })
}
