//! The examples gallery: a built-in starter, then the repository's
//! `examples/` as the build found it (see `build.rs`), each with a sentence
//! saying what it shows.

include!(concat!(env!("OUT_DIR"), "/examples.rs"));

/// The built-in starter, shown when there is no share link and no draft.
pub const STARTER: &str = include_str!("starter.yaml");

/// Folders of `examples/` that are not manifests to render: `agent` is the
/// node agent's install manifest (a DaemonSet), it renders nothing.
const NOT_EXAMPLES: &[&str] = &["agent"];

/// What an example shows, in one sentence (empty for one not described yet).
pub fn describe(name: &str) -> &'static str {
    match name {
        "starter" => "A NodePort Service, its two endpoints and the node: every output at once.",
        "00-service-cidr" => {
            "The cluster's service range: where Services without a clusterIP get theirs."
        }
        "external-ips" => "A Service reachable on an external IP routed to the nodes.",
        "externalname" => {
            "ExternalName: a DNS alias (CNAME) to a name outside the cluster, no proxying."
        }
        "headless-nginx" => {
            "A headless Service for a StatefulSet: DNS answers with the pods themselves."
        }
        "hello-world" => {
            "The docs' hello-world tutorial: a NodePort Service on port 30080 of every node."
        }
        "kube-dns" => {
            "The cluster DNS Service (kube-dns): UDP and TCP 53 on the service range's tenth address."
        }
        "kubernetes" => {
            "default/kubernetes, the API server's Service behind every pod's KUBERNETES_* variables."
        }
        "kubia" => {
            "kubia from Kubernetes in Action: three pods behind port 80, the clusterIP allocated."
        }
        "kubia-affinity" => {
            "kubia with ClientIP session affinity: a client keeps its pod for 3 hours."
        }
        "loadbalancer" => {
            "A LoadBalancer Service with its load balancer's address, open to one source range."
        }
        "multi-port" => "A multi-port Service: every port named, one rule set per port.",
        "named-target-port" => {
            "A named targetPort: each pod may serve the port name on its own number."
        }
        "node" => "The cluster's Nodes: zones and readiness that topology hints read.",
        "redis-master" => {
            "The guestbook's Redis master and its REDIS_MASTER_* environment variables."
        }
        "shop" => {
            "A workload-backed app: a Deployment and a StatefulSet, their Pods simulated, no Pods written."
        }
        "selectorless" => {
            "A Service without a selector, pointed at 1.2.3.4:9376 by a hand-written Endpoints."
        }
        "topology-aware" => {
            "Topology-aware routing: hints per zone, and the endpoints each node keeps."
        }
        _ => "",
    }
}

/// Every example, `(name, manifests)`: the starter first.
pub fn all() -> Vec<(&'static str, &'static str)> {
    let mut out = vec![("starter", STARTER)];
    out.extend(
        EXAMPLES
            .iter()
            .copied()
            .filter(|(name, _)| !NOT_EXAMPLES.contains(name)),
    );
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_example_is_described_and_agent_is_not_offered() {
        for (name, _) in super::all() {
            assert!(!super::describe(name).is_empty(), "{name} has no sentence");
            assert_ne!(name, "agent");
        }
    }
}
