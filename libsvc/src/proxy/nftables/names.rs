//! Object names as kube-proxy's nftables proxier makes them.

use crate::proxy::{EndpointRef, ServicePortInfo};
use crate::table::Protocol;
use sha2::{Digest, Sha256};

/// nftables' longest object name (knftables' `NameLengthMax`).
pub const NAME_LENGTH_MAX: usize = 256;

/// The longest chain-name base: the longest prefix (`endpoint-`, …) is
/// given 16 characters.
pub const BASE_LENGTH_MAX: usize = NAME_LENGTH_MAX - 16;

/// Prefixes `name` with the first 8 characters of the base32 (RFC 4648)
/// encoding of its SHA-256 and cuts the result to [`BASE_LENGTH_MAX`]
/// (ending in `...` when cut) — kube-proxy's `hashAndTruncate`.
pub fn hash_and_truncate(name: &str) -> String {
    let digest = Sha256::digest(name.as_bytes());
    let encoded = base32::encode(base32::Alphabet::Rfc4648 { padding: true }, &digest);
    let mut out = format!("{}-{name}", &encoded[..8]);
    if out.len() > BASE_LENGTH_MAX {
        let mut end = BASE_LENGTH_MAX - 3;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push_str("...");
    }
    out
}

/// `HASH-namespace/name/protocol/portName`.
pub fn service_port_chain_base(
    namespace: &str,
    name: &str,
    protocol: Protocol,
    port: &str,
) -> String {
    hash_and_truncate(&format!("{namespace}/{name}/{}/{port}", protocol.lower()))
}

/// `HASH-namespace/name/protocol/portName__IP/port`, with every `:` of an
/// IPv6 address written as `.`. `ep_ip` is the address as text, as
/// kube-proxy's endpoint string carries it.
pub fn endpoint_chain_base(
    namespace: &str,
    name: &str,
    protocol: Protocol,
    port: &str,
    ep_ip: &str,
    ep_port: u16,
) -> String {
    let ip = ep_ip.replace(':', ".");
    hash_and_truncate(&format!(
        "{namespace}/{name}/{}/{port}__{ip}/{ep_port}",
        protocol.lower()
    ))
}

/// The chain-name base of a service port.
pub fn service_port_base(sp: &ServicePortInfo<'_>) -> String {
    service_port_chain_base(
        &sp.service.namespace,
        &sp.service.name,
        sp.protocol(),
        &sp.port.name,
    )
}

/// The chain-name base of one endpoint of a service port.
pub fn endpoint_base(sp: &ServicePortInfo<'_>, e: &EndpointRef) -> String {
    endpoint_chain_base(
        &sp.service.namespace,
        &sp.service.name,
        sp.protocol(),
        &sp.port.name,
        &e.ip.to_string(),
        e.port,
    )
}

/// kube-proxy puts namespace, Service and port names into chain names as
/// they are, relying on API validation. svcgen also renders unvalidated
/// input, so it checks: the first part that holds a character nftables
/// does not allow in a name (`[A-Za-z0-9_.-]`; `/` is kube-proxy's
/// separator), if any. Such a service port is left out, never quoted in.
pub fn unsafe_part(sp: &ServicePortInfo<'_>) -> Option<String> {
    let ok = |s: &str| {
        s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
    };
    [
        sp.service.namespace.as_str(),
        sp.service.name.as_str(),
        sp.port.name.as_str(),
    ]
    .into_iter()
    .find(|s| !ok(s))
    .map(String::from)
    .or_else(|| sp.service.name.is_empty().then(String::new))
}

/// `localhost-nodeport-reject-<proto>`.
pub fn localhost_reject_chain(p: Protocol) -> String {
    format!("localhost-nodeport-reject-{}", p.lower())
}

/// `localhost-nodeport-rejected-<proto>`.
pub fn localhost_reject_counter(p: Protocol) -> String {
    format!("localhost-nodeport-rejected-{}", p.lower())
}
