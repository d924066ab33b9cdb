//! The peer transport: zkd's own framed protocol on the `server.N` peer port.
//!
//! Members talk over TCP, or TLS with `sslQuorum` ([`super::transport`]), with
//! length-prefixed postcard frames. A connection opens with a [`Hello`] that says what
//! it carries:
//!
//! * `Rpc`: multiplexed request/response. Each request carries an id and the caller
//!   may have many in flight on one connection, so a follower forwarding hundreds of
//!   client writes does not wait one round trip per write. The receiver answers Raft
//!   RPCs and reads concurrently, but handles [`AppRequest::Propose`] in arrival order:
//!   that is what keeps one session's forwarded writes in the order the client sent them.
//! * `Snapshot`: one snapshot file streamed in chunks on a connection of its own, so a
//!   large install never holds up heartbeats and never has to fit in one frame.
//!
//! [`PeerClient`] owns the outgoing connection to one member: it connects lazily, backs
//! off after a failure, and fails every call in flight when the connection drops (the
//! caller, openraft or the server, decides whether to retry).
//!
//! **Feature levels.** Every request frame ends with this build's [`FEATURES`] after
//! the `(id, Request)` it carries. A member of an older release decodes its value and
//! ignores the bytes after it (postcard reads what the type needs), and sends none
//! itself, which reads as level 0. So the leader learns, from the frames each member
//! sends it, what every member understands, and proposes log entries of a newer kind
//! only once all of them do: a rolling upgrade never feeds a member an entry it cannot
//! decode.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{SinkExt, StreamExt};
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, VoteRequest, VoteResponse};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::{Framed, LengthDelimitedCodec};

use super::transport::{PeerStream, PeerTransport};
use super::{decode, encode, Proposal, Raft, TypeConfig, Vote};
use crate::storage::io_err;

type SnapshotMeta = openraft::type_config::alias::SnapshotMetaOf<TypeConfig>;

/// Largest frame: an AppendEntries batch of many entries with up to 1 MiB of data each.
const MAX_FRAME: usize = 512 << 20;
/// Snapshot files travel in chunks of this size.
const SNAPSHOT_CHUNK: usize = 1 << 20;
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// After a failed connect, calls fail fast for this long instead of piling up connects.
const RECONNECT_BACKOFF: Duration = Duration::from_millis(100);

/// Feature level 1: the `Restore` and `DigestCheck` txn kinds.
pub const RESTORE_AND_DIGEST_CHECK: u32 = 1;
/// Feature level 2: the `UpgradeSession` txn kind (local sessions).
pub const LOCAL_SESSIONS: u32 = 2;
/// What this build understands beyond the first release's peer protocol and log.
pub const FEATURES: u32 = LOCAL_SESSIONS;

/// A request frame: `(id, req)`, then this build's [`FEATURES`].
fn request_frame(id: u64, req: &Request) -> io::Result<Bytes> {
    let mut frame = encode(&(id, req))?;
    frame.extend(encode(&FEATURES)?);
    Ok(Bytes::from(frame))
}

/// A request frame's `(id, req)` and the sender's feature level (0: an older member,
/// which sends no trailer).
fn decode_request(frame: &[u8]) -> io::Result<((u64, Request), u32)> {
    let (value, rest) = postcard::take_from_bytes::<(u64, Request)>(frame).map_err(io_err)?;
    let features = postcard::from_bytes::<u32>(rest).unwrap_or(0);
    Ok((value, features))
}

/// The first frame of every peer connection.
#[derive(Serialize, Deserialize)]
pub enum Hello {
    Rpc {
        from: u64,
    },
    Snapshot {
        from: u64,
        vote: Vote,
        meta: SnapshotMeta,
    },
}

/// What one member asks another.
#[derive(Serialize, Deserialize)]
pub enum Request {
    Append(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<TypeConfig>),
    PreVote(VoteRequest<TypeConfig>),
    App(AppRequest),
}

