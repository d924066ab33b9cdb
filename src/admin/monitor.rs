//! What the status commands read from a running server, once for text and JSON.
//!
//! Each view here is what one of ZooKeeper's providers gives its four-letter word and
//! its AdminServer twin: the server stats (`srvr`, `server_stats`), per-connection stats
//! (`cons`, `connections`), the monitor values (`mntr`, `monitor`, `/metrics`), the
//! session expiry queue (`dump`).

use openraft::async_runtime::WatchReceiver;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use super::json::J;
use super::{java_double, metrics, round4, ZK_VERSION};
use crate::server::{now_ms, Server};

/// A monitor value: ZooKeeper prints longs plainly and other numbers as doubles.
#[derive(Clone, Debug)]
pub enum Val {
    Int(i64),
    Float(f64),
    Str(String),
}

impl Val {
    /// As `mntr` prints it.
    pub fn text(&self) -> String {
        match self {
            Val::Int(i) => i.to_string(),
            Val::Float(f) => java_double(*f),
            Val::Str(s) => s.clone(),
        }
    }

    pub fn json(&self) -> J {
        match self {
            Val::Int(i) => J::Int(*i),
            Val::Float(f) => J::Float(*f),
            Val::Str(s) => J::Str(s.clone()),
        }
    }
}

/// Milliseconds on a monotonic clock with an arbitrary origin (ZooKeeper's
/// `Time.currentElapsedTime()`), as `cons` shows `lresp` and `dump` its expiry times.
pub fn elapsed_ms() -> i64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    // Start the clock well above 0 so a fresh process shows plausible values.
    ORIGIN.get_or_init(Instant::now).elapsed().as_millis() as i64 + 1_000_000
}

// ------------------------------------------------------------------ connection stats

/// ZooKeeper's per-connection statistics (ServerCnxn): what `cons` prints.
pub struct ConnStats {
    /// Wall-clock ms when the connection was accepted (`est=`).
    pub established_ms: i64,
    /// Requests of this connection not yet answered (`queued=`).
    pub queued: AtomicU64,
    last_op: AtomicI32,
    last_response: AtomicI64,
    last_latency: AtomicU64,
    min: AtomicU64,
    max: AtomicU64,
    count: AtomicU64,
    total: AtomicU64,
}

const NO_OP: i32 = i32::MIN;

impl Default for ConnStats {
    fn default() -> Self {
        ConnStats {
            established_ms: now_ms(),
            queued: AtomicU64::new(0),
            last_op: AtomicI32::new(NO_OP),
            last_response: AtomicI64::new(0),
            last_latency: AtomicU64::new(0),
            min: AtomicU64::new(u64::MAX),
            max: AtomicU64::new(0),
            count: AtomicU64::new(0),
            total: AtomicU64::new(0),
        }
    }
}

impl ConnStats {
    /// A reply to `op` was queued, `started` when its request arrived.
    pub fn response(&self, op: i32, started: Instant) {
        let ms = started.elapsed().as_millis() as u64;
        self.last_op.store(op, Ordering::Relaxed);
        self.last_response.store(elapsed_ms(), Ordering::Relaxed);
        self.last_latency.store(ms, Ordering::Relaxed);
        self.min.fetch_min(ms, Ordering::Relaxed);
        self.max.fetch_max(ms, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.total.fetch_add(ms, Ordering::Relaxed);
    }

    /// `crst`.
    pub fn reset(&self) {
        self.last_op.store(NO_OP, Ordering::Relaxed);
        self.last_response.store(0, Ordering::Relaxed);
        self.last_latency.store(0, Ordering::Relaxed);
        self.min.store(u64::MAX, Ordering::Relaxed);
        self.max.store(0, Ordering::Relaxed);
        self.count.store(0, Ordering::Relaxed);
        self.total.store(0, Ordering::Relaxed);
    }
}

/// One connection as `cons` / `connections` show it.
pub struct ConnView {
    pub addr: SocketAddr,
    pub interest_ops: i64,
    pub queued: u64,
    pub received: u64,
    pub sent: u64,
    /// `None` for the connection asking (it has no session).
    pub session: Option<SessionPart>,
}

pub struct SessionPart {
    pub session_id: i64,
    pub last_op: &'static str,
    pub established_ms: i64,
    pub timeout: i32,
    pub last_cxid: i64,
    pub last_zxid: i64,
    pub last_response: i64,
    pub last_latency: u64,
    pub min_latency: u64,
    pub avg_latency: u64,
    pub max_latency: u64,
}

impl ConnView {
    /// ` /ip:port[ops](queued=..,recved=..,sent=..[,sid=..])` (no newline).
    pub fn text(&self, brief: bool) -> String {
        let ops = if self.interest_ops == 0 {
            "0".to_string()
        } else {
            format!("{:x}", self.interest_ops)
        };
        let mut s = format!(
            " /{}[{ops}](queued={},recved={},sent={}",
            self.addr, self.queued, self.received, self.sent
        );
        if let (false, Some(p)) = (brief, &self.session) {
            if p.session_id != 0 {
                s.push_str(&format!(
                    ",sid=0x{:x},lop={},est={},to={}",
                    p.session_id, p.last_op, p.established_ms, p.timeout
                ));
                if p.last_cxid >= 0 {
                    s.push_str(&format!(",lcxid=0x{:x}", p.last_cxid));
                }
                s.push_str(&format!(
                    ",lzxid=0x{:x},lresp={},llat={},minlat={},avglat={},maxlat={}",
                    p.last_zxid,
                    p.last_response,
                    p.last_latency,
                    p.min_latency,
                    p.avg_latency,
                    p.max_latency
                ));
            }
        }
        s.push(')');
        s
    }

