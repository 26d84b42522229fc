//! kube-proxy's iptables mode: `build` (ServiceTable → typed ruleset, one
//! family at a time), `model` (the ruleset), `render` (ruleset →
//! `iptables-restore` text), `trace` (a packet walked through the ruleset).

pub mod build;
pub mod model;
pub mod render;
pub mod trace;

pub use build::build;
pub use model::Ruleset;

use crate::Loaded;
use crate::config::IpFamily;
use crate::render::{RenderError, RenderOptions, Rendered};
use crate::trace::{Packet, TraceResult};

/// The rulesets of every family the settings ask for (IPv4 first).
pub fn rulesets(loaded: &Loaded) -> Vec<Ruleset> {
    loaded
        .settings
        .families()
        .into_iter()
        .map(|f| build(&loaded.table, &loaded.settings, f))
        .collect()
}

/// `--mode iptables`: the `iptables-restore` payload (one family), or the
/// iptables and ip6tables payloads one after the other, each under a `#`
/// line naming its command (both families).
pub fn render(loaded: &Loaded, options: &RenderOptions) -> Result<Rendered, RenderError> {
    let sets = rulesets(loaded);
    let mut text = String::new();
    for rs in &sets {
        if sets.len() > 1 {
            text.push_str(match rs.family {
                IpFamily::IPv4 => "# iptables-restore\n",
                IpFamily::IPv6 => "# ip6tables-restore\n",
            });
        }
        // Writing into a String cannot fail.
        let _ = render::write_restore(&mut text, rs, options.with_jumps);
    }
    let json = crate::render::to_json(options, &sets)?;
    Ok(Rendered {
        text,
        json,
        diagnostics: crate::proxy::proxy_notes(
            &loaded.table,
            &loaded.settings,
            &loaded.settings.families(),
            "iptables",
        ),
    })
}

/// Traces `packet` through the ruleset of its family.
pub fn trace(loaded: &Loaded, packet: &Packet) -> Result<TraceResult, RenderError> {
    let family = IpFamily::of(&packet.dst);
    if IpFamily::of(&packet.src) != family {
        return Err(RenderError::Invalid(format!(
            "source {} and destination {} are of different IP families",
            packet.src, packet.dst
        )));
    }
    if !loaded.settings.families().contains(&family) {
        return Err(RenderError::Invalid(format!(
            "--ip-family {} leaves no {family} rules to trace {} through",
            loaded
                .settings
                .ip_family
                .map(|f| f.to_string())
                .unwrap_or_default(),
            packet.dst
        )));
    }
    let rs = build(&loaded.table, &loaded.settings, family);
    let local = loaded.settings.node.local_ips(family);
    let mut r = trace::trace(&rs, &local, packet);
    r.notes
        .extend(crate::proxy::unseen_trace_notes(&loaded.table, &packet.dst));
    Ok(r)
}
