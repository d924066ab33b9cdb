//! Checkpoints: the tree written into fjall exactly as it is after one log entry.
//!
//! Apply changes only the in-memory tree and notes which nodes and sessions it touched
//! ([`Dirty`]). Every `snapCount` entries openraft asks the state machine for a snapshot;
//! between two applies (so at an exact log index: zkd's entries are validated at apply
//! time, so replaying them over a fuzzy state would not be idempotent) the state machine
//! [`Checkpoint::capture`]s the touched nodes, encoded, and the bookkeeping. One thread
//! then writes each checkpoint, in the order they were captured, as one atomic fjall
//! batch followed by a sync. Only after that does openraft hear the snapshot is done and
//! purge the log before it. A restart loads the checkpoint and replays the log after it.

use std::collections::HashSet;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;

use fjall::PersistMode;
use tokio::sync::oneshot;

use super::state_machine::{APPLIED, MEMBERSHIP, TREE_META, ZXID_BASE};
use super::{encode, LogId, StoredMembership};
use crate::storage::{io_err, Storage};
use crate::tree::{DataTree, Dirty, Znode};

/// What changed since the last checkpoint.
#[derive(Default)]
pub struct DirtySet {
    nodes: HashSet<String>,
    sessions: HashSet<i64>,
}

impl DirtySet {
    pub fn note(&mut self, dirty: Vec<Dirty>) {
        for d in dirty {
            match d {
                Dirty::Node(path) => {
                    self.nodes.insert(path);
                }
                Dirty::Session(id) => {
                    self.sessions.insert(id);
                }
            }
        }
    }

    pub fn clear(&mut self) {
        self.nodes.clear();
        self.sessions.clear();
    }
}

/// One checkpoint, captured and waiting to be written.
pub struct Checkpoint {
    pub applied: Option<LogId>,
    pub membership: StoredMembership,
    /// (last zxid, next session id)
    pub tree_meta: (i64, i64),
    pub zxid_base: i64,
    /// The node without its children (data and ACL shared with the tree, so capturing
    /// copies no bytes; encoding happens on the checkpoint thread), or `None` for a
    /// deleted one.
    nodes: Vec<(String, Option<Znode>)>,
    /// Timeout, or `None` for a closed session.
    sessions: Vec<(i64, Option<i32>)>,
    /// How long the capture held up apply.
    captured_in: std::time::Duration,
}

impl Checkpoint {
    /// Take what `dirty` names from `tree` (emptying `dirty`).
    pub fn capture(
        tree: &DataTree,
        dirty: &mut DirtySet,
        applied: Option<LogId>,
        membership: StoredMembership,
        zxid_base: i64,
    ) -> Checkpoint {
        let started = Instant::now();
        // In byte order: siblings come together, so each directory is resolved once
        // and its child map is walked in order (and fjall takes sorted keys faster).
        let mut paths: Vec<String> = dirty.nodes.drain().collect();
        paths.sort_unstable();
        let found: Vec<Option<Znode>> = tree
            .get_sorted(&paths)
            .into_iter()
            .map(|n| n.map(Znode::without_children))
            .collect();
        let nodes = paths.into_iter().zip(found).collect();
        let sessions = dirty
            .sessions
            .drain()
            .map(|id| (id, tree.session(id).map(|s| s.timeout_ms)))
            .collect();
        Checkpoint {
            applied,
            membership,
            tree_meta: (tree.last_zxid(), tree.next_session_id()),
            zxid_base,
            nodes,
            sessions,
            captured_in: started.elapsed(),
        }
    }

    /// One atomic batch, then a sync.
    fn write(&self, storage: &Storage) -> io::Result<()> {
        let mut batch = storage.db.batch();
        for (path, node) in &self.nodes {
            match node {
                Some(node) => batch.insert(&storage.nodes, path.as_bytes(), &node.encode()[..]),
                None => batch.remove(&storage.nodes, path.as_bytes()),
            }
        }
        for (id, timeout) in &self.sessions {
            match timeout {
                Some(t) => batch.insert(&storage.sessions, id.to_be_bytes(), t.to_be_bytes()),
                None => batch.remove(&storage.sessions, id.to_be_bytes()),
            }
        }
        put_bookkeeping(
            &mut batch,
            storage,
            &self.applied,
            &self.membership,
            self.tree_meta,
            self.zxid_base,
        )?;
        crate::storage::failpoint::pause("checkpoint-before-commit");
        batch.commit().map_err(io_err)?;
        crate::storage::failpoint::pause("checkpoint-before-sync");
        storage.db.persist(PersistMode::SyncAll).map_err(io_err)
    }
}

