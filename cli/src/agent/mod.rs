//! `svcgen agent`: the node agent. It reads manifests from a directory,
//! renders them with libsvc, applies the rules to the kernel atomically, and
//! keeps them in sync when the files change and every sync period.
//!
//! The pieces, each replaceable on its own:
//! - a [`RuleSource`] turns the directory into rule text per IP family
//!   ([`Manifests`]: libsvc's render; [`RenderedFiles`]: rule text written
//!   by hand or by another tool, for tests and for pre-rendered setups);
//! - an [`apply::Applier`] programs the kernel for one proxy mode and owns
//!   only its own tables and chains;
//! - [`watch::Watcher`] notices file changes; [`metrics`] serves Prometheus text.
//!
//! This is the only code of svcgen that touches a kernel.

pub mod apply;
pub mod metrics;
pub mod source;
pub mod source_api;
pub mod watch;

use crate::inputs::InputArgs;
use apply::{Applier, ApplyError, Desired, Family};
use clap::{Args, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

    fn applier(self) -> Box<dyn Applier> {
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
    /// A full resync this often (e.g. 30s, 1m, 500ms).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    sync_period: Duration,
    /// How often the directory is checked for changes.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    poll_interval: Duration,
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

/// One structured log line on stderr: `ts=… level=… msg="…" key=value…`.
pub fn log(level: &str, msg: &str, fields: &[(&str, &dyn std::fmt::Display)]) {
    let mut line = format!("ts={} level={level} msg={}", timestamp(), quote(msg));
    for (k, v) in fields {
        line.push_str(&format!(" {k}={}", quote(&v.to_string())));
    }
    eprintln!("{line}");
}

fn quote(v: &str) -> String {
    if !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '=')
    {
        v.to_string()
    } else {
        format!("{v:?}")
    }
}

/// RFC 3339 UTC time with milliseconds, computed from the Unix clock.
fn timestamp() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Turns the watched directory into rule text. The seam between "what
/// should the kernel hold" and "make the kernel hold it".
pub trait RuleSource {
    /// The rule text per family, or the problems (one line each, with
    /// file:line:col where known) that keep it from being produced.
    fn desired(&mut self) -> Result<Desired, Vec<String>>;
}

/// Manifests rendered by libsvc, one render per IP family of the node.
pub struct Manifests {
    input: InputArgs,
    mode: libsvc::render::Mode,
    /// Each file as it was when last rendered without an error of its own.
    last_good: std::collections::HashMap<std::sync::Arc<str>, libsvc::Input>,
}

impl Manifests {
    /// Loads `inputs`; a file with errors of its own is held back: its last
    /// good version stands in for it (or nothing, if it never had one), and
    /// its problems are logged naming it. The rest of the node keeps
    /// syncing. Errors that name no file, or that remain, refuse the whole.
    fn load_holding_back(
        &mut self,
        inputs: Vec<libsvc::Input>,
        overrides: &libsvc::Overrides,
    ) -> Result<libsvc::Loaded, Vec<String>> {
        let mut bad: std::collections::BTreeSet<std::sync::Arc<str>> = Default::default();
        let mut held: Vec<String> = Vec::new();
        let mut current = inputs.clone();
        // A file held back can let checks run that its error stopped (a
        // parse error skips validation), so this goes round until no new
        // file is found bad.
        loop {
            let loaded = libsvc::load(&current, overrides);
            let errors: Vec<&libsvc::Diagnostic> = loaded.errors().collect();
            if errors.is_empty() {
                for p in &held {
                    log(
                        "error",
                        "manifest held back; its last good state is kept",
                        &[("problem", p)],
                    );
                }
                for i in inputs.iter().filter(|i| !bad.contains(&i.name)) {
                    self.last_good.insert(i.name.clone(), i.clone());
                }
                return Ok(loaded);
            }
            let all: Vec<String> = errors.iter().map(|d| d.to_string()).collect();
            let mut new_bad = false;
            for d in &errors {
                match &d.location {
                    Some(l) => new_bad |= bad.insert(l.file.clone()),
                    None => return Err(all),
                }
            }
            held.extend(all.iter().cloned());
            current = inputs
                .iter()
                .filter(|i| !bad.contains(&i.name))
                .cloned()
                .collect();
            if !new_bad || current.is_empty() {
                // Nothing left to program without the broken files, or the
                // errors stay: refuse, and the kernel keeps the last good state.
                return Err(all);
            }
            current.extend(bad.iter().filter_map(|n| self.last_good.get(n).cloned()));
        }
    }
}

impl RuleSource for Manifests {
    fn desired(&mut self) -> Result<Desired, Vec<String>> {
        let overrides = self.input.overrides().map_err(|d| vec![d.message])?;
        let inputs = self
            .input
            .read()
            .map_err(|ds| ds.iter().map(ToString::to_string).collect::<Vec<_>>())?;
        let mut loaded = self.load_holding_back(inputs, &overrides)?;
        // kube-proxy runs one proxier per family the node has an IP of.
        let families: Vec<libsvc::config::IpFamily> = match loaded.settings.ip_family {
            Some(f) => vec![f],
            None => {
                let mut fs: Vec<_> = loaded
                    .settings
                    .node
                    .ips
                    .iter()
                    .map(libsvc::config::IpFamily::of)
                    .collect();
                fs.sort_by_key(|f| *f == libsvc::config::IpFamily::IPv6);
                fs.dedup();
                if fs.is_empty() {
                    fs.push(libsvc::config::IpFamily::IPv4);
                }
                fs
            }
        };
        let options = libsvc::render::RenderOptions::default();
        let mut out = Desired::default();
        for f in families {
            // The family is a render setting only (`Settings::families`):
            // one load serves every family.
            loaded.settings.ip_family = Some(f);
            let rendered = libsvc::render::render(&loaded, self.mode, &options)
                .map_err(|e| vec![e.to_string()])?;
            let family = match f {
                libsvc::config::IpFamily::IPv4 => Family::V4,
                libsvc::config::IpFamily::IPv6 => Family::V6,
            };
            out.texts.push((family, rendered.text));
        }
        Ok(out)
    }
}

/// Rule text files in the watched directory, applied as they are:
/// nftables `*.nft`; iptables `*.iptables` (IPv4) and `*.ip6tables` (IPv6);
/// ipvs `*.ipvs` (a whole `svcgen render --mode ipvs` of one family).
/// Files of one family are concatenated in name order.
pub struct RenderedFiles {
    dir: PathBuf,
    mode: ProxyMode,
}

impl RuleSource for RenderedFiles {
    fn desired(&mut self) -> Result<Desired, Vec<String>> {
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
    if let Some(AgentAction::Cleanup { mode }) = args.action {
        let mut applier = mode.applier();
        return match applier.cleanup() {
            Ok(()) => {
                log("info", "cleaned up", &[("mode", &mode.name())]);
                ExitCode::SUCCESS
            }
            Err(e) => {
                log(
                    "error",
                    "cleanup failed",
                    &[("mode", &mode.name()), ("error", &e)],
                );
                ExitCode::from(crate::EXIT_INVALID)
            }
        };
    }
    let (Some(mode), Some(dir)) = (args.mode, args.watch.clone()) else {
        eprintln!("svcgen agent: --mode and --watch DIR are required (see svcgen agent --help)");
        return ExitCode::from(crate::EXIT_USAGE);
    };
    if !dir.is_dir() {
        eprintln!("svcgen agent: --watch {}: not a directory", dir.display());
        return ExitCode::from(crate::EXIT_USAGE);
    }
    let mut input = args.input.clone();
    input.files.insert(0, dir.display().to_string());
    let mut source: Box<dyn RuleSource> = match args.source {
        SourceKind::Manifests => Box::new(Manifests {
            input,
            mode: match mode {
                ProxyMode::Iptables => libsvc::render::Mode::Iptables,
                ProxyMode::Nftables => libsvc::render::Mode::Nftables,
                ProxyMode::Ipvs => libsvc::render::Mode::Ipvs,
            },
            last_good: Default::default(),
        }),
        SourceKind::Rendered => Box::new(RenderedFiles {
            dir: dir.clone(),
            mode,
        }),
        SourceKind::Api => {
            eprintln!("svcgen agent: --source api is not available in this build yet");
            return ExitCode::from(crate::EXIT_USAGE);
        }
    };
    let mut applier = mode.applier();
    let agent = Agent {
        mode,
        once: args.once,
        dry_run: args.dry_run,
        sync_period: args.sync_period,
        poll_interval: args.poll_interval,
        metrics: Arc::new(Mutex::new(metrics::Metrics::default())),
    };
    if let Err(e) = applier.check_support() {
        log(
            "error",
            "kernel support missing",
            &[("mode", &mode.name()), ("error", &e)],
        );
        return ExitCode::from(crate::EXIT_INVALID);
    }
    if let Some(addr) = args.metrics_addr {
        match metrics::serve(addr, agent.metrics.clone()) {
            Ok(a) => log("info", "serving metrics", &[("addr", &a)]),
            Err(e) => {
                eprintln!("svcgen agent: --metrics-addr {addr}: {e}");
                return ExitCode::from(crate::EXIT_USAGE);
            }
        }
    }
    let mut dirs = vec![dir];
    dirs.extend(
        args.input
            .files
            .iter()
            .map(PathBuf::from)
            .filter(|p| p.is_dir()),
    );
    agent.run(&mut *source, &mut *applier, watch::Watcher::new(dirs))
}

/// The sync loop's settings.
struct Agent {
    mode: ProxyMode,
    once: bool,
    dry_run: bool,
    sync_period: Duration,
    poll_interval: Duration,
    metrics: metrics::Shared,
}

/// What a sync came to.
enum Outcome {
    /// The kernel holds the desired state (or the dry run printed its diff).
    Done,
    /// The manifests could not be rendered; nothing was changed.
    SourceFailed,
    /// The kernel refused; try again.
    ApplyFailed,
}

impl Agent {
    fn run(
        &self,
        source: &mut dyn RuleSource,
        applier: &mut dyn Applier,
        mut watcher: watch::Watcher,
    ) -> ExitCode {
        log(
            "info",
            "agent starting",
            &[
                ("mode", &self.mode.name()),
                ("sync_period", &format!("{:?}", self.sync_period)),
                ("dry_run", &self.dry_run),
            ],
        );
        // SIGTERM / SIGINT only raise a flag: a sync under way (and the
        // tool it runs) finishes, so nothing is left half-applied; the loop
        // then stops.
        let stop = Arc::new(AtomicBool::new(false));
        for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            if let Err(e) = signal_hook::flag::register(sig, Arc::clone(&stop)) {
                log(
                    "warn",
                    "cannot handle signal",
                    &[("signal", &sig), ("error", &e)],
                );
            }
        }
        let mut next_full = Instant::now();
        let mut retry: Option<(Instant, u32)> = None;
        let mut last_desired: Option<Desired> = None;
        loop {
            if stop.load(Ordering::Relaxed) {
                log("info", "agent stopping", &[("reason", &"signal")]);
                return ExitCode::SUCCESS;
            }
            let changed = watcher.changed();
            let now = Instant::now();
            let full_due = now >= next_full;
            let retry_due = retry.is_some_and(|(at, _)| now >= at);
            if changed || full_due || retry_due {
                let reason = if retry_due {
                    "retry"
                } else if full_due {
                    "resync"
                } else {
                    "files changed"
                };
                let full = full_due || retry.is_some();
                match self.sync(source, applier, full, reason, &mut last_desired) {
                    Outcome::Done => {
                        retry = None;
                        if full {
                            next_full = Instant::now() + self.sync_period;
                        }
                    }
                    Outcome::SourceFailed => {
                        // Retrying cannot help; the next file change will.
                        if full_due {
                            next_full = Instant::now() + self.sync_period;
                        }
                        if self.once {
                            return ExitCode::from(crate::EXIT_INVALID);
                        }
                    }
                    Outcome::ApplyFailed => {
                        let n = retry.map_or(0, |(_, n)| n + 1);
                        let delay = Duration::from_secs(1 << n.min(6))
                            .min(self.sync_period.max(Duration::from_secs(1)));
                        log(
                            "info",
                            "retrying",
                            &[("in", &format!("{delay:?}")), ("attempt", &(n + 1))],
                        );
                        retry = Some((Instant::now() + delay, n));
                        if self.once {
                            return ExitCode::from(crate::EXIT_INVALID);
                        }
                    }
                }
                if self.once {
                    return ExitCode::SUCCESS;
                }
            }
            std::thread::sleep(self.poll_interval);
        }
    }

    fn sync(
        &self,
        source: &mut dyn RuleSource,
        applier: &mut dyn Applier,
        full: bool,
        reason: &str,
        last_desired: &mut Option<Desired>,
    ) -> Outcome {
        let start = Instant::now();
        let desired = match source.desired() {
            Ok(d) => d,
            Err(problems) => {
                for p in &problems {
                    log(
                        "error",
                        "manifests rejected; keeping the last good state",
                        &[("problem", p)],
                    );
                }
                let first = problems.first().cloned().unwrap_or_default();
                self.metrics
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .source_failed(&first);
                return Outcome::SourceFailed;
            }
        };
        if self.dry_run {
            return match self.print_diff(applier, &desired) {
                Ok(()) => Outcome::Done,
                Err(e) => {
                    log("error", "dry run failed", &[("error", &e)]);
                    Outcome::ApplyFailed
                }
            };
        }
        if !full && last_desired.as_ref() == Some(&desired) {
            return Outcome::Done;
        }
        let rendered = start.elapsed();
        match applier.apply(&desired, full) {
            Ok(stats) => {
                let took = start.elapsed();
                let rules: usize = stats.rules.iter().map(|(_, n)| n).sum();
                log(
                    "info",
                    "synced",
                    &[
                        ("mode", &self.mode.name()),
                        ("reason", &reason),
                        ("kind", &stats.kind.label()),
                        ("bytes", &stats.bytes),
                        ("rules", &rules),
                        ("render_ms", &format!("{:.1}", rendered.as_secs_f64() * 1e3)),
                        ("duration_ms", &format!("{:.1}", took.as_secs_f64() * 1e3)),
                    ],
                );
                self.metrics
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .sync_ok(took, stats.bytes, &stats.rules);
                *last_desired = Some(desired);
                Outcome::Done
            }
            Err(e) => {
                log(
                    "error",
                    "apply failed; the kernel keeps its previous state",
                    &[
                        ("mode", &self.mode.name()),
                        ("reason", &reason),
                        ("error", &e),
                    ],
                );
                self.metrics
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .sync_failed(start.elapsed(), &e.to_string());
                *last_desired = None;
                Outcome::ApplyFailed
            }
        }
    }

    fn print_diff(&self, applier: &dyn Applier, desired: &Desired) -> Result<(), ApplyError> {
        for (family, text) in &desired.texts {
            let now = applier.current(*family)?;
            let want = match applier.preview(*family, text) {
                Ok(w) => w,
                Err(e) => {
                    log(
                        "warn",
                        "cannot list the rules in a scratch network namespace; showing the rule text",
                        &[("error", &e)],
                    );
                    text.clone()
                }
            };
            let d = apply::diff(&now, &want);
            println!("--- kernel ({} {})", self.mode.name(), family.label());
            println!("+++ would apply");
            if d.is_empty() {
                println!("(no changes)");
            } else {
                print!("{d}");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SVC: &str = "apiVersion: v1\nkind: Service\nmetadata: {name: NAME}\nspec:\n  clusterIP: THEIP\n  ports: [{port: 80}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: NAME-1, labels: {kubernetes.io/service-name: NAME}}\naddressType: IPv4\nports: [{port: 80}]\nendpoints: [{addresses: [10.1.0.1]}]\n";

    fn manifests(dir: &std::path::Path) -> Manifests {
        Manifests {
            input: InputArgs {
                files: vec![dir.display().to_string()],
                service_cidr: vec!["10.96.0.0/16".into()],
                ip_family: Some("IPv4".into()),
                ..Default::default()
            },
            mode: libsvc::render::Mode::Nftables,
            last_good: Default::default(),
        }
    }

    fn svc(name: &str, ip: &str) -> String {
        SVC.replace("NAME", name).replace("THEIP", ip)
    }

    /// A broken or refused file holds back only its own objects: the others
    /// are rendered, and its last good version stays (issue 12).
    #[test]
    fn a_broken_file_holds_back_only_its_own_objects() {
        let dir = std::env::temp_dir().join(format!("svcgen-agent-hold-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.yaml"), svc("a", "10.96.0.10")).unwrap();
        std::fs::write(dir.join("b.yaml"), svc("b", "10.96.0.11")).unwrap();
        let mut m = manifests(&dir);
        let text = |d: &Desired| d.texts.iter().map(|(_, t)| t.clone()).collect::<String>();
        let first = text(&m.desired().unwrap());
        assert!(
            first.contains("10.96.0.10") && first.contains("10.96.0.11"),
            "{first}"
        );
        // b breaks (a syntax error), a changes: a's change goes through, b's
        // last good state stays.
        std::fs::write(dir.join("b.yaml"), "kind: Service\nmetadata: {name: [\n").unwrap();
        std::fs::write(dir.join("a.yaml"), svc("a", "10.96.0.12")).unwrap();
        let second = text(&m.desired().unwrap());
        assert!(second.contains("10.96.0.12") && second.contains("10.96.0.11"));
        assert!(!second.contains("10.96.0.10"));
        // A file refused by validation that never was good: left out.
        std::fs::write(dir.join("c.yaml"), svc("c", "10.96.0.0")).unwrap();
        let third = m.desired();
        // Only everything broken refuses the whole.
        let mut fresh = manifests(&dir);
        std::fs::remove_file(dir.join("a.yaml")).unwrap();
        assert!(fresh.desired().is_err());
        std::fs::remove_dir_all(&dir).unwrap();
        let third = text(&third.unwrap());
        assert!(third.contains("10.96.0.12"));
    }
}
