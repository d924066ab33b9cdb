//! ZooKeeper's ServerMetrics, and the Prometheus endpoint.
//!
//! ZooKeeper 3.9 registers ~115 counters and summaries (`ServerMetrics`); `mntr` prints
//! every one of them, and its PrometheusMetricsProvider exports them under the same
//! names. zkd prints the same keys ([`ZK_METRICS`]), filling the ones whose meaning
//! zkd shares with real values (the `live` statics below: fsync time and batch size,
//! read and update latency, watches fired, snapshot time, commits, bytes in and out,
//! refused connections, expired sessions, ...) and the rest with ZooKeeper's empty
//! values, so a parser that expects a key finds it.
//!
//! Recording is allocation-free: every metric is a static of atomics, and the
//! Prometheus side goes through `metrics` handles resolved once ([`OnceLock`]). With no
//! Prometheus exporter installed those handles are no-ops.
//!
//! Units are ZooKeeper's: times in milliseconds (kept in microseconds internally, so
//! averages of sub-millisecond fsyncs are not all 0). zkd's own metrics (`zkd_*`, only
//! on `/metrics`) use seconds, Prometheus' convention.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ::metrics::Histogram;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use super::monitor::{self, Val};
use crate::server::Server;

// ------------------------------------------------------------------------------ counters

/// A monotonically increasing count (a ZooKeeper `Counter`).
pub struct Counter {
    pub name: &'static str,
    v: AtomicU64,
}

impl Counter {
    pub const fn new(name: &'static str) -> Counter {
        Counter {
            name,
            v: AtomicU64::new(0),
        }
    }

    pub fn add(&self, n: u64) {
        self.v.fetch_add(n, Ordering::Relaxed);
    }

    pub fn inc(&self) {
        self.add(1);
    }

    pub fn get(&self) -> u64 {
        self.v.load(Ordering::Relaxed)
    }

    fn reset(&self) {
        self.v.store(0, Ordering::Relaxed);
    }
}

// ----------------------------------------------------------------------------- summaries

/// Samples kept for an "advanced" summary's percentiles (ZooKeeper keeps a sliding
/// window too).
const RESERVOIR: usize = 1024;

/// A ZooKeeper `Summary`: avg/min/max/cnt/sum, plus p50/p95/p99/p999 when advanced.
pub struct Summary {
    pub name: &'static str,
    /// Internal units per reported unit: 1000 for times kept in µs and reported in ms.
    scale: u64,
    ring: Option<&'static [AtomicU64; RESERVOIR]>,
    next: AtomicUsize,
    count: AtomicU64,
    sum: AtomicU64,
    min: AtomicU64,
    max: AtomicU64,
    hist: OnceLock<Histogram>,
}

impl Summary {
    const fn new(
        name: &'static str,
        scale: u64,
        ring: Option<&'static [AtomicU64; RESERVOIR]>,
    ) -> Summary {
        Summary {
            name,
            scale,
            ring,
            next: AtomicUsize::new(0),
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            min: AtomicU64::new(u64::MAX),
            max: AtomicU64::new(0),
            hist: OnceLock::new(),
        }
    }

    /// A time (reported in ms).
    pub fn time(&self, d: Duration) {
        self.raw(d.as_micros().min(u64::MAX as u128) as u64);
    }

    /// A plain count (scale 1).
    pub fn value(&self, v: u64) {
        self.raw(v);
    }

    fn raw(&self, v: u64) {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(v, Ordering::Relaxed);
        self.min.fetch_min(v, Ordering::Relaxed);
        self.max.fetch_max(v, Ordering::Relaxed);
        if let Some(ring) = self.ring {
            let i = self.next.fetch_add(1, Ordering::Relaxed) % RESERVOIR;
            ring[i].store(v, Ordering::Relaxed);
        }
        self.hist
            .get_or_init(|| ::metrics::histogram!(self.name))
            .record(v as f64 / self.scale as f64);
    }

