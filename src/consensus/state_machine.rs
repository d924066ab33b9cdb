//! The replicated state machine: committed entries → [`DataTree::apply`] → fjall.
//!
//! The tree lives in memory (reads never touch disk) and every apply writes the nodes
//! and sessions it changed, plus the applied log id, to fjall in one atomic batch. The
//! batch is not synced by itself: it shares fjall's journal with the Raft log, and the
//! entries it comes from were synced before they were committed. After a crash the
//! journal replays to a consistent prefix, and openraft re-applies the log after the
//! recovered applied id. Snapshots (which let the log be purged) sync first.

use std::io;
use std::sync::Arc;

use futures::{Stream, TryStreamExt};
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::EntryPayload;
use parking_lot::RwLock;

use super::snapshot::{self, SnapshotBuilder, SnapshotData};
use super::{decode, encode, ApplySink, LogId, StoredMembership, TypeConfig};
use crate::storage::{io_err, Storage};
use crate::tree::{DataTree, Dirty, SessionInfo, Znode};

pub(super) const APPLIED: &[u8] = b"applied";
pub(super) const MEMBERSHIP: &[u8] = b"membership";
/// (last zxid, next session id): what the tree needs besides its nodes and sessions.
pub(super) const TREE_META: &[u8] = b"tree_meta";
pub(super) const ZXID_BASE: &[u8] = b"zxid_base";

pub struct StateMachine {
    storage: Storage,
    tree: Arc<RwLock<DataTree>>,
    sink: Arc<dyn ApplySink>,
    applied: Option<LogId>,
    membership: StoredMembership,
    zxid_base: i64,
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
            let loaded = load_tree(&storage, &tree.read(), last_zxid, next_session_id)?;
            *tree.write() = loaded;
        }
        Ok(StateMachine {
            storage,
            tree,
            sink,
            applied,
            membership,
            zxid_base,
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
    let mut nodes = Vec::new();
    for guard in storage.nodes.iter() {
        let (k, v) = guard.into_inner().map_err(io_err)?;
        let path = String::from_utf8(k.to_vec()).map_err(io_err)?;
        nodes.push((path, Znode::decode(&v).map_err(io_err)?));
    }
    let mut sessions = Vec::new();
    for guard in storage.sessions.iter() {
        let (k, v) = guard.into_inner().map_err(io_err)?;
        let id = i64::from_be_bytes(k.as_ref().try_into().map_err(io_err)?);
        let timeout_ms = i32::from_be_bytes(v.as_ref().try_into().map_err(io_err)?);
        sessions.push((id, SessionInfo { timeout_ms }));
    }
    Ok(DataTree::from_parts(
        template.config().clone(),
        nodes.into_iter(),
        sessions.into_iter(),
        last_zxid,
        next_session_id,
    ))
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
        let st = &self.storage;
        let mut batch = st.db.batch();
        // Written once per batch: every key version costs a memtable insert.
        let mut tree_meta = None;
        while let Some((entry, responder)) = entries.try_next().await? {
            let log_id = entry.log_id;
            match entry.payload {
                EntryPayload::Normal(proposal) => {
                    let zxid = self.zxid_base + log_id.index as i64;
                    let mut tree = self.tree.write();
                    let started = std::time::Instant::now();
                    let applied = tree.apply(zxid, &proposal.txn);
                    // commit_count (mntr), zkd_apply_seconds (/metrics)
                    crate::admin::metrics::applied(started.elapsed());
                    for dirty in &applied.dirty {
                        match dirty {
                            Dirty::Node(path) => match tree.get(path) {
                                Some(node) => {
                                    batch.insert(&st.nodes, path.as_bytes(), node.encode().to_vec())
                                }
                                None => batch.remove(&st.nodes, path.as_bytes()),
                            },
                            Dirty::Session(id) => match tree.session(*id) {
                                Some(s) => batch.insert(
                                    &st.sessions,
                                    id.to_be_bytes(),
                                    s.timeout_ms.to_be_bytes(),
                                ),
                                None => batch.remove(&st.sessions, id.to_be_bytes()),
                            },
                        }
                    }
                    tree_meta = Some((tree.last_zxid(), tree.next_session_id()));
                    self.sink.applied(&tree, proposal.origin, applied);
                }
                EntryPayload::Membership(m) => {
                    self.membership = StoredMembership::new(Some(log_id), m);
                    batch.insert(&st.state, MEMBERSHIP, encode(&self.membership)?);
                }
                EntryPayload::Blank => {}
            }
            self.applied = Some(log_id);
            if let Some(responder) = responder {
                responder.send(());
            }
        }
        if let Some(meta) = tree_meta {
            batch.insert(&st.state, TREE_META, encode(&meta)?);
        }
        batch.insert(&st.state, APPLIED, encode(&self.applied)?);
        batch.commit().map_err(io_err)
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        SnapshotBuilder::new(self.storage.clone())
    }

    async fn install_snapshot(
        &mut self,
        meta: &openraft::type_config::alias::SnapshotMetaOf<TypeConfig>,
        snapshot: SnapshotData,
    ) -> Result<(), io::Error> {
        let contents = snapshot::read(snapshot)?;
        snapshot::replace_state(&self.storage, meta, &contents)?;
        let loaded = load_tree(
            &self.storage,
            &self.tree.read(),
            contents.last_zxid,
            contents.next_session_id,
        )?;
        *self.tree.write() = loaded;
        self.applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        self.zxid_base = contents.zxid_base;
        snapshot::save_current(&self.storage, meta)?;
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<openraft::type_config::alias::SnapshotOf<TypeConfig, SnapshotData>>, io::Error>
    {
        snapshot::current(&self.storage)
    }
}
