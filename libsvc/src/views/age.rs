//! kubectl's AGE column: the time since `metadata.creationTimestamp`,
//! written by apimachinery's `duration.HumanDuration`
//! (k8s.io/apimachinery/pkg/util/duration/duration.go), as kubectl's
//! printers call it through `translateTimestampSince`
//! (pkg/printers/internalversion/printers.go). libsvc reads no clock: the
//! caller passes `now` as seconds since the Unix epoch.

/// kubectl's AGE for an object with no creation time (or no clock).
pub const UNKNOWN_AGE: &str = "<unknown>";

/// AGE of an object created at `timestamp` (RFC 3339, as the API writes
/// `metadata.creationTimestamp`), seen at `now` (seconds since the epoch).
/// `<unknown>` without either, as kubectl prints for a zero timestamp.
pub fn age(timestamp: Option<&str>, now: Option<i64>) -> String {
    match (timestamp.and_then(parse_rfc3339), now) {
        (Some(created), Some(now)) => human_duration(now.saturating_sub(created)),
        _ => UNKNOWN_AGE.to_string(),
    }
}

/// `duration.HumanDuration` for a whole number of seconds: about two or
/// three significant figures, `<invalid>` for more than a second in the
/// future (clock skew up to that is read as now).
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// Seconds since the epoch of an RFC 3339 time (`2024-05-01T12:00:00Z`,
/// fractional seconds and `±hh:mm` offsets allowed), as Go's
/// `time.Parse(time.RFC3339, …)` reads `metav1.Time`. `None` if malformed.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        let part = s.get(from..to)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            let (h, m): (i64, i64) = (rest[1..3].parse().ok()?, rest[4..6].parse().ok()?);
            if h > 23 || m > 59 {
                return None;
            }
            sign * (h * 3600 + m * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    Some(days * 86400 + hour * 3600 + minute * 60 + second - offset)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

#[cfg(test)]
mod tests {
    use super::*;

    /// apimachinery's `TestHumanDuration` and `TestHumanDurationBoundaries`
    /// (pkg/util/duration/duration_test.go), in whole seconds: a duration
    /// "X minus a millisecond" there is X-1 seconds here.
    #[test]
    fn human_duration_follows_apimachinery() {
        let (m, h, d) = (60, 3600, 86400);
        let y = 365 * d;
        let cases: &[(i64, &str)] = &[
            (1, "1s"),
            (70, "70s"),
            (190, "3m10s"),
            (70 * m, "70m"),
            (47 * h, "47h"),
            (49 * h, "2d1h"),
            ((8 * 24 + 2) * h, "8d"),
            (367 * 24 * h, "367d"),
            ((365 * 2 * 24 + 25) * h, "2y1d"),
            ((365 * 8 * 24 + 2) * h, "8y"),
            // Boundaries.
            (-2, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (2 * m - 1, "119s"),
            (2 * m, "2m"),
            (2 * m + 1, "2m1s"),
            (10 * m - 1, "9m59s"),
            (10 * m, "10m"),
            (10 * m + 1, "10m"),
            (3 * h - 1, "179m"),
            (3 * h, "3h"),
            (3 * h + m, "3h1m"),
            (8 * h - 1, "7h59m"),
            (8 * h, "8h"),
            (8 * h + 59 * m, "8h"),
            (2 * d - 1, "47h"),
            (2 * d, "2d"),
            (2 * d + h, "2d1h"),
            (8 * d - 1, "7d23h"),
            (8 * d, "8d"),
            (8 * d + 23 * h, "8d"),
            (2 * y - 1, "729d"),
            (2 * y, "2y"),
            (2 * y + 23 * h, "2y"),
            (2 * y + 23 * h + 59 * m, "2y"),
            (2 * y + d - 1, "2y"),
            (2 * y + d, "2y1d"),
            (3 * y, "3y"),
            (4 * y, "4y"),
            (5 * y, "5y"),
            (6 * y, "6y"),
            (7 * y, "7y"),
            (8 * y - 1, "7y364d"),
            (8 * y, "8y"),
            (8 * y + 364 * d, "8y"),
            (9 * y, "9y"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration(*secs), *want, "{secs}s");
        }
    }

    #[test]
    fn rfc3339_as_metav1_time_writes_it() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2024-02-29T12:00:00Z"), Some(1_709_208_000));
        assert_eq!(
            parse_rfc3339("2024-02-29T13:30:00+01:30"),
            Some(1_709_208_000)
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T12:00:00.123456Z"),
            Some(1_709_208_000)
        );
        for bad in [
            "",
            "2023-02-29T12:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01 00:00:00Z",
            "2024-01-01T00:00:00",
            "2024-01-01T24:00:00Z",
            "yesterday",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn age_needs_a_timestamp_and_a_clock() {
        let ts = Some("2024-01-01T00:00:00Z");
        let now = parse_rfc3339("2024-01-03T05:00:00Z");
        assert_eq!(age(ts, now), "2d5h");
        assert_eq!(age(None, now), "<unknown>");
        assert_eq!(age(ts, None), "<unknown>");
        assert_eq!(age(Some("garbage"), now), "<unknown>");
    }
}
