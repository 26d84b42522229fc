//! Workloads become Pods (`resolve/workloads.rs`): names, nodes and
//! addresses as the controllers, the scheduler, node IPAM and kubelet would
//! make them; the warnings that say why a Service has no endpoints; and
//! real public manifests end to end (`tests/data/real/`, see SOURCE.md).

use libsvc::dns::{QueryType, Rcode};
use libsvc::model::Pod;
use libsvc::render::{Mode, RenderOptions, render};
use libsvc::table::{Protocol, SliceSource};
use libsvc::trace::{Packet, trace};
use libsvc::{Input, Loaded, Overrides, Severity, load};
use proptest::prelude::*;

fn loaded_with(text: &str, o: &Overrides) -> Loaded {
    let loaded = load(&[Input::new("t.yaml", text)], o);
    assert!(!loaded.has_parse_errors(), "{:#?}", loaded.diagnostics);
    loaded
}

fn loaded(text: &str) -> Loaded {
    loaded_with(text, &Overrides::default())
}

fn simulated(l: &Loaded) -> Vec<&Pod> {
    l.objects.pods.iter().filter(|p| p.simulated).collect()
}

/// (name, node, first IP) of every simulated Pod.
fn placed(l: &Loaded) -> Vec<(String, String, String)> {
    simulated(l)
        .iter()
        .map(|p| {
            (
                p.meta.name.clone(),
                p.node_name.clone().unwrap_or_default(),
                p.pod_ips.join(","),
            )
        })
        .collect()
}

fn deployment(name: &str, replicas: Option<i64>, extra_spec: &str) -> String {
    let replicas = replicas.map_or(String::new(), |r| format!("  replicas: {r}\n"));
    format!(
        "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n{replicas}  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n{extra_spec}      containers:\n      - name: c\n        ports: [{{name: http, containerPort: 8080}}]\n"
    )
}

fn node(name: &str, extra: &str) -> String {
    format!("---\napiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n{extra}")
}

// pkg/controller/deployment/util: replicas defaults to 1 (SetDefaults_Deployment),
// 0 makes none; pkg/controller/deployment/sync.go getNewReplicaSet names the
// ReplicaSet <deployment>-<pod-template-hash>, its Pods <rs>-<5 characters>.
#[test]
fn deployments_make_replicas_pods_named_through_their_replicaset() {
    let l = loaded(&format!(
        "{}{}{}",
        deployment("one", None, ""),
        deployment("three", Some(3), ""),
        deployment("none", Some(0), "")
    ));
    let pods = simulated(&l);
    let names: Vec<&str> = pods.iter().map(|p| p.meta.name.as_str()).collect();
    assert_eq!(names.iter().filter(|n| n.starts_with("one-")).count(), 1);
    assert_eq!(names.iter().filter(|n| n.starts_with("three-")).count(), 3);
    assert!(!names.iter().any(|n| n.starts_with("none-")));
    for p in &pods {
        let hash = &p.meta.labels["pod-template-hash"];
        let rs = format!("{}-{hash}", p.meta.labels["app"]);
        assert_eq!(p.meta.owner_references, [("ReplicaSet".into(), rs.clone())]);
        // <rs>-<5 of "bcdfghjklmnpqrstvwxz2456789">
        let suffix = p.meta.name.strip_prefix(&format!("{rs}-")).unwrap();
        assert_eq!(suffix.len(), 5);
        assert!(
            suffix
                .bytes()
                .all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b))
        );
        // rand.SafeEncodeString of a decimal number: only these ten letters.
        assert!(hash.bytes().all(|b| b"456789bcdf".contains(&b)), "{hash}");
        assert_eq!(p.phase.as_deref(), Some("Running"));
        assert_eq!(p.ready, Some(true));
        assert_eq!(
            p.meta.annotations["svcgen/simulated-from"],
            format!("Deployment/{}", p.meta.labels["app"])
        );
    }
    let info: Vec<&str> = l
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Info && d.message.starts_with("simulated"))
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(
        info,
        [
            "simulated 4 Pod(s) of 3 workload(s) (3 Deployment) as the controllers, scheduler and kubelet would; they are Running and Ready; node: node (a default node: the input has no Node); Pod IPs from 10.244.0.0/16 (svcgen's default pod network: the input gives no Node podCIDR and no clusterCIDR; --cluster-cidr sets it); --no-simulate turns this off"
        ]
    );
}

