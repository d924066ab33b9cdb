//! Live client connections, by connection id and by session.
//!
//! Watches are owned by connections (as in ZooKeeper), and the state machine must reach
//! a connection from the apply path to queue a watch event or to close the sockets of
//! a session that apply has just closed. Each connection is a [`ConnHandle`]: an
//! outbound queue drained by that connection's writer task, plus the authenticated ids
//! its requests carry. The queue never blocks the apply path that fills it; its
//! [`Backlog`] bounds it instead. Past half the bound the connection stops reading
//! requests (a client pipelining large reads slows down, as with ZooKeeper's
//! throttling); past the bound, which only watch events can push it to, the client is
//! disconnected: it is not reading, and must not take the server's memory with it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use parking_lot::RwLock;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::txn::AuthId;

pub type ConnId = u64;

pub enum Outbound {
    Frame(Bytes),
    /// A reply or event: its length prefix and ReplyHeader, encoded in place, then the
    /// body as apply or the read encoded it (the writer copies each once, into the
    /// socket buffer).
    Reply {
        head: [u8; REPLY_HEAD],
        body: Bytes,
    },
    /// Flush what is queued, then close the socket.
    Close,
}

/// Bytes queued for one client and not yet written to its socket, against a bound.
pub struct Backlog {
    queued: AtomicUsize,
    limit: usize,
    /// Told when the queue falls to half the bound again (reading may resume).
    drained: tokio::sync::Notify,
    /// Cancelled once the bound is passed: the writer stops at once (a write to a
    /// client that does not read would wait for ever) and the connection closes.
    overflowed: CancellationToken,
}

impl Backlog {
    pub fn new(limit: usize) -> Arc<Backlog> {
        Arc::new(Backlog {
            queued: AtomicUsize::new(0),
            limit,
            drained: tokio::sync::Notify::new(),
            overflowed: CancellationToken::new(),
        })
    }

    /// Count `len` more bytes queued; `false` if that passes the bound.
    fn add(&self, len: usize) -> bool {
        let queued = self.queued.fetch_add(len, Ordering::Relaxed) + len;
        queued <= self.limit
    }

    /// `len` bytes reached the socket.
    pub fn written(&self, len: usize) {
        let before = self.queued.fetch_sub(len, Ordering::Relaxed);
        if before > self.limit / 2 && before - len <= self.limit / 2 {
            // A stored permit if nobody waits yet: the reader cannot miss it.
            self.drained.notify_one();
        }
    }

    /// More than half the bound is queued: read no more requests for now.
    pub fn is_high(&self) -> bool {
        self.queued.load(Ordering::Relaxed) > self.limit / 2
    }

    /// Resolves once the queue has fallen to half the bound (or at once, if it did
    /// since the last call).
    pub async fn drained(&self) {
        self.drained.notified().await
    }

    pub fn overflowed(&self) -> &CancellationToken {
        &self.overflowed
    }
}

/// Length prefix (4) + ReplyHeader (xid 4, zxid 8, err 4).
pub const REPLY_HEAD: usize = 20;

pub struct ConnHandle {
    pub id: ConnId,
    pub peer: SocketAddr,
    pub session_id: AtomicI64,
    pub auth: RwLock<Vec<AuthId>>,
    pub established: Instant,
    pub received: AtomicU64,
    pub sent: AtomicU64,
    /// Last client xid and zxid seen (for `cons`).
    pub last_cxid: AtomicI64,
    pub last_zxid: AtomicI64,
    /// Latency, last op, queued requests: what `cons` shows besides the above.
    pub stats: crate::admin::monitor::ConnStats,
    /// A read-only session, served by a member without a quorum (`readonlymode.enabled`).
    pub read_only: std::sync::atomic::AtomicBool,
    /// A local session (`localSessionsEnabled`): known to this member only.
    pub local_session: std::sync::atomic::AtomicBool,
    tx: mpsc::UnboundedSender<Outbound>,
    backlog: Arc<Backlog>,
    /// The server-wide sent-packet counter (`srvr`'s "Sent").
    server_sent: Arc<AtomicU64>,
}

