//! The kernel judges the text: every nftables conformance case, rendered
//! for its own family and dual-stack, goes through `nft -c -f -` (check
//! mode: parsed and validated by the kernel, nothing committed) inside a
//! network namespace this test creates and removes.
//!
//! Needs root and `nft` (Debian package `nftables`); skipped (with a
//! message) when not root or when `SVCGEN_SKIP_KERNEL_TESTS` is set.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

/// A network namespace that is deleted when dropped, even on panic.
struct Netns(String);

impl Netns {
    fn new() -> Netns {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!("svcgen-test-nft-{}-{nanos}", std::process::id());
        let st = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("run ip netns add");
        assert!(st.success(), "ip netns add {name} failed (root needed)");
        Netns(name)
    }

    /// Runs `nft -c -f -` in the namespace with `text` on stdin.
    fn nft_check(&self, text: &str) -> Result<(), String> {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.0, "nft", "-c", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        child
            .stdin
            .take()
            .ok_or("no stdin")?
            .write_all(text.as_bytes())
            .map_err(|e| e.to_string())?;
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn skip() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    std::env::var_os("SVCGEN_SKIP_KERNEL_TESTS").is_some() || !root
}

#[test]
fn nft_accepts_every_case() {
    if skip() {
        eprintln!("not root or SVCGEN_SKIP_KERNEL_TESTS set: skipping nft -c");
        return;
    }
    let ns = Netns::new();
    let mut results = Vec::new();
    for case in common::cases("nftables") {
        let (stream, overrides) = case.stream();
        for dual in [false, true] {
            let mut o = overrides.clone();
            if dual {
                o.ip_family = None;
            }
            let loaded = libsvc::load(
                &[libsvc::Input::new(
                    format!("{}/input.yaml", case.name),
                    stream.clone(),
                )],
                &o,
            );
            let text = libsvc::proxy::nftables::render(&loaded, &Default::default())
                .expect("nftables renders")
                .text;
            let name = format!("{}{}", case.name, if dual { " (dual-stack)" } else { "" });
            results.push((name, ns.nft_check(&text)));
        }
    }
    common::report("nftables-kernel", &results, &[]);
}
