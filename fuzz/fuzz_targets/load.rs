//! Arbitrary bytes → parse → validate → resolve, and every output that
//! exists: nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use libsvc::render::{Mode, RenderOptions, render};
use libsvc::{Input, Overrides, load};

fuzz_target!(|data: &[u8]| {
    let Ok(input) = Input::from_bytes("fuzz.yaml", data.to_vec()) else {
        return;
    };
    let loaded = load(&[input], &Overrides::default());
    for mode in Mode::ALL {
        let _ = render(&loaded, mode, &RenderOptions::default());
    }
});
