//! The agent's sync loop against a real kernel, in network namespaces:
//! a file change reaches the kernel as a small delta; start-up with one
//! refused file programs everything else; SIGTERM during a sync waits for
//! its tool and leaves the old or the new state whole; `--log-format json`.
//! Needs root (as `agent_e2e`); without it the tests pass vacuously.

mod common;

use common::{Guard, Netns, SVCGEN, TmpDir, require_root, unique};
use std::path::Path;
use std::time::{Duration, Instant};

/// One Service and its EndpointSlice, one file.
fn service(name: &str, ip: &str, endpoint: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  clusterIP: {ip}\n  ports: [{{port: 80}}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: {name}-1, namespace: default, labels: {{kubernetes.io/service-name: {name}}}}}\naddressType: IPv4\nports: [{{port: 80}}]\nendpoints: [{{addresses: [{endpoint}]}}]\n"
    )
}

/// `n` Services, one file each: s<i> at 10.96.<i/250>.<i%250+1>, endpoint 10.244.<…>.
fn write_cluster(dir: &Path, n: usize) {
    for i in 0..n {
        let ip = format!("10.96.{}.{}", i / 250, i % 250 + 1);
        let ep = format!("10.244.{}.{}", i / 250, i % 250 + 1);
        std::fs::write(
            dir.join(format!("s{i}.yaml")),
            service(&format!("s{i}"), &ip, &ep),
        )
        .unwrap();
    }
}

const FLAGS: [&str; 4] = [
    "--service-cidr",
    "10.96.0.0/16",
    "--node-ip",
    "192.168.50.1",
];

fn args<'a>(mode: &'a str, dir: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![SVCGEN, "agent", "--mode", mode, "--watch", dir];
    a.extend(FLAGS);
    a.extend(extra);
    a
}

/// The JSON log lines with `msg` == `msg`.
fn json_lines(log: &Path, msg: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["msg"] == msg)
        .collect()
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A changed file reaches the kernel as kube-proxy's partial sync does:
/// only the changed Service's chains (pkg/proxy/nftables/proxier.go and
/// pkg/proxy/iptables/proxier.go, `syncProxyRules` with `doFullSync`
/// false), in bytes far fewer than the start-up's full sync. The log is
/// JSON (`--log-format json`) with the same fields as logfmt.
fn delta(mode: &str) {
    if !require_root() {
        return;
    }
    let ns = Netns::new(&format!("{}-delta", unique()));
    let tmp = TmpDir::new("delta");
    let dir = tmp.0.join("m");
    std::fs::create_dir_all(&dir).unwrap();
    write_cluster(&dir, 300);
    let log = tmp.0.join("agent.log");
    let d = dir.display().to_string();
    let _agent = Guard(
        ns.command(&args(mode, &d, &["--log-format", "json"]))
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_for("the start-up sync", 60, || {
        !json_lines(&log, "synced").is_empty()
    });
    let first = json_lines(&log, "synced")[0].clone();
    assert_eq!(first["kind"], "full", "{first}");
    assert_eq!(first["reason"], "start-up", "{first}");
    let full_bytes = first["bytes"].as_u64().unwrap();
    // One Service's endpoint moves.
    std::fs::write(
        dir.join("s7.yaml"),
        service("s7", "10.96.0.8", "10.244.99.99"),
    )
    .unwrap();
    wait_for("the partial sync", 10, || {
        json_lines(&log, "synced").len() > 1
    });
    let second = json_lines(&log, "synced")[1].clone();
    assert_eq!(second["kind"], "partial", "{second}");
    assert_eq!(second["reason"], "changes", "{second}");
    let bytes = second["bytes"].as_u64().unwrap();
    assert!(
        bytes > 0 && bytes * 100 < full_bytes && bytes < 2000,
        "a one-Service change sent {bytes} bytes (the full sync {full_bytes})"
    );
    assert!(second["rules_added"].as_u64().unwrap() > 0, "{second}");
    let dump = match mode {
        "nftables" => ns.exec(&["nft", "list", "ruleset"]),
        _ => ns.exec(&["iptables-save", "-t", "nat"]),
    };
    assert!(dump.contains("10.244.99.99"), "not in the kernel:\n{dump}");
    assert!(
        !dump.contains("10.244.0.8:80"),
        "old endpoint left:\n{dump}"
    );
    // A removed file takes its Service out.
    std::fs::remove_file(dir.join("s9.yaml")).unwrap();
    wait_for("the removal", 10, || json_lines(&log, "synced").len() > 2);
    let dump = match mode {
        "nftables" => ns.exec(&["nft", "list", "ruleset"]),
        _ => ns.exec(&["iptables-save", "-t", "nat"]),
    };
    assert!(
        !dump.contains("10.96.0.10 "),
        "removed Service left:\n{dump}"
    );
}

#[test]
fn nftables_change_is_a_small_delta() {
    delta("nftables");
}

#[test]
fn iptables_change_is_a_small_delta() {
    delta("iptables");
}

/// Start-up with one file kube-apiserver refuses (a cluster IP equal to
/// its CIDR's network address) programs every other Service; the file is
/// named, and `--once` says that not everything went in (exit 1).
#[test]
fn start_up_with_one_bad_file_programs_everything_else() {
    if !require_root() {
        return;
    }
    let ns = Netns::new(&format!("{}-badfile", unique()));
    let tmp = TmpDir::new("badfile");
    write_cluster(&tmp.0, 3);
    std::fs::write(
        tmp.0.join("zz-bad.yaml"),
        service("bad", "10.96.0.0", "10.244.9.9"),
    )
    .unwrap();
    let d = tmp.0.display().to_string();
    let out = ns
        .command(&args("nftables", &d, &["--once"]))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("held back") && stderr.contains("zz-bad.yaml:5:"),
        "{stderr}"
    );
    let dump = ns.exec(&["nft", "list", "ruleset"]);
    for ip in ["10.96.0.1 ", "10.96.0.2 ", "10.96.0.3 "] {
        assert!(dump.contains(ip), "{ip} not programmed:\n{dump}");
    }
    assert!(!dump.contains("10.244.9.9"), "{dump}");
}

