//! Atomic broadcast: every state change becomes a Raft log entry before it touches the tree.
//!
//! zkd uses openraft for ordering and durability. A standalone server is a single-voter
//! cluster that zkd initialises on first start, so the write path is the same code an
//! ensemble runs: propose → append (group-committed fsync) → commit → apply on every
//! replica in log order.
//!
//! * [`log_store`]: openraft's log over the segmented write-ahead log
//!   ([`crate::storage::wal`]): group-committed appends, recent entries kept in memory.
//! * [`state_machine`]: applies committed entries to the in-memory [`DataTree`] and hands
//!   each result to an [`ApplySink`] (the server) while the tree is still locked, so
//!   watch events are queued before anyone can read the new state.
//! * [`checkpoint`]: the tree written to fjall at an exact log index, every `snapCount`
//!   entries and at a clean stop; [`snapshot`]: that checkpoint as openraft's snapshot,
//!   streamed to members that fell behind.
//! * [`peer`]: zkd's framed TCP protocol between members (Raft RPCs, snapshot
//!   streaming, and what a ZooKeeper follower asks its leader: forwarded writes, sync
//!   read-indexes, session touches and revalidation).
//! * [`network`]: openraft's network factory over those peer links.
//!
//! zxid = `zxid_base` + log index. Log indexes only grow, across restarts and leader
//! changes, so zxids are strictly increasing forever; the base lets an import from
//! Apache ZooKeeper continue above its zxids.

pub mod checkpoint;
pub mod log_store;
pub mod network;
pub mod peer;
pub mod recover;
pub mod snapshot;
pub mod state_machine;
pub mod transport;

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

use openraft::impls::BasicNode;
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::storage::{io_err, Storage};
use crate::tree::{Applied, DataTree};
use crate::txn::Txn;

pub use state_machine::StateMachine;

/// A txn plus the token of the request waiting for it on the member that proposed it.
/// Apply ignores `origin`; the server uses it to route the result back to the connection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    pub origin: u64,
    pub txn: Txn,
}

impl std::fmt::Display for Proposal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "proposal(origin={}, session={:#x})",
            self.origin, self.txn.session_id
        )
    }
}

openraft::declare_raft_types!(
    pub TypeConfig:
        D = Proposal,
        R = (),
        Node = BasicNode,
);

pub type Raft = openraft::Raft<TypeConfig, StateMachine>;
pub type LogId = openraft::type_config::alias::LogIdOf<TypeConfig>;
pub type Entry = openraft::type_config::alias::EntryOf<TypeConfig>;
pub type Vote = openraft::type_config::alias::VoteOf<TypeConfig>;
pub type StoredMembership = openraft::type_config::alias::StoredMembershipOf<TypeConfig>;

/// Receives every applied txn. Called with the tree write-locked: whatever the sink
/// queues to connections is ordered before any later read of the new state and before
/// the proposer's own reply.
pub trait ApplySink: Send + Sync + 'static {
    fn applied(&self, tree: &DataTree, origin: u64, applied: Applied);
}

pub fn encode<T: Serialize>(value: &T) -> io::Result<Vec<u8>> {
    postcard::to_stdvec(value).map_err(io_err)
}

pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> io::Result<T> {
    postcard::from_bytes(bytes).map_err(io_err)
}

/// The zxid base of this state (zxid = base + log index), for reporting
/// (`/commands/last_snapshot`); 0 when never set.
pub fn zxid_base(storage: &Storage) -> i64 {
    storage
        .get(&storage.state, state_machine::ZXID_BASE)
        .ok()
        .flatten()
        .and_then(|b| decode(&b).ok())
        .unwrap_or(0)
}

/// Tunables that come from zoo.cfg.
pub struct ConsensusConfig {
    pub node_id: u64,
    pub snap_count: u64,
    /// The voters a pristine member initialises the cluster with (every voter of a new
    /// ensemble passes the same set, which openraft accepts); `None` for an observer,
    /// which waits to be added as a learner.
    pub initial_voters: Option<BTreeMap<u64, BasicNode>>,
    pub peers: Arc<network::Peers>,
}

/// Build the Raft node over `storage`, initialising the cluster on first start.
pub async fn start(
    cfg: &ConsensusConfig,
    storage: Storage,
    tree: Arc<RwLock<DataTree>>,
    sink: Arc<dyn ApplySink>,
) -> io::Result<Raft> {
    let raft_config = openraft::Config {
        cluster_name: "zkd".to_string(),
        // Failover within a second. A follower stands for election once the leader's
        // lease (openraft: election_timeout_max) has run out and then its own random
        // election timeout: 350 + 175..350 ms after the last heartbeat. Pre-vote keeps a
        // member that was cut off from disrupting the ensemble with a higher term when
        // it comes back.
        heartbeat_interval: 40,
        election_timeout_min: 175,
        election_timeout_max: 350,
        enable_pre_vote: Some(true),
        max_payload_entries: 256,
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(cfg.snap_count),
        max_in_snapshot_log_to_keep: 1000,
        purge_batch_size: 256,
        install_snapshot_timeout: 600_000,
        ..Default::default()
    }
    .validate()
    .map_err(io_err)?;
    let state_machine = StateMachine::open(storage.clone(), tree, sink)?;
    let applied_next = state_machine.applied_next();
    let from = applied_next.load(std::sync::atomic::Ordering::Acquire);
    let log_store = log_store::LogStore::open(storage, applied_next, from)?;
    let raft = Raft::new(
        cfg.node_id,
        Arc::new(raft_config),
        network::Network {
            peers: cfg.peers.clone(),
        },
        log_store,
        state_machine,
    )
    .await
    .map_err(io_err)?;
    if let Some(voters) = &cfg.initial_voters {
        if !raft.is_initialized().await.map_err(io_err)? {
            if let Err(e) = raft.initialize(voters.clone()).await {
                // Another voter's initialisation may have reached us first.
                tracing::info!("cluster initialisation: {e}");
            }
        }
    }
    Ok(raft)
}

/// Write a checkpoint of everything applied so far (a clean stop): the next start then
/// has no log to replay.
pub async fn checkpoint(raft: &Raft) -> io::Result<()> {
    raft.with_state_machine(|sm: &mut StateMachine| Box::pin(sm.checkpoint_now()))
        .await
        .map_err(io_err)?
}