// pkg/controller/statefulset/stateful_set_utils.go newStatefulSetPod /
// initIdentity: <set>-<ordinal>, hostname = the Pod's name, subdomain =
// spec.serviceName; the pod-name and pod-index labels.
#[test]
fn statefulset_pods_have_ordinals_hostnames_and_the_governing_service() {
    let l = loaded(
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db, namespace: data}\nspec:\n  serviceName: db-hl\n  replicas: 3\n  selector: {matchLabels: {app: db}}\n  template:\n    metadata: {labels: {app: db}}\n    spec:\n      containers: [{name: c}]\n",
    );
    let pods = simulated(&l);
    let got: Vec<(&str, &str, &str, &str, &str)> = pods
        .iter()
        .map(|p| {
            (
                p.meta.namespace(),
                p.meta.name.as_str(),
                p.hostname.as_deref().unwrap(),
                p.subdomain.as_deref().unwrap(),
                p.meta.labels["apps.kubernetes.io/pod-index"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("data", "db-0", "db-0", "db-hl", "0"),
            ("data", "db-1", "db-1", "db-hl", "1"),
            ("data", "db-2", "db-2", "db-hl", "2"),
        ]
    );
    assert_eq!(
        pods[0].meta.owner_references,
        [("StatefulSet".into(), "db".into())]
    );
}

// The scheduler (reduced to round robin over the Nodes in name order),
// nodeName binding, nodeSelector against Node labels (kubelet's
// kubernetes.io/hostname included); node IPAM's cidrset hands out the
// cluster CIDR's /24s in order; host-local IPAM starts at the third address.
#[test]
fn pods_spread_round_robin_and_take_their_nodes_ranges() {
    let nodes = format!(
        "{}{}{}",
        node("b", "  labels: {disk: ssd}\n"),
        node("a", ""),
        node("c", "spec:\n  podCIDR: 10.9.9.0/24\n")
    );
    let kpc = "---\napiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nclusterCIDR: 10.100.0.0/16\n";
    let l = loaded(&format!(
        "{nodes}{kpc}{}{}{}",
        deployment("spread", Some(4), ""),
        deployment("pinned", Some(2), "      nodeName: c\n"),
        deployment("ssd", Some(2), "      nodeSelector: {disk: ssd}\n"),
    ));
    // Workloads in name order: pinned binds to c without moving the
    // cursor; spread goes a, b, c, a; ssd fits b only. Node ranges: a and b
    // are the 1st and 2nd /24 of the clusterCIDR, c has its own podCIDR.
    let mut got: Vec<(String, String)> = placed(&l)
        .into_iter()
        .map(|(name, node, ip)| (format!("{}:{node}", name.split('-').next().unwrap()), ip))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("pinned:c".to_string(), "10.9.9.2".to_string()),
            ("pinned:c".into(), "10.9.9.3".into()),
            ("spread:a".into(), "10.100.0.2".into()),
            ("spread:a".into(), "10.100.0.3".into()),
            ("spread:b".into(), "10.100.1.2".into()),
            ("spread:c".into(), "10.9.9.4".into()),
            ("ssd:b".into(), "10.100.1.3".into()),
            ("ssd:b".into(), "10.100.1.4".into()),
        ]
    );
    // A nodeSelector no Node fits leaves the Pod Pending, unscheduled.
    let l = loaded(&format!(
        "{nodes}{}",
        deployment("gpu", Some(1), "      nodeSelector: {gpu: \"true\"}\n")
    ));
    let p = simulated(&l)[0];
    assert_eq!(
        (p.phase.as_deref(), p.ready, p.node_name.as_deref()),
        (Some("Pending"), Some(false), None)
    );
    assert!(p.pod_ips.is_empty());
    // kubelet's label kubernetes.io/hostname selects one node.
    let l = loaded(&format!(
        "{nodes}{}",
        deployment(
            "h",
            Some(2),
            "      nodeSelector: {kubernetes.io/hostname: c}\n"
        )
    ));
    assert!(placed(&l).iter().all(|(_, n, _)| n == "c"));
}

