//! kube-proxy's nftables mode: `build` (ServiceTable → typed ruleset),
//! `model` (the ruleset), `render` (ruleset → text), `trace`.
//!
//! Not implemented yet.
