//! Putting rule text into the kernel: one [`Applier`] per proxy mode.
//!
//! Every applier owns a fixed, named set of kernel objects (nftables tables,
//! iptables chains and the jumps into them) and touches nothing else. An
//! apply is one kernel transaction per table; the applier remembers what it
//! last applied so that the next apply can rewrite only what changed, and
//! forgets it after any failure so that the next apply is a full one.

pub mod iptables;
pub mod ipvs;
pub mod nftables;

use std::io::Write;
use std::process::{Command, Stdio};

/// An IP family, as the kernel tools name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4 (`ip` tables, `iptables-restore`).
    V4,
    /// IPv6 (`ip6` tables, `ip6tables-restore`).
    V6,
}

impl Family {
    /// `ipv4` / `ipv6`, for logs and metric labels.
    pub fn label(self) -> &'static str {
        match self {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
        }
    }
}

/// The rule text for each family, as a source produced it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desired {
    /// One text per family, in the backend's own input language.
    pub texts: Vec<(Family, String)>,
}

/// How much of the kernel state an apply rewrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApplyKind {
    /// Nothing changed since the last apply: nothing was sent.
    #[default]
    Noop,
    /// Only the changed objects were rewritten.
    Partial,
    /// Everything owned was rewritten (start-up, resync, after an error).
    Full,
}

impl ApplyKind {
    /// For logs.
    pub fn label(self) -> &'static str {
        match self {
            ApplyKind::Noop => "noop",
            ApplyKind::Partial => "partial",
            ApplyKind::Full => "full",
        }
    }
}

/// What one apply did (`Default`: nothing yet).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApplyStats {
    /// Full, partial or nothing.
    pub kind: ApplyKind,
    /// Bytes sent to the kernel tools.
    pub bytes: usize,
    /// Rules in the desired state, per family.
    pub rules: Vec<(Family, usize)>,
}

/// An apply or a kernel read that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// The kernel lacks what the mode needs.
    #[error("{0}")]
    Unsupported(String),
    /// A tool failed or could not be started.
    #[error("{0}")]
    Tool(String),
    /// The rule text asks for something the agent does not own or cannot read.
    #[error("{0}")]
    Rules(String),
}

/// One proxy mode's way of programming the kernel.
pub trait Applier {
    /// Checks, before the first sync, that the kernel and tools can do this mode.
    fn check_support(&self) -> Result<(), ApplyError>;
    /// Makes the kernel hold `desired`: a full rewrite of everything owned
    /// when `full`, else only what changed since the last successful apply.
    fn apply(&mut self, desired: &Desired, full: bool) -> Result<ApplyStats, ApplyError>;
    /// Sends a delta computed by libsvc's incremental engine, as it is: per
    /// family, the tool's own input (an `nft -f` transaction; an
    /// `iptables-restore --noflush` payload). What the applier remembered
    /// of the last apply is forgotten, so a later non-full apply is full.
    fn apply_delta(&mut self, delta: &Desired) -> Result<ApplyStats, ApplyError> {
        let _ = delta;
        Err(ApplyError::Unsupported(
            "this mode applies whole rule texts only".into(),
        ))
    }
    /// The owned state as the kernel lists it now (for `--dry-run`).
    fn current(&self, family: Family) -> Result<String, ApplyError>;
    /// How the kernel would list `text` once applied, computed in a throwaway
    /// network namespace (for `--dry-run`).
    fn preview(&self, family: Family, text: &str) -> Result<String, ApplyError>;
    /// Removes everything this mode owns.
    fn cleanup(&mut self) -> Result<(), ApplyError>;
}

