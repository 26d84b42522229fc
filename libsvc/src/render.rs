//! One entry point for every output, shared by the CLI and the playground:
//! a [`Mode`] and its options in, text or a JSON value out.

use crate::Loaded;
use crate::config::IpFamily;
use serde::Serialize;
use std::collections::BTreeSet;

/// The outputs svcgen renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Mode {
    /// kube-proxy iptables mode: `iptables-restore` input.
    Iptables,
    /// kube-proxy nftables mode: an `nft -f` transaction.
    Nftables,
    /// kube-proxy IPVS mode: ipvsadm, ipset and iptables sections.
    Ipvs,
    /// The service environment variables kubelet injects into a pod.
    Env,
    /// The cluster DNS records, as a zone-file listing.
    Dns,
    /// A pod's `/etc/resolv.conf` under the ClusterFirst policy.
    Resolv,
}

impl Mode {
    /// Every mode.
    pub const ALL: [Mode; 6] = [
        Mode::Iptables,
        Mode::Nftables,
        Mode::Ipvs,
        Mode::Env,
        Mode::Dns,
        Mode::Resolv,
    ];

    /// The name used on the command line (`--mode`).
    pub fn name(&self) -> &'static str {
        match self {
            Mode::Iptables => "iptables",
            Mode::Nftables => "nftables",
            Mode::Ipvs => "ipvs",
            Mode::Env => "env",
            Mode::Dns => "dns",
            Mode::Resolv => "resolv",
        }
    }

    /// Parses a `--mode` name (`nft` is nftables).
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "nft" => Some(Mode::Nftables),
            _ => Mode::ALL.into_iter().find(|m| m.name() == s),
        }
    }
}

/// Options of one render; each mode reads the ones that concern it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RenderOptions {
    /// env / resolv: the pod's namespace (default `default`).
    pub namespace: Option<String>,
    /// env: the pod's `enableServiceLinks` (default true).
    pub enable_service_links: Option<bool>,
    /// env / resolv: a Pod of the input whose namespace and
    /// `enableServiceLinks` are used.
    pub pod: Option<String>,
    /// iptables: add the jumps from the built-in chains.
    pub with_jumps: bool,
    /// ipvs: one section only (`ipvs`, `ipset`, `iptables`, `addresses`).
    pub section: Option<String>,
    /// Also encode the model as JSON in [`Rendered::json`] (`-o json`).
    /// Off by default: on a large cluster it costs more than the text.
    pub json: bool,
}

/// Why a render produced nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The mode is not implemented yet.
    #[error("--mode {} is not implemented yet", .0.name())]
    NotImplemented(Mode),
    /// The options do not fit the input (e.g. `--pod` names no Pod).
    #[error("{0}")]
    Invalid(String),
}

/// A rendered output: the text a user reads, and the model as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// The text (`iptables-restore` input, `KEY=VALUE` lines, zone listing, …).
    pub text: String,
    /// The typed model as JSON (`-o json`); `null` unless
    /// [`RenderOptions::json`] asked for it.
    pub json: serde_json::Value,
    /// Notes about this output (e.g. env size warnings), shown with the diagnostics.
    pub diagnostics: Vec<crate::Diagnostic>,
}

/// Renders `mode` for the loaded input.
pub fn render(
    loaded: &Loaded,
    mode: Mode,
    options: &RenderOptions,
) -> Result<Rendered, RenderError> {
    let mut rendered = render_mode(loaded, mode, options)?;
    rendered
        .diagnostics
        .extend(node_ports_without_address(loaded, mode));
    Ok(rendered)
}

