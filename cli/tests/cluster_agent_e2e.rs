//! End to end: fake kube-apiserver → `svcgen agent --source api` → kernel →
//! real traffic, in the network namespaces of `common::Lab` (root only;
//! without root the test says so and passes vacuously, as the other kernel
//! tests do).
//!
//! The fake API server listens on 127.0.0.1 *inside* the node namespace (its
//! socket is made there with setns(2)), where the agent runs; the test
//! changes the cluster through it and measures how long an EndpointSlice
//! change takes to reach the kernel.

mod common;
#[path = "common/fake_api.rs"]
mod fake_api;

use common::*;
use fake_api::FakeApi;
use serde_json::{Value, json};
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const WEB: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);
const NODE_PORT: u16 = 30080;

/// A TCP listener on 127.0.0.1 in the network namespace `ns`.
fn listener_in(ns: &str) -> std::net::TcpListener {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let f = std::fs::File::open(&path).unwrap();
        // SAFETY: setns on this short-lived thread only; the fd is valid.
        let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns {path}: {}", std::io::Error::last_os_error());
        std::net::TcpListener::bind("127.0.0.1:0").unwrap()
    })
    .join()
    .unwrap()
}

/// The scenario's objects as the API server stores them.
fn objects(s: &Scenario) -> Vec<Value> {
    let mut out = vec![json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "node"},
        "status": {"addresses": [{"type": "InternalIP", "address": NODE_IP.to_string()}]}})];
    for svc in &s.services {
        let mut port =
            json!({"name": "p80", "port": 80, "targetPort": BACKEND_PORT, "protocol": "TCP"});
        if let Some(np) = svc.node_port {
            port["nodePort"] = np.into();
        }
        out.push(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": svc.name, "namespace": "default"},
            "spec": {"type": if svc.node_port.is_some() { "NodePort" } else { "ClusterIP" },
                "clusterIP": svc.cluster_ip.to_string(), "clusterIPs": [svc.cluster_ip.to_string()],
                "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                "sessionAffinity": if svc.affinity { "ClientIP" } else { "None" },
                "selector": {"app": svc.name}, "ports": [port]}}));
        let endpoints: Vec<Value> = svc
            .endpoints
            .iter()
            .map(|ip| json!({"addresses": [ip.to_string()], "conditions": {"ready": true}}))
            .collect();
        out.push(
            json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": format!("{}-1", svc.name), "namespace": "default",
                "labels": {"kubernetes.io/service-name": svc.name}},
            "addressType": "IPv4",
            "ports": [{"name": "p80", "port": BACKEND_PORT, "protocol": "TCP"}],
            "endpoints": endpoints}),
        );
    }
    out
}

/// The cluster as the agent's source: writing a scenario changes the
/// objects on the fake API server.
struct Api {
    api: FakeApi,
    kubeconfig: PathBuf,
}

impl RuleSource for Api {
    fn name(&self) -> &'static str {
        "the Kubernetes API (fake server)"
    }
    fn agent_args(&self) -> Vec<String> {
        [
            "--source",
            "api",
            "--kubeconfig",
            self.kubeconfig.to_str().unwrap(),
            "--node-name",
            "node",
            "--cluster-cidr",
            CLUSTER_CIDR,
        ]
        .map(String::from)
        .to_vec()
    }
    fn write(&self, _: &Path, _: Mode, s: &Scenario) {
        for o in objects(s) {
            self.api.apply(o);
        }
    }
}

fn scenario(web_endpoints: &[Ipv4Addr]) -> Scenario {
    let mut web = Svc::new("web", WEB, web_endpoints);
    web.node_port = Some(NODE_PORT);
    Scenario {
        services: vec![web],
    }
}

fn api_to_kernel(mode: Mode) {
    if !require_root() {
        return;
    }
    let mut lab = Lab::new();
    let api = FakeApi::start_on(listener_in(&lab.node.0), Vec::new());
    let kdir = std::env::temp_dir().join(format!("svcgen-e2e-kubeconfig-{}", unique()));
    std::fs::create_dir_all(&kdir).unwrap();
    let kubeconfig = api.kubeconfig(&kdir);
    let source = Api { api, kubeconfig };
    source.write(&lab.dir, mode, &scenario(&[B1_IP, B2_IP]));
    lab.start_agent(
        mode,
        &source,
        &["--sync-period", "1h", "--min-sync-period", "0s"],
    );
    lab.wait_syncs(0, 30);

    // The Service from the API works: ClusterIP and NodePort, both endpoints.
    lab.expect_backends(WEB, 80, 40, &["b1", "b2"], "ClusterIP");
    lab.expect_backends(NODE_IP, NODE_PORT, 30, &["b1", "b2"], "NodePort");

    // An EndpointSlice change through the API reaches the kernel.
    let n = lab.syncs();
    let t0 = Instant::now();
    source.write(&lab.dir, mode, &scenario(&[B1_IP]));
    lab.wait_syncs(n, 10);
    let synced = t0.elapsed();
    lab.expect_backends(WEB, 80, 30, &["b1"], "after removing b2");
    eprintln!(
        "{}: EndpointSlice change via the API to the kernel: {:.1} ms",
        mode.name(),
        synced.as_secs_f64() * 1e3
    );

    // A watch the server breaks, then a change: still followed.
    source.api.break_watches();
    let n = lab.syncs();
    source.write(&lab.dir, mode, &scenario(&[B2_IP]));
    lab.wait_syncs(n, 10);
    lab.expect_backends(WEB, 80, 20, &["b2"], "after the broken watch");

    // 410 Gone: the agent relists and keeps the ruleset meanwhile.
    source.api.compact();
    lab.expect_backends(WEB, 80, 10, &["b2"], "during the relist");
    let n = lab.syncs();
    source.write(&lab.dir, mode, &scenario(&[B1_IP, B2_IP]));
    lab.wait_syncs(n, 15);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answers = lab.client_connects(WEB, 80, 30);
        if names(&answers) == ["b1", "b2"] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after the relist: {:?}\n{}",
            tally(&answers),
            lab.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    lab.stop_agent();
    let _ = std::fs::remove_dir_all(source.kubeconfig.parent().unwrap());
}

#[test]
fn nftables_api_to_kernel() {
    api_to_kernel(Mode::Nftables);
}

#[test]
fn iptables_api_to_kernel() {
    api_to_kernel(Mode::Iptables);
}
