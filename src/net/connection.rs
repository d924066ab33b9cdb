//! One client connection: handshake, then the read loop and a writer task.
//!
//! The reader decodes frames and feeds the session's [`Dispatcher`]; everything bound
//! for the client (replies, watch events queued by the state machine, the final close)
//! goes through one outbound queue drained by the writer task, so the order in which
//! things are queued is the order the client sees them. The writer coalesces whatever is
//! queued into one socket write.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use jute::Record;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use super::codec::{Frame, FrameCodec, FrameError};
use crate::admin;
use crate::server::dispatcher::{Dispatcher, Flow};
use crate::server::registry::{Backlog, ConnHandle, Outbound};
use crate::server::throttle::Handshake;
use crate::server::{record_frame, Server};
use crate::session::{generate_password, password_matches};
use crate::tree::Reply;
use crate::txn::TxnKind;

/// How long a reattach waits at most for a leader to tell whether its session lives.
const REATTACH_PATIENCE: Duration = Duration::from_secs(3);
/// The pause between two revalidation attempts.
const REATTACH_RETRY: Duration = Duration::from_millis(50);

/// Serve one client on the two halves of its stream (a plain socket's, or a TLS
/// stream's once the handshake is done). `tls_ids` are the identities its certificate
/// granted (`x509`, `super`), added to the `ip` id every connection has.
pub async fn serve<R, W>(
    server: Arc<Server>,
    rd: R,
    wr: W,
    peer: SocketAddr,
    tls_ids: Vec<crate::txn::AuthId>,
) where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let mut frames = FramedRead::new(rd, FrameCodec::new(server.config.max_buffer));
    let first = match frames.next().await {
        Some(Ok(frame)) => frame,
        Some(Err(e)) => {
            tracing::warn!(%peer, "closing connection: {e}");
            return;
        }
        None => return,
    };
    let packet = match first {
        Frame::FourLetter(word) => {
            admin::serve_four_letter(&server, word, peer, frames, wr).await;
            return;
        }
        Frame::Packet(p) => p,
    };

    let (tx, rx) = mpsc::unbounded_channel();
    // Room for two of the largest replies at least, so one never trips it alone.
    let bound = server
        .config
        .max_outbound_bytes
        .max(2 * (server.config.max_buffer + crate::server::registry::REPLY_HEAD));
    let backlog = Backlog::new(bound);
    let conn = Arc::new(ConnHandle::new(
        server.next_conn_id(),
        peer,
        tx,
        backlog.clone(),
        server.stats.packets_sent.clone(),
    ));
    conn.auth.write().extend(tls_ids);
    let done = CancellationToken::new();
    let writer = tokio::spawn(write_loop(wr, rx, backlog, done.clone()));

    let restores = server.restores_seen();
    if handshake(&server, &conn, &packet).await {
        server.connections.insert(conn.clone());
        if server.restores_seen() != restores {
            // A restore replaced the tree while this session was being set up: it may
            // not be in the new table, and the restore closed every other connection.
            conn.close();
        }
        read_loop(&server, &conn, &mut frames, &done).await;
        server.connections.remove(conn.id);
        server.watches.lock().remove_connection(conn.id);
        tracing::info!(%peer, "connection closed (session {:#x})", conn.session_id());
    } else {
        crate::admin::metrics::UNSUCCESSFUL_HANDSHAKE.inc();
        tracing::info!(%peer, "connection closed without a session");
    }
    conn.close();
    let _ = writer.await;
}

