//! Properties of env, dns and resolve on generated input: the same bytes
//! whatever the document order and however often rendered, and no panic on
//! anything (invalid names, addresses, ports and protocols included).

use libsvc::dns::{QueryType, RecordType};
use libsvc::render::{Mode, RenderOptions, render};
use libsvc::{Input, Overrides, load};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn pick<T: Clone + std::fmt::Debug + 'static>(pool: &'static [T]) -> impl Strategy<Value = T> {
    proptest::sample::select(pool)
}

const NAMES: &[&str] = &[
    "a",
    "web",
    "kubernetes",
    "foo",
    "foo-port-80-tcp",
    "Bad_Name",
    "x y",
    "db-0",
];
const NAMESPACES: &[&str] = &["default", "ns1", "ns2"];
const CLUSTER_IPS: &[&[&str]] = &[
    &[],
    &["None"],
    &[""],
    &["10.0.0.7"],
    &["10.0.0.8"],
    &["FD00::9"],
    &["10.0.0.9", "fd00::9"],
    &["garbage"],
    &["10.0.0.10\nX=1"],
];
const TYPES: &[Option<&str>] = &[
    None,
    Some("ClusterIP"),
    Some("NodePort"),
    Some("LoadBalancer"),
    Some("ExternalName"),
    Some("Bogus"),
];
const EXTERNAL: &[&str] = &[
    "example.com",
    "db.example.org.",
    "192.0.2.1",
    "bad name",
    "",
];
const PORT_NAMES: &[&str] = &["", "http", "dns-tcp", "Bad Name", "8083"];
const PROTOCOLS: &[Option<&str>] = &[None, Some("TCP"), Some("UDP"), Some("SCTP"), Some("tcp")];
const ADDRESSES: &[&str] = &[
    "10.1.0.1",
    "10.1.0.2",
    "fd00::1",
    "fd00::",
    "nope",
    "10.1.0.1 ",
];
const HOSTNAMES: &[Option<&str>] = &[None, Some("web-0"), Some(""), Some("dup"), Some("a.b")];

