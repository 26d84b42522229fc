//! svcgen's own renders read back as dumps: every line of kube-proxy's
//! iptables and nftables rules is understood (no diagnostic, nothing
//! opaque), and a packet traced through the dump as the kernel walks it
//! (`libsvc::dump::trace`) ends where the model's tracer says — for every
//! flow of the iptables and nftables corpora.

mod common;

use libsvc::dump::model::{Dump, Match, Stmt, Table};
use libsvc::dump::{self, iptables, trace};
use libsvc::render::{Mode, RenderOptions, render};
use libsvc::table::Protocol;
use libsvc::trace::{Packet, TraceResult};
use proptest::prelude::*;
use serde_json::Value;

fn opaque(tables: &[Table]) -> Vec<String> {
    let mut out = Vec::new();
    for t in tables {
        for c in &t.chains {
            for r in &c.rules {
                let bad = r.matches.iter().any(|m| matches!(m, Match::Opaque(_)))
                    || r.stmts.iter().any(|s| matches!(s, Stmt::Opaque(_)));
                if bad {
                    out.push(format!("{} {}: {}", t.name, c.name, r.text));
                }
            }
        }
    }
    out
}

/// The iptables dump of a loaded case: kube-proxy's typed rulesets (with
/// the jumps from the built-in chains) through `iptables::from_kube`.
fn iptables_dump(loaded: &libsvc::Loaded) -> Result<Dump, String> {
    let mut d = Dump::default();
    for rs in libsvc::proxy::iptables::rulesets(loaded) {
        let p = iptables::from_kube(&rs);
        if !p.diagnostics.is_empty() {
            return Err(format!("{:?}", p.diagnostics));
        }
        let o = opaque(&p.tables);
        if !o.is_empty() {
            return Err(format!("opaque: {o:#?}"));
        }
        d.tables.extend(p.tables);
    }
    Ok(d)
}

/// The nftables dump of a loaded case: the rendered `nft -f` text read back.
fn nftables_dump(loaded: &libsvc::Loaded) -> Result<Dump, String> {
    let text = render(loaded, Mode::Nftables, &RenderOptions::default())
        .map_err(|e| e.to_string())?
        .text;
    let p = dump::parse("render.nft", &text);
    if !p.diagnostics.is_empty() {
        return Err(format!("{:?}", p.diagnostics));
    }
    let o = opaque(&p.tables);
    if !o.is_empty() {
        return Err(format!("opaque: {o:#?}"));
    }
    Ok(Dump {
        tables: p.tables,
        ..Default::default()
    })
}

fn local(loaded: &libsvc::Loaded) -> Vec<std::net::IpAddr> {
    let mut l = loaded
        .settings
        .node
        .local_ips(libsvc::config::IpFamily::IPv4);
    l.extend(
        loaded
            .settings
            .node
            .local_ips(libsvc::config::IpFamily::IPv6),
    );
    l
}

/// What must agree: the endpoints (or verdict) and, for a packet that is
/// not refused, the masquerade.
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
                    src: f["sourceIP"].as_str()?.parse().ok()?,
                    dst: f["destIP"].as_str()?.parse().ok()?,
                    port: f["destPort"].as_u64()? as u16,
                    protocol: Protocol::parse(f["protocol"].as_str()).unwrap_or(Protocol::TCP),
                    in_interface: None,
                },
            ))
        })
        .collect()
}

fn agree(mode: Mode, corpus: &str, dump_of: fn(&libsvc::Loaded) -> Result<Dump, String>) {
    let mut results = Vec::new();
    for case in common::cases(corpus) {
        let loaded = case.load();
        let d = dump_of(&loaded);
        let opts = trace::Options {
            local: local(&loaded),
            ..Default::default()
        };
        let ps = packets(&case);
        if ps.is_empty() {
            results.push((case.name.clone(), d.map(|_| ())));
            continue;
        }
        for (name, p) in ps {
            let r = (|| {
                let d = d.as_ref().map_err(Clone::clone)?;
                let Ok(model) = libsvc::trace::trace(&loaded, mode, &p) else {
                    return Ok(());
                };
                let t = trace::trace(d, &opts, &p);
                if verdict(&model) != verdict(&t.result) || !t.branches.is_empty() {
                    return Err(format!(
                        "model: {:?} masq={}\ndump:  {:?} masq={}\n{}",
                        model.outcome,
                        model.masquerade,
                        t.result.outcome,
                        t.result.masquerade,
                        trace::report(&p, &t)
                    ));
                }
                Ok(())
            })();
            results.push((format!("{} {name}", case.name), r));
        }
    }
    common::report(&format!("{corpus}-dump-agrees"), &results, &[]);
}

