//! The Service-scoped path of the incremental engine
//! (`libsvc/src/incremental/scoped.rs`) against the full pipeline, over
//! generated clusters and random change sets that mix what it handles
//! (one Service's spec or endpoints, Services added and removed, slices in
//! their own files) with what must send it the full way (Services left to
//! the allocator, cluster IPs or node ports written twice, endpoints and
//! external IPs two Services share, session affinity, files that do not
//! parse, duplicate names). Some Services and slices are *stored* (read
//! from a cluster: `uid` and `resourceVersion`, as `svcgen agent --source
//! api` feeds them), and some clusters give no service CIDR, so that the
//! stored Services' cluster IPs imply it (`config::infer_service_cidrs`).
//!
//! Whatever path a change set takes, the state after it equals a fresh
//! `State::new` of the new inputs (outputs, table, objects, diagnostics),
//! and each delta equals the delta of the whole models
//! (`Deltas::between`): kube-proxy's partial sync
//! (pkg/proxy/nftables/proxier.go, `syncProxyRules` with `doFullSync`
//! false) writes what changed between the full rulesets, no more, no less.

use libsvc::incremental::{Change, Deltas, State};
use libsvc::render::{Mode, RenderOptions};
use libsvc::{Input, Overrides};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

/// One generated Service. Small value pools make Services collide.
#[derive(Debug, Clone, PartialEq)]
struct Svc {
    type_: &'static str,
    port: u16,
    proto: &'static str,
    etp_local: bool,
    affinity: bool,
    /// `clusterIP: 10.96.0.N` (None: left to the allocator).
    cluster_ip: Option<u8>,
    /// `nodePort: 3000N` (NodePort only).
    node_port: u8,
    /// `externalIPs: [192.168.99.N]`.
    external_ip: Option<u8>,
    /// (ready, local, address 10.1.0.N)
    endpoints: Vec<(bool, bool, u8)>,
    /// The EndpointSlice lives in a file of its own.
    split: bool,
    /// `metadata.name` is another slot's (a duplicate name, sometimes).
    name: u8,
    /// The Service's file does not parse.
    broken: bool,
    /// The Service and its slice carry `uid` and `resourceVersion`.
    stored: bool,
}

fn svc() -> impl Strategy<Value = Svc> {
    (
        (
            prop_oneof![Just("ClusterIP"), Just("NodePort"), Just("LoadBalancer")],
            prop_oneof![Just(80u16), Just(443)],
            prop_oneof![Just("TCP"), Just("UDP")],
            prop::bool::weighted(0.2),
            prop::bool::weighted(0.1),
        ),
        (
            prop::option::weighted(0.9, 1u8..40),
            0u8..40,
            prop::option::weighted(0.15, 1u8..4),
        ),
        prop::collection::vec((prop::bool::weighted(0.8), any::<bool>(), 1u8..60), 0..4),
        (
            any::<bool>(),
            prop::option::weighted(0.05, 0u8..6),
            prop::bool::weighted(0.03),
            prop::bool::weighted(0.4),
        ),
    )
        .prop_map(
            |(
                (type_, port, proto, etp_local, affinity),
                (cluster_ip, node_port, external_ip),
                endpoints,
                (split, name, broken, stored),
            )| Svc {
                type_,
                port,
                proto,
                etp_local,
                affinity,
                cluster_ip,
                node_port,
                external_ip,
                endpoints,
                split,
                name: name.unwrap_or(u8::MAX),
                broken,
                stored,
            },
        )
}

fn name(i: usize, s: &Svc) -> String {
    if s.name == u8::MAX {
        format!("svc{i}")
    } else {
        format!("svc{}", s.name)
    }
}

/// `metadata` fields only kube-apiserver writes, for a stored object.
fn stored_meta(i: usize, s: &Svc, kind: &str) -> String {
    if s.stored {
        format!(", uid: {kind}-{i}, resourceVersion: \"{}\"", 100 + i)
    } else {
        String::new()
    }
}