fn service() -> impl Strategy<Value = Value> {
    (
        (
            pick(NAMES),
            pick(NAMESPACES),
            pick(CLUSTER_IPS),
            pick(TYPES),
            pick(EXTERNAL),
        ),
        proptest::collection::vec((pick(PORT_NAMES), 0i64..70000, pick(PROTOCOLS)), 0..4),
        (any::<bool>(), any::<bool>(), any::<bool>()),
    )
        .prop_map(
            |((name, ns, ips, type_, ext), ports, (pnra, tolerate, selector))| {
                let mut spec = json!({
                    "ports": ports.iter().map(|(n, p, proto)| {
                        let mut port = json!({"port": p});
                        if !n.is_empty() { port["name"] = json!(n); }
                        if let Some(proto) = proto { port["protocol"] = json!(proto); }
                        port
                    }).collect::<Vec<_>>(),
                    "publishNotReadyAddresses": pnra,
                });
                if let Some(first) = ips.first() {
                    spec["clusterIP"] = json!(first);
                    if ips.len() > 1 {
                        spec["clusterIPs"] = json!(ips);
                    }
                }
                if let Some(t) = type_ {
                    spec["type"] = json!(t);
                }
                if type_ == Some("ExternalName") {
                    spec["externalName"] = json!(ext);
                }
                if selector {
                    spec["selector"] = json!({"app": name});
                }
                let mut meta = json!({"name": name, "namespace": ns});
                if tolerate {
                    meta["annotations"] =
                        json!({"service.alpha.kubernetes.io/tolerate-unready-endpoints": "true"});
                }
                json!({"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec})
            },
        )
}

fn endpoints() -> impl Strategy<Value = Vec<(&'static str, Option<&'static str>, Option<bool>)>> {
    proptest::collection::vec(
        (
            pick(ADDRESSES),
            pick(HOSTNAMES),
            proptest::option::of(any::<bool>()),
        ),
        0..4,
    )
}

/// Services (unique by namespace/name), an EndpointSlice or an Endpoints
/// object for some of them, and a few Pods.
fn documents() -> impl Strategy<Value = Vec<Value>> {
    (
        proptest::collection::vec((service(), endpoints(), 0u8..3), 0..8),
        proptest::collection::vec((pick(NAMES), pick(NAMESPACES), pick(ADDRESSES), any::<bool>(), pick(HOSTNAMES)), 0..4),
    )
        .prop_map(|(services, pods)| {
            let mut by_key: BTreeMap<(String, String), (Value, Vec<_>, u8)> = BTreeMap::new();
            for (svc, eps, kind) in services {
                let key = (svc["metadata"]["namespace"].to_string(), svc["metadata"]["name"].to_string());
                by_key.entry(key).or_insert((svc, eps, kind));
            }
            let mut docs = Vec::new();
            for (svc, eps, kind) in by_key.into_values() {
                let (name, ns) = (svc["metadata"]["name"].clone(), svc["metadata"]["namespace"].clone());
                let ports = json!([{"name": "http", "port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]);
                match kind {
                    1 => docs.push(json!({
                        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                        "metadata": {"name": format!("{}-s1", name.as_str().unwrap_or("")), "namespace": ns,
                                     "labels": {"kubernetes.io/service-name": name}},
                        "addressType": "IPv4", "ports": ports,
                        "endpoints": eps.iter().map(|(a, h, r)| {
                            let mut e = json!({"addresses": [a]});
                            if let Some(h) = h { e["hostname"] = json!(h); }
                            if let Some(r) = r { e["conditions"] = json!({"ready": r}); }
                            e
                        }).collect::<Vec<_>>(),
                    })),
                    2 => docs.push(json!({
                        "apiVersion": "v1", "kind": "Endpoints",
                        "metadata": {"name": name, "namespace": ns},
                        "subsets": [{
                            "addresses": eps.iter().filter(|e| e.2 != Some(false)).map(|(a, h, _)| json!({"ip": a, "hostname": h})).collect::<Vec<_>>(),
                            "notReadyAddresses": eps.iter().filter(|e| e.2 == Some(false)).map(|(a, _, _)| json!({"ip": a})).collect::<Vec<_>>(),
                            "ports": ports,
                        }],
                    })),
                    _ => {}
                }
                docs.push(svc);
            }
            for (i, (app, ns, ip, ready, host)) in pods.into_iter().enumerate() {
                let mut spec = json!({"containers": [{"name": "c", "image": "x", "ports": [{"containerPort": 80}]}]});
                if let Some(h) = host {
                    spec["hostname"] = json!(h);
                    spec["subdomain"] = json!(app);
                }
                docs.push(json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": format!("pod-{i}"), "namespace": ns, "labels": {"app": app}},
                    "spec": spec,
                    "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]},
                }));
            }
            docs
        })
}

/// The messages of diagnostics; their locations depend on the document
/// order by nature.
fn messages(diags: &[libsvc::Diagnostic]) -> String {
    diags
        .iter()
        .map(|d| format!("{}: {}\n", d.severity, d.message))
        .collect()
}

/// Everything env, dns, resolv and resolve print for one document order.
fn outputs(docs: &[Value]) -> Vec<String> {
    let text: Vec<String> = docs
        .iter()
        .map(|d| serde_json::to_string(d).unwrap())
        .collect();
    let loaded = load(
        &[Input::new("gen.yaml", text.join("\n---\n"))],
        &Overrides::default(),
    );
    let mut out = Vec::new();
    for ns in NAMESPACES {
        for links in [true, false] {
            let o = RenderOptions {
                namespace: Some(ns.to_string()),
                enable_service_links: Some(links),
                json: true,
                ..Default::default()
            };
            let r = render(&loaded, Mode::Env, &o).unwrap();
            out.push(r.text);
            out.push(r.json.to_string());
            out.push(messages(&r.diagnostics));
        }
    }
    let json = RenderOptions {
        json: true,
        ..RenderOptions::default()
    };
    let r = render(&loaded, Mode::Dns, &json).unwrap();
    out.push(r.text);
    out.push(r.json.to_string());
    out.push(messages(&r.diagnostics));
    for (name, t) in [
        ("web", QueryType::Record(RecordType::A)),
        ("_http._tcp.web.ns1", QueryType::Record(RecordType::SRV)),
        ("foo.default.svc.cluster.local.", QueryType::Any),
        ("1.0.1.10.in-addr.arpa.", QueryType::Record(RecordType::PTR)),
        ("db-0.web", QueryType::Record(RecordType::AAAA)),
    ] {
        let a = libsvc::dns::resolve(&loaded, name, t, "ns1").unwrap();
        out.push(a.to_string());
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn env_and_dns_do_not_depend_on_document_order(
        (docs, shuffled) in documents().prop_flat_map(|d| (Just(d.clone()), Just(d).prop_shuffle()))
    ) {
        let a = outputs(&docs);
        prop_assert_eq!(&a, &outputs(&docs), "not deterministic");
        prop_assert_eq!(a, outputs(&shuffled));
    }
}
