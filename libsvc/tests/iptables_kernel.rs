//! The kernel judges the text: every rendered conformance case (the
//! payload, and the payload with the built-in jumps) goes to
//! `iptables-restore --test` (`ip6tables-restore` for IPv6) inside a network
//! namespace this test creates, then is applied there for real with
//! `--noflush`, as kube-proxy applies it. Needs root and the Debian packages
//! `iptables`, `iproute2` and (for the nfacct counters) `nfacct`; without
//! them, or with `SVCGEN_SKIP_KERNEL_TESTS` set, the test prints a note and
//! passes.

mod common;

use common::netns::{Netns, have, kernel_tests_enabled};
use libsvc::config::IpFamily;
use libsvc::proxy::iptables::{Ruleset, render::restore_text, rulesets};
use libsvc::{Input, Overrides};

/// Can this machine run the kernel checks? Prints why not.
fn kernel_available() -> bool {
    if !kernel_tests_enabled() {
        return false;
    }
    let tools = [
        "ip",
        "iptables-restore",
        "ip6tables-restore",
        "iptables-save",
    ]
    .iter()
    .all(|t| have(t));
    if !tools {
        println!("note: iptables kernel checks skipped (need iptables, iproute2)");
    }
    tools
}

fn uses_nfacct(text: &str) -> Vec<&'static str> {
    [
        "ct_state_invalid_dropped_pkts",
        "localhost_nps_accepted_pkts",
    ]
    .into_iter()
    .filter(|n| text.contains(n))
    .collect()
}

/// `--test` for the payload and the payload with jumps, then a real
/// `--noflush` apply (twice, as a resync would) in a fresh namespace.
fn judge(rs: &Ruleset) -> Result<(), String> {
    let restore = match rs.family {
        IpFamily::IPv4 => "iptables-restore",
        IpFamily::IPv6 => "ip6tables-restore",
    };
    let save = match rs.family {
        IpFamily::IPv4 => "iptables-save",
        IpFamily::IPv6 => "ip6tables-save",
    };
    let payload = restore_text(rs, false);
    let with_jumps = restore_text(rs, true);
    let ns = Netns::new("ipt")?;
    ns.exec(restore, &["--noflush", "--test"], &payload)?;
    ns.exec(restore, &["--noflush", "--test"], &with_jumps)?;
    let counters = uses_nfacct(&payload);
    if !counters.is_empty() && !have("nfacct") {
        println!("note: nfacct missing; real apply skipped");
        return Ok(());
    }
    for c in counters {
        ns.exec("nfacct", &["add", c], "")?;
    }
    ns.exec(restore, &["--noflush"], &with_jumps)?;
    ns.exec(restore, &["--noflush"], &payload)?;
    let saved = ns.exec(save, &[], "")?;
    for t in &rs.tables {
        for c in &t.chains {
            if !saved.contains(&format!(":{} ", c.name)) {
                return Err(format!("chain {} missing after apply", c.name));
            }
        }
    }
    let rules = rs
        .tables
        .iter()
        .flat_map(|t| &t.chains)
        .map(|c| c.rules.len())
        .sum::<usize>()
        + rs.jumps.len();
    let applied = saved.lines().filter(|l| l.starts_with("-A ")).count();
    if applied != rules {
        return Err(format!("{applied} rules applied, {rules} rendered"));
    }
    Ok(())
}

#[test]
fn conformance_cases_pass_the_kernel() {
    if !kernel_available() {
        return;
    }
    let mut results = Vec::new();
    for case in common::cases("iptables") {
        let loaded = case.load();
        let r = rulesets(&loaded).iter().try_for_each(judge);
        results.push((case.name.clone(), r));
    }
    common::report("iptables-kernel", &results, &[]);
}

