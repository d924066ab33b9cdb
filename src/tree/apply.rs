//! Applying a txn: dispatch, and the single-node write ops (create, delete, setData,
//! setACL, check) with ZooKeeper's validation order.
//!
//! Each op first validates completely (ZooKeeper's PrepRequestProcessor order, which
//! decides which error wins when several apply) and only then mutates, through the
//! primitive mutations of `mod.rs`. So a failed single op changes nothing, and inside
//! a multi the undo log only ever holds fully successful sub-ops.
//!
//! Create order: flags -> TTL (UNIMPLEMENTED / BAD_ARGUMENTS) -> session -> path has a
//! `/` and no NUL -> ACL fixup (INVALID_ACL) -> parent exists -> CREATE on parent ->
//! sequential suffix from the parent's stored cversion -> validatePath -> node exists ->
//! parent is a plain ephemeral. Delete order: session -> path shape / special path
//! (BAD_ARGUMENTS) -> parent exists -> DELETE on parent -> node exists -> version ->
//! children.

use std::sync::Arc;

use bytes::Bytes;
use jute::{
    create_flags, err, event, op, perms, Acl, Create2Response, CreateRequest, CreateResponse,
    CreateTtlRequest, DeleteRequest, MultiRequest, Record, SetAclRequest, SetAclResponse,
    SetDataRequest, SetDataResponse, Stat, StatPersisted,
};

use super::acl::{check_perm, fixup_acl};
use super::node::{data_of, Data, NodeKind, Znode, CONTAINER_OWNER, MAX_TTL};
use super::path::{is_special, split, split_stored, validate_path};
use super::{reapable, Applied, DataTree, Effects, Reply};
use crate::txn::{Txn, TxnKind};

/// A create request after op/flag normalisation.
pub(crate) struct CreateOp<'a> {
    /// 1, 15, 19 or 21: decides the reply shape, and 19/21 the node kind.
    pub op: i32,
    pub path: &'a str,
    pub data: Option<Data>,
    pub acl: &'a [Acl],
    pub flags: i32,
    /// -1 for the non-TTL ops.
    pub ttl: i64,
}

/// Decoded CreateMode flags.
#[derive(Clone, Copy)]
pub(crate) struct Mode {
    pub ephemeral: bool,
    pub sequential: bool,
    pub container: bool,
    pub ttl: bool,
}

impl Mode {
    pub(crate) fn from_flags(flags: i32) -> Option<Mode> {
        let m = |ephemeral, sequential, container, ttl| {
            Some(Mode {
                ephemeral,
                sequential,
                container,
                ttl,
            })
        };
        match flags {
            create_flags::PERSISTENT => m(false, false, false, false),
            create_flags::EPHEMERAL => m(true, false, false, false),
            create_flags::PERSISTENT_SEQUENTIAL => m(false, true, false, false),
            create_flags::EPHEMERAL_SEQUENTIAL => m(true, true, false, false),
            create_flags::CONTAINER => m(false, false, true, false),
            create_flags::PERSISTENT_WITH_TTL => m(false, false, false, true),
            create_flags::PERSISTENT_SEQUENTIAL_WITH_TTL => m(false, true, false, true),
            _ => None,
        }
    }
}

/// `currentVersion + 1` after the `-1 = any` check (Java int arithmetic, as 3.9 does).
pub(crate) fn next_version(current: i32, expected: i32) -> Result<i32, i32> {
    if expected != -1 && expected != current {
        return Err(err::BAD_VERSION);
    }
    Ok(current.wrapping_add(1))
}

fn response(err: i32, body: Bytes) -> Reply {
    Reply::Response { err, body }
}

fn error_reply(code: i32) -> Reply {
    response(code, Bytes::new())
}

