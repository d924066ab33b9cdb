//! One session's request pipeline: decode the header, route, and keep FIFO order.
//!
//! ZooKeeper guarantees that a session's requests take effect in the order sent, not
//! merely that replies come back in that order: a client that writes then reads must see
//! its write, and Curator relies on `sync()` then `getData()`. So a read that arrives
//! while a write of the same session is still in consensus is parked behind it and runs
//! only once that write has been applied. Writes are proposed immediately (consensus
//! keeps their order), so a pipelining client still gets group commit.
//!
//! Auth and SASL packets are handled out of band, as ZooKeeper does (an auth packet's
//! xid is -4). With `enforce.auth.enabled` / `sessionRequireClientSASLAuth`, every
//! other request of a session without an id of a required scheme closes it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use jute::{err, op, Record};
use tokio::sync::oneshot;

use super::auth::sasl::{SaslExchange, SaslStep};
use super::registry::ConnHandle;
use super::{auth, reads, Server};
use crate::tree::{Applied, Reply};
use crate::txn::TxnKind;

enum Pending {
    Write {
        xid: i32,
        op: i32,
        started: Instant,
        rx: oneshot::Receiver<Applied>,
    },
    Read {
        xid: i32,
        op: i32,
        started: Instant,
        body: Bytes,
    },
}

/// What the connection should do after a step.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Close,
}

pub struct Dispatcher {
    server: Arc<Server>,
    conn: Arc<ConnHandle>,
    queue: VecDeque<Pending>,
    /// The session's SASL exchange, from its first SASL packet on.
    sasl: Option<SaslExchange>,
    /// The schemes a request needs an id of (`enforce.auth.schemes`), if enforced.
    enforced: Option<Vec<String>>,
    /// A SASL packet came while SASL is not configured (logged once per connection: a
    /// client then repeats its first token as fast as the answers come).
    sasl_unconfigured: bool,
}

fn is_write(opcode: i32) -> bool {
    matches!(
        opcode,
        op::CREATE
            | op::CREATE2
            | op::CREATE_CONTAINER
            | op::CREATE_TTL
            | op::DELETE
            | op::SET_DATA
            | op::SET_ACL
            | op::MULTI
    )
}

/// Whether a create, create2 or multi makes an ephemeral node: what needs a local
/// session upgraded (ZooKeeper's `checkUpgradeSession` looks at exactly these ops).
fn creates_ephemeral(opcode: i32, body: &[u8]) -> bool {
    use jute::create_flags::{EPHEMERAL, EPHEMERAL_SEQUENTIAL};
    let ephemeral = |flags: i32| flags == EPHEMERAL || flags == EPHEMERAL_SEQUENTIAL;
    match opcode {
        op::CREATE | op::CREATE2 => {
            jute::CreateRequest::decode(body).is_ok_and(|r| ephemeral(r.flags))
        }
        op::MULTI => jute::MultiRequest::decode(body).is_ok_and(|m| {
            m.ops.iter().any(|o| {
                matches!(o, jute::MultiOp::Create { op, req }
                    if (*op == op::CREATE || *op == op::CREATE2) && ephemeral(req.flags))
            })
        }),
        _ => false,
    }
}

fn is_session_moved(e: &std::io::Error) -> bool {
    use crate::consensus::peer::AppError;
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<AppError>())
        .is_some_and(|a| *a == AppError::SessionMoved)
}

impl Dispatcher {
    pub fn new(server: Arc<Server>, conn: Arc<ConnHandle>) -> Self {
        let enforced = server.config.security.sasl.enforced_schemes();
        Dispatcher {
            server,
            conn,
            queue: VecDeque::new(),
            sasl: None,
            enforced,
            sasl_unconfigured: false,
        }
    }

    /// The oldest write still in consensus, if it heads the queue.
    pub fn head_write(&mut self) -> Option<&mut oneshot::Receiver<Applied>> {
        match self.queue.front_mut() {
            Some(Pending::Write { rx, .. }) => Some(rx),
            _ => None,
        }
    }

    pub fn outstanding(&self) -> usize {
        self.queue.len()
    }

