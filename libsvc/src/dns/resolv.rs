//! A pod's `/etc/resolv.conf` under the `ClusterFirst` DNS policy.
//!
//! kubelet (`pkg/kubelet/network/dns`) gives the runtime the cluster DNS
//! servers, the search list `<ns>.svc.<domain> svc.<domain> <domain>` and
//! the option `ndots:5`; the runtime (containerd, CRI-O) writes them in this
//! order: `search`, `nameserver` lines, `options`. The node's own search
//! domains, which kubelet appends, are not known to svcgen and left out.

use serde::Serialize;
use std::fmt;
use std::net::IpAddr;

/// kubelet's `ndots` for ClusterFirst pods.
pub const NDOTS: usize = 5;

/// The resolver configuration of a pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvConf {
    /// `nameserver` lines: the cluster DNS addresses.
    pub nameservers: Vec<IpAddr>,
    /// `search`: tried in order for names with fewer than `ndots` dots.
    pub search: Vec<String>,
    /// `options`.
    pub options: Vec<String>,
}

impl ResolvConf {
    /// ClusterFirst for a pod of `namespace` in cluster `domain` (no trailing dot).
    pub fn cluster_first(namespace: &str, domain: &str, nameservers: &[IpAddr]) -> ResolvConf {
        ResolvConf {
            nameservers: nameservers.to_vec(),
            search: vec![
                format!("{namespace}.svc.{domain}"),
                format!("svc.{domain}"),
                domain.to_string(),
            ],
            options: vec![format!("ndots:{NDOTS}")],
        }
    }

    /// The `ndots` option.
    pub fn ndots(&self) -> usize {
        self.options
            .iter()
            .find_map(|o| o.strip_prefix("ndots:")?.parse().ok())
            .unwrap_or(1)
    }

    /// The absolute names a stub resolver (glibc, musl) tries for `name`, in
    /// order: a name ending in `.` as is; a name with at least `ndots` dots
    /// as is, then with each search domain; otherwise each search domain
    /// first, then as is.
    pub fn candidates(&self, name: &str) -> Vec<String> {
        if let Some(abs) = name.strip_suffix('.') {
            return vec![format!("{abs}.")];
        }
        let searched = self.search.iter().map(|d| format!("{name}.{d}."));
        let as_is = std::iter::once(format!("{name}."));
        if name.matches('.').count() >= self.ndots() {
            as_is.chain(searched).collect()
        } else {
            searched.chain(as_is).collect()
        }
    }
}

impl fmt::Display for ResolvConf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.search.is_empty() {
            writeln!(f, "search {}", self.search.join(" "))?;
        }
        for ns in &self.nameservers {
            writeln!(f, "nameserver {ns}")?;
        }
        if !self.options.is_empty() {
            writeln!(f, "options {}", self.options.join(" "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_list_order_follows_ndots() {
        let conf = ResolvConf::cluster_first("ns", "cluster.local", &[]);
        assert_eq!(
            conf.candidates("kubia"),
            [
                "kubia.ns.svc.cluster.local.",
                "kubia.svc.cluster.local.",
                "kubia.cluster.local.",
                "kubia."
            ]
        );
        assert_eq!(
            conf.candidates("kubia.default.svc.cluster.local."),
            ["kubia.default.svc.cluster.local."]
        );
        // Five dots or more: as is first.
        assert_eq!(conf.candidates("a.b.c.d.e.f")[0], "a.b.c.d.e.f.");
        assert_eq!(
            conf.candidates("a.b.c.d.e")[0],
            "a.b.c.d.e.ns.svc.cluster.local."
        );
    }
}
