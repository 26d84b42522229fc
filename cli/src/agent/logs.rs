//! The agent's structured logs: `tracing` events written by a
//! `tracing-subscriber` formatter as one line each on stderr, either logfmt
//! (`ts=… level=… msg="…" key=value…`, the agent's format since its first
//! release) or JSON (`{"ts":…,"level":…,"msg":…,"key":"value",…}`), with
//! `--log-format logfmt|json`. Same fields either way.

use clap::ValueEnum;
use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::field::{Field, Visit};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// How log lines are written.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// `ts=… level=… msg="…" key=value`.
    #[default]
    Logfmt,
    /// One JSON object per line.
    Json,
}

/// Installs the agent's log formatter (once; later calls are no-ops).
pub fn init(format: LogFormat) {
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(std::io::stderr)
        .event_format(Line(format))
        .try_init();
}

/// The formatter.
struct Line(LogFormat);

/// An event's fields, in order, as text.
#[derive(Default)]
struct Fields {
    msg: String,
    rest: Vec<(&'static str, Value)>,
}

/// A field's value: numbers and booleans stay numbers and booleans in JSON.
type Value = serde_json::Value;

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, Value::from(format!("{value:?}")));
    }
}

impl Fields {
    fn put(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.msg = match value {
                Value::String(s) => s,
                v => v.to_string(),
            };
        } else {
            self.rest.push((field.name(), value));
        }
    }
}

impl<S, N> FormatEvent<S, N> for Line
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let mut f = Fields::default();
        event.record(&mut f);
        let level = event.metadata().level().as_str().to_ascii_lowercase();
        writeln!(w, "{}", line(self.0, &timestamp(), &level, &f.msg, &f.rest))
    }
}

/// One log line without its newline.
fn line(format: LogFormat, ts: &str, level: &str, msg: &str, rest: &[(&str, Value)]) -> String {
    match format {
        LogFormat::Logfmt => {
            let mut out = format!("ts={ts} level={level} msg={}", quote(msg));
            for (k, v) in rest {
                let v = match v {
                    Value::String(s) => quote(s),
                    v => v.to_string(),
                };
                let _ = write!(out, " {k}={v}");
            }
            out
        }
        LogFormat::Json => {
            let mut obj = serde_json::Map::new();
            obj.insert("ts".into(), ts.into());
            obj.insert("level".into(), level.into());
            obj.insert("msg".into(), msg.into());
            for (k, v) in rest {
                obj.insert((*k).into(), v.clone());
            }
            serde_json::Value::Object(obj).to_string()
        }
    }
}

/// A logfmt value: bare when it can be, else quoted with escapes.
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Both formats carry the same fields.
    #[test]
    fn logfmt_and_json_lines() {
        let rest = [
            ("mode", Value::from("nftables")),
            ("error", Value::from("a b")),
            ("bytes", Value::from(152u64)),
        ];
        assert_eq!(
            line(LogFormat::Logfmt, "T", "info", "synced", &rest),
            "ts=T level=info msg=synced mode=nftables error=\"a b\" bytes=152"
        );
        let json: Value =
            serde_json::from_str(&line(LogFormat::Json, "T", "info", "synced", &rest)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"ts": "T", "level": "info", "msg": "synced",
                "mode": "nftables", "error": "a b", "bytes": 152})
        );
    }
}
