//! Running the svcgen binary as a user does, from the repository's root:
//! shared by the CLI test files (each uses what it needs).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository's root, where the examples' relative paths start.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// svcgen with `args`, no standard input.
pub fn svcgen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_svcgen"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

/// svcgen with `args`, `stdin` on its standard input.
pub fn svcgen_stdin(args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_svcgen"))
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A run that refuses its arguments may exit before reading stdin: a
    // broken pipe here is not the test's concern.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}
