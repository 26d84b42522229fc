//! The kernel judges what this kernel can: every IPVS-mode ipset section
//! goes through `ipset restore` and every iptables section through
//! `iptables-restore --test` (`ip6tables-restore` for IPv6), inside a
//! network namespace the test creates and always removes. This kernel has
//! no IPVS, so the ipvsadm lines are checked by the strict parser instead.
//!
//! Needs root and the Debian packages `ipset`, `iptables`, `iproute2`;
//! skipped (with a note) when not root or when `SVCGEN_SKIP_KERNEL_TESTS`
//! is set.

mod common;
mod ipvs_parse;

use common::netns::{Netns, have, kernel_tests_enabled};
use libsvc::config::IpFamily;
use libsvc::proxy::ipvs::{build, render};

fn can_run() -> bool {
    if !kernel_tests_enabled() {
        return false;
    }
    for tool in ["ip", "ipset", "iptables-restore", "ip6tables-restore"] {
        assert!(
            have(tool),
            "{tool} is missing: apt-get install -y ipset iptables iproute2"
        );
    }
    true
}

/// Feeds every family of `loaded` to the tools, each in a fresh namespace.
fn feed(tag: &str, loaded: &libsvc::Loaded) -> Result<(), String> {
    let rs = build::build(&loaded.table, &loaded.settings).map_err(|e| e.0)?;
    for fr in &rs.families {
        ipvs_parse::parse(&render::ipvs_text(fr)).map_err(|e| format!("ipvs: {e}"))?;
        let ns = Netns::new(tag)?;
        let ipsets = render::ipset_text(fr);
        ns.exec("ipset", &["restore", "-exist"], &ipsets)
            .map_err(|e| format!("{e}\n{ipsets}"))?;
        let tool = match fr.family {
            IpFamily::IPv4 => "iptables-restore",
            IpFamily::IPv6 => "ip6tables-restore",
        };
        let rules = render::iptables_text(fr, true);
        ns.exec(tool, &["--test", "--noflush"], &rules)
            .map_err(|e| format!("{e}\n{rules}"))?;
    }
    Ok(())
}

#[test]
fn corpus_sections_pass_the_real_tools() {
    if !can_run() {
        return;
    }
    let mut failures = Vec::new();
    for case in common::cases("ipvs") {
        if let Err(e) = feed("ipvs", &case.load()) {
            failures.push(format!("{}: {e}", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn dual_stack_mix_passes_the_real_tools() {
    if !can_run() {
        return;
    }
    let text = include_str!("data/ipvs-mixed.yaml");
    let loaded = libsvc::load(
        &[libsvc::Input::new("ipvs-mixed.yaml", text)],
        &libsvc::Overrides::default(),
    );
    let rs = build::build(&loaded.table, &loaded.settings).unwrap();
    assert_eq!(rs.families.len(), 2);
    // Every ipset kind has members somewhere, so every rule kind is checked.
    for fr in &rs.families {
        let empty: Vec<&str> = fr
            .ipsets
            .iter()
            .filter(|s| s.entries.is_empty())
            .map(|s| s.base_name)
            .collect();
        // The only Service with external IPs has policy Local.
        assert_eq!(empty, ["KUBE-EXTERNAL-IP"], "{}", fr.family);
    }
    feed("mix", &loaded).unwrap();
}
