//! kube-proxy's nftables conformance corpus (`tests/conformance/nftables`,
//! see its README): whole rulesets compared after kube-proxy's test
//! normalisation, targeted assertions, packet flows through the tracer,
//! and the helper vectors.

mod common;

use libsvc::config::IpFamily;
use libsvc::proxy::nftables::{self, build::truncate_comment, names, render::key_text};
use libsvc::table::Protocol;
use libsvc::trace::Packet;
use serde_json::Value;

/// Cases that fail for a documented reason (docs/differences.md, "nftables").
const KNOWN: &[&str] = &[];
const KNOWN_FLOWS: &[&str] = &[];

/// kube-proxy's `sortNFTablesTransaction`: drop blank and `#` lines, then
/// order by object type (table, chain, rule, set, map, element, other), by
/// object name (fifth word), and — except for rules, which keep their
/// order — by the whole line.
fn normalise(text: &str) -> Vec<String> {
    let rank = |t: &str| match t {
        "table" => 10,
        "chain" => 9,
        "rule" => 8,
        "set" => 7,
        "map" => 6,
        "element" => 5,
        _ => 0,
    };
    let lines: Vec<&str> = text
        .split('\n')
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .collect();
    let mut order: Vec<(usize, &str)> = lines.iter().copied().enumerate().collect();
    order.sort_by_key(|(i, l)| {
        let w: Vec<&str> = l.split(' ').collect();
        let ty = w.get(1).copied().unwrap_or("");
        if w.len() < 5 {
            (-rank(ty), ty.to_string(), String::new(), 0, l.to_string())
        } else if ty == "rule" {
            (
                -rank(ty),
                ty.to_string(),
                w[4].to_string(),
                *i,
                String::new(),
            )
        } else {
            (
                -rank(ty),
                ty.to_string(),
                w[4].to_string(),
                0,
                l.to_string(),
            )
        }
    });
    order.into_iter().map(|(_, l)| l.to_string()).collect()
}

fn protocol(v: &Value) -> Protocol {
    Protocol::parse(v.as_str()).unwrap_or(Protocol::TCP)
}

fn check_dump(case: &common::Case, text: &str) -> Result<(), String> {
    let expected = normalise(&case.file("expected.txt"));
    let actual = normalise(text);
    if expected == actual {
        return Ok(());
    }
    Err(common::first_difference(
        &expected.join("\n"),
        &actual.join("\n"),
    ))
}