#[test]
fn iptables_dump_trace_agrees_with_the_model() {
    agree(Mode::Iptables, "iptables", iptables_dump);
}

#[test]
fn nftables_dump_trace_agrees_with_the_model() {
    agree(Mode::Nftables, "nftables", nftables_dump);
}

/// The examples' renders read back without a diagnostic or an opaque part.
#[test]
fn examples_read_back() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut inputs = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "yaml") {
            inputs.push(libsvc::Input::new(
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            ));
        }
    }
    inputs.sort_by(|a, b| a.name.cmp(&b.name));
    let loaded = libsvc::load(&inputs, &Default::default());
    iptables_dump(&loaded).unwrap();
    nftables_dump(&loaded).unwrap();
    // the rendered iptables-restore text itself (no jumps) reads back too
    let text = render(&loaded, Mode::Iptables, &RenderOptions::default())
        .unwrap()
        .text;
    for part in text.split("# ip6tables-restore\n") {
        let p = dump::parse("render.iptables", part);
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        assert!(opaque(&p.tables).is_empty());
    }
}

proptest! {
    /// Any text: no panic, and the same answer twice.
    #[test]
    fn parse_never_panics_and_is_deterministic(text in "(\\*nat\n|table ip t \\{\n|add rule ip t c |-A X |:X - \\[0:0\\]\n|COMMIT\n|\\{|\\}|;|,|\"|!|-j|-m|@s| |[a-z0-9./:-]{1,8}|\n){0,40}") {
        let a = dump::parse("p", &text);
        let b = dump::parse("p", &text);
        prop_assert_eq!(format!("{:?}", a.tables), format!("{:?}", b.tables));
        prop_assert_eq!(a.diagnostics, b.diagnostics);
        let (d, _) = dump::load(&[libsvc::Input::new("p", text.clone())]);
        let p = Packet { src: "10.0.0.1".parse().unwrap(), dst: "10.0.0.2".parse().unwrap(), port: 80, protocol: Protocol::TCP, in_interface: None };
        let _ = trace::trace(&d, &trace::Options::default(), &p);
    }

    #[test]
    fn json_never_panics(text in "\\{\"nftables\": \\[(\\{\"(table|chain|rule|set)\": \\{\"family\": \"ip\", \"table\": \"t\", \"name\": \"[a-z]{1,3}\", \"chain\": \"c\", \"expr\": \\[\\{\"[a-z]{1,6}\": (null|1|\"x\"|\\{\\})\\}\\]\\}\\},?){0,6}\\]\\}") {
        let a = dump::parse("j", &text);
        let b = dump::parse("j", &text);
        prop_assert_eq!(format!("{:?}", a.tables), format!("{:?}", b.tables));
    }
}

/// IPVS: the `ipvsadm-save -n`, `ipset save` and iptables sections of the
/// examples' IPVS render read back; a pod's connection to each ClusterIP
/// reaches the real servers the IPVS model tracer gives.
#[test]
fn ipvs_dump_trace_agrees_on_endpoints() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut inputs = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "yaml") {
            inputs.push(libsvc::Input::new(
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            ));
        }
    }
    inputs.sort_by(|a, b| a.name.cmp(&b.name));
    let o = libsvc::Overrides {
        node_ips: vec!["192.168.0.2".parse().unwrap()],
        ip_family: Some(libsvc::config::IpFamily::IPv4),
        ..Default::default()
    };
    let loaded = libsvc::load(&inputs, &o);
    let mut dumps = Vec::new();
    for section in ["ipvs", "ipset", "iptables"] {
        let opts = RenderOptions {
            section: Some(section.into()),
            ..Default::default()
        };
        let text = render(&loaded, Mode::Ipvs, &opts).unwrap().text;
        dumps.push(libsvc::Input::new(section, text));
    }
    let (d, diags) = dump::load(&dumps);
    assert!(diags.is_empty(), "{diags:#?}");
    assert!(!d.ipvs.is_empty() && !d.ipsets.is_empty());
    let mut n = 0;
    for s in &loaded.table.services {
        for ip in &s.cluster_ips {
            for port in &s.ports {
                let p = Packet {
                    src: "10.244.1.5".parse().unwrap(),
                    dst: *ip,
                    port: port.port,
                    protocol: port.protocol,
                    in_interface: None,
                };
                let model = libsvc::trace::trace(&loaded, Mode::Ipvs, &p).unwrap();
                let t = trace::trace(&d, &trace::Options::default(), &p);
                let mut a: Vec<_> = model.endpoints.iter().map(|e| &e.endpoint).collect();
                let mut b: Vec<_> = t.result.endpoints.iter().map(|e| &e.endpoint).collect();
                a.sort();
                b.sort();
                assert_eq!(a, b, "{}", trace::report(&p, &t));
                n += 1;
            }
        }
    }
    assert!(n > 10);
}