// A dual-stack cluster gives each Pod one address per family, primary
// first; IPv6 nodes take /64s (kube-controller-manager's default
// --node-cidr-mask-size-ipv6).
#[test]
fn dual_stack_pods_get_one_address_per_family() {
    let o = Overrides {
        cluster_cidrs: vec![
            "10.1.0.0/16".parse().unwrap(),
            "fd00:1::/48".parse().unwrap(),
        ],
        ..Default::default()
    };
    let l = loaded_with(
        &format!(
            "{}{}{}",
            node("n1", ""),
            node("n2", ""),
            deployment("d", Some(2), "")
        ),
        &o,
    );
    let ips: Vec<String> = placed(&l)
        .into_iter()
        .map(|(_, n, ip)| format!("{n} {ip}"))
        .collect();
    assert_eq!(ips, ["n1 10.1.0.2,fd00:1::2", "n2 10.1.1.2,fd00:1:0:1::2"]);
}

// A node's range holds so many Pods: the rest get no address, and a warning
// says so. svcgen's default node takes the whole pod network instead of a /24.
#[test]
fn a_full_pod_range_is_a_warning_and_the_default_node_takes_the_whole_network() {
    let l = loaded(&format!(
        "{}{}",
        node("tiny", "spec:\n  podCIDR: 10.7.0.0/30\n"),
        deployment("d", Some(2), "")
    ));
    let ips: Vec<String> = placed(&l).into_iter().map(|(_, _, ip)| ip).collect();
    assert_eq!(ips, ["10.7.0.2", ""]);
    let w: Vec<&str> = l
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(
        w,
        [
            "the pod range 10.7.0.0/30 of node tiny is full: 1 simulated Pod(s) get no address from it and serve no endpoints; give the Nodes wider spec.podCIDRs, or more Nodes"
        ]
    );
    let l = loaded(&deployment("many", Some(300), ""));
    let mut ips: Vec<std::net::Ipv4Addr> = placed(&l)
        .into_iter()
        .map(|(_, _, ip)| ip.parse().unwrap())
        .collect();
    ips.sort();
    assert_eq!(ips.first().unwrap().to_string(), "10.244.0.2");
    assert_eq!(ips.last().unwrap().to_string(), "10.244.1.45");
}

// Workload fields are read like every other kind: a wrong type is an error
// at its field path and line:col; a retired apiVersion (extensions/v1beta1,
// not served by kube-apiserver v1.37) is skipped with a warning.
#[test]
fn workload_fields_keep_their_positions() {
    let l = load(
        &[Input::new(
            "t.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  replicas: three\n  template:\n    spec:\n      containers:\n      - name: c\n        ports: [{containerPort: http}]\n",
        )],
        &Overrides::default(),
    );
    let errors: Vec<String> = l
        .errors()
        .map(|d| format!("{}: {}", d.location.as_ref().unwrap(), d.message))
        .collect();
    assert_eq!(
        errors,
        [
            "t.yaml:5:13: spec.replicas: Invalid type: expected integer, got string \"three\"",
            "t.yaml:10:33: spec.template.spec.containers[0].ports[0].containerPort: Invalid type: expected integer, got string \"http\"",
        ]
    );
    let w = &l.objects.workloads[0];
    assert_eq!(
        w.origin
            .locate("spec.template.spec.containers[0].ports[0]")
            .line,
        10
    );
    let old = load(
        &[Input::new(
            "t.yaml",
            "apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: d}\n",
        )],
        &Overrides::default(),
    );
    assert!(old.objects.workloads.is_empty());
    assert!(old.diagnostics.iter().any(|d| d.severity == Severity::Warning
        && d.message == "skipped Deployment with apiVersion extensions/v1beta1: svcgen reads Deployment as apps/v1"));
}

