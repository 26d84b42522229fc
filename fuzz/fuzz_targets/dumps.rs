//! Structure-aware: bytes → `arbitrary` → the `dumps` generator of
//! `svcgen-fuzz-core` and its invariants (`svcgen_fuzz_core::run_dumps`),
//! the same checks the stable test `fuzz/core/tests/shared_checks.rs` runs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(why) = svcgen_fuzz_core::run_dumps(data) {
        panic!("{why}");
    }
});
