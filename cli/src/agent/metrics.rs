//! The agent's metrics (`prometheus-client`) and its `/metrics` and
//! `/healthz` endpoints (`axum`), served with `--metrics-addr ADDR:PORT`.
//!
//! The exposition is OpenMetrics text (Prometheus reads it); the metric
//! names are the agent's since its first release, with the sync kinds,
//! delta sizes and held-back files added.

use super::apply::{ApplyKind, Family};
use super::engine::DeltaSize;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family as Labeled;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Upper bounds of the sync duration histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChangeLabel {
    change: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FamilyLabel {
    family: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MessageLabel {
    message: String,
}

/// What the agent has done so far; cheap to clone and share.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    syncs: Labeled<ResultLabel, Counter>,
    sync_kinds: Labeled<KindLabel, Counter>,
    source_errors: Counter,
    duration: Histogram,
    last_error: Labeled<MessageLabel, Gauge>,
    last_success: Gauge<f64, AtomicU64>,
    rules: Labeled<FamilyLabel, Gauge>,
    bytes: Counter,
    last_bytes: Gauge,
    delta_rules: Labeled<ChangeLabel, Counter>,
    delta_elements: Labeled<ChangeLabel, Counter>,
    held_back: Gauge,
    health: Arc<Mutex<Health>>,
}

/// `/healthz` and `/livez`, as kube-proxy's `ProxyHealthServer`
/// (pkg/proxy/healthcheck/proxy_health.go, `isHealthy`): healthy unless an
/// input event has waited longer than the health timeout (kube-proxy: twice
/// `syncPeriod`) for a sync that programmed it. Input that is held back or
/// refused does not make the agent unhealthy (restarting it would not help;
/// the kernel keeps the last good state): it shows in `last_error`,
/// `held_back_files` and the log.
#[derive(Debug)]
struct Health {
    timeout: Duration,
    /// When the oldest event not yet programmed arrived (`QueuedUpdate`).
    oldest_queued: Option<Instant>,
    /// When a sync last finished with the kernel as desired (`Updated`).
    last_updated: Option<Instant>,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            timeout: Duration::from_secs(60),
            oldest_queued: None,
            last_updated: None,
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let m = Metrics {
            registry: Arc::new(Registry::default()),
            syncs: Default::default(),
            sync_kinds: Default::default(),
            source_errors: Default::default(),
            duration: Histogram::new(BUCKETS),
            last_error: Default::default(),
            last_success: Default::default(),
            rules: Default::default(),
            bytes: Default::default(),
            last_bytes: Default::default(),
            delta_rules: Default::default(),
            delta_elements: Default::default(),
            held_back: Default::default(),
            health: Default::default(),
        };
        let mut r = Registry::default();
        r.register(
            "svcgen_agent_syncs",
            "Syncs of the kernel state, by result",
            m.syncs.clone(),
        );
        r.register(
            "svcgen_agent_sync_kinds",
            "Successful syncs by kind: full (everything rewritten), partial (a delta), noop",
            m.sync_kinds.clone(),
        );
        r.register(
            "svcgen_agent_source_errors",
            "Reads of the manifests that failed to parse or validate",
            m.source_errors.clone(),
        );
        r.register(
            "svcgen_agent_sync_duration_seconds",
            "Time to compute and apply one sync",
            m.duration.clone(),
        );
        r.register(
            "svcgen_agent_last_error",
            "Whether the last sync or read failed (1), with its message",
            m.last_error.clone(),
        );
        r.register(
            "svcgen_agent_last_success_timestamp_seconds",
            "When the kernel was last programmed successfully",
            m.last_success.clone(),
        );
        r.register(
            "svcgen_agent_rules",
            "Rules in the applied state after the last full sync, by IP family",
            m.rules.clone(),
        );
        r.register(
            "svcgen_agent_applied_bytes",
            "Bytes of rule text sent to the kernel tools",
            m.bytes.clone(),
        );
        r.register(
            "svcgen_agent_last_sync_bytes",
            "Bytes of rule text sent by the last sync",
            m.last_bytes.clone(),
        );
        r.register(
            "svcgen_agent_delta_rules",
            "Rules added and removed by partial syncs",
            m.delta_rules.clone(),
        );
        r.register(
            "svcgen_agent_delta_elements",
            "Set and map elements added and removed by partial syncs",
            m.delta_elements.clone(),
        );
        r.register(
            "svcgen_agent_held_back_files",
            "Files whose last change was refused; their last good state is in force",
            m.held_back.clone(),
        );
        // Nothing failed yet: the gauge reads 0 with an empty message.
        m.last_error
            .get_or_create(&MessageLabel {
                message: String::new(),
            })
            .set(0);
        Metrics {
            registry: Arc::new(r),
            ..m
        }
    }
}