    /// ZooKeeper's `getConnectionInfo(brief)` map.
    pub fn json(&self, brief: bool) -> J {
        let mut o = vec![
            ("remote_socket_address", J::Str(self.addr.to_string())),
            ("interest_ops", J::Int(self.interest_ops)),
            ("outstanding_requests", J::Int(self.queued as i64)),
            ("packets_received", J::Int(self.received as i64)),
            ("packets_sent", J::Int(self.sent as i64)),
        ];
        if !brief {
            let p = self.session.as_ref();
            let int = |f: fn(&SessionPart) -> i64, none: i64| J::Int(p.map_or(none, f));
            o.push(("session_id", int(|p| p.session_id, 0)));
            o.push((
                "last_operation",
                J::Str(p.map_or("NA", |p| p.last_op).to_string()),
            ));
            o.push(("established", int(|p| p.established_ms, 0)));
            o.push(("session_timeout", int(|p| p.timeout as i64, 0)));
            o.push(("last_cxid", int(|p| p.last_cxid, -1)));
            o.push(("last_zxid", int(|p| p.last_zxid, -1)));
            o.push(("last_response_time", int(|p| p.last_response, 0)));
            o.push(("last_latency", int(|p| p.last_latency as i64, 0)));
            o.push(("min_latency", int(|p| p.min_latency as i64, 0)));
            o.push(("avg_latency", int(|p| p.avg_latency as i64, 0)));
            o.push(("max_latency", int(|p| p.max_latency as i64, 0)));
        }
        J::obj(o)
    }
}

/// Every client connection, the asking one (a four-letter-word connection) first.
pub fn connections(server: &Server, asker: Option<SocketAddr>) -> Vec<ConnView> {
    let mut out = Vec::new();
    if let Some(addr) = asker {
        out.push(ConnView {
            addr,
            interest_ops: 0,
            queued: 0,
            received: 1,
            sent: 0,
            session: None,
        });
    }
    let conns = server.connections.all();
    let tree = server.tree.read();
    for c in conns {
        let st = &c.stats;
        let count = st.count.load(Ordering::Relaxed);
        let op = st.last_op.load(Ordering::Relaxed);
        let sid = c.session_id();
        out.push(ConnView {
            addr: c.peer,
            interest_ops: 1,
            queued: st.queued.load(Ordering::Relaxed),
            received: c.received.load(Ordering::Relaxed),
            sent: c.sent.load(Ordering::Relaxed),
            session: Some(SessionPart {
                session_id: sid,
                last_op: if op == NO_OP {
                    "NA"
                } else {
                    jute::op::op_name(op)
                },
                established_ms: st.established_ms,
                timeout: tree.session(sid).map_or(0, |s| s.timeout_ms),
                last_cxid: c.last_cxid.load(Ordering::Relaxed),
                last_zxid: c.last_zxid.load(Ordering::Relaxed),
                last_response: st.last_response.load(Ordering::Relaxed),
                last_latency: st.last_latency.load(Ordering::Relaxed),
                min_latency: match st.min.load(Ordering::Relaxed) {
                    u64::MAX => 0,
                    m => m,
                },
                avg_latency: st
                    .total
                    .load(Ordering::Relaxed)
                    .checked_div(count)
                    .unwrap_or(0),
                max_latency: st.max.load(Ordering::Relaxed),
            }),
        });
    }
    out
}

/// Requests received and not yet answered, over all connections.
pub fn outstanding(server: &Server) -> u64 {
    server.overload.in_flight() as u64
}

// ------------------------------------------------------------------------ server stats

/// `standalone`, or the member's role in an ensemble.
pub fn server_state(server: &Server) -> &'static str {
    let Some(raft) = server.raft() else {
        return "standalone";
    };
    if server.ensemble.is_none() {
        return "standalone";
    }
    if server.read_only_mode() {
        return "read-only";
    }
    let state = raft.metrics().borrow_watched().state;
    match state {
        openraft::ServerState::Leader => "leader",
        openraft::ServerState::Follower => "follower",
        openraft::ServerState::Learner => "observer",
        _ => "looking",
    }
}

