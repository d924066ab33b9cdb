//! The server: shared state between connections, consensus and the tree.
//!
//! A request's journey: [`crate::net`] frames bytes into packets and performs the
//! handshake; [`dispatcher`] keeps each session's requests in order and routes reads to
//! [`reads`] (served from the local tree) and writes to [`Server::propose`]; consensus
//! commits the txn and its state machine applies it, then calls [`Server`]'s
//! [`ApplySink`] with the tree still locked: watch events go out to their connections
//! and the result goes back to the dispatcher that proposed it.
//!
//! Besides requests, the server proposes two kinds of txns itself: closeSession for
//! sessions whose deadline passed ([`crate::session::SessionTracker`]) and deletions of
//! empty containers and expired TTL nodes, checked every
//! `znode.container.checkIntervalMs` as ZooKeeper's ContainerManager does.

pub mod auth;
pub mod dispatcher;
pub mod ensemble;
pub mod reads;
pub mod reconfig;
pub mod registry;
pub mod throttle;

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};
use jute::Record;
use openraft::async_runtime::WatchReceiver;
use parking_lot::{Mutex, RwLock};
use tokio::sync::oneshot;

use crate::config::Config;
use crate::consensus::{self, ApplySink, ConsensusConfig, Proposal, Raft};
use crate::session::SessionTracker;
use crate::storage::Storage;
use crate::tree::{Applied, DataTree, DigestCheck, Reply};
use crate::txn::{AuthId, Txn, TxnKind};
use crate::watch::WatchManager;
use registry::{ConnId, Registry};

/// Request counters and latency for `srvr`, `stat` and `mntr`.
#[derive(Default)]
pub struct Stats {
    pub packets_received: AtomicU64,
    pub packets_sent: Arc<AtomicU64>,
    latency_count: AtomicU64,
    latency_total_us: AtomicU64,
    latency_min_us: AtomicU64,
    latency_max_us: AtomicU64,
}

impl Stats {
    pub fn record_latency(&self, started: Instant) {
        let us = started.elapsed().as_micros() as u64;
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_total_us.fetch_add(us, Ordering::Relaxed);
        self.latency_max_us.fetch_max(us, Ordering::Relaxed);
        // 0 means "no sample yet".
        let _ = self
            .latency_min_us
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |m| {
                (m == 0 || us < m).then_some(us.max(1))
            });
    }

    /// (min, avg, max) in milliseconds, as ZooKeeper reports them.
    pub fn latency_ms(&self) -> (f64, f64, f64) {
        let n = self.latency_count.load(Ordering::Relaxed);
        if n == 0 {
            return (0.0, 0.0, 0.0);
        }
        let total = self.latency_total_us.load(Ordering::Relaxed) as f64;
        (
            self.latency_min_us.load(Ordering::Relaxed) as f64 / 1000.0,
            total / n as f64 / 1000.0,
            self.latency_max_us.load(Ordering::Relaxed) as f64 / 1000.0,
        )
    }

    pub fn reset(&self) {
        for c in [
            &self.packets_received,
            &*self.packets_sent,
            &self.latency_count,
            &self.latency_total_us,
            &self.latency_min_us,
            &self.latency_max_us,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }
}

pub struct Server {
    pub config: Config,
    pub tree: Arc<RwLock<DataTree>>,
    pub watches: Mutex<WatchManager>,
    pub connections: Registry,
    pub sessions: Mutex<SessionTracker>,
    /// This member's local sessions (`localSessionsEnabled`): not in the replicated
    /// table; expired here, by their own clock, with nothing to replicate.
    pub local_sessions: Mutex<SessionTracker>,
    pub stats: Stats,
    /// Outstanding requests over all connections, their bound, the connection throttle.
    pub overload: throttle::Overload,
    pub storage: Storage,
    pub started: Instant,
    /// Cancelled on shutdown: connections stop reading requests, finish the writes
    /// they have in flight, send the replies and close.
    pub draining: tokio_util::sync::CancellationToken,
    /// Proposals of this member awaiting apply, by origin.
    pending: Mutex<HashMap<u64, Waiter>>,
    /// Set once consensus stopped on a storage error (a failing fsync, a full disk): no
    /// write can be made durable, so none is accepted; reads go on.
    storage_failure: OnceLock<String>,
    next_origin: AtomicU64,
    next_conn: AtomicU64,
    /// Restores applied by this process (see [`Server::restores_seen`]).
    restores: AtomicU64,
    raft: OnceLock<Raft>,
    /// Present when zoo.cfg lists an ensemble.
    pub ensemble: Option<ensemble::Ensemble>,
}

