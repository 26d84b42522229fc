//! The invariants a generated cluster must keep, from load to every render
//! and trace. Each returns `Err(why)` on a violation; a fuzz target panics
//! with it, the stable test fails with it.

use crate::cluster::{Cluster, SERVICE_CIDR_V4, SERVICE_CIDR_V6};
use libsvc::config::IpFamily;
use libsvc::dump::{self, check, trace as dump_trace};
use libsvc::render::{Mode, RenderOptions, render};
use libsvc::table::Protocol;
use libsvc::trace::{Packet, TraceResult, trace};
use libsvc::{Input, Loaded, Overrides, load};
use std::net::IpAddr;

/// What every check loads with: kube-proxy on `node-0`, both service CIDRs.
pub fn overrides() -> Overrides {
    Overrides {
        node_name: Some("node-0".into()),
        service_cidrs: vec![
            SERVICE_CIDR_V4.parse().expect("CIDR"),
            SERVICE_CIDR_V6.parse().expect("CIDR"),
        ],
        ..Default::default()
    }
}

/// Every output of a loaded snapshot, as text: the diagnostics' messages
/// (without positions, which differ between YAML and JSON), then each mode's
/// text or error.
pub fn outputs(loaded: &Loaded) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut messages: Vec<String> = loaded
        .diagnostics
        .iter()
        .map(|d| d.message.clone())
        .collect();
    messages.sort();
    out.push(("diagnostics".to_string(), messages.join("\n")));
    for mode in Mode::ALL {
        let text = match render(loaded, mode, &RenderOptions::default()) {
            Ok(r) => r.text,
            Err(e) => format!("error: {e}"),
        };
        out.push((mode.name().to_string(), text));
    }
    for section in ["ipvs", "ipset", "iptables", "addresses"] {
        let opts = RenderOptions {
            section: Some(section.into()),
            with_jumps: true,
            ..Default::default()
        };
        let text = match render(loaded, Mode::Ipvs, &opts) {
            Ok(r) => r.text,
            Err(e) => format!("error: {e}"),
        };
        out.push((format!("ipvs --section {section}"), text));
    }
    out
}

fn first_difference(
    what: &str,
    a: &[(String, String)],
    b: &[(String, String)],
) -> Result<(), String> {
    for ((name, x), (_, y)) in a.iter().zip(b) {
        if x != y {
            let line = x
                .lines()
                .zip(y.lines())
                .position(|(p, q)| p != q)
                .unwrap_or(x.lines().count().min(y.lines().count()));
            return Err(format!(
                "{what}: {name} differs at line {}:\n  {:?}\n  {:?}",
                line + 1,
                x.lines().nth(line),
                y.lines().nth(line)
            ));
        }
    }
    Ok(())
}

/// A cluster's whole check: YAML and JSON give the same outputs, the same
/// input gives the same bytes, document order does not matter, the tracers
/// agree, and each ruleset's text reads back as its model.
pub fn check_cluster(c: &Cluster) -> Result<(), String> {
    let o = overrides();
    let yaml = c.yaml();
    let loaded = load(&[Input::new("cluster.yaml", yaml.clone())], &o);
    let first = outputs(&loaded);

    // Same input, same bytes.
    let again = outputs(&load(&[Input::new("cluster.yaml", yaml.clone())], &o));
    first_difference("same input twice", &first, &again)?;

    // JSON (a v1 List) says the same as YAML.
    let json = load(&[Input::new("cluster.json", c.json())], &o);
    first_difference("YAML vs JSON", &first, &outputs(&json))?;

    // Document order does not matter, where kube-apiserver and the
    // controllers do not make it matter (see `order_matters`).
    if !order_matters(c) {
        let mut docs = c.documents();
        docs.reverse();
        let reversed = load(
            &[Input::new(
                "cluster.yaml",
                crate::cluster::yaml_stream(&docs),
            )],
            &o,
        );
        first_difference("reversed documents", &first, &outputs(&reversed))?;
    }

    // kube-proxy only ever sees what kube-apiserver admitted: the two
    // modes are compared on valid clusters (what each does with a refused
    // object is svcgen's choice, not kube-proxy's).
    // Likewise the read-back: a refused object (two unnamed ports of one
    // Service) may render what iptables-restore would refuse.
    if loaded.errors().next().is_none() {
        tracers_agree(&loaded)?;
        text_reads_back_as_model(&loaded)?;
    }
    Ok(())
}