/// ZooKeeper's node count includes an internal alias of `/` (a fresh tree reports 5).
pub fn znode_count(server: &Server) -> i64 {
    server.tree.read().node_count() as i64 + 1
}

/// (min, avg, max) request latency in ms, ZooKeeper-rounded.
pub fn latency(server: &Server) -> (i64, f64, i64) {
    let (min, avg, max) = server.stats.latency_ms();
    (min as i64, round4(avg), max as i64)
}

/// Live client connections; `asking` counts the four-letter-word connection asking, as
/// ZooKeeper (for which it is a connection like any other) does.
pub fn alive_connections(server: &Server, asking: bool) -> usize {
    server.connections.len() + usize::from(asking)
}

/// The server stats block of `srvr`/`stat`, from `Latency` to `Node count`.
pub fn srvr_body(server: &Server, asking: bool) -> String {
    let (min, avg, max) = latency(server);
    format!(
        "Latency min/avg/max: {min}/{}/{max}\nReceived: {}\nSent: {}\nConnections: {}\n\
         Outstanding: {}\nZxid: 0x{:x}\nMode: {}\nNode count: {}\n",
        java_double(avg),
        server.stats.packets_received.load(Ordering::Relaxed),
        server.stats.packets_sent.load(Ordering::Relaxed),
        alive_connections(server, asking),
        outstanding(server),
        server.last_zxid(),
        server_state(server),
        znode_count(server),
    )
}

/// ZooKeeper's `ServerStats` as Jackson serialises it (`server_stats`).
pub fn server_stats_json(server: &Server) -> J {
    let (min, avg, max) = latency(server);
    let size = data_dir_size(server);
    J::obj(vec![
        (
            "packets_sent",
            J::Int(server.stats.packets_sent.load(Ordering::Relaxed) as i64),
        ),
        (
            "packets_received",
            J::Int(server.stats.packets_received.load(Ordering::Relaxed) as i64),
        ),
        ("fsync_threshold_exceed_count", J::Int(0)),
        ("client_response_stats", client_response_json()),
        ("data_dir_size", J::Int(size)),
        ("log_dir_size", J::Int(size)),
        ("provider_null", J::Bool(false)),
        ("server_state", J::Str(server_state(server).into())),
        ("last_processed_zxid", J::Int(server.last_zxid())),
        ("outstanding_requests", J::Int(outstanding(server) as i64)),
        ("avg_latency", J::Float(avg)),
        ("max_latency", J::Int(max)),
        ("min_latency", J::Int(min)),
        (
            "num_alive_client_connections",
            J::Int(server.connections.len() as i64),
        ),
        ("uptime", J::Int(uptime_ms(server))),
        (
            "auth_failed_count",
            J::Int(metrics::AUTH_FAILED.get() as i64),
        ),
        ("non_mtlsremote_conn_count", J::Int(0)),
        ("non_mtlslocal_conn_count", J::Int(0)),
    ])
}

pub fn client_response_json() -> J {
    let (last, min, max) = metrics::CLIENT_RESPONSE.get();
    J::obj(vec![
        ("last_buffer_size", J::Int(last)),
        ("min_buffer_size", J::Int(min)),
        ("max_buffer_size", J::Int(max)),
    ])
}