    fn reset(&self) {
        self.count.store(0, Ordering::Relaxed);
        self.sum.store(0, Ordering::Relaxed);
        self.min.store(u64::MAX, Ordering::Relaxed);
        self.max.store(0, Ordering::Relaxed);
        self.next.store(0, Ordering::Relaxed);
    }

    /// `avg_X, min_X, max_X, cnt_X, sum_X` (+ `p50_X, p95_X, p99_X, p999_X`).
    fn rows(&self, out: &mut Vec<(String, Val)>) {
        let n = self.count.load(Ordering::Relaxed);
        let scale = self.scale as f64;
        let sum = self.sum.load(Ordering::Relaxed);
        let avg = if n == 0 {
            0.0
        } else {
            super::round4(sum as f64 / n as f64 / scale)
        };
        let min = match self.min.load(Ordering::Relaxed) {
            u64::MAX => 0,
            m => m / self.scale,
        };
        let max = self.max.load(Ordering::Relaxed) / self.scale;
        let name = self.name;
        out.push((format!("avg_{name}"), Val::Float(avg)));
        out.push((format!("min_{name}"), Val::Int(min as i64)));
        out.push((format!("max_{name}"), Val::Int(max as i64)));
        out.push((format!("cnt_{name}"), Val::Int(n as i64)));
        out.push((format!("sum_{name}"), Val::Int((sum / self.scale) as i64)));
        if let Some(ring) = self.ring {
            let filled = (n as usize).min(RESERVOIR);
            let mut samples: Vec<u64> = ring[..filled]
                .iter()
                .map(|s| s.load(Ordering::Relaxed))
                .collect();
            samples.sort_unstable();
            for (label, q) in [("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("p999", 0.999)] {
                let v = if samples.is_empty() {
                    0
                } else {
                    let i = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
                    samples[i - 1] / self.scale
                };
                out.push((format!("{label}_{name}"), Val::Int(v as i64)));
            }
        }
    }
}

/// Last/min/max client response size (ZooKeeper's BufferStats; -1 before the first).
pub struct BufferStats {
    last: AtomicI64,
    min: AtomicI64,
    max: AtomicI64,
}

impl BufferStats {
    const fn new() -> BufferStats {
        BufferStats {
            last: AtomicI64::new(-1),
            min: AtomicI64::new(-1),
            max: AtomicI64::new(-1),
        }
    }

    pub fn record(&self, size: usize) {
        let size = size as i64;
        self.last.store(size, Ordering::Relaxed);
        let _ = self
            .min
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |m| {
                (m < 0 || size < m).then_some(size)
            });
        self.max.fetch_max(size, Ordering::Relaxed);
    }

    /// (last, min, max)
    pub fn get(&self) -> (i64, i64, i64) {
        (
            self.last.load(Ordering::Relaxed),
            self.min.load(Ordering::Relaxed),
            self.max.load(Ordering::Relaxed),
        )
    }

    fn reset(&self) {
        for a in [&self.last, &self.min, &self.max] {
            a.store(-1, Ordering::Relaxed);
        }
    }
}

// ----------------------------------------------------------------------- live metrics

static READ_RING: [AtomicU64; RESERVOIR] = [const { AtomicU64::new(0) }; RESERVOIR];
static UPDATE_RING: [AtomicU64; RESERVOIR] = [const { AtomicU64::new(0) }; RESERVOIR];
static COMMITTED_RING: [AtomicU64; RESERVOIR] = [const { AtomicU64::new(0) }; RESERVOIR];

pub static FSYNC_TIME: Summary = Summary::new("fsynctime", 1000, None);
pub static SYNC_BATCH_SIZE: Summary = Summary::new("sync_processor_batch_size", 1, None);
pub static SNAPSHOT_TIME: Summary = Summary::new("snapshottime", 1000, None);
pub static DB_INIT_TIME: Summary = Summary::new("dbinittime", 1000, None);
pub static READ_LATENCY: Summary = Summary::new("readlatency", 1000, Some(&READ_RING));
pub static UPDATE_LATENCY: Summary = Summary::new("updatelatency", 1000, Some(&UPDATE_RING));
pub static LOCAL_WRITE_COMMITTED: Summary =
    Summary::new("local_write_committed_time_ms", 1000, Some(&COMMITTED_RING));