/// Where the order of the documents changes what Kubernetes does, so the
/// outputs may differ: two objects of one kind and name (the later one is
/// refused by kube-apiserver as already existing), and cluster IPs or node
/// ports allocated to Services in creation order (the allocators hand out
/// addresses and ports in the order Services are created).
fn order_matters(c: &Cluster) -> bool {
    let docs = c.documents();
    let mut keys = std::collections::BTreeSet::new();
    for d in &docs {
        let key = (
            d["kind"].to_string(),
            d["metadata"]["namespace"].to_string(),
            d["metadata"]["name"].to_string(),
        );
        if !keys.insert(key) {
            return true;
        }
        if d["kind"] == "Service" {
            let spec = &d["spec"];
            let needs_ip = spec["clusterIP"].is_null() && spec["type"] != "ExternalName";
            let needs_port = matches!(spec["type"].as_str(), Some("NodePort" | "LoadBalancer"))
                && (spec["ports"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["nodePort"].is_null()))
                    || spec["healthCheckNodePort"].is_null());
            if needs_ip || needs_port {
                return true;
            }
        }
    }
    false
}

/// The packets asked of a snapshot: to every cluster IP, external IP and
/// load-balancer IP on each Service port, and to every node port on the
/// node's addresses, from a pod, the node, outside and an endpoint.
pub fn packets(loaded: &Loaded) -> Vec<Packet> {
    let mut dsts: Vec<(IpAddr, u16, Protocol)> = Vec::new();
    for s in loaded.table.services.iter().take(8) {
        for p in s.ports.iter().take(3) {
            for ip in &s.cluster_ips {
                dsts.push((*ip, p.port, p.protocol));
            }
            for ip in s.external_ips.iter().filter_map(|i| i.parse().ok()) {
                dsts.push((ip, p.port, p.protocol));
            }
            for lb in &s.lb_ingress {
                dsts.push((lb.ip, p.port, p.protocol));
            }
            if let Some(np) = p.node_port {
                for family in IpFamily::BOTH {
                    dsts.push((loaded.settings.node.node_ip(family), np, p.protocol));
                }
            }
        }
    }
    let mut endpoints: Vec<IpAddr> = Vec::new();
    for s in &loaded.table.services {
        for sl in &s.slices {
            endpoints.extend(sl.endpoints.iter().filter_map(|e| e.ip));
        }
    }
    let mut out = Vec::new();
    for (dst, port, protocol) in dsts {
        let v4 = dst.is_ipv4();
        let mut srcs: Vec<IpAddr> = if v4 {
            vec![[10, 244, 1, 77].into(), [203, 0, 113, 5].into()]
        } else {
            vec![
                "fd00:10:244:1::77".parse().expect("IP"),
                "2001:db8:ffff::5".parse().expect("IP"),
            ]
        };
        srcs.push(loaded.settings.node.node_ip(IpFamily::of(&dst)));
        srcs.extend(endpoints.iter().filter(|e| e.is_ipv4() == v4).take(1));
        for src in srcs {
            out.push(Packet {
                src,
                dst,
                port,
                protocol,
                in_interface: None,
            });
        }
    }
    out.truncate(64);
    out
}

/// Where both tracers must agree: the endpoints (or verdict), and the
/// masquerade of a packet that is not refused.
pub fn verdict(r: &TraceResult) -> (String, bool) {
    let mut eps: Vec<&str> = r.outcome.split(", ").collect();
    eps.sort();
    let refused = matches!(r.outcome.as_str(), "REJECT" | "DROP");
    (eps.join(", "), r.masquerade && !refused)
}