/// Origins are `member id << 40 | counter`.
const ORIGIN_MEMBER_SHIFT: u32 = 40;

/// Where this process's origin counter starts: the wall clock in microseconds (mod 2^40).
/// A restarted member replays log entries its previous incarnation proposed, and their
/// origins must not match this one's pending requests. No member proposes faster than
/// one txn per microsecond, so a counter started at "now" stays above every origin an
/// earlier incarnation handed out (until the clock wraps after 12.7 days, by which time
/// those entries are long applied).
fn first_origin_counter() -> u64 {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_micros() as u64);
    (micros & ((1 << ORIGIN_MEMBER_SHIFT) - 1)).max(1)
}

/// A proposal's connection, when it was proposed, and who waits for its result.
type Waiter = (ConnId, Instant, oneshot::Sender<Applied>);

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A length-prefixed frame holding one record with no reply header (ConnectResponse).
pub fn record_frame(record: &impl Record) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    record.write(&mut buf);
    let len = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    buf.freeze()
}

impl Server {
    /// Open storage, recover the tree, start consensus and the background tasks.
    pub async fn start(config: Config) -> io::Result<Arc<Server>> {
        let storage = Storage::open(&config.data_dir)?;
        let tree = Arc::new(RwLock::new(DataTree::new(config.tree_config())));
        let started = Instant::now();
        let transport = if config.is_ensemble() {
            consensus::transport::PeerTransport::from_config(
                &config.security,
                config.members.values().map(|m| m.host.clone()).collect(),
            )
            .map_err(|e| io::Error::other(format!("peer port TLS: {e}")))?
        } else {
            consensus::transport::PeerTransport::plain()
        };
        let peers = Arc::new(consensus::network::Peers::new(
            config.server_id,
            config
                .members
                .values()
                .map(|m| (m.id, m.peer_addr()))
                .collect(),
            transport,
        ));
        let ensemble = config
            .is_ensemble()
            .then(|| ensemble::Ensemble::new(peers.clone()));
        let config_server_id = config.server_id;
        let voters = config.members.values().filter(|m| !m.observer).count();
        let overload = throttle::Overload::new(&config.limits, voters);
        let server = Arc::new(Server {
            overload,
            sessions: Mutex::new(SessionTracker::new(config.tick_time, started)),
            local_sessions: Mutex::new(SessionTracker::new(config.tick_time, started)),
            config,
            tree: tree.clone(),
            watches: Mutex::new(WatchManager::default()),
            connections: Registry::default(),
            stats: Stats::default(),
            storage: storage.clone(),
            started,
            draining: tokio_util::sync::CancellationToken::new(),
            pending: Mutex::new(HashMap::new()),
            storage_failure: OnceLock::new(),
            // Origins carry the member id, so a reply token never matches on another member,
            // and start at the clock, so it never matches a previous run's either.
            next_origin: AtomicU64::new(
                ((config_server_id & 0xff_ffff) << ORIGIN_MEMBER_SHIFT) | first_origin_counter(),
            ),
            next_conn: AtomicU64::new(1),
            restores: AtomicU64::new(0),
            raft: OnceLock::new(),
            ensemble,
        });
        let rejoin = consensus::recover::rejoin_pending(&server.storage);
        let initial_voters = if server.config.is_ensemble() {
            ensemble::initial_voters(&server.config, rejoin)
        } else {
            Some(std::collections::BTreeMap::from([(
                server.config.server_id,
                openraft::impls::BasicNode::new("127.0.0.1:0"),
            )]))
        };
        let cc = ConsensusConfig {
            node_id: server.config.server_id,
            snap_count: server.config.snap_count,
            initial_voters,
            peers,
        };
        let sink: Arc<dyn ApplySink> = server.clone();
        let raft = consensus::start(&cc, storage, tree, sink).await?;
        let peer_listener = match &server.ensemble {
            Some(_) => Some(server.bind_peer_port().await?),
            None => {
                server.replay_as_single_voter(&raft).await?;
                None
            }
        };
        // ZooKeeper's dbinittime: loading the database before serving.
        crate::admin::metrics::DB_INIT_TIME.time(started.elapsed());
        let _ = crate::admin::monitor::elapsed_ms(); // starts the `cons` lresp clock
        tokio::spawn(crate::admin::keeper::log_leader_changes(raft.clone()));
        let _ = server.raft.set(raft.clone());
        if let Some(listener) = peer_listener {
            server.start_member(raft, listener);
        }
        tokio::spawn(expire_sessions(server.clone()));
        tokio::spawn(reap_containers(server.clone()));
        tokio::spawn(snapshot_by_size(server.clone()));
        tokio::spawn(stop_writes_on_storage_failure(server.clone()));
        Ok(server)
    }