impl Metrics {
    /// Records a successful sync.
    pub fn sync_ok(
        &self,
        kind: ApplyKind,
        took: Duration,
        bytes: usize,
        rules: &[(Family, usize)],
        delta: Option<DeltaSize>,
    ) {
        self.syncs
            .get_or_create(&ResultLabel { result: "success" })
            .inc();
        self.sync_kinds
            .get_or_create(&KindLabel { kind: kind.label() })
            .inc();
        self.duration.observe(took.as_secs_f64());
        self.bytes.inc_by(bytes as u64);
        self.last_bytes.set(bytes as i64);
        for (f, n) in rules {
            self.rules
                .get_or_create(&FamilyLabel { family: f.label() })
                .set(*n as i64);
        }
        if let Some(d) = delta {
            let c = |l: &'static str| ChangeLabel { change: l };
            self.delta_rules
                .get_or_create(&c("added"))
                .inc_by(d.rules_added as u64);
            self.delta_rules
                .get_or_create(&c("removed"))
                .inc_by(d.rules_removed as u64);
            self.delta_elements
                .get_or_create(&c("added"))
                .inc_by(d.elements_added as u64);
            self.delta_elements
                .get_or_create(&c("removed"))
                .inc_by(d.elements_removed as u64);
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.last_success.set(now);
    }

    /// The health timeout: kube-proxy uses twice its `syncPeriod`.
    pub fn set_health_timeout(&self, timeout: Duration) {
        self.lock_health().timeout = timeout;
    }

    /// An input event arrived that a sync must program (`QueuedUpdate`).
    pub fn queued(&self) {
        self.lock_health()
            .oldest_queued
            .get_or_insert_with(Instant::now);
    }

    /// A sync finished with the kernel holding what the input asks for
    /// (`Updated`); `clean` if no input was held back or refused, which
    /// also clears `last_error`.
    pub fn updated(&self, clean: bool) {
        {
            let mut h = self.lock_health();
            h.oldest_queued = None;
            h.last_updated = Some(Instant::now());
        }
        if clean {
            self.set_error(None);
        }
    }

    fn lock_health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a failed apply.
    pub fn sync_failed(&self, took: Duration, error: &str) {
        self.syncs
            .get_or_create(&ResultLabel { result: "error" })
            .inc();
        self.duration.observe(took.as_secs_f64());
        self.set_error(Some(error));
    }

    /// Records input that could not be read or was refused (the kernel keeps
    /// the last good state of it).
    pub fn source_failed(&self, error: &str) {
        self.source_errors.inc();
        self.set_error(Some(error));
    }

    /// How many files are held back now.
    pub fn held_back(&self, n: usize) {
        self.held_back.set(n as i64);
    }

    fn set_error(&self, error: Option<&str>) {
        self.last_error.clear();
        let message: String = error.unwrap_or("").chars().take(400).collect();
        self.last_error
            .get_or_create(&MessageLabel { message })
            .set(i64::from(error.is_some()));
    }

    /// `/healthz`: `Ok`, or why not.
    pub fn health(&self) -> Result<(), String> {
        self.health_at(Instant::now())
    }

    fn health_at(&self, now: Instant) -> Result<(), String> {
        let h = self.lock_health();
        match h.oldest_queued {
            Some(q) if now.saturating_duration_since(q) >= h.timeout => Err(format!(
                "input received {:.1}s ago is not programmed yet (health timeout {:.1}s); last programmed: {}",
                now.saturating_duration_since(q).as_secs_f64(),
                h.timeout.as_secs_f64(),
                h.last_updated.map_or("never".to_string(), |t| format!(
                    "{:.1}s ago",
                    now.saturating_duration_since(t).as_secs_f64()
                )),
            )),
            _ => Ok(()),
        }
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Binds `addr` and serves `/metrics`, `/healthz` and `/livez` on the runtime.
pub async fn serve(addr: SocketAddr, metrics: Metrics) -> std::io::Result<SocketAddr> {
    use axum::http::header;
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let m = metrics.clone();
    let live = metrics.clone();
    let app = axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let body = m.render();
                async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        body,
                    )
                }
            }),
        )
        .route("/healthz", get(move || health_response(metrics.health())))
        .route("/livez", get(move || health_response(live.health())));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "metrics server stopped");
        }
    });
    Ok(bound)
}