/// Where kube-proxy's iptables and nftables modes really differ, so the
/// tracers may too. The same list as `libsvc/tests/tracers_agree.rs`
/// (`kube_proxy_differs`), which says why each holds:
/// localhost node ports (iptables only); hairpin masquerade; nftables'
/// `cluster-ips-check` reject/drop of unused cluster IPs and ports;
/// iptables' explicit accept of health-check node ports; and
/// `nodePortAddresses` defaulting to `primary` in nftables mode only;
/// and one more, found by this fuzzer: see `firewall_without_endpoints`.
pub fn kube_proxy_differs(
    loaded: &Loaded,
    p: &Packet,
    ipt: &TraceResult,
    nft: &TraceResult,
) -> bool {
    let localhost = p.dst.is_loopback();
    let hairpin = ipt.outcome == nft.outcome
        && ipt.outcome.split(", ").any(|e| {
            e.starts_with(&format!("{}:", p.src)) || e.starts_with(&format!("[{}]:", p.src))
        });
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
    let family = IpFamily::of(&p.dst);
    let nodeport_primary_default = loaded.settings.proxy.node_port_addresses.is_none()
        && nft.outcome.is_empty()
        && p.dst != loaded.settings.node.node_ip(family)
        && loaded.settings.node.local_ips(family).contains(&p.dst);
    // A load balancer with source ranges and no endpoints: iptables mode
    // makes its firewall chain only when the Service has endpoints
    // (pkg/proxy/iptables/proxier.go, syncProxyRules: `usesFWChain :=
    // hasEndpoints && …`), so it rejects every source; nftables mode's
    // firewall chain does not depend on endpoints (pkg/proxy/nftables/
    // proxier.go, syncProxyRules `usesFWChain`), so a source outside the
    // ranges is dropped before the no-endpoints reject.
    let firewall_without_endpoints =
        ipt.outcome == "REJECT"
            && nft.outcome == "DROP"
            && loaded.table.services.iter().any(|s| {
                !s.lb_source_ranges.is_empty() && s.lb_ingress.iter().any(|i| i.ip == p.dst)
            });
    localhost
        || hairpin
        || cluster_ips_check
        || health_check_accept
        || nodeport_primary_default
        || firewall_without_endpoints
}

/// The iptables and nftables tracers agree on every packet (kube-proxy's
/// mode differences aside), asked with the same masqueradeAll.
pub fn tracers_agree(loaded: &Loaded) -> Result<(), String> {
    let mut loaded = loaded.clone();
    let p = &mut loaded.settings.proxy;
    let all = p.iptables_masquerade_all || p.nftables_masquerade_all;
    (p.iptables_masquerade_all, p.nftables_masquerade_all) = (all, all);
    for p in packets(&loaded) {
        let (Ok(ipt), Ok(nft)) = (
            trace(&loaded, Mode::Iptables, &p),
            trace(&loaded, Mode::Nftables, &p),
        ) else {
            continue;
        };
        if verdict(&ipt) != verdict(&nft) && !kube_proxy_differs(&loaded, &p, &ipt, &nft) {
            return Err(format!(
                "tracers disagree on {p:?}: iptables {:?} vs nftables {:?}",
                verdict(&ipt),
                verdict(&nft)
            ));
        }
        // Two tracers of one mode family: IPVS traces too, without panic.
        let _ = trace(&loaded, Mode::Ipvs, &p);
    }
    Ok(())
}

/// Each ruleset's text reads back (`libsvc::dump`) without a diagnostic,
/// and says what the model says: iptables text vs the typed rulesets item
/// by item (`dump::check::compare`), nftables by tracing the same packets
/// through the parsed text and the model.
pub fn text_reads_back_as_model(loaded: &Loaded) -> Result<(), String> {
    let ipt_text = check::expected(loaded, Mode::Iptables).map_err(|e| format!("iptables: {e}"))?;
    let mut from_model = dump::model::Dump::default();
    // `svcgen render` (and so `expected`) prints the families the input uses.
    let families = libsvc::render::input_families(loaded);
    for rs in libsvc::proxy::iptables::rulesets(loaded) {
        if !families.contains(&rs.family) {
            continue;
        }
        let p = dump::iptables::from_kube(&rs);
        if let Some(d) = p.diagnostics.first() {
            return Err(format!("iptables model does not convert: {d}"));
        }
        from_model.tables.extend(p.tables);
    }
    let report = check::compare(Mode::Iptables, &from_model, &ipt_text);
    if !report.in_sync {
        return Err(format!(
            "iptables text and model differ:\n{}",
            report.text()
        ));
    }
    let nft = check::expected(loaded, Mode::Nftables).map_err(|e| format!("nftables: {e}"))?;
    check::expected(loaded, Mode::Ipvs).map_err(|e| format!("ipvs: {e}"))?;
    let mut local = loaded.settings.node.local_ips(IpFamily::IPv4);
    local.extend(loaded.settings.node.local_ips(IpFamily::IPv6));
    let opts = dump_trace::Options {
        local,
        ..Default::default()
    };
    for p in packets(loaded) {
        let Ok(model) = trace(loaded, Mode::Nftables, &p) else {
            continue;
        };
        let t = dump_trace::trace(&nft, &opts, &p);
        if verdict(&model) != verdict(&t.result) {
            return Err(format!(
                "nftables text and model trace differently for {p:?}: model {:?}, text {:?}",
                verdict(&model),
                verdict(&t.result)
            ));
        }
    }
    Ok(())
}