fn service_doc(i: usize, s: &Svc) -> String {
    let mut d = format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {}, namespace: ns{}{}}}\nspec:\n  type: {}\n",
        name(i, s),
        i % 2,
        stored_meta(i, s, "svc"),
        s.type_,
    );
    if let Some(ip) = s.cluster_ip {
        d.push_str(&format!("  clusterIP: 10.96.0.{ip}\n"));
    }
    let np = if s.type_ == "ClusterIP" {
        String::new()
    } else {
        format!(", nodePort: {}", 30000 + u16::from(s.node_port))
    };
    d.push_str(&format!(
        "  ports:\n  - {{name: p, port: {}, protocol: {}{np}}}\n",
        s.port, s.proto
    ));
    if s.etp_local && s.type_ != "ClusterIP" {
        d.push_str("  externalTrafficPolicy: Local\n");
    }
    if s.affinity {
        d.push_str("  sessionAffinity: ClientIP\n");
    }
    if let Some(e) = s.external_ip {
        d.push_str(&format!("  externalIPs: [192.168.99.{e}]\n"));
    }
    d
}

fn slice_doc(i: usize, s: &Svc) -> String {
    let mut d = format!(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: {}-{i}\n  namespace: ns{}\n  labels: {{kubernetes.io/service-name: {}}}\n{}addressType: IPv4\nports: [{{name: p, port: 8080, protocol: {}}}]\n",
        name(i, s),
        i % 2,
        name(i, s),
        if s.stored {
            format!("  uid: eps-{i}\n  resourceVersion: \"{}\"\n", 200 + i)
        } else {
            String::new()
        },
        s.proto
    );
    if s.endpoints.is_empty() {
        d.push_str("endpoints: []\n");
    } else {
        d.push_str("endpoints:\n");
        for (ready, local, a) in &s.endpoints {
            d.push_str(&format!(
                "- addresses: [10.1.0.{a}]\n  conditions: {{ready: {ready}}}\n  nodeName: {}\n",
                if *local { "node-a" } else { "node-b" }
            ));
        }
    }
    d
}

/// The files of slot `i`: `svc{i}.yaml`, and `eps{i}.yaml` when split.
fn files(i: usize, s: &Svc) -> Vec<Input> {
    let svc_file = format!("svc{i}.yaml");
    if s.broken {
        return vec![Input::new(svc_file, "kind: Service\nmetadata: {name: [\n")];
    }
    if s.split {
        vec![
            Input::new(svc_file, service_doc(i, s)),
            Input::new(format!("eps{i}.yaml"), slice_doc(i, s)),
        ]
    } else {
        vec![Input::new(
            svc_file,
            format!("{}---\n{}", service_doc(i, s), slice_doc(i, s)),
        )]
    }
}

fn settings() -> Input {
    Input::new(
        "node.yaml",
        "apiVersion: v1\nkind: Node\nmetadata: {name: node-a}\nstatus:\n  addresses:\n  - {type: InternalIP, address: 192.168.0.2}\n---\napiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nclusterCIDR: 10.0.0.0/8\n",
    )
}

/// `infer`: no service CIDR given (the stored Services imply it).
fn overrides(infer: bool) -> Overrides {
    Overrides {
        service_cidrs: if infer {
            Vec::new()
        } else {
            vec!["10.96.0.0/24".parse().unwrap()]
        },
        ip_family: Some(libsvc::config::IpFamily::IPv4),
        node_name: Some("node-a".into()),
        ..Default::default()
    }
}

fn all_files(slots: &[Option<Svc>]) -> Vec<Input> {
    let mut v = vec![settings()];
    for (i, s) in slots.iter().enumerate() {
        if let Some(s) = s {
            v.extend(files(i, s));
        }
    }
    v
}

/// The scoped path builds nftables and iptables (the other modes go the
/// full way).
const MODES: [Mode; 2] = [Mode::Nftables, Mode::Iptables];

fn state(inputs: Vec<Input>) -> State {
    state_with(inputs, false)
}

fn state_with(inputs: Vec<Input>, infer: bool) -> State {
    State::new(inputs, overrides(infer), &MODES, RenderOptions::default()).expect("builds")
}

