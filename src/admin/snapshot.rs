//! The AdminServer's `snapshot` (GET) and `restore` (POST) commands, as ZooKeeper 3.9's
//! `SnapshotCommand` and `RestoreCommand` define them.
//!
//! * `GET /commands/snapshot[?streaming=false]`: the tree in ZooKeeper's snapshot format
//!   (with the digest and lastProcessedZxid trailers, so ZooKeeper's restore takes its
//!   zxid), headers `last_zxid: 0x<hex>` and `snapshot_size`. The tree is written under
//!   its read lock on a blocking thread: writes wait for it (0.8 s for 1,000,000 znodes
//!   of 100 B, a 214 MB snapshot), reads do not.
//! * `POST /commands/restore` with such a stream as the body (also gzip or snappy, as
//!   ZooKeeper's snapshot files are): the tree is rebuilt with ZooKeeper's rules and
//!   proposed as one txn, so every member of an ensemble replaces its tree at the same
//!   log index (ZooKeeper's restore changes only the server it is sent to). The answer's
//!   `last_zxid` is that txn's zxid, above every zxid in the restored tree.
//!
//! Both need an `Authorization: <scheme> [<auth>]` header (`digest user:password`, or
//! `ip`) whose ids hold every permission on `/` (ZooKeeper's `AuthRequest(ALL, "/")`);
//! both can be switched off (`admin.snapshot.enabled`, `admin.restore.enabled`: 503) and
//! are rate limited (429): see [`RateLimiter`].

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION};
use hyper::{Request, Response, StatusCode};
use parking_lot::Mutex;

use super::json::J;
use super::metrics;
use crate::migrate::replay::SourceConfig;
use crate::server::Server;
use crate::tree::Reply;
use crate::txn::AuthId;

/// The largest body `restore` reads. The tree travels as one log entry, which every
/// member writes and holds in memory while applying it.
pub const MAX_RESTORE_BYTES: usize = 256 << 20;

/// ZooKeeper's `util.RateLimiter` with a rate of one: the first call passes; after
/// that, one call per window, a window starting at the first call after the previous
/// one ended.
pub struct RateLimiter {
    interval: Duration,
    /// (start of the window, calls left in it)
    window: Mutex<(Instant, u32)>,
}

impl RateLimiter {
    pub fn new(interval: Duration, now: Instant) -> RateLimiter {
        RateLimiter {
            interval,
            window: Mutex::new((now, 1)),
        }
    }

    pub fn allow(&self, now: Instant) -> bool {
        let mut w = self.window.lock();
        if now > w.0 + self.interval {
            *w = (now, 1);
        }
        if w.1 == 0 {
            return false;
        }
        w.1 -= 1;
        true
    }
}

/// The two commands' rate limiters, kept for the life of the AdminServer.
pub struct Limits {
    snapshot: RateLimiter,
    restore: RateLimiter,
    /// A snapshot is being written or sent: one at a time, so that callers repeating
    /// the command (or reading its answer slowly) cannot hold several copies of a
    /// large tree. ZooKeeper streams its snapshot from a file instead.
    snapshot_busy: Arc<AtomicBool>,
}

/// A snapshot's bytes; dropping them (the answer sent, or its connection gone) frees the
/// slot for the next snapshot.
struct HeldSnapshot {
    bytes: Vec<u8>,
    busy: Arc<AtomicBool>,
}