// hostNetwork Pods take their node's addresses (kubelet reports the host's
// IPs as the Pod's).
#[test]
fn host_network_pods_take_their_nodes_addresses() {
    let ds = "---\napiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: exporter}\nspec:\n  selector: {matchLabels: {app: x}}\n  template:\n    metadata: {labels: {app: x}}\n    spec:\n      hostNetwork: true\n      containers: [{name: c}]\n";
    let nodes = format!(
        "{}{}",
        node(
            "a",
            "status:\n  addresses: [{type: InternalIP, address: 192.168.0.10}]\n"
        ),
        node(
            "b",
            "status:\n  addresses: [{type: InternalIP, address: 192.168.0.11}]\n"
        )
    );
    let l = loaded(&format!("{nodes}{ds}"));
    let got: Vec<(String, String)> = placed(&l).into_iter().map(|(_, n, ip)| (n, ip)).collect();
    assert_eq!(
        got,
        [
            ("a".to_string(), "192.168.0.10".to_string()),
            ("b".into(), "192.168.0.11".into())
        ]
    );
}

// pkg/controller/daemon: one Pod per node the template fits.
#[test]
fn daemonsets_run_one_pod_per_fitting_node() {
    let ds = "---\napiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent}\nspec:\n  selector: {matchLabels: {app: agent}}\n  template:\n    metadata: {labels: {app: agent}}\n    spec:\n      nodeSelector: {kubernetes.io/os: linux}\n      containers: [{name: c}]\n";
    let nodes = format!(
        "{}{}{}",
        node("w1", ""),
        node("w2", ""),
        node("win", "  labels: {kubernetes.io/os: windows}\n")
    );
    let l = loaded(&format!("{nodes}{ds}"));
    let nodes: Vec<String> = placed(&l).into_iter().map(|(_, n, _)| n).collect();
    assert_eq!(nodes, ["w1", "w2"]);
    // No Node in the input: one Pod on the default node.
    let l = loaded(ds);
    assert_eq!(placed(&l).len(), 1);
    assert_eq!(placed(&l)[0].1, "node");
}

// ReplicaSet and ReplicationController (v1; its selector is a plain map and
// defaults to the template's labels: SetDefaults_ReplicationController).
#[test]
fn replicasets_and_replication_controllers_make_pods_too() {
    let l = loaded(
        "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: rs}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: rs}}\n  template:\n    metadata: {labels: {app: rs}}\n    spec: {containers: [{name: c}]}\n---\napiVersion: v1\nkind: ReplicationController\nmetadata: {name: rc}\nspec:\n  template:\n    metadata: {labels: {app: rc}}\n    spec: {containers: [{name: c}]}\n",
    );
    let owners: Vec<(String, String)> = simulated(&l)
        .iter()
        .map(|p| p.meta.owner_references[0].clone())
        .collect();
    assert_eq!(owners.iter().filter(|(k, _)| k == "ReplicaSet").count(), 2);
    assert_eq!(
        owners
            .iter()
            .filter(|(k, _)| k == "ReplicationController")
            .count(),
        1
    );
    let rc = &l
        .objects
        .workloads
        .iter()
        .find(|w| w.meta.name == "rc")
        .unwrap();
    assert_eq!(rc.selector["app"], "rc");
}

