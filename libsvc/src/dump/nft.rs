//! `nft list ruleset` text and `nft -j list ruleset` JSON.

use super::Parsed;

/// Reads `nft list ruleset` text.
pub fn parse(file: &str, text: &str) -> Parsed {
    let _ = (file, text);
    Parsed::default()
}

/// Reads `nft -j list ruleset` JSON.
pub fn parse_json(file: &str, text: &str) -> Parsed {
    let _ = (file, text);
    Parsed::default()
}
