//! Dump tracer conformance: every case of `conformance/iptables-dump/` — a
//! fixed `iptables-save` dump from a kube-proxy test (TestTracePacket in
//! pkg/proxy/iptables/proxier_test.go) — parsed and its packets traced
//! through the whole dump as the kernel walks it (`libsvc::dump::trace`),
//! compared with the output and masquerade kube-proxy's `tracePacket`
//! expects.

mod common;

use libsvc::dump::{self, trace};
use libsvc::table::Protocol;
use libsvc::trace::Packet;
use serde_json::Value;

/// Cases that fail for a documented reason (docs/dumps.md).
const KNOWN: &[&str] = &[];

#[test]
fn iptables_dump() {
    let mut results = Vec::new();
    for case in common::cases("iptables-dump") {
        let parsed = dump::parse("rules.txt", &case.file("rules.txt"));
        let (d, diags) = (
            libsvc::dump::model::Dump {
                tables: parsed.tables,
                ..Default::default()
            },
            parsed.diagnostics,
        );
        let local: Vec<std::net::IpAddr> = case.meta["nodeIPs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str()?.parse().ok())
            .collect();
        let opts = trace::Options {
            local,
            ..Default::default()
        };
        let flows: Value = serde_saphyr::from_str(&case.file("flows.yaml")).unwrap();
        for (i, f) in flows.as_array().into_iter().flatten().enumerate() {
            let name = format!(
                "{}#{i} {}",
                case.name,
                f["name"].as_str().unwrap_or_default()
            );
            let r = (|| {
                if !diags.is_empty() {
                    return Err(format!("dump does not parse: {diags:?}"));
                }
                let ip = |k: &str| -> Result<std::net::IpAddr, String> {
                    f[k].as_str()
                        .unwrap_or("")
                        .parse()
                        .map_err(|e| format!("{e}"))
                };
                let packet = Packet {
                    src: ip("sourceIP")?,
                    dst: ip("destIP")?,
                    port: f["destPort"].as_u64().unwrap_or(0) as u16,
                    protocol: Protocol::parse(f["protocol"].as_str()).unwrap_or(Protocol::TCP),
                    in_interface: None,
                };
                let t = trace::trace(&d, &opts, &packet);
                let want = f["output"].as_str().unwrap_or("");
                let masq = f["masq"].as_bool().unwrap_or(false);
                if t.result.outcome != want || t.result.masquerade != masq || !t.branches.is_empty()
                {
                    return Err(format!(
                        "got {:?} masq={}, expected {want:?} masq={masq}\n{}",
                        t.result.outcome,
                        t.result.masquerade,
                        trace::report(&packet, &t)
                    ));
                }
                Ok(())
            })();
            results.push((name, r));
        }
    }
    common::report("iptables-dump", &results, KNOWN);
}