// A workload whose Pods the input holds is not simulated again: Pods name
// their owner in ownerReferences (a Deployment's through its ReplicaSet).
#[test]
fn workloads_with_pods_in_the_input_are_not_simulated() {
    let held = "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: web-5d59d67564-abcde\n  labels: {app: web}\n  ownerReferences: [{kind: ReplicaSet, name: web-5d59d67564}]\nspec: {containers: [{name: c}]}\nstatus: {podIP: 10.244.0.9}\n";
    let l = loaded(&format!("{}{held}", deployment("web", Some(3), "")));
    assert!(simulated(&l).is_empty());
    assert!(l.diagnostics.iter().any(|d| {
        d.message
            .contains("1 workload(s) not simulated: the input holds their Pods")
    }));
    // A ReplicaSet owned by the Deployment stands in for it.
    let rs = "---\napiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: web-abc\n  ownerReferences: [{kind: Deployment, name: web}]\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: c}]}\n";
    let l = loaded(&format!("{}{rs}", deployment("web", Some(3), "")));
    let pods = simulated(&l);
    assert_eq!(pods.len(), 1);
    assert_eq!(
        pods[0].meta.owner_references,
        [("ReplicaSet".into(), "web-abc".into())]
    );
}

// pkg/controller/controller_ref_manager.go ClaimPods: a controller adopts
// orphan Pods its selector matches, so none are simulated; a StatefulSet
// cannot create a Pod whose name another Pod has.
#[test]
fn orphans_are_adopted_and_taken_names_are_left_out() {
    let orphan = "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: hand-made\n  labels: {app: web}\nspec: {containers: [{name: c}]}\nstatus: {podIP: 10.244.0.9}\n";
    let l = loaded(&format!("{}{orphan}", deployment("web", Some(3), "")));
    assert!(simulated(&l).is_empty());
    let taken = "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: db-1\n  labels: {app: other}\nspec: {containers: [{name: c}]}\n";
    let sts = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec:\n  serviceName: db\n  replicas: 3\n  selector: {matchLabels: {app: db}}\n  template:\n    metadata: {labels: {app: db}}\n    spec: {containers: [{name: c}]}\n";
    let l = loaded(&format!("{sts}{taken}"));
    let names: Vec<String> = placed(&l).into_iter().map(|(n, _, _)| n).collect();
    assert_eq!(names, ["db-0", "db-2"]);
    assert!(l.diagnostics.iter().any(|d| d.severity == Severity::Warning
        && d.message == "StatefulSet default/db: Pod db-1 already exists and is not the set's, so the StatefulSet controller cannot create it; svcgen leaves it out"));
}

// Given EndpointSlices still win over the ones computed from Pods; and
// --no-simulate keeps workloads as they are.
#[test]
fn given_slices_win_and_simulation_can_be_turned_off() {
    let svc = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  clusterIP: 10.96.0.5\n  selector: {app: web}\n  ports: [{port: 80, targetPort: http}]\n";
    let slice = "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: web-x\n  labels: {kubernetes.io/service-name: web}\naddressType: IPv4\nendpoints: [{addresses: [192.0.2.1]}]\nports: [{port: 8080}]\n";
    let l = loaded(&format!("{svc}{}{slice}", deployment("web", Some(2), "")));
    let s = l.table.get("default", "web").unwrap();
    assert!(s.slices.iter().all(|x| x.source == SliceSource::Given));
    let l = loaded(&format!("{svc}{}", deployment("web", Some(2), "")));
    let s = l.table.get("default", "web").unwrap();
    assert_eq!(s.slices.iter().map(|x| x.endpoints.len()).sum::<usize>(), 2);
    let off = loaded_with(
        &format!("{svc}{}", deployment("web", Some(2), "")),
        &Overrides {
            no_simulate: true,
            ..Default::default()
        },
    );
    assert!(simulated(&off).is_empty());
    let s = off.table.get("default", "web").unwrap();
    assert!(s.slices.iter().all(|x| x.endpoints.is_empty()));
    // The selector matches the Deployment's template: no "matches nothing".
    assert!(
        !off.diagnostics
            .iter()
            .any(|d| d.message.contains("matches nothing"))
    );
}