    /// A standalone server is its own quorum: it serves once it leads and has replayed
    /// its log tail (a client must never see a state older than one it saw before the
    /// restart; it would be refused for its zxid).
    async fn replay_as_single_voter(&self, raft: &Raft) -> io::Result<()> {
        let metrics = raft
            .wait(Some(Duration::from_secs(30)))
            .state(openraft::ServerState::Leader, "become leader")
            .await
            .map_err(crate::storage::io_err)?;
        raft.wait(Some(Duration::from_secs(300)))
            .applied_index_at_least(metrics.last_log_index, "replay the log")
            .await
            .map_err(crate::storage::io_err)?;
        Ok(())
    }

    /// While this member decides what only a leader decides (session expiry and
    /// liveness, reaping): which stretch of leading this is, as (Raft term, serving
    /// epoch). It must lead a working quorum (a standalone server always does): a
    /// leader without its quorum decides nothing, as ZooKeeper's steps down.
    fn leading_epoch(&self) -> Option<(u64, u64)> {
        let serving = match &self.ensemble {
            Some(e) => e.serving_epoch()?,
            None => 0,
        };
        let metrics = self.raft()?.metrics();
        let m = metrics.borrow_watched();
        (m.state == openraft::ServerState::Leader).then_some((m.current_term, serving))
    }

