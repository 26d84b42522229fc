//! The sync loop, on the agent's tokio runtime.
//!
//! Scheduling follows kube-proxy's proxiers (pkg/proxy/nftables/proxier.go
//! and pkg/proxy/iptables/proxier.go: `syncProxyRules`, its `syncRunner`
//! and `needFullSync`; pkg/util/async for the runner):
//! - events from the source are batched: a sync starts at most once per
//!   `--min-sync-period` (minSyncPeriod), but the first change after a
//!   quiet spell starts one at once;
//! - a sync sends only the delta of what changed (a partial sync); every
//!   `--sync-period` (syncPeriod) a sync runs even without changes;
//! - a full sync (everything rewritten) runs at start-up, after any
//!   failure (`needFullSync`), and when the last one is older than
//!   `--full-sync-period` (proxyutil.FullSyncPeriod, one hour);
//! - a failed sync is retried with a backoff capped by the sync period.
//!
//! The computing and the kernel tools run on a blocking thread, so the
//! loop keeps taking events (and metrics keep being served) during a long
//! sync; what arrived meanwhile is applied right after it. SIGTERM and
//! SIGINT wait for a sync under way — its tool finishes its transaction, so
//! nothing is left half-applied — and then stop the agent.

use super::apply::{Applier, ApplyError, ApplyKind, ApplyStats, Desired};
use super::engine::{DeltaSize, Engine, Plan};
use super::metrics::Metrics;
use super::source::{Receiver, SourceEvent};
use super::{ProxyMode, RenderedFiles};
use libsvc::incremental::Change;
use libsvc::parse::Input;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The loop's settings (from the command line).
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// The proxy mode.
    pub mode: ProxyMode,
    /// Sync once and exit.
    pub once: bool,
    /// Print the drift instead of applying.
    pub dry_run: bool,
    /// kube-proxy's syncPeriod.
    pub sync_period: Duration,
    /// kube-proxy's minSyncPeriod.
    pub min_sync_period: Duration,
    /// kube-proxy's FullSyncPeriod.
    pub full_sync_period: Duration,
}

/// Where what the kernel should hold comes from.
pub enum Desire {
    /// Manifests, through libsvc's incremental engine.
    Manifests(Box<Engine>),
    /// Rule text files, applied as they are.
    Rendered(RenderedFiles),
}

/// One sync's work, taken from what the source sent.
#[derive(Debug, Default)]
struct Job {
    relist: Option<Vec<Input>>,
    changes: Vec<Change>,
    full: bool,
    reason: &'static str,
}

/// What a sync came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The kernel holds the desired state (or the dry run printed its drift).
    Done,
    /// Done, but some input was held back or refused.
    DoneWithProblems,
    /// Nothing could be computed (no good state yet); the kernel is untouched.
    SourceFailed,
    /// The kernel refused; retry with a full sync.
    ApplyFailed,
}

/// The engine, the applier and the metrics: moved to a blocking thread
/// for each sync and back.
struct Syncer {
    settings: Settings,
    desire: Desire,
    applier: Box<dyn Applier + Send>,
    metrics: Metrics,
}

