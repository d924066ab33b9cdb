//! The replicated log entry.
//!
//! A [`Txn`] carries *everything* [`crate::tree::DataTree::apply`] needs to decide its
//! outcome: who sent it (session and xid), when the leader accepted it (wall time, used
//! for ctime/mtime and TTL expiry), which identities the caller had authenticated when it
//! submitted the request, and the request itself, still jute-encoded exactly as the client
//! sent it.
//!
//! Why the request stays raw and validation happens at apply: ZooKeeper validates writes
//! in the leader's PrepRequestProcessor against the tree *plus* the leader's queue of
//! outstanding changes. zkd has no such queue; instead every replica validates the
//! request against its own copy of the tree at the moment the entry is applied, in log
//! order. Since all replicas apply the same log to the same starting state, they reach
//! the same verdict (NodeExists, BadVersion, NoAuth, ...) without having to agree on
//! anything but the log. This is also why the caller's auth ids travel in the entry:
//! write ACLs are checked at apply, against the tree as it is then.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// One authenticated identity of a caller, e.g. `("ip", "127.0.0.1")`,
/// `("digest", "bob:base64sha1")` or `("super", "")`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AuthId {
    pub scheme: String,
    pub id: String,
}

impl AuthId {
    /// Convenience constructor.
    pub fn new(scheme: impl Into<String>, id: impl Into<String>) -> Self {
        AuthId {
            scheme: scheme.into(),
            id: id.into(),
        }
    }
}

/// One entry of the replicated log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Txn {
    /// The caller's session (0 for leader-internal txns).
    pub session_id: i64,
    /// The client's xid (0 for internal txns).
    pub cxid: i32,
    /// Leader-assigned wall-clock time in ms, used for ctime/mtime, TTL checks and the
    /// session id seed.
    pub time_ms: i64,
    /// The caller's authenticated ids at submit time.
    pub auth: Vec<AuthId>,
    pub kind: TxnKind,
}

/// What a [`Txn`] does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnKind {
    /// A client write exactly as the client sent it: opcode and the jute body after the
    /// RequestHeader. Ops: CREATE, CREATE2, CREATE_CONTAINER, CREATE_TTL, DELETE,
    /// SET_DATA, SET_ACL, MULTI. Any other op is answered with UNIMPLEMENTED; a body
    /// that does not decode is answered with MARSHALLING_ERROR.
    Request { op: i32, body: Bytes },
    /// A new session; its id is allocated at apply. `timeout_ms` is already negotiated.
    CreateSession { timeout_ms: i32 },
    /// Close `Txn::session_id` (client closeSession, or expiry decided by the leader).
    /// Deletes the session's ephemerals.
    CloseSession,
    /// The leader's container/TTL reaper: delete each path if it still qualifies at
    /// apply time.
    Reap { paths: Vec<String> },
    /// The ensemble's membership changed (reconfig, or the first leader of a new
    /// ensemble): `/zookeeper/config` becomes these `server.N=...` lines followed by
    /// `version=<this txn's zxid in hex>`, as ZooKeeper writes it.
    SetConfig { members: String },
    /// `/commands/restore`: the tree and the session table become these, whole, at
    /// this txn's zxid (every member replaces its tree at the same log index). `nodes`
    /// are (path, [`crate::tree::Znode::encode`]) in byte order of the path; the
    /// current `/zookeeper/config` is kept. `last_zxid` is the newest zxid the restored
    /// tree mentions: the state machine keeps every later zxid above it.
    Restore {
        last_zxid: i64,
        sessions: Vec<(i64, i32)>,
        nodes: Vec<(String, Bytes)>,
    },
    /// The leader's tree digest after `zxid` (a multiple of 128: an entry of its digest
    /// history): every member compares its own entry for that zxid when it applies this
    /// (ZooKeeper's per-txn digest, every 128 zxids). Changes nothing.
    DigestCheck { zxid: i64, digest: i64 },
    /// A local session (`localSessionsEnabled`) becomes an ensemble-wide one: the
    /// session `Txn::session_id` joins the session table with its id and timeout, as
    /// ZooKeeper's createSession of an upgraded session does. Proposed when the local
    /// session creates its first ephemeral node, just before that create.
    UpgradeSession { timeout_ms: i32 },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txn_serde_round_trip() {
        let txn = Txn {
            session_id: 0x0100_0000_0000_0001,
            cxid: 7,
            time_ms: 1_700_000_000_000,
            auth: vec![AuthId::new("ip", "127.0.0.1"), AuthId::new("digest", "a:b")],
            kind: TxnKind::Request {
                op: 1,
                body: Bytes::from_static(b"\x00\x01"),
            },
        };
        let bytes = postcard::to_allocvec(&txn).unwrap();
        let back: Txn = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, txn);
        for kind in [
            TxnKind::CreateSession { timeout_ms: 30000 },
            TxnKind::CloseSession,
            TxnKind::Reap {
                paths: vec!["/c".into()],
            },
            TxnKind::Restore {
                last_zxid: 9,
                sessions: vec![(5, 4000)],
                nodes: vec![("/a".into(), Bytes::from_static(b"\x01"))],
            },
            TxnKind::DigestCheck {
                zxid: 0x1_0000_0080,
                digest: -7,
            },
            TxnKind::UpgradeSession { timeout_ms: 4000 },
        ] {
            let t = Txn {
                kind,
                ..txn.clone()
            };
            let b = postcard::to_allocvec(&t).unwrap();
            assert_eq!(postcard::from_bytes::<Txn>(&b).unwrap(), t);
        }
    }
}
