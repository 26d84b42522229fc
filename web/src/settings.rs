//! The settings form: node, proxy and cluster settings as the user types
//! them, mapped onto libsvc's [`Overrides`] and [`RenderOptions`]. An empty
//! field means "as the manifests say, else Kubernetes' default".

use libsvc::config::{IpFamily, KubeVersion, parse_cidr};
use libsvc::render::RenderOptions;
use libsvc::{Diagnostic, Overrides, Severity};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// The form's fields, as text (the JSON the wasm API takes, in camelCase).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FormSettings {
    /// The node name (kube-proxy's hostname).
    pub node_name: String,
    /// The node's IPs, separated by commas or blanks.
    #[serde(rename = "nodeIPs")]
    pub node_ips: String,
    /// KubeProxyConfiguration `clusterCIDR` (the pod network), comma separated.
    #[serde(rename = "clusterCIDR")]
    pub cluster_cidr: String,
    /// The service CIDRs (`--service-cluster-ip-range`), comma separated.
    #[serde(rename = "serviceCIDR")]
    pub service_cidr: String,
    /// The cluster domain (`cluster.local`).
    pub cluster_domain: String,
    /// `IPv4`, `IPv6`, or empty for both.
    pub ip_family: String,
    /// The IPVS scheduler (`rr`, `wrr`, `lc`, …).
    pub ipvs_scheduler: String,
    /// env / resolv: the pod's namespace.
    pub namespace: String,
    /// iptables: add the jumps from the built-in chains.
    pub with_jumps: bool,
    /// The kube-proxy release (`1.33`…`1.37`), or empty for 1.37.
    pub kube_version: String,
}

/// What the form means, and what was wrong in it.
#[derive(Debug, Clone, Default)]
pub struct Mapped {
    /// The overrides for `libsvc::load`.
    pub overrides: Overrides,
    /// The options for `libsvc::render::render`.
    pub options: RenderOptions,
    /// Fields that could not be read (they are ignored).
    pub diagnostics: Vec<Diagnostic>,
}

fn some(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

fn items(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|x| !x.is_empty())
}

fn bad(field: &str, label: &str, value: &str, want: &str) -> Diagnostic {
    let mut d = Diagnostic::new(
        Severity::Warning,
        format!("settings: {label}: Invalid value: {value:?}: must be {want}; ignored"),
        None,
    );
    d.field = Some(field.to_string());
    d
}

impl FormSettings {
    /// Maps the form onto libsvc's inputs.
    pub fn map(&self) -> Mapped {
        let mut m = Mapped::default();
        let o = &mut m.overrides;
        o.node_name = some(&self.node_name);
        for ip in items(&self.node_ips) {
            match ip.parse::<IpAddr>() {
                Ok(ip) => o.node_ips.push(ip),
                Err(_) => m
                    .diagnostics
                    .push(bad("nodeIPs", "node IPs", ip, "a valid IP address")),
            }
        }
        for (text, out, field, label) in [
            (
                &self.cluster_cidr,
                &mut o.cluster_cidrs,
                "clusterCIDR",
                "clusterCIDR",
            ),
            (
                &self.service_cidr,
                &mut o.service_cidrs,
                "serviceCIDR",
                "service CIDR",
            ),
        ] {
            for c in items(text) {
                match parse_cidr(c) {
                    Some(n) => out.push(n),
                    None => m.diagnostics.push(bad(field, label, c, "a valid CIDR")),
                }
            }
        }
        o.cluster_domain = some(&self.cluster_domain);
        o.ip_family = match self.ip_family.trim() {
            "" => None,
            f => match IpFamily::parse(f) {
                Some(f) => Some(f),
                None => {
                    m.diagnostics
                        .push(bad("ipFamily", "IP family", f, "IPv4 or IPv6"));
                    None
                }
            },
        };
        o.ipvs_scheduler = some(&self.ipvs_scheduler);
        o.kube_version = match self.kube_version.trim() {
            "" => None,
            v => {
                let parsed = KubeVersion::parse(v);
                if parsed.is_none() {
                    m.diagnostics.push(bad(
                        "kubeVersion",
                        "Kubernetes version",
                        v,
                        "one of 1.33, 1.34, 1.35, 1.36, 1.37",
                    ));
                }
                parsed
            }
        };
        m.options.namespace = some(&self.namespace);
        m.options.with_jumps = self.with_jumps;
        // Every tab has a JSON view; the playground's inputs are small
        // enough that encoding the model on each update is cheap.
        m.options.json = true;
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_fields() {
        let f: FormSettings = serde_json::from_str(
            r#"{"nodeName":" n1 ","nodeIPs":"10.0.0.1, fd00::1 nope","clusterCIDR":"10.244.0.0/16",
                "serviceCIDR":"","ipFamily":"IPv4","namespace":"prod","withJumps":true}"#,
        )
        .unwrap();
        let m = f.map();
        assert_eq!(m.overrides.node_name.as_deref(), Some("n1"));
        assert_eq!(m.overrides.node_ips.len(), 2);
        assert_eq!(m.overrides.cluster_cidrs.len(), 1);
        assert!(m.overrides.service_cidrs.is_empty());
        assert_eq!(m.overrides.ip_family, Some(IpFamily::IPv4));
        assert_eq!(m.options.namespace.as_deref(), Some("prod"));
        assert!(m.options.with_jumps);
        assert_eq!(m.diagnostics.len(), 1);
        assert!(m.diagnostics[0].message.contains("\"nope\""));
    }

    #[test]
    fn maps_kube_version() {
        let f: FormSettings = serde_json::from_str(r#"{"kubeVersion":"1.34"}"#).unwrap();
        assert_eq!(f.map().overrides.kube_version, Some(KubeVersion::V1_34));
        let f: FormSettings = serde_json::from_str(r#"{"kubeVersion":"1.20"}"#).unwrap();
        let m = f.map();
        assert_eq!(m.overrides.kube_version, None);
        assert!(m.diagnostics[0].message.contains("Kubernetes version"));
    }
}
