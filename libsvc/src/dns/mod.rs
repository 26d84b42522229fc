//! Cluster DNS: the records of the Kubernetes DNS specification (schema
//! 1.1.0) for the input, a pod's `/etc/resolv.conf`, and answers to queries
//! the way CoreDNS gives them.
//!
//! - [`record`]: the typed record model and its zone-file text;
//! - [`zone`]: Services and their EndpointSlices → records;
//! - [`resolv`]: the ClusterFirst resolver configuration and search list;
//! - [`query`]: a lookup through the search list against the zone.

pub mod query;
pub mod record;
pub mod resolv;
pub mod zone;

pub use query::{Answer, QueryType, Rcode, Server, lookup};
pub use record::{RData, Record, RecordType};
pub use resolv::ResolvConf;
pub use zone::{Flavor, Zone};

use crate::Loaded;
use crate::diag::Diagnostic;

/// The zone the specification requires for `loaded`, with warnings about
/// what had to be left out.
pub fn zone(loaded: &Loaded) -> Result<(Zone, Vec<Diagnostic>), String> {
    zone::build(loaded, Flavor::Specification)
}

/// The resolv.conf of a ClusterFirst pod of `namespace`.
pub fn resolv_conf(loaded: &Loaded, namespace: &str) -> ResolvConf {
    let cluster = &loaded.settings.cluster;
    ResolvConf::cluster_first(namespace, &cluster.cluster_domain, &cluster.cluster_dns)
}

/// Answers `name` (relative names go through the search list of a pod of
/// `namespace`) as CoreDNS would for this input.
pub fn resolve(
    loaded: &Loaded,
    name: &str,
    qtype: QueryType,
    namespace: &str,
) -> Result<Answer, String> {
    let server = Server::new(loaded)?;
    let mut answer = lookup(&server, &resolv_conf(loaded, namespace), name, qtype);
    if answer.rcode == query::Rcode::NxDomain {
        // A Service of that name in another namespace: say where it is.
        let labels: Vec<&str> = name.trim_end_matches('.').split('.').collect();
        let asked = match labels.get(1) {
            Some(ns) if *ns != "svc" => ns,
            _ => namespace,
        };
        if let Some(hint) = crate::views::elsewhere(loaded, "Service", labels[0], asked) {
            answer.notes.push(hint);
        }
    }
    Ok(answer)
}
