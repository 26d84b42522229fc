//! Topology-aware routing against Kubernetes' own unit tests, ported as
//! data (`tests/data/topology/`, each file names its source):
//!
//! - `categorize.yaml`: kube-proxy's `TestCategorizeEndpoints`
//!   (`pkg/proxy/topology.go` `CategorizeEndpoints`, `topologyModeFromHints`,
//!   `availableForTopology`), run through manifests: a Service, an
//!   EndpointSlice with the hints, and the Node kube-proxy runs on;
//! - `trafficdist.yaml`: the EndpointSlice controller's `TestReconcileHints`
//!   (`trafficdist.ReconcileHints`);
//! - `topologycache.yaml`: `TestAddHints` (`TopologyCache.AddHints`) and
//!   `TestSetNodes` (`TopologyCache.SetNodes`).
//!
//! Prints `topology: N passed, M failed` like the other corpora.

mod common;

use libsvc::config::IpFamily;
use libsvc::proxy::{categorize_endpoints, service_ports};
use libsvc::resolve::topology::{add_hints, cpu_ratios_by_zone, reconcile_hints};
use libsvc::table::SliceInfo;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Cases that fail for a documented reason (docs/differences.md).
const KNOWN: &[&str] = &[];

fn data(name: &str) -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/topology/");
    let text = std::fs::read_to_string(format!("{path}{name}")).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

fn load(docs: &[Value]) -> libsvc::Loaded {
    let stream: Vec<String> = docs.iter().map(Value::to_string).collect();
    libsvc::load(
        &[libsvc::Input::new("case.yaml", stream.join("\n---\n"))],
        &libsvc::Overrides::default(),
    )
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(String::from))
        .collect()
}

fn set(v: &Value) -> Option<BTreeSet<String>> {
    (!v.is_null()).then(|| strings(v).into_iter().collect())
}

/// One CategorizeEndpoints case, through manifests.
fn categorize(case: &Value) -> Result<(), String> {
    let svc = &case["service"];
    let node_port = svc["nodePort"].as_u64().is_some();
    let flag = |k: &str| svc[k].as_bool().unwrap_or(false);
    let mut port = json!({"port": 80});
    if node_port {
        port["nodePort"] = json!(30080);
    }
    let mut spec = json!({
        "clusterIP": "10.96.0.10",
        "type": if node_port { "NodePort" } else { "ClusterIP" },
        "ports": [port],
        "internalTrafficPolicy": if flag("internalPolicyLocal") { "Local" } else { "Cluster" },
    });
    if flag("externalPolicyLocal") {
        spec["externalTrafficPolicy"] = json!("Local");
    }
    let endpoints: Vec<Value> = case["endpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let b = |k: &str| e[k].as_bool().unwrap_or(false);
            let ep = e["ep"].as_str().unwrap();
            let ip = ep.rsplit_once(':').unwrap().0;
            let name = |z: &String| json!({"name": z});
            json!({
                "addresses": [ip],
                "conditions": {"ready": b("ready"), "serving": b("serving"), "terminating": b("terminating")},
                "nodeName": if b("local") { "node-a" } else { "node-b" },
                "hints": {
                    "forZones": strings(&e["zones"]).iter().map(name).collect::<Vec<_>>(),
                    "forNodes": strings(&e["nodes"]).iter().map(name).collect::<Vec<_>>(),
                },
            })
        })
        .collect();
    let loaded = load(&[
        json!({"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "svc", "namespace": "default"}, "spec": spec}),
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
               "metadata": {"name": "svc-1", "namespace": "default",
                            "labels": {"kubernetes.io/service-name": "svc"}},
               "addressType": "IPv4", "ports": [{"port": 80}], "endpoints": endpoints}),
        json!({"apiVersion": "v1", "kind": "Node",
               "metadata": {"name": "node-a", "labels": case["nodeLabels"].clone()}}),
    ]);
    let ports = service_ports(&loaded.table, &loaded.settings, IpFamily::IPv4);
    let [sp] = ports.as_slice() else {
        return Err(format!("{} service ports", ports.len()));
    };
    let c = categorize_endpoints(sp);
    let got = |eps: &[libsvc::proxy::EndpointRef]| -> BTreeSet<String> {
        eps.iter().map(|e| e.addr()).collect()
    };
    let (want_cluster, want_local) = (set(&case["cluster"]), set(&case["local"]));
    let mut errors = Vec::new();
    let mut check =
        |what: &str, used: bool, want: &Option<BTreeSet<String>>, got: BTreeSet<String>| match want
        {
            None if used || !got.is_empty() => {
                errors.push(format!("expected no {what} endpoints, got {got:?}"))
            }
            Some(w) if *w != got => errors.push(format!("{what}: want {w:?}, got {got:?}")),
            _ => {}
        };
    check(
        "cluster",
        sp.uses_cluster_endpoints(),
        &want_cluster,
        got(&c.cluster),
    );
    check(
        "local",
        sp.uses_local_endpoints(),
        &want_local,
        got(&c.local),
    );
    let want_all = match (&want_cluster, &want_local) {
        (Some(cl), None) => cl.clone(),
        (None, Some(l)) => l.clone(),
        _ => set(&case["all"]).unwrap_or_default(),
    };
    if want_all != got(&c.all_reachable) {
        errors.push(format!(
            "all: want {want_all:?}, got {:?}",
            got(&c.all_reachable)
        ));
    }
    let want_any = !want_all.is_empty() || case["onlyRemote"].as_bool().unwrap_or(false);
    if want_any != c.has_any {
        errors.push(format!(
            "hasAnyEndpoints: want {want_any}, got {}",
            c.has_any
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}

/// EndpointSlices made of the case's endpoints (address, zone, nodeName,
/// ready, zones, nodes), as given slices of a selector-less Service, in order.
fn slices(v: &Value) -> Vec<SliceInfo> {
    let mut docs = vec![json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "svc", "namespace": "default"},
        "spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 80}]}})];
    for (i, s) in v.as_array().into_iter().flatten().enumerate() {
        let endpoints: Vec<Value> = s
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                let mut ep = json!({"addresses": [e["address"]]});
                if let Some(r) = e["ready"].as_bool() {
                    ep["conditions"] = json!({"ready": r});
                }
                for k in ["zone", "nodeName"] {
                    if !e[k].is_null() {
                        ep[k] = e[k].clone();
                    }
                }
                let name = |z: &String| json!({"name": z});
                let (zones, nodes) = (strings(&e["zones"]), strings(&e["nodes"]));
                if !zones.is_empty() || !nodes.is_empty() {
                    ep["hints"] = json!({
                        "forZones": zones.iter().map(name).collect::<Vec<_>>(),
                        "forNodes": nodes.iter().map(name).collect::<Vec<_>>(),
                    });
                }
                ep
            })
            .collect();
        docs.push(
            json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": format!("svc-{i:02}"), "namespace": "default",
                         "labels": {"kubernetes.io/service-name": "svc"}},
            "addressType": "IPv4", "ports": [{"port": 80}], "endpoints": endpoints}),
        );
    }
    let loaded = load(&docs);
    loaded.table.services[0].slices.clone()
}

