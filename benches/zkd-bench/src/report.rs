//! Merging per-session results and printing them (human table or JSON).

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use std::sync::atomic::Ordering;

use crate::workload::{new_hist, Control, Stats, KINDS};

/// Latency summary in milliseconds.
#[derive(Serialize, Clone, Debug, Default)]
pub struct Latency {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Latency {
    pub(crate) fn of(h: &Histogram<u64>) -> Latency {
        let ms = |us: u64| us as f64 / 1000.0;
        if h.is_empty() {
            return Latency::default();
        }
        Latency {
            p50_ms: ms(h.value_at_quantile(0.50)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
            mean_ms: h.mean() / 1000.0,
        }
    }
}

/// One row: a request kind (or "total").
#[derive(Serialize, Clone, Debug)]
pub struct Row {
    pub kind: String,
    pub ops: u64,
    pub errors: u64,
    pub ops_per_sec: f64,
    pub latency: Latency,
}

/// The whole run.
#[derive(Serialize, Clone, Debug)]
pub struct Report {
    pub server: String,
    pub mode: String,
    pub sessions: usize,
    pub depth: usize,
    pub value_size: usize,
    pub keys: u64,
    pub target_rate: Option<f64>,
    pub elapsed_sec: f64,
    pub ops: u64,
    pub errors: u64,
    pub ops_per_sec: f64,
    pub latency: Latency,
    pub error_codes: BTreeMap<String, u64>,
    pub by_kind: Vec<Row>,
    pub setup_sec: f64,
    pub cleanup_sec: f64,
    /// One entry per second of the run, warm-up included.
    pub timeline: Vec<Second>,
}

/// Replies received in one second of the run.
#[derive(Serialize, Clone, Debug)]
pub struct Second {
    /// Seconds since the start of the measured phase (negative: warm-up).
    pub t: i64,
    pub replies: u64,
    pub errors: u64,
    pub max_ms: f64,
}

pub fn timeline(ctl: &Control, warmup: Duration) -> Vec<Second> {
    let last = ctl
        .timeline
        .iter()
        .rposition(|s| s[0].load(Ordering::Relaxed) > 0)
        .map_or(0, |i| i + 1);
    let w = warmup.as_secs_f64().ceil() as i64;
    ctl.timeline[..last]
        .iter()
        .enumerate()
        .map(|(i, s)| Second {
            t: i as i64 - w,
            replies: s[0].load(Ordering::Relaxed),
            errors: s[1].load(Ordering::Relaxed),
            max_ms: s[2].load(Ordering::Relaxed) as f64 / 1000.0,
        })
        .collect()
}

/// Parameters echoed into the report.
pub struct RunInfo {
    pub server: String,
    pub mode: String,
    pub sessions: usize,
    pub depth: usize,
    pub value_size: usize,
    pub keys: u64,
    pub target_rate: Option<f64>,
}

pub fn build(info: RunInfo, stats: &[Stats], elapsed: Duration) -> Report {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let mut total = new_hist();
    let mut by_kind = Vec::new();
    let mut error_codes = BTreeMap::new();
    let (mut ops, mut errors) = (0, 0);
    for (i, kind) in KINDS.iter().enumerate() {
        let mut h = new_hist();
        let (mut ok, mut err) = (0, 0);
        for s in stats {
            // Same bounds everywhere, so add cannot fail.
            let _ = h.add(&s.hist[i]);
            ok += s.ok[i];
            err += s.errors[i];
        }
        if ok + err == 0 {
            continue;
        }
        let _ = total.add(&h);
        ops += ok;
        errors += err;
        by_kind.push(Row {
            kind: kind.name().to_string(),
            ops: ok,
            errors: err,
            ops_per_sec: ok as f64 / secs,
            latency: Latency::of(&h),
        });
    }
    for s in stats {
        for (code, n) in &s.error_codes {
            *error_codes.entry(code.to_string()).or_insert(0) += n;
        }
    }
    Report {
        server: info.server,
        mode: info.mode,
        sessions: info.sessions,
        depth: info.depth,
        value_size: info.value_size,
        keys: info.keys,
        target_rate: info.target_rate,
        elapsed_sec: secs,
        ops,
        errors,
        ops_per_sec: ops as f64 / secs,
        latency: Latency::of(&total),
        error_codes,
        by_kind,
        setup_sec: 0.0,
        cleanup_sec: 0.0,
        timeline: Vec::new(),
    }
}

pub fn print_human(r: &Report, timeline: bool) {
    let rate = r
        .target_rate
        .map(|x| format!(", target {x:.0} ops/s"))
        .unwrap_or_default();
    println!(
        "zkd-bench {} against {}: {} sessions x depth {}, {} B values, {} keys{rate}",
        r.mode, r.server, r.sessions, r.depth, r.value_size, r.keys
    );
    println!(
        "measured {:.2} s (setup {:.2} s, cleanup {:.2} s)",
        r.elapsed_sec, r.setup_sec, r.cleanup_sec
    );
    println!(
        "{:<8} {:>10} {:>7} {:>11} {:>9} {:>9} {:>9} {:>9}",
        "op", "ops", "errors", "ops/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms"
    );
    let line = |name: &str, ops: u64, errors: u64, ops_s: f64, l: &Latency| {
        println!(
            "{:<8} {:>10} {:>7} {:>11.0} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
            name, ops, errors, ops_s, l.p50_ms, l.p99_ms, l.p999_ms, l.max_ms
        );
    };
    if r.by_kind.len() > 1 {
        for k in &r.by_kind {
            line(&k.kind, k.ops, k.errors, k.ops_per_sec, &k.latency);
        }
    }
    line("total", r.ops, r.errors, r.ops_per_sec, &r.latency);
    if timeline {
        println!(
            "{:>5} {:>9} {:>7} {:>9}",
            "sec", "replies", "errors", "max ms"
        );
        for s in &r.timeline {
            println!(
                "{:>5} {:>9} {:>7} {:>9.1}",
                s.t, s.replies, s.errors, s.max_ms
            );
        }
    }
    if !r.error_codes.is_empty() {
        let codes: Vec<String> = r
            .error_codes
            .iter()
            .map(|(c, n)| format!("{c}: {n}"))
            .collect();
        println!("error codes: {}", codes.join(", "));
    }
}
