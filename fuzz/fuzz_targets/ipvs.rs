//! Arbitrary bytes → a manifest stream (first half) and a packet (last 9
//! bytes: src, dst, port, protocol) → IPVS mode: every section renders,
//! the tracer answers, the ipvsadm text keeps its one-service-per-`-A` shape,
//! and nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use libsvc::render::{Mode, RenderOptions, render};
use libsvc::table::Protocol;
use libsvc::trace::{Packet, trace};
use libsvc::{Input, Overrides, load};
use std::net::IpAddr;

fuzz_target!(|data: &[u8]| {
    if data.len() < 9 {
        return;
    }
    let (text, tail) = data.split_at(data.len() - 9);
    let Ok(input) = Input::from_bytes("fuzz.yaml", text.to_vec()) else {
        return;
    };
    let overrides = Overrides {
        node_ips: vec![IpAddr::from([192, 168, 0, 2])],
        ..Default::default()
    };
    let loaded = load(&[input], &overrides);
    for section in [None, Some("ipvs"), Some("ipset"), Some("iptables"), Some("addresses")] {
        let opts = RenderOptions {
            section: section.map(String::from),
            ..Default::default()
        };
        if let (Ok(r), Some("ipvs")) = (render(&loaded, Mode::Ipvs, &opts), section) {
            for line in r.text.lines() {
                assert!(line.starts_with("-A ") || line.starts_with("-a ") || line.starts_with('#'));
            }
        }
    }
    let packet = Packet {
        in_interface: None,
        src: IpAddr::from([tail[0], tail[1], tail[2], tail[3]]),
        dst: IpAddr::from([10, 96, tail[4], tail[5]]),
        port: u16::from_be_bytes([tail[6], tail[7]]),
        protocol: match tail[8] % 3 {
            0 => Protocol::TCP,
            1 => Protocol::UDP,
            _ => Protocol::SCTP,
        },
    };
    let _ = trace(&loaded, Mode::Ipvs, &packet);
});
