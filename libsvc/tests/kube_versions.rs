//! `--kube-version`: kube-proxy's rules as each release 1.33…1.37 writes
//! them (docs/kube-versions.md lists every difference). 1.37 is the
//! reference the conformance corpus holds; older releases are checked
//! against kube-proxy's own expectations of their time where the index
//! holds them, and by whole-output snapshots elsewhere.

mod common;

use libsvc::config::KubeVersion;
use libsvc::render::{Mode, RenderOptions, render};
use libsvc::trace::Packet;
use libsvc::{Input, Loaded, Overrides};
use proptest::prelude::*;

fn at(version: KubeVersion) -> Overrides {
    Overrides {
        kube_version: Some(version),
        ..Overrides::default()
    }
}

fn case(name: &str) -> common::Case {
    common::cases("nftables")
        .into_iter()
        .find(|c| c.name == name)
        .expect("corpus case")
}

/// A corpus case loaded as `version`'s kube-proxy.
fn load_case(case: &common::Case, version: KubeVersion) -> Loaded {
    let (stream, mut overrides) = case.stream();
    overrides.kube_version = Some(version);
    libsvc::load(
        &[Input::new(format!("{}/input.yaml", case.name), stream)],
        &overrides,
    )
}

fn text(loaded: &Loaded, mode: Mode) -> String {
    render(loaded, mode, &RenderOptions::default())
        .unwrap()
        .text
}

/// kube-proxy's `sortNFTablesTransaction` (its test normalisation): no
/// blank or `#` lines; by object type, then name (fifth word); rules keep
/// their order, other lines sort by text.
fn normalise(text: &str) -> Vec<String> {
    let rank = |t: &str| match t {
        "table" => 0,
        "chain" => 1,
        "rule" => 2,
        "set" => 3,
        "map" => 4,
        "element" => 5,
        _ => 6,
    };
    let mut lines: Vec<(usize, &str)> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .enumerate()
        .collect();
    lines.sort_by_key(|&(i, l)| {
        let w: Vec<&str> = l.split(' ').collect();
        let ty = w.get(1).copied().unwrap_or("");
        let name = w.get(4).copied().unwrap_or("").to_string();
        let (order, line) = if ty == "rule" { (i, "") } else { (0, l) };
        (rank(ty), ty.to_string(), name, order, line.to_string())
    });
    lines.into_iter().map(|(_, l)| l.to_string()).collect()
}

/// kube-proxy 1.34 and 1.35 (`syncProxyRules` and `setupNFTables` in
/// pkg/proxy/nftables/proxier.go, before kubernetes#135800 and #136499):
/// TestOverallNFTablesRules of that time, the whole transaction. Its
/// input is corpus case 001 without the localhost-NodePort feature (which
/// these releases do not have: the gate is dropped with a warning).
#[test]
fn overall_nftables_rules_before_1_36() {
    let expected = include_str!("data/kube-versions/1.35-overall-nftables-rules.txt");
    for version in [KubeVersion::V1_34, KubeVersion::V1_35] {
        let loaded = load_case(&case("001-overall-nftables-rules"), version);
        let got = text(&loaded, Mode::Nftables);
        assert_eq!(
            normalise(&got).join("\n"),
            normalise(expected).join("\n"),
            "kube-proxy {version}"
        );
        assert!(
            loaded.diagnostics.iter().any(|d| d
                .message
                .contains("does not know this feature gate (unrecognized feature gate: KubeProxyNFTablesLocalhostNodePorts)")),
            "{:?}",
            loaded.diagnostics
        );
    }
}