// pkg/api/v1/pod/util.go FindPort: a named targetPort is looked up in the
// containers, then in the restartable init containers (native sidecars);
// a plain init container's ports do not count. Bare Pods and templates alike.
#[test]
fn named_target_ports_find_native_sidecars_only() {
    let svc = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  clusterIP: 10.96.0.6\n  selector: {app: s}\n  ports:\n  - {name: a, port: 80, targetPort: side}\n  - {name: b, port: 81, targetPort: init}\n";
    let pod = "---\napiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {app: s}}\nspec:\n  initContainers:\n  - {name: i, ports: [{name: init, containerPort: 7000}]}\n  - {name: sc, restartPolicy: Always, ports: [{name: side, containerPort: 9000}]}\n  containers: [{name: c}]\nstatus:\n  podIP: 10.244.0.50\n  conditions: [{type: Ready, status: \"True\"}]\n";
    let l = loaded(&format!("{svc}{pod}"));
    let s = l.table.get("default", "s").unwrap();
    let ports: Vec<(String, Option<u16>)> = s
        .slices
        .iter()
        .flat_map(|x| x.ports.iter().map(|p| (p.name.clone(), p.port)))
        .collect();
    assert_eq!(ports, [("a".to_string(), Some(9000))]);
    assert_eq!(l.objects.pods[0].containers, 2);
    // The init-only port is named by no selected Pod: a warning at it.
    let w: Vec<String> = l
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .map(|d| format!("{}: {}", d.location.as_ref().unwrap(), d.message))
        .collect();
    assert_eq!(
        w,
        [
            "t.yaml:9:37: spec.ports[1].targetPort: no Pod selected by app=s defines a container port named \"init\" (TCP): they name side/TCP; this Service port has no endpoints"
        ]
    );
}

// "Say why, in one place": a selector matching nothing warns at the
// selector, with the nearest thing that does match.
#[test]
fn a_selector_that_matches_nothing_says_so_with_a_hint() {
    let svc = |ns: &str, sel: &str| {
        format!(
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: s, namespace: {ns}}}\nspec:\n  clusterIP: 10.96.0.7\n  selector: {sel}\n  ports: [{{port: 80}}]\n"
        )
    };
    let warnings = |text: &str| -> Vec<String> {
        loaded(text)
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Warning)
            .map(|d| format!("{}: {}", d.location.as_ref().unwrap(), d.message))
            .collect()
    };
    assert_eq!(
        warnings(&svc("default", "{app: x}")),
        [
            "t.yaml:7:13: selector app=x matches nothing in the input; no Pod or workload template in namespace default has the label app (add the Deployment, StatefulSet or Pods it is for); Service default/s has no endpoints, so kube-proxy rejects its connections"
        ]
    );
    assert_eq!(
        warnings(&format!(
            "{}{}",
            svc("prod", "{app: web}"),
            deployment("web", Some(1), "")
        )),
        [
            "t.yaml:7:13: selector app=web matches nothing in the input; Pods in namespace default match it, but a Service selects Pods of its own namespace (prod) only; Service prod/s has no endpoints, so kube-proxy rejects its connections"
        ]
    );
    // A selector-less Service, or one whose Pods match, says nothing.
    assert!(
        warnings(&format!(
            "{}{}",
            svc("default", "{app: web}"),
            deployment("web", Some(1), "")
        ))
        .is_empty()
    );
}

fn real(name: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/real")
            .join(name),
    )
    .unwrap()
}