pub static NODE_CREATED_WATCH: Summary = Summary::new("node_created_watch_count", 1, None);
pub static NODE_DELETED_WATCH: Summary = Summary::new("node_deleted_watch_count", 1, None);
pub static NODE_CHANGED_WATCH: Summary = Summary::new("node_changed_watch_count", 1, None);
pub static NODE_CHILDREN_WATCH: Summary = Summary::new("node_children_watch_count", 1, None);

pub static COMMIT_COUNT: Counter = Counter::new("commit_count");
pub static PROPOSAL_COUNT: Counter = Counter::new("proposal_count");
pub static CONNECTION_REQUEST_COUNT: Counter = Counter::new("connection_request_count");
pub static CONNECTION_REJECTED: Counter = Counter::new("connection_rejected");
pub static BYTES_RECEIVED: Counter = Counter::new("bytes_received_count");
pub static RESPONSE_BYTES: Counter = Counter::new("response_bytes");
pub static UNSUCCESSFUL_HANDSHAKE: Counter = Counter::new("unsuccessful_handshake");
pub static STALE_SESSIONS_EXPIRED: Counter = Counter::new("stale_sessions_expired");
pub static SNAPSHOT_ERROR_COUNT: Counter = Counter::new("snapshot_error_count");
/// The AdminServer's snapshot and restore commands (`admin::snapshot`).
pub static SNAPSHOT_RATE_LIMITED_COUNT: Counter = Counter::new("snapshot_rate_limited_count");
pub static RESTORE_TIME: Summary = Summary::new("restore_time", 1000, None);
pub static RESTORE_ERROR_COUNT: Counter = Counter::new("restore_error_count");
pub static RESTORE_RATE_LIMITED_COUNT: Counter = Counter::new("restore_rate_limited_count");
/// This member's tree digest differed from the leader's at a checked zxid.
pub static DIGEST_MISMATCHES: Counter = Counter::new("digest_mismatches_count");
/// A gauge in ZooKeeper's ServerStats (`auth_failed_count`), counted here.
pub static AUTH_FAILED: Counter = Counter::new("auth_failed_count");
pub static CLIENT_RESPONSE: BufferStats = BufferStats::new();

static LIVE_SUMMARIES: [&Summary; 12] = [
    &FSYNC_TIME,
    &SYNC_BATCH_SIZE,
    &SNAPSHOT_TIME,
    &RESTORE_TIME,
    &DB_INIT_TIME,
    &READ_LATENCY,
    &UPDATE_LATENCY,
    &LOCAL_WRITE_COMMITTED,
    &NODE_CREATED_WATCH,
    &NODE_DELETED_WATCH,
    &NODE_CHANGED_WATCH,
    &NODE_CHILDREN_WATCH,
];

static LIVE_COUNTERS: [&Counter; 13] = [
    &COMMIT_COUNT,
    &PROPOSAL_COUNT,
    &CONNECTION_REQUEST_COUNT,
    &CONNECTION_REJECTED,
    &BYTES_RECEIVED,
    &RESPONSE_BYTES,
    &UNSUCCESSFUL_HANDSHAKE,
    &STALE_SESSIONS_EXPIRED,
    &SNAPSHOT_ERROR_COUNT,
    &SNAPSHOT_RATE_LIMITED_COUNT,
    &RESTORE_ERROR_COUNT,
    &RESTORE_RATE_LIMITED_COUNT,
    &DIGEST_MISMATCHES,
];

/// The kind of one of ZooKeeper's ServerMetrics.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Basic,
    Advanced,
}

