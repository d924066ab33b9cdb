//! Read requests, answered from the local tree (ZooKeeper's FinalRequestProcessor).
//!
//! Each function takes the caller's auth ids, does ZooKeeper's ACL check and returns
//! the response record or an error code. Watches are registered by the caller through
//! [`crate::watch::WatchManager`]; the rule ZooKeeper follows, per op:
//! * exists: register the data watch when the result is `Ok` **or** `Err(NO_NODE)`
//!   (not on BAD_ARGUMENTS / NO_AUTH);
//! * getData: register only on `Ok`;
//! * getChildren/getChildren2: register the child watch only on `Ok`.
//!
//! Paths are not validated (ZooKeeper does not either, except exists rejecting NUL):
//! an invalid path simply is not found. `""` is ZooKeeper's alias of the root.
//! Children are returned sorted (ZooKeeper returns HashSet order, which clients must
//! not rely on).

use jute::{
    err, perms, ExistsResponse, GetAclResponse, GetAllChildrenNumberResponse, GetChildren2Response,
    GetChildrenResponse, GetDataResponse, GetEphemeralsResponse, MultiOp, MultiRequest,
    MultiResponse, MultiResult,
};

use super::acl::{check_perm, mask_digest_ids};
use super::{DataTree, Znode};
use crate::txn::AuthId;

impl DataTree {
    /// The node if it exists and the caller has `perm` on it.
    pub fn node_with_perm(&self, path: &str, ids: &[AuthId], perm: i32) -> Result<&Znode, i32> {
        let node = self.get(path).ok_or(err::NO_NODE)?;
        if check_perm(&node.acl, ids, perm) {
            Ok(node)
        } else {
            Err(err::NO_AUTH)
        }
    }

    /// exists: NUL in the path -> BAD_ARGUMENTS; missing -> NO_NODE; READ needed only
    /// when the node exists (3.8.4/3.9.2+).
    pub fn exists(&self, path: &str, ids: &[AuthId]) -> Result<ExistsResponse, i32> {
        if path.contains('\0') {
            return Err(err::BAD_ARGUMENTS);
        }
        let node = self.node_with_perm(path, ids, perms::READ)?;
        Ok(ExistsResponse { stat: node.stat() })
    }

    /// getData (READ).
    pub fn get_data(&self, path: &str, ids: &[AuthId]) -> Result<GetDataResponse, i32> {
        let node = self.node_with_perm(path, ids, perms::READ)?;
        Ok(GetDataResponse {
            data: node.data_bytes(),
            stat: node.stat(),
        })
    }

    /// getChildren (READ); names sorted.
    pub fn get_children(&self, path: &str, ids: &[AuthId]) -> Result<GetChildrenResponse, i32> {
        let node = self.node_with_perm(path, ids, perms::READ)?;
        Ok(GetChildrenResponse {
            children: node.children.names().map(str::to_string).collect(),
        })
    }

    /// getChildren2 (READ); names sorted, plus the node's Stat.
    pub fn get_children2(&self, path: &str, ids: &[AuthId]) -> Result<GetChildren2Response, i32> {
        let node = self.node_with_perm(path, ids, perms::READ)?;
        Ok(GetChildren2Response {
            children: node.children.names().map(str::to_string).collect(),
            stat: node.stat(),
        })
    }

    /// getACL (READ or ADMIN). Without ADMIN, digest ids are masked to `user:x`.
    pub fn get_acl(&self, path: &str, ids: &[AuthId]) -> Result<GetAclResponse, i32> {
        let node = self.node_with_perm(path, ids, perms::READ | perms::ADMIN)?;
        let acl = if check_perm(&node.acl, ids, perms::ADMIN) {
            node.acl.as_ref().clone()
        } else {
            mask_digest_ids(&node.acl)
        };
        Ok(GetAclResponse {
            acl,
            stat: node.stat(),
        })
    }

    /// getAllChildrenNumber (READ): all descendants, the node itself excluded
    /// (for `/`: node count - 1, counting the `/zookeeper` nodes).
    pub fn get_all_children_number(
        &self,
        path: &str,
        ids: &[AuthId],
    ) -> Result<GetAllChildrenNumberResponse, i32> {
        self.node_with_perm(path, ids, perms::READ)?;
        let total = match path {
            "/" => self.node_count().saturating_sub(1),
            // ZooKeeper counts the keys starting with "" + "/": every node incl. "/".
            "" => self.node_count(),
            _ => self.descendants_of(self.lookup(path).ok_or(err::NO_NODE)?),
        };
        Ok(GetAllChildrenNumberResponse {
            total_number: i32::try_from(total).unwrap_or(i32::MAX),
        })
    }

    /// getEphemerals: the session's own ephemerals, in the order ZooKeeper lists them
    /// (its set's iteration order, see `ephemerals.rs`). A null, blank (after Java
    /// `trim`) or `/` prefix means all; otherwise those starting with the prefix.
    /// No ACL check. Never fails (`Result` for symmetry with the other reads).
    pub fn get_ephemerals(
        &self,
        session: i64,
        prefix: Option<&str>,
    ) -> Result<GetEphemeralsResponse, i32> {
        let all = self.ephemerals_in_zookeeper_order(session);
        let prefix = prefix.filter(|p| {
            let t = p.trim_matches(|c: char| c <= ' ');
            !t.is_empty() && t != "/"
        });
        let ephemerals = match prefix {
            None => all,
            Some(p) => all.into_iter().filter(|e| e.starts_with(p)).collect(),
        };
        Ok(GetEphemeralsResponse { ephemerals })
    }

    /// The multi `check` op as a read: exists -> READ -> version (-1 = any).
    pub fn check_version(&self, path: &str, version: i32, ids: &[AuthId]) -> Result<(), i32> {
        let node = self.node_with_perm(path, ids, perms::READ)?;
        if version != -1 && version != node.stat.version {
            return Err(err::BAD_VERSION);
        }
        Ok(())
    }

    /// multiRead (op 22): getData/getChildren ops, each independent; a failing op gives
    /// `Error(code)` and the others still answer. Any other op type -> the whole
    /// request fails with MARSHALLING_ERROR. Watch flags are ignored.
    pub fn multi_read(&self, req: &MultiRequest, ids: &[AuthId]) -> Result<MultiResponse, i32> {
        if req
            .ops
            .iter()
            .any(|o| !matches!(o, MultiOp::GetData(_) | MultiOp::GetChildren(_)))
        {
            return Err(err::MARSHALLING_ERROR);
        }
        let results = req
            .ops
            .iter()
            .map(|o| {
                let r = match o {
                    MultiOp::GetData(r) => self.get_data(&r.path, ids).map(MultiResult::GetData),
                    MultiOp::GetChildren(r) => self
                        .get_children(&r.path, ids)
                        .map(MultiResult::GetChildren),
                    _ => Err(err::MARSHALLING_ERROR),
                };
                r.unwrap_or_else(MultiResult::Error)
            })
            .collect();
        Ok(MultiResponse { results })
    }
}