#[derive(Serialize, Deserialize)]
pub enum Response {
    Append(Result<AppendEntriesResponse<TypeConfig>, String>),
    Vote(Result<VoteResponse<TypeConfig>, String>),
    App(AppResponse),
}

/// Requests that serve ZooKeeper's semantics rather than Raft's: what a ZooKeeper
/// follower asks its leader.
#[derive(Debug, Serialize, Deserialize)]
pub enum AppRequest {
    /// Propose this txn: a client write (or session create/close) arriving at a follower.
    Propose(Proposal),
    /// `sync`: confirm leadership with a quorum and return the log index that a member
    /// must have applied to be as new as the leader was at the time of the call.
    ReadIndex,
    /// Sessions whose clients this member heard from since its last report. Sent every
    /// half tick even when empty: the answer tells the member whether its leader still
    /// leads a quorum, which heartbeats alone do not (openraft's leader keeps its role
    /// and keeps heartbeating learners after losing its quorum).
    Touch(Vec<i64>),
    /// A client reattaches to the sender with this session: is it still alive? A yes
    /// also touches it and makes the sender the session's owner.
    Revalidate { session_id: i64, timeout_ms: i32 },
    /// A client's reconfig, to be carried out by the leader.
    Reconfig(Change),
}

/// What a reconfig asks for (ZooKeeper's ReconfigRequest): `server.N=...` lines to add,
/// ids to remove, or a whole new member list; `cur_config_id` -1 or the config version
/// the client expects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub joining: Option<String>,
    pub leaving: Option<String>,
    pub new_members: Option<String>,
    pub cur_config_id: i64,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum AppResponse {
    Proposed(Result<(), AppError>),
    ReadIndex(Result<u64, AppError>),
    /// Whether the leader is in touch with a quorum.
    Touched(bool),
    /// Whether the session is alive; `NotLeader` when the receiver cannot tell.
    Revalidated(Result<bool, AppError>),
    /// The log index of the new config, or a ZooKeeper error code.
    Reconfigured(Result<u64, i32>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AppError {
    /// The receiver is not the leader (any more).
    NotLeader,
    /// The session's owner is another member: the write came over a stale connection.
    SessionMoved,
    Other(String),
}

impl std::error::Error for AppError {}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppError::NotLeader => f.write_str("not the leader"),
            AppError::SessionMoved => f.write_str("session moved to another member"),
            AppError::Other(e) => f.write_str(e),
        }
    }
}

/// The server's answers to [`AppRequest`]s.
pub trait PeerService: Send + Sync + 'static {
    fn handle(&self, from: u64, req: AppRequest) -> BoxFuture<'static, AppResponse>;
    /// Member `from` sent a frame saying it understands feature `level` ([`FEATURES`]).
    fn features(&self, from: u64, level: u32);
}

#[derive(Serialize, Deserialize)]
enum SnapshotFrame {
    Chunk(Bytes),
    Done,
}

fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .max_frame_length(MAX_FRAME)
        .new_codec()
}

async fn send<T: Serialize>(
    framed: &mut Framed<PeerStream, LengthDelimitedCodec>,
    value: &T,
) -> io::Result<()> {
    framed.send(Bytes::from(encode(value)?)).await
}

async fn recv<T: for<'a> Deserialize<'a>>(
    framed: &mut Framed<PeerStream, LengthDelimitedCodec>,
) -> io::Result<T> {
    match framed.next().await {
        Some(frame) => decode(&frame?),
        None => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "peer closed the connection",
        )),
    }
}

// ------------------------------------------------------------------------ client side

type Waiters = Arc<Mutex<HashMap<u64, oneshot::Sender<Response>>>>;

struct Connection {
    outbox: mpsc::UnboundedSender<Bytes>,
    waiters: Waiters,
}

