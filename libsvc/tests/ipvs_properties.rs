//! IPVS mode's properties: the kubia affinity example, determinism,
//! document-order independence, hostile names, and the tracer.

mod ipvs_parse;

use libsvc::proxy::ipvs::{build, render};
use libsvc::render::{Mode, RenderOptions};
use libsvc::table::Protocol;
use libsvc::trace::{Packet, trace};
use libsvc::{Input, Loaded, Overrides, load};
use proptest::prelude::*;

fn loaded(text: &str, node_ip: &str) -> Loaded {
    let overrides = Overrides {
        node_ips: vec![node_ip.parse().unwrap()],
        node_name: Some("node-1".into()),
        ..Default::default()
    };
    load(&[Input::new("in.yaml", text)], &overrides)
}

fn section(l: &Loaded, s: &str) -> String {
    let opts = RenderOptions {
        section: Some(s.into()),
        ..Default::default()
    };
    libsvc::render::render(l, Mode::Ipvs, &opts).unwrap().text
}

fn packet(src: &str, dst: &str, port: u16) -> Packet {
    Packet {
        in_interface: None,
        src: src.parse().unwrap(),
        dst: dst.parse().unwrap(),
        port,
        protocol: Protocol::TCP,
    }
}

#[test]
fn kubia_with_client_ip_affinity_is_persistent() {
    let l = loaded(include_str!("data/kubia-affinity.yaml"), "192.168.0.2");
    let text = section(&l, "ipvs");
    assert!(
        text.contains("-A -t 10.96.0.50:80 -s rr -p 10800\n"),
        "{text}"
    );
    assert!(
        text.contains("-A -t 192.168.0.2:30123 -s rr -p 10800\n"),
        "{text}"
    );
    assert!(
        text.contains("-a -t 10.96.0.50:80 -r 10.244.1.10:8080 -m -w 1\n"),
        "{text}"
    );
    ipvs_parse::parse(&text).unwrap();
}

#[test]
fn scheduler_and_mh_flag() {
    let mut l = loaded(include_str!("data/kubia-affinity.yaml"), "192.168.0.2");
    l.settings.proxy.ipvs_scheduler = "mh".into();
    let text = section(&l, "ipvs");
    assert!(
        text.contains("-A -t 10.96.0.50:80 -s mh -b mh-port -p 10800\n"),
        "{text}"
    );
    ipvs_parse::parse(&text).unwrap();
    l.settings.proxy.ipvs_scheduler = "bogus".into();
    assert!(libsvc::render::render(&l, Mode::Ipvs, &RenderOptions::default()).is_err());
}

#[test]
fn sections_and_json() {
    let l = loaded(include_str!("data/kubia-affinity.yaml"), "192.168.0.2");
    assert!(section(&l, "ipset").contains("add KUBE-NODE-PORT-TCP 30123\n"));
    assert!(section(&l, "iptables").starts_with("*nat\n"));
    assert_eq!(
        section(&l, "addresses"),
        "link add kube-ipvs0 type dummy\naddr add 10.96.0.50/32 dev kube-ipvs0\n"
    );
    let json = RenderOptions {
        json: true,
        ..RenderOptions::default()
    };
    let all = libsvc::render::render(&l, Mode::Ipvs, &json).unwrap();
    for h in ["ipvs:", "ipset:", "iptables:", "addresses:", "sysctls:"] {
        assert!(all.text.contains(h), "{h}");
    }
    assert_eq!(
        all.json["families"][0]["virtual_servers"][0]["persistence_timeout"],
        10800
    );
    let bad = RenderOptions {
        section: Some("nat".into()),
        ..Default::default()
    };
    assert!(libsvc::render::render(&l, Mode::Ipvs, &bad).is_err());
}

#[test]
fn trace_round_robin_and_persistence() {
    let l = loaded(include_str!("data/kubia-affinity.yaml"), "192.168.0.2");
    let r = trace(&l, Mode::Ipvs, &packet("203.0.113.9", "192.168.0.2", 30123)).unwrap();
    assert_eq!(r.outcome, "10.244.1.10:8080, 10.244.2.11:8080");
    assert!(
        r.endpoints
            .iter()
            .all(|e| (e.probability - 0.5).abs() < 1e-9)
    );
    assert!(r.masquerade, "node port traffic is masqueraded");
    assert!(r.notes.iter().any(|n| n.contains("-p 10800")));
    assert!(r.path.iter().any(|s| s.table == "ipvs"));
    // Not a service address: IPVS never sees it.
    let r = trace(&l, Mode::Ipvs, &packet("203.0.113.9", "198.18.0.1", 80)).unwrap();
    assert_eq!(r.outcome, "");
}

