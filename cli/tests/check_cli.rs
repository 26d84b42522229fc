//! `svcgen check`: a node's dump against the manifests, as a user calls it.

mod run;

use run::svcgen_stdin as svcgen;
use std::process::Output;

fn render(mode: &str) -> String {
    let o = svcgen(
        &[
            "render",
            "-f",
            "examples/hello-world.yaml",
            "--mode",
            mode,
            "--node-ip",
            "192.168.0.2",
            "--with-jumps",
        ],
        "",
    );
    assert!(o.status.success());
    String::from_utf8(o.stdout).unwrap()
}

fn check(mode: &str, dump: &str, json: bool) -> Output {
    let mut args = vec![
        "check",
        "--mode",
        mode,
        "--rules",
        "-",
        "-f",
        "examples/hello-world.yaml",
        "--node-ip",
        "192.168.0.2",
    ];
    if json {
        args.extend(["-o", "json"]);
    }
    svcgen(&args, dump)
}

#[test]
fn in_sync_exits_0_and_drift_exits_1() {
    for mode in ["iptables", "nftables"] {
        let dump = render(mode);
        let o = check(mode, &dump, false);
        assert_eq!(o.status.code(), Some(0), "{mode}: {o:?}");
        assert!(String::from_utf8_lossy(&o.stdout).starts_with("in sync: "));
    }
    let dump = render("iptables");
    let drift = dump.replacen("--to-destination 10.244.", "--to-destination 10.245.", 1);
    let o = check("iptables", &drift, true);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["in_sync"], false);
    let d = v["differences"].as_array().unwrap();
    assert_eq!(d.len(), 2, "{v:#}");
    assert_eq!(d[0]["kind"], "missing");
    assert_eq!(d[1]["kind"], "extra");
    assert_eq!(d[0]["service_port"], "default/hello-world");
}

#[test]
fn an_unreadable_dump_exits_2_with_its_line() {
    let o = check("iptables", "*nat\n-A NOPE -j ACCEPT\nCOMMIT\n", false);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("-:2:"), "{o:?}");
}

/// `--kube-version`: a node of an older release checks in sync against
/// that release's render, and its release difference is drift against the
/// reference 1.37 (docs/kube-versions.md).
#[test]
fn check_against_the_nodes_release() {
    let base = [
        "-f",
        "examples/hello-world.yaml",
        "--node-ip",
        "192.168.0.2",
    ];
    let mut args = vec![
        "render",
        "--mode",
        "nftables",
        "--with-jumps",
        "--kube-version",
        "1.33",
    ];
    args.extend(base);
    let o = svcgen(&args, "");
    assert!(o.status.success(), "{o:?}");
    let dump = String::from_utf8(o.stdout).unwrap();
    assert!(dump.contains("jump mark-for-masquerade"), "{dump}");

    let mut args = vec![
        "check",
        "--mode",
        "nftables",
        "--rules",
        "-",
        "--kube-version",
        "v1.33.7",
    ];
    args.extend(base);
    let o = svcgen(&args, &dump);
    assert_eq!(o.status.code(), Some(0), "{o:?}");

    let o = check("nftables", &dump, false);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("mark-for-masquerade"),
        "{o:?}"
    );

    let mut args = vec![
        "check",
        "--mode",
        "nftables",
        "--rules",
        "-",
        "--kube-version",
        "1.32",
    ];
    args.extend(base);
    let o = svcgen(&args, &dump);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("invalid --kube-version \"1.32\""),
        "{o:?}"
    );
}
