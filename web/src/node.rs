//! The "node rules" panel: a node's dumped rules pasted in (`iptables-save`,
//! `ip6tables-save`, `nft list ruleset`, `nft -j list ruleset`, `ipset
//! save`, `ipvsadm-save -n`, one after another in one text), the trace
//! form's packet walked through them as `svcgen trace --rules` does, and
//! kube-proxy's part of them checked against the manifests as `svcgen
//! check` does. Pure: the app and the wasm API share it.

use crate::share::TraceForm;
use libsvc::dump::model::{Dump, Origin};
use libsvc::dump::{self, Format, check, trace};
use libsvc::render::{Mode, RenderOptions};
use libsvc::trace::Packet;
use libsvc::{Input, Loaded, Severity};
use serde::{Deserialize, Serialize};

/// The kube-proxy modes a node's rules are checked as.
pub const PROXIES: [Mode; 3] = [Mode::Iptables, Mode::Nftables, Mode::Ipvs];

/// The name diagnostics and trace steps give the pasted dump.
pub const RULES_NAME: &str = "node-rules";

/// The panel's form: the pasted dump and the proxy mode to check it as.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NodeForm {
    /// The dumps, as pasted.
    pub rules: String,
    /// `iptables`, `nftables`, `ipvs`, or empty: found from the dump.
    pub mode: String,
}

/// A problem of the dump, at its line:col (1-based, characters).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DumpDiag {
    /// `error` or `warning`.
    pub severity: Severity,
    /// The message.
    pub message: String,
    /// 1-based line in the pasted text.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

/// Where a line may begin a dump of another format. `None`: the line
/// continues the dump it is in (rules, chain headers, `COMMIT`, indented
/// nft lines, closing braces, comments and blank lines).
fn starts(line: &str) -> Option<Format> {
    if line.starts_with(char::is_whitespace) || line.trim_start().starts_with('#') {
        return None;
    }
    let mut w = line.split_whitespace();
    let first = w.next()?;
    match first {
        // ipvsadm-save's service lines; an iptables rule (`-A CHAIN …`)
        // names a chain instead.
        "-A" | "-a" => matches!(
            w.next(),
            Some("-t" | "-u" | "-f" | "--tcp-service" | "--udp-service" | "--sctp-service")
        )
        .then_some(Format::Ipvsadm),
        _ => dump::detect(line).filter(|f| *f != Format::Ipvsadm),
    }
}

/// Cuts the pasted text into one input per dump. Each input is the whole
/// text with the lines of the other dumps blanked, so that every
/// diagnostic's line:col is the pasted text's.
pub fn inputs(text: &str) -> Vec<Input> {
    let lines: Vec<&str> = text.lines().collect();
    // (format, first line) of each run of one format.
    let mut runs: Vec<(Format, usize)> = Vec::new();
    for (n, l) in lines.iter().enumerate() {
        if let Some(f) = starts(l)
            && runs.last().is_none_or(|(g, _)| *g != f)
        {
            runs.push((f, n));
        }
    }
    if runs.len() <= 1 {
        return vec![Input::new(RULES_NAME, text)];
    }
    // Lines before the first dump (comments) go with it.
    runs[0].1 = 0;
    (0..runs.len())
        .map(|k| {
            let (from, to) = (runs[k].1, runs.get(k + 1).map_or(lines.len(), |r| r.1));
            let mut part = String::with_capacity(text.len());
            for (n, l) in lines.iter().enumerate() {
                if (from..to).contains(&n) {
                    part.push_str(l);
                }
                part.push('\n');
            }
            Input::new(RULES_NAME, part)
        })
        .collect()
}

/// Reads the pasted dumps (`libsvc::dump::load`, as `svcgen trace --rules`
/// and `svcgen check` do).
pub fn read(text: &str) -> (Dump, Vec<DumpDiag>) {
    let (dump, diags) = dump::load(&inputs(text));
    let diags = diags
        .iter()
        .map(|d| {
            let loc = d.location.as_ref();
            DumpDiag {
                severity: d.severity,
                message: d.message.clone(),
                line: loc.map_or(1, |l| l.line),
                column: loc.map_or(1, |l| l.column),
            }
        })
        .collect();
    (dump, diags)
}

/// The mode to check as: the form's, else the one the dump shows
/// (IPVS virtual servers or kube-proxy's ipsets: IPVS; the nft table
/// `kube-proxy`: nftables; else iptables). Also whether it was found.
pub fn mode(form: &NodeForm, dump: &Dump) -> (Mode, bool) {
    if let Some(m) = Mode::parse(form.mode.trim()).filter(|m| PROXIES.contains(m)) {
        return (m, false);
    }
    let m = if !dump.ipvs.is_empty() || dump.ipsets.iter().any(|s| s.name.starts_with("KUBE-")) {
        Mode::Ipvs
    } else if dump
        .tables
        .iter()
        .any(|t| t.origin == Origin::Nft && t.name == "kube-proxy")
    {
        Mode::Nftables
    } else {
        Mode::Iptables
    };
    (m, true)
}