/// The hints of every endpoint against `want` (`zones` / `nodes` per endpoint).
fn compare_hints(got: &[SliceInfo], want: &Value) -> Result<(), String> {
    let got: Vec<Vec<(Vec<String>, Vec<String>)>> = got
        .iter()
        .map(|s| {
            s.endpoints
                .iter()
                .map(|e| (e.hint_zones.clone(), e.hint_nodes.clone()))
                .collect()
        })
        .collect();
    let want: Vec<Vec<(Vec<String>, Vec<String>)>> = want
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            s.as_array()
                .into_iter()
                .flatten()
                .map(|e| (strings(&e["zones"]), strings(&e["nodes"])))
                .collect()
        })
        .collect();
    if got == want {
        Ok(())
    } else {
        Err(format!("hints: want {want:?}\n       got {got:?}"))
    }
}

fn trafficdist(case: &Value) -> Result<(), String> {
    let mut s = slices(&case["slices"]);
    let mut refs: Vec<&mut SliceInfo> = s.iter_mut().collect();
    reconcile_hints(case["trafficDistribution"].as_str(), &mut refs);
    compare_hints(&s, &case["want"])
}

fn add_hints_case(case: &Value) -> Result<(), String> {
    let mut s = slices(&case["slices"]);
    let ratios: Option<BTreeMap<String, f64>> = case["cpuRatiosByZone"].as_object().map(|m| {
        m.iter()
            .map(|(k, v)| (k.clone(), v.as_f64().unwrap()))
            .collect()
    });
    let mut refs: Vec<&mut SliceInfo> = s.iter_mut().collect();
    let result = add_hints(&mut refs, ratios.as_ref());
    compare_hints(&s, &case["want"])?;
    let want_event = case["event"].as_str().unwrap();
    match (&result, want_event) {
        (Ok(_), "Topology Aware Hints has been enabled") => {}
        (Err(m), w) if m.starts_with(w) => {}
        _ => return Err(format!("event: want {want_event:?}, got {result:?}")),
    }
    if let (Ok(got), Some(want)) = (&result, case["allocated"].as_object()) {
        let want: BTreeMap<String, i64> = want
            .iter()
            .map(|(k, v)| (k.clone(), v.as_i64().unwrap()))
            .collect();
        if *got != want {
            return Err(format!("allocated: want {want:?}, got {got:?}"));
        }
    }
    Ok(())
}

fn set_nodes(case: &Value) -> Result<(), String> {
    let docs: Vec<Value> = case["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, n)| {
            let mut labels = n["labels"].as_object().cloned().unwrap_or_default();
            labels.insert("topology.kubernetes.io/zone".into(), n["zone"].clone());
            json!({"apiVersion": "v1", "kind": "Node",
                   "metadata": {"name": format!("node-{i}"), "labels": labels},
                   "status": {"allocatable": {"cpu": n["cpu"]},
                              "conditions": [{"type": "Ready", "status": n["ready"]}]}})
        })
        .collect();
    let loaded = load(&docs);
    let got = cpu_ratios_by_zone(loaded.objects.nodes.iter());
    let want: Option<BTreeMap<String, f64>> = case["ratios"].as_object().map(|m| {
        m.iter()
            .map(|(k, v)| (k.clone(), v.as_f64().unwrap()))
            .collect()
    });
    if got == want {
        Ok(())
    } else {
        Err(format!("ratios: want {want:?}, got {got:?}"))
    }
}

#[test]
fn topology_corpus() {
    let mut results: Vec<(String, Result<(), String>)> = Vec::new();
    let mut run =
        |file: &str, key: Option<&str>, prefix: &str, f: fn(&Value) -> Result<(), String>| {
            let d = data(file);
            let cases = key.map_or(&d, |k| &d[k]);
            for case in cases.as_array().unwrap() {
                let name = format!("{prefix}/{}", case["name"].as_str().unwrap());
                results.push((name, f(case)));
            }
        };
    run("categorize.yaml", None, "categorize", categorize);
    run("trafficdist.yaml", None, "trafficdist", trafficdist);
    run(
        "topologycache.yaml",
        Some("addHints"),
        "addhints",
        add_hints_case,
    );
    run(
        "topologycache.yaml",
        Some("setNodes"),
        "setnodes",
        set_nodes,
    );
    assert!(results.len() > 40);
    common::report("topology", &results, KNOWN);
}
