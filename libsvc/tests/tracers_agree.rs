//! The iptables and nftables tracers answer the same question the same way:
//! for every packet of every flow case in either corpus, run on that case's
//! input, both give the same endpoints, verdict and masquerade decision —
//! except where kube-proxy's two modes really differ (listed below).

mod common;

use common::generated::{gen_service, manifest};

use libsvc::render::Mode;
use libsvc::table::Protocol;
use libsvc::trace::{Packet, TraceResult, trace};
use proptest::prelude::*;
use serde_json::Value;

/// What both tracers must agree on: where the packet goes, and whether it
/// leaves masqueraded. A refused packet (REJECT, DROP) never leaves, so its
/// mark does not count (nftables mode marks outside traffic to a cluster IP
/// in NAT before its filter chain refuses a Service without endpoints).
fn verdict(r: &TraceResult) -> (String, bool) {
    let mut eps: Vec<&str> = r.outcome.split(", ").collect();
    eps.sort();
    let refused = matches!(r.outcome.as_str(), "REJECT" | "DROP");
    (eps.join(", "), r.masquerade && !refused)
}

fn packets(case: &common::Case) -> Vec<(String, Packet)> {
    let flows: Value = serde_saphyr::from_str(&case.file("flows.yaml")).unwrap_or(Value::Null);
    flows
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| {
            Some((
                f["name"].as_str()?.to_string(),
                Packet {
                    in_interface: None,
                    src: f["sourceIP"].as_str()?.parse().ok()?,
                    dst: f["destIP"].as_str()?.parse().ok()?,
                    port: f["destPort"].as_u64()? as u16,
                    protocol: Protocol::parse(f["protocol"].as_str()).unwrap_or(Protocol::TCP),
                },
            ))
        })
        .collect()
}

/// Where kube-proxy's iptables and nftables modes themselves behave
/// differently, so the tracers must differ too:
/// - localhost NodePorts (`127.0.0.1:<nodePort>`) exist only in iptables mode;
/// - hairpin masquerade: iptables marks any endpoint connecting to its own
///   Service, nftables only endpoints in `hairpin-connections`;
/// - nftables mode rejects traffic to a cluster IP on a port no Service
///   uses, and drops traffic to unallocated addresses of the service CIDRs
///   (`cluster-ips-check`); iptables mode lets it pass;
/// - iptables mode accepts health-check node ports with an explicit filter
///   rule; nftables mode has no rule for them (nothing drops them);
/// - with `nodePortAddresses` unset, kube-proxy's server defaults it to
///   `primary` in nftables mode only (`platformApplyDefaults`), so NodePorts
///   on the node's other addresses answer in iptables mode only.
fn kube_proxy_differs(
    loaded: &libsvc::Loaded,
    p: &Packet,
    ipt: &TraceResult,
    nft: &TraceResult,
) -> bool {
    let localhost = p.dst.is_loopback();
    let hairpin = ipt.outcome == nft.outcome
        && ipt
            .outcome
            .split(", ")
            .any(|e| e.starts_with(&format!("{}:", p.src)));
    let in_service_cidr = loaded
        .settings
        .cluster
        .service_cidrs
        .iter()
        .any(|n| n.contains(&p.dst))
        || loaded
            .table
            .services
            .iter()
            .any(|s| s.cluster_ips.contains(&p.dst));
    let cluster_ips_check = in_service_cidr
        && ipt.outcome.is_empty()
        && matches!(nft.outcome.as_str(), "REJECT" | "DROP");
    let health_check_accept = ipt.outcome == "ACCEPT" && nft.outcome.is_empty();
    let family = libsvc::config::IpFamily::of(&p.dst);
    let nodeport_primary_default = loaded.settings.proxy.node_port_addresses.is_none()
        && nft.outcome.is_empty()
        && p.dst != loaded.settings.node.node_ip(family)
        && loaded.settings.node.local_ips(family).contains(&p.dst);
    localhost || hairpin || cluster_ips_check || health_check_accept || nodeport_primary_default
}