/// Every release routes the same packets the same way: the corpus's
/// packet flows (kube-proxy's `runPacketFlowTests` cases) hold at each
/// release's nftables rules, endpoint chains or not (the tracer follows
/// pkg/proxy/nftables/helpers_test.go's `tracePacket`).
#[test]
fn packet_flows_hold_at_every_release() {
    let mut failures = Vec::new();
    let mut ran = 0;
    for case in common::cases("nftables")
        .iter()
        .filter(|c| c.has("flows.yaml"))
    {
        let flows: serde_json::Value = serde_saphyr::from_str(&case.file("flows.yaml")).unwrap();
        for version in KubeVersion::ALL {
            let loaded = load_case(case, version);
            for f in flows.as_array().into_iter().flatten() {
                let packet = Packet {
                    in_interface: None,
                    src: f["sourceIP"].as_str().unwrap().parse().unwrap(),
                    dst: f["destIP"].as_str().unwrap().parse().unwrap(),
                    port: f["destPort"].as_u64().unwrap() as u16,
                    protocol: libsvc::table::Protocol::parse(f["protocol"].as_str())
                        .unwrap_or(libsvc::table::Protocol::TCP),
                };
                let r = libsvc::trace::trace(&loaded, Mode::Nftables, &packet).unwrap();
                let (out, masq) = (f["output"].as_str().unwrap(), f["masq"].as_bool());
                ran += 1;
                if r.outcome != out || r.masquerade != masq.unwrap_or(false) {
                    failures.push(format!(
                        "{} {version} {}: want {out:?} masq {masq:?}, got {:?} masq {}",
                        case.name, f["name"], r.outcome, r.masquerade
                    ));
                }
            }
        }
    }
    assert!(ran > 100, "{ran} flows");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

const SNAPSHOT_INPUT: &str = "\
apiVersion: v1
kind: Node
metadata:
  name: node-1
  labels: {topology.kubernetes.io/zone: zone-a}
status:
  addresses: [{type: InternalIP, address: 192.168.0.2}]
---
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clusterCIDR: 10.244.0.0/16
---
apiVersion: v1
kind: Service
metadata: {name: one, namespace: default}
spec:
  clusterIP: 10.96.0.21
  ports: [{name: http, port: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: one-1, namespace: default, labels: {kubernetes.io/service-name: one}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints:
- addresses: [10.244.1.5]
  nodeName: node-1
---
apiVersion: v1
kind: Service
metadata: {name: sticky, namespace: default}
spec:
  type: NodePort
  clusterIP: 10.96.0.22
  sessionAffinity: ClientIP
  ports: [{name: http, port: 80, nodePort: 30080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: sticky-1, namespace: default, labels: {kubernetes.io/service-name: sticky}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints:
- addresses: [10.244.1.6]
  nodeName: node-1
- addresses: [10.244.2.6]
  nodeName: node-2
---
apiVersion: v1
kind: Service
metadata: {name: near, namespace: default}
spec:
  clusterIP: 10.96.0.23
  trafficDistribution: PreferSameNode
  ports: [{name: http, port: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: near-1, namespace: default, labels: {kubernetes.io/service-name: near}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints:
- addresses: [10.244.1.7]
  nodeName: node-1
  zone: zone-a
  hints: {forNodes: [{name: node-1}], forZones: [{name: zone-a}]}
- addresses: [10.244.2.7]
  nodeName: node-2
  zone: zone-a
  hints: {forNodes: [{name: node-2}], forZones: [{name: zone-a}]}
- addresses: [10.244.3.7]
  nodeName: node-3
  zone: zone-b
  hints: {forNodes: [{name: node-3}], forZones: [{name: zone-b}]}
";

fn snapshot_loaded(version: KubeVersion, extra: &Overrides) -> Loaded {
    let o = Overrides {
        kube_version: Some(version),
        ip_family: Some(libsvc::config::IpFamily::IPv4),
        ..extra.clone()
    };
    libsvc::load(&[Input::new("versions.yaml", SNAPSHOT_INPUT)], &o)
}

/// The whole nftables ruleset of one input at each release: 1.33 (port
/// match in the masquerade rule, kubernetes#131492; node hints ignored),
/// 1.34 and 1.35 (endpoint chains, `mark-for-masquerade`), 1.36
/// (kubernetes#135800 / #136499: hairpin set, DNAT in the service chain,
/// `numgen … map` even for one endpoint), 1.37 (kubernetes#140723 /
/// #140960: `dnat to` for one endpoint).
#[test]
fn nftables_per_release() {
    for version in KubeVersion::ALL {
        let loaded = snapshot_loaded(version, &Overrides::default());
        insta::assert_snapshot!(
            format!("nftables_{}", version.minor()),
            text(&loaded, Mode::Nftables)
        );
    }
}

/// The interface detectors: `iif` in 1.33, `iifname` since 1.34
/// (kubernetes#134024, #134118; `IfLocalNFT` / `IfNotLocalNFT`).
#[test]
fn interface_detector_per_release() {
    let extra = Overrides {
        detect_local_mode: Some("InterfaceNamePrefix".into()),
        interface_name_prefix: Some("veth".into()),
        ..Overrides::default()
    };
    let loaded = snapshot_loaded(KubeVersion::V1_33, &extra);
    let rendered = render(&loaded, Mode::Nftables, &RenderOptions::default()).unwrap();
    assert!(
        rendered
            .diagnostics
            .iter()
            .any(|d| d.message.contains("fixed by kubernetes#134024 in 1.34")),
        "{:?}",
        rendered.diagnostics
    );
    let old = rendered.text;
    let new = text(&snapshot_loaded(KubeVersion::V1_34, &extra), Mode::Nftables);
    let line = "add rule ip kube-proxy service-6ACRP4GF-default/one/tcp/http ip daddr 10.96.0.21 tcp dport 80 iif != veth* jump mark-for-masquerade";
    assert!(old.contains(line), "{old}");
    let line = "add rule ip kube-proxy service-6ACRP4GF-default/one/tcp/http ip daddr 10.96.0.21 iifname != veth* jump mark-for-masquerade";
    assert!(new.contains(line), "{new}");
}

/// Node hints are read from 1.34 on; 1.33 reads them only with the
/// `PreferSameTrafficDistribution` gate (`topologyModeFromHints`,
/// pkg/proxy/topology.go), in every backend.
#[test]
fn node_hints_per_release() {
    let packet = Packet {
        in_interface: None,
        src: "10.244.9.9".parse().unwrap(),
        dst: "10.96.0.23".parse().unwrap(),
        port: 80,
        protocol: libsvc::table::Protocol::TCP,
    };
    for mode in [Mode::Iptables, Mode::Nftables, Mode::Ipvs] {
        let outcome = |version| {
            let loaded = snapshot_loaded(version, &Overrides::default());
            libsvc::trace::trace(&loaded, mode, &packet)
                .unwrap()
                .outcome
        };
        assert_eq!(outcome(KubeVersion::V1_34), "10.244.1.7:8080", "{mode:?}");
        assert_eq!(outcome(KubeVersion::V1_37), "10.244.1.7:8080", "{mode:?}");
        // Zone hints only: zone-a's two endpoints.
        assert_eq!(
            outcome(KubeVersion::V1_33),
            "10.244.1.7:8080, 10.244.2.7:8080",
            "{mode:?}"
        );
    }
    // The gate turned on in 1.33's configuration, off in 1.34's.
    let gated = |version, on: bool| {
        let input = SNAPSHOT_INPUT.replace(
            "clusterCIDR: 10.244.0.0/16",
            &format!(
                "clusterCIDR: 10.244.0.0/16\nfeatureGates: {{PreferSameTrafficDistribution: {on}}}"
            ),
        );
        let loaded = libsvc::load(&[Input::new("v.yaml", input)], &at(version));
        libsvc::trace::trace(&loaded, Mode::Nftables, &packet)
            .unwrap()
            .outcome
    };
    assert_eq!(gated(KubeVersion::V1_33, true), "10.244.1.7:8080");
    assert_eq!(
        gated(KubeVersion::V1_34, false),
        "10.244.1.7:8080, 10.244.2.7:8080"
    );
    // Locked on from 1.35, with a warning.
    assert_eq!(gated(KubeVersion::V1_35, false), "10.244.1.7:8080");
    let input = SNAPSHOT_INPUT.replace(
        "clusterCIDR: 10.244.0.0/16",
        "clusterCIDR: 10.244.0.0/16\nfeatureGates: {PreferSameTrafficDistribution: false}",
    );
    let loaded = libsvc::load(&[Input::new("v.yaml", input)], &at(KubeVersion::V1_36));
    assert!(
        loaded
            .diagnostics
            .iter()
            .any(|d| d.message.contains("GA and locked on in kube-proxy 1.36")),
        "{:?}",
        loaded.diagnostics
    );
}

/// iptables and IPVS write the same rules in every release (no change
/// between 1.33 and 1.37 in pkg/proxy/iptables or pkg/proxy/ipvs alters
/// svcgen's output; docs/kube-versions.md), apart from topology.
#[test]
fn iptables_and_ipvs_unchanged() {
    // Without the hinted Service.
    let no_hints = SNAPSHOT_INPUT
        .split("---\napiVersion: v1\nkind: Service\nmetadata: {name: near")
        .next()
        .unwrap()
        .to_string();
    for mode in [Mode::Iptables, Mode::Ipvs] {
        let render_at = |v| {
            let o = Overrides {
                kube_version: Some(v),
                ..Overrides::default()
            };
            let l = libsvc::load(&[Input::new("v.yaml", no_hints.clone())], &o);
            text(&l, mode)
        };
        let reference = render_at(KubeVersion::V1_37);
        for v in KubeVersion::ALL {
            assert_eq!(render_at(v), reference, "{mode:?} {v}");
        }
    }
}

/// `svcgen check --kube-version`: a node of an older release is in sync
/// with the render of its release, and the release difference shows when
/// it is checked against the reference (dump/check.rs `check`).
#[test]
fn check_uses_the_release() {
    let render_with_jumps = |version| {
        let loaded = snapshot_loaded(version, &Overrides::default());
        let opts = RenderOptions {
            with_jumps: true,
            ..Default::default()
        };
        render(&loaded, Mode::Nftables, &opts).unwrap().text
    };
    let dump_of = |text: String| {
        let (dump, diags) = libsvc::dump::load(&[Input::new("node.nft", text)]);
        assert!(diags.is_empty(), "{diags:?}");
        dump
    };
    for version in KubeVersion::ALL {
        let node = dump_of(render_with_jumps(version));
        let same = snapshot_loaded(version, &Overrides::default());
        let report = libsvc::dump::check::check(&same, Mode::Nftables, &node).unwrap();
        assert!(report.in_sync, "{version}: {}", report.text());
        let reference = snapshot_loaded(KubeVersion::V1_37, &Overrides::default());
        let report = libsvc::dump::check::check(&reference, Mode::Nftables, &node).unwrap();
        assert_eq!(
            report.in_sync,
            version == KubeVersion::V1_37,
            "{version}: {}",
            report.text()
        );
    }
}

#[test]
fn parse_versions() {
    assert_eq!(KubeVersion::parse("1.33"), Some(KubeVersion::V1_33));
    assert_eq!(KubeVersion::parse("v1.35.2"), Some(KubeVersion::V1_35));
    assert_eq!(KubeVersion::parse(" 1.37 "), Some(KubeVersion::V1_37));
    for bad in [
        "1.32", "1.38", "2.33", "1.33.", "1.33.x", "1", "", "v1.3", "1.33.1.1",
    ] {
        assert_eq!(KubeVersion::parse(bad), None, "{bad}");
    }
    assert_eq!(KubeVersion::default(), KubeVersion::V1_37);
    assert_eq!(KubeVersion::V1_36.to_string(), "1.36");
}

/// A small generated cluster: Services of every type with 0–3 endpoints,
/// some with ClientIP affinity, some on this node.
fn cluster() -> impl Strategy<Value = String> {
    let svc = (0u8..4, 0usize..4, any::<bool>(), any::<bool>(), 1u16..200);
    proptest::collection::vec(svc, 1..6).prop_map(|svcs| {
        let mut out = String::from(
            "apiVersion: v1\nkind: Node\nmetadata: {name: node-1}\nstatus:\n  addresses: [{type: InternalIP, address: 192.168.0.2}]\n---\napiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nclusterCIDR: 10.244.0.0/16\n",
        );
        for (i, (ty, eps, sticky, local, port)) in svcs.into_iter().enumerate() {
            let ty = ["ClusterIP", "NodePort", "LoadBalancer", "ClusterIP"][ty as usize];
            let affinity = if sticky { "\n  sessionAffinity: ClientIP" } else { "" };
            out.push_str(&format!(
                "---\napiVersion: v1\nkind: Service\nmetadata: {{name: s{i}, namespace: default}}\nspec:\n  type: {ty}\n  clusterIP: 10.96.1.{i}{affinity}\n  ports: [{{name: p, port: {port}}}]\n"
            ));
            if ty == "LoadBalancer" {
                out.push_str(&format!(
                    "status: {{loadBalancer: {{ingress: [{{ip: 203.0.113.{i}}}]}}}}\n"
                ));
            }
            out.push_str(&format!(
                "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: s{i}-1, namespace: default, labels: {{kubernetes.io/service-name: s{i}}}}}\naddressType: IPv4\nports: [{{name: p, port: 8080}}]\nendpoints:{}\n",
                if eps == 0 { " []" } else { "" }
            ));
            for e in 0..eps {
                let node = if local && e == 0 { "node-1" } else { "node-2" };
                out.push_str(&format!(
                    "- addresses: [10.244.{i}.{e}]\n  nodeName: {node}\n"
                ));
            }
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// At 1.37 the output is byte for byte today's default: `--kube-version
    /// 1.37` changes nothing (the conformance corpus is 1.37).
    #[test]
    fn reference_release_is_the_default(yaml in cluster()) {
        let input = [Input::new("c.yaml", yaml)];
        let default = libsvc::load(&input, &Overrides::default());
        let explicit = libsvc::load(&input, &at(KubeVersion::V1_37));
        for mode in [Mode::Iptables, Mode::Nftables, Mode::Ipvs, Mode::Env, Mode::Dns] {
            prop_assert_eq!(text(&default, mode), text(&explicit, mode));
        }
    }

    /// The incremental engine at every release: the nftables delta between
    /// two clusters applied to the old model gives the new one (what `svcgen
    /// diff --kube-version` and the agent rely on; incremental/nftables.rs).
    #[test]
    fn deltas_apply_at_every_release(a in cluster(), b in cluster(), v in 0usize..5) {
        use libsvc::incremental::nftables as inc;
        let o = at(KubeVersion::ALL[v]);
        let old = libsvc::proxy::nftables::ruleset(&libsvc::load(&[Input::new("a.yaml", a)], &o)).0;
        let new = libsvc::proxy::nftables::ruleset(&libsvc::load(&[Input::new("b.yaml", b)], &o)).0;
        let applied = inc::apply(&old, &inc::diff(&old, &new));
        prop_assert_eq!(inc::normalize(&applied), inc::normalize(&new));
    }

    /// At every release a render reads back as a dump that checks in sync
    /// with the same release (the agent's dry-run and `svcgen check`).
    #[test]
    fn every_release_checks_in_sync_with_itself(yaml in cluster(), v in 0usize..5) {
        let version = KubeVersion::ALL[v];
        let loaded = libsvc::load(&[Input::new("c.yaml", yaml)], &at(version));
        let opts = RenderOptions { with_jumps: true, ..Default::default() };
        let rendered = render(&loaded, Mode::Nftables, &opts).unwrap().text;
        let (dump, diags) = libsvc::dump::load(&[Input::new("node.nft", rendered)]);
        prop_assert!(diags.is_empty(), "{:?}", diags);
        let report = libsvc::dump::check::check(&loaded, Mode::Nftables, &dump).unwrap();
        prop_assert!(report.in_sync, "{}", report.text());
    }
}

/// Each release's nftables render loads in a kernel (`nft -f` in a network
/// namespace), and the node's `nft list ruleset` checks in sync against the
/// same release: a real older node is not drift. Against 1.37 a 1.36 node
/// differs in its single-endpoint DNATs only. Needs root and `nft`
/// (skipped otherwise, like the other kernel tests).
#[test]
fn kernel_nodes_of_every_release_check_in_sync() {
    use common::netns::{Netns, have, kernel_tests_enabled};
    if !kernel_tests_enabled() || !have("nft") {
        return;
    }
    let opts = RenderOptions {
        with_jumps: true,
        ..Default::default()
    };
    for version in KubeVersion::ALL {
        let loaded = snapshot_loaded(version, &Overrides::default());
        let text = render(&loaded, Mode::Nftables, &opts).unwrap().text;
        let ns = Netns::new(&format!("kv-{}", version.minor())).expect("ip netns add");
        ns.exec("nft", &["-f", "-"], &text).unwrap();
        let listed = ns.exec("nft", &["list", "ruleset"], "").unwrap();
        let (node, diags) = libsvc::dump::load(&[Input::new("node.nft", listed)]);
        assert!(diags.is_empty(), "{version}: {diags:?}");
        let report = libsvc::dump::check::check(&loaded, Mode::Nftables, &node).unwrap();
        assert!(report.in_sync, "{version}: {}", report.text());
        if version == KubeVersion::V1_36 {
            let reference = snapshot_loaded(KubeVersion::V1_37, &Overrides::default());
            let report = libsvc::dump::check::check(&reference, Mode::Nftables, &node).unwrap();
            assert!(!report.in_sync);
            for d in &report.differences {
                let s = d.to_string();
                assert!(
                    s.contains("default/one:http") || s.contains("default/near:http"),
                    "{s}"
                );
            }
        }
    }
}
