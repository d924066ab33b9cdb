//! Unit tests for the tree: shared helpers here, cases by area in the submodules.

mod digest;
mod multi;
mod ops;
mod quota;
mod reads;
mod restore;
mod sessions;

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use jute::{
    err, event, op, perms, Acl, Create2Response, CreateRequest, CreateResponse, CreateTtlRequest,
    DeleteRequest, Id, MultiOp, MultiRequest, MultiResponse, Record, SetAclRequest, SetDataRequest,
    SetDataResponse, Stat,
};

use super::*;
use crate::txn::{AuthId, Txn, TxnKind};

pub(super) const T0: i64 = 1_700_000_000_000;

pub(super) fn acl(perms: i32, scheme: &str, id: &str) -> Acl {
    Acl {
        perms,
        id: Id {
            scheme: scheme.into(),
            id: id.into(),
        },
    }
}

pub(super) fn open() -> Vec<Acl> {
    vec![acl(perms::ALL, "world", "anyone")]
}

pub(super) fn ip(addr: &str) -> AuthId {
    AuthId::new("ip", addr)
}

/// A tree plus a clock: every apply takes the next zxid; time = T0 + zxid.
pub(super) struct H {
    pub tree: DataTree,
    pub zxid: i64,
    /// The session used by default.
    pub sid: i64,
    pub auth: Vec<AuthId>,
}

impl H {
    pub fn new() -> H {
        H::with(TreeConfig {
            extended_types_enabled: true,
            ..TreeConfig::default()
        })
    }

    pub fn with(config: TreeConfig) -> H {
        let mut h = H {
            tree: DataTree::new(config),
            zxid: 0,
            sid: 0,
            auth: vec![ip("127.0.0.1")],
        };
        h.sid = h.new_session();
        h
    }

    pub fn now(&self) -> i64 {
        T0 + self.zxid
    }

    pub fn apply_as(&mut self, sid: i64, auth: &[AuthId], kind: TxnKind) -> Applied {
        self.zxid += 1;
        let txn = Txn {
            session_id: sid,
            cxid: 1,
            time_ms: T0 + self.zxid,
            auth: auth.to_vec(),
            kind,
        };
        let a = self.tree.apply(self.zxid, &txn);
        assert_eq!(a.zxid, self.zxid);
        assert_eq!(self.tree.last_zxid(), self.zxid);
        a
    }

    pub fn apply(&mut self, kind: TxnKind) -> Applied {
        let (sid, auth) = (self.sid, self.auth.clone());
        self.apply_as(sid, &auth, kind)
    }

    pub fn new_session(&mut self) -> i64 {
        match self
            .apply(TxnKind::CreateSession { timeout_ms: 30000 })
            .reply
        {
            Reply::SessionCreated { session_id, .. } => session_id,
            r => panic!("{r:?}"),
        }
    }

    pub fn req(&mut self, opcode: i32, body: BytesMut) -> Applied {
        self.apply(TxnKind::Request {
            op: opcode,
            body: body.freeze(),
        })
    }

    pub fn req_as(&mut self, sid: i64, auth: &[AuthId], opcode: i32, body: BytesMut) -> Applied {
        self.apply_as(
            sid,
            auth,
            TxnKind::Request {
                op: opcode,
                body: body.freeze(),
            },
        )
    }

    /// create (op 1) with open ACL; Ok(actual path) or Err(code).
    pub fn create(&mut self, path: &str, flags: i32) -> Result<String, i32> {
        let a = self.req(op::CREATE, create_body(path, Some(b"d"), &open(), flags));
        decode_ok::<CreateResponse>(&a).map(|r| r.path)
    }

    pub fn create_acl(&mut self, path: &str, acl: &[Acl], auth: &[AuthId]) -> Result<String, i32> {
        let sid = self.sid;
        let a = self.req_as(sid, auth, op::CREATE, create_body(path, None, acl, 0));
        decode_ok::<CreateResponse>(&a).map(|r| r.path)
    }

    pub fn delete(&mut self, path: &str, version: i32) -> i32 {
        let a = self.req(
            op::DELETE,
            DeleteRequest {
                path: path.into(),
                version,
            }
            .encode(),
        );
        err_of(&a)
    }

    pub fn set_data(&mut self, path: &str, data: &[u8], version: i32) -> Result<Stat, i32> {
        let a = self.req(
            op::SET_DATA,
            SetDataRequest {
                path: path.into(),
                data: Some(Bytes::copy_from_slice(data)),
                version,
            }
            .encode(),
        );
        decode_ok::<SetDataResponse>(&a).map(|r| r.stat)
    }

    pub fn set_acl_as(&mut self, path: &str, acl: &[Acl], version: i32, auth: &[AuthId]) -> i32 {
        let sid = self.sid;
        let a = self.req_as(
            sid,
            auth,
            op::SET_ACL,
            SetAclRequest {
                path: path.into(),
                acl: acl.to_vec(),
                version,
            }
            .encode(),
        );
        err_of(&a)
    }

    pub fn multi(&mut self, ops: Vec<MultiOp>) -> Applied {
        self.req(op::MULTI, MultiRequest { ops }.encode())
    }

    pub fn node(&self, path: &str) -> &Znode {
        self.tree
            .get(path)
            .unwrap_or_else(|| panic!("no node {path}"))
    }

    pub fn stat(&self, path: &str) -> Stat {
        self.node(path).stat()
    }

    pub fn children(&self, path: &str) -> Vec<String> {
        self.node(path)
            .children
            .names()
            .map(str::to_string)
            .collect()
    }
}