pub fn uptime_ms(server: &Server) -> i64 {
    server.started.elapsed().as_millis() as i64
}

/// zkd keeps its Raft log and its state in one directory: both sizes are its size.
pub fn data_dir_size(server: &Server) -> i64 {
    server.storage.disk_space() as i64
}

// ---------------------------------------------------------------------- monitor values

/// ZooKeeperServer's registered gauges, in registration order.
pub fn gauges(server: &Server, asking: bool) -> Vec<(&'static str, Val)> {
    let (min, avg, max) = latency(server);
    let (last, rmin, rmax) = metrics::CLIENT_RESPONSE.get();
    let (nodes, ephemerals, data_size, sessions) = {
        let tree = server.tree.read();
        (
            tree.node_count() as i64 + 1,
            tree.ephemeral_count() as i64,
            tree.approximate_data_size() as i64,
            tree.sessions().count() as i64,
        )
    };
    let watches = server.watches.lock().count() as i64;
    vec![
        ("avg_latency", Val::Float(avg)),
        ("max_latency", Val::Int(max)),
        ("min_latency", Val::Int(min)),
        (
            "packets_received",
            Val::Int(server.stats.packets_received.load(Ordering::Relaxed) as i64),
        ),
        (
            "packets_sent",
            Val::Int(server.stats.packets_sent.load(Ordering::Relaxed) as i64),
        ),
        (
            "num_alive_connections",
            Val::Int(alive_connections(server, asking) as i64),
        ),
        ("outstanding_requests", Val::Int(outstanding(server) as i64)),
        ("uptime", Val::Int(uptime_ms(server))),
        ("znode_count", Val::Int(nodes)),
        ("watch_count", Val::Int(watches)),
        ("ephemerals_count", Val::Int(ephemerals)),
        ("approximate_data_size", Val::Int(data_size)),
        ("global_sessions", Val::Int(sessions)),
        (
            "local_sessions",
            Val::Int(server.local_sessions.lock().len() as i64),
        ),
        ("open_file_descriptor_count", Val::Int(open_fds())),
        ("max_file_descriptor_count", Val::Int(max_fds())),
        (
            "connection_drop_probability",
            Val::Float(server.overload.drop_probability()),
        ),
        ("last_client_response_size", Val::Int(last)),
        ("max_client_response_size", Val::Int(rmax)),
        ("min_client_response_size", Val::Int(rmin)),
        ("outstanding_tls_handshake", Val::Int(0)),
        (
            "auth_failed_count",
            Val::Int(metrics::AUTH_FAILED.get() as i64),
        ),
        ("non_mtls_remote_conn_count", Val::Int(0)),
        ("non_mtls_local_conn_count", Val::Int(0)),
    ]
}

/// Everything `mntr` prints (without the `zk_` prefix): version and state first, then
/// the gauges, then every ServerMetric.
pub fn monitor_rows(server: &Server, asking: bool) -> Vec<(String, Val)> {
    let mut rows = vec![
        ("version".to_string(), Val::Str(ZK_VERSION.to_string())),
        (
            "server_state".to_string(),
            Val::Str(server_state(server).to_string()),
        ),
    ];
    rows.extend(
        gauges(server, asking)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v)),
    );
    rows.extend(quota_rows(server));
    rows.extend(leader_rows(server));
    metrics::server_metric_rows(&mut rows);
    metrics::quota_exceeded_rows(&mut rows);
    rows
}

/// ZooKeeper's quota gauge sets, one value per top-level namespace that has a quota:
/// (set name, namespace, value). `mntr` prints them as `zk_<namespace>_<set name>`,
/// `/metrics` as `<set name>{key="<namespace>"}`.
pub fn quota_gauges(server: &Server) -> Vec<(&'static str, String, i64)> {
    let figures = server.tree.read().quota_figures();
    let mut out = Vec::new();
    for (ns, f) in figures {
        let sets = [
            ("quota_count_limit_per_namespace", f.count_limit),
            ("quota_bytes_limit_per_namespace", f.bytes_limit),
            ("quota_count_usage_per_namespace", f.count_usage),
            ("quota_bytes_usage_per_namespace", f.bytes_usage),
        ];
        for (set, v) in sets {
            if let Some(v) = v {
                out.push((set, ns.clone(), v));
            }
        }
    }
    out
}