/// The change set from `old` to `new`: a `Put` per file that differs or
/// is new, a `Remove` per file that is gone.
fn changes(old: &[Option<Svc>], new: &[Option<Svc>]) -> Vec<Change> {
    let before = all_files(old);
    let after = all_files(new);
    let mut out = Vec::new();
    for f in &after {
        if !before.iter().any(|b| b.name == f.name && b.text == f.text) {
            out.push(Change::Put(f.clone()));
        }
    }
    for b in &before {
        if !after.iter().any(|f| f.name == b.name) {
            out.push(Change::Remove(b.name.clone()));
        }
    }
    out
}

/// The state after `changes` is a fresh load, and the deltas are the
/// whole models' deltas. Returns whether the scoped path was taken.
fn check(old: &[Option<Svc>], new: &[Option<Svc>]) -> Result<bool, TestCaseError> {
    check_with(old, new, false)
}

/// [`check`], with the service CIDR given (`infer` false) or left to the
/// stored Services.
fn check_with(
    old: &[Option<Svc>],
    new: &[Option<Svc>],
    infer: bool,
) -> Result<bool, TestCaseError> {
    let mut st = state_with(all_files(old), infer);
    let before = st.outputs().clone();
    let before_table = st.loaded().table.clone();
    let update = st.apply(changes(old, new)).expect("applies");
    // Objects and diagnostics follow input order; a new input comes last.
    let fresh = state_with(st.inputs().cloned().collect(), infer);
    prop_assert_eq!(st.outputs(), fresh.outputs());
    prop_assert_eq!(&st.loaded().table, &fresh.loaded().table);
    prop_assert_eq!(&st.loaded().objects, &fresh.loaded().objects);
    prop_assert_eq!(&st.loaded().diagnostics, &fresh.loaded().diagnostics);
    prop_assert_eq!(&st.loaded().settings, &fresh.loaded().settings);
    let mut whole = Deltas::between(&before, fresh.outputs());
    whole.services = libsvc::incremental::changed_services(&before_table, &fresh.loaded().table);
    prop_assert_eq!(&update.deltas, &whole);
    for mode in MODES {
        prop_assert_eq!(update.deltas.text(mode), whole.text(mode));
    }
    // A second change set on the updated state: the index it keeps is right.
    let mut again = st.clone();
    let back = again.apply(changes(new, old)).expect("applies");
    let fresh_old = state_with(again.inputs().cloned().collect(), infer);
    prop_assert_eq!(again.outputs(), fresh_old.outputs());
    prop_assert_eq!(&again.loaded().table, &fresh_old.loaded().table);
    let mut whole = Deltas::between(st.outputs(), fresh_old.outputs());
    whole.services =
        libsvc::incremental::changed_services(&st.loaded().table, &fresh_old.loaded().table);
    prop_assert_eq!(&back.deltas, &whole);
    Ok(update.scoped)
}

fn slots() -> impl Strategy<Value = Vec<Option<Svc>>> {
    prop::collection::vec(prop::option::weighted(0.85, svc()), 1..7)
}

/// `new`: `old` with up to two slots replaced, added or removed.
fn edited() -> impl Strategy<Value = (Vec<Option<Svc>>, Vec<Option<Svc>>)> {
    (
        slots(),
        prop::collection::vec((0usize..8, prop::option::weighted(0.8, svc())), 1..3),
    )
        .prop_map(|(old, edits)| {
            let mut new = old.clone();
            for (k, s) in edits {
                if k < new.len() {
                    new[k] = s;
                } else {
                    new.push(s);
                }
            }
            (old, new)
        })
}