impl AsRef<[u8]> for HeldSnapshot {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for HeldSnapshot {
    fn drop(&mut self) {
        self.busy.store(false, Ordering::Release);
    }
}

impl Limits {
    pub fn new(interval_ms: u64) -> Limits {
        let now = Instant::now();
        Limits {
            // ZooKeeper 3.9 builds the snapshot limiter with TimeUnit.MICROSECONDS and the
            // restore limiter with MILLISECONDS from the same property.
            snapshot: RateLimiter::new(Duration::from_micros(interval_ms), now),
            restore: RateLimiter::new(Duration::from_millis(interval_ms), now),
            snapshot_busy: Arc::new(AtomicBool::new(false)),
        }
    }
}

type HttpResponse = Response<Full<Bytes>>;

fn json(status: StatusCode, body: J) -> HttpResponse {
    super::http::respond(status, "application/json", Bytes::from(body.render()))
}

/// `{"command": name, "error": error}` with a status (ZooKeeper's CommandResponse with
/// no data).
fn status_only(status: StatusCode, name: &str, error: Option<String>) -> HttpResponse {
    json(
        status,
        J::obj(vec![
            ("command", J::str(name)),
            ("error", error.map_or(J::Null, J::Str)),
        ]),
    )
}

/// ZooKeeper's `Commands.runCommand` checks, then the command's own: the server
/// serves, the caller's ids hold `perms::ALL` on `/`, the command is switched on and
/// within its rate limit. `name` is the name the caller used (ZooKeeper's auth errors
/// echo it), `command` the primary one. Gives the caller's ids, or the refusal.
fn admit(
    server: &Server,
    req: &Request<Incoming>,
    peer: IpAddr,
    name: &str,
    command: &'static str,
    enabled: bool,
    limiter: &RateLimiter,
) -> Result<Vec<AuthId>, Box<HttpResponse>> {
    if !server.serving() {
        return Err(Box::new(status_only(
            StatusCode::OK,
            name,
            Some("This ZooKeeper instance is not currently serving requests".into()),
        )));
    }
    let Some(auth) = req.headers().get(AUTHORIZATION) else {
        tracing::warn!("AdminServer {name}: auth info is missing");
        return Err(Box::new(status_only(
            StatusCode::UNAUTHORIZED,
            name,
            Some("Auth info is missing for the command".into()),
        )));
    };
    let Some(ids) = authenticate(server, auth, peer) else {
        tracing::warn!("AdminServer {name}: authentication failed for {peer}");
        return Err(Box::new(status_only(
            StatusCode::UNAUTHORIZED,
            name,
            Some("Not authenticated".into()),
        )));
    };
    let root_acl = server.tree.read().get("/").map(|n| n.acl.clone());
    let allowed = root_acl.is_some_and(|acl| {
        // Bit by bit, as ZooKeeper checks an AuthRequest: each may come from another entry.
        (0..5).all(|bit| crate::tree::check_perm(&acl, &ids, 1 << bit))
    });
    if !allowed {
        tracing::warn!("AdminServer {name}: {peer} is not authorized");
        return Err(Box::new(status_only(
            StatusCode::FORBIDDEN,
            name,
            Some("Not authorized".into()),
        )));
    }
    if !enabled {
        tracing::warn!("AdminServer {command} is disabled (admin.{command}.enabled=false)");
        return Err(Box::new(status_only(
            StatusCode::SERVICE_UNAVAILABLE,
            command,
            None,
        )));
    }
    if !limiter.allow(Instant::now()) {
        match command {
            "restore" => metrics::RESTORE_RATE_LIMITED_COUNT.inc(),
            _ => metrics::SNAPSHOT_RATE_LIMITED_COUNT.inc(),
        }
        tracing::warn!("AdminServer {command} request was rate limited");
        return Err(Box::new(status_only(
            StatusCode::TOO_MANY_REQUESTS,
            command,
            None,
        )));
    }
    Ok(ids)
}

/// The ids an `Authorization` header grants: `<scheme>` or `<scheme> <auth>`, split on
/// one space as ZooKeeper splits it. `digest` needs `user:password`; `ip` takes the
/// caller's address. Other schemes have no HTTP form here.
fn authenticate(server: &Server, header: &HeaderValue, peer: IpAddr) -> Option<Vec<AuthId>> {
    let text = header.to_str().ok()?;
    let parts: Vec<&str> = text.split(' ').collect();
    let (scheme, data) = match parts.as_slice() {
        [scheme] => (*scheme, None),
        [scheme, data] => (*scheme, Some(*data)),
        _ => return None,
    };
    let ids = match (scheme, data) {
        ("digest", Some(data)) => crate::server::auth::authenticate(
            "digest",
            data.as_bytes(),
            "",
            server.config.super_digest.as_deref(),
        )?,
        ("ip", _) => vec![AuthId::new("ip", peer.to_string())],
        _ => return None,
    };
    (!ids.is_empty()).then_some(ids)
}

/// `GET /commands/snapshot` (also `snap`).
pub async fn snapshot(
    server: Arc<Server>,
    limits: &Limits,
    name: &str,
    req: &Request<Incoming>,
    streaming: bool,
    peer: IpAddr,
) -> HttpResponse {
    let enabled = server.config.admin_snapshot_enabled;
    if let Err(refused) = admit(
        &server,
        req,
        peer,
        name,
        "snapshot",
        enabled,
        &limits.snapshot,
    ) {
        return *refused;
    }
    let busy = limits.snapshot_busy.clone();
    if busy
        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        metrics::SNAPSHOT_RATE_LIMITED_COUNT.inc();
        tracing::warn!("AdminServer snapshot refused: another one is still being written or sent");
        return status_only(StatusCode::TOO_MANY_REQUESTS, "snapshot", None);
    }
    // From here the slot is released when `held` (in the end: the answer's body) drops.
    let mut held = HeldSnapshot {
        bytes: Vec::new(),
        busy,
    };
    let started = Instant::now();
    let tree = server.tree.clone();
    let written = tokio::task::spawn_blocking(move || {
        let tree = tree.read();
        let zxid = tree.last_zxid();
        let out = std::mem::take(&mut held.bytes);
        crate::migrate::export::write_snapshot(&tree, out, true, |_, _| {}).map(|(bytes, w)| {
            held.bytes = bytes;
            (zxid, held, w.znodes)
        })
    })
    .await;
    let (zxid, held, znodes) = match written {
        Ok(Ok(w)) => w,
        Ok(Err(e)) => return snapshot_failed(e.to_string()),
        Err(e) => return snapshot_failed(e.to_string()),
    };
    let size = held.bytes.len();
    tracing::info!(
        zxid = format_args!("{zxid:#x}"),
        "AdminServer snapshot: {znodes} znodes, {size} bytes in {} ms",
        started.elapsed().as_millis()
    );
    let mut resp = if streaming {
        let body = Bytes::from_owner(held);
        super::http::respond(StatusCode::OK, "application/octet-stream", body)
    } else {
        status_only(StatusCode::OK, "snapshot", None)
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("0x{:x}", zxid as u64)) {
        h.insert("last_zxid", v);
    }
    h.insert("snapshot_size", HeaderValue::from(size));
    resp
}