/// The keys that make the tree keyspaces a checkpoint at `applied`, for the batch that
/// writes them: one place for checkpoints and snapshot installs.
pub(super) fn put_bookkeeping(
    batch: &mut fjall::OwnedWriteBatch,
    storage: &Storage,
    applied: &Option<LogId>,
    membership: &StoredMembership,
    tree_meta: (i64, i64),
    zxid_base: i64,
) -> io::Result<()> {
    batch.insert(&storage.state, APPLIED, encode(applied)?);
    batch.insert(&storage.state, MEMBERSHIP, encode(membership)?);
    batch.insert(&storage.state, TREE_META, encode(&tree_meta)?);
    batch.insert(&storage.state, ZXID_BASE, encode(&zxid_base)?);
    Ok(())
}

type Job = Box<dyn FnOnce(&Storage) + Send>;

/// The one thread that writes the tree's keyspaces: checkpoints, one at a time, in the
/// order they were captured, and the installs of snapshots received from a leader. One
/// queue for both, so a checkpoint captured before an install can never land after it.
#[derive(Clone)]
pub struct Checkpointer {
    tx: mpsc::Sender<Job>,
    /// Set by the first checkpoint that fails: it took its dirty set with it, so no later
    /// checkpoint may claim a newer index (the log after the last good one stays).
    failed: Arc<AtomicBool>,
}

impl Checkpointer {
    pub fn start(storage: Storage) -> io::Result<Checkpointer> {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("zkd-checkpoint".into())
            .spawn(move || {
                for job in rx {
                    job(&storage);
                }
            })?;
        Ok(Checkpointer {
            tx,
            failed: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Queue a checkpoint; the receiver says when it is durable.
    pub fn submit(&self, checkpoint: Checkpoint) -> oneshot::Receiver<io::Result<()>> {
        let failed = self.failed.clone();
        self.run(move |storage| {
            if failed.load(Ordering::Acquire) {
                return Err(io::Error::other(
                    "an earlier checkpoint failed; no later one may be written",
                ));
            }
            let result = write_logged(storage, &checkpoint);
            if result.is_err() {
                failed.store(true, Ordering::Release);
            }
            result
        })
    }

    /// Run `job` on the checkpoint thread after everything queued before it.
    pub fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&Storage) -> io::Result<T> + Send + 'static,
    ) -> oneshot::Receiver<io::Result<T>> {
        let (reply, rx) = oneshot::channel();
        let job: Job = Box::new(move |storage| {
            let _ = reply.send(job(storage));
        });
        if let Err(mpsc::SendError(job)) = self.tx.send(job) {
            // The thread is gone: dropping the job drops `reply`, and the receiver says so.
            drop(job);
        }
        rx
    }
}

fn write_logged(storage: &Storage, c: &Checkpoint) -> io::Result<()> {
    let started = Instant::now();
    let index = c.applied.map_or(0, |l| l.index);
    let removed = c.nodes.iter().filter(|(_, n)| n.is_none()).count();
    let result = c.write(storage);
    match &result {
        Ok(()) => {
            // ZooKeeper's snapshottime (mntr)
            crate::admin::metrics::SNAPSHOT_TIME.time(started.elapsed());
            tracing::info!(
                index,
                last_zxid = format_args!("{:#x}", c.tree_meta.0),
                "checkpoint written: {} nodes changed, {removed} deleted, {} sessions; \
                 captured in {} ms, written in {} ms",
                c.nodes.len() - removed,
                c.sessions.len(),
                c.captured_in.as_millis(),
                started.elapsed().as_millis()
            );
        }
        Err(e) => {
            crate::admin::metrics::SNAPSHOT_ERROR_COUNT.inc();
            tracing::error!(index, "checkpoint failed: {e}");
        }
    }
    result
}
