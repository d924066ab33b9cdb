//! multi (op 14): all-or-nothing execution of write sub-ops.
//!
//! Sub-ops run in order against the real tree, each fully validated before it mutates,
//! while every primitive mutation records its inverse in an undo log. A later sub-op
//! therefore sees the earlier ones (create `/a` then `/a/b`, or delete then re-create).
//! On the first failure the log is replayed backwards, which restores the tree exactly
//! (node contents, children, stats, indexes, data size), and the triggers and dirty
//! entries gathered so far are dropped: a failed multi fires nothing and persists
//! nothing; only `last_zxid` moves. The cost is proportional to what the multi touched,
//! never to the size of the tree.
//!
//! Results (ZooKeeper semantics): success -> one result per op; failure -> `Error(0)`
//! for the ops before the failing one, `Error(code)` for it and
//! `Error(RUNTIME_INCONSISTENCY)` after it, with reply err 0 in both cases.

use jute::{
    err, op, Acl, Create2Response, CreateResponse, MultiOp, MultiRequest, MultiResponse,
    MultiResult, SetDataResponse,
};

use super::apply::{CreateOp, Mode};
use super::node::{data_of, Data};
use super::{DataTree, Effects};
use crate::txn::Txn;

/// A write sub-op after ZooKeeper's `Op.create` normalisation.
enum WriteOp {
    Create {
        op: i32,
        path: String,
        data: Option<Data>,
        acl: Vec<Acl>,
        flags: i32,
        ttl: i64,
    },
    Delete {
        path: String,
        version: i32,
    },
    SetData {
        path: String,
        data: Option<Data>,
        version: i32,
    },
    Check {
        path: String,
        version: i32,
    },
}

/// Mirror what ZooKeeper's MultiOperationRecord/Op do while *decoding* a multi, where
/// failures abort the whole request with MARSHALLING_ERROR:
/// * a read op (getData/getChildren) inside a write multi;
/// * a create/create2/createContainer with flags outside 0..=6, or with a TTL flag
///   (ZooKeeper turns it into a createTTL op whose record is not a CreateTTLRequest);
/// * the container flag turns a create/create2 into createContainer;
/// * a createTTL whose flags are not a TTL mode becomes a plain create (or
///   createContainer) and its ttl is dropped; invalid flags then fail per op.
fn normalize(ops: Vec<MultiOp>) -> Result<Vec<WriteOp>, i32> {
    ops.into_iter()
        .map(|o| match o {
            MultiOp::Create { op: code, req } => {
                let mode = Mode::from_flags(req.flags).ok_or(err::MARSHALLING_ERROR)?;
                if mode.ttl {
                    return Err(err::MARSHALLING_ERROR);
                }
                Ok(WriteOp::Create {
                    op: if mode.container {
                        op::CREATE_CONTAINER
                    } else {
                        code
                    },
                    path: req.path,
                    data: data_of(req.data),
                    acl: req.acl,
                    flags: req.flags,
                    ttl: -1,
                })
            }
            MultiOp::CreateTtl(req) => {
                let mode = Mode::from_flags(req.flags).unwrap_or(Mode {
                    ephemeral: false,
                    sequential: false,
                    container: false,
                    ttl: false,
                });
                let (code, ttl) = if mode.ttl {
                    (op::CREATE_TTL, req.ttl)
                } else if mode.container {
                    (op::CREATE_CONTAINER, -1)
                } else {
                    (op::CREATE, -1)
                };
                Ok(WriteOp::Create {
                    op: code,
                    path: req.path,
                    data: data_of(req.data),
                    acl: req.acl,
                    flags: req.flags,
                    ttl,
                })
            }
            MultiOp::Delete(r) => Ok(WriteOp::Delete {
                path: r.path,
                version: r.version,
            }),
            MultiOp::SetData(r) => Ok(WriteOp::SetData {
                path: r.path,
                data: data_of(r.data),
                version: r.version,
            }),
            MultiOp::Check(r) => Ok(WriteOp::Check {
                path: r.path,
                version: r.version,
            }),
            MultiOp::GetChildren(_) | MultiOp::GetData(_) => Err(err::MARSHALLING_ERROR),
        })
        .collect()
}

impl DataTree {
    pub(crate) fn multi(
        &mut self,
        zxid: i64,
        txn: &Txn,
        req: MultiRequest,
        fx: &mut Effects,
    ) -> Result<MultiResponse, i32> {
        let ops = normalize(req.ops)?;
        let n = ops.len();
        self.undo = Some(Vec::new());
        let mut results = Vec::with_capacity(n);
        let mut failure = None;
        for (i, o) in ops.into_iter().enumerate() {
            match self.multi_op(zxid, txn, o, fx) {
                Ok(r) => results.push(r),
                Err(code) => {
                    failure = Some((i, code));
                    break;
                }
            }
        }
        let log = self.undo.take().unwrap_or_default();
        match failure {
            Some((failed, code)) => {
                self.rollback(log);
                fx.clear();
                results = (0..n)
                    .map(|j| {
                        MultiResult::Error(match j.cmp(&failed) {
                            std::cmp::Ordering::Less => err::OK,
                            std::cmp::Ordering::Equal => code,
                            std::cmp::Ordering::Greater => err::RUNTIME_INCONSISTENCY,
                        })
                    })
                    .collect();
            }
            None => {
                drop(log);
                self.acl_cache.released();
            }
        }
        Ok(MultiResponse { results })
    }

    fn multi_op(
        &mut self,
        zxid: i64,
        txn: &Txn,
        o: WriteOp,
        fx: &mut Effects,
    ) -> Result<MultiResult, i32> {
        match o {
            WriteOp::Create {
                op: code,
                path,
                data,
                acl,
                flags,
                ttl,
            } => {
                let c = CreateOp {
                    op: code,
                    path: &path,
                    data,
                    acl: &acl,
                    flags,
                    ttl,
                };
                let (path, stat) = self.create(zxid, txn, c, fx)?;
                Ok(if code == op::CREATE {
                    MultiResult::Create(CreateResponse { path })
                } else {
                    MultiResult::Create2(Create2Response { path, stat })
                })
            }
            WriteOp::Delete { path, version } => {
                self.delete(zxid, txn, &path, version, fx)?;
                Ok(MultiResult::Delete)
            }
            WriteOp::SetData {
                path,
                data,
                version,
            } => {
                let stat = self.set_data(zxid, txn, &path, data, version, fx)?;
                Ok(MultiResult::SetData(SetDataResponse { stat }))
            }
            WriteOp::Check { path, version } => {
                self.check(txn, &path, version)?;
                Ok(MultiResult::Check)
            }
        }
    }
}