impl ConnHandle {
    pub fn new(
        id: ConnId,
        peer: SocketAddr,
        tx: mpsc::UnboundedSender<Outbound>,
        backlog: Arc<Backlog>,
        server_sent: Arc<AtomicU64>,
    ) -> ConnHandle {
        ConnHandle {
            id,
            peer,
            session_id: AtomicI64::new(0),
            auth: RwLock::new(vec![AuthId {
                scheme: "ip".into(),
                id: peer.ip().to_canonical().to_string(),
            }]),
            established: Instant::now(),
            received: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            last_cxid: AtomicI64::new(-1),
            last_zxid: AtomicI64::new(-1),
            stats: Default::default(),
            read_only: std::sync::atomic::AtomicBool::new(false),
            local_session: std::sync::atomic::AtomicBool::new(false),
            tx,
            backlog,
            server_sent,
        }
    }

    pub fn session_id(&self) -> i64 {
        self.session_id.load(Ordering::Relaxed)
    }

    /// Queue a reply (xid ≥ 0) or a watch event (xid -1): ReplyHeader then `body`.
    /// ZooKeeper sends no body with an error, with one exception (a multiRead it rejects
    /// part-way), so callers pass an empty body on error.
    pub fn reply(&self, xid: i32, zxid: i64, err: i32, body: Bytes) {
        let mut head = [0u8; REPLY_HEAD];
        let len = (REPLY_HEAD - 4 + body.len()) as i32;
        head[..4].copy_from_slice(&len.to_be_bytes());
        head[4..8].copy_from_slice(&xid.to_be_bytes());
        head[8..16].copy_from_slice(&zxid.to_be_bytes());
        head[16..].copy_from_slice(&err.to_be_bytes());
        self.queue(REPLY_HEAD + body.len(), Outbound::Reply { head, body });
    }

    /// Queue a frame that is not a reply (the ConnectResponse).
    pub fn send(&self, frame: Bytes) {
        self.queue(frame.len(), Outbound::Frame(frame));
    }

    fn queue(&self, len: usize, item: Outbound) {
        if !self.backlog.add(len) {
            if !self.backlog.overflowed.is_cancelled() {
                self.backlog.overflowed.cancel();
                tracing::warn!(
                    peer = %self.peer,
                    "session {:#x} does not read its replies and events: more than {} bytes \
                     queued for it (zkd.maxOutboundBytes); closing its connection",
                    self.session_id(),
                    self.backlog.limit
                );
            }
            return;
        }
        self.sent.fetch_add(1, Ordering::Relaxed);
        self.server_sent.fetch_add(1, Ordering::Relaxed);
        crate::admin::metrics::response_sent(len);
        // A closed receiver means the connection is already going away.
        let _ = self.tx.send(item);
    }

    pub fn backlog(&self) -> &Arc<Backlog> {
        &self.backlog
    }

    pub fn close(&self) {
        let _ = self.tx.send(Outbound::Close);
    }

    pub fn is_read_only(&self) -> bool {
        self.read_only.load(Ordering::Relaxed)
    }

    pub fn is_local_session(&self) -> bool {
        self.local_session.load(Ordering::Relaxed)
    }

    pub fn auth_ids(&self) -> Vec<AuthId> {
        self.auth.read().clone()
    }
}

#[derive(Default)]
pub struct Registry {
    conns: RwLock<HashMap<ConnId, Arc<ConnHandle>>>,
}

impl Registry {
    pub fn insert(&self, conn: Arc<ConnHandle>) {
        self.conns.write().insert(conn.id, conn);
    }

    pub fn remove(&self, id: ConnId) {
        self.conns.write().remove(&id);
    }

    pub fn get(&self, id: ConnId) -> Option<Arc<ConnHandle>> {
        self.conns.read().get(&id).cloned()
    }

    pub fn len(&self) -> usize {
        self.conns.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.conns.read().is_empty()
    }

    pub fn all(&self) -> Vec<Arc<ConnHandle>> {
        let mut v: Vec<_> = self.conns.read().values().cloned().collect();
        v.sort_by_key(|c| c.id);
        v
    }

    /// Close every connection bound to `session_id` except `keep`.
    pub fn close_session(&self, session_id: i64, keep: Option<ConnId>) {
        for conn in self.conns.read().values() {
            if conn.session_id() == session_id && Some(conn.id) != keep {
                conn.close();
            }
        }
    }
}
