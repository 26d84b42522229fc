//! `svcgen agent`: the node agent. It follows the cluster's Services from a
//! source (the manifests in a directory, or the Kubernetes API), keeps
//! them in libsvc's incremental engine, and programs the kernel with the
//! delta of each change, as kube-proxy's partial syncs do; a full sync at
//! start-up, after a failure and rarely on a period.
//!
//! The pieces, each replaceable on its own:
//! - a source ([`source`]: the seam; [`source_files`], `source_api`) sends
//!   [`source::SourceEvent`]s over a channel;
//! - the [`engine::Engine`] turns them into what the kernel should hold
//!   (a delta, or everything), holding back a broken file's objects only;
//! - [`sync`] runs the loop on a tokio runtime: batching, scheduling of
//!   partial and full syncs, retries, signals;
//! - an [`apply::Applier`] programs the kernel for one proxy mode and owns
//!   only its own tables and chains;
//! - [`metrics`] serves Prometheus metrics and `/healthz`; [`logs`] writes
//!   logfmt or JSON lines.
//!
//! This is the only code of svcgen that touches a kernel.

pub mod apply;
pub mod dryrun;
pub mod engine;
pub mod logs;
pub mod metrics;
pub mod source;
pub mod source_api;
pub mod source_files;
pub mod sync;

use crate::inputs::InputArgs;
use apply::{Applier, Desired, Family};
use clap::{Args, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The proxy modes the agent can program.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyMode {
    /// iptables-restore --noflush on kube-proxy's chains.
    Iptables,
    /// One nft transaction per family on the `kube-proxy` tables.
    #[value(alias = "nft")]
    Nftables,
    /// IPVS (needs IPVS in the kernel).
    Ipvs,
}

impl ProxyMode {
    fn name(self) -> &'static str {
        match self {
            ProxyMode::Iptables => "iptables",
            ProxyMode::Nftables => "nftables",
            ProxyMode::Ipvs => "ipvs",
        }
    }

    fn applier(self) -> Box<dyn Applier + Send> {
        match self {
            ProxyMode::Iptables => Box::new(apply::iptables::Iptables::new()),
            ProxyMode::Nftables => Box::new(apply::nftables::Nftables::new()),
            ProxyMode::Ipvs => Box::new(apply::ipvs::Ipvs::default()),
        }
    }
}

/// Where the rule text comes from.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SourceKind {
    /// Kubernetes manifests, rendered by svcgen (as `svcgen render`).
    #[default]
    Manifests,
    /// Rule text already rendered: `*.nft` (nftables), `*.iptables` and
    /// `*.ip6tables` (iptables) files, applied as they are.
    Rendered,
    /// The Kubernetes API (Services, EndpointSlices, its own Node), watched
    /// as kube-proxy's informers do (`source_api`).
    Api,
}

/// `svcgen agent`.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AgentArgs {
    #[command(subcommand)]
    action: Option<AgentAction>,
    /// The proxy mode to program.
    #[arg(long, value_enum)]
    mode: Option<ProxyMode>,
    /// The directory of manifests to follow (its .yaml/.yml/.json files).
    #[arg(long, value_name = "DIR")]
    watch: Option<PathBuf>,
    /// Sync once and exit (status 0 when the kernel holds the rules).
    #[arg(long)]
    once: bool,
    /// Print the difference between the kernel and what would be applied; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// A periodic sync this often (kube-proxy's syncPeriod): it applies
    /// what is pending and runs the full sync when one is due.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    sync_period: Duration,
    /// Syncs start at most this often; changes in between are batched
    /// (kube-proxy's minSyncPeriod). A change after a quiet spell is
    /// applied at once.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration_or_zero)]
    min_sync_period: Duration,
    /// A full sync (everything rewritten) at least this often; otherwise
    /// only deltas are sent (kube-proxy's FullSyncPeriod, one hour).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration)]
    full_sync_period: Duration,
    /// How often the directory is scanned when inotify cannot be used.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    poll_interval: Duration,
    /// Always scan every poll interval instead of watching with inotify.
    #[arg(long)]
    poll: bool,
    /// Log lines as logfmt or JSON.
    #[arg(long, value_enum, default_value_t)]
    log_format: logs::LogFormat,
    /// Serve Prometheus metrics at /metrics and a health check at /healthz.
    #[arg(long, value_name = "ADDR:PORT")]
    metrics_addr: Option<SocketAddr>,
    /// What the directory holds.
    #[arg(long, value_enum, default_value_t)]
    source: SourceKind,
    #[command(flatten)]
    input: InputArgs,
}