impl DataTree {
    /// Apply one committed txn at `zxid`. Every txn consumes its zxid, failed ones too:
    /// afterwards `last_zxid() == zxid`.
    pub fn apply(&mut self, zxid: i64, txn: &Txn) -> Applied {
        self.last_zxid = zxid;
        let applied = self.apply_kind(zxid, txn);
        self.digest.applied(zxid);
        applied
    }

    fn apply_kind(&mut self, zxid: i64, txn: &Txn) -> Applied {
        match &txn.kind {
            TxnKind::CreateSession { timeout_ms } => {
                self.create_session(zxid, txn.time_ms, *timeout_ms)
            }
            TxnKind::UpgradeSession { timeout_ms } => {
                self.upgrade_session(zxid, txn.session_id, *timeout_ms)
            }
            TxnKind::CloseSession => self.close_session(zxid, txn.session_id),
            TxnKind::Reap { paths } => self.reap(zxid, txn.time_ms, paths),
            TxnKind::SetConfig { members } => self.set_config(zxid, txn.time_ms, members),
            TxnKind::Restore {
                sessions, nodes, ..
            } => self.restore(zxid, sessions, nodes),
            TxnKind::DigestCheck { zxid: at, digest } => {
                Applied::reply_only(zxid, Reply::DigestChecked(self.digest.check(*at, *digest)))
            }
            TxnKind::Request { op, body } => {
                let mut fx = Effects::default();
                let reply = self.request(zxid, txn, *op, body, &mut fx);
                Applied {
                    zxid,
                    reply,
                    triggers: fx.triggers,
                    dirty: fx.dirty,
                    closed_session: None,
                    quota_exceeded: fx.quota_exceeded,
                }
            }
        }
    }

    fn request(
        &mut self,
        zxid: i64,
        txn: &Txn,
        opcode: i32,
        body: &[u8],
        fx: &mut Effects,
    ) -> Reply {
        macro_rules! decode {
            ($t:ty) => {
                match <$t>::decode(body) {
                    Ok(r) => r,
                    Err(_) => return error_reply(err::MARSHALLING_ERROR),
                }
            };
        }
        let result = match opcode {
            op::CREATE | op::CREATE2 | op::CREATE_CONTAINER => {
                let r = decode!(CreateRequest);
                let c = CreateOp {
                    op: opcode,
                    path: &r.path,
                    data: data_of(r.data),
                    acl: &r.acl,
                    flags: r.flags,
                    ttl: -1,
                };
                self.create(zxid, txn, c, fx).map(|(path, stat)| {
                    if opcode == op::CREATE {
                        CreateResponse { path }.encode()
                    } else {
                        Create2Response { path, stat }.encode()
                    }
                })
            }
            op::CREATE_TTL => {
                let r = decode!(CreateTtlRequest);
                let c = CreateOp {
                    op: opcode,
                    path: &r.path,
                    data: data_of(r.data),
                    acl: &r.acl,
                    flags: r.flags,
                    ttl: r.ttl,
                };
                self.create(zxid, txn, c, fx)
                    .map(|(path, stat)| Create2Response { path, stat }.encode())
            }
            op::DELETE => {
                let r = decode!(DeleteRequest);
                self.delete(zxid, txn, &r.path, r.version, fx)
                    .map(|()| Default::default())
            }
            op::SET_DATA => {
                let r = decode!(SetDataRequest);
                self.set_data(zxid, txn, &r.path, data_of(r.data), r.version, fx)
                    .map(|stat| SetDataResponse { stat }.encode())
            }
            op::SET_ACL => {
                let r = decode!(SetAclRequest);
                self.set_acl(txn, &r.path, &r.acl, r.version, fx)
                    .map(|stat| SetAclResponse { stat }.encode())
            }
            op::MULTI => {
                let r = decode!(MultiRequest);
                self.multi(zxid, txn, r, fx).map(|resp| resp.encode())
            }
            _ => Err(err::UNIMPLEMENTED),
        };
        match result {
            Ok(body) => response(err::OK, body.freeze()),
            Err(code) => error_reply(code),
        }
    }

