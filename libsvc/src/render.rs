//! One entry point for every output, shared by the CLI and the playground:
//! a [`Mode`] and its options in, text or a JSON value out.

use crate::Loaded;
use serde::Serialize;

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
    match mode {
        // kube-proxy iptables mode
        Mode::Iptables => crate::proxy::iptables::render(loaded, options),

        // kube-proxy nftables mode
        Mode::Nftables => crate::proxy::nftables::render(loaded, options),

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
