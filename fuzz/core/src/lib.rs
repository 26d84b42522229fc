//! svcgen's structure-aware fuzzing, in one place: generators that
//! `arbitrary` fills from bytes (a cluster description, node dumps, change
//! sets for the incremental engine) and the invariants each must keep.
//! The cargo-fuzz targets (`fuzz/fuzz_targets/`, nightly) and the stable
//! test (`tests/shared_checks.rs`, a fixed number of byte strings) call the
//! same `run_*` functions, so CI checks on stable what the campaign checks
//! on nightly.

pub mod checks;
pub mod cluster;
pub mod dumps;
pub mod incremental;

use arbitrary::{Arbitrary, Unstructured};

/// Bytes → a value, or `None` when they run out before one is whole.
fn take<'a, T: Arbitrary<'a>>(data: &'a [u8]) -> Option<T> {
    T::arbitrary_take_rest(Unstructured::new(data)).ok()
}

/// Bytes → a cluster → load → every render → traces, with every check of
/// [`checks::check_cluster`].
pub fn run_cluster(data: &[u8]) -> Result<(), String> {
    match take::<cluster::Cluster>(data) {
        Some(c) => checks::check_cluster(&c),
        None => Ok(()),
    }
}

/// Bytes → a node dump built from pieces → the dump parsers.
pub fn run_dumps(data: &[u8]) -> Result<(), String> {
    match take::<dumps::DumpText>(data) {
        Some(d) => dumps::check_dump_text(&d.text()),
        None => Ok(()),
    }
}

/// Bytes → a scenario of change sets → the incremental engine.
pub fn run_incremental(data: &[u8]) -> Result<(), String> {
    match take::<incremental::Scenario>(data) {
        Some(s) => incremental::check_scenario(&s),
        None => Ok(()),
    }
}

/// A target's checks: bytes in, the violated invariant out.
pub type Target = fn(&[u8]) -> Result<(), String>;

/// Every target by its cargo-fuzz name (`changes` drives the incremental
/// engine; cargo forbids a binary named `incremental`).
pub const TARGETS: [(&str, Target); 3] = [
    ("cluster", run_cluster),
    ("dumps", run_dumps),
    ("changes", run_incremental),
];

/// A fixed stream of pseudo-random bytes (xorshift64*): the stable test's
/// inputs, the same on every run and machine.
pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}