    /// The session tracker, while this member decides ([`Server::leading_epoch`]). The
    /// first call in each stretch of leading restarts every session's clock from the
    /// replicated table, as a new ZooKeeper leader (or a restarted server) does, before
    /// anything is expired or revalidated: while nobody led a quorum, nobody could
    /// touch a session.
    fn leader_tracker(&self) -> Option<parking_lot::MutexGuard<'_, SessionTracker>> {
        let epoch = self.leading_epoch()?;
        if self.sessions.lock().clock_epoch() != Some(epoch) {
            // Lock order: tree, then sessions (as apply takes them).
            let tree = self.tree.read();
            let mut tracker = self.sessions.lock();
            if tracker.clock_epoch() != Some(epoch) {
                let sessions = tree.sessions().map(|(id, s)| (id, s.timeout_ms));
                tracker.restart(epoch, sessions, Instant::now());
                tracing::info!(
                    "leading (term {}): every session's clock restarts ({} sessions)",
                    epoch.0,
                    tracker.len()
                );
            }
        }
        Some(self.sessions.lock())
    }

    /// Listen on this member's peer port (its own `server.N` line).
    async fn bind_peer_port(&self) -> io::Result<tokio::net::TcpListener> {
        let me = self
            .config
            .members
            .get(&self.config.server_id)
            .ok_or_else(|| {
                io::Error::other(format!(
                    "zoo.cfg has no server.{} line",
                    self.config.server_id
                ))
            })?;
        let ip = me
            .host
            .parse::<std::net::IpAddr>()
            .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        let bind = std::net::SocketAddr::new(ip, me.peer_port);
        let listener = tokio::net::TcpListener::bind(bind).await.map_err(|e| {
            io::Error::new(e.kind(), format!("cannot listen for peers on {bind}: {e}"))
        })?;
        tracing::info!(
            "member {} of {}: peers on {bind}",
            self.config.server_id,
            self.config.members.len()
        );
        let transport = self.ensemble.as_ref().map(|e| e.peers.transport());
        if transport.is_some_and(|t| !t.is_authenticated()) {
            tracing::warn!(
                "the peer port {bind} is unauthenticated: anyone who reaches it can join, read \
                 the log or propose. Set sslQuorum=true with ssl.quorum.keyStore/trustStore \
                 (docs/operations.md, Securing zkd), or keep it on a private network"
            );
        }
        Ok(listener)
    }

    /// An ensemble member serves once it is part of a quorum (see [`ensemble`]); the
    /// log tail is replayed as the leader's commit index reaches it, and a client that
    /// has seen more than this member has applied is refused at the handshake.
    fn start_member(self: &Arc<Self>, raft: Raft, listener: tokio::net::TcpListener) {
        let peer_server = Arc::new(consensus::peer::PeerServer {
            raft,
            transport: (self.ensemble.as_ref())
                .map(|e| e.peers.transport().clone())
                .unwrap_or_default(),
            service: Arc::new(ensemble::PeerHandler(Arc::downgrade(self))),
            spool_dir: self.storage.dir.join("snapshots"),
        });
        tokio::spawn(peer_server.run(listener));
        tokio::spawn(ensemble::follow_leader_changes(self.clone()));
        tokio::spawn(ensemble::watch_quorum(self.clone()));
        tokio::spawn(ensemble::report_touches(self.clone()));
        tokio::spawn(ensemble::propose_digest_checks(self.clone()));
        if consensus::recover::rejoin_pending(&self.storage) {
            tokio::spawn(ensemble::add_back_configured(self.clone()));
        }
    }

    /// How many restores this process has applied: a connection whose handshake spans
    /// one is closed (its session belongs to the tree that was replaced).
    pub fn restores_seen(&self) -> u64 {
        self.restores.load(Ordering::Acquire)
    }

    /// Whether new sessions are local to this member (`localSessionsEnabled`, which
    /// ZooKeeper only honours in an ensemble).
    pub fn local_sessions_on(&self) -> bool {
        self.config.local_sessions_enabled && self.ensemble.is_some()
    }

    /// Whether this member may serve clients now (always, when standalone).
    pub fn serving(&self) -> bool {
        self.ensemble.as_ref().is_none_or(|e| e.in_quorum())
    }

    /// ZooKeeper's read-only mode: a member without a quorum, with
    /// `readonlymode.enabled`, serves reads to clients that ask for it.
    pub fn read_only_mode(&self) -> bool {
        self.config.readonly_mode_enabled && !self.serving()
    }

    /// A session id for a read-only client: local to this member, never replicated.
    /// The member id in the top byte keeps it apart from other members' (and never
    /// 0xFF, the TTL/container owner marker).
    pub fn local_session_id(&self) -> i64 {
        let n = self.next_conn.fetch_add(1, Ordering::Relaxed) as i64;
        let id = (self.config.server_id as i64 & 0x7f) << 56;
        id | ((now_ms() << 20) & 0x00ff_ffff_ff00_0000) | (n & 0xff_ffff)
    }

    /// Drop every proposal of this member still waiting for its apply: their
    /// connections close and the clients retry (the write may or may not happen).
    pub fn fail_pending(&self, why: &str) {
        let dropped: Vec<_> = self.pending.lock().drain().collect();
        if !dropped.is_empty() {
            tracing::info!(
                "{why}: {} writes in flight will not be answered",
                dropped.len()
            );
        }
    }

    pub fn raft(&self) -> Option<&Raft> {
        self.raft.get()
    }

    pub fn next_conn_id(&self) -> ConnId {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    pub fn last_zxid(&self) -> i64 {
        self.tree.read().last_zxid()
    }

    /// Submit a txn; the receiver yields its result once it is applied here.
    pub async fn propose(
        &self,
        conn: ConnId,
        session_id: i64,
        cxid: i32,
        auth: Vec<AuthId>,
        kind: TxnKind,
    ) -> io::Result<oneshot::Receiver<Applied>> {
        if let Some(why) = self.storage_failure.get() {
            return Err(io::Error::other(format!("writes are refused: {why}")));
        }
        let origin = self.next_origin.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .insert(origin, (conn, Instant::now(), tx));
        let txn = Txn {
            session_id,
            cxid,
            time_ms: now_ms(),
            auth,
            kind,
        };
        if let Err(e) = self.submit(origin, txn).await {
            self.pending.lock().remove(&origin);
            return Err(e);
        }
        Ok(rx)
    }

    async fn submit(&self, origin: u64, txn: Txn) -> io::Result<()> {
        crate::admin::metrics::PROPOSAL_COUNT.inc();
        self.submit_proposal(Proposal { origin, txn }).await
    }

    /// A txn the server itself decides on (expiry, reaping): nobody waits for its reply.
    async fn propose_internal(&self, session_id: i64, kind: TxnKind) {
        let txn = Txn {
            session_id,
            cxid: 0,
            time_ms: now_ms(),
            auth: Vec::new(),
            kind,
        };
        if let Err(e) = self.submit(0, txn).await {
            tracing::warn!("internal proposal failed: {e}");
        }
    }

    /// Close all of this server's client connections (shutdown).
    pub fn close_all_connections(&self) {
        for conn in self.connections.all() {
            conn.close();
        }
    }

    /// Close the connections of read-only sessions (the quorum is back: their clients
    /// go and find a read-write member, as ZooKeeper's do).
    pub fn close_read_only_connections(&self) {
        for conn in self.connections.all() {
            if conn.is_read_only() {
                conn.close();
            }
        }
    }

    /// The tree was replaced by a restore (on every member, at the same log index). The
    /// sessions to keep alive are now the restored table's, each with a fresh clock.
    /// Every client connection is closed: its watches and its view of the tree belong
    /// to the old one. A client whose session is in the restored table reattaches and
    /// sets its watches again (ZooKeeper's clients resend them with the last zxid they
    /// saw, and hear of what changed since); any other client is told its session
    /// expired.
    fn restored(&self, tree: &DataTree) {
        self.restores.fetch_add(1, Ordering::AcqRel);
        let sessions = tree.sessions().map(|(id, s)| (id, s.timeout_ms));
        self.sessions.lock().replace(sessions, Instant::now());
        if let Some(ensemble) = &self.ensemble {
            ensemble.forget_owners();
        }
        let conns = self.connections.all();
        for conn in &conns {
            conn.close();
        }
        let closed = conns.len();
        tracing::warn!(
            zxid = format_args!("{:#x}", tree.last_zxid()),
            "tree restored: {} znodes, {} sessions; {closed} client connections closed",
            tree.node_count(),
            tree.sessions().count()
        );
    }

    /// Whether a connection with `ids` may read a node with `acl` (watch filtering).
    fn can_read(&self, conn: ConnId, acl: &[jute::Acl]) -> bool {
        match self.connections.get(conn) {
            Some(c) => crate::tree::check_perm(acl, &c.auth.read(), jute::perms::READ),
            None => false,
        }
    }
}