/// ConnectRequest → ConnectResponse. Returns false when the connection must close.
async fn handshake(server: &Arc<Server>, conn: &Arc<ConnHandle>, packet: &[u8]) -> bool {
    let peer = conn.peer;
    let req = match jute::ConnectRequest::decode(packet) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(%peer, "malformed connect request: {e}; closing");
            return false;
        }
    };
    let handshake = match req.session_id {
        0 if server.local_sessions_on() => Handshake::NewLocalSession,
        0 => Handshake::NewSession,
        _ => Handshake::Reattach,
    };
    if !server.overload.admit_connection(handshake) {
        // ZooKeeper's ClientCnxnLimitException: connection_rejected, the connection closed.
        crate::admin::metrics::CONNECTION_REJECTED.inc();
        static LOG: crate::server::RateLog = crate::server::RateLog::new();
        if let Some(more) = LOG.allow() {
            tracing::warn!(%peer, "refusing client: the connection throttle (connection_throttle_tokens) has no tokens left ({more} more refused since the last such line)");
        }
        return false;
    }
    let last_zxid = server.last_zxid();
    if req.last_zxid_seen > last_zxid {
        // The client has seen a newer state than ours; it must try another server.
        tracing::info!(%peer, "refusing client: its zxid {:#x} is ahead of ours {last_zxid:#x}", req.last_zxid_seen);
        return false;
    }
    if !server.serving() {
        if req.read_only == Some(true) && server.read_only_mode() {
            return read_only_handshake(server, conn, &req);
        }
        // Like a ZooKeeper member without a quorum: no sessions until there is one.
        tracing::info!(%peer, "refusing client: this member is not part of a quorum");
        return false;
    }
    let timeout = server.config.negotiate_timeout(req.time_out);
    let read_only = req.read_only.map(|_| false);
    if req.session_id == 0 && server.local_sessions_on() {
        // localSessionsEnabled: the session lives here, without a log entry.
        return accept_local(
            server,
            conn,
            server.local_session_id(),
            timeout,
            read_only,
            false,
        );
    }
    if req.session_id != 0 && server.local_sessions.lock().contains(req.session_id) {
        // One of this member's local sessions reattaches (only here: no other member
        // knows it, so elsewhere it is expired, as in ZooKeeper).
        let id = req.session_id;
        server.connections.close_session(id, Some(conn.id));
        if !password_matches(id, &req.passwd) {
            tracing::info!(%peer, "local session {id:#x}: wrong password");
            send_expired(conn, read_only);
            return false;
        }
        return accept_local(server, conn, id, timeout, read_only, true);
    }
    let session_id = if req.session_id == 0 {
        let rx = match server
            .propose(
                conn.id,
                0,
                0,
                Vec::new(),
                TxnKind::CreateSession {
                    timeout_ms: timeout,
                },
            )
            .await
        {
            Ok(rx) => rx,
            Err(e) => {
                tracing::warn!(%peer, "cannot create session: {e}");
                return false;
            }
        };
        match rx.await {
            Ok(applied) => match applied.reply {
                Reply::SessionCreated { session_id, .. } => {
                    tracing::info!(%peer, "session {session_id:#x} created, timeout {timeout} ms");
                    session_id
                }
                _ => return false,
            },
            Err(_) => return false,
        }
    } else {
        let id = req.session_id;
        // A session lives on one connection. Like ZooKeeper, any reattach attempt
        // (even one with a wrong password) closes the session's current connection.
        server.connections.close_session(id, Some(conn.id));
        let valid = password_matches(id, &req.passwd)
            && {
                match revalidate_patiently(server, id, timeout).await {
                    Some(alive) => alive,
                    None => {
                        // Not knowing is not "expired": the client tries again (here or at
                        // another member) and keeps its session.
                        tracing::info!(%peer, "no leader to revalidate session {id:#x}: closing; the client retries");
                        return false;
                    }
                }
            };
        if !valid {
            tracing::info!(%peer, "session {id:#x} is expired or its password is wrong");
            send_expired(conn, read_only);
            return false;
        }
        tracing::info!(%peer, "session {id:#x} reattached");
        id
    };
    accept_session(conn, session_id, timeout, read_only);
    true
}

/// Ask whoever decides (this server standalone, else the leader) whether a reattaching
/// session is alive. An election may be under way (the leader this member knows may
/// just have died): keep asking for a while, a third of the session timeout and at
/// most [`REATTACH_PATIENCE`], before giving up with `None`.
async fn revalidate_patiently(server: &Server, session_id: i64, timeout_ms: i32) -> Option<bool> {
    let patience = Duration::from_millis(timeout_ms.max(0) as u64 / 3).min(REATTACH_PATIENCE);
    let deadline = Instant::now() + patience;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        // One attempt may meet a leader that is cut off: give the next one a chance.
        let limit = left.min(Duration::from_secs(1)).max(REATTACH_RETRY);
        let attempt = tokio::time::timeout(limit, server.revalidate(session_id, timeout_ms));
        match attempt.await {
            Ok(Ok(alive)) => return Some(alive),
            Ok(Err(e)) => tracing::debug!("cannot revalidate session {session_id:#x} yet: {e}"),
            Err(_) => tracing::debug!("revalidating session {session_id:#x} timed out"),
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(REATTACH_RETRY).await;
    }
}

/// Bind the connection to its session and send the ConnectResponse.
/// Take `session_id` as one of this member's local sessions: a new one, or one that
/// reattaches (`reattach`), with a fresh clock either way.
fn accept_local(
    server: &Server,
    conn: &ConnHandle,
    session_id: i64,
    timeout: i32,
    read_only: Option<bool>,
    reattach: bool,
) -> bool {
    {
        let mut local = server.local_sessions.lock();
        if reattach {
            local.set_timeout(session_id, timeout, Instant::now());
        } else {
            local.add(session_id, timeout, Instant::now());
        }
    }
    conn.local_session.store(true, Ordering::Relaxed);
    let what = if reattach { "reattached" } else { "created" };
    tracing::info!(peer = %conn.peer, "local session {session_id:#x} {what}, timeout {timeout} ms");
    accept_session(conn, session_id, timeout, read_only);
    true
}

/// ZooKeeper's answer to a reattach it refuses: a ConnectResponse with timeout 0, which
/// a client takes as "session expired".
fn send_expired(conn: &ConnHandle, read_only: Option<bool>) {
    conn.send(record_frame(&jute::ConnectResponse {
        protocol_version: 0,
        time_out: 0,
        session_id: 0,
        passwd: Bytes::from_static(&[0u8; 16]),
        read_only,
    }));
}

