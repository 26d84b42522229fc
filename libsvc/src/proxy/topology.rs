//! Topology-aware routing as kube-proxy applies it (`pkg/proxy/topology.go`):
//! which of a service's ready endpoints the Cluster traffic policy may use
//! on this node, from the endpoints' `hints.forNodes` / `hints.forZones`
//! and the node's `topology.kubernetes.io/zone` label.
//!
//! The `PreferSameTrafficDistribution` feature (node hints) is GA and
//! locked on since v1.35, so node hints are always read; 1.34 reads them
//! unless the gate is turned off, 1.33 only when it is turned on
//! ([`crate::config::Settings::prefer_same_node`]).

use super::EndpointRef;
use serde::Serialize;

/// The Node label kube-proxy reads its zone from (`v1.LabelTopologyZone`).
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

/// kube-proxy's `topologyMode`: how the Cluster endpoints are filtered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub enum TopologyMode {
    /// `""`: no topology, every ready endpoint is used.
    #[default]
    None,
    /// `PreferSameZone`: only endpoints hinted for this node's zone.
    PreferSameZone,
    /// `PreferSameNode`: only endpoints hinted for this node.
    PreferSameNode,
}

/// The topology decision for one service port on this node: the mode and,
/// when hints were present but not used, why (kube-proxy's log lines).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Topology {
    /// The mode chosen.
    pub mode: TopologyMode,
    /// Why hints that some endpoint carries were ignored.
    pub ignored: Vec<String>,
}

/// The node kube-proxy runs on, as topology sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeTopology<'a> {
    /// kube-proxy's node name.
    pub name: &'a str,
    /// The node's zone label (`""` when the label or the Node is missing).
    pub zone: &'a str,
    /// `PreferSameTrafficDistribution` is on: node hints are read.
    pub node_hints: bool,
}

/// kube-proxy's `topologyModeFromHints`: node hints when every ready
/// endpoint has one and some endpoint is hinted for this node; else zone
/// hints when every ready endpoint has one and some endpoint is hinted for
/// this node's zone; else no topology. Unready endpoints do not count.
pub fn topology_mode_from_hints(endpoints: &[EndpointRef], node: NodeTopology) -> Topology {
    let ready: Vec<&EndpointRef> = endpoints.iter().filter(|e| e.ready).collect();
    let mut t = Topology::default();
    if ready.is_empty() {
        return t;
    }
    // Without the feature gate (1.33's default) node hints are not looked at.
    if node.node_hints {
        let any_node_hint = ready.iter().any(|e| !e.node_hints.is_empty());
        let all_node_hints = ready.iter().all(|e| !e.node_hints.is_empty());
        let for_node = ready.iter().any(|e| e.node_hints.contains(node.name));
        if all_node_hints && for_node {
            t.mode = TopologyMode::PreferSameNode;
            return t;
        }
        if all_node_hints {
            t.ignored
                .push(format!("no endpoint is hinted for node {:?}", node.name));
        } else if any_node_hint {
            t.ignored
                .push("one or more ready endpoints have no node hint".into());
        }
    }
    let any_zone_hint = ready.iter().any(|e| !e.zone_hints.is_empty());
    let all_zone_hints = ready.iter().all(|e| !e.zone_hints.is_empty());
    let for_zone = ready.iter().any(|e| e.zone_hints.contains(node.zone));
    if all_zone_hints && for_zone {
        t.mode = TopologyMode::PreferSameZone;
        return t;
    }
    if all_zone_hints && node.zone.is_empty() {
        t.ignored
            .push(format!("node {:?} has no {ZONE_LABEL} label", node.name));
    } else if all_zone_hints {
        t.ignored
            .push(format!("no endpoint is hinted for zone {:?}", node.zone));
    } else if any_zone_hint {
        t.ignored
            .push("one or more ready endpoints have no zone hint".into());
    }
    t
}

/// kube-proxy's `availableForTopology`: may this endpoint be used in `mode`?
/// (The fallback happens when the mode is chosen, not here.)
pub fn available_for_topology(e: &EndpointRef, mode: TopologyMode, node: NodeTopology) -> bool {
    match mode {
        TopologyMode::None => true,
        TopologyMode::PreferSameNode => e.node_hints.contains(node.name),
        TopologyMode::PreferSameZone => e.zone_hints.contains(node.zone),
    }
}

/// The tracer's note on topology: for the service port `packet` is
/// addressed to (cluster IP, external or load-balancer IP, or a node port
/// on a local address), which topology filter its Cluster endpoints went
/// through. `None` when no endpoint of that port carries hints.
pub fn trace_note(loaded: &crate::Loaded, packet: &crate::trace::Packet) -> Option<String> {
    let family = crate::config::IpFamily::of(&packet.dst);
    let local = loaded.settings.node.local_ips(family);
    let ports = super::service_ports(&loaded.table, &loaded.settings, family);
    let sp = ports.iter().find(|sp| {
        let dst = &packet.dst;
        sp.protocol() == packet.protocol
            && ((sp.port.port == packet.port
                && (sp.cluster_ip == *dst
                    || sp.external_ips.contains(dst)
                    || sp.load_balancer_vips.contains(dst)))
                || (sp.node_port() == Some(packet.port) && local.contains(dst)))
    })?;
    let hinted = sp
        .endpoints
        .iter()
        .any(|e| !e.zone_hints.is_empty() || !e.node_hints.is_empty());
    if !hinted {
        return None;
    }
    let name = sp.port_name();
    if !sp.uses_cluster_endpoints() {
        return Some(format!(
            "topology: hints not used: {name} has internalTrafficPolicy Local (only this node's endpoints)"
        ));
    }
    let c = super::categorize_endpoints(sp);
    let ready = sp.endpoints.iter().filter(|e| e.ready).count();
    let node = sp.node_topology();
    Some(match c.topology.mode {
        TopologyMode::PreferSameZone => format!(
            "topology: zone hints for zone {:?}, {} of {ready} ready endpoints of {name} used (Cluster traffic policy)",
            node.zone,
            c.cluster.len()
        ),
        TopologyMode::PreferSameNode => format!(
            "topology: node hints for node {:?}, {} of {ready} ready endpoints of {name} used (Cluster traffic policy)",
            node.name,
            c.cluster.len()
        ),
        TopologyMode::None => format!(
            "topology: hints ignored ({}), all {ready} ready endpoints of {name} used (Cluster traffic policy)",
            c.topology.ignored.join("; ")
        ),
    })
}