#[derive(Subcommand, Debug)]
enum AgentAction {
    /// Remove every table, chain and rule the agent creates for a mode.
    Cleanup {
        /// The proxy mode whose state to remove.
        #[arg(long, value_enum)]
        mode: ProxyMode,
    },
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.split_at(
        s.find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(s.len()),
    );
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: expected e.g. 30s, 1m, 500ms"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("invalid duration {s:?}: units ms, s, m, h")),
    };
    if !(secs > 0.0 && secs.is_finite()) {
        return Err(format!("invalid duration {s:?}: must be positive"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_duration_or_zero(s: &str) -> Result<Duration, String> {
    if s.trim_end_matches(|c: char| c.is_ascii_alphabetic()) == "0" {
        return Ok(Duration::ZERO);
    }
    parse_duration(s)
}

/// Rule text files in the watched directory, applied as they are:
/// nftables `*.nft`; iptables `*.iptables` (IPv4) and `*.ip6tables` (IPv6);
/// ipvs `*.ipvs` (a whole `svcgen render --mode ipvs` of one family).
/// Files of one family are concatenated in name order.
pub struct RenderedFiles {
    dir: PathBuf,
    mode: ProxyMode,
}

impl RenderedFiles {
    /// The rule text per family, or the problems that keep it from being read.
    pub fn desired(&self) -> Result<Desired, Vec<String>> {
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| vec![format!("{}: cannot list: {e}", self.dir.display())])?;
        let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        let mut v4 = String::new();
        let mut v6 = String::new();
        for p in files {
            let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
            let target = match (self.mode, ext) {
                (ProxyMode::Nftables, "nft") => {
                    // The family is the one the text names.
                    let text = read(&p)?;
                    if text.contains(" ip6 ") {
                        &mut v6
                    } else {
                        &mut v4
                    }
                    .push_str(&text);
                    continue;
                }
                (ProxyMode::Ipvs, "ipvs") => {
                    // A saved `svcgen render --mode ipvs` of one family.
                    let text = read(&p)?;
                    if text.contains("# ---- IPv6 ") {
                        &mut v6
                    } else {
                        &mut v4
                    }
                    .push_str(&text);
                    continue;
                }
                (ProxyMode::Iptables, "iptables") => &mut v4,
                (ProxyMode::Iptables, "ip6tables") => &mut v6,
                _ => continue,
            };
            target.push_str(&read(&p)?);
        }
        let mut out = Desired::default();
        for (f, t) in [(Family::V4, v4), (Family::V6, v6)] {
            if !t.is_empty() {
                out.texts.push((f, t));
            }
        }
        Ok(out)
    }
}

fn read(p: &std::path::Path) -> Result<String, Vec<String>> {
    let mut t = std::fs::read_to_string(p)
        .map_err(|e| vec![format!("{}: cannot read: {e}", p.display())])?;
    if !t.ends_with('\n') {
        t.push('\n');
    }
    Ok(t)
}

/// `svcgen agent …`.
pub fn run(args: AgentArgs) -> ExitCode {
    logs::init(args.log_format);
    if let Some(AgentAction::Cleanup { mode }) = args.action {
        let mut applier = mode.applier();
        return match applier.cleanup() {
            Ok(()) => {
                tracing::info!(mode = mode.name(), "cleaned up");
                ExitCode::SUCCESS
            }
            Err(e) => {
                tracing::error!(mode = mode.name(), error = %e, "cleanup failed");
                ExitCode::from(crate::EXIT_INVALID)
            }
        };
    }
    let Some(mode) = args.mode else {
        eprintln!("svcgen agent: --mode is required (see svcgen agent --help)");
        return ExitCode::from(crate::EXIT_USAGE);
    };
    let dir = match (args.source, args.watch.clone()) {
        (SourceKind::Api, d) => d,
        (_, Some(d)) if d.is_dir() => Some(d),
        (_, Some(d)) => {
            eprintln!("svcgen agent: --watch {}: not a directory", d.display());
            return ExitCode::from(crate::EXIT_USAGE);
        }
        (_, None) => {
            eprintln!(
                "svcgen agent: --mode and --watch DIR are required (see svcgen agent --help)"
            );
            return ExitCode::from(crate::EXIT_USAGE);
        }
    };
    let overrides = match args.input.overrides() {
        Ok(o) => o,
        Err(d) => {
            eprintln!("svcgen agent: {}", d.message);
            return ExitCode::from(crate::EXIT_USAGE);
        }
    };
    let applier = mode.applier();
    if let Err(e) = applier.check_support() {
        tracing::error!(mode = mode.name(), error = %e, "kernel support missing");
        return ExitCode::from(crate::EXIT_INVALID);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("svcgen agent: cannot start the runtime: {e}");
            return ExitCode::from(crate::EXIT_INVALID);
        }
    };
    let settings = sync::Settings {
        mode,
        once: args.once,
        dry_run: args.dry_run,
        sync_period: args.sync_period,
        min_sync_period: args.min_sync_period,
        full_sync_period: args.full_sync_period,
    };
    runtime.block_on(async move {
        let metrics = metrics::Metrics::default();
        if let Some(addr) = args.metrics_addr {
            match metrics::serve(addr, metrics.clone()).await {
                Ok(a) => tracing::info!(addr = %a, "serving metrics"),
                Err(e) => {
                    eprintln!("svcgen agent: --metrics-addr {addr}: {e}");
                    return ExitCode::from(crate::EXIT_USAGE);
                }
            }
        }
        let (tx, rx) = source::channel();
        let desire = match args.source {
            SourceKind::Manifests => {
                let mut dirs = Vec::new();
                let mut files = Vec::new();
                for p in dir
                    .iter()
                    .cloned()
                    .chain(args.input.files.iter().map(PathBuf::from))
                {
                    if p.is_dir() {
                        dirs.push(p)
                    } else {
                        files.push(p)
                    }
                }
                let f =
                    source_files::Files::new(dirs, source_files::Pick::Manifests).with_files(files);
                tokio::spawn(source_files::run(f, args.poll_interval, args.poll, tx));
                sync::Desire::Manifests(Box::new(engine::Engine::new(mode, overrides)))
            }
            SourceKind::Rendered => {
                let dir = dir.unwrap_or_default();
                let f = source_files::Files::new(vec![dir.clone()], source_files::Pick::Any);
                tokio::spawn(source_files::run(f, args.poll_interval, args.poll, tx));
                sync::Desire::Rendered(RenderedFiles { dir, mode })
            }
            SourceKind::Api => {
                // The Kubernetes API source (source_api.rs) sends on `tx`.
                let source = match source_api::from_args(&args.input, args.min_sync_period) {
                    Ok(s) => s,
                    Err(e) => {
                        eprintln!("svcgen agent: {e}");
                        return ExitCode::from(crate::EXIT_USAGE);
                    }
                };
                tokio::spawn(source_api::run(source, tx));
                sync::Desire::Manifests(Box::new(engine::Engine::new(mode, overrides)))
            }
        };
        sync::run(settings, desire, applier, metrics, rx).await
    })
}