/// The outgoing side of the link to one member.
pub struct PeerClient {
    me: u64,
    addr: String,
    transport: PeerTransport,
    state: tokio::sync::Mutex<LinkState>,
    next_id: AtomicU64,
}

#[derive(Default)]
struct LinkState {
    conn: Option<Arc<Connection>>,
    failed_at: Option<Instant>,
}

impl PeerClient {
    pub fn new(me: u64, addr: String, transport: PeerTransport) -> PeerClient {
        PeerClient {
            me,
            addr,
            transport,
            state: tokio::sync::Mutex::new(LinkState::default()),
            next_id: AtomicU64::new(1),
        }
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    async fn connection(&self) -> io::Result<Arc<Connection>> {
        let mut state = self.state.lock().await;
        if let Some(conn) = state.conn.as_ref().filter(|c| !c.outbox.is_closed()) {
            return Ok(conn.clone());
        }
        if state
            .failed_at
            .is_some_and(|t| t.elapsed() < RECONNECT_BACKOFF)
        {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                format!("{} is unreachable (backing off)", self.addr),
            ));
        }
        let stream = match self.transport.connect(&self.addr, CONNECT_TIMEOUT).await {
            Ok(s) => s,
            Err(e) => {
                state.failed_at = Some(Instant::now());
                return Err(e);
            }
        };
        let mut framed = Framed::new(stream, codec());
        send(&mut framed, &Hello::Rpc { from: self.me }).await?;
        let (mut sink, mut stream) = framed.split();
        let (outbox, mut rx) = mpsc::unbounded_channel::<Bytes>();
        let waiters: Waiters = Arc::default();
        let conn = Arc::new(Connection {
            outbox,
            waiters: waiters.clone(),
        });
        let addr = self.addr.clone();
        // Writer: everything queued goes out in order.
        let writer = tokio::spawn(async move {
            while let Some(frame) = rx.recv().await {
                if sink.feed(frame).await.is_err() {
                    return;
                }
                while let Ok(frame) = rx.try_recv() {
                    if sink.feed(frame).await.is_err() {
                        return;
                    }
                }
                if sink.flush().await.is_err() {
                    return;
                }
            }
        });
        // Reader: route each response to its caller; on loss, fail them all.
        tokio::spawn(async move {
            while let Some(Ok(frame)) = stream.next().await {
                match decode::<(u64, Response)>(&frame) {
                    Ok((id, resp)) => {
                        if let Some(tx) = waiters.lock().remove(&id) {
                            let _ = tx.send(resp);
                        }
                    }
                    Err(e) => {
                        tracing::warn!("bad frame from peer {addr}: {e}");
                        break;
                    }
                }
            }
            writer.abort();
            waiters.lock().clear();
        });
        state.conn = Some(conn.clone());
        state.failed_at = None;
        Ok(conn)
    }

    /// Send `req` and wait for its response, at most `timeout`.
    pub async fn call(&self, req: Request, timeout: Duration) -> io::Result<Response> {
        let conn = self.connection().await?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        conn.waiters.lock().insert(id, tx);
        let frame = request_frame(id, &req)?;
        // A large frame (a restore's whole tree) needs time to cross and to be written
        // and synced on the other side: one more second per 32 MiB.
        let timeout = timeout + Duration::from_secs((frame.len() >> 25) as u64);
        if conn.outbox.send(frame).is_err() {
            conn.waiters.lock().remove(&id);
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                format!("link to {} closed", self.addr),
            ));
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(_)) => Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                format!("link to {} closed", self.addr),
            )),
            Err(_) => {
                conn.waiters.lock().remove(&id);
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{} did not answer within {timeout:?}", self.addr),
                ))
            }
        }
    }

    pub async fn call_app(&self, req: AppRequest, timeout: Duration) -> io::Result<AppResponse> {
        match self.call(Request::App(req), timeout).await? {
            Response::App(resp) => Ok(resp),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "mismatched peer response",
            )),
        }
    }

    /// Stream a snapshot file on a connection of its own; returns the receiver's vote.
    pub async fn send_snapshot(
        &self,
        vote: Vote,
        meta: SnapshotMeta,
        mut file: std::fs::File,
    ) -> io::Result<Vote> {
        use std::io::Read;
        let stream = self.transport.connect(&self.addr, CONNECT_TIMEOUT).await?;
        let mut framed = Framed::new(stream, codec());
        send(
            &mut framed,
            &Hello::Snapshot {
                from: self.me,
                vote,
                meta,
            },
        )
        .await?;
        loop {
            let (chunk, rest) = tokio::task::spawn_blocking(move || {
                let mut buf = vec![0u8; SNAPSHOT_CHUNK];
                let n = file.read(&mut buf)?;
                buf.truncate(n);
                Ok::<_, io::Error>((buf, file))
            })
            .await
            .map_err(io_err)??;
            file = rest;
            if chunk.is_empty() {
                break;
            }
            send(&mut framed, &SnapshotFrame::Chunk(Bytes::from(chunk))).await?;
        }
        send(&mut framed, &SnapshotFrame::Done).await?;
        let result: Result<Vote, String> = recv(&mut framed).await?;
        result.map_err(io::Error::other)
    }
}

