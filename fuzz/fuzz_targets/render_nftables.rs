//! Arbitrary bytes → load → nftables render and trace: nothing may panic,
//! and the text keeps its shape: every line is one `add <object> <family>
//! kube-proxy …` command and quotes pair up on each line, so nothing from
//! the input can add a command or end a quoted comment early. (Whether the
//! kernel accepts the text is checked by `libsvc/tests/nftables_kernel.rs`
//! and the generated clusters of `libsvc/tests/nftables_props.rs`, which
//! run `nft -c`.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use libsvc::proxy::nftables;
use libsvc::table::Protocol;
use libsvc::trace::Packet;
use libsvc::{Input, Overrides, load};

fuzz_target!(|data: &[u8]| {
    let Ok(input) = Input::from_bytes("fuzz.yaml", data.to_vec()) else {
        return;
    };
    let loaded = load(&[input], &Overrides::default());
    let rendered = nftables::render(&loaded, &Default::default()).expect("nftables renders");
    for line in rendered.text.lines() {
        let words: Vec<&str> = line.split(' ').collect();
        assert!(words.len() >= 4, "short line: {line}");
        assert_eq!(words[0], "add", "{line}");
        assert!(
            matches!(words[1], "table" | "chain" | "set" | "map" | "counter" | "rule" | "element"),
            "{line}"
        );
        assert!(matches!(words[2], "ip" | "ip6"), "{line}");
        assert_eq!(words[3], "kube-proxy", "{line}");
        assert_eq!(line.matches('"').count() % 2, 0, "{line}");
    }
    for svc in &loaded.table.services {
        for ip in &svc.cluster_ips {
            let packet = Packet { src: *ip, dst: *ip, port: 80, protocol: Protocol::TCP, in_interface: None };
            let _ = nftables::trace(&loaded, &packet).expect("nftables traces");
        }
    }
});