fn render_mode(
    loaded: &Loaded,
    mode: Mode,
    options: &RenderOptions,
) -> Result<Rendered, RenderError> {
    match mode {
        // kube-proxy iptables mode
        Mode::Iptables => one_family_payload(loaded, mode, options, crate::proxy::iptables::render),

        // kube-proxy nftables mode
        Mode::Nftables => one_family_payload(loaded, mode, options, crate::proxy::nftables::render),

        // kube-proxy IPVS mode
        Mode::Ipvs => crate::proxy::ipvs::render(loaded, options),

        // kubelet's service environment variables
        Mode::Env => {
            let ctx = pod_context(loaded, options)?;
            let env = crate::env::pod_env(loaded, &ctx);
            let vars: Vec<&crate::env::EnvVar> = env.vars().collect();
            Ok(Rendered {
                text: env.to_string(),
                json: to_json(options, &vars)?,
                diagnostics: env.diagnostics,
            })
        }

        // the cluster DNS records
        Mode::Dns => {
            let (zone, diagnostics) = crate::dns::zone(loaded).map_err(RenderError::Invalid)?;
            Ok(Rendered {
                text: zone.to_string(),
                json: to_json(options, &zone)?,
                diagnostics,
            })
        }

        // a ClusterFirst pod's resolv.conf
        Mode::Resolv => {
            let ctx = pod_context(loaded, options)?;
            let conf = crate::dns::resolv_conf(loaded, &ctx.namespace);
            Ok(Rendered {
                text: conf.to_string(),
                json: to_json(options, &conf)?,
                diagnostics: Vec::new(),
            })
        }
    }
}

/// The IP families the input uses: its Services' cluster, external and
/// load-balancer IPs, its EndpointSlices, the node's IPs and the pod CIDRs;
/// when none says, the service CIDRs' (IPv4 by default).
pub fn input_families(loaded: &Loaded) -> Vec<IpFamily> {
    let mut families = BTreeSet::new();
    for svc in &loaded.table.services {
        families.extend(svc.cluster_ips.iter().map(IpFamily::of));
        families.extend(
            svc.external_ips
                .iter()
                .filter_map(|ip| crate::config::parse_ip(ip))
                .map(|ip| IpFamily::of(&ip)),
        );
        families.extend(svc.lb_ingress.iter().map(|i| IpFamily::of(&i.ip)));
        families.extend(svc.slices.iter().filter_map(|s| s.address_type.family()));
    }
    families.extend(loaded.settings.node.ips.iter().map(IpFamily::of));
    families.extend(
        loaded
            .settings
            .proxy
            .cluster_cidrs
            .iter()
            .map(|n| IpFamily::of(&n.addr())),
    );
    if families.is_empty() {
        families.extend(
            loaded
                .settings
                .cluster
                .service_cidrs
                .iter()
                .map(|n| IpFamily::of(&n.addr())),
        );
    }
    families.into_iter().collect()
}

/// iptables and nftables: an input of one IP family gets that family's
/// payload alone (no `#` headers, no empty table of the other family), so
/// the text pipes into `iptables-restore` / `nft -f` as it is. With both
/// families and no `--ip-family`, both payloads, and a note on how to take one.
fn one_family_payload(
    loaded: &Loaded,
    mode: Mode,
    options: &RenderOptions,
    backend: fn(&Loaded, &RenderOptions) -> Result<Rendered, RenderError>,
) -> Result<Rendered, RenderError> {
    if loaded.settings.ip_family.is_some() {
        return backend(loaded, options);
    }
    match input_families(loaded).as_slice() {
        [family] => {
            let mut one = loaded.clone();
            one.settings.ip_family = Some(*family);
            backend(&one, options)
        }
        _ => {
            let mut rendered = backend(loaded, options)?;
            let how = match mode {
                Mode::Iptables => {
                    "the IPv4 payload (for iptables-restore) and the IPv6 payload (for ip6tables-restore) are printed one after the other, each under its `#` header"
                }
                _ => "both the ip and the ip6 kube-proxy tables are in one `nft -f` transaction",
            };
            rendered.diagnostics.push(crate::Diagnostic::new(
                crate::Severity::Info,
                format!(
                    "the input has IPv4 and IPv6 addresses: {how}; give --ip-family IPv4 or --ip-family IPv6 to print one family's payload"
                ),
                None,
            ));
            Ok(rendered)
        }
    }
}