fn quota_rows(server: &Server) -> Vec<(String, Val)> {
    quota_gauges(server)
        .into_iter()
        .map(|(set, ns, v)| (format!("{ns}_{set}"), Val::Int(v)))
        .collect()
}

/// What a ZooKeeper leader adds to `mntr` (the same four keys as ZooKeeper 3.8's):
/// its learners (followers and observers) and how many voting followers are in sync.
/// zkd has no non-voting followers (ZooKeeper's followers outside the voting set
/// during a reconfig) and answers a sync without queueing it: both are 0.
fn leader_rows(server: &Server) -> Vec<(String, Val)> {
    let Some(raft) = server
        .raft()
        .filter(|r| server.ensemble.is_some() && r.is_leader())
    else {
        return Vec::new();
    };
    let m = raft.metrics().borrow_watched().clone();
    let membership = m.membership_config.membership();
    let last = m.last_log_index.unwrap_or(0);
    let (mut learners, mut synced) = (0, 0);
    for (id, matched) in m.replication.iter().flatten() {
        if *id == m.id {
            continue;
        }
        learners += 1;
        // In sync: within one batch of the leader's log.
        let in_sync = matched.as_ref().is_some_and(|l| l.index + 256 >= last);
        if in_sync && membership.voter_ids().any(|v| v == *id) {
            synced += 1;
        }
    }
    vec![
        ("synced_followers".to_string(), Val::Int(synced)),
        ("synced_non_voting_followers".to_string(), Val::Int(0)),
        ("pending_syncs".to_string(), Val::Int(0)),
        ("learners".to_string(), Val::Int(learners)),
    ]
}

fn open_fds() -> i64 {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count() as i64)
        .unwrap_or(-1)
}

fn max_fds() -> i64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).map(str::to_string))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1)
}

// ------------------------------------------------------------------- sessions and env

/// Sessions grouped by expiry time, soonest first: (elapsed-clock ms, wall-clock ms, ids).
pub fn sessions_by_expiry(server: &Server) -> Vec<(i64, i64, Vec<i64>)> {
    let now = Instant::now();
    let (elapsed, wall) = (elapsed_ms(), now_ms());
    let mut groups: Vec<(i64, i64, Vec<i64>)> = Vec::new();
    let mut sessions = server.sessions.lock().snapshot(now);
    sessions.sort_by_key(|(id, _, left)| (*left, *id));
    for (id, _timeout, left) in sessions {
        let left = left.as_millis() as i64;
        match groups.last_mut() {
            Some(g) if g.0 == elapsed + left => g.2.push(id),
            _ => groups.push((elapsed + left, wall + left, vec![id])),
        }
    }
    groups
}

/// ZooKeeper's `Environment.list()`: the `envi` lines.
pub fn environment() -> Vec<(&'static str, String)> {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into());
    let cwd = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let os_version = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let (total, free) = memory();
    vec![
        ("zookeeper.version", ZK_VERSION.to_string()),
        ("host.name", host),
        ("java.version", "none (zkd is written in Rust)".into()),
        ("java.vendor", "none".into()),
        ("java.home", String::new()),
        ("java.class.path", exe),
        ("java.library.path", String::new()),
        ("java.io.tmpdir", std::env::temp_dir().display().to_string()),
        ("java.compiler", "<NA>".into()),
        ("os.name", os_name()),
        ("os.arch", os_arch()),
        ("os.version", os_version),
        ("user.name", std::env::var("USER").unwrap_or_default()),
        ("user.home", std::env::var("HOME").unwrap_or_default()),
        ("user.dir", cwd),
        ("os.memory.free", format!("{free}MB")),
        ("os.memory.max", format!("{total}MB")),
        ("os.memory.total", format!("{total}MB")),
    ]
}

fn os_name() -> String {
    match std::env::consts::OS {
        "linux" => "Linux".into(),
        "macos" => "Mac OS X".into(),
        other => other.into(),
    }
}

fn os_arch() -> String {
    match std::env::consts::ARCH {
        "x86_64" => "amd64".into(),
        other => other.into(),
    }
}

/// (total, available) memory of the machine in MB (Java reports its heap; zkd has none).
fn memory() -> (u64, u64) {
    let info = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(0, |kb| kb / 1024)
    };
    (field("MemTotal:"), field("MemAvailable:"))
}
