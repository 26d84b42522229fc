//! A dump that does not read is reported at the dump's own `line:col`,
//! in every format, and nothing of it is guessed: each case below is a
//! broken dump and every diagnostic it must give, exactly. Input limits
//! are the manifests' (`parse::MAX_INPUT_BYTES`). What svcgen does not
//! know is kept opaque and traced as a branch, never read as something
//! else.
//!
//! The tools refuse the same input: iptables-restore (iptables/
//! iptables-restore.c: a chain must be declared before `-A`), nft (a rule
//! or element needs its table, chain and set; a jump its chain, which is
//! a warning here, as `nft list chain` prints one chain alone), ipset
//! restore (an `add` needs its set, an element must fit the type),
//! ipvsadm-restore (a real server needs its virtual server).

use libsvc::dump::{self, trace};
use libsvc::table::Protocol;
use libsvc::trace::Packet;

fn diagnostics(file: &str, text: &str) -> Vec<String> {
    dump::parse(file, text)
        .diagnostics
        .iter()
        .map(|d| {
            let l = d.location.as_ref().expect("a location");
            let severity = if d.is_error() { "error" } else { "warning" };
            format!(
                "{}:{}:{}: {severity}: {}",
                l.file, l.line, l.column, d.message
            )
        })
        .collect()
}

#[test]
fn errors_point_at_the_dumps_line_and_column() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "node.iptables",
            "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\n-A FOO -j DROP\nCOMMIT\n",
            &["node.iptables:4:4: error: chain FOO was not declared in table filter"],
        ),
        (
            "node.nft",
            "table ip t {\n  chain c {\n    type filter hook input priority 0; policy accept;\n    ip daddr 10.0.0.1 tcp dport 80 jump nowhere\n  }\n}\n",
            &["node.nft:4:5: warning: chain nowhere is not declared in table ip t"],
        ),
        (
            "node.nft",
            "add table ip t\nadd rule ip zz c drop\nadd element ip t nosuch { 1.2.3.4 }\nadd rule ip t nochain drop\n",
            &[
                "node.nft:2:13: error: table ip zz is not declared",
                "node.nft:3:18: error: set nosuch is not declared in table ip t",
                "node.nft:4:15: error: chain nochain is not declared in table ip t",
            ],
        ),
        (
            "node.json",
            "{\"nftables\": [\n  {\"table\": {\"family\": \"ip\", \"name\": \"t\"}},\n  {\"chain\": {\"family\": \"ip\", \"table\": \"t\", \"name\": \"c\", \"type\": \"filter\", \"hook\": \"input\", \"prio\": 0, \"policy\": \"accept\"}},\n  {\"rule\": {\"family\": \"ip\", \"table\": \"t\", \"chain\": \"c\", \"expr\": [{\"jump\": {\"target\": \"nowhere\"}}]}}\n]}\n",
            &["node.json:4:3: warning: chain nowhere is not declared in table ip t"],
        ),
        (
            "node.json",
            "{\"nftables\": [\n  {\"table\": {\"family\": \"ip\", \"name\": \"t\"}},\n",
            &["node.json:3:1: error: not JSON: EOF while parsing a value at line 3 column 0"],
        ),
        (
            "node.ipset",
            "create s hash:ip family inet hashsize 1024 maxelem 65536\nadd s 10.0.0.1\nadd s 10.0.0.x\nadd t 10.0.0.2\n",
            &[
                "node.ipset:3:7: error: element \"10.0.0.x\" does not fit hash:ip",
                "node.ipset:4:5: error: ipset t was not created",
            ],
        ),
        (
            "node.ipvs",
            "-A -t 10.96.0.1:443 -s rr\n-a -t 10.96.0.1:443 -r 10.0.0.1:6443 -m -w 1\n-a -t 10.96.0.1:443 -r 10.0.0.x:6443 -m -w 1\n-a -t 10.96.0.9:443 -r 10.0.0.2:6443 -m -w 1\n-A -t 10.96.0.2 -s rr\n",
            &[
                "node.ipvs:3:24: error: expected -r ADDRESS:PORT",
                "node.ipvs:4:7: error: real server for a virtual server not yet added",
                "node.ipvs:5:7: error: bad address \"10.96.0.2\"",
            ],
        ),
        (
            "node.txt",
            "hello\n",
            &[
                "node.txt:1:1: error: not a dump svcgen reads: expected iptables-save, nft list ruleset (text or -j), ipset save or ipvsadm-save -n output",
            ],
        ),
    ];
    for (file, text, want) in cases {
        assert_eq!(&diagnostics(file, text), want, "{text}");
    }
}