/// Runs the agent until the source ends, a signal arrives, or (`--once`)
/// after the first sync.
pub async fn run(
    settings: Settings,
    desire: Desire,
    applier: Box<dyn Applier + Send>,
    metrics: Metrics,
    mut events: Receiver,
) -> ExitCode {
    tracing::info!(
        mode = settings.mode.name(),
        sync_period = ?settings.sync_period,
        min_sync_period = ?settings.min_sync_period,
        full_sync_period = ?settings.full_sync_period,
        dry_run = settings.dry_run,
        "agent starting"
    );
    let mut syncer = Some(Syncer {
        settings,
        desire,
        applier,
        metrics,
    });
    let mut sigterm = signal(tokio::signal::unix::SignalKind::terminate());
    let mut sigint = signal(tokio::signal::unix::SignalKind::interrupt());
    let mut running: Option<tokio::task::JoinHandle<(Syncer, Outcome)>> = None;
    let mut pending = Job::default();
    // Nothing is programmed before the source's first relist.
    let mut listed = false;
    let mut need_full = true;
    let mut last_start: Option<Instant> = None;
    let mut last_full: Option<Instant> = None;
    let mut next_periodic = Instant::now() + settings.sync_period;
    let mut retry: Option<(Instant, u32)> = None;
    let mut source_open = true;
    loop {
        // When the next sync may start, if one is wanted.
        let dirty = pending.relist.is_some() || !pending.changes.is_empty() || need_full;
        let due: Option<Instant> = if !listed || running.is_some() {
            None
        } else if let Some((at, _)) = retry {
            Some(at)
        } else if dirty {
            Some(last_start.map_or(Instant::now(), |t| t + settings.min_sync_period))
        } else {
            Some(next_periodic)
        };
        let wake = due.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            biased;
            _ = delivered(&mut sigterm) => return stop(running, "SIGTERM").await,
            _ = delivered(&mut sigint) => return stop(running, "SIGINT").await,
            Some(done) = async { match running.as_mut() { Some(r) => Some(r.await), None => None } }, if running.is_some() => {
                running = None;
                let (s, outcome) = match done {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::error!(error = %e, "sync task failed");
                        return ExitCode::from(crate::EXIT_INVALID);
                    }
                };
                syncer = Some(s);
                match outcome {
                    Outcome::Done | Outcome::DoneWithProblems => retry = None,
                    Outcome::SourceFailed => {}
                    Outcome::ApplyFailed => {
                        // kube-proxy: needFullSync, and a retry.
                        need_full = true;
                        let n = retry.map_or(0, |(_, n)| n + 1);
                        let delay = Duration::from_secs(1 << n.min(6))
                            .min(settings.sync_period.max(Duration::from_secs(1)));
                        tracing::info!(r#in = ?delay, attempt = n + 1, "retrying");
                        retry = Some((Instant::now() + delay, n));
                    }
                }
                if settings.once {
                    return match outcome {
                        Outcome::Done => ExitCode::SUCCESS,
                        _ => ExitCode::from(crate::EXIT_INVALID),
                    };
                }
            }
            ev = events.recv(), if source_open => match ev {
                Some(SourceEvent::Relist(inputs)) => {
                    listed = true;
                    pending.relist = Some(inputs);
                    pending.changes.clear();
                }
                Some(SourceEvent::Changes(c)) => pending.changes.extend(c),
                Some(SourceEvent::Failed(problem)) => {
                    tracing::error!(problem = %problem, "input not read; its last good state is kept");
                    if let Some(s) = &syncer {
                        s.metrics.source_failed(&problem);
                    }
                }
                None => {
                    source_open = false;
                    if !listed {
                        tracing::error!("the source ended before listing anything");
                        return ExitCode::from(crate::EXIT_INVALID);
                    }
                }
            },
            _ = tokio::time::sleep_until(wake.into()), if due.is_some() => {
                let now = Instant::now();
                let full = need_full
                    || retry.is_some()
                    || last_full.is_none_or(|t| now >= t + settings.full_sync_period);
                let mut job = std::mem::take(&mut pending);
                job.full = full;
                job.reason = if retry.is_some() {
                    "retry"
                } else if last_full.is_none() {
                    "start-up"
                } else if job.relist.is_some() {
                    "relist"
                } else if !job.changes.is_empty() {
                    "changes"
                } else if full {
                    "full sync period"
                } else {
                    "sync period"
                };
                if let Some((at, n)) = retry {
                    // Cleared on success; kept (for the backoff) on failure.
                    retry = Some((at + Duration::from_secs(3600), n));
                }
                last_start = Some(now);
                next_periodic = now + settings.sync_period;
                if full {
                    need_full = false;
                    last_full = Some(now);
                }
                // No sync runs (`due` is None while one does): the syncer is here.
                let Some(s) = syncer.take() else { continue };
                running = Some(tokio::task::spawn_blocking(move || {
                    let mut s = s;
                    let outcome = s.sync(job);
                    (s, outcome)
                }));
            }
        }
    }
}

fn signal(kind: tokio::signal::unix::SignalKind) -> Option<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(kind)
        .map_err(|e| tracing::warn!(error = %e, "cannot handle signal"))
        .ok()
}

