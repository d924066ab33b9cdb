//! Replacing the whole tree at one zxid: the AdminServer's `restore` command.
//!
//! Apache ZooKeeper's `/commands/restore` swaps the database of the one server it is
//! sent to. In zkd it is a txn ([`TxnKind::Restore`](crate::txn::TxnKind::Restore)):
//! every member replaces its tree when it applies that log entry, so the ensemble stays
//! one tree, and a restart that replays the entry ends where the others are.
//!
//! What is kept from the tree being replaced: `/zookeeper/config` (the membership is
//! the ensemble's, not the snapshot's) and the session-id counter (ids already in the
//! restored table are skipped when sessions are created, as after an import).

use bytes::Bytes;
use jute::err;

use super::path::CONFIG_PATH;
use super::{Applied, DataTree, Dirty, Reply, SessionInfo, Znode};

impl DataTree {
    pub(super) fn restore(
        &mut self,
        zxid: i64,
        sessions: &[(i64, i32)],
        nodes: &[(String, Bytes)],
    ) -> Applied {
        // Everything decodes before anything changes: a bad entry fails the txn whole.
        let mut decoded = Vec::with_capacity(nodes.len() + 1);
        for (path, bytes) in nodes {
            if path == CONFIG_PATH {
                continue;
            }
            match Znode::decode(bytes) {
                Ok(node) => decoded.push((path.clone(), node)),
                Err(_) => {
                    return Applied::reply_only(
                        zxid,
                        Reply::Response {
                            err: err::MARSHALLING_ERROR,
                            body: Bytes::new(),
                        },
                    )
                }
            }
        }
        if let Some(config) = self.get(CONFIG_PATH) {
            let kept = config.without_children();
            decoded.push((CONFIG_PATH.to_string(), kept));
            decoded.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        }
        // The checkpoint rewrites every node and session of either tree: those only in
        // the old one are deleted there.
        let mut dirty: Vec<Dirty> = self.iter_nodes().map(|(p, _)| Dirty::Node(p)).collect();
        dirty.extend(self.sessions.keys().map(|&id| Dirty::Session(id)));
        let restored = DataTree::from_parts(
            self.config.clone(),
            decoded.into_iter(),
            sessions
                .iter()
                .map(|&(id, timeout_ms)| (id, SessionInfo { timeout_ms })),
            zxid,
            self.next_session_id,
        );
        *self = restored;
        dirty.extend(self.iter_nodes().map(|(p, _)| Dirty::Node(p)));
        dirty.extend(self.sessions.keys().map(|&id| Dirty::Session(id)));
        Applied {
            zxid,
            reply: Reply::Restored,
            triggers: Vec::new(),
            dirty,
            closed_session: None,
            quota_exceeded: Vec::new(),
        }
    }
}
