//! `svcgen trace --rules`: a packet through a node's dumps, as a user calls it.

mod run;

use run::svcgen_stdin;

const RULES: &str = "libsvc/tests/conformance/iptables-dump/001-trace-packet/rules.txt";

/// The TestTracePacket dump: two endpoints with their shares, the whole path.
#[test]
fn traces_a_dump_as_text() {
    let o = svcgen_stdin(
        &[
            "trace",
            "--rules",
            RULES,
            "--local",
            "192.168.0.2",
            "--src",
            "10.0.0.2",
            "--dst",
            "172.30.0.44",
            "--port",
            "80",
        ],
        "",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    insta::assert_snapshot!(String::from_utf8(o.stdout).unwrap());
}

/// An opaque match becomes a branch, in text and in JSON.
#[test]
fn an_unknown_match_is_a_branch() {
    let dump = "*filter\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -m owner --uid-owner 0 -j DROP\nCOMMIT\n";
    let args = [
        "trace",
        "--rules",
        "-",
        "--local",
        "192.168.0.2",
        "--src",
        "192.168.0.2",
        "--dst",
        "10.0.0.9",
        "--port",
        "443",
        "-o",
        "json",
    ];
    let o = svcgen_stdin(&args, dump);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["outcome"], "");
    assert_eq!(v["branches"][0]["outcome"], "DROP");
    assert_eq!(
        v["branches"][0]["conditions"][0],
        "unknown match -m owner --uid-owner 0 in filter/OUTPUT (line 3) matches"
    );
    let text = svcgen_stdin(&args[..args.len() - 2], dump);
    insta::assert_snapshot!(String::from_utf8(text.stdout).unwrap());
}

/// A broken dump: file:line:col, a caret, exit 1.
#[test]
fn a_broken_dump_exits_1_with_line_and_column() {
    let o = svcgen_stdin(
        &[
            "trace", "--rules", "-", "--src", "10.0.0.1", "--dst", "10.0.0.2", "--port", "80",
        ],
        "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -d 10.0.0.300 -j ACCEPT\nCOMMIT\n",
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(
        err.starts_with("-:3:18: error: bad address \"10.0.0.300\" after -d"),
        "{err}"
    );
}

/// Without --rules, --mode is still required.
#[test]
fn trace_without_rules_needs_a_mode() {
    let o = svcgen_stdin(
        &[
            "trace",
            "-f",
            "examples/",
            "--src",
            "10.0.0.1",
            "--dst",
            "10.0.0.2",
            "--port",
            "80",
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(2));
}