impl ApplySink for Server {
    fn applied(&self, tree: &DataTree, origin: u64, applied: Applied) {
        match applied.reply {
            Reply::Restored => self.restored(tree),
            Reply::DigestChecked(DigestCheck::Mismatched { zxid, leader, mine }) => {
                // ZooKeeper's reportDigestMismatch: counted, and logged at most once a
                // second. The tree is not changed: an operator decides (compare with
                // `zkd verify`, then resync this member from a snapshot).
                crate::admin::metrics::DIGEST_MISMATCHES.inc();
                static LOG: RateLog = RateLog::new();
                if let Some(more) = LOG.allow() {
                    tracing::error!(
                        "Digests are not matching at zxid {zxid:#x}: the leader's is {leader}, \
                         this member's {mine}; its tree has diverged from the leader's \
                         ({more} more mismatches since the last such line)"
                    );
                }
            }
            _ => {}
        }
        if !applied.triggers.is_empty() {
            let events = self
                .watches
                .lock()
                .trigger(&applied.triggers, |conn, acl| self.can_read(conn, acl));
            // node_*_watch_count: watches fired per trigger
            for t in &applied.triggers {
                let fired = events
                    .iter()
                    .filter(|(_, e)| e.event_type == t.event_type && e.path == t.path)
                    .count();
                crate::admin::metrics::watches_fired(t.event_type, fired);
            }
            for (conn, event) in events {
                if let Some(c) = self.connections.get(conn) {
                    c.reply(-1, applied.zxid, 0, event.encode().freeze());
                }
            }
        }
        match &applied.reply {
            Reply::SessionCreated {
                session_id,
                timeout_ms,
            } => self
                .sessions
                .lock()
                .add(*session_id, *timeout_ms, Instant::now()),
            Reply::SessionClosed => {}
            _ => {}
        }
        let waiter = (origin != 0)
            .then(|| self.pending.lock().remove(&origin))
            .flatten();
        if let Some(closed) = applied.closed_session {
            self.sessions.lock().remove(closed);
            if let Some(ensemble) = &self.ensemble {
                ensemble.forget_session(closed);
            }
            self.connections
                .close_session(closed, waiter.as_ref().map(|(conn, _, _)| *conn));
        }
        // Quota limits are reported by the member that answers the client, once.
        if waiter.is_some() {
            for q in &applied.quota_exceeded {
                log_quota_exceeded(q);
                if q.hard {
                    crate::admin::metrics::quota_exceeded(&q.namespace);
                }
            }
        }
        if let Some((_, proposed, tx)) = waiter {
            crate::admin::metrics::committed(proposed.elapsed());
            let _ = tx.send(applied);
        }
    }
}

