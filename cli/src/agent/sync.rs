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
    // kube-proxy's health timeout: twice syncPeriod (cmd/kube-proxy/app/server.go).
    let health = metrics.clone();
    health.set_health_timeout(2 * settings.sync_period);
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
    // The input could not be used: only a new event can help.
    let mut wait_for_source = false;
    // The sync under way is a full one.
    let mut running_full = false;
    loop {
        // When the next sync may start, if one is wanted: the periodic one,
        // a retry's, or (minSyncPeriod after the last start) for pending
        // events or a full sync that is owed.
        let dirty = pending.relist.is_some()
            || !pending.changes.is_empty()
            || (need_full && retry.is_none() && !wait_for_source);
        let due: Option<Instant> = if !listed || running.is_some() {
            None
        } else {
            let mut at = next_periodic;
            if let Some((r, _)) = retry {
                at = at.min(r);
            }
            if dirty {
                at = at.min(last_start.map_or(Instant::now(), |t| t + settings.min_sync_period));
            }
            Some(at)
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
                    Outcome::SourceFailed => {
                        // Nothing was applied: a full sync is still owed,
                        // once the source has something new.
                        need_full |= running_full;
                        wait_for_source = true;
                        retry = None;
                    }
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
            ev = events.recv() => match ev {
                Some(SourceEvent::Relist(inputs)) => {
                    health.queued();
                    listed = true;
                    wait_for_source = false;
                    pending.relist = Some(inputs);
                    pending.changes.clear();
                }
                Some(SourceEvent::Changes(c)) => {
                    health.queued();
                    wait_for_source = false;
                    pending.changes.extend(c);
                }
                Some(SourceEvent::Failed(problem)) => {
                    tracing::error!(problem = %problem, "input not read; its last good state is kept");
                    if let Some(s) = &syncer {
                        s.metrics.source_failed(&problem);
                    }
                }
                None => {
                    // The source gave up (see source.rs): stop, after the
                    // sync under way.
                    if let Some(r) = running.take() {
                        let _ = r.await;
                    }
                    tracing::error!("the source ended; agent stopping");
                    return ExitCode::from(crate::EXIT_INVALID);
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
                    // Not due again while this sync runs; its outcome
                    // clears it or sets the next attempt.
                    retry = Some((at + Duration::from_secs(3600), n));
                }
                running_full = full;
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
    /// One sync, and what it means for `/healthz`: the kernel holds what
    /// the input asks for after `Done` and `DoneWithProblems`.
    fn sync(&mut self, job: Job) -> Outcome {
        let outcome = self.sync_once(job);
        // Files held back now, not only by this sync's changes.
        let held = match &self.desire {
            Desire::Manifests(engine) => engine.held_back(),
            Desire::Rendered(_) => 0,
        };
        self.metrics.held_back(held);
        match outcome {
            Outcome::Done => self.metrics.updated(held == 0),
            Outcome::DoneWithProblems => self.metrics.updated(false),
            Outcome::SourceFailed | Outcome::ApplyFailed => {}
        }
        outcome
    }

    /// Feeds the engine, computes what to send, sends it.
    fn sync_once(&mut self, job: Job) -> Outcome {
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
                // A relist replaces the engine's state whole, so what the
                // kernel holds is no longer its base for a delta: the sync
                // that follows one is full (at start-up it is anyway).
                let relisted = job.relist.is_some();
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
                if !job.changes.is_empty() {
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
                if !engine.loaded() {
                    return Outcome::SourceFailed;
                }
                let full =
                    job.full || relisted || self.settings.dry_run || matches!(plan, Plan::Full);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::apply::Family;
    use std::sync::{Arc, Mutex};

    /// Records what it was asked to send, and when it finished; a full
    /// apply takes `full_takes`, and the first `fail` applies fail.
    struct Fake {
        calls: Arc<Mutex<Vec<(&'static str, Instant)>>>,
        full_takes: Duration,
        fail: usize,
    }

    impl Applier for Fake {
        fn check_support(&self) -> Result<(), ApplyError> {
            Ok(())
        }
        fn apply(&mut self, _: &Desired, full: bool) -> Result<ApplyStats, ApplyError> {
            std::thread::sleep(self.full_takes);
            let mut calls = self.calls.lock().unwrap();
            calls.push((if full { "full" } else { "apply" }, Instant::now()));
            if calls.len() <= self.fail {
                return Err(ApplyError::Tool("refused".into()));
            }
            Ok(ApplyStats {
                kind: ApplyKind::Full,
                bytes: 1,
                rules: vec![(Family::V4, 1)],
            })
        }
        fn apply_delta(&mut self, _: &Desired) -> Result<ApplyStats, ApplyError> {
            self.calls.lock().unwrap().push(("delta", Instant::now()));
            Ok(ApplyStats {
                kind: ApplyKind::Partial,
                bytes: 1,
                rules: Vec::new(),
            })
        }
        fn current(&self, _: Family) -> Result<String, ApplyError> {
            Ok(String::new())
        }
        fn preview(&self, _: Family, t: &str) -> Result<String, ApplyError> {
            Ok(t.to_string())
        }
        fn cleanup(&mut self) -> Result<(), ApplyError> {
            Ok(())
        }
    }

    fn svc(ep: &str) -> Input {
        let text = format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: a}}\nspec:\n  clusterIP: 10.96.0.10\n  ports: [{{port: 80}}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: a-1, labels: {{kubernetes.io/service-name: a}}}}\naddressType: IPv4\nports: [{{port: 80}}]\nendpoints: [{{addresses: [{ep}]}}]\n"
        );
        Input::new("dir/a.yaml", text).in_directory()
    }

    fn start(
        fake: Fake,
        min_sync_period: Duration,
    ) -> (
        super::super::source::Sender,
        tokio::task::JoinHandle<ExitCode>,
    ) {
        start_with(fake, min_sync_period, Metrics::default())
    }

    fn start_with(
        fake: Fake,
        min_sync_period: Duration,
        metrics: Metrics,
    ) -> (
        super::super::source::Sender,
        tokio::task::JoinHandle<ExitCode>,
    ) {
        let overrides = libsvc::Overrides {
            service_cidrs: vec!["10.96.0.0/16".parse().unwrap()],
            ip_family: Some(libsvc::config::IpFamily::IPv4),
            ..Default::default()
        };
        let settings = Settings {
            mode: ProxyMode::Nftables,
            once: false,
            dry_run: false,
            sync_period: Duration::from_secs(3600),
            min_sync_period,
            full_sync_period: Duration::from_secs(3600),
        };
        let desire = Desire::Manifests(Box::new(Engine::new(ProxyMode::Nftables, overrides)));
        let (tx, rx) = super::super::source::channel();
        let task = tokio::spawn(run(settings, desire, Box::new(fake), metrics, rx));
        (tx, task)
    }

    async fn wait_calls(calls: &Arc<Mutex<Vec<(&'static str, Instant)>>>, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while calls.lock().unwrap().len() < n {
            assert!(Instant::now() < deadline, "{:?}", calls.lock().unwrap());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// A change that arrives while a long (full) sync runs is applied right
    /// after it, as a delta; kube-proxy's runner likewise queues one more
    /// run (pkg/util/async, `Run` while a run is under way).
    #[tokio::test(flavor = "current_thread")]
    async fn a_change_during_a_long_sync_is_applied_right_after_it() {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let fake = Fake {
            calls: calls.clone(),
            full_takes: Duration::from_millis(300),
            fail: 0,
        };
        let (tx, task) = start(fake, Duration::ZERO);
        tx.send(SourceEvent::Relist(vec![svc("10.1.0.1")]))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            calls.lock().unwrap().is_empty(),
            "the full sync is still running"
        );
        tx.send(SourceEvent::Changes(vec![Change::Put(svc("10.1.0.2"))]))
            .await
            .unwrap();
        wait_calls(&calls, 2).await;
        let c = calls.lock().unwrap().clone();
        assert_eq!(c[0].0, "full");
        assert_eq!(c[1].0, "delta");
        assert!(c[1].1 - c[0].1 < Duration::from_millis(200), "{c:?}");
        // The source ending stops the agent.
        drop(tx);
        assert_eq!(task.await.unwrap(), ExitCode::from(crate::EXIT_INVALID));
    }

    /// A failed apply makes the next sync full (kube-proxy's needFullSync)
    /// after a backoff; changes in between go with it.
    #[tokio::test(flavor = "current_thread")]
    async fn a_failed_sync_is_retried_in_full() {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let fake = Fake {
            calls: calls.clone(),
            full_takes: Duration::ZERO,
            fail: 1,
        };
        let (tx, _task) = start(fake, Duration::ZERO);
        tx.send(SourceEvent::Relist(vec![svc("10.1.0.1")]))
            .await
            .unwrap();
        wait_calls(&calls, 1).await;
        tx.send(SourceEvent::Changes(vec![Change::Put(svc("10.1.0.2"))]))
            .await
            .unwrap();
        wait_calls(&calls, 2).await;
        // Then changes go as deltas again.
        tx.send(SourceEvent::Changes(vec![Change::Put(svc("10.1.0.3"))]))
            .await
            .unwrap();
        wait_calls(&calls, 3).await;
        let kinds: Vec<&str> = calls.lock().unwrap().iter().map(|c| c.0).collect();
        assert_eq!(kinds, ["full", "full", "delta"]);
    }

    /// A relist after start-up (a rescan, a re-established watch) reaches
    /// the kernel at once, in full, even with no other change pending.
    #[tokio::test(flavor = "current_thread")]
    async fn a_later_relist_is_programmed() {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let fake = Fake {
            calls: calls.clone(),
            full_takes: Duration::ZERO,
            fail: 0,
        };
        let (tx, _task) = start(fake, Duration::ZERO);
        tx.send(SourceEvent::Relist(vec![svc("10.1.0.1")]))
            .await
            .unwrap();
        wait_calls(&calls, 1).await;
        tx.send(SourceEvent::Relist(vec![svc("10.1.0.9")]))
            .await
            .unwrap();
        wait_calls(&calls, 2).await;
        let kinds: Vec<&str> = calls.lock().unwrap().iter().map(|c| c.0).collect();
        assert_eq!(kinds, ["full", "apply"]);
    }

    /// With minSyncPeriod, changes close together are batched into one
    /// sync; the first after a quiet spell is not delayed.
    #[tokio::test(flavor = "current_thread")]
    async fn changes_are_batched_by_min_sync_period() {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let fake = Fake {
            calls: calls.clone(),
            full_takes: Duration::ZERO,
            fail: 0,
        };
        let (tx, _task) = start(fake, Duration::from_millis(400));
        tx.send(SourceEvent::Relist(vec![svc("10.1.0.1")]))
            .await
            .unwrap();
        wait_calls(&calls, 1).await;
        for ep in ["10.1.0.2", "10.1.0.3", "10.1.0.4"] {
            tx.send(SourceEvent::Changes(vec![Change::Put(svc(ep))]))
                .await
                .unwrap();
        }
        wait_calls(&calls, 2).await;
        tokio::time::sleep(Duration::from_millis(600)).await;
        let c = calls.lock().unwrap().clone();
        assert_eq!(c.len(), 2, "{c:?}");
        assert!(c[1].1 - c[0].1 >= Duration::from_millis(350), "{c:?}");
        // After a quiet spell, at once.
        let t = Instant::now();
        tx.send(SourceEvent::Changes(vec![Change::Put(svc("10.1.0.5"))]))
            .await
            .unwrap();
        wait_calls(&calls, 3).await;
        assert!(calls.lock().unwrap()[2].1 - t < Duration::from_millis(200));
    }

    /// The soak's ending (scripts/soak-agent.sh): a file held back from the
    /// start is removed; nothing changes in the kernel, yet the error it
    /// caused is cleared, and the agent stays healthy throughout (held-back
    /// input is not ill health: kube-proxy's `isHealthy` looks only at
    /// queued events that no sync has programmed).
    #[tokio::test(flavor = "current_thread")]
    async fn removing_a_held_back_file_clears_its_error() {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let fake = Fake {
            calls: calls.clone(),
            full_takes: Duration::ZERO,
            fail: 0,
        };
        let metrics = Metrics::default();
        let (tx, task) = start_with(fake, Duration::ZERO, metrics.clone());
        let broken = Input::new(
            "dir/broken.yaml",
            "apiVersion: v1\nkind: Service\nmetadata: {name: b}\nspec:\n  ports: [{port: 0}]\n",
        )
        .in_directory();
        tx.send(SourceEvent::Relist(vec![svc("10.1.0.1"), broken]))
            .await
            .unwrap();
        wait_calls(&calls, 1).await;
        let error_line = |m: &Metrics| {
            m.render()
                .lines()
                .find(|l| l.starts_with("svcgen_agent_last_error"))
                .map(str::to_string)
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !error_line(&metrics).is_some_and(|l| l.contains("broken.yaml") && l.ends_with(" 1"))
        {
            assert!(Instant::now() < deadline, "{:?}", error_line(&metrics));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(metrics.health(), Ok(()));
        tx.send(SourceEvent::Changes(vec![Change::Remove(
            "dir/broken.yaml".into(),
        )]))
        .await
        .unwrap();
        while error_line(&metrics).as_deref() != Some("svcgen_agent_last_error{message=\"\"} 0") {
            assert!(Instant::now() < deadline, "{:?}", error_line(&metrics));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(metrics.health(), Ok(()));
        assert!(metrics.render().contains("svcgen_agent_held_back_files 0"));
        assert_eq!(calls.lock().unwrap().len(), 1, "nothing new to send");
        drop(tx);
        let _ = task.await;
    }
}