// ------------------------------------------------------------------------ server side

/// Accepts peer connections and answers them.
pub struct PeerServer {
    pub raft: Raft,
    /// Plain or TLS (`sslQuorum`), as members connect.
    pub transport: PeerTransport,
    pub service: Arc<dyn PeerService>,
    /// Where incoming snapshots are spooled before they are installed.
    pub spool_dir: PathBuf,
}

/// When this member last heard from a leader that leads a quorum, in ms since `origin`.
pub struct LeaderContact {
    origin: Instant,
    last_ms: AtomicU64,
}

impl LeaderContact {
    pub fn new() -> LeaderContact {
        LeaderContact {
            origin: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    pub fn touch(&self) {
        let ms = self.origin.elapsed().as_millis() as u64;
        self.last_ms.store(ms.max(1), Ordering::Relaxed);
    }

    /// Time since the last contact; None if there never was one.
    pub fn since(&self) -> Option<Duration> {
        match self.last_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(
                self.origin
                    .elapsed()
                    .saturating_sub(Duration::from_millis(ms)),
            ),
        }
    }
}

impl Default for LeaderContact {
    fn default() -> Self {
        LeaderContact::new()
    }
}

impl PeerServer {
    pub async fn run(self: Arc<Self>, listener: TcpListener) {
        loop {
            let (stream, addr) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!("peer accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let me = self.clone();
            tokio::spawn(async move {
                let served = match me.transport.accept(stream).await {
                    Ok(stream) => me.serve(stream).await,
                    Err(e) => Err(e),
                };
                match served {
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                        tracing::debug!(%addr, "peer connection ended: {e}")
                    }
                    // A malformed frame or a stranger on the peer port: drop that
                    // connection only.
                    Err(e) => tracing::warn!(%addr, "peer connection closed: {e}"),
                    Ok(()) => {}
                }
            });
        }
    }

    async fn serve(self: Arc<Self>, stream: PeerStream) -> io::Result<()> {
        let mut framed = Framed::new(stream, codec());
        match recv::<Hello>(&mut framed).await? {
            Hello::Rpc { from } => self.serve_rpc(from, framed).await,
            Hello::Snapshot { from, vote, meta } => {
                tracing::info!(
                    "receiving snapshot {:?} from member {from}",
                    meta.last_log_id
                );
                let result = self.receive_snapshot(&mut framed, vote, meta).await;
                if let Err(e) = &result {
                    tracing::warn!("snapshot from member {from} failed: {e}");
                }
                let reply: Result<Vote, String> = result.map_err(|e| e.to_string());
                send(&mut framed, &reply).await?;
                let mut inner = framed.into_inner();
                let _ = inner.shutdown().await;
                Ok(())
            }
        }
    }

