//! Requests answered from the local tree without a txn: reads, watch registration,
//! sync, ping and whoAmI.
//!
//! A watch is registered while the tree's read lock is held, so no apply can slip
//! between the read and the registration: either the read saw the old state and the
//! watch catches the change, or it saw the new state. (Apply takes the write lock and
//! triggers watches before releasing it.)

use bytes::{Bytes, BytesMut};
use jute::{err, op, Record};

use super::registry::ConnHandle;
use super::Server;
use crate::tree::DataTree;
use crate::txn::AuthId;
use crate::watch::WatchManager;

pub struct ReadOutcome {
    pub zxid: i64,
    pub err: i32,
    pub body: Bytes,
    /// ZooKeeper closes the connection after answering an unsupported request.
    pub close: bool,
}

fn ok(record: &impl Record) -> Result<Bytes, i32> {
    Ok(record.encode().freeze())
}

fn decode<T: Record>(body: &[u8]) -> Result<T, i32> {
    T::decode(body).map_err(|_| err::MARSHALLING_ERROR)
}

pub fn execute(server: &Server, conn: &ConnHandle, opcode: i32, body: &[u8]) -> ReadOutcome {
    // Held for the whole read: only this connection's own task ever writes it.
    let ids = conn.auth.read();
    let tree = server.tree.read();
    let zxid = tree.last_zxid();
    let mut close = false;
    let result = match opcode {
        op::PING => Ok(Bytes::new()),
        op::SYNC => {
            decode::<jute::SyncRequest>(body).and_then(|r| ok(&jute::SyncResponse { path: r.path }))
        }
        op::EXISTS
        | op::GET_DATA
        | op::GET_CHILDREN
        | op::GET_CHILDREN2
        | op::GET_ACL
        | op::GET_ALL_CHILDREN_NUMBER => read_node(
            &tree,
            &mut server.watches.lock(),
            conn.id,
            &ids,
            opcode,
            body,
        ),
        op::GET_EPHEMERALS => decode::<jute::GetEphemeralsRequest>(body).and_then(|r| {
            tree.get_ephemerals(conn.session_id(), r.prefix_path.as_deref())
                .and_then(|resp| ok(&resp))
        }),
        op::WHO_AM_I => ok(&jute::WhoAmIResponse {
            client_info: ids
                .iter()
                .map(|id| jute::ClientInfo {
                    auth_scheme: id.scheme.clone(),
                    user: user_name(id),
                })
                .collect(),
        }),
        op::ADD_WATCH => decode::<jute::AddWatchRequest>(body).and_then(|r| {
            server.watches.lock().add_persistent(
                conn.id,
                &r.path,
                r.mode == jute::add_watch_mode::PERSISTENT_RECURSIVE,
            );
            ok(&jute::ErrorResponse { err: 0 })
        }),
        op::CHECK_WATCHES => decode::<jute::CheckWatchesRequest>(body).and_then(|r| {
            if server
                .watches
                .lock()
                .has_watches(conn.id, &r.path, r.watch_type)
            {
                Ok(Bytes::new())
            } else {
                Err(err::NO_WATCHER)
            }
        }),
        op::REMOVE_WATCHES => decode::<jute::RemoveWatchesRequest>(body).and_then(|r| {
            if server
                .watches
                .lock()
                .remove_watches(conn.id, &r.path, r.watch_type)
            {
                Ok(Bytes::new())
            } else {
                Err(err::NO_WATCHER)
            }
        }),
        op::SET_WATCHES => decode::<jute::SetWatches>(body).map(|r| {
            let w = jute::SetWatches2 {
                relative_zxid: r.relative_zxid,
                data_watches: r.data_watches,
                exist_watches: r.exist_watches,
                child_watches: r.child_watches,
                ..Default::default()
            };
            set_watches(&tree, &mut server.watches.lock(), conn, &w);
            Bytes::new()
        }),
        op::SET_WATCHES2 => decode::<jute::SetWatches2>(body).map(|w| {
            set_watches(&tree, &mut server.watches.lock(), conn, &w);
            Bytes::new()
        }),
        op::MULTI_READ => {
            let (err, body) = multi_read(&tree, &ids, body);
            return ReadOutcome {
                zxid,
                err,
                body,
                close: false,
            };
        }
        op::RECONFIG => Err(err::RECONFIG_DISABLED),
        _ => {
            close = true;
            Err(err::UNIMPLEMENTED)
        }
    };
    let (err, body) = match result {
        Ok(body) => (0, body),
        Err(code) => (code, Bytes::new()),
    };
    ReadOutcome {
        // ZooKeeper answers a request it does not know with zxid -1.
        zxid: if close { -1 } else { zxid },
        err,
        body,
        close,
    }
}

