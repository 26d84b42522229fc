//! The API source against the fake kube-apiserver of the CLI tests.

#[path = "../../../tests/common/fake_api.rs"]
mod fake_api;
#[path = "../../../tests/common/cluster_fixture.rs"]
mod fixture;

use super::*;
use fake_api::FakeApi;
use std::collections::BTreeMap;

struct Run {
    api: FakeApi,
    rx: super::super::source::Receiver,
    _dir: TmpDir,
    /// The inputs as the events so far make them.
    state: BTreeMap<String, String>,
}

struct TmpDir(PathBuf);

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn dir(what: &str) -> TmpDir {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let p = std::env::temp_dir().join(format!(
        "svcgen-source-api-{what}-{}-{n}",
        std::process::id()
    ));
    std::fs::create_dir_all(&p).unwrap();
    TmpDir(p)
}

fn start(api: FakeApi, what: &str, min_sync: Duration) -> Run {
    let d = dir(what);
    let (tx, rx) = super::super::source::channel();
    let source = ApiSource {
        kubeconfig: Some(api.kubeconfig(&d.0)),
        context: None,
        node_name: "node-2".into(),
        min_sync_period: min_sync,
        initial_backoff: Duration::from_millis(50),
    };
    tokio::spawn(run(source, tx));
    Run {
        api,
        rx,
        _dir: d,
        state: BTreeMap::new(),
    }
}

impl Run {
    /// The next event (10 s at most), applied to `state`.
    async fn next(&mut self) -> SourceEvent {
        let ev = tokio::time::timeout(Duration::from_secs(20), self.rx.recv())
            .await
            .expect("an event within 20s")
            .expect("the source runs");
        match &ev {
            SourceEvent::Relist(inputs) => {
                self.state = inputs
                    .iter()
                    .map(|i| (i.name.to_string(), i.text.clone()))
                    .collect();
            }
            SourceEvent::Changes(changes) => {
                for c in changes {
                    match c {
                        Change::Put(i) => {
                            self.state.insert(i.name.to_string(), i.text.clone());
                        }
                        Change::Remove(n) => {
                            self.state.remove(&**n);
                        }
                    }
                }
            }
            SourceEvent::Failed(_) => {}
        }
        ev
    }

    /// Events until `done(state)` holds; returns them.
    async fn until(
        &mut self,
        done: impl Fn(&BTreeMap<String, String>) -> bool,
    ) -> Vec<SourceEvent> {
        let mut seen = Vec::new();
        while !done(&self.state) || seen.is_empty() {
            seen.push(self.next().await);
        }
        seen
    }

    fn names(&self) -> Vec<&str> {
        self.state.keys().map(String::as_str).collect()
    }
}

fn endpoints_of(state: &BTreeMap<String, String>, name: &str) -> Vec<String> {
    let Some(text) = state.get(name) else {
        return Vec::new();
    };
    let v: serde_json::Value = serde_json::from_str(text).unwrap();
    v["endpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["addresses"][0].as_str().unwrap().to_string())
        .collect()
}

fn web_slice(ips: &[&str]) -> serde_json::Value {
    let mut s = fixture::cluster()
        .into_iter()
        .find(|o| o["kind"] == "EndpointSlice" && o["metadata"]["name"] == "web-abcde")
        .unwrap();
    s["endpoints"] = ips
        .iter()
        .map(|ip| serde_json::json!({"addresses": [ip], "conditions": {"ready": true}}))
        .collect();
    s
}

const WEB: &str = "cluster:endpointslices/shop/web-abcde";

/// The initial list: one Relist of exactly what kube-proxy's informers see
/// (`ProxyServer.Run`): no headless slices, no Service of another proxy,
/// only its own Node; and no Pods or ConfigMaps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_initial_list_is_one_relist_of_what_kube_proxy_watches() {
    let mut run = start(
        FakeApi::start(fixture::cluster()),
        "initial",
        Duration::from_millis(100),
    );
    let ev = run.next().await;
    assert!(matches!(ev, SourceEvent::Relist(_)), "{ev:?}");
    assert_eq!(
        run.names(),
        [
            "cluster:endpointslices/default/kubernetes",
            "cluster:endpointslices/kube-system/kube-dns-abcde",
            "cluster:endpointslices/shop/api-abcde",
            "cluster:endpointslices/shop/web-abcde",
            "cluster:nodes/node-2",
            "cluster:servicecidrs/kubernetes",
            "cluster:services/default/kubernetes",
            "cluster:services/kube-system/kube-dns",
            "cluster:services/shop/api",
            "cluster:services/shop/db",
            "cluster:services/shop/ext",
            "cluster:services/shop/web",
        ]
    );
    // Each input is the object as stored, with apiVersion and kind back.
    let web: serde_json::Value =
        serde_json::from_str(&run.state["cluster:services/shop/web"]).unwrap();
    assert_eq!(web["apiVersion"], "v1");
    assert_eq!(web["kind"], "Service");
    assert_eq!(web["spec"]["clusterIP"], "10.96.0.20");
    assert!(web["metadata"]["uid"].is_string() && web["metadata"]["resourceVersion"].is_string());
    // The selectors kube-proxy's informers use.
    let reqs = run.api.requests();
    let sel = "labelSelector=%21service.kubernetes.io%2Fheadless%2C%21service.kubernetes.io%2Fservice-proxy-name";
    assert!(
        reqs.iter()
            .any(|r| r.starts_with("/api/v1/services?") && r.contains(sel)),
        "{reqs:#?}"
    );
    assert!(
        reqs.iter().any(|r| r.starts_with("/api/v1/nodes?")
            && r.contains("fieldSelector=metadata.name%3Dnode-2")),
        "{reqs:#?}"
    );
    // Nothing more while nothing changes.
    assert!(
        tokio::time::timeout(Duration::from_millis(500), run.rx.recv())
            .await
            .is_err()
    );
}