/// The one place the kernel's walk and kube-proxy's test tracer part on
/// kube-proxy's own iptables rules: the node's own connection to an
/// external or load-balancer IP of a Service without (local) endpoints.
/// The test tracer runs KUBE-EXTERNAL-SERVICES for every packet and
/// refuses it; in the kernel that chain hangs off INPUT and FORWARD only
/// (pkg/proxy/iptables/proxier.go, `iptablesJumpChains`), so from OUTPUT
/// the connection leaves unchanged. See docs/differences.md, "dumps".
fn node_to_external_refused(
    mode: Mode,
    p: &Packet,
    model: &TraceResult,
    dump: &TraceResult,
) -> bool {
    mode == Mode::Iptables
        && p.src.to_string() == "192.168.0.2"
        && p.dst.to_string().starts_with("1.2.3.")
        && matches!(model.outcome.as_str(), "REJECT" | "DROP")
        && dump.outcome.is_empty()
}

use common::generated::{gen_service, manifest};

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Generated clusters: the render read back as a dump is the model
    /// (iptables through `from_kube`, nftables through its text; nothing
    /// opaque), and every packet traced through the dump gets the model
    /// tracer's answer, endpoint shares included.
    #[test]
    fn generated_clusters_round_trip_and_trace_alike(services in proptest::collection::vec(gen_service(), 1..5)) {
        let loaded = libsvc::load(&[libsvc::Input::new("gen.yaml", manifest(&services))], &libsvc::Overrides { ip_family: Some(libsvc::config::IpFamily::IPv4), service_cidrs: vec!["172.30.0.0/16".parse().unwrap()], ..Default::default() });
        let ipt = iptables_dump(&loaded).map_err(TestCaseError::fail)?;
        let nft = nftables_dump(&loaded).map_err(TestCaseError::fail)?;
        let opts = trace::Options { local: local(&loaded), ..Default::default() };
        for (i, s) in services.iter().enumerate() {
            let protocol = if s.udp { Protocol::UDP } else { Protocol::TCP };
            let mut dsts = vec![(format!("172.30.0.{}", 10 + i), 80)];
            if s.kind > 0 { dsts.push(("192.168.0.2".to_string(), 30010 + i as u16)); }
            if s.kind == 2 { dsts.push((format!("1.2.3.{}", 10 + i), 80)); }
            for src in ["10.180.99.9", "203.0.113.5", "192.168.0.2", &format!("10.180.{i}.1")] {
                for (dst, port) in &dsts {
                    let p = Packet { src: src.parse().unwrap(), dst: dst.parse().unwrap(), port: *port, protocol, in_interface: None };
                    for (mode, d) in [(Mode::Iptables, &ipt), (Mode::Nftables, &nft)] {
                        let model = libsvc::trace::trace(&loaded, mode, &p).unwrap();
                        let t = trace::trace(d, &opts, &p);
                        if node_to_external_refused(mode, &p, &model, &t.result) {
                            continue;
                        }
                        prop_assert_eq!(verdict(&model), verdict(&t.result), "{:?} {:?}\n{}", mode, p, trace::report(&p, &t));
                        let shares = |r: &TraceResult| { let mut v: Vec<(String, u64)> = r.endpoints.iter().map(|e| (e.endpoint.clone(), (e.probability * 1e6).round() as u64)).collect(); v.sort(); v };
                        prop_assert_eq!(shares(&model), shares(&t.result), "{:?} {:?}", mode, p);
                    }
                }
            }
        }
    }
}
