//! The kernel judges the text: every nftables conformance case, rendered
//! for its own family and dual-stack, goes through `nft -c -f -` (check
//! mode: parsed and validated by the kernel, nothing committed) inside a
//! network namespace this test creates and removes.
//!
//! Needs root and `nft` (Debian package `nftables`); skipped (with a
//! message) when not root or when `SVCGEN_SKIP_KERNEL_TESTS` is set.

mod common;

use common::netns::{Netns, kernel_tests_enabled};

#[test]
fn nft_accepts_every_case() {
    if !kernel_tests_enabled() {
        return;
    }
    let ns = Netns::new("nft").expect("ip netns add");
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
            results.push((name, ns.exec("nft", &["-c", "-f", "-"], &text).map(drop)));
        }
    }
    common::report("nftables-kernel", &results, &[]);
}

/// The interface local-traffic detectors (`iifname cbr0`, `iifname !=
/// veth*`; pkg/proxy/util/localdetector.go) on every nftables case.
#[test]
fn nft_accepts_interface_detectors() {
    if !kernel_tests_enabled() {
        return;
    }
    let ns = Netns::new("nftd").expect("ip netns add");
    let mut results = Vec::new();
    for case in common::cases("nftables") {
        let (stream, overrides) = case.stream();
        for (mode, bridge, prefix) in [
            ("BridgeInterface", Some("cbr0"), None),
            ("InterfaceNamePrefix", None, Some("veth")),
        ] {
            let o = libsvc::Overrides {
                detect_local_mode: Some(mode.into()),
                bridge_interface: bridge.map(String::from),
                interface_name_prefix: prefix.map(String::from),
                ip_family: None,
                ..overrides.clone()
            };
            let loaded = libsvc::load(&[libsvc::Input::new("in.yaml", stream.clone())], &o);
            let text = libsvc::proxy::nftables::render(&loaded, &Default::default())
                .expect("nftables renders")
                .text;
            assert!(text.contains("iifname"), "{}: no detector rule", case.name);
            let name = format!("{} ({mode})", case.name);
            results.push((name, ns.exec("nft", &["-c", "-f", "-"], &text).map(drop)));
        }
    }
    common::report("nftables-kernel-detectors", &results, &[]);
}