/// Watch events come through in order, the last state of each object winning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arrive_in_order() {
    let mut run = start(
        FakeApi::start(fixture::cluster()),
        "order",
        Duration::from_millis(100),
    );
    run.next().await;
    run.api.apply(web_slice(&["10.244.1.10"]));
    run.api.apply(web_slice(&["10.244.1.10", "10.244.2.99"]));
    run.api.delete("Service", "shop", "ext");
    let mut svc = fixture::cluster()
        .into_iter()
        .find(|o| o["kind"] == "Service" && o["metadata"]["name"] == "web")
        .unwrap();
    svc["metadata"]["name"] = "web2".into();
    svc["spec"]["clusterIP"] = "10.96.0.40".into();
    svc["spec"]["clusterIPs"] = serde_json::json!(["10.96.0.40"]);
    run.api.apply(svc);
    let events = run
        .until(|s| {
            s.contains_key("cluster:services/shop/web2")
                && !s.contains_key("cluster:services/shop/ext")
                && endpoints_of(s, WEB) == ["10.244.1.10", "10.244.2.99"]
        })
        .await;
    assert!(
        events.iter().all(|e| matches!(e, SourceEvent::Changes(_))),
        "{events:?}"
    );
    // An object of another node is not watched.
    let mut other = fixture::cluster()
        .into_iter()
        .find(|o| o["kind"] == "Node" && o["metadata"]["name"] == "node-1")
        .unwrap();
    other["metadata"]["labels"]["x"] = "y".into();
    run.api.apply(other);
    assert!(
        tokio::time::timeout(Duration::from_millis(500), run.rx.recv())
            .await
            .is_err()
    );
}

/// Batching as kube-proxy's BoundedFrequencyRunner: a change after a quiet
/// spell goes at once, the ones right after wait for minSyncPeriod and go
/// together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_are_batched_by_min_sync_period() {
    let min_sync = Duration::from_millis(700);
    let mut run = start(FakeApi::start(fixture::cluster()), "batch", min_sync);
    run.next().await;
    tokio::time::sleep(min_sync).await;
    let t0 = Instant::now();
    run.api.apply(web_slice(&["10.244.1.1"]));
    run.next().await;
    let first = t0.elapsed();
    assert!(first < min_sync / 2, "the first change waits {first:?}");
    for i in 2..=20 {
        run.api.apply(web_slice(&[&format!("10.244.1.{i}")]));
    }
    let ev = run.next().await;
    let second = t0.elapsed();
    assert!(second >= min_sync, "the next batch after {second:?}");
    let SourceEvent::Changes(changes) = ev else {
        panic!("{ev:?}")
    };
    assert_eq!(changes.len(), 1, "one Put for the slice");
    // All of the burst is in that one batch (or the last of it follows in one more).
    if endpoints_of(&run.state, WEB) != ["10.244.1.20"] {
        run.next().await;
    }
    assert_eq!(endpoints_of(&run.state, WEB), ["10.244.1.20"]);
}

/// A watch the server ends resumes from its resourceVersion: no relist,
/// no event lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_watch_resumes() {
    let mut run = start(
        FakeApi::start(fixture::cluster()),
        "broken",
        Duration::from_millis(50),
    );
    run.next().await;
    run.api.break_watches();
    run.api.apply(web_slice(&["10.244.1.77"]));
    let events = run.until(|s| endpoints_of(s, WEB) == ["10.244.1.77"]).await;
    assert!(
        events.iter().all(|e| matches!(e, SourceEvent::Changes(_))),
        "{events:?}"
    );
}