/// Runs `program args` with `stdin`; its stdout, or an error with its stderr.
pub fn run(program: &str, args: &[&str], stdin: Option<&str>) -> Result<String, ApplyError> {
    let mut cmd = Command::new(program);
    // Unit tests run the appliers' kernel parts inside a namespace they made.
    #[cfg(test)]
    if let Some(ns) = TEST_NETNS.with(|n| n.borrow().clone()) {
        cmd = Command::new("ip");
        cmd.args(["netns", "exec", &ns, program]);
    }
    // A group of its own: a Ctrl-C at the terminal reaches the agent only,
    // which lets the tool finish its transaction and then stops.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    // The input goes in as an unnamed file written whole before the tool
    // starts, not through a pipe: if the agent is killed while a pipe is
    // half written, the tool (in its own group, so still running) reads a
    // cut-off transaction, and `nft -f -` commits one that ends at a line
    // boundary — half a ruleset. From a file the tool always reads all.
    let input = match stdin {
        Some(text) => Stdio::from(input_file(text).map_err(|e| {
            ApplyError::Tool(format!(
                "cannot write {program}'s input to a temporary file: {e}"
            ))
        })?),
        None => Stdio::null(),
    };
    cmd.args(args)
        .stdin(input)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd
        .spawn()
        .map_err(|e| ApplyError::Tool(format!("cannot run {program}: {e}")))?;
    let out = child
        .wait_with_output()
        .map_err(|e| ApplyError::Tool(format!("{program}: {e}")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(ApplyError::Tool(format!(
            "{program} {} failed ({}): {}",
            args.join(" "),
            out.status,
            err.trim()
        )))
    }
}

/// `text` in an unnamed temporary file (removed once closed), positioned at
/// its start.
fn input_file(text: &str) -> std::io::Result<std::fs::File> {
    use std::io::{Seek, SeekFrom};
    let mut f = tempfile::tempfile()?;
    f.write_all(text.as_bytes())?;
    f.seek(SeekFrom::Start(0))?;
    Ok(f)
}

#[cfg(test)]
thread_local! {
    /// The network namespace this test thread's [`run`] calls go into.
    pub static TEST_NETNS: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Runs a shell script in a new, empty network namespace (`unshare -n`),
/// feeding it `stdin`; used to see how the kernel lists a ruleset without
/// touching the real one.
pub fn run_in_scratch_netns(script: &str, stdin: &str) -> Result<String, ApplyError> {
    run("unshare", &["--net", "sh", "-c", script], Some(stdin))
}

/// A line diff of `old` into `new`: unified-style lines prefixed with
/// `-`, `+` or a space. Common runs are shown as one `@@` marker.
pub fn diff(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (am, bm) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);
    let mut out = String::new();
    if am.is_empty() && bm.is_empty() {
        return out;
    }
    if prefix > 0 {
        out.push_str(&format!("@@ {prefix} unchanged line(s) @@\n"));
    }
    if am.len().saturating_mul(bm.len()) <= 4_000_000 {
        lcs_diff(am, bm, &mut out);
    } else {
        // Too large for a quadratic diff: lines that only one side has.
        let mut count = std::collections::HashMap::<&str, isize>::new();
        for l in am {
            *count.entry(l).or_default() += 1;
        }
        for l in bm {
            *count.entry(l).or_default() -= 1;
        }
        let mut left = count.clone();
        for l in am {
            let c = left.entry(l).or_default();
            if *c > 0 {
                *c -= 1;
                out.push_str(&format!("-{l}\n"));
            }
        }
        for l in bm {
            let c = count.entry(l).or_default();
            if *c < 0 {
                *c += 1;
                out.push_str(&format!("+{l}\n"));
            }
        }
    }
    if suffix > 0 {
        out.push_str(&format!("@@ {suffix} unchanged line(s) @@\n"));
    }
    out
}

fn lcs_diff(a: &[&str], b: &[&str], out: &mut String) {
    let (n, m) = (a.len(), b.len());
    // lcs[i][j]: length of the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![0u32; (n + 1) * (m + 1)];
    let at = |i: usize, j: usize| i * (m + 1) + j;
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[at(i, j)] = if a[i] == b[j] {
                lcs[at(i + 1, j + 1)] + 1
            } else {
                lcs[at(i + 1, j)].max(lcs[at(i, j + 1)])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            out.push_str(&format!(" {}\n", a[i]));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[at(i + 1, j)] >= lcs[at(i, j + 1)]) {
            out.push_str(&format!("-{}\n", a[i]));
            i += 1;
        } else {
            out.push_str(&format!("+{}\n", b[j]));
            j += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::diff;

    #[test]
    fn diff_shows_changed_lines_only() {
        let d = diff("a\nb\nc\nd\n", "a\nb\nx\nd\n");
        assert_eq!(
            d,
            "@@ 2 unchanged line(s) @@\n-c\n+x\n@@ 1 unchanged line(s) @@\n"
        );
        assert_eq!(diff("a\n", "a\n"), "");
        assert_eq!(diff("", "a\n"), "+a\n");
    }
}
