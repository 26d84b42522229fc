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
use crate::render::Rendered;
use crate::trace::{Packet, TraceResult};

/// The ruleset for the loaded input, with notes about skipped input.
pub fn ruleset(loaded: &Loaded) -> (model::Ruleset, Vec<crate::Diagnostic>) {
    let mut diags = Vec::new();
    let rules = build::build(&loaded.table, &loaded.settings, &mut diags);
    (rules, diags)
}

/// `svcgen render --mode nftables`: the transaction and the model as JSON.
pub fn render(loaded: &Loaded) -> Rendered {
    let (rules, diagnostics) = ruleset(loaded);
    Rendered {
        text: rules.to_string(),
        json: serde_json::to_value(&rules).unwrap_or(serde_json::Value::Null),
        diagnostics,
    }
}

/// `svcgen trace --mode nftables`.
pub fn trace(loaded: &Loaded, packet: &Packet) -> TraceResult {
    let (rules, _) = ruleset(loaded);
    let family = crate::config::IpFamily::of(&packet.dst);
    let local = loaded.settings.node.local_ips(family);
    trace::trace(&rules, &local, packet)
}