/// Both families of a dual-stack service with every feature, and hostile
/// names that fail validation (svcgen still renders them, quoted).
#[test]
fn dual_stack_and_hostile_names_pass_the_kernel() {
    if !kernel_available() {
        return;
    }
    let manifest = r#"
apiVersion: v1
kind: Service
metadata: {name: "web\" -j ACCEPT\n-A X", namespace: "ns -m comment"}
spec:
  type: LoadBalancer
  clusterIPs: [10.96.0.10, "fd00:96::10"]
  ipFamilies: [IPv4, IPv6]
  ipFamilyPolicy: RequireDualStack
  externalIPs: [192.168.99.1, "2001:db8:99::1"]
  externalTrafficPolicy: Local
  healthCheckNodePort: 31000
  sessionAffinity: ClientIP
  loadBalancerSourceRanges: [203.0.113.0/25, "2001:db8:1::/64"]
  ports:
  - {name: "p\\ \"q", port: 80, nodePort: 30080, protocol: TCP}
  - {name: dns, port: 53, nodePort: 30053, protocol: UDP}
  - {name: sctp, port: 9, nodePort: 30009, protocol: SCTP}
status:
  loadBalancer:
    ingress: [{ip: 1.2.3.4}, {ip: "2001:db8:2::4"}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-v4
  namespace: "ns -m comment"
  labels: {kubernetes.io/service-name: "web\" -j ACCEPT\n-A X"}
addressType: IPv4
endpoints:
- {addresses: [10.1.0.1], nodeName: node-a}
- {addresses: [10.1.0.2]}
ports:
- {name: "p\\ \"q", port: 8080, protocol: TCP}
- {name: dns, port: 53, protocol: UDP}
- {name: sctp, port: 9, protocol: SCTP}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-v6
  namespace: "ns -m comment"
  labels: {kubernetes.io/service-name: "web\" -j ACCEPT\n-A X"}
addressType: IPv6
endpoints:
- {addresses: ["fd00:1::1"], nodeName: node-a}
- {addresses: ["fd00:1::2"]}
ports:
- {name: "p\\ \"q", port: 8080, protocol: TCP}
- {name: dns, port: 53, protocol: UDP}
- {name: sctp, port: 9, protocol: SCTP}
---
apiVersion: v1
kind: Node
metadata: {name: node-a}
status:
  addresses: [{type: InternalIP, address: 192.168.0.2}, {type: InternalIP, address: "2001:db8::2"}]
---
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clusterCIDR: "10.0.0.0/8,fd00::/48"
"#;
    let loaded = libsvc::load(
        &[Input::new("hostile.yaml", manifest)],
        &Overrides::default(),
    );
    let sets = rulesets(&loaded);
    assert_eq!(sets.len(), 2);
    let results: Vec<(String, Result<(), String>)> = sets
        .iter()
        .map(|rs| (format!("{}", rs.family), judge(rs)))
        .collect();
    common::report("iptables-kernel-dual-stack", &results, &[]);
}

/// The interface local-traffic detectors (`-i cbr0`, `! -i veth+`;
/// pkg/proxy/util/localdetector.go) on every iptables conformance case.
#[test]
fn interface_detectors_pass_the_kernel() {
    if !kernel_available() {
        return;
    }
    let mut results = Vec::new();
    for case in common::cases("iptables") {
        let (stream, overrides) = case.stream();
        for (mode, bridge, prefix) in [
            ("BridgeInterface", Some("cbr0"), None),
            ("InterfaceNamePrefix", None, Some("veth")),
        ] {
            let o = Overrides {
                detect_local_mode: Some(mode.into()),
                bridge_interface: bridge.map(String::from),
                interface_name_prefix: prefix.map(String::from),
                ..overrides.clone()
            };
            let loaded = libsvc::load(&[Input::new("in.yaml", stream.clone())], &o);
            let r = rulesets(&loaded).iter().try_for_each(judge);
            results.push((format!("{} ({mode})", case.name), r));
        }
    }
    common::report("iptables-kernel-detectors", &results, &[]);
}