/// Everything the panel shows for one dump.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The dump's problems.
    pub diagnostics: Vec<DumpDiag>,
    /// The mode checked, and whether it was found from the dump.
    pub mode: (Mode, bool),
    /// The check: `None` while the dump is empty or has errors.
    pub check: Option<Result<check::Report, String>>,
    /// The dump, to trace through.
    pub dump: Dump,
}

/// Reads the form's dump and checks it against the loaded manifests.
pub fn check(loaded: &Loaded, form: &NodeForm) -> Node {
    let (dump, diagnostics) = read(&form.rules);
    let mode = mode(form, &dump);
    let usable =
        !form.rules.trim().is_empty() && !diagnostics.iter().any(|d| d.severity == Severity::Error);
    let check = usable.then(|| {
        if loaded.has_parse_errors() {
            return Err("the manifests have errors; fix them to check the node".into());
        }
        check::check(loaded, mode.0, &dump)
    });
    Node {
        diagnostics,
        mode,
        check,
        dump,
    }
}

/// Traces the trace form's packet through the dump: the node's addresses
/// (the settings' node IPs, and IPVS addresses the dump shows) are local,
/// interfaces unknown, as `svcgen trace --rules` without `--in-iface`.
pub fn trace(
    loaded: &Loaded,
    node: &Node,
    form: &TraceForm,
    namespace: &str,
) -> Result<(Packet, trace::DumpTrace), String> {
    if node
        .diagnostics
        .iter()
        .any(|d| d.severity == Severity::Error)
    {
        return Err("the node's rules have errors; fix them to trace".into());
    }
    if node.dump.tables.is_empty() && node.dump.ipvs.is_empty() {
        return Err("paste a node's rules to trace through them".into());
    }
    let (_, packet) = crate::compute::packet(loaded, form, namespace)?;
    let opts = trace::Options {
        local: loaded.settings.node.ips.clone(),
        in_iface: None,
        out_iface: None,
    };
    let t = trace::trace(&node.dump, &opts, &packet);
    Ok((packet, t))
}

/// An example dump: what kube-proxy of `mode` programs for the manifests
/// (the render, with iptables' jumps from the built-in chains, as `svcgen
/// check` expects it), with one endpoint's rule left out, so that the check
/// shows one drift and a trace shows what it does.
pub fn example(loaded: &Loaded, mode: Mode) -> Result<String, String> {
    if loaded.has_parse_errors() {
        return Err("the manifests have errors; fix them to make an example dump".into());
    }
    let sections: &[Option<&str>] = match mode {
        Mode::Ipvs => &[Some("ipvs"), Some("ipset"), Some("iptables")],
        _ => &[None],
    };
    let mut text = String::new();
    for s in sections {
        let opts = RenderOptions {
            with_jumps: true,
            section: s.map(str::to_string),
            ..Default::default()
        };
        let r = libsvc::render::render(loaded, mode, &opts).map_err(|e| e.to_string())?;
        text.push_str(&r.text);
    }
    // The drift: one endpoint is gone from the last rule that sends to
    // endpoints (an iptables Service chain's jump to a KUBE-SEP chain, an
    // IPVS real server; nftables: the last element of a Service chain's
    // `numgen random mod N map`, which becomes `mod N-1`, as a node whose
    // kube-proxy missed one endpoint would have it).
    let lines: Vec<&str> = text.lines().collect();
    let gone = lines.iter().rposition(|l| match mode {
        Mode::Ipvs => l.starts_with("-a "),
        Mode::Nftables => l.starts_with("add rule") && without_last_endpoint(l).is_some(),
        _ => l.starts_with("-A KUBE-SVC-") && l.contains("-j KUBE-SEP-"),
    });
    let mut out = String::with_capacity(text.len());
    for (n, l) in lines.iter().enumerate() {
        if Some(n) == gone {
            if let Some(shorter) = without_last_endpoint(l) {
                out.push_str(&shorter);
                out.push('\n');
            }
            continue;
        }
        out.push_str(l);
        out.push('\n');
    }
    Ok(out)
}