/// 200 `ok`, or 503 with the reason.
async fn health_response(h: Result<(), String>) -> (axum::http::StatusCode, String) {
    match h {
        Ok(()) => (axum::http::StatusCode::OK, "ok\n".to_string()),
        Err(e) => (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            format!("{e}\n"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every metric the agent has always served is still there under its
    /// name, with the new ones (sync kinds, delta sizes, held-back files).
    #[test]
    fn metric_names() {
        let m = Metrics::default();
        m.sync_ok(
            ApplyKind::Partial,
            Duration::from_millis(3),
            120,
            &[(Family::V4, 7)],
            Some(DeltaSize {
                rules_added: 2,
                rules_removed: 1,
                elements_added: 1,
                elements_removed: 0,
            }),
        );
        m.source_failed("a.yaml:1:1: bad");
        let text = m.render();
        for line in [
            "svcgen_agent_syncs_total{result=\"success\"} 1",
            "svcgen_agent_sync_kinds_total{kind=\"partial\"} 1",
            "svcgen_agent_source_errors_total 1",
            "svcgen_agent_sync_duration_seconds_bucket{le=\"0.005\"} 1",
            "svcgen_agent_sync_duration_seconds_count 1",
            "svcgen_agent_last_error{message=\"a.yaml:1:1: bad\"} 1",
            "svcgen_agent_rules{family=\"ipv4\"} 7",
            "svcgen_agent_applied_bytes_total 120",
            "svcgen_agent_last_sync_bytes 120",
            "svcgen_agent_delta_rules_total{change=\"added\"} 2",
            "svcgen_agent_delta_rules_total{change=\"removed\"} 1",
            "svcgen_agent_delta_elements_total{change=\"added\"} 1",
            "svcgen_agent_held_back_files 0",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert!(text.contains("svcgen_agent_last_success_timestamp_seconds "));
        // Refused input is an error to report, not ill health.
        assert_eq!(m.health(), Ok(()));
    }

    /// kube-proxy's rule: healthy at start-up and while a queued event is
    /// younger than the timeout; unhealthy once it is older and no sync has
    /// programmed it; healthy again after one does.
    #[test]
    fn health_follows_queued_and_updated() {
        let m = Metrics::default();
        m.set_health_timeout(Duration::from_secs(20));
        let t0 = Instant::now();
        assert_eq!(m.health_at(t0), Ok(()));
        m.queued();
        assert_eq!(
            m.health_at(Instant::now() + Duration::from_secs(19)),
            Ok(())
        );
        let late = m.health_at(Instant::now() + Duration::from_secs(21));
        assert!(
            late.as_ref()
                .is_err_and(|e| e.contains("last programmed: never")),
            "{late:?}"
        );
        // A second event does not move the oldest one.
        m.queued();
        assert!(
            m.health_at(Instant::now() + Duration::from_secs(21))
                .is_err()
        );
        m.source_failed("b.yaml:2:3: bad");
        m.updated(false);
        assert_eq!(
            m.health_at(Instant::now() + Duration::from_secs(100)),
            Ok(())
        );
        assert!(
            m.render()
                .contains("svcgen_agent_last_error{message=\"b.yaml:2:3: bad\"} 1")
        );
        m.updated(true);
        assert!(
            m.render()
                .contains("svcgen_agent_last_error{message=\"\"} 0")
        );
    }
}