/// ZooKeeper's quota log line, at most one a second (its RateLogger's purpose: a client
/// writing past a soft limit in a loop must not flood the log); the ones left out are
/// counted in the next.
fn log_quota_exceeded(q: &crate::tree::QuotaExceeded) {
    static LOG: RateLog = RateLog::new();
    match LOG.allow() {
        None => {}
        Some(0) => tracing::warn!("{}", q.message()),
        Some(n) => tracing::warn!("{} ({n} more since the last such line)", q.message()),
    }
}

/// At most one log line a second for an event a client can cause in a loop (ZooKeeper's
/// RateLogger's purpose); the ones left out are counted in the next.
pub(crate) struct RateLog {
    next_ms: AtomicU64,
    skipped: AtomicU64,
}

impl RateLog {
    pub(crate) const fn new() -> RateLog {
        RateLog {
            next_ms: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
        }
    }

    /// `Some(lines left out since the last one)` when a line may be written now.
    pub(crate) fn allow(&self) -> Option<u64> {
        static START: OnceLock<Instant> = OnceLock::new();
        let now = START.get_or_init(Instant::now).elapsed().as_millis() as u64;
        let next = self.next_ms.load(Ordering::Relaxed);
        if now < next
            || self
                .next_ms
                .compare_exchange(next, now + 1000, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            self.skipped.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(self.skipped.swap(0, Ordering::Relaxed))
    }
}

/// Every tick: propose closeSession for sessions that missed their deadline (the
/// leader), and close the connections of this member's local sessions that did.
async fn expire_sessions(server: Arc<Server>) {
    let mut tick = tokio::time::interval(server.config.tick_time);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let expired_local = {
            let mut local = server.local_sessions.lock();
            let _ = local.take_touched(); // nobody reports local sessions
            let expired = local.expire(Instant::now());
            for id in &expired {
                local.remove(*id);
            }
            expired
        };
        for session_id in expired_local {
            tracing::info!("local session {session_id:#x} expired");
            crate::admin::metrics::STALE_SESSIONS_EXPIRED.inc();
            server.connections.close_session(session_id, None);
        }
        let expired = match server.leader_tracker() {
            Some(mut tracker) => tracker.expire(Instant::now()),
            None => continue,
        };
        for session_id in expired {
            tracing::info!("session {session_id:#x} expired");
            crate::admin::metrics::STALE_SESSIONS_EXPIRED.inc();
            server
                .propose_internal(session_id, TxnKind::CloseSession)
                .await;
        }
    }
}