pub(super) fn create_body(path: &str, data: Option<&[u8]>, acl: &[Acl], flags: i32) -> BytesMut {
    CreateRequest {
        path: path.into(),
        data: data.map(Bytes::copy_from_slice),
        acl: acl.to_vec(),
        flags,
    }
    .encode()
}

pub(super) fn create_ttl_body(path: &str, flags: i32, ttl: i64) -> BytesMut {
    CreateTtlRequest {
        path: path.into(),
        data: None,
        acl: open(),
        flags,
        ttl,
    }
    .encode()
}

pub(super) fn err_of(a: &Applied) -> i32 {
    match &a.reply {
        Reply::Response { err, .. } => *err,
        r => panic!("not a response: {r:?}"),
    }
}

pub(super) fn body_of(a: &Applied) -> Bytes {
    match &a.reply {
        Reply::Response { err: 0, body } => body.clone(),
        r => panic!("not a success: {r:?}"),
    }
}

pub(super) fn decode_ok<R: Record>(a: &Applied) -> Result<R, i32> {
    match err_of(a) {
        0 => Ok(R::decode(&body_of(a)).expect("decodable body")),
        e => Err(e),
    }
}

pub(super) fn multi_results(a: &Applied) -> MultiResponse {
    MultiResponse::decode(&body_of(a)).expect("multi response")
}

/// (path, event) of each trigger.
pub(super) fn events(a: &Applied) -> Vec<(String, i32)> {
    a.triggers
        .iter()
        .map(|t| (t.path.clone(), t.event_type))
        .collect()
}

pub(super) fn dirty_nodes(a: &Applied) -> Vec<String> {
    a.dirty
        .iter()
        .filter_map(|d| match d {
            Dirty::Node(p) => Some(p.clone()),
            Dirty::Session(_) => None,
        })
        .collect()
}

/// Everything observable about a tree except last_zxid, for "unchanged" checks.
#[derive(Debug, PartialEq)]
pub(super) struct State {
    nodes: Vec<(String, Znode)>,
    sessions: Vec<(i64, SessionInfo)>,
    ephemerals: std::collections::BTreeMap<i64, std::collections::BTreeSet<String>>,
    containers: std::collections::BTreeSet<String>,
    ttls: std::collections::BTreeSet<String>,
    data_size: u64,
    node_count: usize,
    next_session_id: i64,
    digest: i64,
}

impl DataTree {
    /// Tamper with a node's stat (tests set stats no op can reach); the digest follows.
    pub(super) fn tamper_stat(&mut self, path: &str, f: impl FnOnce(&mut StatPersisted)) {
        let id = self.lookup(path).expect("node to tamper with");
        self.modify_stat(id, path, f);
    }
}

pub(super) fn state(t: &DataTree) -> State {
    let mut nodes: Vec<(String, Znode)> = t.iter_nodes().map(|(k, v)| (k, v.clone())).collect();
    nodes.sort_by(|a, b| a.0.cmp(&b.0));
    State {
        nodes,
        sessions: t.sessions().map(|(k, v)| (k, v.clone())).collect(),
        // The paths only: a rebuilt set's (modelled Java) table is sized for what it
        // holds now, a live one's for the most it ever held.
        ephemerals: t
            .ephemerals
            .iter()
            .filter(|(_, set)| !set.paths.is_empty())
            .map(|(s, set)| (*s, set.paths.clone()))
            .collect(),
        containers: t.containers.clone(),
        ttls: t.ttls.clone(),
        data_size: t.approximate_data_size(),
        node_count: t.node_count(),
        next_session_id: t.next_session_id(),
        digest: t.digest(),
    }
}

/// Recompute the derived indexes from scratch and compare with the maintained ones.
pub(super) fn assert_consistent(t: &DataTree) {
    let rebuilt = DataTree::from_parts(
        t.config.clone(),
        t.iter_nodes().map(|(k, v)| (k, v.clone())),
        t.sessions().map(|(k, v)| (k, v.clone())),
        t.last_zxid(),
        t.next_session_id(),
    );
    assert_eq!(state(&rebuilt), state(t));
}

#[test]
fn fresh_tree() {
    let t = DataTree::new(TreeConfig::default());
    assert_eq!(t.node_count(), 4);
    assert_eq!(t.last_zxid(), 0);
    assert_eq!(t.next_session_id(), 0);
    // "/" (1) + "/zookeeper" (10) + "/zookeeper/quota" (16) + "/zookeeper/config" (17)
    assert_eq!(t.approximate_data_size(), 44);
    let root = t.get("/").unwrap();
    assert_eq!(root.children.names().collect::<Vec<_>>(), ["zookeeper"]);
    assert_eq!(root.data.as_deref(), Some(&[][..]));
    assert_eq!(root.stat().cversion, -1);
    assert_eq!(root.stat().num_children, 1);
    let zk = t.get("/zookeeper").unwrap();
    assert_eq!(zk.children.names().collect::<Vec<_>>(), ["config", "quota"]);
    assert_eq!(zk.stat().cversion, -2);
    let config = t.get("/zookeeper/config").unwrap();
    assert_eq!(config.acl.as_slice(), [acl(perms::READ, "world", "anyone")]);
    assert_eq!(config.stat.aversion, -1);
    assert_eq!(t.get("/zookeeper/quota").unwrap().acl.as_slice(), open());
    assert_eq!(
        t.get("").unwrap().children.len(),
        1,
        "\"\" aliases the root"
    );
    let paths: Vec<String> = t.iter_nodes().map(|(p, _)| p).collect();
    assert_eq!(
        paths,
        ["/", "/zookeeper", "/zookeeper/config", "/zookeeper/quota"]
    );
    assert_consistent(&t);
}
