//! kubectl-shaped output and the CLI edges of issue 16: `get -o json|yaml`
//! objects, AGE, `-f` from a pipe, `trace --help`, one family's payload,
//! values that cannot be programmed, the cluster DNS address of a dump,
//! and the "say why" messages.

mod run;

use run::{root, stderr, stdout, svcgen, svcgen_stdin};
use std::process::{Command, Output};

const DUMP: &str = "libsvc/tests/data/real/cluster-dump-172-20.yaml";

fn ok(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(o), stderr(o));
    stdout(o)
}

#[test]
fn get_objects_of_the_examples() {
    let yaml = |res: &str| {
        ok(&svcgen(&[
            "get",
            res,
            "-A",
            "-f",
            "examples/",
            "-o",
            "yaml",
        ]))
    };
    insta::assert_snapshot!("get_svc_yaml", yaml("svc"));
    insta::assert_snapshot!("get_endpoints_yaml", yaml("endpoints"));
    insta::assert_snapshot!("get_endpointslices_yaml", yaml("endpointslices"));
    insta::assert_snapshot!("get_pods_yaml", yaml("pods"));
    let json = |res: &str| {
        ok(&svcgen(&[
            "get",
            res,
            "-A",
            "-f",
            "examples/",
            "-o",
            "json",
        ]))
    };
    insta::assert_snapshot!("get_svc_json", json("svc"));
    // Endpoints are the Endpoints controller's objects, not the Services.
    let eps: serde_json::Value = serde_json::from_str(&json("endpoints")).unwrap();
    assert_eq!(eps["kind"], "List");
    assert!(
        eps["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["kind"] == "Endpoints")
    );
    assert_ne!(json("endpoints"), json("svc"));
}

#[test]
fn get_one_object_by_name_and_by_label() {
    let one = ok(&svcgen(&[
        "get",
        "svc",
        "kubia",
        "-f",
        "examples/",
        "-o",
        "json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&one).unwrap();
    assert_eq!(
        (v["kind"].as_str(), v["metadata"]["name"].as_str()),
        (Some("Service"), Some("kubia"))
    );
    // kubectl -o json: four spaces, keys sorted.
    assert!(
        one.starts_with("{\n    \"apiVersion\": \"v1\",\n    \"kind\": \"Service\",\n"),
        "{one}"
    );

    let o = svcgen(&[
        "get",
        "svc",
        "-A",
        "-l",
        "k8s-app=kube-dns",
        "-f",
        "examples/",
    ]);
    let text = ok(&o);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.contains("kube-dns"));
    let o = svcgen(&[
        "get",
        "svc",
        "-A",
        "-l",
        "k8s-app in (nope)",
        "-f",
        "examples/",
    ]);
    assert_eq!(ok(&o), "");
    assert_eq!(stderr(&o), "No resources found\n");
}

#[test]
fn age_comes_from_creation_timestamp() {
    let o = svcgen(&["get", "svc", "-A", "-f", DUMP]);
    let text = ok(&o);
    let row = text.lines().find(|l| l.contains("kube-dns")).unwrap();
    let age = row.split_whitespace().last().unwrap();
    // Created 2024-03-18: at least two years, in HumanDuration's `NyMd` form.
    assert!(
        age.ends_with('d') && age.contains('y') && age != "<unknown>",
        "{row}"
    );
    let text = ok(&svcgen(&["get", "svc", "kubia", "-f", "examples/"]));
    assert!(
        text.lines().nth(1).unwrap().ends_with("<unknown>"),
        "{text}"
    );
}

#[test]
fn a_cluster_dump_reads_as_stored_objects() {
    // The dump's own DNS Service is the pod's nameserver (kubeadm/EKS set
    // kubelet's --cluster-dns to it).
    let o = svcgen(&["render", "--mode", "resolv", "-f", DUMP]);
    assert_eq!(
        ok(&o),
        "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 172.20.0.10\noptions ndots:5\n"
    );
    // A flag overrides it.
    let o = svcgen(&[
        "render",
        "--mode",
        "resolv",
        "-f",
        DUMP,
        "--cluster-dns",
        "169.254.20.10",
    ]);
    assert!(ok(&o).contains("nameserver 169.254.20.10\n"));
    // Without kube-dns in the input: the tenth address of the service CIDR.
    let o = svcgen(&["render", "--mode", "resolv", "-f", "examples/kubia.yaml"]);
    assert!(ok(&o).contains("nameserver 10.96.0.10\n"));
    insta::assert_snapshot!(
        "dump_get_svc_yaml",
        ok(&svcgen(&["get", "svc", "-A", "-f", DUMP, "-o", "yaml"]))
    );
}

#[test]
fn input_comes_from_a_pipe_without_f() {
    let manifest = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  clusterIP: 10.96.0.50\n  ports: [{port: 80}]\n";
    let o = svcgen_stdin(&["render", "--mode", "env"], manifest);
    assert!(ok(&o).starts_with("WEB_SERVICE_HOST=10.96.0.50\n"));
    // An empty pipe is no input at all.
    let o = svcgen_stdin(&["validate"], "");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no input"), "{}", stderr(&o));
}

#[test]
fn trace_help_lists_only_the_modes_that_trace() {
    let help = ok(&svcgen(&["trace", "--help"]));
    let modes: Vec<&str> = help
        .split("--mode <MODE>\n")
        .nth(1)
        .and_then(|rest| rest.split("--src <IP>").next())
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- "))
        .map(|l| l.split(':').next().unwrap())
        .collect();
    assert_eq!(modes, ["iptables", "nftables", "ipvs"], "{help}");
    for mode in ["env:", "dns:", "resolv:"] {
        assert!(!help.contains(mode), "{mode} in:\n{help}");
    }
    let o = svcgen(&[
        "trace",
        "-f",
        "examples/",
        "--mode",
        "env",
        "--src",
        "10.0.0.1",
        "--dst",
        "10.96.0.1",
        "--port",
        "443",
    ]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn one_family_input_prints_one_payload() {
    let o = svcgen(&["render", "--mode", "iptables", "-f", "examples/"]);
    let text = ok(&o);
    assert!(!text.lines().any(|l| l.starts_with('#')), "{text}");
    assert!(text.starts_with("*filter\n"), "{text}");
    assert_eq!(text.matches("*nat\n").count(), 1);
    let text = ok(&svcgen(&[
        "render",
        "--mode",
        "nftables",
        "-f",
        "examples/",
    ]));
    assert!(!text.contains(" ip6 "), "{text}");

    let dual = "apiVersion: v1\nkind: Service\nmetadata: {name: ds}\nspec:\n  ipFamilyPolicy: PreferDualStack\n  clusterIPs: [10.96.0.60, 'fd00::60']\n  ports: [{port: 80}]\n";
    let o = svcgen_stdin(
        &[
            "render",
            "--mode",
            "iptables",
            "-f",
            "-",
            "--service-cidr",
            "10.96.0.0/12",
            "--service-cidr",
            "fd00::/108",
        ],
        dual,
    );
    let text = ok(&o);
    assert!(text.starts_with("# iptables-restore\n"), "{text}");
    assert!(text.contains("\n# ip6tables-restore\n"));
    assert!(
        stderr(&o).contains("give --ip-family IPv4 or --ip-family IPv6"),
        "{}",
        stderr(&o)
    );
    let o = svcgen_stdin(
        &[
            "render",
            "--mode",
            "iptables",
            "-f",
            "-",
            "--service-cidr",
            "10.96.0.0/12",
            "--service-cidr",
            "fd00::/108",
            "--ip-family",
            "IPv6",
        ],
        dual,
    );
    let text = ok(&o);
    assert!(!text.contains('#') && text.contains("fd00::60"), "{text}");
}

const UNPROGRAMMABLE: &str = "apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  clusterIP: 10.96.0.50
  type: NodePort
  externalIPs: [192.0.2.7, not-an-ip]
  ports:
  - name: bad
    port: 80800
  - name: good
    port: 80
    nodePort: 30080
  - name: badtarget
    port: 81
    targetPort: 70000
  - name: badnodeport
    port: 82
    nodePort: 99999
";

/// A value that does not fit its field is never written as another value:
/// the port (or the address) is left out of every output, with an error at
/// its line:col (resolve/mod.rs `programmable_port`).
#[test]
fn values_that_cannot_be_programmed_are_left_out_of_every_mode() {
    for mode in ["iptables", "nftables", "ipvs", "env", "dns"] {
        let o = svcgen_stdin(
            &[
                "render",
                "--mode",
                mode,
                "-f",
                "-",
                "--node-ip",
                "192.168.0.2",
            ],
            UNPROGRAMMABLE,
        );
        let text = ok(&o);
        for bad in [
            ":0 ",
            "dport 0 ",
            "=0\n",
            "80800",
            "70000",
            "99999",
            "14464",
            "4464",
            "34463",
            "not-an-ip",
        ] {
            assert!(!text.contains(bad), "{mode}: {bad:?} in\n{text}");
        }
        // The good port is there.
        assert!(text.contains("80"), "{mode}:\n{text}");
        let err = stderr(&o);
        for want in [
            "-:10:11: warning: spec.ports[0].port: 80800 is not a port number (0-65535) and cannot be programmed",
            "-:16:17: warning: spec.ports[2].targetPort: 70000 is not a port number",
            "-:19:15: warning: spec.ports[3].nodePort: 99999 is not a port number",
            "-:7:28: warning: spec.externalIPs[1]: \"not-an-ip\" is not an IP address and cannot be programmed",
        ] {
            assert!(err.contains(want), "{mode}: {want}\n{err}");
        }
    }
    let env = ok(&svcgen_stdin(
        &["render", "--mode", "env", "-f", "-"],
        UNPROGRAMMABLE,
    ));
    insta::assert_snapshot!("unprogrammable_env", env);
    // --strict fails the run.
    let o = svcgen_stdin(
        &["render", "--mode", "env", "--strict", "-f", "-"],
        UNPROGRAMMABLE,
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "");
    // get -o yaml shows the Service without them.
    let yaml = ok(&svcgen_stdin(
        &["get", "svc", "web", "-f", "-", "-o", "yaml"],
        UNPROGRAMMABLE,
    ));
    assert!(
        !yaml.contains("80800") && !yaml.contains("not-an-ip"),
        "{yaml}"
    );
}

#[test]
fn a_cluster_ip_that_does_not_parse_is_not_replaced() {
    let svc = "apiVersion: v1\nkind: Service\nmetadata: {name: badip}\nspec:\n  clusterIP: 10.96.0.300\n  ports: [{port: 80}]\n";
    let o = svcgen_stdin(&["render", "--mode", "env", "-f", "-"], svc);
    assert_eq!(ok(&o), "");
    assert!(stderr(&o).contains("-:5:14: warning: spec.clusterIP: \"10.96.0.300\" is not an IP address and cannot be programmed"), "{}", stderr(&o));
    let o = svcgen_stdin(&["render", "--mode", "iptables", "-f", "-"], svc);
    assert!(!ok(&o).contains("badip"), "{}", stdout(&o));
}

/// Say why: a name asked for in the wrong namespace says where it is.
#[test]
fn a_name_in_another_namespace_says_where_it_is() {
    let o = svcgen(&["describe", "svc", "kubia", "-n", "prod", "-f", "examples/"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "Error from server (NotFound): services \"kubia\" not found\nsvcgen: Service \"kubia\" is not in namespace \"prod\"; it is in namespace \"default\" (give -n default)\n"
    );
    let o = svcgen(&["get", "svc", "kubia", "-n", "prod", "-f", "examples/"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("it is in namespace \"default\" (give -n default)"));
    let o = svcgen(&["resolve", "kubia", "-n", "prod", "-f", "examples/"]);
    assert!(
        ok(&o).contains(";; note: Service \"kubia\" is not in namespace \"prod\"; it is in namespace \"default\" (give -n default)\n"),
        "{}",
        stdout(&o)
    );
    let pods = "apiVersion: v1\nkind: Pod\nmetadata: {name: client, namespace: prod}\nspec:\n  containers: [{name: c, image: busybox}]\n";
    let o = svcgen_stdin(
        &[
            "render", "--mode", "env", "--pod", "client", "-n", "default", "-f", "-",
        ],
        pods,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("Pod \"client\" is not in namespace \"default\"; it is in namespace \"prod\" (give -n prod)"),
        "{}",
        stderr(&o)
    );
}

/// Say why: node ports with no node address to listen on (IPVS binds a
/// virtual server per node address).
#[test]
fn node_ports_without_a_node_ip_say_so() {
    let o = svcgen(&[
        "render",
        "--mode",
        "ipvs",
        "-f",
        "examples/hello-world.yaml",
    ]);
    ok(&o);
    assert!(
        stderr(&o).contains("warning: no rules for the node ports of 1 service port(s): default/hello-world (30080/TCP): no IPv4 node address is known for them to listen on; give --node-ip IP, or a Node with an InternalIP address in the input"),
        "{}",
        stderr(&o)
    );
    let o = svcgen(&[
        "render",
        "--mode",
        "ipvs",
        "-f",
        "examples/hello-world.yaml",
        "--node-ip",
        "192.168.0.2",
    ]);
    assert!(ok(&o).contains("192.168.0.2:30080"));
    assert!(!stderr(&o).contains("node ports"), "{}", stderr(&o));
}

/// Say why: a dual-stack Service on a single-stack cluster names the flags.
#[test]
fn dual_stack_on_a_single_stack_cluster_names_the_flags() {
    let svc = "apiVersion: v1\nkind: Service\nmetadata: {name: ds}\nspec:\n  ipFamilyPolicy: RequireDualStack\n  selector: {app: x}\n  ports: [{port: 80}]\n";
    let o = svcgen_stdin(&["validate", "-f", "-"], svc);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("-:5:19: warning: Service default/ds asks for IPv6, but the cluster's service CIDRs are IPv4 only; to render it as a dual-stack cluster would, give both families: --service-cidr 10.96.0.0/12 --service-cidr fd00:10:96::/112 (or a ServiceCIDR object with both)"),
        "{}",
        stderr(&o)
    );
    let o = svcgen_stdin(
        &[
            "validate",
            "-f",
            "-",
            "--service-cidr",
            "10.96.0.0/12",
            "--service-cidr",
            "fd00:10:96::/112",
        ],
        svc,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// `get -o json` of the examples and of the cluster dump passes the
/// Kubernetes 1.37 OpenAPI schemas (PyPI's kubernetes-validate, strict:
/// no unknown field). Skipped when the tool is not installed.
#[test]
fn get_output_passes_the_kubernetes_schemas() {
    if Command::new("kubernetes-validate")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("kubernetes-validate not installed: schema check skipped");
        return;
    }
    let o = Command::new("scripts/check-schemas.sh")
        .env("SVCGEN", env!("CARGO_BIN_EXE_svcgen"))
        .current_dir(root())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).is_empty() || !stderr(&o).contains("ERROR"),
        "{}",
        stderr(&o)
    );
}