/// Only the endpoints of one Service change.
fn endpoints_only() -> impl Strategy<Value = (Vec<Option<Svc>>, Vec<Option<Svc>>)> {
    (
        prop::collection::vec(svc(), 2..6),
        0usize..6,
        prop::collection::vec((prop::bool::weighted(0.8), any::<bool>(), 1u8..60), 0..4),
    )
        .prop_map(|(old, k, endpoints)| {
            let old: Vec<Option<Svc>> = old.into_iter().map(Some).collect();
            let mut new = old.clone();
            let k = k % new.len();
            if let Some(s) = new[k].as_mut() {
                s.endpoints = endpoints;
            }
            (old, new)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn scoped_apply_equals_a_fresh_load((old, new) in edited()) {
        check(&old, &new)?;
    }

    #[test]
    fn any_change_set_equals_a_fresh_load(old in slots(), new in slots()) {
        check(&old, &new)?;
    }

    #[test]
    fn endpoint_changes_equal_a_fresh_load((old, new) in endpoints_only()) {
        check(&old, &new)?;
    }

    #[test]
    fn inferred_cidrs_scoped_apply_equals_a_fresh_load((old, new) in edited()) {
        check_with(&old, &new, true)?;
    }

    #[test]
    fn inferred_cidrs_endpoint_changes_equal_a_fresh_load((old, new) in endpoints_only()) {
        check_with(&old, &new, true)?;
    }
}

/// The generated change sets take the scoped path often enough for the
/// properties above to test it (and the full path too).
#[test]
fn both_paths_are_exercised() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut scoped, mut full) = (0, 0);
    for _ in 0..200 {
        let (old, new) = edited().new_tree(&mut runner).expect("generates").current();
        match check(&old, &new) {
            Ok(true) => scoped += 1,
            Ok(false) => full += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(scoped >= 40, "scoped {scoped}, full {full}");
    assert!(full >= 20, "scoped {scoped}, full {full}");
}

/// Service `i` of a cluster where every Service writes its values.
fn plain(i: u8) -> Svc {
    Svc {
        type_: if i.is_multiple_of(2) {
            "NodePort"
        } else {
            "ClusterIP"
        },
        port: 80,
        proto: "TCP",
        etp_local: false,
        affinity: false,
        cluster_ip: Some(i + 1),
        node_port: i,
        external_ip: None,
        endpoints: vec![(true, true, i * 3 + 1), (true, false, i * 3 + 2)],
        split: i == 1,
        name: u8::MAX,
        broken: false,
        stored: false,
    }
}

/// A cluster where every Service writes its values: one Service's
/// endpoints change, one Service is added, one removed — each a scoped
/// change whose delta touches only that Service.
#[test]
fn one_service_changes_take_the_scoped_path() {
    let base = plain;
    let old: Vec<Option<Svc>> = (0..4).map(|i| Some(base(i))).collect();
    let mut endpoint_gone = old.clone();
    endpoint_gone[1].as_mut().unwrap().endpoints.pop();
    let mut added = old.clone();
    added.push(Some(base(4)));
    let mut removed = old.clone();
    removed[2] = None;
    let mut port_changed = old.clone();
    port_changed[3].as_mut().unwrap().port = 443;
    for (new, service) in [
        (endpoint_gone, "ns1/svc1"),
        (added, "ns0/svc4"),
        (removed, "ns0/svc2"),
        (port_changed, "ns1/svc3"),
    ] {
        let mut st = state(all_files(&old));
        let update = st.apply(changes(&old, &new)).unwrap();
        assert!(update.scoped, "{service}");
        assert_eq!(update.deltas.services, [service]);
        assert!(check(&old, &new).unwrap());
    }
}

/// The scoped path hands each iptables delta the fixed chains it keeps
/// (KUBE-SERVICES, KUBE-NODEPORTS), shared, not copied
/// (`incremental::iptables::DeltaChain`): a delta kept while the state
/// changes again still holds and writes what it held — the payload
/// kube-proxy's partial sync wrote at that point (pkg/proxy/iptables/
/// proxier.go, `syncProxyRules`: KUBE-SERVICES written whole each sync).
#[test]
fn a_kept_delta_stays_as_it_was() {
    let old: Vec<Option<Svc>> = (0..4).map(|i| Some(plain(i))).collect();
    // A NodePort Service's port and node port change.
    let mut port_changed = old.clone();
    let svc2 = port_changed[2].as_mut().unwrap();
    (svc2.port, svc2.node_port) = (443, 9);
    let mut added = port_changed.clone();
    added.push(Some(plain(4)));
    let mut back = added.clone();
    back[2] = old[2].clone();

    let mut st = state(all_files(&old));
    let before = st.outputs().clone();
    let first = st.apply(changes(&old, &port_changed)).unwrap();
    assert!(first.scoped);
    let whole = Deltas::between(&before, st.outputs());
    let text = first.deltas.text(Mode::Iptables);
    assert_eq!(text, whole.text(Mode::Iptables));
    assert!(text.contains("-A KUBE-SERVICES ") && text.contains("-A KUBE-NODEPORTS "));

    // Two more changes to the same chains while `first` is kept.
    let second = st.apply(changes(&port_changed, &added)).unwrap();
    let third = st.apply(changes(&added, &back)).unwrap();
    assert!(second.scoped && third.scoped);
    assert_eq!(first.deltas.iptables, whole.iptables);
    assert_eq!(first.deltas.text(Mode::Iptables), text);
    let fresh = state(all_files(&back));
    assert_eq!(st.outputs(), fresh.outputs());
    assert_ne!(second.deltas.text(Mode::Iptables), text);
}

/// Workloads stand for Pods (`resolve/workloads.rs`, `simulate`, run by
/// every load after the inputs' Pods): a change of replicas after a
/// scoped change gives the Pods a fresh load gives, not the old ones again.
#[test]
fn workload_change_equals_a_fresh_load() {
    let d = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: default}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: c, image: x}]}\n";
    let s = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  clusterIP: 10.96.0.5\n  selector: {app: web}\n  ports: [{port: 80}]\n";
    let mut st = state(vec![Input::new("d.yaml", d), Input::new("s.yaml", s)]);
    let s2 = s.replace("port: 80", "port: 81");
    st.apply(vec![Change::Put(Input::new("s.yaml", s2))])
        .unwrap();
    let d3 = d.replace("replicas: 2", "replicas: 3");
    st.apply(vec![Change::Put(Input::new("d.yaml", d3))])
        .unwrap();
    let fresh = state(st.inputs().cloned().collect());
    assert_eq!(st.loaded().objects, fresh.loaded().objects);
    assert_eq!(st.loaded().table, fresh.loaded().table);
    assert_eq!(st.outputs(), fresh.outputs());
}