#[test]
fn trace_least_connection_and_hash_schedulers_pick_one() {
    let mut l = loaded(include_str!("data/kubia-affinity.yaml"), "192.168.0.2");
    for sched in ["lc", "wlc", "sed", "nq", "sh", "dh"] {
        l.settings.proxy.ipvs_scheduler = sched.into();
        let r = trace(&l, Mode::Ipvs, &packet("10.1.2.3", "10.96.0.50", 80)).unwrap();
        assert_eq!(r.endpoints.len(), 1, "{sched}: {r:?}");
        assert_eq!(r.endpoints[0].probability, 1.0);
        // Same source, same pick.
        let again = trace(&l, Mode::Ipvs, &packet("10.1.2.3", "10.96.0.50", 80)).unwrap();
        assert_eq!(r, again);
    }
}

#[test]
fn trace_drops_outside_source_ranges_and_rejects_without_endpoints() {
    let text = include_str!("data/ipvs-mixed.yaml");
    let l = load(&[Input::new("mix.yaml", text)], &Overrides::default());
    let r = trace(&l, Mode::Ipvs, &packet("198.18.0.1", "203.0.113.11", 443)).unwrap();
    assert_eq!(r.outcome, "DROP");
    let r = trace(&l, Mode::Ipvs, &packet("10.1.0.1", "203.0.113.11", 443)).unwrap();
    assert_eq!(r.outcome, "10.244.3.1:8443, 10.244.3.2:8443");
    // Local policy on the node port: only the local endpoint, no masquerade.
    let r = trace(&l, Mode::Ipvs, &packet("198.18.0.1", "192.168.0.2", 30080)).unwrap();
    assert_eq!(r.outcome, "10.244.1.5:8080");
    assert!(!r.masquerade);
    let none = "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  clusterIP: 10.96.0.9\n  ports: [{port: 80}]\n";
    let l = loaded(none, "192.168.0.2");
    let r = trace(&l, Mode::Ipvs, &packet("10.1.0.1", "10.96.0.9", 80)).unwrap();
    assert_eq!(r.outcome, "REJECT");
}

/// Names that would break rule text if they reached it.
#[test]
fn hostile_names_cannot_inject() {
    let evil = "a\" -j ACCEPT\n-A KUBE-SERVICES -j DROP #";
    let text = format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {evil:?}\n  namespace: {evil:?}\n  annotations: {{x: {evil:?}}}\nspec:\n  type: NodePort\n  clusterIP: 10.96.0.7\n  externalIPs: [{evil:?}, 198.51.100.1]\n  ports: [{{name: {evil:?}, port: 80, nodePort: 30007}}]\n"
    );
    let l = loaded(&text, "192.168.0.2");
    let json = RenderOptions {
        json: true,
        ..RenderOptions::default()
    };
    let all = libsvc::render::render(&l, Mode::Ipvs, &json).unwrap();
    assert!(!all.text.contains("ACCEPT\n-A KUBE-SERVICES -j DROP"));
    assert!(!all.text.contains("a\""));
    let rs = build::build(&l.table, &l.settings).unwrap();
    // The Service is rendered (cluster IP, external IP, node port), names and all.
    assert_eq!(rs.families[0].virtual_servers.len(), 3, "{}", all.text);
    for fr in &rs.families {
        ipvs_parse::parse(&render::ipvs_text(fr)).unwrap();
    }
}

const KINDS: [&str; 3] = ["ClusterIP", "NodePort", "LoadBalancer"];

prop_compose! {
    fn service(i: usize)(kind in 0..3usize, port in 1..65535u16, eps in 0..4usize,
                          affinity in any::<bool>(), local in any::<bool>(), udp in any::<bool>())
        -> Vec<String> {
        let kind = KINDS[kind];
        let mut svc = format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: s{i}, namespace: ns}}\nspec:\n  type: {kind}\n  clusterIP: 10.96.1.{i}\n  selector: {{app: s{i}}}\n  ports: [{{name: p, port: {port}, protocol: {}, targetPort: 8080{}}}]\n",
            if udp { "UDP" } else { "TCP" },
            if kind == "ClusterIP" { String::new() } else { format!(", nodePort: {}", 30000 + i) },
        );
        if affinity {
            svc.push_str("  sessionAffinity: ClientIP\n");
        }
        if local && kind != "ClusterIP" {
            svc.push_str("  externalTrafficPolicy: Local\n");
        }
        if kind == "LoadBalancer" {
            svc.push_str(&format!("status: {{loadBalancer: {{ingress: [{{ip: 203.0.113.{i}}}]}}}}\n"));
        }
        let mut slice = format!(
            "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: s{i}-a, namespace: ns, labels: {{kubernetes.io/service-name: s{i}}}}}\naddressType: IPv4\nports: [{{name: p, port: 8080, protocol: {}}}]\nendpoints:\n",
            if udp { "UDP" } else { "TCP" }
        );
        for e in 0..eps {
            slice.push_str(&format!("- {{addresses: [10.244.{i}.{e}], nodeName: node-{}}}\n", e % 2 + 1));
        }
        if eps == 0 {
            slice.push_str("  []\n");
        }
        vec![svc, slice]
    }
}

fn services() -> impl Strategy<Value = Vec<String>> {
    (1..6usize).prop_flat_map(|n| {
        (0..n)
            .map(service)
            .collect::<Vec<_>>()
            .prop_map(|v| v.into_iter().flatten().collect())
    })
}

