//! `--cluster`: svcgen reading a (fake) kube-apiserver.
//!
//! The done-when of issue 13: every output of a subcommand run with
//! `--cluster` against the fake server is byte for byte the output of the
//! same subcommand run with `-f` on the same objects saved as YAML. And the
//! failures a kubectl user meets, in kubectl's words.

#[path = "common/fake_api.rs"]
mod fake_api;
#[path = "common/cluster_fixture.rs"]
mod fixture;

use fake_api::FakeApi;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const SVCGEN: &str = env!("CARGO_BIN_EXE_svcgen");

struct Dir(PathBuf);

impl Dir {
    fn new(what: &str) -> Dir {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p =
            std::env::temp_dir().join(format!("svcgen-cluster-{what}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// svcgen with no kubeconfig of the user's own in reach.
fn svcgen(home: &Path, args: &[&str]) -> Output {
    Command::new(SVCGEN)
        .args(args)
        .env_remove("KUBECONFIG")
        .env("HOME", home)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

/// svcgen with `args` and `--cluster --kubeconfig` of `api`'s kubeconfig in `dir`.
fn from_cluster(api: &FakeApi, dir: &Path, args: &[&str]) -> Output {
    let kubeconfig = api.kubeconfig(dir);
    let mut all = args.to_vec();
    all.extend(["--cluster", "--kubeconfig", kubeconfig.to_str().unwrap()]);
    svcgen(dir, &all)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The objects the server holds, saved as `kubectl get -o yaml` would
/// (one List per kind), and the ConfigMap's config.conf as its own file.
fn save_as_yaml(api: &FakeApi, dir: &Path) -> Vec<String> {
    let objects = api.objects();
    let mut files = Vec::new();
    for kind in ["Service", "EndpointSlice", "Pod", "Node", "ServiceCIDR"] {
        let items: Vec<_> = objects
            .iter()
            .filter(|o| o["kind"] == kind)
            .cloned()
            .collect();
        let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
        let p = dir.join(format!("{kind}.yaml"));
        std::fs::write(&p, serde_saphyr::to_string(&list).unwrap()).unwrap();
        files.push(p.display().to_string());
    }
    if let Some(cm) = objects
        .iter()
        .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == "kube-proxy")
    {
        let p = dir.join("config.conf");
        std::fs::write(&p, cm["data"]["config.conf"].as_str().unwrap()).unwrap();
        files.push(p.display().to_string());
    }
    files
}

/// Runs `args` with `--cluster` and with `-f` on the saved YAML; both must
/// succeed with the same stdout.
fn same_output(api: &FakeApi, dir: &Path, args: &[&str]) -> String {
    let files = save_as_yaml(api, dir);
    let mut from_files: Vec<&str> = args.to_vec();
    for f in &files {
        from_files.extend(["-f", f]);
    }
    let c = from_cluster(api, dir, args);
    let f = svcgen(dir, &from_files);
    assert!(
        c.status.success(),
        "{args:?} --cluster: {}{}",
        text(&c.stdout),
        text(&c.stderr)
    );
    assert!(
        f.status.success(),
        "{args:?} -f: {}{}",
        text(&f.stdout),
        text(&f.stderr)
    );
    assert!(!c.stdout.is_empty(), "{args:?}: empty output");
    assert_eq!(
        text(&c.stdout),
        text(&f.stdout),
        "{args:?}: --cluster and -f differ"
    );
    text(&c.stdout)
}

/// Issue 13's done-when, for every mode and the kubectl views.
#[test]
fn cluster_output_is_the_output_of_the_same_objects_as_yaml() {
    let api = FakeApi::start(fixture::cluster());
    let dir = Dir::new("same");
    let runs: &[&[&str]] = &[
        &["render", "--node-name", "node-2", "--mode", "nftables"],
        &["render", "--node-name", "node-2", "--mode", "iptables"],
        &["render", "--node-name", "node-1", "--mode", "ipvs"],
        &[
            "render",
            "--node-name",
            "node-2",
            "--mode",
            "nftables",
            "-o",
            "json",
        ],
        &["render", "--mode", "env", "-n", "shop"],
        &["render", "--mode", "dns"],
        &["render", "--mode", "resolv", "-n", "shop"],
        &["validate", "-o", "json"],
        &["get", "svc", "-A"],
        &["get", "svc", "-A", "-o", "yaml"],
        &["get", "endpoints", "-A"],
        &["get", "endpointslices", "-A"],
        &["get", "pods", "-A", "-o", "wide"],
        &["describe", "svc", "web", "-n", "shop"],
        &["resolve", "web.shop", "--namespace", "shop"],
        &["cluster-info"],
        &[
            "trace",
            "--node-name",
            "node-2",
            "--mode",
            "nftables",
            "--src",
            "10.244.2.9",
            "--dst",
            "10.96.0.20",
            "--port",
            "80",
        ],
    ];
    for args in runs {
        same_output(&api, &dir.0, args);
    }
    // The rules do come from the objects: the Service's endpoints are there.
    let nft = same_output(
        &api,
        &dir.0,
        &["render", "--node-name", "node-2", "--mode", "nftables"],
    );
    assert!(
        nft.contains("10.96.0.20") && nft.contains("10.244.1.10"),
        "{nft}"
    );
    // The ConfigMap's KubeProxyConfiguration is read: its clusterCIDR makes
    // the local-traffic masquerade rule.
    let ipt = same_output(
        &api,
        &dir.0,
        &["render", "--node-name", "node-2", "--mode", "iptables"],
    );
    assert!(ipt.contains("! -s 10.244.0.0/16"), "{ipt}");
}

/// Without --node-name, the node assumed is said on stderr.
#[test]
fn the_node_assumed_is_said() {
    let api = FakeApi::start(fixture::cluster());
    let dir = Dir::new("node");
    let out = from_cluster(&api, &dir.0, &["render", "--mode", "nftables"]);
    assert!(out.status.success());
    assert!(
        text(&out.stderr).contains(
            "info: no --node-name: assuming Node \"node-1\", the first of 2; pick the node with --node-name NAME"
        ),
        "{}",
        text(&out.stderr)
    );
    let out = from_cluster(
        &api,
        &dir.0,
        &["render", "--mode", "nftables", "--node-name", "node-1"],
    );
    assert!(!text(&out.stderr).contains("no --node-name"));
}

/// KUBECONFIG and --context are honoured as kubectl honours them.
#[test]
fn kubeconfig_env_and_context() {
    let api = FakeApi::start(fixture::cluster());
    let dir = Dir::new("ctx");
    let k = api.kubeconfig(&dir.0);
    let run = |extra: &[&str], env: Option<&Path>| {
        let mut c = Command::new(SVCGEN);
        c.args(["get", "svc", "-A", "--cluster"])
            .args(extra)
            .env_remove("KUBECONFIG")
            .env("HOME", &dir.0);
        if let Some(e) = env {
            // A missing file in the list is skipped, as client-go does.
            c.env(
                "KUBECONFIG",
                std::env::join_paths([dir.0.join("nope"), e.to_path_buf()]).unwrap(),
            );
        }
        c.output().unwrap()
    };
    let out = run(&[], Some(&k));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("web"));
    let out = run(&["--context", "other"], Some(&k));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(&["--context", "missing"], Some(&k));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "svcgen: context was not found for specified context: missing\n"
    );
}

/// The errors a kubectl user knows.
#[test]
fn errors_in_kubectls_words() {
    let dir = Dir::new("errors");
    // No kubeconfig anywhere: client-go's ErrEmptyConfig.
    let out = svcgen(&dir.0, &["get", "svc", "--cluster"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with(
            "svcgen: invalid configuration: no configuration has been provided, try setting KUBERNETES_MASTER environment variable"
        ),
        "{}",
        text(&out.stderr)
    );
    // An explicit --kubeconfig that does not exist.
    let missing = dir.0.join("missing");
    let out = svcgen(
        &dir.0,
        &[
            "get",
            "svc",
            "--cluster",
            "--kubeconfig",
            missing.to_str().unwrap(),
        ],
    );
    assert_eq!(
        text(&out.stderr),
        format!(
            "svcgen: stat {}: no such file or directory\n",
            missing.display()
        )
    );
    // A server nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let k = dir.0.join("refused");
    std::fs::write(
        &k,
        format!("apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: \"http://127.0.0.1:{port}\"}}}}]\ncontexts: [{{name: c, context: {{cluster: c, user: u}}}}]\ncurrent-context: c\nusers: [{{name: u, user: {{token: t}}}}]\n"),
    )
    .unwrap();
    let out = svcgen(
        &dir.0,
        &[
            "get",
            "svc",
            "--cluster",
            "--kubeconfig",
            k.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!(
            "svcgen: The connection to the server 127.0.0.1:{port} was refused - did you specify the right host or port?\n"
        )
    );
}

/// RBAC: the server's Forbidden, and the rule that is missing.
#[test]
fn forbidden_names_the_missing_rbac_rule() {
    let api = FakeApi::start(fixture::cluster());
    api.forbid("endpointslices");
    let dir = Dir::new("forbidden");
    let out = from_cluster(&api, &dir.0, &["render", "--mode", "nftables"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "svcgen: Error from server (Forbidden): endpointslices.discovery.k8s.io is forbidden: User \"system:serviceaccount:kube-system:svcgen\" cannot list resource \"endpointslices\" in API group \"discovery.k8s.io\" at the cluster scope\n  svcgen needs the RBAC rule apiGroups: [\"discovery.k8s.io\"], resources: [\"endpointslices\"], verbs: [\"list\"]\n"
    );
    assert!(out.stdout.is_empty(), "no half output");
}

/// A credential the server does not accept: kubectl's words for 401
/// (k8s.io/kubectl/pkg/cmd/util/helpers.go `StandardErrorMessage`), exit 1,
/// no output; the token the kubeconfig names is the one sent.
#[test]
fn unauthorized_in_kubectls_words() {
    let api = FakeApi::start(fixture::cluster());
    let dir = Dir::new("unauthorized");
    let args = ["render", "--mode", "nftables", "--node-name", "node-1"];
    api.require_token("another-token");
    let out = from_cluster(&api, &dir.0, &args);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "svcgen: error: You must be logged in to the server (Unauthorized)\n"
    );
    assert!(out.stdout.is_empty(), "no half output");
    api.require_token("fake-token");
    let out = from_cluster(&api, &dir.0, &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("add table ip kube-proxy"));
}

/// A server without networking.k8s.io/v1 ServiceCIDRs (before 1.33), or a
/// role that may not read them or the kube-proxy ConfigMap: skipped.
#[test]
fn optional_kinds_are_skipped_gracefully() {
    let api = FakeApi::start(fixture::cluster());
    api.remove_api("servicecidrs");
    api.forbid("configmaps");
    let dir = Dir::new("optional");
    let out = from_cluster(
        &api,
        &dir.0,
        &["render", "--mode", "iptables", "--node-name", "node-1"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("info: cannot read ConfigMap kube-system/kube-proxy (forbidden): kube-proxy's defaults apply"),
        "{err}"
    );
    assert!(!err.contains("servicecidrs"), "{err}");
}

/// A slow server is waited for.
#[test]
fn a_slow_server_is_waited_for() {
    let api = FakeApi::start(fixture::cluster());
    api.set_delay(Duration::from_millis(1500));
    let dir = Dir::new("slow");
    same_output(&api, &dir.0, &["get", "svc", "-A"]);
}

/// `--request-timeout` bounds each request as kubectl's flag does: a server
/// slower than that is an error (exit 1, no output) well before it would
/// have answered; a bad value gets clientcmd's `ParseTimeout` words.
#[test]
fn a_request_timeout_gives_up_on_a_slow_server() {
    let api = FakeApi::start(fixture::cluster());
    api.set_delay(Duration::from_secs(5));
    let dir = Dir::new("timeout");
    let args = |t| ["get", "svc", "-A", "--request-timeout", t];
    let start = std::time::Instant::now();
    let out = from_cluster(&api, &dir.0, &args("1s"));
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with("svcgen: Unable to connect to the server: "),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "no half output");
    let out = from_cluster(&api, &dir.0, &args("2x"));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("error: Invalid timeout value. Timeout must be a single integer in seconds, or an integer followed by a corresponding time unit (e.g. 1s | 2m | 3h)"),
        "{}",
        text(&out.stderr)
    );
}

/// 10k Pods come in pages of 500 (client-go's pager), and a continue token
/// that expired mid-way falls back to one full list.
#[test]
fn a_flood_is_paged_and_an_expired_continue_relists() {
    let mut objects = fixture::cluster();
    objects.extend(fixture::pods(10_000));
    let api = FakeApi::start(objects);
    let dir = Dir::new("flood");
    let out = same_output(&api, &dir.0, &["get", "pods", "-A"]);
    let total = 10_000 + fixture::cluster_pods();
    assert_eq!(out.lines().count(), 1 + total, "header + pods");
    let pages = api
        .requests()
        .iter()
        .filter(|r| r.starts_with("/api/v1/pods?"))
        .count();
    assert_eq!(pages, total.div_ceil(500));

    api.compact();
    api.expire_continue_tokens();
    let out = from_cluster(&api, &dir.0, &["get", "pods", "-A"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 1 + total);
    assert!(api.requests().iter().any(|r| r == "/api/v1/pods"));
}

/// Issue 14's `svcgen check --cluster --rules DUMP`: a node's dump against
/// what the cluster's objects give, now; a change in the cluster the node
/// has not programmed is drift.
#[test]
fn check_a_dump_against_the_cluster() {
    let api = FakeApi::start(fixture::cluster());
    let dir = Dir::new("check");
    let k = api.kubeconfig(&dir.0);
    let k = k.to_str().unwrap();
    let node = ["--node-name", "node-2", "--cluster", "--kubeconfig", k];
    let mut render = vec!["render", "--mode", "iptables", "--with-jumps"];
    render.extend(node);
    let out = svcgen(&dir.0, &render);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let dump = dir.0.join("node-2.iptables-save");
    std::fs::write(&dump, &out.stdout).unwrap();
    let mut check = vec![
        "check",
        "--mode",
        "iptables",
        "--rules",
        dump.to_str().unwrap(),
    ];
    check.extend(node);
    let out = svcgen(&dir.0, &check);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    // An endpoint goes away in the cluster; the node still has it.
    let mut web = api
        .objects()
        .into_iter()
        .find(|o| o["kind"] == "EndpointSlice" && o["metadata"]["name"] == "web-abcde")
        .unwrap();
    web["endpoints"].as_array_mut().unwrap().pop();
    api.apply(web);
    let out = svcgen(&dir.0, &check);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(
        report.contains("shop/web:http") && report.contains("10.244.2.11"),
        "{report}"
    );
}