/// A cluster read from the API server (every Service and slice stored,
/// as `svcgen agent --source api` feeds them), with the service CIDR given
/// and inferred: one slice changed, a Service added, one removed — each
/// scoped. The create path keeps a stored Service's values as stored
/// (pkg/registry/core/service/storage/alloc.go: only `allocateCreate`
/// allocates; an update keeps them), so the others' are untouched.
#[test]
fn stored_services_take_the_scoped_path() {
    let base = |i: u8| Svc {
        type_: if i.is_multiple_of(2) {
            "NodePort"
        } else {
            "ClusterIP"
        },
        port: 80,
        proto: "TCP",
        etp_local: false,
        affinity: false,
        cluster_ip: Some(i + 1),
        node_port: i,
        external_ip: None,
        endpoints: vec![(true, true, i * 3 + 1), (true, false, i * 3 + 2)],
        split: true,
        name: u8::MAX,
        broken: false,
        stored: true,
    };
    let old: Vec<Option<Svc>> = (0..4).map(|i| Some(base(i))).collect();
    let mut endpoint_gone = old.clone();
    endpoint_gone[1].as_mut().unwrap().endpoints.pop();
    let mut added = old.clone();
    added.push(Some(base(4)));
    let mut removed = old.clone();
    removed[2] = None;
    for infer in [false, true] {
        for (new, service) in [
            (endpoint_gone.clone(), "ns1/svc1"),
            (added.clone(), "ns0/svc4"),
            (removed.clone(), "ns0/svc2"),
        ] {
            let mut st = state_with(all_files(&old), infer);
            let update = st.apply(changes(&old, &new)).unwrap();
            assert!(update.scoped, "{service} infer={infer}");
            assert_eq!(update.deltas.services, [service]);
            assert!(check_with(&old, &new, infer).unwrap());
        }
    }
}