#[test]
fn iptables_and_nftables_tracers_agree_on_every_flow() {
    let mut results = Vec::new();
    let mut differ = 0;
    for mode in ["iptables", "nftables"] {
        for case in common::cases(mode)
            .into_iter()
            .filter(|c| c.has("flows.yaml"))
        {
            let mut loaded = case.load();
            // Each corpus sets only its own mode's masqueradeAll; the
            // comparison asks both modes the same question.
            let p = &mut loaded.settings.proxy;
            let all = p.iptables_masquerade_all || p.nftables_masquerade_all;
            (p.iptables_masquerade_all, p.nftables_masquerade_all) = (all, all);
            for (name, p) in packets(&case) {
                let key = format!("{mode}/{}: {name}", case.name);
                let (Ok(ipt), Ok(nft)) = (
                    trace(&loaded, Mode::Iptables, &p),
                    trace(&loaded, Mode::Nftables, &p),
                ) else {
                    results.push((key, Err("a tracer returned an error".to_string())));
                    continue;
                };
                if verdict(&ipt) == verdict(&nft) {
                    results.push((key, Ok(())));
                } else if kube_proxy_differs(&loaded, &p, &ipt, &nft) {
                    differ += 1;
                } else {
                    results.push((
                        key,
                        Err(format!(
                            "iptables {:?} vs nftables {:?}",
                            verdict(&ipt),
                            verdict(&nft)
                        )),
                    ));
                }
            }
        }
    }
    println!("(packets where kube-proxy's modes differ by design: {differ})");
    common::report("tracers-agree", &results, &[]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// On generated clusters, every packet to a cluster IP, node port (or an
    /// outside address on its number) or load-balancer IP, from a pod, an
    /// endpoint, the node or outside, gets
    /// the same answer from both tracers (but where kube-proxy's modes differ).
    #[test]
    fn tracers_agree_on_generated_clusters(services in proptest::collection::vec(gen_service(), 1..5)) {
        let loaded = libsvc::load(&[libsvc::Input::new("gen.yaml", manifest(&services))], &libsvc::Overrides { ip_family: Some(libsvc::config::IpFamily::IPv4), service_cidrs: vec!["172.30.0.0/16".parse().unwrap()], ..Default::default() });
        for (i, s) in services.iter().enumerate() {
            let protocol = if s.udp { Protocol::UDP } else { Protocol::TCP };
            let mut dsts = vec![(format!("172.30.0.{}", 10 + i), 80)];
            if s.kind > 0 {
                dsts.push(("192.168.0.2".to_string(), 30010 + i as u16));
                // Passing through the node to an outside address on the
                // node port's number: not a NodePort in either mode.
                dsts.push(("198.51.100.7".to_string(), 30010 + i as u16));
            }
            if s.kind == 2 { dsts.push((format!("1.2.3.{}", 10 + i), 80)); }
            for src in ["10.180.99.9", "203.0.113.5", "192.168.0.2", &format!("10.180.{i}.1")] {
                for (dst, port) in &dsts {
                    let p = Packet { src: src.parse().unwrap(), dst: dst.parse().unwrap(), port: *port, protocol, in_interface: None };
                    let ipt = trace(&loaded, Mode::Iptables, &p).unwrap();
                    let nft = trace(&loaded, Mode::Nftables, &p).unwrap();
                    prop_assert!(
                        verdict(&ipt) == verdict(&nft) || kube_proxy_differs(&loaded, &p, &ipt, &nft),
                        "{p:?}: iptables {:?} vs nftables {:?}", verdict(&ipt), verdict(&nft)
                    );
                    // Shares agree too, endpoint by endpoint.
                    if verdict(&ipt) == verdict(&nft) {
                        let shares = |r: &TraceResult| { let mut v: Vec<(String, u64)> = r.endpoints.iter().map(|e| (e.endpoint.clone(), (e.probability * 1e6).round() as u64)).collect(); v.sort(); v };
                        prop_assert_eq!(shares(&ipt), shares(&nft), "{:?}", p);
                    }
                }
            }
        }
    }
}
