//! The agent's metrics in Prometheus' text format, and `/healthz`, served
//! by a tiny HTTP server on one thread (`--metrics-addr 127.0.0.1:PORT`).

use super::apply::Family;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Upper bounds of the sync duration histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// What the agent has done so far.
#[derive(Debug, Default)]
pub struct Metrics {
    syncs_ok: u64,
    syncs_failed: u64,
    source_errors: u64,
    /// Cumulative counts per bucket, then the sum and count.
    buckets: [u64; BUCKETS.len()],
    duration_sum: f64,
    duration_count: u64,
    last_error: Option<String>,
    last_success: Option<SystemTime>,
    rules: Vec<(Family, usize)>,
    bytes_applied: u64,
}

/// Metrics shared between the sync loop and the server.
pub type Shared = Arc<Mutex<Metrics>>;

impl Metrics {
    /// Records a successful sync.
    pub fn sync_ok(&mut self, took: Duration, bytes: usize, rules: &[(Family, usize)]) {
        self.syncs_ok += 1;
        self.observe(took);
        self.bytes_applied += bytes as u64;
        self.rules = rules.to_vec();
        self.last_error = None;
        self.last_success = Some(SystemTime::now());
    }

    /// Records a failed apply.
    pub fn sync_failed(&mut self, took: Duration, error: &str) {
        self.syncs_failed += 1;
        self.observe(took);
        self.last_error = Some(error.to_string());
    }

    /// Records manifests that could not be rendered (the kernel is left alone).
    pub fn source_failed(&mut self, error: &str) {
        self.source_errors += 1;
        self.last_error = Some(error.to_string());
    }

    fn observe(&mut self, took: Duration) {
        let s = took.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if s <= *b {
                self.buckets[i] += 1;
            }
        }
        self.duration_sum += s;
        self.duration_count += 1;
    }

    /// Healthy: a sync has succeeded and nothing has failed since.
    pub fn healthy(&self) -> bool {
        self.last_success.is_some() && self.last_error.is_none()
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut o = String::new();
        o.push_str("# HELP svcgen_agent_syncs_total Syncs of the kernel state, by result.\n");
        o.push_str("# TYPE svcgen_agent_syncs_total counter\n");
        o.push_str(&format!(
            "svcgen_agent_syncs_total{{result=\"success\"}} {}\n",
            self.syncs_ok
        ));
        o.push_str(&format!(
            "svcgen_agent_syncs_total{{result=\"error\"}} {}\n",
            self.syncs_failed
        ));
        o.push_str("# HELP svcgen_agent_source_errors_total Reads of the manifests that failed to parse or validate.\n");
        o.push_str("# TYPE svcgen_agent_source_errors_total counter\n");
        o.push_str(&format!(
            "svcgen_agent_source_errors_total {}\n",
            self.source_errors
        ));
        o.push_str(
            "# HELP svcgen_agent_sync_duration_seconds Time to render and apply one sync.\n",
        );
        o.push_str("# TYPE svcgen_agent_sync_duration_seconds histogram\n");
        for (b, n) in BUCKETS.iter().zip(self.buckets) {
            o.push_str(&format!(
                "svcgen_agent_sync_duration_seconds_bucket{{le=\"{b}\"}} {n}\n"
            ));
        }
        o.push_str(&format!(
            "svcgen_agent_sync_duration_seconds_bucket{{le=\"+Inf\"}} {}\n",
            self.duration_count
        ));
        o.push_str(&format!(
            "svcgen_agent_sync_duration_seconds_sum {}\n",
            self.duration_sum
        ));
        o.push_str(&format!(
            "svcgen_agent_sync_duration_seconds_count {}\n",
            self.duration_count
        ));
        o.push_str("# HELP svcgen_agent_last_error Whether the last sync or read failed (1), with its message.\n");
        o.push_str("# TYPE svcgen_agent_last_error gauge\n");
        match &self.last_error {
            Some(e) => o.push_str(&format!(
                "svcgen_agent_last_error{{message=\"{}\"}} 1\n",
                label(e)
            )),
            None => o.push_str("svcgen_agent_last_error{message=\"\"} 0\n"),
        }
        o.push_str("# HELP svcgen_agent_last_success_timestamp_seconds When the kernel was last programmed successfully.\n");
        o.push_str("# TYPE svcgen_agent_last_success_timestamp_seconds gauge\n");
        let ts = self
            .last_success
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0.0, |d| d.as_secs_f64());
        o.push_str(&format!(
            "svcgen_agent_last_success_timestamp_seconds {ts}\n"
        ));
        o.push_str("# HELP svcgen_agent_rules Rules in the applied state, by IP family.\n");
        o.push_str("# TYPE svcgen_agent_rules gauge\n");
        for (f, n) in &self.rules {
            o.push_str(&format!(
                "svcgen_agent_rules{{family=\"{}\"}} {n}\n",
                f.label()
            ));
        }
        o.push_str("# HELP svcgen_agent_applied_bytes_total Bytes of rule text sent to the kernel tools.\n");
        o.push_str("# TYPE svcgen_agent_applied_bytes_total counter\n");
        o.push_str(&format!(
            "svcgen_agent_applied_bytes_total {}\n",
            self.bytes_applied
        ));
        o
    }
}

/// A label value: backslash, quote and newline escaped, and kept short.
fn label(s: &str) -> String {
    let s: String = s.chars().take(400).collect();
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Serves `/metrics` and `/healthz` on `addr` from a background thread.
pub fn serve(addr: SocketAddr, metrics: Shared) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            // One request per connection; a slow client only delays scrapes.
            let _ = answer(stream, &metrics);
        }
    });
    Ok(bound)
}

fn answer(mut stream: TcpStream, metrics: &Shared) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("");
    let (status, body) = {
        let m = metrics.lock().unwrap_or_else(|p| p.into_inner());
        match path {
            "/metrics" => ("200 OK", m.render()),
            "/healthz" if m.healthy() => ("200 OK", "ok\n".to_string()),
            "/healthz" => (
                "503 Service Unavailable",
                format!(
                    "{}\n",
                    m.last_error.as_deref().unwrap_or("no successful sync yet")
                ),
            ),
            _ => ("404 Not Found", "not found\n".to_string()),
        }
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}