fn check_assertions(
    case: &common::Case,
    loaded: &libsvc::Loaded,
    text: &str,
) -> Result<(), String> {
    let a: Value =
        serde_saphyr::from_str(&case.file("assertions.yaml")).map_err(|e| e.to_string())?;
    let (rules, _) = nftables::ruleset(loaded);
    let mut errors = Vec::new();
    for el in a["elements"].as_array().into_iter().flatten() {
        let map = el["map"].as_str().unwrap_or("");
        let key: Vec<&str> = el["key"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let key = key.join(" . ");
        let found = rules.tables.iter().find_map(|t| {
            t.map(map)
                .and_then(|m| m.elements.iter().find(|e| key_text(&e.key) == key))
        });
        let present = el["present"].as_bool().unwrap_or(true);
        if found.is_some() != present {
            errors.push(format!(
                "element {key} in {map}: present={present} expected"
            ));
        }
        if let (Some(want), Some(e)) = (el["comment"].as_str(), found)
            && e.comment.as_deref() != Some(want)
        {
            errors.push(format!("element {key} in {map}: comment {:?}", e.comment));
        }
    }
    for s in a["dumpContains"].as_array().into_iter().flatten() {
        let s = s.as_str().unwrap_or("");
        if !text.contains(s) {
            errors.push(format!("dump lacks: {s}"));
        }
    }
    for s in a["dumpNotContains"].as_array().into_iter().flatten() {
        let s = s.as_str().unwrap_or("");
        if text.contains(s) {
            errors.push(format!("dump contains: {s}"));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}

fn check_flows(case: &common::Case, loaded: &libsvc::Loaded) -> Vec<(String, Result<(), String>)> {
    let flows: Value = serde_saphyr::from_str(&case.file("flows.yaml")).unwrap();
    let mut out = Vec::new();
    for (i, f) in flows.as_array().into_iter().flatten().enumerate() {
        let name = format!("{}#{i} {}", case.name, f["name"].as_str().unwrap_or(""));
        let packet = Packet {
            in_interface: None,
            src: f["sourceIP"].as_str().unwrap_or("").parse().unwrap(),
            dst: f["destIP"].as_str().unwrap_or("").parse().unwrap(),
            port: f["destPort"].as_u64().unwrap_or(0) as u16,
            protocol: protocol(&f["protocol"]),
        };
        let r = libsvc::trace::trace(loaded, libsvc::render::Mode::Nftables, &packet).unwrap();
        let want_out = f["output"].as_str().unwrap_or("");
        let want_masq = f["masq"].as_bool().unwrap_or(false);
        let res = if r.outcome == want_out && r.masquerade == want_masq {
            Ok(())
        } else {
            Err(format!(
                "expected output {want_out:?} masq {want_masq}, got {:?} masq {}\n{}",
                r.outcome,
                r.masquerade,
                libsvc::trace::report(&packet, &r)
            ))
        };
        out.push((name, res));
    }
    out
}

/// One test, so the report lines are not interleaved with the harness's
/// progress output of a second test in this binary.
#[test]
fn nftables_conformance() {
    corpus();
    vectors();
}

fn corpus() {
    let mut results = Vec::new();
    let mut flow_results = Vec::new();
    for case in common::cases("nftables") {
        let loaded = case.load();
        let rendered =
            libsvc::render::render(&loaded, libsvc::render::Mode::Nftables, &Default::default())
                .unwrap();
        let res = if case.has("expected.txt") {
            check_dump(&case, &rendered.text)
        } else if case.has("assertions.yaml") {
            check_assertions(&case, &loaded, &rendered.text)
        } else if case.has("flows.yaml") {
            let flows = check_flows(&case, &loaded);
            let failed = flows.iter().filter(|(_, r)| r.is_err()).count();
            flow_results.extend(flows);
            if failed == 0 {
                Ok(())
            } else {
                Err(format!("{failed} flow(s) failed (see nftables-flows)"))
            }
        } else {
            Err("case has nothing to compare".into())
        };
        results.push((case.name.clone(), res));
    }
    let known_flow_cases: Vec<&str> = KNOWN_FLOWS
        .iter()
        .filter_map(|f| f.split('#').next())
        .collect();
    let mut known: Vec<&str> = KNOWN.to_vec();
    known.extend(known_flow_cases);
    common::report("nftables-flows", &flow_results, KNOWN_FLOWS);
    common::report("nftables", &results, &known);
}

/// `vectors/`: chain names, comment truncation, service CIDRs per family,
/// localhost NodePort proxy activation.
fn vectors() {
    let dir = common::corpus("nftables").join("vectors");
    let read = |f: &str| -> Value {
        serde_saphyr::from_str(&std::fs::read_to_string(dir.join(f)).unwrap()).unwrap()
    };
    let mut results = Vec::new();

    let v = read("chain-names.yaml");
    for (i, c) in v["servicePort"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let got = names::service_port_chain_base(
            c["namespace"].as_str().unwrap(),
            c["name"].as_str().unwrap(),
            Protocol::parse(Some(&c["protocol"].as_str().unwrap().to_uppercase())).unwrap(),
            c["port"].as_str().unwrap(),
        );
        let want = c["expected"].as_str().unwrap();
        results.push((
            format!("chain-names/servicePort#{i}"),
            (got == want)
                .then_some(())
                .ok_or(format!("{got} != {want}")),
        ));
    }
    for (i, c) in v["servicePortEndpoint"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        // The endpoint as text: `IP:port` or `[IPv6]:port`, the address kept as written.
        let ep = c["endpoint"].as_str().unwrap();
        let (ip, port) = ep.rsplit_once(':').unwrap();
        let ip = ip.trim_start_matches('[').trim_end_matches(']');
        let got = names::endpoint_chain_base(
            c["namespace"].as_str().unwrap(),
            c["name"].as_str().unwrap(),
            Protocol::parse(Some(&c["protocol"].as_str().unwrap().to_uppercase())).unwrap(),
            c["port"].as_str().unwrap(),
            ip,
            port.parse().unwrap(),
        );
        let want = c["expected"].as_str().unwrap();
        results.push((
            format!("chain-names/servicePortEndpoint#{i}"),
            (got == want)
                .then_some(())
                .ok_or(format!("{got} != {want}")),
        ));
    }

    let v = read("comment-truncation.yaml");
    let text = |x: &Value| -> String {
        match x.as_str() {
            Some(s) => s.to_string(),
            None => x["repeat"]
                .as_str()
                .unwrap()
                .repeat(x["count"].as_u64().unwrap() as usize),
        }
    };
    for c in v["cases"].as_array().into_iter().flatten() {
        let got = truncate_comment(&text(&c["input"]));
        let want = text(&c["want"]);
        results.push((
            format!("comment-truncation/{}", c["name"].as_str().unwrap()),
            (got == want)
                .then_some(())
                .ok_or(format!("{got} != {want}")),
        ));
    }

    let load = |family: &str, config: &str, cidrs: &[&str]| {
        let overrides = libsvc::Overrides {
            ip_family: IpFamily::parse(family),
            service_cidrs: cidrs.iter().map(|c| c.parse().unwrap()).collect(),
            ..Default::default()
        };
        let loaded = libsvc::load(&[libsvc::Input::new("vector.yaml", config)], &overrides);
        nftables::render(&loaded, &Default::default())
            .expect("nftables renders")
            .text
    };

    let v = read("service-cidrs.yaml");
    for (i, c) in v.as_array().into_iter().flatten().enumerate() {
        let family = c["ipFamily"].as_str().unwrap();
        let cidrs: Vec<&str> = c["serviceCIDRs"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let dump = load(family, "", &cidrs);
        let ip = if family == "IPv4" { "ip" } else { "ip6" };
        let want = format!(
            "add rule {ip} kube-proxy cluster-ips-check {ip} daddr {{ {} }} drop",
            c["want"].as_str().unwrap()
        );
        results.push((
            format!("service-cidrs#{i}"),
            dump.contains(&want)
                .then_some(())
                .ok_or(format!("missing: {want}")),
        ));
    }

    let v = read("localhost-proxy-activation.yaml");
    for c in v.as_array().into_iter().flatten() {
        let family = c["ipFamily"].as_str().unwrap();
        let addrs: Vec<String> = c["nodePortAddresses"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|a| a.as_str().map(|s| format!("{s:?}")))
            .collect();
        let config = format!(
            "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nnodePortAddresses: [{}]\nfeatureGates: {{KubeProxyNFTablesLocalhostNodePorts: true}}\n",
            addrs.join(", ")
        );
        let dump = load(family, &config, &[]);
        // With the userspace proxy serving TCP, TCP localhost NodePorts are not rejected.
        let activated = !dump.contains("localhost-nodeport-rejected-tcp");
        let want = c["activates"].as_bool().unwrap();
        results.push((
            format!("localhost-proxy-activation/{}", c["name"].as_str().unwrap()),
            (activated == want)
                .then_some(())
                .ok_or(format!("activated={activated}")),
        ));
    }

    common::report("nftables-vectors", &results, &[]);
}