    /// Session check: the caller's session must exist. Internal txns (session 0) pass,
    /// except for ephemeral creates, which need a real session.
    pub(crate) fn check_session(&self, txn: &Txn, ephemeral: bool) -> Result<(), i32> {
        if (txn.session_id == 0 && !ephemeral) || self.sessions.contains_key(&txn.session_id) {
            Ok(())
        } else {
            Err(err::SESSION_EXPIRED)
        }
    }

    /// Create; returns the actual path and the new node's Stat.
    pub(crate) fn create(
        &mut self,
        zxid: i64,
        txn: &Txn,
        c: CreateOp<'_>,
        fx: &mut Effects,
    ) -> Result<(String, Stat), i32> {
        let mode = Mode::from_flags(c.flags).ok_or(err::BAD_ARGUMENTS)?;
        if mode.ttl && !self.config.extended_types_enabled {
            return Err(err::UNIMPLEMENTED);
        }
        let ttl_ok = if mode.ttl {
            (1..=MAX_TTL).contains(&c.ttl)
        } else {
            c.ttl < 0 && c.op != op::CREATE_TTL
        };
        if !ttl_ok {
            return Err(err::BAD_ARGUMENTS);
        }
        self.check_session(txn, mode.ephemeral)?;
        if c.path.contains('\0') {
            return Err(err::BAD_ARGUMENTS);
        }
        let (parent_path, _) = split(c.path).ok_or(err::BAD_ARGUMENTS)?;
        let acl = fixup_acl(c.acl, &txn.auth)?;
        let parent_id = self.lookup(parent_path).ok_or(err::NO_NODE)?;
        let parent = self.node(parent_id).ok_or(err::NO_NODE)?;
        if !check_perm(&parent.acl, &txn.auth, perms::CREATE) {
            return Err(err::NO_AUTH);
        }
        let parent_cv = parent.stat.cversion;
        let path = if mode.sequential {
            format!("{}{:010}", c.path, parent_cv)
        } else {
            c.path.to_string()
        };
        if !validate_path(&path) {
            return Err(err::BAD_ARGUMENTS);
        }
        // The suffix holds no `/`: the new path has the same parent. A valid path with
        // an empty last name is `/` itself, which always exists.
        let name = &path[path.rfind('/').map_or(0, |i| i + 1)..];
        if name.is_empty() || parent.children.contains(name) {
            return Err(err::NODE_EXISTS);
        }
        if matches!(parent.kind(), NodeKind::Ephemeral(_)) {
            return Err(err::NO_CHILDREN_FOR_EPHEMERALS);
        }
        let bytes = c.data.as_ref().map_or(0, |d| d.len() as i64);
        self.check_quota(&path, bytes, 1, fx)?;

        // Validated: mutate.
        let owner = if c.op == op::CREATE_CONTAINER {
            CONTAINER_OWNER
        } else if c.op == op::CREATE_TTL {
            NodeKind::ttl_owner(c.ttl)
        } else if mode.ephemeral {
            txn.session_id
        } else {
            0
        };
        let parent_acl = Arc::clone(&parent.acl);
        let acl = self.share_acl(acl, &parent_acl);
        self.modify_stat(parent_id, parent_path, |s| {
            s.cversion = parent_cv.wrapping_add(1);
            s.pzxid = zxid;
        });
        let node = Znode::new(
            c.data,
            Arc::clone(&acl),
            StatPersisted {
                czxid: zxid,
                mzxid: zxid,
                ctime: txn.time_ms,
                mtime: txn.time_ms,
                version: 0,
                cversion: 0,
                aversion: 0,
                ephemeral_owner: owner,
                pzxid: zxid,
            },
        );
        let stat = node.stat();
        self.insert_node(parent_id, name, &path, node);
        self.created_quota_node(parent_path, name, fx);
        self.count_quota(&path, bytes, 1, fx);
        fx.trigger(&path, event::NODE_CREATED, &acl);
        fx.trigger(parent_path, event::NODE_CHILDREN_CHANGED, &parent_acl);
        fx.dirty_node(&path);
        fx.dirty_node(parent_path);
        Ok((path, stat))
    }