/// Every Service port of a workload-backed app reaches Pods in every mode:
/// the tracers of iptables, nftables and IPVS end at endpoints (never
/// REJECT), env and DNS publish every Service.
fn every_service_has_endpoints_everywhere(l: &Loaded) {
    assert!(
        l.errors().next().is_none(),
        "{:#?}",
        l.errors().collect::<Vec<_>>()
    );
    assert!(
        !l.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Warning),
        "{:#?}",
        l.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Warning)
            .collect::<Vec<_>>()
    );
    let src = simulated(l)[0].pod_ips[0].parse().unwrap();
    let opts = RenderOptions::default();
    let env = render(l, Mode::Env, &opts).unwrap().text;
    let dns = render(l, Mode::Dns, &opts).unwrap().text;
    for svc in &l.table.services {
        assert!(
            svc.slices
                .iter()
                .any(|s| s.endpoints.iter().any(|e| e.ready)),
            "{} has no ready endpoints",
            svc.key()
        );
        let fqdn = format!("{}.{}.svc.cluster.local.", svc.name, svc.namespace);
        assert!(
            dns.contains(&format!("{fqdn} 5 IN A ")),
            "{fqdn} not in DNS"
        );
        let answer =
            libsvc::dns::resolve(l, &fqdn, QueryType::parse("A").unwrap(), &svc.namespace).unwrap();
        assert_eq!(answer.rcode, Rcode::NoError, "{fqdn}");
        if svc.headless {
            continue;
        }
        let var = format!(
            "{}_SERVICE_HOST=",
            svc.name.to_uppercase().replace('-', "_")
        );
        assert!(env.contains(&var), "{var} not in env");
        for port in &svc.ports {
            for mode in [Mode::Iptables, Mode::Nftables, Mode::Ipvs] {
                let packet = Packet {
                    src,
                    dst: svc.cluster_ips[0],
                    port: port.port,
                    in_interface: None,
                    protocol: Protocol::TCP,
                };
                let t = trace(l, mode, &packet).unwrap();
                assert!(
                    !t.endpoints.is_empty() && t.outcome != "REJECT",
                    "{mode:?}: {}:{} ends in {:?}",
                    svc.key(),
                    port.port,
                    t.outcome
                );
            }
            let text = render(l, Mode::Iptables, &opts).unwrap().text;
            assert!(!text.contains("has no endpoints"), "{text}");
        }
    }
}

// GoogleCloudPlatform/microservices-demo release/kubernetes-manifests.yaml:
// 12 Deployments, 12 Services (one LoadBalancer), no Pods.
#[test]
fn microservices_demo_has_endpoints_in_every_mode() {
    let l = load(
        &[Input::new(
            "microservices-demo.yaml",
            real("microservices-demo.yaml"),
        )],
        &Overrides::default(),
    );
    assert_eq!(l.objects.workloads.len(), 12);
    assert_eq!(l.table.services.len(), 12);
    every_service_has_endpoints_everywhere(&l);
}

// kubernetes/website content/en/examples/application/web/web.yaml: a
// StatefulSet behind a headless Service; its Pods resolve by name.
#[test]
fn statefulset_example_pod_names_resolve() {
    let l = load(
        &[Input::new("web.yaml", real("web.yaml"))],
        &Overrides::default(),
    );
    every_service_has_endpoints_everywhere(&l);
    for (name, ip) in [("web-0", "10.244.0.2"), ("web-1", "10.244.0.3")] {
        let q = format!("{name}.nginx.default.svc.cluster.local");
        let a = libsvc::dns::resolve(&l, &q, QueryType::parse("A").unwrap(), "default").unwrap();
        assert_eq!(a.rcode, Rcode::NoError, "{q}");
        assert_eq!(
            a.to_string().lines().last().unwrap(),
            format!("{q}. 5 IN A {ip}")
        );
    }
    // Short form from a pod of the namespace, as in the StatefulSet tutorial.
    let a =
        libsvc::dns::resolve(&l, "web-1.nginx", QueryType::parse("A").unwrap(), "default").unwrap();
    assert_eq!(a.rcode, Rcode::NoError);
}

