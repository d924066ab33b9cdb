//! The replicated state machine: committed entries → [`DataTree::apply`].
//!
//! The tree lives in memory (reads never touch disk). Apply writes nothing to disk: the
//! entry is already durable in the log, and apply only notes which nodes and sessions
//! changed. Every `snapCount` entries, and at a clean stop, the state machine writes a
//! checkpoint of those changes (see [`super::checkpoint`]); that checkpoint is also the
//! snapshot openraft purges the log behind and sends to lagging members. A restart
//! loads the checkpoint and openraft re-applies the committed log after it.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures::{Stream, TryStreamExt};
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::EntryPayload;
use parking_lot::RwLock;

use super::checkpoint::{Checkpoint, Checkpointer, DirtySet};
use super::snapshot::{self, SnapshotData};
use super::{decode, encode, ApplySink, LogId, StoredMembership, TypeConfig};
use crate::storage::{io_err, Storage};
use crate::tree::{DataTree, SessionInfo, Znode};
use crate::txn::TxnKind;

pub(super) const APPLIED: &[u8] = b"applied";
pub(super) const MEMBERSHIP: &[u8] = b"membership";
/// (last zxid, next session id): what the tree needs besides its nodes and sessions.
pub(super) const TREE_META: &[u8] = b"tree_meta";
pub(super) const ZXID_BASE: &[u8] = b"zxid_base";

type Snapshot = openraft::type_config::alias::SnapshotOf<TypeConfig, SnapshotData>;

pub struct StateMachine {
    storage: Storage,
    tree: Arc<RwLock<DataTree>>,
    sink: Arc<dyn ApplySink>,
    applied: Option<LogId>,
    /// One past `applied`'s index, for the log store (which may drop applied entries
    /// from memory).
    applied_next: Arc<AtomicU64>,
    membership: StoredMembership,
    zxid_base: i64,
    /// Changed since the last checkpoint was captured.
    dirty: DirtySet,
    checkpointer: Checkpointer,
}

impl StateMachine {
    /// Load the persisted tree into `tree` and return the state machine over it.
    pub fn open(
        storage: Storage,
        tree: Arc<RwLock<DataTree>>,
        sink: Arc<dyn ApplySink>,
    ) -> io::Result<StateMachine> {
        let get = |key: &[u8]| storage.get(&storage.state, key);
        let applied: Option<LogId> = match get(APPLIED)? {
            Some(b) => decode(&b)?,
            None => None,
        };
        let membership: StoredMembership = match get(MEMBERSHIP)? {
            Some(b) => decode(&b)?,
            None => StoredMembership::default(),
        };
        let zxid_base: i64 = match get(ZXID_BASE)? {
            Some(b) => decode(&b)?,
            None => 0,
        };
        if let Some(meta) = get(TREE_META)? {
            let (last_zxid, next_session_id): (i64, i64) = decode(&meta)?;
            let started = std::time::Instant::now();
            let loaded = load_tree(&storage, &tree.read(), last_zxid, next_session_id)?;
            tracing::info!(
                applied = applied.map_or(0, |l| l.index),
                "checkpoint loaded: {} znodes in {} ms",
                loaded.node_count(),
                started.elapsed().as_millis()
            );
            *tree.write() = loaded;
        }
        // Spooled snapshot streams of an earlier run (and layout 1's snapshot files).
        if let Ok(entries) = std::fs::read_dir(snapshot::spool_dir(&storage)) {
            for entry in entries.flatten() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let checkpointer = Checkpointer::start(storage.clone())?;
        Ok(StateMachine {
            storage,
            tree,
            sink,
            applied_next: Arc::new(AtomicU64::new(applied.map_or(0, |l| l.index + 1))),
            applied,
            membership,
            zxid_base,
            dirty: DirtySet::default(),
            checkpointer,
        })
    }

    /// One past the applied index, kept current (for the log store).
    pub fn applied_next(&self) -> Arc<AtomicU64> {
        self.applied_next.clone()
    }

    /// Write a checkpoint of everything applied so far and wait until it is durable
    /// (clean shutdown, `zkd recover`).
    pub async fn checkpoint_now(&mut self) -> io::Result<()> {
        let done = self.submit_checkpoint();
        done.await.map_err(io_err)?
    }

    fn submit_checkpoint(&mut self) -> tokio::sync::oneshot::Receiver<io::Result<()>> {
        let checkpoint = Checkpoint::capture(
            &self.tree.read(),
            &mut self.dirty,
            self.applied,
            self.membership.clone(),
            self.zxid_base,
        );
        self.checkpointer.submit(checkpoint)
    }
}

/// Builds openraft's snapshot: the checkpoint captured when openraft asked for it.
pub struct SnapshotBuilder {
    storage: Storage,
    meta: SnapshotMetaOf,
    written: Option<tokio::sync::oneshot::Receiver<io::Result<()>>>,
}

type SnapshotMetaOf = openraft::type_config::alias::SnapshotMetaOf<TypeConfig>;

impl openraft::storage::RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    type SnapshotData = SnapshotData;

    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        if let Some(written) = self.written.take() {
            written.await.map_err(io_err)??;
        }
        Ok(Snapshot {
            meta: self.meta.clone(),
            snapshot: SnapshotData::Checkpoint {
                view: self.storage.db.snapshot(),
                storage: self.storage.clone(),
            },
        })
    }
}