    pub(crate) fn delete(
        &mut self,
        zxid: i64,
        txn: &Txn,
        path: &str,
        version: i32,
        fx: &mut Effects,
    ) -> Result<(), i32> {
        self.check_session(txn, false)?;
        if path.contains('\0') || is_special(path) {
            return Err(err::BAD_ARGUMENTS);
        }
        let (parent_path, _) = split(path).ok_or(err::BAD_ARGUMENTS)?;
        let parent_id = self.lookup(parent_path).ok_or(err::NO_NODE)?;
        let parent = self.node(parent_id).ok_or(err::NO_NODE)?;
        if !check_perm(&parent.acl, &txn.auth, perms::DELETE) {
            return Err(err::NO_AUTH);
        }
        // Only the path itself names the node: `//a` has the parts of `/a`, not its name.
        let id = split_stored(path)
            .and_then(|(_, name)| self.lookup_in(parent_id, name))
            .ok_or(err::NO_NODE)?;
        let node = self.node(id).ok_or(err::NO_NODE)?;
        next_version(node.stat.version, version)?;
        if !node.children.is_empty() {
            return Err(err::NOT_EMPTY);
        }
        self.delete_node(zxid, path, fx);
        Ok(())
    }

    /// Remove a (childless) node: parent loses the child and gets pzxid = max(pzxid,
    /// zxid) (stored cversion unchanged); fires NodeDeleted then the parent's
    /// NodeChildrenChanged. Shared by delete, closeSession and reap.
    pub(crate) fn delete_node(&mut self, zxid: i64, path: &str, fx: &mut Effects) {
        let Some((parent_path, name)) = split_stored(path) else {
            return;
        };
        let Some(parent_id) = self.lookup(parent_path) else {
            return;
        };
        let Some(parent_acl) = self.node(parent_id).map(|p| Arc::clone(&p.acl)) else {
            return;
        };
        let Some(node) = self.remove_node(parent_id, name, path) else {
            return;
        };
        self.count_quota(path, -i64::from(node.data_len()), -1, fx);
        self.modify_stat(parent_id, parent_path, |s| {
            if zxid > s.pzxid {
                s.pzxid = zxid;
            }
        });
        fx.trigger(path, event::NODE_DELETED, &node.acl);
        fx.trigger(parent_path, event::NODE_CHILDREN_CHANGED, &parent_acl);
        fx.dirty_node(path);
        fx.dirty_node(parent_path);
    }

    pub(crate) fn set_data(
        &mut self,
        zxid: i64,
        txn: &Txn,
        path: &str,
        data: Option<Data>,
        version: i32,
        fx: &mut Effects,
    ) -> Result<Stat, i32> {
        self.check_session(txn, false)?;
        if !validate_path(path) {
            return Err(err::BAD_ARGUMENTS);
        }
        let id = self.lookup(path).ok_or(err::NO_NODE)?;
        let node = self.node(id).ok_or(err::NO_NODE)?;
        if !check_perm(&node.acl, &txn.auth, perms::WRITE) {
            return Err(err::NO_AUTH);
        }
        // Before the version, as ZooKeeper's PrepRequestProcessor checks it.
        let bytes_diff = data.as_ref().map_or(0, |d| d.len() as i64) - i64::from(node.data_len());
        self.check_quota(path, bytes_diff, 0, fx)?;
        let new_version = next_version(node.stat.version, version)?;
        let acl = Arc::clone(&node.acl);
        self.rewrite(
            id,
            path,
            Some(data),
            Some(|s: &mut StatPersisted| {
                s.version = new_version;
                s.mzxid = zxid;
                s.mtime = txn.time_ms;
            }),
        );
        self.count_quota(path, bytes_diff, 0, fx);
        fx.trigger(path, event::NODE_DATA_CHANGED, &acl);
        fx.dirty_node(path);
        Ok(self.node(id).map(Znode::stat).unwrap_or_default())
    }

