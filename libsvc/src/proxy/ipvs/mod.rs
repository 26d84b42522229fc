//! kube-proxy's IPVS mode: `build` (ServiceTable → typed ruleset),
//! `model` (the ruleset: virtual servers, ipsets, iptables, kube-ipvs0
//! addresses, sysctls), `render` (ruleset → each tool's text), `trace`
//! (a new connection walked through the model).
//!
//! Packet flow on a node (what `trace` follows): nat `PREROUTING` (or
//! `OUTPUT` from the node) jumps to `KUBE-SERVICES`, which marks traffic for
//! masquerade by ipset membership (`KUBE-CLUSTER-IP`, `KUBE-EXTERNAL-IP`,
//! `KUBE-LOAD-BALANCER` → `KUBE-LOAD-BALANCER` chain, `KUBE-NODE-PORT-*` via
//! `KUBE-NODE-PORT`) and ACCEPTs service traffic. Service addresses are bound
//! to the dummy `kube-ipvs0`, so the packet is local: filter `INPUT` runs
//! `KUBE-IPVS-FILTER` (REJECT new connections to bound addresses that are
//! not a service port), `KUBE-PROXY-FIREWALL` (loadBalancerSourceRanges) and
//! `KUBE-NODE-PORT` (health-check ports). IPVS then takes the packet at
//! LOCAL_IN, picks a real server by the scheduler (persistence for ClientIP
//! affinity) and NATs it; nat `POSTROUTING` → `KUBE-POSTROUTING`
//! masquerades marked packets and hairpin traffic (`KUBE-LOOP-BACK`).

pub mod build;
pub mod model;
pub mod render;
pub mod trace;

use crate::Loaded;
use crate::render::{RenderError, RenderOptions, Rendered};
use crate::trace::{Packet, TraceResult};

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
    let families: Vec<_> = rs.families.iter().map(|f| f.family).collect();
    Ok(Rendered {
        text: render::text(&rs, section, options.with_jumps),
        json: crate::render::to_json(options, &rs)?,
        diagnostics: crate::proxy::proxy_notes(&loaded.table, &loaded.settings, &families, "ipvs"),
    })
}

/// `svcgen trace --mode ipvs`.
pub fn trace(loaded: &Loaded, packet: &Packet) -> Result<TraceResult, RenderError> {
    let mut r = trace::trace(loaded, packet)?;
    r.notes
        .extend(crate::proxy::unseen_trace_notes(&loaded.table, &packet.dst));
    Ok(r)
}