fn snapshot_failed(why: String) -> HttpResponse {
    metrics::SNAPSHOT_ERROR_COUNT.inc();
    tracing::warn!("AdminServer snapshot failed: {why}");
    status_only(StatusCode::INTERNAL_SERVER_ERROR, "snapshot", Some(why))
}

/// `POST /commands/restore` (also `rest`).
pub async fn restore(
    server: Arc<Server>,
    limits: &Limits,
    name: &str,
    req: Request<Incoming>,
    peer: IpAddr,
) -> HttpResponse {
    let enabled = server.config.admin_restore_enabled;
    // The ids the restore runs with (its txn carries them, as every txn does).
    let ids = match admit(
        &server,
        &req,
        peer,
        name,
        "restore",
        enabled,
        &limits.restore,
    ) {
        Ok(ids) => ids,
        Err(refused) => return *refused,
    };
    let started = Instant::now();
    let body = match Limited::new(req.into_body(), MAX_RESTORE_BYTES)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(e) => {
            let why = if e.is::<http_body_util::LengthLimitError>() {
                format!("the snapshot is larger than {MAX_RESTORE_BYTES} bytes")
            } else {
                format!("reading the request body: {e}")
            };
            return restore_failed(StatusCode::BAD_REQUEST, why);
        }
    };
    if body.is_empty() {
        // ZooKeeper fails to read an empty stream: 500, as for any unreadable snapshot.
        return restore_failed(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the request has no body".into(),
        );
    }
    let source = SourceConfig {
        extended_types: server.config.extended_types_enabled,
        emulate_353_ttl: false,
    };
    let image =
        tokio::task::spawn_blocking(move || crate::migrate::restore::restore_image(&body, source))
            .await;
    let image = match image {
        Ok(Ok(image)) => image,
        Ok(Err(e)) => {
            return restore_failed(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("not a usable ZooKeeper snapshot: {e}"),
            )
        }
        Err(e) => return restore_failed(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    tracing::info!(
        "AdminServer restore: a snapshot of {} znodes and {} sessions (zxid {:#x}; {} \
         ephemerals of sessions not in it dropped), proposing it",
        image.znodes,
        image.sessions,
        image.last_zxid,
        image.orphans_dropped
    );
    let conn = server.next_conn_id();
    let applied = match server.propose(conn, 0, 0, ids, image.txn).await {
        Ok(rx) => rx.await,
        Err(e) => return restore_failed(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    match applied {
        Ok(applied) if applied.reply == Reply::Restored => {
            metrics::RESTORE_TIME.time(started.elapsed());
            tracing::info!("Restore taken in {} ms", started.elapsed().as_millis());
            json(
                StatusCode::OK,
                J::obj(vec![
                    ("last_zxid", J::Int(applied.zxid)),
                    ("command", J::str("restore")),
                    ("error", J::Null),
                ]),
            )
        }
        Ok(applied) => restore_failed(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the restore txn failed: {:?}", applied.reply),
        ),
        Err(_) => restore_failed(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the server stopped before the restore was applied".into(),
        ),
    }
}

fn restore_failed(status: StatusCode, why: String) -> HttpResponse {
    metrics::RESTORE_ERROR_COUNT.inc();
    tracing::warn!("AdminServer restore failed: {why}");
    status_only(status, "restore", Some(why))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_call_per_window_like_zookeeper() {
        let t0 = Instant::now();
        let limiter = RateLimiter::new(Duration::from_millis(100), t0);
        // The first call passes even inside the first window.
        assert!(limiter.allow(t0 + Duration::from_millis(10)));
        assert!(!limiter.allow(t0 + Duration::from_millis(50)));
        assert!(!limiter.allow(t0 + Duration::from_millis(100)));
        // A new window starts at the first call after the old one ended.
        assert!(limiter.allow(t0 + Duration::from_millis(101)));
        assert!(!limiter.allow(t0 + Duration::from_millis(150)));
        assert!(limiter.allow(t0 + Duration::from_millis(202)));
    }
}