/// Node ports kube-proxy cannot program because no node address is known
/// to listen on: IPVS makes one virtual server per node address
/// (`GetAllLocalAddressesExcept` / `nodePortAddresses`), and iptables and
/// nftables, when `nodePortAddresses` restricts them, match the node
/// addresses inside those CIDRs. Without one, the node ports are left out;
/// this says so and how to give an address.
fn node_ports_without_address(loaded: &Loaded, mode: Mode) -> Option<crate::Diagnostic> {
    if !matches!(mode, Mode::Iptables | Mode::Nftables | Mode::Ipvs) {
        return None;
    }
    let settings = &loaded.settings;
    let mut missing: Vec<String> = Vec::new();
    let mut families: Vec<IpFamily> = Vec::new();
    for family in settings.families() {
        let cidrs = crate::proxy::node_port_cidrs(settings, family, mode == Mode::Nftables);
        let every_address = cidrs.is_empty() || cidrs.iter().any(|n| n.prefix_len() == 0);
        let addresses: Vec<std::net::IpAddr> = if every_address {
            if mode != Mode::Ipvs {
                continue; // `-m addrtype --dst-type LOCAL` / `fib daddr type local`
            }
            settings
                .node
                .ips
                .iter()
                .copied()
                .filter(|ip| IpFamily::of(ip) == family && !ip.is_loopback())
                .collect()
        } else {
            settings
                .node
                .local_ips(family)
                .into_iter()
                .filter(|ip| mode != Mode::Ipvs || !ip.is_loopback())
                .filter(|ip| cidrs.iter().any(|n| n.contains(ip)))
                .collect()
        };
        if !addresses.is_empty() {
            continue;
        }
        let before = missing.len();
        for sp in crate::proxy::service_ports(&loaded.table, settings, family) {
            if let Some(np) = sp.node_port().filter(|p| *p != 0) {
                missing.push(format!("{} ({np}/{})", sp.port_name(), sp.protocol()));
            }
        }
        if missing.len() > before {
            families.push(family);
        }
    }
    if missing.is_empty() {
        return None;
    }
    let families: Vec<String> = families.iter().map(|f| f.to_string()).collect();
    let shown: Vec<&str> = missing.iter().take(3).map(String::as_str).collect();
    let more = if missing.len() > 3 {
        format!(" and {} more", missing.len() - 3)
    } else {
        String::new()
    };
    let restricted = settings.proxy.node_port_addresses.is_some();
    Some(crate::Diagnostic::new(
        crate::Severity::Warning,
        format!(
            "no rules for the node ports of {} service port(s): {}{more}: no {} node address is known{} for them to listen on; give --node-ip IP, or a Node with an InternalIP address in the input",
            missing.len(),
            shown.join(", "),
            families.join(" or "),
            if restricted {
                " inside nodePortAddresses"
            } else {
                ""
            },
        ),
        None,
    ))
}

/// The pod an env or resolv render is for.
fn pod_context(
    loaded: &Loaded,
    options: &RenderOptions,
) -> Result<crate::env::PodContext, RenderError> {
    crate::env::pod_context(
        loaded,
        options.namespace.as_deref(),
        options.enable_service_links,
        options.pod.as_deref(),
    )
    .map_err(RenderError::Invalid)
}

/// The model as JSON when the options ask for it, `null` otherwise.
pub(crate) fn to_json<T: Serialize>(
    options: &RenderOptions,
    value: &T,
) -> Result<serde_json::Value, RenderError> {
    if !options.json {
        return Ok(serde_json::Value::Null);
    }
    serde_json::to_value(value)
        .map_err(|e| RenderError::Invalid(format!("cannot encode JSON: {e}")))
}