    pub async fn on_packet(&mut self, packet: Bytes) -> Flow {
        let server = &self.server;
        server
            .stats
            .packets_received
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.conn
            .received
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        crate::admin::metrics::BYTES_RECEIVED.add(packet.len() as u64 + 4);
        let header = match jute::RequestHeader::decode(&packet) {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(peer = %self.conn.peer, "malformed request header: {e}; closing");
                return Flow::Close;
            }
        };
        let body = packet.slice(8.min(packet.len())..);
        let session_id = self.conn.session_id();
        if self.conn.is_local_session() {
            server
                .local_sessions
                .lock()
                .touch(session_id, Instant::now());
        } else {
            server.sessions.lock().touch(session_id, Instant::now());
        }
        if header.xid >= 0 {
            self.conn
                .last_cxid
                .store(header.xid as i64, std::sync::atomic::Ordering::Relaxed);
        }
        let started = Instant::now();
        if self.conn.is_read_only() {
            match header.op_type {
                op::CLOSE_SESSION => {
                    self.conn
                        .reply(header.xid, server.last_zxid(), 0, Bytes::new());
                    return Flow::Close;
                }
                opcode if is_write(opcode) || opcode == op::SYNC => {
                    let zxid = server.last_zxid();
                    self.conn
                        .reply(header.xid, zxid, err::NOT_READ_ONLY, Bytes::new());
                    return Flow::Continue;
                }
                _ => {}
            }
        }
        match header.op_type {
            op::AUTH => return self.authenticate(header.xid, &body),
            op::SASL => return self.sasl(header.xid, &body),
            _ if !self.may_proceed(header.xid) => return Flow::Close,
            op::CLOSE_SESSION if self.conn.is_local_session() => {
                // Nothing to replicate: a local session has no ephemerals.
                server.local_sessions.lock().remove(session_id);
                return self.answer(header.xid, op::CLOSE_SESSION, started, Reply::SessionClosed);
            }
            op::CLOSE_SESSION => {
                server.sessions.lock().mark_closing(session_id);
                return self
                    .propose(
                        header.xid,
                        op::CLOSE_SESSION,
                        started,
                        TxnKind::CloseSession,
                    )
                    .await;
            }
            opcode if is_write(opcode) => {
                if self.conn.is_local_session() && creates_ephemeral(opcode, &body) {
                    if server.config.local_sessions_upgrading_enabled {
                        if self.upgrade_session().await == Flow::Close {
                            return Flow::Close;
                        }
                    } else if opcode != op::MULTI {
                        let refused = Reply::Response {
                            err: err::EPHEMERAL_ON_LOCAL_SESSION,
                            body: Bytes::new(),
                        };
                        return self.answer(header.xid, opcode, started, refused);
                    }
                    // A multi goes on: apply fails its ephemeral create with
                    // SessionExpired (the session is in no table), as ZooKeeper's leader
                    // does, and the multi fails whole.
                }
                let kind = TxnKind::Request { op: opcode, body };
                return self.propose(header.xid, opcode, started, kind).await;
            }
            op::SYNC if server.ensemble.is_some() => {
                return self.sync(header.xid, started, body);
            }
            op::RECONFIG if server.ensemble.is_some() => {
                let (tx, rx) = oneshot::channel();
                let (server, auth) = (server.clone(), self.conn.auth_ids());
                tokio::spawn(async move {
                    let _ = tx.send(server.client_reconfig(auth, body).await);
                });
                return self.queue_write(header.xid, op::RECONFIG, started, rx);
            }
            opcode => {
                let read = Pending::Read {
                    xid: header.xid,
                    op: opcode,
                    started,
                    body,
                };
                if self.queue.is_empty() {
                    return self.run_read(read);
                }
                self.queue.push_back(read);
            }
        }
        Flow::Continue
    }

    /// Answer a request in its turn (after what is queued before it) without a txn.
    fn answer(&mut self, xid: i32, op: i32, started: Instant, reply: Reply) -> Flow {
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(Applied::reply_only(self.server.last_zxid(), reply));
        self.queue_write(xid, op, started, rx)
    }

    /// Queue a write whose result `rx` will bring: later requests wait behind it.
    fn queue_write(
        &mut self,
        xid: i32,
        op: i32,
        started: Instant,
        rx: oneshot::Receiver<Applied>,
    ) -> Flow {
        self.queue.push_back(Pending::Write {
            xid,
            op,
            started,
            rx,
        });
        Flow::Continue
    }

    /// A local session's first ephemeral: it becomes an ensemble-wide session first
    /// (ZooKeeper's upgrade), its `UpgradeSession` proposed ahead of the create.
    async fn upgrade_session(&mut self) -> Flow {
        let server = &self.server;
        let session_id = self.conn.session_id();
        let timeout_ms = server
            .local_sessions
            .lock()
            .timeout_ms(session_id)
            .unwrap_or(server.config.negotiate_timeout(0));
        let kind = TxnKind::UpgradeSession { timeout_ms };
        let auth = self.conn.auth_ids();
        if let Err(e) = server
            .propose(self.conn.id, session_id, 0, auth, kind)
            .await
        {
            tracing::warn!(peer = %self.conn.peer, "cannot upgrade local session {session_id:#x}: {e}; closing");
            return Flow::Close;
        }
        server.local_sessions.lock().remove(session_id);
        self.conn
            .local_session
            .store(false, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(peer = %self.conn.peer, "local session {session_id:#x} upgraded to a global session");
        Flow::Continue
    }

    async fn propose(&mut self, xid: i32, op: i32, started: Instant, kind: TxnKind) -> Flow {
        let auth = self.conn.auth_ids();
        // A local session is in no member's table: its writes go in as the server's
        // own (session 0), which apply accepts for everything but an ephemeral create
        // (those upgrade the session first).
        let session_id = if self.conn.is_local_session() {
            0
        } else {
            self.conn.session_id()
        };
        match self
            .server
            .propose(self.conn.id, session_id, xid, auth, kind)
            .await
        {
            Ok(rx) => self.queue_write(xid, op, started, rx),
            Err(e) if is_session_moved(&e) => {
                // ZooKeeper's answer to a write on a stale connection of a session that
                // has reattached to another member.
                tracing::info!(peer = %self.conn.peer, "session moved to another member");
                let zxid = self.server.last_zxid();
                self.conn.reply(xid, zxid, err::SESSION_MOVED, Bytes::new());
                Flow::Close
            }
            Err(e) => {
                tracing::warn!(peer = %self.conn.peer, "cannot propose: {e}; closing");
                Flow::Close
            }
        }
    }

    /// `sync` in an ensemble: a read-index barrier queued like a write, so the session's
    /// later reads wait for it too. A barrier that fails closes the connection.
    fn sync(&mut self, xid: i32, started: Instant, body: Bytes) -> Flow {
        let request = match jute::SyncRequest::decode(&body) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(peer = %self.conn.peer, "malformed sync request: {e}; closing");
                return Flow::Close;
            }
        };
        let (tx, rx) = oneshot::channel();
        let server = self.server.clone();
        tokio::spawn(async move {
            match server.sync_barrier().await {
                Ok(()) => {
                    let tree = server.tree.read();
                    let reply = Reply::Response {
                        err: 0,
                        body: jute::SyncResponse { path: request.path }.encode().freeze(),
                    };
                    let _ = tx.send(Applied::reply_only(tree.last_zxid(), reply));
                }
                Err(e) => tracing::info!("sync failed: {e}"),
            }
        });
        self.queue_write(xid, op::SYNC, started, rx)
    }

    /// The head write was applied: reply, then run the reads that waited for it.
    pub fn complete_head(&mut self, result: Result<Applied, oneshot::error::RecvError>) -> Flow {
        let Some(Pending::Write {
            xid, op, started, ..
        }) = self.queue.pop_front()
        else {
            return Flow::Continue;
        };
        let Ok(applied) = result else {
            // The proposal was dropped (shutdown or lost leadership): the client retries.
            return Flow::Close;
        };
        self.conn
            .last_zxid
            .store(applied.zxid, std::sync::atomic::Ordering::Relaxed);
        let flow = match applied.reply {
            Reply::Response { err, body } => {
                let body = if err == 0 { body } else { Bytes::new() };
                self.conn.reply(xid, applied.zxid, err, body);
                Flow::Continue
            }
            Reply::SessionClosed => {
                self.conn.reply(xid, applied.zxid, 0, Bytes::new());
                Flow::Close
            }
            Reply::SessionCreated { .. }
            | Reply::Reaped
            | Reply::Restored
            | Reply::DigestChecked(_) => Flow::Continue,
        };
        self.server.stats.record_latency(started);
        self.conn.stats.response(op, started);
        crate::admin::metrics::request_done(op, true, started.elapsed());
        if flow == Flow::Close {
            return flow;
        }
        self.drain_reads()
    }

    fn drain_reads(&mut self) -> Flow {
        while matches!(self.queue.front(), Some(Pending::Read { .. })) {
            if let Some(read) = self.queue.pop_front() {
                if self.run_read(read) == Flow::Close {
                    return Flow::Close;
                }
            }
        }
        Flow::Continue
    }

    fn run_read(&mut self, read: Pending) -> Flow {
        let Pending::Read {
            xid,
            op,
            started,
            body,
        } = read
        else {
            return Flow::Continue;
        };
        let outcome = reads::execute(&self.server, &self.conn, op, &body);
        self.conn
            .reply(xid, outcome.zxid, outcome.err, outcome.body);
        self.server.stats.record_latency(started);
        self.conn.stats.response(op, started);
        crate::admin::metrics::request_done(op, false, started.elapsed());
        if outcome.close {
            tracing::info!(peer = %self.conn.peer, op, "closing connection after unsupported request");
            return Flow::Close;
        }
        Flow::Continue
    }

    /// `AuthenticationHelper.enforceAuthentication`: false (after answering
    /// SessionClosedRequireSaslAuth) when authentication is enforced and the session has
    /// no id of a required scheme; the connection then closes (the session itself
    /// lives on until it expires, as in ZooKeeper).
    fn may_proceed(&self, xid: i32) -> bool {
        let Some(schemes) = &self.enforced else {
            return true;
        };
        // Checked per request when enforced: look without allocating; the scheme names
        // are collected only for the refusal's log line.
        if self
            .conn
            .auth
            .read()
            .iter()
            .any(|i| schemes.contains(&i.scheme))
        {
            return true;
        }
        let held: Vec<String> = self
            .conn
            .auth
            .read()
            .iter()
            .map(|i| i.scheme.clone())
            .collect();
        tracing::error!(
            peer = %self.conn.peer,
            "Client authentication scheme(s) {held:?} does not match with any of the expected \
             authentication scheme {schemes:?}, closing session 0x{:x}",
            self.conn.session_id()
        );
        self.conn
            .reply(xid, 0, err::SESSION_CLOSED_REQUIRE_SASL_AUTH, Bytes::new());
        false
    }

    /// ZooKeeper's `processSasl`: one step of the session's SASL exchange, answered
    /// with zxid 0. A failure closes the connection with AuthFailed, or
    /// SessionClosedRequireSaslAuth when SASL is required, unless
    /// `allowSaslFailedClients` keeps it.
    fn sasl(&mut self, xid: i32, body: &[u8]) -> Flow {
        let token = match jute::GetSaslRequest::decode(body) {
            Ok(request) => request.token.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(peer = %self.conn.peer, "malformed SASL packet: {e}; closing");
                return Flow::Close;
            }
        };
        let config = &self.server.config.security.sasl;
        let session = self.conn.session_id();
        let response = |token: Option<Vec<u8>>| {
            jute::SetSaslResponse {
                token: token.map(Bytes::from),
            }
            .encode()
            .freeze()
        };
        if !config.server_configured {
            // ZooKeeper without a JAAS Server section logs this and answers no token.
            if !self.sasl_unconfigured {
                self.sasl_unconfigured = true;
                tracing::error!(
                    peer = %self.conn.peer,
                    "SASL packet from session 0x{session:x}, but SASL is not configured \
                     (java.security.auth.login.config with a {} section)",
                    config.server_section
                );
            }
            self.conn.reply(xid, 0, 0, response(None));
            return Flow::Continue;
        }
        match self
            .sasl
            .get_or_insert_with(SaslExchange::new)
            .step(&token, config)
        {
            SaslStep::Continue(reply) => {
                self.conn.reply(xid, 0, 0, response(Some(reply)));
                Flow::Continue
            }
            SaslStep::Authenticated(reply, ids) => {
                for id in &ids {
                    tracing::info!(
                        peer = %self.conn.peer,
                        "Session 0x{session:x}: adding SASL authorization {}:{}",
                        id.scheme,
                        id.id
                    );
                }
                let mut mine = self.conn.auth.write();
                for id in ids {
                    if !mine.contains(&id) {
                        mine.push(id);
                    }
                }
                drop(mine);
                self.conn.reply(xid, 0, 0, response(Some(reply)));
                Flow::Continue
            }
            SaslStep::Failed(why) => {
                crate::admin::metrics::AUTH_FAILED.inc();
                tracing::warn!(peer = %self.conn.peer, "Client failed to SASL authenticate: {why}");
                let required = config.sasl_required();
                if config.allow_failed_clients && !required {
                    tracing::warn!(peer = %self.conn.peer, "Maintaining client connection despite SASL authentication failure.");
                    self.conn.reply(xid, 0, 0, response(None));
                    return Flow::Continue;
                }
                let error = if required {
                    err::SESSION_CLOSED_REQUIRE_SASL_AUTH
                } else {
                    err::AUTH_FAILED
                };
                self.conn.reply(xid, 0, error, response(None));
                Flow::Close
            }
        }
    }

    /// ZooKeeper answers with the request's own xid (-4 from the Java client).
    fn authenticate(&mut self, xid: i32, body: &[u8]) -> Flow {
        let packet = match jute::AuthPacket::decode(body) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(peer = %self.conn.peer, "malformed auth packet: {e}; closing");
                return Flow::Close;
            }
        };
        let granted = auth::authenticate(
            &packet.scheme,
            &packet.auth,
            &self.conn.peer.ip().to_canonical().to_string(),
            self.server.config.super_digest.as_deref(),
        );
        match granted {
            Some(ids) => {
                let mut mine = self.conn.auth.write();
                for id in ids {
                    if !mine.contains(&id) {
                        mine.push(id);
                    }
                }
                drop(mine);
                self.conn.reply(xid, 0, 0, Bytes::new());
                Flow::Continue
            }
            None => {
                tracing::info!(peer = %self.conn.peer, scheme = %packet.scheme, "auth failed; closing");
                crate::admin::metrics::AUTH_FAILED.inc();
                self.conn.reply(xid, 0, err::AUTH_FAILED, Bytes::new());
                Flow::Close
            }
        }
    }
}