/// 410 Gone (the watch's resourceVersion was compacted): kube-rs relists;
/// the source compares the new list with what it sent and sends only the
/// difference: every object kept, the change made meanwhile in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_relists_without_dropping_anything() {
    let mut run = start(
        FakeApi::start(fixture::cluster()),
        "gone",
        Duration::from_millis(50),
    );
    run.next().await;
    let before = run.names().len();
    // Compaction while a change is under way: the watches end, their
    // resourceVersion is too old to resume from (410), and they relist.
    run.api.apply(web_slice(&["10.244.1.88"]));
    run.api.compact();
    let events = run.until(|s| endpoints_of(s, WEB) == ["10.244.1.88"]).await;
    assert_eq!(run.names().len(), before, "{:?}", run.names());
    // The relist reaches the agent as the difference: the one slice.
    let mut put = Vec::new();
    let mut failed = Vec::new();
    for e in &events {
        match e {
            SourceEvent::Changes(c) => put.extend(c.iter().map(|c| match c {
                Change::Put(i) => i.name.to_string(),
                Change::Remove(n) => format!("-{n}"),
            })),
            SourceEvent::Failed(m) => failed.push(m.as_str()),
            SourceEvent::Relist(_) => panic!("a second Relist: {events:?}"),
        }
    }
    assert_eq!(put, [WEB], "{events:?}");
    assert!(
        failed
            .iter()
            .all(|m| m.contains("too old resource version")),
        "{failed:?}"
    );
}

/// RBAC 403: the source says which rule is missing, sends nothing else,
/// and starts once the rule is granted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_names_the_rule_and_recovers() {
    let api = FakeApi::start(fixture::cluster());
    api.forbid("endpointslices");
    let mut run = start(api, "forbidden", Duration::from_millis(50));
    let ev = run.next().await;
    let SourceEvent::Failed(msg) = ev else {
        panic!("{ev:?}")
    };
    assert!(
        msg.starts_with("endpointslices: Error from server (Forbidden): endpointslices.discovery.k8s.io is forbidden"),
        "{msg}"
    );
    assert!(
        msg.ends_with("svcgen needs the RBAC rule apiGroups: [\"discovery.k8s.io\"], resources: [\"endpointslices\"], verbs: [\"list\"]"),
        "{msg}"
    );
    run.api.allow("endpointslices");
    loop {
        match run.next().await {
            SourceEvent::Failed(_) => continue,
            SourceEvent::Relist(_) => break,
            other => panic!("{other:?}"),
        }
    }
    assert!(run.state.contains_key(WEB));
}

/// A slow server is waited for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_server_is_waited_for() {
    let api = FakeApi::start(fixture::cluster());
    api.set_delay(Duration::from_millis(700));
    let mut run = start(api, "slow", Duration::from_millis(50));
    assert!(matches!(run.next().await, SourceEvent::Relist(_)));
    run.api.apply(web_slice(&["10.244.1.5"]));
    run.until(|s| endpoints_of(s, WEB) == ["10.244.1.5"]).await;
}

/// A flood: 10k Services listed in pages, then 10k changes in a burst;
/// the batches add up to the server's state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_10k_objects() {
    let mut objects = fixture::cluster();
    let svc = |i: usize, port: u16| {
        serde_json::json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": format!("s-{i:05}"), "namespace": "flood"},
            "spec": {"clusterIP": format!("10.97.{}.{}", i / 250, 1 + i % 250), "type": "ClusterIP",
                     "ports": [{"port": port, "protocol": "TCP"}]}})
    };
    objects.extend((0..10_000).map(|i| svc(i, 80)));
    let mut run = start(FakeApi::start(objects), "flood", Duration::from_millis(200));
    let ev = run.next().await;
    assert!(matches!(ev, SourceEvent::Relist(ref i) if i.len() == 12 + 10_000));
    for i in 0..10_000 {
        run.api.apply(svc(i, 81));
    }
    let events = run
        .until(|s| {
            s.iter()
                .filter(|(k, v)| {
                    k.starts_with("cluster:services/flood/") && v.contains("\"port\": 81")
                })
                .count()
                == 10_000
        })
        .await;
    assert!(events.len() < 200, "{} batches", events.len());
}

/// 410 Gone, then a change while the watchers back off: the relist has it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_during_the_relist_is_in_it() {
    let api = FakeApi::start(fixture::cluster());
    let d = dir("gone2");
    let (tx, rx) = super::super::source::channel();
    let source = ApiSource {
        kubeconfig: Some(api.kubeconfig(&d.0)),
        context: None,
        node_name: "node-2".into(),
        min_sync_period: Duration::ZERO,
        initial_backoff: Duration::from_millis(800),
    };
    tokio::spawn(run(source, tx));
    let mut run = Run {
        api,
        rx,
        _dir: d,
        state: BTreeMap::new(),
    };
    run.next().await;
    run.api.compact();
    run.api.apply(web_slice(&["10.244.1.66"]));
    let events = run.until(|s| endpoints_of(s, WEB) == ["10.244.1.66"]).await;
    assert!(
        events.iter().all(|e| !matches!(e, SourceEvent::Relist(_))),
        "{events:?}"
    );
    // And the watches that follow the relist see the next change.
    tokio::time::sleep(Duration::from_millis(300)).await;
    run.api.apply(web_slice(&["10.244.1.67"]));
    run.until(|s| endpoints_of(s, WEB) == ["10.244.1.67"]).await;
}
