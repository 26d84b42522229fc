//! The svcgen binary as a user calls it: exit codes, diagnostics with
//! locations, kubectl views of the examples (whole-output snapshots).

mod run;

use run::{root, stderr, stdout, svcgen, svcgen_stdin};
use std::path::PathBuf;
use std::process::Output;

#[test]
fn examples_are_valid() {
    let o = svcgen(&["validate", "-f", "examples/"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn a_broken_file_exits_1_with_file_line_col_and_a_caret() {
    let dir = tempdir("broken");
    let f = dir.join("svc.yaml");
    std::fs::write(
        &f,
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: abc\n",
    )
    .unwrap();
    let o = svcgen(&["validate", "-f", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let want = format!(
        "{}:7:11: error: spec.ports[0].port: Invalid type: expected integer, got string \"abc\"\n  |\n7 |   - port: abc\n  |           ^\n",
        f.display()
    );
    assert_eq!(out, want);
}

#[test]
fn validate_json_has_message_field_file_line_column() {
    let o = svcgen_stdin(
        &["validate", "-f", "-", "-o", "json"],
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: true\n",
    );
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let e = &v[0];
    assert_eq!(
        e["message"],
        "spec.ports[0].port: Invalid type: expected integer, got boolean true"
    );
    assert_eq!(e["field"], "spec.ports[0].port");
    assert_eq!(e["file"], "-");
    assert_eq!(
        (e["line"].as_u64(), e["column"].as_u64()),
        (Some(7), Some(11))
    );
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(svcgen(&["validate"]).status.code(), Some(2));
    assert_eq!(
        svcgen(&["render", "-f", "examples/", "--mode", "bogus"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(svcgen(&["nonsense"]).status.code(), Some(2));
}

#[test]
fn a_missing_file_is_an_error() {
    let o = svcgen(&["validate", "-f", "no/such/file.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no/such/file.yaml: cannot open"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn describe_redis_master() {
    let o = svcgen(&["describe", "service", "redis-master", "-f", "examples/"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    insta::assert_snapshot!("describe_redis_master", stdout(&o));
}

#[test]
fn describe_multi_port_and_headless() {
    let o = svcgen(&["describe", "svc", "multi-port", "-f", "examples/"]);
    insta::assert_snapshot!("describe_multi_port", stdout(&o));
    let o = svcgen(&[
        "describe",
        "svc",
        "nginx",
        "-f",
        "examples/headless-nginx.yaml",
    ]);
    insta::assert_snapshot!("describe_headless_nginx", stdout(&o));
    let o = svcgen(&["describe", "svc", "nope", "-f", "examples/"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "Error from server (NotFound): services \"nope\" not found\n"
    );
}

#[test]
fn get_views_of_the_examples() {
    insta::assert_snapshot!(
        "get_svc_all",
        stdout(&svcgen(&["get", "svc", "-A", "-f", "examples/"]))
    );
    insta::assert_snapshot!(
        "get_endpoints_all",
        stdout(&svcgen(&["get", "endpoints", "-A", "-f", "examples/"]))
    );
    insta::assert_snapshot!(
        "get_endpointslices",
        stdout(&svcgen(&[
            "get",
            "endpointslices",
            "-n",
            "default",
            "-f",
            "examples/"
        ]))
    );
    insta::assert_snapshot!(
        "cluster_info",
        stdout(&svcgen(&["cluster-info", "-f", "examples/"]))
    );
    let o = svcgen(&["get", "svc", "-n", "nothing-here", "-f", "examples/"]);
    assert_eq!(stdout(&o), "");
    assert_eq!(
        stderr(&o),
        "No resources found in nothing-here namespace.\n"
    );
}

/// The examples form one cluster: no two objects share kind, namespace and
/// name, and no two Services share a cluster IP or a node port.
#[test]
fn examples_form_one_consistent_cluster() {
    let mut inputs = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    for f in files {
        inputs.push(libsvc::Input::new(
            f.display().to_string(),
            std::fs::read_to_string(&f).unwrap(),
        ));
    }
    let loaded = libsvc::load(&inputs, &libsvc::Overrides::default());
    assert!(
        loaded.errors().next().is_none(),
        "{:#?}",
        loaded.diagnostics
    );
    let o = &loaded.objects;
    let mut keys = std::collections::BTreeSet::new();
    let mut add = |kind: &str, m: &libsvc::model::ObjectMeta| {
        assert!(
            keys.insert((kind.to_string(), m.namespace().to_string(), m.name.clone())),
            "duplicate {kind} {}/{}",
            m.namespace(),
            m.name
        );
    };
    o.services.iter().for_each(|x| add("Service", &x.meta));
    o.endpoints.iter().for_each(|x| add("Endpoints", &x.meta));
    o.endpoint_slices
        .iter()
        .for_each(|x| add("EndpointSlice", &x.meta));
    o.pods.iter().for_each(|x| add("Pod", &x.meta));
    o.nodes.iter().for_each(|x| add("Node", &x.meta));
    o.service_cidrs
        .iter()
        .for_each(|x| add("ServiceCIDR", &x.meta));
    let mut ips = std::collections::BTreeSet::new();
    let mut node_ports = std::collections::BTreeSet::new();
    for s in &loaded.table.services {
        for ip in &s.cluster_ips {
            assert!(ips.insert(*ip), "cluster IP {ip} used twice");
        }
        for p in s.ports.iter().filter_map(|p| p.node_port) {
            // The same node port may serve one port number over two protocols.
            let protocols: Vec<_> = s
                .ports
                .iter()
                .filter(|q| q.node_port == Some(p))
                .map(|q| q.port)
                .collect();
            assert!(
                node_ports.insert(p) || protocols.len() > 1,
                "node port {p} used twice"
            );
        }
        // Every example Service except ExternalName and the hand-fed one has endpoints.
        if s.external_name.is_none() {
            assert!(
                s.slices.iter().any(|sl| !sl.endpoints.is_empty()),
                "{} has no endpoints",
                s.key()
            );
        }
    }
}

#[test]
fn directories_are_read_sorted_and_recursion_is_opt_in() {
    let dir = tempdir("dirs");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    let svc = |name: &str| {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  clusterIP: 10.96.0.{}\n  ports:\n  - port: 80\n",
            name.len()
        )
    };
    std::fs::write(dir.join("b.yaml"), svc("bb")).unwrap();
    std::fs::write(dir.join("a.json"), "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"a\"},\"spec\":{\"clusterIP\":\"10.96.0.9\",\"ports\":[{\"port\":80}]}}").unwrap();
    std::fs::write(dir.join("notes.txt"), "not a manifest").unwrap();
    std::fs::write(dir.join("sub/c.yml"), svc("ccc")).unwrap();
    let d = dir.to_str().unwrap();
    let names = |o: &Output| {
        stdout(o)
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().next().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&svcgen(&["get", "svc", "-f", d])), ["a", "bb"]);
    assert_eq!(
        names(&svcgen(&["get", "svc", "-R", "-f", d])),
        ["a", "bb", "ccc"]
    );
    let single = dir.join("sub/c.yml");
    assert_eq!(
        names(&svcgen(&[
            "get",
            "svc",
            "-f",
            d,
            "-f",
            single.to_str().unwrap()
        ])),
        ["a", "bb", "ccc"]
    );
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("svcgen-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn discovery_outputs_of_the_examples() {
    let o = svcgen(&[
        "render",
        "-f",
        "examples/redis-master.yaml",
        "--mode",
        "env",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    insta::assert_snapshot!("env_redis_master", stdout(&o));
    insta::assert_snapshot!(
        "env_default_all",
        stdout(&svcgen(&[
            "render",
            "-f",
            "examples/",
            "--mode",
            "env",
            "-n",
            "default"
        ]))
    );
    insta::assert_snapshot!(
        "env_prod",
        stdout(&svcgen(&[
            "render",
            "-f",
            "examples/",
            "--mode",
            "env",
            "-n",
            "prod"
        ]))
    );
    insta::assert_snapshot!(
        "dns_all",
        stdout(&svcgen(&["render", "-f", "examples/", "--mode", "dns"]))
    );
    insta::assert_snapshot!(
        "resolv_default",
        stdout(&svcgen(&["render", "-f", "examples/", "--mode", "resolv"]))
    );
    insta::assert_snapshot!(
        "resolve_srv_http",
        stdout(&svcgen(&[
            "resolve",
            "_http._tcp.multi-port.default",
            "--type",
            "SRV",
            "-f",
            "examples/"
        ]))
    );
    insta::assert_snapshot!(
        "resolve_kubia",
        stdout(&svcgen(&["resolve", "kubia", "-f", "examples/"]))
    );
    insta::assert_snapshot!(
        "resolve_externalname",
        stdout(&svcgen(&[
            "resolve",
            "my-service.prod",
            "--type",
            "CNAME",
            "-f",
            "examples/"
        ]))
    );
    let o = svcgen(&["resolve", "nothing-here", "-f", "examples/"]);
    assert!(stdout(&o).contains("NXDOMAIN"), "{}", stdout(&o));
}

/// The node-setting flags: `--detect-local-mode` / `--pod-bridge-interface`
/// (kube-proxy's own flags, pkg/proxy/util/localdetector.go
/// `NewDetectLocalByBridgeInterface`) reach the rules, and `trace
/// --in-interface` feeds the interface detector.
#[test]
fn detect_local_flags_and_in_interface() {
    let manifest = r#"
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {clusterIP: 10.96.0.10, ports: [{port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: "", port: 80, protocol: TCP}]
endpoints: [{addresses: [10.244.1.5], conditions: {ready: true}}]
"#;
    let flags = [
        "-f",
        "-",
        "--detect-local-mode",
        "BridgeInterface",
        "--pod-bridge-interface",
        "cbr0",
        "--ip-family",
        "IPv4",
    ];
    let with = |head: &[&str], tail: &[&str]| -> Output {
        let args: Vec<&str> = head.iter().chain(&flags).chain(tail).copied().collect();
        svcgen_stdin(&args, manifest)
    };
    let o = with(&["render", "--mode", "iptables"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(" ! -i cbr0 -j KUBE-MARK-MASQ"),
        "{}",
        stdout(&o)
    );
    let trace = ["trace", "--mode", "nftables", "--src", "10.244.1.9"];
    let to = ["--dst", "10.96.0.10", "--port", "80"];
    let from_bridge: Vec<&str> = to
        .iter()
        .copied()
        .chain(["--in-interface", "cbr0"])
        .collect();
    let o = with(&trace, &from_bridge);
    assert!(
        stdout(&o).contains("(in cbr0)"),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    assert!(stdout(&o).contains("masquerade: no"), "{}", stdout(&o));
    let o = with(&trace, &to);
    assert!(stdout(&o).contains("masquerade: yes"), "{}", stdout(&o));
}

/// `get pods` prints kubectl's pod table (pkg/printers/internalversion/
/// printers.go printPod, wide columns included); the Pods simulated from
/// the workloads of examples/shop.yaml are named on stderr, and
/// `--no-simulate` leaves them out.
#[test]
fn get_pods_shows_simulated_pods_as_kubectl_would() {
    let o = svcgen(&["get", "pods", "-n", "shop", "-o", "wide", "-f", "examples/"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    insta::assert_snapshot!("get_pods_shop_wide", stdout(&o));
    assert!(
        stderr(&o).contains("note: 4 of 8 Pod(s) are simulated from their workloads"),
        "{}",
        stderr(&o)
    );
    insta::assert_snapshot!(
        "get_pods_default",
        stdout(&svcgen(&["get", "pods", "-f", "examples/"]))
    );
    let one = svcgen(&["get", "pod", "db-1", "-n", "shop", "-f", "examples/"]);
    assert_eq!(
        stdout(&one),
        "NAME   READY   STATUS    RESTARTS   AGE\ndb-1   1/1     Running   0          <unknown>\n"
    );
    let missing = svcgen(&["get", "pod", "db-9", "-n", "shop", "-f", "examples/"]);
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(
        stderr(&missing),
        "Error from server (NotFound): pods \"db-9\" not found\n"
    );
    let off = svcgen(&[
        "get",
        "pods",
        "-n",
        "shop",
        "--no-simulate",
        "-f",
        "examples/",
    ]);
    // Only the Pods written in the input (examples/topology-aware.yaml) are left.
    assert!(!stdout(&off).contains("db-0"), "{}", stdout(&off));
    assert!(!stdout(&off).contains("frontend-"), "{}", stdout(&off));
    assert!(stdout(&off).contains("shop-a1"), "{}", stdout(&off));
    // Without simulation the shop's Services have no endpoints, and nothing
    // warns: their selectors match the workloads' templates.
    let eps = svcgen(&[
        "get",
        "endpoints",
        "-n",
        "shop",
        "--no-simulate",
        "-f",
        "examples/",
    ]);
    assert!(
        stdout(&eps).contains("frontend   <none>"),
        "{}",
        stdout(&eps)
    );
}

/// A selector that matches nothing and a named targetPort no selected Pod
/// defines are warnings at their line:col, on stderr of every output.
#[test]
fn why_a_service_has_no_endpoints_is_said_at_the_selector() {
    let dir = tempdir("why");
    let f = dir.join("app.yaml");
    std::fs::write(
        &f,
        "apiVersion: v1\nkind: Service\nmetadata: {name: api}\nspec:\n  selector: {app: apii}\n  ports: [{port: 80}]\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  selector: {matchLabels: {app: api}}\n  template:\n    metadata: {labels: {app: api}}\n    spec:\n      containers: [{name: c, ports: [{containerPort: 80}]}]\n",
    )
    .unwrap();
    let o = svcgen(&["render", "--mode", "env", "-f", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    let err = stderr(&o);
    assert!(
        err.contains("app.yaml:5:13: warning: selector app=apii matches nothing in the input; in namespace default, Pods and workload templates carry app=api"),
        "{err}"
    );
}

/// A real workload-backed app (libsvc/tests/data/real/microservices-demo.yaml,
/// see SOURCE.md there): every Service has endpoints on simulated Pods,
/// whole outputs pinned.
#[test]
fn microservices_demo_end_to_end() {
    let f = "libsvc/tests/data/real/microservices-demo.yaml";
    insta::assert_snapshot!(
        "microservices_demo_pods_wide",
        stdout(&svcgen(&["get", "pods", "-o", "wide", "-f", f]))
    );
    let eps = svcgen(&["get", "endpoints", "-f", f]);
    assert!(!stdout(&eps).contains("<none>"), "{}", stdout(&eps));
    insta::assert_snapshot!("microservices_demo_endpoints", stdout(&eps));
}

/// Objects of kinds svcgen does not use: one summary line; each with -v. A
/// document without kind found in a directory is skipped, named it is an
/// error.
#[test]
fn skipped_objects_are_summed_up_and_listed_with_verbose() {
    let dir = tempdir("skipped");
    std::fs::write(
        dir.join("app.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: conf\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  clusterIP: 10.96.0.5\n  ports:\n  - port: 80\n",
    )
    .unwrap();
    std::fs::write(dir.join("kustomization.yaml"), "resources:\n- app.yaml\n").unwrap();
    let d = dir.to_str().unwrap();
    let o = svcgen(&["validate", "-f", d]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");
    assert_eq!(
        stderr(&o),
        "info: skipped 2 objects svcgen does not use: 1 ConfigMap, 1 without kind; -v lists them\n1 Service(s) valid\n"
    );
    let o = svcgen(&["validate", "-v", "-f", d]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let app = dir.join("app.yaml");
    let kust = dir.join("kustomization.yaml");
    assert_eq!(
        stderr(&o),
        format!(
            "{}:1:1: info: skipped ConfigMap conf (v1): svcgen does not use this kind\n  |\n1 | apiVersion: v1\n  | ^\n\
             {}:1:1: info: skipped a document without kind: not a Kubernetes object (found in a directory; named with -f it would be an error)\n  |\n1 | resources:\n  | ^\n\
             info: skipped 2 objects svcgen does not use: 1 ConfigMap, 1 without kind; -v lists them\n1 Service(s) valid\n",
            app.display(),
            kust.display()
        )
    );
    // render prints the summary line; each object's note only with -v.
    let o = svcgen(&["render", "--mode", "env", "-f", d]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        "info: skipped 2 objects svcgen does not use: 1 ConfigMap, 1 without kind; -v lists them\n"
    );
    let o = svcgen(&["render", "--mode", "env", "-v", "-f", d]);
    assert!(
        stderr(&o).contains("info: skipped ConfigMap conf (v1)"),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("info: skipped 2 objects"),
        "{}",
        stderr(&o)
    );
    // Named explicitly, a file without kind is an error.
    let o = svcgen(&["validate", "-f", kust.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("error: kind: Required value"),
        "{}",
        stdout(&o)
    );
}
