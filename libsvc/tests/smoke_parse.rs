mod common;

/// Every case of every corpus loads without a parse error.
#[test]
fn every_case_parses() {
    for mode in ["iptables", "nftables", "ipvs", "env", "dns", "validate"] {
        for case in common::cases(mode) {
            let loaded = case.load();
            assert!(
                !loaded.has_parse_errors(),
                "{mode}/{}: {:#?}",
                case.name,
                loaded.diagnostics
            );
        }
    }
}