/// An nftables rule `… numgen random mod N map { 0 : A, …, N-1 : Z }`
/// with its last element left out (`mod N-1`), when it has two or more.
fn without_last_endpoint(rule: &str) -> Option<String> {
    let at = rule.find(" numgen random mod ")?;
    let rest = &rule[at + " numgen random mod ".len()..];
    let (n, map) = rest.split_once(' ')?;
    let n: usize = n.parse().ok()?;
    let body = map.strip_prefix("map { ")?;
    let (elements, tail) = body.split_once(" }")?;
    let kept: Vec<&str> = elements.split(", ").collect();
    if n < 2 || kept.len() != n {
        return None;
    }
    Some(format!(
        "{} numgen random mod {} map {{ {} }}{}",
        &rule[..at],
        n - 1,
        kept[..n - 1].join(", "),
        tail
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::FormSettings;

    fn starter() -> Loaded {
        crate::compute::load(crate::examples::STARTER, &FormSettings::default()).0
    }

    /// Several dumps pasted one after another are read as `svcgen check
    /// --rules A --rules B` reads them (libsvc::dump::load), and a problem
    /// keeps the pasted text's line:col.
    #[test]
    fn several_dumps_in_one_text() {
        let text = "# node-3\n*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j ACCEPT\nCOMMIT\ncreate KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536\nadd KUBE-CLUSTER-IP 10.96.0.20,tcp:80\n-A -t 10.96.0.20:80 -s rr\n-a -t 10.96.0.20:80 -r 10.244.1.5:8080 -m -w 1\n";
        let ins = inputs(text);
        assert_eq!(ins.len(), 3);
        for i in &ins {
            assert_eq!(i.text.lines().count(), text.lines().count());
        }
        let (d, diags) = read(text);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(d.tables.len(), 1);
        assert_eq!(d.ipsets.len(), 1);
        assert_eq!(d.ipvs.len(), 1);
        assert_eq!(mode(&NodeForm::default(), &d), (Mode::Ipvs, true));

        let bad = "*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n*filter\n-A INPUT -m comment --comment \"oops -j ACCEPT\nCOMMIT\n";
        let (_, diags) = read(bad);
        let e = diags
            .iter()
            .find(|d| d.severity == Severity::Error)
            .expect("an error");
        assert_eq!(e.line, 5, "{e:?}");
        let (_, diags) = read("hello\n");
        assert_eq!((diags[0].line, diags[0].column), (1, 1));
        assert!(diags[0].message.contains("not a dump"));
    }

    /// The example dump is the render with one endpoint's rule left out:
    /// `svcgen check` (libsvc::dump::check::check) reports exactly that
    /// endpoint, per Service port, in each proxy mode.
    #[test]
    fn the_example_dump_drifts_by_one_endpoint() {
        let loaded = starter();
        for m in PROXIES {
            let form = NodeForm {
                rules: example(&loaded, m).unwrap(),
                mode: String::new(),
            };
            let node = check(&loaded, &form);
            assert!(node.diagnostics.is_empty(), "{m:?}: {:?}", node.diagnostics);
            assert_eq!(node.mode, (m, true), "the mode is found from the dump");
            let report = node.check.unwrap().unwrap();
            assert!(!report.in_sync, "{m:?}");
            assert_eq!(report.differences.len(), 1, "{m:?}: {}", report.text());
            let d = &report.differences[0];
            assert_eq!(d.service_port.as_deref(), Some("default/web:http"));
            assert_eq!(d.kind, check::Kind::Missing);
            assert!(d.item.contains("10.244.2.7:8080"), "{m:?}: {d}");
        }
    }

    /// The render itself is in sync; the mode can be forced.
    #[test]
    fn the_render_is_in_sync() {
        let loaded = starter();
        let opts = RenderOptions {
            with_jumps: true,
            ..Default::default()
        };
        let text = libsvc::render::render(&loaded, Mode::Iptables, &opts)
            .unwrap()
            .text;
        let form = NodeForm {
            rules: text,
            mode: "iptables".into(),
        };
        let node = check(&loaded, &form);
        assert_eq!(node.mode, (Mode::Iptables, false));
        let report = node.check.unwrap().unwrap();
        assert!(report.in_sync, "{}", report.text());
    }

    /// The trace form's packet through the example dump
    /// (libsvc::dump::trace::trace): with the second endpoint's jump gone,
    /// the first keeps its 1/2 and the other half passes the Service by.
    #[test]
    fn trace_through_the_example_dump() {
        let loaded = starter();
        let form = NodeForm {
            rules: example(&loaded, Mode::Iptables).unwrap(),
            mode: String::new(),
        };
        let node = check(&loaded, &form);
        let (p, t) = trace(&loaded, &node, &TraceForm::default(), "default").unwrap();
        assert_eq!(p.dst.to_string(), "10.96.0.20");
        let shares: Vec<(String, f64)> = t
            .result
            .endpoints
            .iter()
            .map(|e| (e.endpoint.clone(), e.probability))
            .collect();
        assert_eq!(shares, vec![("10.244.1.5:8080".to_string(), 0.5)]);
        let empty = check(&loaded, &NodeForm::default());
        assert!(empty.check.is_none());
        assert!(trace(&loaded, &empty, &TraceForm::default(), "default").is_err());
    }
}
