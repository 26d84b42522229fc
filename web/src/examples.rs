//! The examples menu: a built-in starter, then the repository's
//! `examples/` as the build found it (see `build.rs`).

include!(concat!(env!("OUT_DIR"), "/examples.rs"));

/// The built-in starter, shown when there is no share link.
pub const STARTER: &str = include_str!("starter.yaml");

/// Every example, `(name, manifests)`: the starter first.
pub fn all() -> Vec<(&'static str, &'static str)> {
    let mut out = vec![("starter", STARTER)];
    out.extend(EXAMPLES.iter().copied());
    out
}
