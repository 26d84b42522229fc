//! The kernel judges what this kernel can: every IPVS-mode ipset section
//! goes through `ipset restore` and every iptables section through
//! `iptables-restore --test` (`ip6tables-restore` for IPv6), inside a
//! network namespace the test creates and always removes. This kernel has
//! no IPVS, so the ipvsadm lines are checked by the strict parser instead.
//!
//! Needs root and the Debian packages `ipset`, `iptables`, `iproute2`.

mod common;
mod ipvs_parse;

use libsvc::config::IpFamily;
use libsvc::proxy::ipvs::{build, render};
use std::io::Write;
use std::process::{Command, Stdio};

/// A network namespace removed on drop, even when the test fails.
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Netns {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!("svcgen-test-{tag}-{}-{nanos}", std::process::id());
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "ip netns add {name} failed");
        Netns(name)
    }

    /// Runs `cmd` inside the namespace with `input` on stdin.
    fn run(&self, cmd: &[&str], input: &str) -> Result<(), String> {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.0])
            .args(cmd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{cmd:?}: {e}"))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(input.as_bytes())
                .map_err(|e| format!("{cmd:?}: {e}"))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| format!("{cmd:?}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{cmd:?} failed: {}\n{input}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn can_run() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root {
        eprintln!("ipvs_kernel: not root, skipped");
        return false;
    }
    for tool in ["ip", "ipset", "iptables-restore", "ip6tables-restore"] {
        let found = Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        assert!(
            found,
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
        let ns = Netns::new(tag);
        ns.run(&["ipset", "restore", "-exist"], &render::ipset_text(fr))?;
        let tool = match fr.family {
            IpFamily::IPv4 => "iptables-restore",
            IpFamily::IPv6 => "ip6tables-restore",
        };
        ns.run(
            &[tool, "--test", "--noflush"],
            &render::iptables_text(fr, true),
        )?;
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