fn workload_doc(kind: &str, name: &str, replicas: u8, node_sel: bool) -> String {
    let api = if kind == "ReplicationController" {
        "v1"
    } else {
        "apps/v1"
    };
    let selector = if kind == "ReplicationController" {
        format!("selector: {{app: {name}}}")
    } else {
        format!("selector: {{matchLabels: {{app: {name}}}}}")
    };
    let sel = if node_sel {
        "      nodeSelector: {zone: a}\n"
    } else {
        ""
    };
    format!(
        "---\napiVersion: {api}\nkind: {kind}\nmetadata: {{name: {name}}}\nspec:\n  replicas: {replicas}\n  serviceName: {name}\n  {selector}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n{sel}      containers: [{{name: c, ports: [{{name: p, containerPort: 80}}]}}]\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n  selector: {{app: {name}}}\n  ports: [{{port: 80, targetPort: p}}]\n"
    )
}

/// Workloads with distinct names (a duplicate is refused by the API server;
/// svcgen keeps the first in file order, which is order-dependent by design).
fn arb_docs() -> impl Strategy<Value = Vec<String>> {
    let kinds = prop::sample::select(vec![
        "Deployment",
        "ReplicaSet",
        "ReplicationController",
        "StatefulSet",
        "DaemonSet",
    ]);
    prop::collection::vec((kinds, 0u8..4, any::<bool>()), 0..6).prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (k, r, s))| workload_doc(k, &format!("w{i}"), r, s))
            .collect()
    })
}

fn arb_node() -> impl Strategy<Value = (bool, bool)> {
    (any::<bool>(), any::<bool>())
}

fn node_doc(n: u8, (zone, cidr): (bool, bool)) -> String {
    {
        let labels = if zone { "  labels: {zone: a}\n" } else { "" };
        let spec = if cidr {
            format!("spec:\n  podCIDR: 10.50.{n}.0/24\n")
        } else {
            String::new()
        };
        format!("---\napiVersion: v1\nkind: Node\nmetadata:\n  name: n{n}\n{labels}{spec}")
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    // Simulation is a function of the objects, not of document order
    // (Invariant 2), and never panics.
    #[test]
    fn simulation_is_deterministic_and_order_free(
        docs in arb_docs(),
        nodes in prop::collection::btree_map(0u8..4, arb_node(), 0..4),
        seed in any::<u64>(),
    ) {
        let mut all: Vec<String> = docs.into_iter().chain(nodes.into_iter().map(|(n, x)| node_doc(n, x))).collect();
        let text = all.concat();
        let a = load(&[Input::new("t.yaml", text.clone())], &Overrides::default());
        let again = load(&[Input::new("t.yaml", text)], &Overrides::default());
        prop_assert_eq!(placed(&a), placed(&again));
        // A rotation and a reversal of the documents.
        let k = (seed as usize) % all.len().max(1);
        all.rotate_left(k);
        all.reverse();
        let b = load(&[Input::new("t.yaml", all.concat())], &Overrides::default());
        let mut pa = placed(&a);
        let mut pb = placed(&b);
        pa.sort();
        pb.sort();
        prop_assert_eq!(pa, pb);
        // Pod names and addresses are unique.
        let names: std::collections::BTreeSet<_> = a.objects.pods.iter().map(|p| (p.meta.namespace().to_string(), p.meta.name.clone())).collect();
        prop_assert_eq!(names.len(), a.objects.pods.len());
        let ips: Vec<&String> = a.objects.pods.iter().flat_map(|p| &p.pod_ips).collect();
        let unique: std::collections::BTreeSet<_> = ips.iter().collect();
        prop_assert_eq!(unique.len(), ips.len());
        let _ = render(&a, Mode::Iptables, &RenderOptions::default());
    }
}
