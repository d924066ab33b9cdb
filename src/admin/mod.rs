//! The operator's surface: everything an operator replacing ZooKeeper points scripts,
//! dashboards and habits at.
//!
//! | file | what |
//! |---|---|
//! | [`four_letter`] | four-letter words on the client port (ZooKeeper's text formats, the whitelist) |
//! | [`keeper`] | ClickHouse Keeper's Raft extras: `lgif`, `csnp`, `rqld`, `ydld` |
//! | [`commands`] | the AdminServer commands (`/commands/<name>`) and their JSON |
//! | [`snapshot`] | the AdminServer's `snapshot` and `restore`: ZooKeeper's snapshot format out and in, with auth and rate limits |
//! | [`http`] | the AdminServer's HTTP listener |
//! | [`json`] | an ordered JSON value, printed the way ZooKeeper's Jackson prints it |
//! | [`monitor`] | what `srvr`, `cons`, `mntr` and their JSON twins read from the server |
//! | [`metrics`] | ZooKeeper's ServerMetrics (counters, summaries) and the Prometheus endpoint |
//!
//! Text and JSON outputs are built from the same [`monitor`] views, so `mntr` and
//! `/commands/monitor` (and `/metrics`) never disagree.

pub mod commands;
pub mod four_letter;
pub mod http;
pub mod json;
pub mod keeper;
pub mod metrics;
pub mod monitor;
pub mod snapshot;

use std::sync::atomic::{AtomicI64, Ordering};

pub use four_letter::{serve_four_letter, FourLetterWord};

/// The version string clients see (kazoo parses the numbers out of `envi`).
pub const ZK_VERSION: &str = concat!(
    "3.9.5-zkd-",
    env!("CARGO_PKG_VERSION"),
    ", built on 1970-01-01 00:00 UTC"
);

/// ZooKeeper's ZooTrace default text trace mask: client requests, server packets,
/// sessions and warnings (2 | 16 | 32 | 256).
const DEFAULT_TRACE_MASK: i64 = 306;

/// The trace mask `gtmk` shows and `stmk` sets. Process-wide, like ZooTrace's; zkd logs
/// through `tracing` and does not filter by it.
static TRACE_MASK: AtomicI64 = AtomicI64::new(DEFAULT_TRACE_MASK);

pub fn trace_mask() -> i64 {
    TRACE_MASK.load(Ordering::Relaxed)
}

pub fn set_trace_mask(mask: i64) {
    TRACE_MASK.store(mask, Ordering::Relaxed);
}

/// A double as Java's `Double.toString` prints it (what ZooKeeper's text outputs show):
/// `0.0`, `31.75`, `1.0E-4`, `1.2345E7`.
pub fn java_double(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    let a = v.abs();
    if (1e-3..1e7).contains(&a) {
        let s = format!("{v}");
        if s.contains('.') {
            s
        } else {
            format!("{s}.0")
        }
    } else {
        // d.dddE±n with the shortest mantissa that round-trips
        let s = format!("{v:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = if mantissa.contains('.') {
            mantissa.to_string()
        } else {
            format!("{mantissa}.0")
        };
        format!("{mantissa}E{exp}")
    }
}

/// Round to 4 decimals, half up, as ZooKeeper's AvgMinMaxCounter does for averages.
pub fn round4(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}

/// Milliseconds since the Unix epoch as Java's `Date.toString()` prints them, in UTC:
/// `Sun Nov 22 05:27:38 UTC 2026`.
pub fn java_date(epoch_ms: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = epoch_ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        d,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        y
    )
}

/// Days since 1970-01-01 → (year, month 1..=12, day 1..=31), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_like_java() {
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(1.0), "1.0");
        assert_eq!(java_double(31.75), "31.75");
        assert_eq!(java_double(0.0001), "1.0E-4");
        assert_eq!(java_double(12_345_678.0), "1.2345678E7");
        assert_eq!(java_double(round4(2.0 / 3.0)), "0.6667");
    }

    #[test]
    fn dates_print_like_java() {
        assert_eq!(java_date(0), "Thu Jan 01 00:00:00 UTC 1970");
        // 2026-11-22T05:27:38Z, a Sunday
        assert_eq!(java_date(1_795_325_258_000), "Sun Nov 22 05:27:38 UTC 2026");
        assert_eq!(java_date(951_782_400_000), "Tue Feb 29 00:00:00 UTC 2000");
    }
}