/// Hook for `zkd import` (src/migrate): after the importer has filled the `nodes` and
/// `sessions` keyspaces of a fresh data dir, record the tree's bookkeeping and set
/// `zxid_base = last_zxid`. A fresh data dir has an empty Raft log whose first indexes
/// are small, and zxid = zxid_base + log index, so this base is what keeps every zxid
/// zkd hands out above the imported ones. APPLIED and MEMBERSHIP are left unset on
/// purpose: [`StateMachine::open`] loads the tree from TREE_META, openraft sees an
/// uninitialised node, and [`super::start`] initialises a single-voter cluster exactly
/// as on any first start.
pub fn seed_imported_state(
    storage: &Storage,
    last_zxid: i64,
    next_session_id: i64,
) -> io::Result<()> {
    let mut batch = storage.db.batch();
    batch.insert(
        &storage.state,
        TREE_META,
        encode(&(last_zxid, next_session_id))?,
    );
    batch.insert(&storage.state, ZXID_BASE, encode(&last_zxid)?);
    batch.commit().map_err(io_err)?;
    storage.sync()
}

/// Hook for `zkd export` (src/migrate): the persisted (last zxid, next session id) and
/// the Raft index the `nodes`/`sessions` keyspaces reflect, so the exporter can refuse
/// a data dir whose log holds entries not applied yet. `None` if no tree was ever
/// persisted.
pub fn persisted_tree_meta(storage: &Storage) -> io::Result<Option<(i64, i64, Option<u64>)>> {
    let Some(meta) = storage.get(&storage.state, TREE_META)? else {
        return Ok(None);
    };
    let (last_zxid, next_session_id): (i64, i64) = decode(&meta)?;
    let applied: Option<LogId> = match storage.get(&storage.state, APPLIED)? {
        Some(b) => decode(&b)?,
        None => None,
    };
    Ok(Some((last_zxid, next_session_id, applied.map(|l| l.index))))
}