fn accept_session(conn: &ConnHandle, session_id: i64, timeout: i32, read_only: Option<bool>) {
    conn.session_id.store(session_id, Ordering::Relaxed);
    conn.send(record_frame(&jute::ConnectResponse {
        protocol_version: 0,
        time_out: timeout,
        session_id,
        passwd: Bytes::copy_from_slice(&generate_password(session_id)),
        read_only,
    }));
}

/// A member without a quorum in read-only mode: a local session, reads only. A client
/// reattaching with a session id also gets a fresh local session: this member cannot
/// revalidate the real one without a leader, and the real one stays valid on the
/// quorum side for when the client finds a read-write member (docs/operations.md).
fn read_only_handshake(
    server: &Arc<Server>,
    conn: &Arc<ConnHandle>,
    req: &jute::ConnectRequest,
) -> bool {
    let timeout = server.config.negotiate_timeout(req.time_out);
    let session_id = server.local_session_id();
    tracing::info!(peer = %conn.peer, "read-only session {session_id:#x}");
    conn.read_only.store(true, Ordering::Relaxed);
    accept_session(conn, session_id, timeout, Some(true));
    true
}

async fn read_loop<R: AsyncRead + Unpin>(
    server: &Arc<Server>,
    conn: &Arc<ConnHandle>,
    frames: &mut FramedRead<R, FrameCodec>,
    done: &CancellationToken,
) {
    let mut dispatcher = Dispatcher::new(server.clone(), conn.clone());
    // Made once, not per request: each `cancelled()` future registers with its token
    // under a lock when first polled and unregisters when dropped (~3% of the CPU of a
    // write-heavy load when done per loop turn).
    let closed = done.cancelled();
    let shutdown = server.draining.cancelled();
    tokio::pin!(closed, shutdown);
    let mut draining = server.draining.is_cancelled();
    let backlog = conn.backlog().clone();
    // This connection's share of the server's outstanding requests.
    let mut share = server.overload.share();
    loop {
        // Over globalOutstandingLimit with requests of its own outstanding (whose answer
        // will wake this loop): read no more until one of them is answered.
        let own = dispatcher.outstanding();
        let throttled =
            own > 0 && dispatcher.head_write().is_some() && !server.overload.may_read(own);
        // Shutting down: read no more requests; close once no write is in flight.
        let head = dispatcher.head_write();
        if draining && head.is_none() {
            break;
        }
        // Half the outbound bound is waiting for the client (or throttled, above): read
        // no more requests until it has taken some (TCP then slows the client down).
        let paused = backlog.is_high() || throttled;
        let flow = tokio::select! {
            _ = backlog.drained(), if paused => Flow::Continue,
            _ = &mut closed => Flow::Close,
            _ = &mut shutdown, if !draining => {
                draining = true;
                Flow::Continue
            }
            applied = async {
                match head {
                    Some(rx) => rx.await,
                    None => std::future::pending().await,
                }
            } => dispatcher.complete_head(applied),
            frame = frames.next(), if !draining && !paused => match frame {
                Some(Ok(Frame::Packet(p))) => dispatcher.on_packet(p).await,
                Some(Ok(Frame::FourLetter(_))) => Flow::Close,
                // A TLS client that closes its socket without a close_notify alert
                // (the Java client does) has just gone away, as a plaintext one would.
                Some(Err(FrameError::Io(e))) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    tracing::debug!(peer = %conn.peer, "closed without TLS close_notify");
                    Flow::Close
                }
                Some(Err(e)) => {
                    tracing::warn!(peer = %conn.peer, "closing connection: {e}");
                    Flow::Close
                }
                None => Flow::Close,
            },
        };
        let outstanding = dispatcher.outstanding();
        conn.stats
            .queued
            .store(outstanding as u64, Ordering::Relaxed);
        share.report(outstanding);
        if flow == Flow::Close {
            break;
        }
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut wr: W,
    mut rx: mpsc::UnboundedReceiver<Outbound>,
    backlog: Arc<Backlog>,
    done: CancellationToken,
) {
    let mut buf = BytesMut::new();
    let overflowed = backlog.overflowed();
    loop {
        let first = tokio::select! {
            item = rx.recv() => item,
            _ = overflowed.cancelled() => None,
        };
        let Some(first) = first else { break };
        let mut closing = false;
        let mut next = Some(first);
        while let Some(item) = next {
            match item {
                Outbound::Frame(frame) => buf.extend_from_slice(&frame),
                Outbound::Reply { head, body } => {
                    buf.extend_from_slice(&head);
                    buf.extend_from_slice(&body);
                }
                Outbound::Close => {
                    closing = true;
                    break;
                }
            }
            next = rx.try_recv().ok();
        }
        if !buf.is_empty() {
            // A client that stops reading makes this wait; the backlog's bound ends it.
            // The flush matters for TLS: records rustls could not hand to the socket
            // yet would otherwise wait for the next reply.
            let wrote = tokio::select! {
                r = async {
                    wr.write_all(&buf).await?;
                    wr.flush().await
                } => r.is_ok(),
                _ = overflowed.cancelled() => false,
            };
            if !wrote {
                break;
            }
            backlog.written(buf.len());
        }
        buf.clear();
        if closing {
            break;
        }
    }
    let _ = wr.shutdown().await;
    done.cancel();
}