fn render_all(docs: &[String]) -> String {
    let text = docs.join("---\n");
    let l = loaded(&text, "192.168.0.2");
    libsvc::render::render(&l, Mode::Ipvs, &RenderOptions::default())
        .unwrap()
        .text
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn deterministic_and_order_independent(docs in services(), seed in any::<u64>()) {
        let a = render_all(&docs);
        prop_assert_eq!(&a, &render_all(&docs));
        let mut shuffled = docs.clone();
        // A cheap deterministic shuffle driven by the seed.
        let n = shuffled.len();
        for i in (1..n).rev() {
            let j = (seed.wrapping_mul(6364136223846793005).wrapping_add(i as u64) % (i as u64 + 1)) as usize;
            shuffled.swap(i, j);
        }
        prop_assert_eq!(a, render_all(&shuffled));
    }

    #[test]
    fn invariants(docs in services()) {
        let text = docs.join("---\n");
        let l = loaded(&text, "192.168.0.2");
        let rs = build::build(&l.table, &l.settings).unwrap();
        for fr in &rs.families {
            ipvs_parse::parse(&render::ipvs_text(fr)).unwrap();
            // Every virtual address is a bound address or a node address.
            for vs in &fr.virtual_servers {
                prop_assert!(fr.bound_addresses.contains(&vs.address)
                    || fr.node_port_addresses.contains(&vs.address));
                prop_assert!(vs.real_servers.windows(2).all(|w| w[0] < w[1]));
            }
            // KUBE-IPVS-IPS equals the bound addresses.
            let ips = fr.ipsets.iter().find(|s| s.base_name == "KUBE-IPVS-IPS").unwrap();
            prop_assert_eq!(ips.entries.len(), fr.bound_addresses.len());
        }
    }

    #[test]
    fn arbitrary_input_never_panics(text in "\\PC{0,200}") {
        let l = loaded(&text, "192.168.0.2");
        let _ = libsvc::render::render(&l, Mode::Ipvs, &RenderOptions::default());
        let _ = trace(&l, Mode::Ipvs, &packet("10.0.0.1", "10.96.0.1", 80));
    }
}

/// The whole output for the dual-stack mix, compared with the reviewed
/// snapshot (`SVCGEN_BLESS=1` rewrites it after a deliberate change).
#[test]
fn dual_stack_mix_snapshot() {
    let text = include_str!("data/ipvs-mixed.yaml");
    let l = load(&[Input::new("mix.yaml", text)], &Overrides::default());
    let opts = RenderOptions {
        with_jumps: true,
        ..Default::default()
    };
    let got = libsvc::render::render(&l, Mode::Ipvs, &opts).unwrap().text;
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/ipvs-mixed.expected"
    );
    if std::env::var_os("SVCGEN_BLESS").is_some() {
        std::fs::write(path, &got).unwrap();
    }
    let want = std::fs::read_to_string(path).unwrap();
    if got != want {
        let (e, a): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
        let i = (0..e.len().max(a.len()))
            .find(|i| e.get(*i) != a.get(*i))
            .unwrap_or(0);
        panic!(
            "line {}:\n  expected: {}\n  actual:   {}",
            i + 1,
            e.get(i).unwrap_or(&"<end>"),
            a.get(i).unwrap_or(&"<end>")
        );
    }
}

#[test]
fn ipv6_set_names_are_prefixed_and_cut_to_31() {
    use libsvc::config::IpFamily;
    assert_eq!(
        build::set_name("KUBE-LOAD-BALANCER-SOURCE-CIDR", IpFamily::IPv6),
        "KUBE-6-LOAD-BALANCER-SOURCE-CID"
    );
    assert_eq!(
        build::set_name("KUBE-NODE-PORT-LOCAL-SCTP-HASH", IpFamily::IPv6),
        "KUBE-6-NODE-PORT-LOCAL-SCTP-HAS"
    );
    assert_eq!(
        build::set_name("KUBE-CLUSTER-IP", IpFamily::IPv4),
        "KUBE-CLUSTER-IP"
    );
}

#[test]
fn trace_hairpin_is_masqueraded() {
    // A pod reaching its own Service and landing on itself.
    let text = include_str!("data/ipvs-mixed.yaml");
    let l = load(&[Input::new("mix.yaml", text)], &Overrides::default());
    let mut l = l;
    l.settings.proxy.ipvs_scheduler = "lc".into();
    // lc picks the head of the kernel list: the last real server added.
    let r = trace(&l, Mode::Ipvs, &packet("10.244.2.6", "10.96.0.20", 80)).unwrap();
    assert_eq!(r.outcome, "10.244.2.6:8080");
    assert!(
        !r.masquerade,
        "10.244.2.6 is not local to this node: no KUBE-LOOP-BACK entry"
    );
    let r = trace(&l, Mode::Ipvs, &packet("10.244.1.5", "198.51.100.7", 80)).unwrap();
    assert_eq!(r.outcome, "10.244.1.5:8080");
    assert!(r.masquerade, "hairpin through KUBE-LOOP-BACK: {r:?}");
}