/// The next delivery of a signal (never, if it could not be handled).
async fn delivered(s: &mut Option<tokio::signal::unix::Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

/// Stops on a signal: a sync under way finishes first (its tool commits or
/// refuses its transaction whole), then the agent exits.
async fn stop(
    running: Option<tokio::task::JoinHandle<(Syncer, Outcome)>>,
    signal: &str,
) -> ExitCode {
    if let Some(r) = running {
        tracing::info!(signal, "stopping after the sync under way");
        let _ = r.await;
    }
    tracing::info!(reason = "signal", signal, "agent stopping");
    ExitCode::SUCCESS
}

impl Syncer {
    /// One sync: feed the engine, compute what to send, send it.
    fn sync(&mut self, job: Job) -> Outcome {
        let start = Instant::now();
        let mode = self.settings.mode;
        let metrics = &self.metrics;
        let mut problems = false;
        let plan = match &mut self.desire {
            Desire::Rendered(r) => match r.desired() {
                Ok(d) => Planned::Apply(d),
                Err(ps) => return source_failed(metrics, &ps),
            },
            Desire::Manifests(engine) => {
                if let Some(inputs) = job.relist {
                    match engine.relist(inputs) {
                        Ok(held) => problems |= held_back(metrics, &held),
                        Err(ps) => {
                            source_failed(metrics, &ps);
                            if !engine.loaded() {
                                return Outcome::SourceFailed;
                            }
                            problems = true;
                        }
                    }
                }
                let mut plan = Plan::Nothing;
                if !job.changes.is_empty() && engine.loaded() {
                    match engine.change(job.changes) {
                        Ok((p, held)) => {
                            plan = p;
                            problems |= held_back(metrics, &held);
                        }
                        Err(ps) => {
                            source_failed(metrics, &ps);
                            problems = true;
                        }
                    }
                }
                let full = job.full || self.settings.dry_run || matches!(plan, Plan::Full);
                match plan {
                    _ if full => match engine.full() {
                        Ok(d) => Planned::Apply(d),
                        Err(e) => return source_failed(metrics, &[e]),
                    },
                    Plan::Delta(d, size) => Planned::Delta(d, size),
                    _ => Planned::Nothing,
                }
            }
        };
        let done = if problems {
            Outcome::DoneWithProblems
        } else {
            Outcome::Done
        };
        let computed = start.elapsed();
        if self.settings.dry_run {
            return match self.print_drift(&plan) {
                Ok(()) => done,
                Err(e) => {
                    tracing::error!(error = %e, "dry run failed");
                    Outcome::ApplyFailed
                }
            };
        }
        let (result, delta) = match plan {
            Planned::Nothing => return done,
            Planned::Apply(d) => (self.applier.apply(&d, job.full), None),
            Planned::Delta(d, size) => (self.applier.apply_delta(&d), Some(size)),
        };
        match result {
            Ok(stats) if stats.kind == ApplyKind::Noop => done,
            Ok(stats) => {
                let took = start.elapsed();
                self.log_synced(job.reason, &stats, delta, computed, took);
                self.metrics
                    .sync_ok(stats.kind, took, stats.bytes, &stats.rules, delta);
                done
            }
            Err(e) => {
                tracing::error!(
                    mode = mode.name(),
                    reason = job.reason,
                    error = %e,
                    "apply failed; the kernel keeps its previous state"
                );
                self.metrics.sync_failed(start.elapsed(), &e.to_string());
                Outcome::ApplyFailed
            }
        }
    }

    fn log_synced(
        &self,
        reason: &str,
        stats: &ApplyStats,
        delta: Option<DeltaSize>,
        computed: Duration,
        took: Duration,
    ) {
        let rules: usize = stats.rules.iter().map(|(_, n)| n).sum();
        let d = delta.unwrap_or_default();
        tracing::info!(
            mode = self.settings.mode.name(),
            reason,
            kind = stats.kind.label(),
            bytes = stats.bytes,
            rules,
            rules_added = d.rules_added,
            rules_removed = d.rules_removed,
            elements_added = d.elements_added,
            elements_removed = d.elements_removed,
            render_ms = %format!("{:.1}", computed.as_secs_f64() * 1e3),
            duration_ms = %format!("{:.1}", took.as_secs_f64() * 1e3),
            "synced"
        );
    }

    /// `--dry-run`: the drift between the kernel and what would be
    /// applied. From manifests, `svcgen check`'s comparison (per Service
    /// port, in Kubernetes terms); from rule text, a line diff.
    fn print_drift(&self, plan: &Planned) -> Result<(), ApplyError> {
        let Planned::Apply(desired) = plan else {
            println!("(no changes)");
            return Ok(());
        };
        if let Desire::Manifests(engine) = &self.desire
            && let Some(loaded) = engine.state_loaded()
        {
            let report = super::dryrun::check(self.settings.mode, loaded, &engine.families())?;
            print!("{}", report.text());
            if report.in_sync {
                println!("(no changes)");
            }
            return Ok(());
        }
        print_text_diff(self.settings.mode, &*self.applier, desired)
    }
}

/// What a sync sends.
enum Planned {
    Nothing,
    Apply(Desired),
    Delta(Desired, DeltaSize),
}

/// A line diff of the kernel's listing and the listing `desired` gives.
fn print_text_diff(
    mode: ProxyMode,
    applier: &dyn Applier,
    desired: &Desired,
) -> Result<(), ApplyError> {
    for (family, text) in &desired.texts {
        let now = applier.current(*family)?;
        let want = match applier.preview(*family, text) {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the rules in a scratch network namespace; showing the rule text");
                text.clone()
            }
        };
        let d = super::apply::diff(&now, &want);
        println!("--- kernel ({} {})", mode.name(), family.label());
        println!("+++ would apply");
        if d.is_empty() {
            println!("(no changes)");
        } else {
            print!("{d}");
        }
    }
    Ok(())
}

/// Logs held-back files; true if there were any.
fn held_back(metrics: &Metrics, problems: &[String]) -> bool {
    for p in problems {
        tracing::error!(problem = %p, "manifest held back; its last good state is kept");
    }
    let files: std::collections::BTreeSet<&str> = problems
        .iter()
        .filter_map(|p| p.split(':').next())
        .collect();
    metrics.held_back(files.len());
    if let Some(first) = problems.first() {
        metrics.source_failed(first);
    }
    !problems.is_empty()
}

/// Logs input that could not be used at all.
fn source_failed(metrics: &Metrics, problems: &[String]) -> Outcome {
    for p in problems {
        tracing::error!(problem = %p, "manifests rejected; keeping the last good state");
    }
    metrics.source_failed(problems.first().map_or("", String::as_str));
    Outcome::SourceFailed
}