/// whoAmI's user: the auth provider's user name (a digest id's part before ':'), and
/// empty for `super`, which has no provider (ZooKeeper's `AuthUtil.getUser`).
fn user_name(id: &AuthId) -> String {
    match id.scheme.as_str() {
        "digest" => id.id.split(':').next().unwrap_or("").to_string(),
        "super" => String::new(),
        _ => id.id.clone(),
    }
}

/// The path-based reads, with their watch registration.
fn read_node(
    tree: &DataTree,
    watches: &mut WatchManager,
    conn: u64,
    ids: &[AuthId],
    opcode: i32,
    body: &[u8],
) -> Result<Bytes, i32> {
    match opcode {
        op::EXISTS => {
            let r: jute::ExistsRequest = decode(body)?;
            let result = tree.exists(&r.path, ids);
            // An exists watch is set on a missing node too: it fires on creation.
            if r.watch && matches!(result, Ok(_) | Err(err::NO_NODE)) {
                watches.add_data_watch(conn, &r.path);
            }
            ok(&result?)
        }
        op::GET_DATA => {
            let r: jute::GetDataRequest = decode(body)?;
            let resp = tree.get_data(&r.path, ids)?;
            if r.watch {
                watches.add_data_watch(conn, &r.path);
            }
            ok(&resp)
        }
        op::GET_CHILDREN => {
            let r: jute::GetChildrenRequest = decode(body)?;
            let resp = tree.get_children(&r.path, ids)?;
            if r.watch {
                watches.add_child_watch(conn, &r.path);
            }
            ok(&resp)
        }
        op::GET_CHILDREN2 => {
            let r: jute::GetChildren2Request = decode(body)?;
            let resp = tree.get_children2(&r.path, ids)?;
            if r.watch {
                watches.add_child_watch(conn, &r.path);
            }
            ok(&resp)
        }
        op::GET_ACL => {
            let r: jute::GetAclRequest = decode(body)?;
            ok(&tree.get_acl(&r.path, ids)?)
        }
        op::GET_ALL_CHILDREN_NUMBER => {
            let r: jute::GetAllChildrenNumberRequest = decode(body)?;
            ok(&tree.get_all_children_number(&r.path, ids)?)
        }
        _ => Err(err::UNIMPLEMENTED),
    }
}

/// multiRead. A request holding a non-read op is refused with MarshallingError. As
/// measured against ZooKeeper, it sends an empty MultiResponse body with the error when
/// no op is a read, and the error alone otherwise; a body that does not decode gets the
/// error alone too.
fn multi_read(tree: &DataTree, ids: &[AuthId], body: &[u8]) -> (i32, Bytes) {
    let Ok(req) = jute::MultiRequest::decode(body) else {
        return (err::MARSHALLING_ERROR, Bytes::new());
    };
    let is_read =
        |o: &jute::MultiOp| matches!(o, jute::MultiOp::GetData(_) | jute::MultiOp::GetChildren(_));
    if !req.ops.iter().all(is_read) {
        let body = if req.ops.iter().any(is_read) {
            Bytes::new()
        } else {
            jute::MultiResponse { results: vec![] }.encode().freeze()
        };
        return (err::MARSHALLING_ERROR, body);
    }
    match tree.multi_read(&req, ids) {
        Ok(resp) => (0, resp.encode().freeze()),
        Err(code) => (code, Bytes::new()),
    }
}

/// Re-register a reconnecting client's watches, and send at once the events it missed
/// while disconnected (compared with the last zxid it saw). ZooKeeper sends these
/// synthetic events with zxid -1, before the reply.
fn set_watches(
    tree: &DataTree,
    watches: &mut WatchManager,
    conn: &ConnHandle,
    w: &jute::SetWatches2,
) {
    use jute::event;
    let notify = |path: &str, event_type: i32| {
        let ev = jute::WatcherEvent {
            event_type,
            state: jute::keeper_state::SYNC_CONNECTED,
            path: path.to_string(),
        };
        let mut buf = BytesMut::new();
        ev.write(&mut buf);
        conn.reply(-1, -1, 0, buf.freeze());
    };
    for path in &w.data_watches {
        match tree.get(path) {
            None => notify(path, event::NODE_DELETED),
            Some(n) if n.stat.mzxid > w.relative_zxid => notify(path, event::NODE_DATA_CHANGED),
            Some(_) => watches.add_data_watch(conn.id, path),
        }
    }
    for path in &w.exist_watches {
        match tree.get(path) {
            Some(_) => notify(path, event::NODE_CREATED),
            None => watches.add_data_watch(conn.id, path),
        }
    }
    for path in &w.child_watches {
        match tree.get(path) {
            None => notify(path, event::NODE_DELETED),
            Some(n) if n.stat.pzxid > w.relative_zxid => notify(path, event::NODE_CHILDREN_CHANGED),
            Some(_) => watches.add_child_watch(conn.id, path),
        }
    }
    for path in &w.persistent_watches {
        watches.add_persistent(conn.id, path, false);
    }
    for path in &w.persistent_recursive_watches {
        watches.add_persistent(conn.id, path, true);
    }
}