/// Rebuild the tree from the `nodes` and `sessions` keyspaces.
fn load_tree(
    storage: &Storage,
    template: &DataTree,
    last_zxid: i64,
    next_session_id: i64,
) -> io::Result<DataTree> {
    let mut sessions = Vec::new();
    for guard in storage.sessions.iter() {
        let (k, v) = guard.into_inner().map_err(io_err)?;
        let id = i64::from_be_bytes(k.as_ref().try_into().map_err(io_err)?);
        let timeout_ms = i32::from_be_bytes(v.as_ref().try_into().map_err(io_err)?);
        sessions.push((id, SessionInfo { timeout_ms }));
    }
    // Streamed into the tree (storage yields parents first), so a million nodes are
    // never held twice, and on two threads: one scans and decodes while this one
    // builds the tree (together ~1.1 µs per node on one). The first bad entry ends
    // the scan and fails the load.
    const BATCH: usize = 4096;
    std::thread::scope(|scope| {
        // Inside the scope: if building panics, `rx` is dropped while unwinding, the
        // scanner's next send fails and the scope can join it.
        let (tx, rx) = std::sync::mpsc::sync_channel::<io::Result<Vec<(String, Znode)>>>(4);
        scope.spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            for guard in storage.nodes.iter() {
                let node = guard.into_inner().map_err(io_err).and_then(|(k, v)| {
                    let path = String::from_utf8(k.to_vec()).map_err(io_err)?;
                    Ok((path, Znode::decode(&v).map_err(io_err)?))
                });
                match node {
                    Ok(node) => batch.push(node),
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
                if batch.len() == BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    if tx.send(Ok(full)).is_err() {
                        return;
                    }
                }
            }
            let _ = tx.send(Ok(batch));
        });
        let mut failure = None;
        let nodes = rx
            .iter()
            .map_while(|batch| batch.map_err(|e| failure = Some(e)).ok())
            .flatten();
        let tree = DataTree::from_parts(
            template.config().clone(),
            nodes,
            sessions.into_iter(),
            last_zxid,
            next_session_id,
        );
        match failure {
            Some(e) => Err(e),
            None => Ok(tree),
        }
    })
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        Ok((self.applied, self.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + Send,
    {
        while let Some((entry, responder)) = entries.try_next().await? {
            let log_id = entry.log_id;
            let mut restored = false;
            match entry.payload {
                EntryPayload::Normal(proposal) => {
                    if let TxnKind::Restore { last_zxid, .. } = &proposal.txn.kind {
                        restored = true;
                        // The restored tree's zxids may be anyone's (a ZooKeeper
                        // snapshot's): every zxid from this entry on stays above them,
                        // so zxids never go back and no stat is from the future.
                        let floor = last_zxid
                            .saturating_add(1)
                            .saturating_sub(log_id.index as i64);
                        self.zxid_base = self.zxid_base.max(floor);
                    }
                    // Saturating: an entry must never panic the apply of every replica
                    // (the restore refuses zxids anywhere near the limit).
                    let zxid = self.zxid_base.saturating_add(log_id.index as i64);
                    let mut tree = self.tree.write();
                    let started = std::time::Instant::now();
                    let mut applied = tree.apply(zxid, &proposal.txn);
                    // commit_count (mntr), zkd_apply_seconds (/metrics)
                    crate::admin::metrics::applied(started.elapsed());
                    self.dirty.note(std::mem::take(&mut applied.dirty));
                    if crate::storage::failpoint::reached("apply-diverge") {
                        diverge(&mut tree, zxid);
                    }
                    self.sink.applied(&tree, proposal.origin, applied);
                }
                EntryPayload::Membership(m) => {
                    self.membership = StoredMembership::new(Some(log_id), m);
                }
                EntryPayload::Blank => {}
            }
            self.applied = Some(log_id);
            self.applied_next.store(log_id.index + 1, Ordering::Release);
            if restored {
                // Every node changed: checkpoint now rather than hold the whole tree's
                // paths as dirty, and the restore itself, until snapCount more entries.
                drop(self.submit_checkpoint());
            }
            if let Some(responder) = responder {
                responder.send(());
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        // Between two applies: the checkpoint is exact at `applied`.
        let written = self.submit_checkpoint();
        SnapshotBuilder {
            storage: self.storage.clone(),
            meta: SnapshotMetaOf {
                last_log_id: self.applied,
                last_membership: self.membership.clone(),
            },
            written: Some(written),
        }
    }

    async fn install_snapshot(
        &mut self,
        meta: &openraft::type_config::alias::SnapshotMetaOf<TypeConfig>,
        snapshot: SnapshotData,
    ) -> Result<(), io::Error> {
        let file = snapshot.into_file().await?;
        let meta_owned = meta.clone();
        // On the checkpoint thread, after any checkpoint captured before this install.
        let contents = self
            .checkpointer
            .run(move |storage| {
                let contents = snapshot::read(file)?;
                snapshot::install(storage, &meta_owned, &contents)?;
                Ok(contents)
            })
            .await
            .map_err(|_| io::Error::other("the checkpoint thread has stopped"))??;
        let loaded = tree_from_snapshot(&self.tree.read(), contents)?;
        *self.tree.write() = loaded.0;
        self.dirty.clear();
        self.applied = meta.last_log_id;
        self.applied_next.store(
            meta.last_log_id.map_or(0, |l| l.index + 1),
            Ordering::Release,
        );
        self.membership = meta.last_membership.clone();
        self.zxid_base = loaded.1;
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        snapshot::current(&self.storage)
    }
}

/// Failpoint `apply-diverge`: this member alone gets a node the others do not have, the
/// divergence the digest checks exist to catch (crash tests arm it on one member).
fn diverge(tree: &mut DataTree, zxid: i64) {
    use jute::Record;
    let mut body = bytes::BytesMut::new();
    jute::CreateRequest {
        path: "/zkd-failpoint-diverged".into(),
        data: None,
        acl: jute::ids::open_acl_unsafe(),
        flags: 0,
    }
    .write(&mut body);
    let txn = crate::txn::Txn {
        session_id: 0,
        cxid: 0,
        time_ms: 0,
        auth: Vec::new(),
        kind: TxnKind::Request {
            op: jute::op::CREATE,
            body: body.freeze(),
        },
    };
    tree.apply(zxid, &txn);
    tracing::warn!("failpoint apply-diverge: this member's tree now differs");
}

/// The tree a received snapshot describes, and its zxid base.
fn tree_from_snapshot(
    template: &DataTree,
    c: snapshot::SnapshotContents,
) -> io::Result<(DataTree, i64)> {
    let mut nodes = Vec::with_capacity(c.nodes.len());
    for (path, node) in c.nodes {
        let path = String::from_utf8(path).map_err(io_err)?;
        nodes.push((path, Znode::decode(&node).map_err(io_err)?));
    }
    let sessions = c
        .sessions
        .into_iter()
        .map(|(id, timeout_ms)| (id, SessionInfo { timeout_ms }));
    Ok((
        DataTree::from_parts(
            template.config().clone(),
            nodes.into_iter(),
            sessions,
            c.last_zxid,
            c.next_session_id,
        ),
        c.zxid_base,
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use jute::StatPersisted;

    use super::*;
    use crate::tree::TreeConfig;

    /// A data dir whose checkpoint holds `/n/0..count` (more than one batch of the
    /// two-thread load), with `damage` applied to the value of `/n/<at>` if given.
    fn checkpoint_with(count: usize, damaged: Option<usize>) -> (tempfile::TempDir, Storage) {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path()).unwrap();
        let node = |data: &[u8]| {
            Znode::new(
                Some(Arc::from(data)),
                Arc::new(jute::ids::open_acl_unsafe()),
                StatPersisted::default(),
            )
            .encode()
            .to_vec()
        };
        storage.nodes.insert("/n", node(b"")).unwrap();
        for i in 0..count {
            let mut value = node(format!("{i}").as_bytes());
            if damaged == Some(i) {
                value.truncate(value.len() - 3);
            }
            storage.nodes.insert(format!("/n/{i}"), value).unwrap();
        }
        (dir, storage)
    }

    #[test]
    fn a_checkpoint_loads_on_two_threads_in_full() {
        let (_dir, storage) = checkpoint_with(10_000, None);
        let template = DataTree::new(TreeConfig::default());
        let tree = load_tree(&storage, &template, 7, 0).unwrap();
        assert_eq!(tree.node_count(), 4 + 1 + 10_000);
        assert_eq!(
            tree.get("/n/9999").and_then(|n| n.data.clone()).as_deref(),
            Some(&b"9999"[..])
        );
        assert_eq!(tree.last_zxid(), 7);
    }

    #[test]
    fn a_damaged_checkpoint_entry_fails_the_load_instead_of_dropping_nodes() {
        // Past the first batch, so the scanner thread is mid-stream when it fails.
        let (_dir, storage) = checkpoint_with(10_000, Some(6_000));
        let template = DataTree::new(TreeConfig::default());
        assert!(load_tree(&storage, &template, 7, 0).is_err());
    }
}
