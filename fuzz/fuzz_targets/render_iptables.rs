//! Arbitrary bytes → load → the iptables ruleset of both families: nothing
//! panics, jumps are consistent, no name changes a rule's words, every
//! KUBE-SVC chain shares equally, and the tracer runs on every cluster IP.
//! (`iptables-restore --test` judges the conformance cases and generated
//! hostile names in `libsvc/tests/iptables_kernel.rs`; a fuzz loop cannot
//! fork a process per input.)
#![no_main]

#[path = "../../libsvc/tests/common/iptables_checks.rs"]
mod checks;

use libfuzzer_sys::fuzz_target;
use libsvc::{Input, Overrides, load};

fuzz_target!(|data: &[u8]| {
    let Ok(input) = Input::from_bytes("fuzz.yaml", data.to_vec()) else {
        return;
    };
    let loaded = load(&[input], &Overrides::default());
    if let Err(why) = checks::render_iptables_holds(&loaded) {
        panic!("{why}");
    }
});
