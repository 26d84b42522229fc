//! End-to-end tests of `svcgen agent` with real traffic in network
//! namespaces this test creates (see `common`). They need root, iproute2,
//! nftables, iptables and python3; CI runs them as root.
//!
//! The rule source is libsvc's render when the renderer for the mode exists,
//! hand-written kube-proxy-format text otherwise (`common::source_for`).

mod common;

use common::*;
use std::net::Ipv4Addr;
use std::time::Duration;

const WEB: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);
const STICKY: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 11);
const EMPTY: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 12);
const NODE_PORT: u16 = 30080;

fn scenario(web_endpoints: &[Ipv4Addr]) -> Scenario {
    let mut web = Svc::new("web", WEB, web_endpoints);
    web.node_port = Some(NODE_PORT);
    let mut sticky = Svc::new("sticky", STICKY, &[B1_IP, B2_IP]);
    sticky.affinity = true;
    Scenario {
        services: vec![web, sticky, Svc::new("empty", EMPTY, &[])],
    }
}

/// Rules of other programs, which the agent must leave byte for byte alone.
fn add_foreign_rules(ns: &Netns) {
    let out = ns.exec_with(
        &["nft", "-f", "-"],
        "add table inet foreign\n\
         add chain inet foreign input { type filter hook input priority 10 ; }\n\
         add rule inet foreign input ip saddr 203.0.113.7 counter drop\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = ns.exec_with(
        &["iptables-restore", "--noflush"],
        "*filter\n:FOREIGN - [0:0]\n-A FOREIGN -s 203.0.113.8/32 -j DROP\n-A INPUT -j FOREIGN\nCOMMIT\n\
         *nat\n-A PREROUTING -s 203.0.113.9/32 -j RETURN\nCOMMIT\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn foreign(ns: &Netns) -> String {
    format!("{}{}", foreign_nft(ns), foreign_iptables(ns))
}

fn traffic(mode: Mode) {
    if !require_root() {
        return;
    }
    let source = source_for(mode);
    eprintln!("{}: rule source: {}", mode.name(), source.name());
    let mut lab = Lab::new();
    add_foreign_rules(&lab.node);
    let foreign_before = foreign(&lab.node);

    source.write(&lab.dir, mode, &scenario(&[B1_IP, B2_IP]));
    lab.start_agent(
        mode,
        &*source,
        &["--sync-period", "1h", "--metrics-addr", "127.0.0.1:19099"],
    );
    lab.wait_syncs(0, 30);

    // ClusterIP spreads new connections over both endpoints.
    lab.expect_backends(WEB, 80, 40, &["b1", "b2"], "ClusterIP");

    // NodePort from an off-node client.
    lab.expect_backends(NODE_IP, NODE_PORT, 30, &["b1", "b2"], "NodePort");

    // ClientIP affinity sticks to one endpoint.
    let answers = lab.client_connects(STICKY, 80, 20);
    assert_eq!(tally(&answers).len(), 1, "affinity: {:?}", tally(&answers));
    assert!(
        answers[0] == "b1" || answers[0] == "b2",
        "affinity: {answers:?}"
    );

    // A service without endpoints rejects at once (no timeout).
    assert_eq!(lab.client_connects(EMPTY, 80, 1), ["REFUSED"]);

    // Removing an endpoint stops traffic to it within one sync.
    let n = lab.syncs();
    source.write(&lab.dir, mode, &scenario(&[B1_IP]));
    lab.wait_syncs(n, 10);
    lab.expect_backends(WEB, 80, 30, &["b1"], "after removing b2");

    // Adding it back brings traffic to it.
    let n = lab.syncs();
    source.write(&lab.dir, mode, &scenario(&[B1_IP, B2_IP]));
    lab.wait_syncs(n, 10);
    lab.expect_backends(WEB, 80, 40, &["b1", "b2"], "after adding b2");
    let log = lab.log_text();
    assert!(
        log.contains("kind=partial"),
        "file changes should sync partially:\n{log}"
    );

    // Metrics and health, scraped from inside the node.
    let scrape = lab.node.exec(&[
        "python3",
        "-c",
        "import urllib.request as u\nfor p in ('/metrics','/healthz'):\n print(u.urlopen('http://127.0.0.1:19099'+p, timeout=5).read().decode())",
    ]);
    assert!(
        scrape.contains("svcgen_agent_syncs_total{result=\"success\"} 3"),
        "{scrape}"
    );
    assert!(
        scrape.contains("svcgen_agent_sync_duration_seconds_count 3"),
        "{scrape}"
    );
    assert!(
        scrape.contains("svcgen_agent_rules{family=\"ipv4\"}"),
        "{scrape}"
    );
    assert!(scrape.ends_with("ok\n\n"), "{scrape}");

    assert_eq!(foreign(&lab.node), foreign_before, "foreign rules changed");

    // cleanup leaves nothing of ours, and the foreign rules as they were.
    lab.stop_agent();
    assert!(!ours(&lab.node).is_empty());
    lab.node
        .exec(&[SVCGEN, "agent", "cleanup", "--mode", mode.name()]);
    assert_eq!(ours(&lab.node), "", "cleanup left rules behind");
    assert_eq!(
        foreign(&lab.node),
        foreign_before,
        "cleanup changed foreign rules"
    );
}

#[test]
fn nftables_traffic_sync_ownership_cleanup() {
    traffic(Mode::Nftables);
}

#[test]
fn iptables_traffic_sync_ownership_cleanup() {
    traffic(Mode::Iptables);
}

/// A scenario of `n` services with two endpoints each; `shift` moves the endpoints.
fn big(n: u32, shift: u8) -> Scenario {
    Scenario {
        services: (0..n)
            .map(|i| {
                let ip = Ipv4Addr::new(10, 96, (i >> 8) as u8 + 1, i as u8);
                let ep =
                    |k: u8| Ipv4Addr::new(10, 244, (i % 200) as u8 + 10, k.wrapping_add(shift));
                let mut s = Svc::new(&format!("svc-{i}"), ip, &[ep(1), ep(2)]);
                s.affinity = i % 10 == 0;
                s
            })
            .collect(),
    }
}

/// The kernel state of the agent, per table (one string per table).
fn state(ns: &Netns, mode: Mode) -> Vec<String> {
    match mode {
        Mode::Nftables => vec![ns.exec(&["nft", "list", "table", "ip", "kube-proxy"])],
        Mode::Iptables => iptables_save(ns)
            .split("COMMIT\n")
            .map(String::from)
            .collect(),
    }
}

fn once(ns: &Netns, dir: &std::path::Path, mode: Mode, source: &dyn RuleSource) {
    let dir = dir.display().to_string();
    let mut args = vec![
        SVCGEN,
        "agent",
        "--mode",
        mode.name(),
        "--watch",
        &dir,
        "--once",
    ];
    let extra = source.agent_args();
    args.extend(extra.iter().map(String::as_str));
    let out = ns.command(&args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn kill_mid_apply(mode: Mode) {
    if !require_root() {
        return;
    }
    let source = source_for(mode);
    let ns = Netns::new(&format!("{}-kill", unique()));
    let tmp = TmpDir::new("kill");
    let dir = tmp.0.clone();
    let (a, b) = (big(1500, 0), big(1500, 100));
    let started = std::time::Instant::now();
    source.write(&dir, mode, &a);
    once(&ns, &dir, mode, &*source);
    let state_a = state(&ns, mode);
    source.write(&dir, mode, &b);
    once(&ns, &dir, mode, &*source);
    let state_b = state(&ns, mode);
    let apply_ms = (started.elapsed().as_millis() / 2).max(20) as u64;
    assert_ne!(state_a, state_b);
    let (mut mixed_tables, mut reached_new) = (0, 0);
    for i in 0..16u64 {
        // Alternate, so that every apply has work to do.
        let target = if i % 2 == 0 { &state_a } else { &state_b };
        source.write(&dir, mode, if i % 2 == 0 { &a } else { &b });
        let d = dir.display().to_string();
        let mut args = vec![
            SVCGEN,
            "agent",
            "--mode",
            mode.name(),
            "--watch",
            &d,
            "--once",
        ];
        let extra = source.agent_args();
        args.extend(extra.iter().map(String::as_str));
        let mut child = ns
            .command(&args)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Spread the kill over the whole apply.
        std::thread::sleep(Duration::from_millis(apply_ms * (i + 1) / 16));
        kill_group(&mut child);
        // The tool the agent had started finishes its transaction alone.
        ns.wait_for_tools();
        if mode == Mode::Nftables {
            // The kernel lists objects in creation order; the agent's own
            // dry run compares canonical listings.
            let is_a = no_changes(&ns, &dir, mode, &*source, &a);
            let is_b = !is_a && no_changes(&ns, &dir, mode, &*source, &b);
            assert!(
                is_a || is_b,
                "iteration {i}: the table is neither the old nor the new state"
            );
            if (i % 2 == 0) == is_a {
                reached_new += 1;
            }
            continue;
        }
        let now = state(&ns, mode);
        for (t, table) in now.iter().enumerate() {
            assert!(
                table == &state_a[t] || table == &state_b[t],
                "iteration {i}: table {t} is neither the old nor the new state"
            );
        }
        if now != state_a && now != state_b {
            mixed_tables += 1;
        }
        if &now == target {
            reached_new += 1;
        }
    }
    eprintln!(
        "{}: of 16 killed applies, {reached_new} had committed the new state, {} left the old one, {mixed_tables} left whole tables of different generations",
        mode.name(),
        16 - reached_new - mixed_tables
    );
}

/// The `+` and `-` lines of a dry run's diffs.
fn changes(dry_run: &str) -> usize {
    dry_run
        .lines()
        .filter(|l| {
            (l.starts_with('+') && !l.starts_with("+++ "))
                || (l.starts_with('-') && !l.starts_with("--- "))
        })
        .count()
}

/// Does `svcgen agent --dry-run` find nothing to change for scenario `s`?
fn no_changes(
    ns: &Netns,
    dir: &std::path::Path,
    mode: Mode,
    source: &dyn RuleSource,
    s: &Scenario,
) -> bool {
    source.write(dir, mode, s);
    let d = dir.display().to_string();
    let mut args = vec![
        SVCGEN,
        "agent",
        "--mode",
        mode.name(),
        "--watch",
        &d,
        "--once",
        "--dry-run",
    ];
    let extra = source.agent_args();
    args.extend(extra.iter().map(String::as_str));
    let out = ns.command(&args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let same = out.status.success() && stdout.contains("(no changes)") && changes(&stdout) == 0;
    if !same {
        let diff: Vec<&str> = stdout.lines().take(40).collect();
        eprintln!(
            "dry run against {} services:\n{}\n{}",
            s.services.len(),
            diff.join("\n"),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    same
}

#[test]
fn nftables_kill_during_apply_leaves_old_or_new() {
    kill_mid_apply(Mode::Nftables);
}

#[test]
fn iptables_kill_during_apply_leaves_old_or_new() {
    kill_mid_apply(Mode::Iptables);
}

fn dry_run(mode: Mode) {
    if !require_root() {
        return;
    }
    let source = source_for(mode);
    let ns = Netns::new(&format!("{}-dry", unique()));
    let tmp = TmpDir::new("dry");
    let dir = tmp.0.clone();
    source.write(&dir, mode, &scenario(&[B1_IP, B2_IP]));
    let d = dir.display().to_string();
    let extra = source.agent_args();
    let mut args = vec![
        SVCGEN,
        "agent",
        "--mode",
        mode.name(),
        "--watch",
        &d,
        "--once",
        "--dry-run",
    ];
    args.extend(extra.iter().map(String::as_str));
    let before = ours(&ns);
    let out = ns.command(&args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // From manifests, svcgen check's comparison (per Service port); from
    // rule text, a line diff.
    assert!(
        (stdout.contains("+++ would apply") && changes(&stdout) > 0)
            || (stdout.contains("drift: ") && stdout.contains("not programmed")),
        "{stdout}"
    );
    assert!(stdout.contains("10.96.0.10"), "{stdout}");
    assert_eq!(ours(&ns), before, "--dry-run changed the kernel");
    once(&ns, &dir, mode, &*source);
    let out = ns.command(&args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("(no changes)") && changes(&stdout) == 0,
        "{stdout}"
    );
    source.write(&dir, mode, &scenario(&[B1_IP]));
    let out = ns.command(&args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.lines().any(|l| l.contains("10.244.2.2")
            && (l.starts_with('-') || l.contains("programmed but not"))),
        "{stdout}"
    );
}

#[test]
fn nftables_dry_run_prints_diff_and_changes_nothing() {
    dry_run(Mode::Nftables);
}

#[test]
fn iptables_dry_run_prints_diff_and_changes_nothing() {
    dry_run(Mode::Iptables);
}

/// A failed apply keeps the previous state and is retried; bad manifests
/// are reported with file:line:col and change nothing.
fn failures(mode: Mode) {
    if !require_root() {
        return;
    }
    let mut lab = Lab::new();
    let hand = HandWritten;
    hand.write(&lab.dir, mode, &scenario(&[B1_IP, B2_IP]));
    lab.start_agent(mode, &hand, &["--sync-period", "1h"]);
    lab.wait_syncs(0, 30);
    let good = state(&lab.node, mode);
    // Rule text the kernel refuses: the apply fails, the kernel keeps its state.
    let broken = match mode {
        Mode::Nftables => format!(
            "{}add rule ip kube-proxy services no-such-expression 1\n",
            nft_text(&scenario(&[B1_IP]))
        ),
        Mode::Iptables => iptables_text(&scenario(&[B1_IP]))
            .replace("-j KUBE-MARK-MASQ\n", "-j KUBE-NO-SUCH-CHAIN\n"),
    };
    let file = match mode {
        Mode::Nftables => "rules.nft",
        Mode::Iptables => "rules.iptables",
    };
    std::fs::write(lab.dir.join(file), broken).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !lab.log_text().contains("msg=retrying") {
        assert!(
            std::time::Instant::now() < deadline,
            "no retry logged:\n{}",
            lab.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        state(&lab.node, mode),
        good,
        "a failed apply changed the kernel"
    );
    assert_eq!(names(&lab.client_connects(WEB, 80, 30)), ["b1", "b2"]);
    // Fixing the file recovers.
    let n = lab.syncs();
    hand.write(&lab.dir, mode, &scenario(&[B1_IP]));
    lab.wait_syncs(n, 10);
    assert_eq!(names(&lab.client_connects(WEB, 80, 20)), ["b1"]);
    lab.stop_agent();

    // Manifests that do not parse: reported with file:line:col, nothing changes.
    let good = state(&lab.node, mode);
    std::fs::write(
        lab.dir.join("bad.yaml"),
        "apiVersion: v1\nkind: Service\nmetadata: {name: x\n",
    )
    .unwrap();
    let d = lab.dir.display().to_string();
    let out = lab
        .node
        .command(&[
            SVCGEN,
            "agent",
            "--mode",
            mode.name(),
            "--watch",
            &d,
            "--once",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("manifests rejected") && stderr.contains("bad.yaml:"),
        "{stderr}"
    );
    let located = stderr.lines().any(|l| {
        l.split("bad.yaml:")
            .nth(1)
            .is_some_and(|r| r.split(':').take(2).all(|n| n.parse::<u32>().is_ok()))
    });
    assert!(located, "no file:line:col in {stderr}");
    assert_eq!(state(&lab.node, mode), good);
}

#[test]
fn nftables_failures_keep_last_good_state() {
    failures(Mode::Nftables);
}

#[test]
fn iptables_failures_keep_last_good_state() {
    failures(Mode::Iptables);
}

#[test]
fn ipvs_without_kernel_support_is_reported_plainly() {
    if !require_root() || std::path::Path::new("/proc/net/ip_vs").exists() {
        return;
    }
    let ns = Netns::new(&format!("{}-ipvs", unique()));
    let tmp = TmpDir::new("ipvs");
    let dir = tmp.0.clone();
    let d = dir.display().to_string();
    let out = ns
        .command(&[SVCGEN, "agent", "--mode", "ipvs", "--watch", &d, "--once"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("this kernel has no IPVS"), "{stderr}");
}

/// The `key=value` of a log line.
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .unwrap_or("?")
}

/// Not a pass/fail test: prints how long a file change takes to reach the
/// kernel at 1k and 10k services, and how many bytes are applied.
/// `cargo test -p svcgen --test agent_e2e measure -- --ignored --nocapture`
#[test]
#[ignore]
fn measure_sync_latency() {
    if !require_root() {
        return;
    }
    for mode in [Mode::Nftables, Mode::Iptables] {
        let source = source_for(mode);
        for n in [1000, 10_000] {
            let ns = Netns::new(&format!("{}-measure", unique()));
            let tmp = TmpDir::new("measure");
            let dir = tmp.0.clone();
            let log_path = dir.with_extension("log");
            let d = dir.display().to_string();
            let mut scen = big(n, 0);
            let start = std::time::Instant::now();
            source.write(&dir, mode, &scen);
            let mut args = vec![
                SVCGEN,
                "agent",
                "--mode",
                mode.name(),
                "--watch",
                &d,
                "--poll-interval",
                "50ms",
                "--sync-period",
                "1h",
            ];
            let extra = source.agent_args();
            args.extend(extra.iter().map(String::as_str));
            let log = std::fs::File::create(&log_path).unwrap();
            let _agent = Guard(ns.command(&args).stderr(log).spawn().unwrap());
            let synced = |k: usize| -> (String, Duration) {
                let deadline = std::time::Instant::now() + Duration::from_secs(900);
                loop {
                    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
                    if let Some(l) = text.lines().filter(|l| l.contains("msg=synced")).nth(k) {
                        return (l.to_string(), start.elapsed());
                    }
                    assert!(!text.contains("level=error"), "{text}");
                    assert!(std::time::Instant::now() < deadline, "no sync: {text}");
                    std::thread::sleep(Duration::from_millis(5));
                }
            };
            let (first, _) = synced(0);
            let file_bytes: u64 = std::fs::read_dir(&dir)
                .unwrap()
                .flatten()
                .map(|e| e.metadata().unwrap().len())
                .sum();
            // Change one service's endpoints.
            scen.services[n as usize / 2].endpoints[0] = Ipv4Addr::new(10, 244, 250, 9);
            let t0 = start.elapsed();
            source.write(&dir, mode, &scen);
            let (second, t1) = synced(1);
            println!(
                "{} {n} services ({}; input {} bytes): start-up full sync {} bytes in {} ms; one service changed: {} sync, {} bytes, sync {} ms (of which reading and rendering {} ms), file change -> kernel programmed {:.0} ms",
                mode.name(),
                source.name(),
                file_bytes,
                field(&first, "bytes"),
                field(&first, "duration_ms"),
                field(&second, "kind"),
                field(&second, "bytes"),
                field(&second, "duration_ms"),
                field(&second, "render_ms"),
                (t1 - t0).as_secs_f64() * 1e3
            );
            let _ = std::fs::remove_file(&log_path);
        }
    }
}
