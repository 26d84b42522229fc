//! `svcgen agent --dry-run`: the kernel's dump against what the agent
//! would program, with `svcgen check`'s comparison
//! (`libsvc::dump::check::check`): per Service port, missing, extra and
//! stale rules, endpoints and set elements, in Kubernetes terms. Nothing
//! is changed.

use super::ProxyMode;
use super::apply::{ApplyError, run};
use libsvc::dump::check::Report;

/// Dumps the kernel the way a user would for `svcgen check --rules` and
/// compares it with what `loaded` gives for the node's families.
pub fn check(
    mode: ProxyMode,
    loaded: &libsvc::Loaded,
    families: &[libsvc::config::IpFamily],
) -> Result<Report, ApplyError> {
    let mut tools: Vec<(&str, &[&str])> = match mode {
        ProxyMode::Nftables => vec![("nft", &["list", "ruleset"])],
        ProxyMode::Iptables => vec![("iptables-save", &[])],
        ProxyMode::Ipvs => vec![
            ("iptables-save", &[]),
            ("ipset", &["save"]),
            ("ipvsadm-save", &["-n"]),
        ],
    };
    if families.contains(&libsvc::config::IpFamily::IPv6) && mode != ProxyMode::Nftables {
        tools.push(("ip6tables-save", &[]));
    }
    let mut inputs = Vec::new();
    for (tool, args) in tools {
        let text = run(tool, args, None)?;
        inputs.push(libsvc::Input::new(tool, text));
    }
    let (dump, diags) = libsvc::dump::load(&inputs);
    if let Some(d) = diags.iter().find(|d| d.is_error()) {
        return Err(ApplyError::Rules(format!(
            "cannot read the kernel's dump: {d}"
        )));
    }
    // The families the agent programs, not every family of the input.
    let mut loaded = loaded.clone();
    if let [one] = families {
        loaded.settings.ip_family = Some(*one);
    }
    let render_mode = match mode {
        ProxyMode::Iptables => libsvc::render::Mode::Iptables,
        ProxyMode::Nftables => libsvc::render::Mode::Nftables,
        ProxyMode::Ipvs => libsvc::render::Mode::Ipvs,
    };
    libsvc::dump::check::check(&loaded, render_mode, &dump).map_err(ApplyError::Rules)
}
