//! kube-proxy's nftables mode (Kubernetes v1.37): `build` (ServiceTable →
//! typed ruleset), `model` (tables, chains, sets, maps, counters, rules,
//! elements), `render` (ruleset → `nft -f` transaction), `trace` (a new
//! connection walked through the model). `names` holds kube-proxy's chain
//! naming (hash prefix, truncation).

pub mod build;
pub mod model;
pub mod names;
pub mod render;
pub mod trace;

use crate::Loaded;
use crate::render::{RenderError, RenderOptions, Rendered};
use crate::trace::{Packet, TraceResult};

/// The ruleset for the loaded input, with notes about skipped input.
pub fn ruleset(loaded: &Loaded) -> (model::Ruleset, Vec<crate::Diagnostic>) {
    let mut diags = crate::proxy::proxy_notes(
        &loaded.table,
        &loaded.settings,
        &loaded.settings.families(),
        "nftables",
    );
    let rules = build::build(&loaded.table, &loaded.settings, &mut diags);
    (rules, diags)
}

/// `svcgen render --mode nftables`: the transaction and the model as JSON.
/// (nftables mode has no options; the signature is every backend's.)
pub fn render(loaded: &Loaded, options: &RenderOptions) -> Result<Rendered, RenderError> {
    let (rules, diagnostics) = ruleset(loaded);
    Ok(Rendered {
        text: rules.to_string(),
        json: crate::render::to_json(options, &rules)?,
        diagnostics,
    })
}

/// `svcgen trace --mode nftables`.
pub fn trace(loaded: &Loaded, packet: &Packet) -> Result<TraceResult, RenderError> {
    let (rules, _) = ruleset(loaded);
    let family = crate::config::IpFamily::of(&packet.dst);
    let local = loaded.settings.node.local_ips(family);
    let mut r = trace::trace(&rules, &local, packet);
    r.notes
        .extend(crate::proxy::unseen_trace_notes(&loaded.table, &packet.dst));
    Ok(r)
}
