//! What the kernel tests share: a network namespace of their own (removed
//! on drop, even when the test panics), running a tool inside it, and one
//! rule for when the kernel tests run at all.
#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A network namespace `svcgen-test-<tag>-<pid>-<counter>`, deleted on drop.
pub struct Netns(String);

impl Netns {
    /// Creates a fresh namespace; `tag` says which test made it.
    pub fn new(tag: &str) -> Result<Netns, String> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "svcgen-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        run("ip", &["netns", "add", &name], "")?;
        Ok(Netns(name))
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.0
    }

    /// Runs `cmd args` inside the namespace with `stdin`; its stdout, or an
    /// error with its stderr.
    pub fn exec(&self, cmd: &str, args: &[&str], stdin: &str) -> Result<String, String> {
        let mut all = vec!["netns", "exec", self.0.as_str(), cmd];
        all.extend_from_slice(args);
        run("ip", &all, stdin)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run("ip", &["netns", "del", &self.0], "");
    }
}

/// Runs `cmd args` (on the host) with `stdin`; its stdout, or an error
/// with the command, its stderr and stdout.
pub fn run(cmd: &str, args: &[&str], stdin: &str) -> Result<String, String> {
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if let Some(mut i) = child.stdin.take() {
        i.write_all(stdin.as_bytes())
            .map_err(|e| format!("{cmd}: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{cmd} {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        ))
    }
}

/// Is `cmd` on PATH?
pub fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Do the kernel tests run here? Only as root and when
/// `SVCGEN_SKIP_KERNEL_TESTS` is unset; otherwise prints a note (once).
pub fn kernel_tests_enabled() -> bool {
    let root = run("id", &["-u"], "").is_ok_and(|s| s.trim() == "0");
    let switched_off = std::env::var_os("SVCGEN_SKIP_KERNEL_TESTS").is_some();
    if !root || switched_off {
        static NOTE: Once = Once::new();
        NOTE.call_once(|| {
            println!(
                "note: kernel tests skipped (root={root}, SVCGEN_SKIP_KERNEL_TESTS set={switched_off})"
            );
        });
    }
    root && !switched_off
}
