//! `zkd recover --force-new-cluster`: the way out when a quorum is lost for good.
//!
//! Membership lives in the Raft log, not in zoo.cfg, so an ensemble that lost a majority
//! of its voters cannot elect a leader again, whatever its files say. Recovery turns
//! one surviving member's data into a new single-member ensemble:
//!
//! 1. every entry in its log is applied (including ones it had appended but never saw
//!    committed: like etcd's force-new-cluster, the survivor's log is the truth now);
//! 2. the Raft log, vote and membership are dropped, and the tree is kept with a zxid
//!    base at its last zxid, so zxids keep growing exactly as after an import;
//! 3. a marker makes the next start initialise a cluster of this member alone and then
//!    add the other voters of zoo.cfg back, one by one, as they come up with empty data
//!    dirs (each catches up by snapshot).
//!
//! Run it on a stopped member; run it on one member only.

use std::io;
use std::sync::Arc;

use openraft::storage::{RaftLogReader, RaftStateMachine};
use parking_lot::RwLock;

use super::state_machine::{self, StateMachine, APPLIED, MEMBERSHIP};
use super::{ApplySink, LogId};
use crate::storage::{io_err, Storage};
use crate::tree::{Applied, DataTree, TreeConfig};

/// Present (in the `state` keyspace) on a member recovered by force-new-cluster until
/// every voter of its zoo.cfg is back in the membership.
pub const REJOIN_CONFIGURED: &[u8] = b"rejoin_configured";

struct Discard;

impl ApplySink for Discard {
    fn applied(&self, _tree: &DataTree, _origin: u64, _applied: Applied) {}
}

/// What recovery did, for the operator.
pub struct Recovered {
    pub replayed: usize,
    pub last_zxid: i64,
    pub znodes: usize,
}

pub async fn force_new_cluster(
    storage: &Storage,
    tree_config: TreeConfig,
) -> io::Result<Recovered> {
    let tree = Arc::new(RwLock::new(DataTree::new(tree_config)));
    let mut sm = StateMachine::open(storage.clone(), tree.clone(), Arc::new(Discard))?;
    let (applied, _) = sm.applied_state().await?;
    let from = applied.map_or(0, |l: LogId| l.index + 1);
    let mut reader = super::log_store::LogStore::open(storage.clone(), sm.applied_next(), from)?;
    let entries = reader.try_get_log_entries(from..).await?;
    let replayed = entries.len();
    sm.apply(futures::stream::iter(
        entries.into_iter().map(|e| Ok::<_, io::Error>((e, None))),
    ))
    .await?;
    let (last_zxid, next_session_id, znodes) = {
        let t = tree.read();
        (t.last_zxid(), t.next_session_id(), t.node_count())
    };
    // The replayed tree becomes the checkpoint; then the log goes.
    sm.checkpoint_now().await?;
    storage.log.clear().await?;
    storage.raft.clear().map_err(io_err)?;
    let mut batch = storage.db.batch();
    batch.remove(&storage.state, APPLIED);
    batch.remove(&storage.state, MEMBERSHIP);
    batch.insert(&storage.state, REJOIN_CONFIGURED, [1u8]);
    batch.commit().map_err(io_err)?;
    let snapshots = storage.dir.join("snapshots");
    if snapshots.exists() {
        std::fs::remove_dir_all(&snapshots)?;
    }
    state_machine::seed_imported_state(storage, last_zxid, next_session_id)?;
    Ok(Recovered {
        replayed,
        last_zxid,
        znodes,
    })
}

/// Whether this member was recovered and still has configured voters to add back.
pub fn rejoin_pending(storage: &Storage) -> bool {
    storage
        .get(&storage.state, REJOIN_CONFIGURED)
        .ok()
        .flatten()
        .is_some()
}

pub fn rejoin_done(storage: &Storage) -> io::Result<()> {
    storage.state.remove(REJOIN_CONFIGURED).map_err(io_err)?;
    storage.sync()
}