/// Consensus stops for good on a storage error (the log's fsync failed, the disk is
/// full): nothing more can be made durable. Writes in flight are dropped (their clients
/// see the connection close and do not know the outcome, as after any crash; none of them
/// was acknowledged) and every later write is refused, while reads keep being served
/// from the tree. ZooKeeper and etcd exit here; zkd keeps answering reads until the
/// operator restarts it on a working disk.
async fn stop_writes_on_storage_failure(server: Arc<Server>) {
    let Some(raft) = server.raft() else { return };
    let mut metrics = raft.metrics();
    let mut last_look = false;
    loop {
        let failure = match &metrics.borrow_watched().running_state {
            Ok(()) => None,
            // A requested shutdown (SIGTERM, `zkd` stopping): nothing failed.
            Err(openraft::errors::Fatal::Stopped) => return,
            Err(fatal) => Some(fatal.to_string()),
        };
        if let Some(why) = failure {
            tracing::error!(
                "consensus stopped: {why}. zkd refuses every write from now on and keeps \
                 serving reads; fix the disk and restart it (no acknowledged write is lost)"
            );
            let _ = server.storage_failure.set(why);
            server.fail_pending("the log cannot be written");
            return;
        }
        if last_look {
            return;
        }
        // After the core is gone, look at its last word once more.
        last_look = metrics.changed().await.is_err();
    }
}

/// Snapshot by size as well as by `snapCount`, as ZooKeeper does with
/// `snapSizeLimitInKb`: many large writes must not let the log grow without bound.
async fn snapshot_by_size(server: Arc<Server>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_trigger: Option<Instant> = None;
    loop {
        tick.tick().await;
        let Some(raft) = server.raft() else { continue };
        let size = server.storage.log.bytes();
        // A snapshot takes a while; do not ask again before the last one could finish.
        let recent = last_trigger.is_some_and(|t| t.elapsed() < Duration::from_secs(60));
        if size > server.config.snap_size_limit && !recent {
            tracing::info!("Raft log is {size} bytes: snapshot (snapSizeLimitInKb)");
            let _ = raft.trigger().snapshot().await;
            last_trigger = Some(Instant::now());
        }
    }
}

/// ZooKeeper's ContainerManager: delete empty containers and expired TTL nodes.
async fn reap_containers(server: Arc<Server>) {
    let mut tick = tokio::time::interval(server.config.container_check_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let per_pass = (server.config.container_max_per_minute as u128
        * server.config.container_check_interval.as_millis()
        / 60_000)
        .max(1) as usize;
    loop {
        tick.tick().await;
        if server.leading_epoch().is_none() {
            continue;
        }
        let mut paths = server.tree.read().reap_candidates(now_ms());
        paths.truncate(per_pass);
        if !paths.is_empty() {
            server.propose_internal(0, TxnKind::Reap { paths }).await;
        }
    }
}