/// The children of `pid` whose command is `comm`.
fn children(pid: u32, comm: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid …
        let Some((head, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let name = head.split_once(" (").map_or("", |(_, n)| n);
        let ppid: u32 = rest
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        if ppid == pid && name == comm {
            out.extend(
                head.split_whitespace()
                    .next()
                    .and_then(|p| p.parse::<u32>().ok()),
            );
        }
    }
    out
}

/// SIGTERM while `iptables-restore` programs the start-up sync: the agent
/// waits for the tool (it is not left running), then exits 0; the kernel
/// holds the whole new state or none of it.
#[test]
fn sigterm_during_a_sync_waits_for_the_tool() {
    if !require_root() {
        return;
    }
    let ns = Netns::new(&format!("{}-sigterm", unique()));
    let tmp = TmpDir::new("sigterm");
    let dir = tmp.0.join("m");
    std::fs::create_dir_all(&dir).unwrap();
    write_cluster(&dir, 2000);
    let log = tmp.0.join("agent.log");
    let d = dir.display().to_string();
    let mut agent = ns
        .command(&args("iptables", &d, &[]))
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let pid = agent.id();
    // Catch the tool at work.
    let deadline = Instant::now() + Duration::from_secs(120);
    let tool = loop {
        if let Some(t) = children(pid, "iptables-restor").first() {
            break *t;
        }
        assert!(
            Instant::now() < deadline,
            "no iptables-restore seen; log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let status = agent.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "{status}: {text}");
    assert!(
        !Path::new(&format!("/proc/{tool}")).exists(),
        "iptables-restore {tool} outlived the agent"
    );
    assert!(text.contains("agent stopping"), "{text}");
    let chains = ns
        .exec(&["iptables-save", "-t", "nat"])
        .lines()
        .filter(|l| l.starts_with(":KUBE-SVC-"))
        .count();
    assert!(
        chains == 0 || chains == 2000,
        "{chains} of 2000 Service chains: half applied\n{text}"
    );
}