/// ZooKeeper 3.9's ServerMetrics (counters and summaries; summary sets, which only
/// appear once a namespace is seen, are left out), in declaration order.
pub const ZK_METRICS: &[(&str, Kind)] = {
    use Kind::{Advanced as A, Basic as B, Counter as C};
    &[
        ("fsynctime", B),
        ("snapshottime", B),
        ("snapshot_error_count", C),
        ("snapshot_rate_limited_count", C),
        ("restore_time", B),
        ("restore_error_count", C),
        ("restore_rate_limited_count", C),
        ("dbinittime", B),
        ("readlatency", A),
        ("updatelatency", A),
        ("propagation_latency", A),
        ("follower_sync_time", B),
        ("observer_sync_time", B),
        ("election_time", B),
        ("looking_count", C),
        ("diff_count", C),
        ("snap_count", C),
        ("commit_count", C),
        ("connection_request_count", C),
        ("connection_token_deficit", B),
        ("connection_rejected", C),
        ("inflight_snap_count", B),
        ("inflight_diff_count", B),
        ("bytes_received_count", C),
        ("unrecoverable_error_count", C),
        ("node_created_watch_count", B),
        ("node_deleted_watch_count", B),
        ("node_changed_watch_count", B),
        ("node_children_watch_count", B),
        ("add_dead_watcher_stall_time", C),
        ("dead_watchers_queued", C),
        ("dead_watchers_cleared", C),
        ("dead_watchers_cleaner_latency", A),
        ("response_packet_cache_hits", C),
        ("response_packet_cache_misses", C),
        ("response_packet_get_children_cache_hits", C),
        ("response_packet_get_children_cache_misses", C),
        ("ensemble_auth_success", C),
        ("ensemble_auth_fail", C),
        ("ensemble_auth_skip", C),
        ("prep_processor_queue_time_ms", A),
        ("prep_processor_queue_size", B),
        ("prep_processor_request_queued", C),
        ("outstanding_changes_queued", C),
        ("outstanding_changes_removed", C),
        ("prep_process_time", B),
        ("proposal_process_time", B),
        ("close_session_prep_time", A),
        ("revalidate_count", C),
        ("connection_drop_count", C),
        ("connection_revalidate_count", C),
        ("sessionless_connections_expired", C),
        ("stale_sessions_expired", C),
        ("unavailable_time", B),
        ("leader_unavailable_time", B),
        ("requests_in_session_queue", B),
        ("pending_session_queue_size", B),
        ("reads_after_write_in_session_queue", B),
        ("reads_issued_from_session_queue", B),
        ("session_queues_drained", B),
        ("time_waiting_empty_pool_in_commit_processor_read_ms", B),
        ("write_batch_time_in_commit_processor", B),
        ("concurrent_request_processing_in_commit_processor", B),
        ("read_commit_proc_req_queued", B),
        ("write_commit_proc_req_queued", B),
        ("commit_commit_proc_req_queued", B),
        ("request_commit_queued", C),
        ("read_commit_proc_issued", B),
        ("write_commit_proc_issued", B),
        ("throttled_ops", C),
        ("read_commitproc_time_ms", A),
        ("write_commitproc_time_ms", A),
        ("local_write_committed_time_ms", A),
        ("server_write_committed_time_ms", A),
        ("commit_process_time", B),
        ("om_proposal_process_time_ms", A),
        ("om_commit_process_time_ms", A),
        ("read_final_proc_time_ms", A),
        ("write_final_proc_time_ms", A),
        ("proposal_latency", A),
        ("proposal_ack_creation_latency", A),
        ("commit_propagation_latency", A),
        ("learner_proposal_received_count", C),
        ("learner_commit_received_count", C),
        ("startup_txns_loaded", B),
        ("startup_txns_load_time", B),
        ("startup_snap_load_time", B),
        ("sync_processor_queue_and_flush_time_ms", A),
        ("sync_processor_queue_size", B),
        ("sync_processor_request_queued", C),
        ("sync_processor_queue_time_ms", A),
        ("sync_processor_queue_flush_time_ms", A),
        ("sync_process_time", B),
        ("sync_processor_batch_size", B),
        ("quorum_ack_latency", A),
        ("proposal_count", C),
        ("quit_leading_due_to_disloyal_voter", C),
        ("stale_requests", C),
        ("stale_requests_dropped", C),
        ("stale_replies", C),
        ("request_throttle_queue_time_ms", A),
        ("request_throttle_wait_count", C),
        ("large_requests_rejected", C),
        ("netty_queued_buffer_capacity", B),
        ("digest_mismatches_count", C),
        ("learner_request_processor_queue_size", B),
        ("unsuccessful_handshake", C),
        ("insecure_admin_count", C),
        ("tls_handshake_exceeded", C),
        ("cnxn_closed_without_zk_server_running", C),
        ("skip_learner_request_to_next_processor_count", C),
        ("socket_closing_time", B),
        ("requests_not_forwarded_to_commit_processor", C),
        ("response_bytes", C),
        ("watch_bytes", C),
        ("jvm_pause_time_ms", A),
    ]
};