    pub(crate) fn set_acl(
        &mut self,
        txn: &Txn,
        path: &str,
        acl: &[Acl],
        version: i32,
        fx: &mut Effects,
    ) -> Result<Stat, i32> {
        self.check_session(txn, false)?;
        if !validate_path(path) {
            return Err(err::BAD_ARGUMENTS);
        }
        let acl = fixup_acl(acl, &txn.auth)?;
        let id = self.lookup(path).ok_or(err::NO_NODE)?;
        let node = self.node(id).ok_or(err::NO_NODE)?;
        if !check_perm(&node.acl, &txn.auth, perms::ADMIN) {
            return Err(err::NO_AUTH);
        }
        let new_aversion = next_version(node.stat.aversion, version)?;
        let current = Arc::clone(&node.acl);
        let acl = self.share_acl(acl, &current);
        drop(current);
        self.replace_acl(id, path, acl);
        self.modify_stat(id, path, |s| s.aversion = new_aversion);
        fx.dirty_node(path);
        Ok(self.node(id).map(Znode::stat).unwrap_or_default())
    }

    /// The multi-only `check` op: session -> validatePath -> exists -> READ -> version.
    pub(crate) fn check(&self, txn: &Txn, path: &str, version: i32) -> Result<(), i32> {
        self.check_session(txn, false)?;
        if !validate_path(path) {
            return Err(err::BAD_ARGUMENTS);
        }
        let node = self.get(path).ok_or(err::NO_NODE)?;
        if !check_perm(&node.acl, &txn.auth, perms::READ) {
            return Err(err::NO_AUTH);
        }
        next_version(node.stat.version, version).map(|_| ())
    }

    /// Delete each path that still qualifies at `time_ms` (container: no children and
    /// stored cversion > 0; TTL: no children and expired). Others are skipped silently.
    /// `/zookeeper/config` is written by the ensemble, never by a client (its ACL is
    /// read-only), so no permission is checked here.
    fn set_config(&mut self, zxid: i64, time_ms: i64, members: &str) -> Applied {
        let mut fx = Effects::default();
        let path = super::path::CONFIG_PATH;
        let data = format!("{members}version={zxid:x}");
        if let Some(id) = self.lookup(path) {
            let acl = self
                .node(id)
                .map(|n| Arc::clone(&n.acl))
                .unwrap_or_default();
            self.rewrite(
                id,
                path,
                Some(Some(Data::from(data.into_bytes()))),
                Some(|s: &mut StatPersisted| {
                    s.version = s.version.wrapping_add(1);
                    s.mzxid = zxid;
                    s.mtime = time_ms;
                }),
            );
            fx.trigger(path, event::NODE_DATA_CHANGED, &acl);
            fx.dirty_node(path);
        }
        Applied {
            zxid,
            reply: response(err::OK, Bytes::new()),
            triggers: fx.triggers,
            dirty: fx.dirty,
            closed_session: None,
            quota_exceeded: Vec::new(),
        }
    }

    fn reap(&mut self, zxid: i64, time_ms: i64, paths: &[String]) -> Applied {
        let mut fx = Effects::default();
        for p in paths {
            if is_special(p) || !self.get(p).is_some_and(|n| reapable(n, time_ms)) {
                continue;
            }
            self.delete_node(zxid, p, &mut fx);
        }
        Applied {
            zxid,
            reply: Reply::Reaped,
            triggers: fx.triggers,
            dirty: fx.dirty,
            closed_session: None,
            quota_exceeded: Vec::new(),
        }
    }
}
