//! A node's real rules: dumps of `iptables-save` / `ip6tables-save`,
//! `nft list ruleset` (text and `-j` JSON), `ipset save` and
//! `ipvsadm-save -n` read into one generic netfilter model
//! ([`model::Dump`]), and a new connection walked through it as the kernel
//! would ([`trace`]). Text in, model and diagnostics out; no IO.

pub mod check;
pub mod iptables;
pub mod model;
pub mod nft;
pub mod other;
pub mod trace;

use crate::diag::{Diagnostic, Location, Severity};
use crate::parse::MAX_INPUT_BYTES;
use model::*;
use std::sync::Arc;

/// What one input gave.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    /// Tables (iptables, nft).
    pub tables: Vec<Table>,
    /// ipsets.
    pub ipsets: Vec<Set>,
    /// IPVS virtual servers.
    pub ipvs: Vec<VirtualServer>,
    /// What was wrong, with the dump's line:col.
    pub diagnostics: Vec<Diagnostic>,
}

/// Collects diagnostics for one input.
pub(crate) struct Diags {
    file: Arc<str>,
    pub(crate) out: Vec<Diagnostic>,
}

impl Diags {
    pub(crate) fn new(file: &str) -> Self {
        Diags {
            file: file.into(),
            out: Vec::new(),
        }
    }

    pub(crate) fn error(&mut self, line: u32, column: u32, msg: impl Into<String>) {
        self.push(Severity::Error, line, column, msg);
    }

    pub(crate) fn warning(&mut self, line: u32, column: u32, msg: impl Into<String>) {
        self.push(Severity::Warning, line, column, msg);
    }

    fn push(&mut self, severity: Severity, line: u32, column: u32, msg: impl Into<String>) {
        self.out.push(Diagnostic::new(
            severity,
            msg,
            Some(Location {
                file: self.file.clone(),
                line,
                column: column.max(1),
            }),
        ));
    }
}

/// The format of a dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `iptables-save` / `ip6tables-save`.
    IptablesSave,
    /// `nft list ruleset` (or an `nft -f` file).
    Nft,
    /// `nft -j list ruleset`.
    NftJson,
    /// `ipset save`.
    Ipset,
    /// `ipvsadm-save -n`.
    Ipvsadm,
}

/// Recognises a dump by its first meaningful line.
pub fn detect(text: &str) -> Option<Format> {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))?;
    let word = first.split_whitespace().next().unwrap_or_default();
    Some(match word {
        _ if first.starts_with('{') || first.starts_with('[') => Format::NftJson,
        _ if first.starts_with('*') => Format::IptablesSave,
        "table" | "add" | "flush" | "delete" | "destroy" | "create" if is_nft(first) => Format::Nft,
        "create" | "add" => Format::Ipset,
        "-A" | "-a" => Format::Ipvsadm,
        _ => return None,
    })
}

fn is_nft(line: &str) -> bool {
    let mut w = line.split_whitespace();
    match w.next() {
        Some("table") => true,
        _ => matches!(
            w.next(),
            Some("table" | "chain" | "rule" | "set" | "map" | "element" | "ruleset")
        ),
    }
}

/// Reads one dump of any supported format. Never panics.
pub fn parse(file: &str, text: &str) -> Parsed {
    let mut d = Diags::new(file);
    if text.len() > MAX_INPUT_BYTES {
        d.error(
            1,
            1,
            format!(
                "input is {} bytes; svcgen reads at most {} MiB per input",
                text.len(),
                MAX_INPUT_BYTES / (1024 * 1024)
            ),
        );
        return Parsed {
            diagnostics: d.out,
            ..Default::default()
        };
    }
    match detect(text) {
        Some(Format::IptablesSave) => iptables::parse(file, text),
        Some(Format::Nft) => nft::parse(file, text),
        Some(Format::NftJson) => nft::parse_json(file, text),
        Some(Format::Ipset) => other::parse_ipset(file, text),
        Some(Format::Ipvsadm) => other::parse_ipvsadm(file, text),
        None => {
            // Only comments and blank lines (a render with nothing to
            // program, `# IPv4` / `# IPv6` headers alone): an empty dump.
            let meaningful = text
                .lines()
                .map(str::trim)
                .any(|l| !l.is_empty() && !l.starts_with('#'));
            if meaningful {
                d.error(
                    1,
                    1,
                    "not a dump svcgen reads: expected iptables-save, nft list ruleset (text or -j), ipset save or ipvsadm-save -n output",
                );
            }
            Parsed {
                diagnostics: d.out,
                ..Default::default()
            }
        }
    }
}

/// Reads several dumps of one node into one [`Dump`].
pub fn load(inputs: &[crate::Input]) -> (Dump, Vec<Diagnostic>) {
    let mut dump = Dump::default();
    let mut diags = Vec::new();
    for i in inputs {
        let p = parse(&i.name, &i.text);
        dump.tables.extend(p.tables);
        dump.ipsets.extend(p.ipsets);
        dump.ipvs.extend(p.ipvs);
        diags.extend(p.diagnostics);
    }
    // kube-proxy's IPVS mode binds every virtual server address to the
    // dummy interface kube-ipvs0, so each is local to the node.
    for vs in &dump.ipvs {
        if !dump.local_addrs.contains(&vs.addr.ip()) {
            dump.local_addrs.push(vs.addr.ip());
        }
    }
    (dump, diags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_formats() {
        assert_eq!(detect("# x\n*nat\n"), Some(Format::IptablesSave));
        assert_eq!(detect("table ip kube-proxy {\n"), Some(Format::Nft));
        assert_eq!(detect("add table ip kube-proxy\n"), Some(Format::Nft));
        assert_eq!(detect("{\"nftables\": []}"), Some(Format::NftJson));
        assert_eq!(
            detect("create KUBE-CLUSTER-IP hash:ip,port family inet\n"),
            Some(Format::Ipset)
        );
        assert_eq!(detect("-A -t 10.0.0.1:80 -s rr\n"), Some(Format::Ipvsadm));
        assert_eq!(detect("hello"), None);
    }

    #[test]
    fn refuses_oversized_input() {
        let big = "#".repeat(MAX_INPUT_BYTES + 1);
        let p = parse("big", &big);
        assert!(p.diagnostics[0].message.contains("at most 64 MiB"));
    }
}