/// Every ServerMetrics row for `mntr` / `monitor`, live values where zkd has them.
/// ZooKeeper's `quota_exceeded_error_per_namespace` counter set: writes refused by a hard
/// quota limit, by the first name of the written path. A namespace has a row once it has
/// had a refusal (`mntr`: `zk_<namespace>_quota_exceeded_error_per_namespace`).
static QUOTA_EXCEEDED: std::sync::Mutex<std::collections::BTreeMap<String, u64>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

pub fn quota_exceeded(namespace: &str) {
    if let Ok(mut by_ns) = QUOTA_EXCEEDED.lock() {
        *by_ns.entry(namespace.to_string()).or_default() += 1;
    }
    ::metrics::counter!("quota_exceeded_error_per_namespace", "key" => namespace.to_string())
        .increment(1);
}

pub fn quota_exceeded_rows(out: &mut Vec<(String, Val)>) {
    if let Ok(by_ns) = QUOTA_EXCEEDED.lock() {
        for (ns, n) in by_ns.iter() {
            out.push((
                format!("{ns}_quota_exceeded_error_per_namespace"),
                Val::Int(*n as i64),
            ));
        }
    }
}

pub fn server_metric_rows(out: &mut Vec<(String, Val)>) {
    for &(name, kind) in ZK_METRICS {
        if kind == Kind::Counter {
            let v = LIVE_COUNTERS
                .iter()
                .find(|c| c.name == name)
                .map_or(0, |c| c.get());
            out.push((name.to_string(), Val::Int(v as i64)));
            continue;
        }
        match LIVE_SUMMARIES.iter().find(|s| s.name == name) {
            Some(s) => s.rows(out),
            None => {
                let advanced = kind == Kind::Advanced;
                out.push((format!("avg_{name}"), Val::Float(0.0)));
                for p in ["min", "max", "cnt", "sum"] {
                    out.push((format!("{p}_{name}"), Val::Int(0)));
                }
                if advanced {
                    for p in ["p50", "p95", "p99", "p999"] {
                        out.push((format!("{p}_{name}"), Val::Int(0)));
                    }
                }
            }
        }
    }
}

/// `srst`: ZooKeeper resets every ServerMetric with the server stats.
pub fn reset_all() {
    for s in LIVE_SUMMARIES {
        s.reset();
    }
    for c in LIVE_COUNTERS {
        c.reset();
    }
    AUTH_FAILED.reset();
    CLIENT_RESPONSE.reset();
}

// ------------------------------------------------------------------ recording points

/// zkd's own histograms (Prometheus only), resolved once.
struct Own {
    fsync: Histogram,
    fsync_batch: Histogram,
    raft_commit: Histogram,
    apply: Histogram,
    requests: Vec<Histogram>,
}

static OWN: OnceLock<Own> = OnceLock::new();

