//! The structure-aware fuzz targets on stable Rust: each target's checks
//! (`svcgen_fuzz_core::run_*`, the same code the cargo-fuzz targets run)
//! over a fixed number of pseudo-random byte strings, and over the seed
//! corpus kept in the repository (`fuzz/seeds/<target>/`).

use std::path::Path;
use svcgen_fuzz_core::{TARGETS, bytes};

/// Byte strings per target (`FUZZ_CASES` raises it for a longer run).
fn cases() -> u64 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64)
}

fn run(name: &str, f: fn(&[u8]) -> Result<(), String>) {
    let mut failures = Vec::new();
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../seeds")
        .join(name);
    let mut inputs: Vec<(String, Vec<u8>)> = Vec::new();
    if let Ok(dir) = std::fs::read_dir(&seeds) {
        let mut files: Vec<_> = dir.flatten().map(|e| e.path()).collect();
        files.sort();
        for p in files {
            inputs.push((p.display().to_string(), std::fs::read(&p).unwrap()));
        }
    }
    for i in 0..cases() {
        // Lengths from 16 bytes to 4 KiB: small clusters and large ones.
        let len = 16 << (i % 9);
        inputs.push((
            format!("case {i} (FUZZ_SHOW={name}:{}:{len})", i + 1),
            bytes(i + 1, len),
        ));
    }
    for (what, data) in &inputs {
        if let Err(why) = f(data) {
            failures.push(format!("{name} {what}: {why}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    println!("{name}: {} passed, 0 failed", inputs.len());
}

#[test]
fn cluster_target_checks_hold() {
    run("cluster", TARGETS[0].1);
}

#[test]
fn dumps_target_checks_hold() {
    run("dumps", TARGETS[1].1);
}

#[test]
fn incremental_target_checks_hold() {
    run("changes", TARGETS[2].1);
}

/// Shows one case: `FUZZ_SHOW=cluster:5:512 cargo test -p svcgen-fuzz-core
/// --test shared_checks show -- --ignored --nocapture` prints its input
/// (target, seed, length as in a failure's `case N (seed S, L bytes)`).
#[test]
#[ignore]
fn show() {
    use arbitrary::{Arbitrary, Unstructured};
    use svcgen_fuzz_core::{cluster::Cluster, dumps::DumpText, incremental::Scenario};
    // FUZZ_SHOW=target:seed:len (a generated input) or target:file:PATH
    // (a crash libFuzzer left in fuzz/artifacts/).
    let spec = std::env::var("FUZZ_SHOW").expect("FUZZ_SHOW=target:seed:len or target:file:PATH");
    let parts: Vec<&str> = spec.splitn(3, ':').collect();
    let data = match parts[1] {
        "file" => std::fs::read(parts[2]).unwrap(),
        seed => bytes(seed.parse().unwrap(), parts[2].parse().unwrap()),
    };
    let u = Unstructured::new(&data);
    match parts[0] {
        "cluster" => {
            let c = Cluster::arbitrary_take_rest(u).unwrap();
            print!("{}", c.yaml());
            if std::env::var("FUZZ_SHOW_OUTPUTS").is_ok() {
                let o = svcgen_fuzz_core::checks::overrides();
                let l = libsvc::load(&[libsvc::Input::new("c.yaml", c.yaml())], &o);
                for (name, text) in svcgen_fuzz_core::checks::outputs(&l) {
                    println!("=== {name}\n{text}");
                }
            }
        }
        "dumps" => print!("{}", DumpText::arbitrary_take_rest(u).unwrap().text()),
        _ => {
            let s = Scenario::arbitrary_take_rest(u).unwrap();
            println!("{s:#?}");
            println!("{:?}", svcgen_fuzz_core::incremental::check_scenario(&s));
        }
    }
}