/// As manifests (`parse::MAX_INPUT_BYTES`): a larger dump is refused
/// whole, whatever its format, before it is read.
#[test]
fn input_limits_are_the_manifests() {
    let limit = libsvc::parse::MAX_INPUT_BYTES;
    for head in [
        "*filter\n",
        "table ip t {\n",
        "{\"nftables\": [",
        "create s hash:ip\n",
        "-A -t 10.0.0.1:80 -s rr\n",
    ] {
        let mut text = String::from(head);
        text.push_str(&"#".repeat(limit + 1 - head.len()));
        let p = dump::parse("big", &text);
        assert!(p.tables.is_empty() && p.ipsets.is_empty() && p.ipvs.is_empty());
        assert_eq!(
            diagnostics("big", &text),
            [format!(
                "big:1:1: error: input is {} bytes; svcgen reads at most 64 MiB per input",
                limit + 1
            )]
        );
        // at the limit, it is read (once: reading 64 MiB is slow in debug)
        if !head.starts_with('*') {
            continue;
        }
        text.truncate(limit);
        assert!(
            !diagnostics("big", &text)
                .iter()
                .any(|d| d.contains("at most")),
            "{head}"
        );
    }
}

/// An opaque match (`-m owner`, `meta skuid`, `xt match`) is a branch of
/// the trace, in iptables-save, nft text and nft JSON alike.
#[test]
fn an_opaque_match_is_shown_as_a_branch() {
    let p = Packet {
        src: "192.168.0.2".parse().unwrap(),
        dst: "10.0.0.9".parse().unwrap(),
        port: 80,
        protocol: Protocol::TCP,
        in_interface: None,
    };
    let opts = trace::Options {
        local: vec!["192.168.0.2".parse().unwrap()],
        ..Default::default()
    };
    let cases = [
        (
            "node.iptables",
            "*filter\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -m owner --uid-owner 4242 -j DROP\nCOMMIT\n",
            "unknown match -m owner --uid-owner 4242 in filter/OUTPUT (line 3) matches",
        ),
        (
            "node.nft",
            "table inet f {\n  chain out {\n    type filter hook output priority filter; policy accept;\n    meta skuid 4242 drop\n  }\n}\n",
            "unknown match meta skuid 4242 in inet f/out (line 4) matches",
        ),
        (
            "node.json",
            "{\"nftables\": [\n  {\"table\": {\"family\": \"inet\", \"name\": \"f\"}},\n  {\"chain\": {\"family\": \"inet\", \"table\": \"f\", \"name\": \"out\", \"type\": \"filter\", \"hook\": \"output\", \"prio\": 0, \"policy\": \"accept\"}},\n  {\"rule\": {\"family\": \"inet\", \"table\": \"f\", \"chain\": \"out\", \"expr\": [{\"match\": {\"op\": \"==\", \"left\": {\"meta\": {\"key\": \"skuid\"}}, \"right\": 4242}}, {\"drop\": null}]}}\n]}\n",
            "unknown match meta skuid 4242 in inet f/out (line 4) matches",
        ),
    ];
    for (file, text, condition) in cases {
        let (d, diags) = dump::load(&[libsvc::Input::new(file, text)]);
        assert!(diags.is_empty(), "{file}: {diags:?}");
        let t = trace::trace(&d, &opts, &p);
        assert_eq!(t.result.outcome, "", "{file}");
        assert_eq!(t.branches.len(), 1, "{file}: {t:#?}");
        assert_eq!(t.branches[0].conditions, [condition], "{file}");
        assert_eq!(t.branches[0].result.outcome, "DROP", "{file}");
    }
}