fn own() -> &'static Own {
    OWN.get_or_init(|| Own {
        fsync: ::metrics::histogram!("zkd_fsync_seconds"),
        fsync_batch: ::metrics::histogram!("zkd_fsync_batch_size"),
        raft_commit: ::metrics::histogram!("zkd_raft_commit_seconds"),
        apply: ::metrics::histogram!("zkd_apply_seconds"),
        requests: OPS
            .iter()
            .map(|&(_, name)| ::metrics::histogram!("zkd_request_seconds", "op" => name))
            .collect(),
    })
}

/// Opcodes with their ZooKeeper names, for the per-opcode latency histograms.
const OPS: &[(i32, &str)] = &[
    (1, "create"),
    (2, "delete"),
    (3, "exists"),
    (4, "getData"),
    (5, "setData"),
    (6, "getACL"),
    (7, "setACL"),
    (8, "getChildren"),
    (9, "sync"),
    (11, "ping"),
    (12, "getChildren2"),
    (13, "check"),
    (14, "multi"),
    (15, "create2"),
    (16, "reconfig"),
    (17, "checkWatches"),
    (18, "removeWatches"),
    (19, "createContainer"),
    (20, "deleteContainer"),
    (21, "createTTL"),
    (22, "multiRead"),
    (100, "auth"),
    (101, "setWatches"),
    (102, "sasl"),
    (103, "getEphemerals"),
    (104, "getAllChildrenNumber"),
    (105, "setWatches2"),
    (106, "addWatch"),
    (107, "whoAmI"),
    (-10, "createSession"),
    (-11, "closeSession"),
    (i32::MIN, "unknown"),
];

/// One fdatasync of the journal covering `batch` log appends.
pub fn fsync_done(batch: usize, elapsed: Duration) {
    FSYNC_TIME.time(elapsed);
    SYNC_BATCH_SIZE.value(batch as u64);
    let own = own();
    own.fsync.record(elapsed.as_secs_f64());
    own.fsync_batch.record(batch as f64);
}

/// A request answered: `elapsed` from its arrival to its reply being queued.
pub fn request_done(op: i32, write: bool, elapsed: Duration) {
    if write {
        UPDATE_LATENCY.time(elapsed);
    } else {
        READ_LATENCY.time(elapsed);
    }
    let slot = OPS
        .iter()
        .position(|&(o, _)| o == op)
        .unwrap_or(OPS.len() - 1);
    if let Some(h) = own().requests.get(slot) {
        h.record(elapsed.as_secs_f64());
    }
}

/// A proposal of this member was committed and applied, `elapsed` after it was proposed.
pub fn committed(elapsed: Duration) {
    LOCAL_WRITE_COMMITTED.time(elapsed);
    own().raft_commit.record(elapsed.as_secs_f64());
}

/// One log entry applied to the tree.
pub fn applied(elapsed: Duration) {
    COMMIT_COUNT.inc();
    own().apply.record(elapsed.as_secs_f64());
}

/// A trigger of `event_type` fired `n` watches (recorded only when n > 0, as ZooKeeper).
pub fn watches_fired(event_type: i32, n: usize) {
    if n == 0 {
        return;
    }
    let s = match event_type {
        jute::event::NODE_CREATED => &NODE_CREATED_WATCH,
        jute::event::NODE_DELETED => &NODE_DELETED_WATCH,
        jute::event::NODE_DATA_CHANGED => &NODE_CHANGED_WATCH,
        jute::event::NODE_CHILDREN_CHANGED => &NODE_CHILDREN_WATCH,
        _ => return,
    };
    s.value(n as u64);
}

/// A frame queued to a client (ZooKeeper's response size stats and `response_bytes`).
pub fn response_sent(len: usize) {
    CLIENT_RESPONSE.record(len);
    RESPONSE_BYTES.add(len as u64);
}

// ------------------------------------------------------------------------- Prometheus

