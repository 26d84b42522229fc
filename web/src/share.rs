//! The playground's whole state in a URL fragment: JSON, deflated, in
//! base64url, behind a version prefix (`#s=1.…`).

use crate::settings::FormSettings;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// The prefix of an encoded state (format version 1).
const PREFIX: &str = "1.";
/// Inflated states larger than this are refused (a fragment is not a zip bomb).
const MAX_STATE: usize = 8 << 20;

/// The trace form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TraceForm {
    /// The proxy mode to trace through (`iptables`, `nftables`, `ipvs`).
    pub mode: String,
    /// Source address.
    pub src: String,
    /// Destination address.
    pub dst: String,
    /// Destination port.
    pub port: String,
    /// `tcp`, `udp` or `sctp`.
    pub proto: String,
}

impl Default for TraceForm {
    fn default() -> Self {
        TraceForm {
            mode: "iptables".into(),
            src: "10.244.3.9".into(),
            dst: "10.96.0.20".into(),
            port: "80".into(),
            proto: "tcp".into(),
        }
    }
}

/// Everything a share link carries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct State {
    /// The editor's text.
    pub manifests: String,
    /// The settings form.
    pub settings: FormSettings,
    /// The open tab (a mode name, `table`, `settings` or `diagnostics`).
    pub tab: String,
    /// The trace form.
    pub trace: TraceForm,
    /// The node rules panel: the pasted dump and the mode to check it as.
    pub node: crate::node::NodeForm,
}

/// Encodes a state for a URL fragment.
pub fn encode(state: &State) -> String {
    let json = serde_json::to_vec(state).unwrap_or_default();
    let packed = miniz_oxide::deflate::compress_to_vec(&json, 9);
    format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(packed))
}

/// Decodes what [`encode`] wrote.
pub fn decode(s: &str) -> Result<State, String> {
    let body = s
        .strip_prefix(PREFIX)
        .ok_or_else(|| "unknown share link format".to_string())?;
    let packed = URL_SAFE_NO_PAD
        .decode(body.trim_end_matches('='))
        .map_err(|e| format!("share link is not base64url: {e}"))?;
    let json = miniz_oxide::inflate::decompress_to_vec_with_limit(&packed, MAX_STATE)
        .map_err(|e| format!("share link does not inflate: {:?}", e.status))?;
    serde_json::from_slice(&json).map_err(|e| format!("share link is not a state: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut s = State {
            manifests: "kind: Service # ü 😀\n".repeat(50),
            tab: "env".into(),
            ..Default::default()
        };
        s.settings.node_name = "node-ä".into();
        s.trace.port = "443".into();
        s.node.rules = "*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n".into();
        let enc = encode(&s);
        // 50 copies of a line, the settings and a dump squeeze to a few hundred bytes.
        assert!(enc.len() < 450, "compressed: {}", enc.len());
        assert!(
            enc.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        );
        assert_eq!(decode(&enc).unwrap(), s);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(decode("").is_err());
        assert!(decode("1.!!!").is_err());
        assert!(decode("1.AAAA").is_err());
        assert!(decode("2.AAAA").is_err());
    }
}
