//! A new connection walked through a proxy mode's typed ruleset: the
//! result type all three tracers share, so that their answers compare.

use serde::Serialize;
use std::net::IpAddr;

use crate::Loaded;
use crate::render::{Mode, RenderError};
use crate::table::Protocol;

/// The packet to trace: the first packet of a new connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Packet {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Destination port.
    pub port: u16,
    /// Protocol.
    pub protocol: Protocol,
    /// The interface the packet came in on (`None`: sent by the node
    /// itself, or an interface that does not matter). Only the
    /// `BridgeInterface` and `InterfaceNamePrefix` local-traffic detectors
    /// look at it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_interface: Option<String>,
}

/// One rule the packet matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// The table (`nat`, `filter`, `kube-proxy`, `ipvs`, …).
    pub table: String,
    /// The chain (or IPVS virtual server).
    pub chain: String,
    /// The rule, as the rule text shows it.
    pub rule: String,
}

/// An endpoint the packet may go to, with its probability.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndpointShare {
    /// `IP:port` (`[IPv6]:port`).
    pub endpoint: String,
    /// The probability, 0..=1.
    pub probability: f64,
}

/// Where the packet ends.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceResult {
    /// As kube-proxy's test tracer writes it: the endpoints joined by
    /// `", "`, or `REJECT`, `DROP`, `ACCEPT`, or empty when the packet
    /// passes unchanged.
    pub outcome: String,
    /// The packet is marked for masquerade (SNAT).
    pub masquerade: bool,
    /// The endpoints with their probabilities.
    pub endpoints: Vec<EndpointShare>,
    /// Every rule hit, in order.
    pub path: Vec<Step>,
    /// Free-form notes (e.g. IPVS persistence).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Traces `packet` through the rules of `mode`.
pub fn trace(loaded: &Loaded, mode: Mode, packet: &Packet) -> Result<TraceResult, RenderError> {
    let mut result = match mode {
        // kube-proxy iptables mode
        Mode::Iptables => crate::proxy::iptables::trace(loaded, packet),

        // kube-proxy nftables mode
        Mode::Nftables => crate::proxy::nftables::trace(loaded, packet),

        // kube-proxy IPVS mode
        Mode::Ipvs => crate::proxy::ipvs::trace(loaded, packet),

        // env, dns and resolv have no packets to trace
        Mode::Env | Mode::Dns | Mode::Resolv => Err(RenderError::Invalid(format!(
            "--mode {} has no rules to trace; use iptables, nftables or ipvs",
            mode.name()
        ))),
    }?;
    // The same topology filter is behind the rules of every mode.
    result
        .notes
        .extend(crate::proxy::topology::trace_note(loaded, packet));
    Ok(result)
}

/// The human report of a trace: the path, then where the packet ends.
pub fn report(packet: &Packet, result: &TraceResult) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "packet: {} {} -> {}{}",
        packet.protocol.lower(),
        packet.src,
        std::net::SocketAddr::new(packet.dst, packet.port),
        packet
            .in_interface
            .as_ref()
            .map(|i| format!(" (in {i})"))
            .unwrap_or_default()
    );
    for step in &result.path {
        let _ = writeln!(out, "  {}/{}: {}", step.table, step.chain, step.rule);
    }
    let outcome = if result.outcome.is_empty() {
        "passes unchanged"
    } else {
        result.outcome.as_str()
    };
    let _ = writeln!(out, "outcome: {outcome}");
    for e in &result.endpoints {
        let _ = writeln!(out, "  -> {} ({:.1} %)", e.endpoint, e.probability * 100.0);
    }
    let _ = writeln!(
        out,
        "masquerade: {}",
        if result.masquerade { "yes" } else { "no" }
    );
    for n in &result.notes {
        let _ = writeln!(out, "note: {n}");
    }
    out
}