/// How often the gauges on `/metrics` are sampled from the server.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// Install the Prometheus recorder and serve `/metrics` on `addr`. Call before the
/// server records anything (handles resolved earlier stay no-ops) and inside the runtime.
pub fn install_prometheus(addr: SocketAddr) -> std::io::Result<PrometheusHandle> {
    let builder = PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_quantiles(&[0.5, 0.9, 0.99])
        .map_err(std::io::Error::other)?;
    let (recorder, exporter) = builder.build().map_err(std::io::Error::other)?;
    let handle = recorder.handle();
    ::metrics::set_global_recorder(recorder).map_err(std::io::Error::other)?;
    describe();
    // Bind every handle now: series exist (count 0) before their first sample, so a
    // dashboard shows 0 rather than "no data", and no handle is a no-op from before.
    for s in LIVE_SUMMARIES {
        s.hist.get_or_init(|| ::metrics::histogram!(s.name));
    }
    let _ = own();
    tokio::spawn(async move {
        if let Err(e) = exporter.await {
            tracing::error!("Prometheus /metrics endpoint stopped: {e:?}");
        }
    });
    Ok(handle)
}

fn describe() {
    use ::metrics::{describe_histogram, Unit};
    describe_histogram!(
        "zkd_request_seconds",
        Unit::Seconds,
        "Request latency by opcode, from arrival to reply"
    );
    describe_histogram!(
        "zkd_raft_commit_seconds",
        Unit::Seconds,
        "From a write's proposal to its entry being committed and applied here"
    );
    describe_histogram!(
        "zkd_apply_seconds",
        Unit::Seconds,
        "Applying one committed log entry to the tree"
    );
    describe_histogram!(
        "zkd_fsync_seconds",
        Unit::Seconds,
        "One fdatasync of the Raft log"
    );
    describe_histogram!(
        "zkd_fsync_batch_size",
        Unit::Count,
        "Log entries made durable by one fdatasync (group commit)"
    );
}

/// Sample ZooKeeper's gauges (and the counters) into the recorder every second, so
/// `/metrics` carries znode_count, num_alive_connections, avg_latency, ...
pub async fn sample_gauges(server: Arc<Server>) {
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for (name, v) in monitor::gauges(&server, false) {
            let v = match v {
                Val::Int(i) => i as f64,
                Val::Float(f) => f,
                Val::Str(_) => continue,
            };
            ::metrics::gauge!(name).set(v);
        }
        for c in LIVE_COUNTERS {
            ::metrics::counter!(c.name).absolute(c.get());
        }
        for (set, namespace, v) in monitor::quota_gauges(&server) {
            ::metrics::gauge!(set, "key" => namespace).set(v as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_rows_have_zookeeper_shape() {
        static S: Summary = Summary::new("t", 1000, Some(&UPDATE_RING));
        S.time(Duration::from_micros(1500));
        S.time(Duration::from_micros(2500));
        let mut rows = Vec::new();
        S.rows(&mut rows);
        let keys: Vec<&str> = rows.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            ["avg_t", "min_t", "max_t", "cnt_t", "sum_t", "p50_t", "p95_t", "p99_t", "p999_t"]
        );
        assert!(matches!(rows[0].1, Val::Float(f) if f == 2.0));
        assert!(matches!(rows[1].1, Val::Int(1)));
        assert!(matches!(rows[2].1, Val::Int(2)));
        assert!(matches!(rows[3].1, Val::Int(2)));
    }

    #[test]
    fn every_zookeeper_metric_has_rows() {
        let mut rows = Vec::new();
        server_metric_rows(&mut rows);
        let counters = ZK_METRICS.iter().filter(|m| m.1 == Kind::Counter).count();
        let basic = ZK_METRICS.iter().filter(|m| m.1 == Kind::Basic).count();
        let adv = ZK_METRICS.iter().filter(|m| m.1 == Kind::Advanced).count();
        assert_eq!(rows.len(), counters + 5 * basic + 9 * adv);
        for s in LIVE_SUMMARIES {
            assert!(ZK_METRICS.iter().any(|m| m.0 == s.name), "{}", s.name);
        }
        for c in LIVE_COUNTERS {
            assert!(ZK_METRICS.iter().any(|m| m.0 == c.name), "{}", c.name);
        }
    }
}