    async fn serve_rpc(
        self: Arc<Self>,
        from: u64,
        framed: Framed<PeerStream, LengthDelimitedCodec>,
    ) -> io::Result<()> {
        let (mut sink, mut stream) = framed.split();
        let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
        let writer = tokio::spawn(async move {
            while let Some(frame) = rx.recv().await {
                if sink.send(frame).await.is_err() {
                    return;
                }
            }
        });
        while let Some(frame) = stream.next().await {
            let ((id, req), features) = decode_request(&frame?)?;
            self.service.features(from, features);
            let tx = tx.clone();
            if let Request::App(AppRequest::Propose(p)) = req {
                // In order: this is what keeps a session's forwarded writes ordered.
                let resp = self.service.handle(from, AppRequest::Propose(p)).await;
                let _ = tx.send(Bytes::from(encode(&(id, Response::App(resp)))?));
                continue;
            }
            let me = self.clone();
            tokio::spawn(async move {
                let resp = me.answer(from, req).await;
                if let Ok(frame) = encode(&(id, resp)) {
                    let _ = tx.send(Bytes::from(frame));
                }
            });
        }
        drop(tx);
        let _ = writer.await;
        Ok(())
    }

    async fn answer(&self, from: u64, req: Request) -> Response {
        match req {
            Request::Append(rpc) => Response::Append(
                self.raft
                    .append_entries(rpc)
                    .await
                    .map_err(|e| e.to_string()),
            ),
            Request::Vote(rpc) => {
                Response::Vote(self.raft.vote(rpc).await.map_err(|e| e.to_string()))
            }
            Request::PreVote(rpc) => {
                Response::Vote(self.raft.pre_vote(rpc).await.map_err(|e| e.to_string()))
            }
            Request::App(req) => Response::App(self.service.handle(from, req).await),
        }
    }

    async fn receive_snapshot(
        &self,
        framed: &mut Framed<PeerStream, LengthDelimitedCodec>,
        vote: Vote,
        meta: SnapshotMeta,
    ) -> io::Result<Vote> {
        use std::io::{Seek, Write};
        std::fs::create_dir_all(&self.spool_dir)?;
        let path = self.spool_dir.join(format!(
            "incoming-{}.tmp",
            meta.last_log_id.as_ref().map_or(0, |l| l.index)
        ));
        let spool = crate::storage::create_file(&path)?;
        let mut file = std::io::BufWriter::new(spool);
        while let SnapshotFrame::Chunk(bytes) = recv::<SnapshotFrame>(framed).await? {
            file.write_all(&bytes)?;
        }
        let mut file = file.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        file.seek(std::io::SeekFrom::Start(0))?;
        let snapshot =
            openraft::type_config::alias::SnapshotOf::<TypeConfig, super::snapshot::SnapshotData> {
                meta,
                snapshot: super::snapshot::SnapshotData::Received(file),
            };
        let result = self.raft.install_full_snapshot(vote, snapshot).await;
        let _ = std::fs::remove_file(&path);
        result.map(|r| r.vote).map_err(io_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_feature_trailer_is_invisible_to_older_members() {
        let req = Request::App(AppRequest::Touch(vec![7, 9]));
        let frame = request_frame(42, &req).unwrap();
        // What a member of the first release does with it: decode and ignore the rest.
        let (id, old): (u64, Request) = decode(&frame).unwrap();
        assert_eq!(id, 42);
        assert!(matches!(old, Request::App(AppRequest::Touch(ids)) if ids == [7, 9]));
        // This release reads the level; a frame without a trailer is level 0.
        let ((id, _), level) = decode_request(&frame).unwrap();
        assert_eq!((id, level), (42, FEATURES));
        let bare = encode(&(43u64, &req)).unwrap();
        let ((id, _), level) = decode_request(&bare).unwrap();
        assert_eq!((id, level), (43, 0));
    }
}
