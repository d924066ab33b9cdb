//! What a member of an ensemble does beyond a standalone server: ZooKeeper's
//! follower/leader protocol expressed on top of Raft.
//!
//! * Writes arriving at a follower are forwarded to the leader ([`AppRequest::Propose`]);
//!   the reply still comes from the follower's own apply, so a session reads its writes.
//! * `sync` is a read-index barrier: the leader confirms it still leads a quorum and
//!   names a log index; the member answers once it has applied that far.
//! * Sessions are ensemble-wide. Members report the sessions they heard from each
//!   half-tick; only the leader expires sessions; a new leader restarts every clock, as
//!   ZooKeeper's does. A reattach is checked with the leader, never against a replica's
//!   possibly stale copy, and makes the member the session's owner: a write arriving on
//!   a stale connection elsewhere is refused (ZooKeeper's SessionMoved).
//! * A member that has not heard from a quorum for syncLimit × tickTime drops its
//!   clients, so nobody keeps acting on a lock the majority may already have expired.
//! * When the leader changes, writes this member forwarded may be lost: their
//!   connections are closed (the client sees ConnectionLoss and reconnects with its
//!   session), as a ZooKeeper follower does when its leader goes away.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use openraft::async_runtime::WatchReceiver;
use openraft::impls::BasicNode;
use parking_lot::Mutex;

use super::Server;
use crate::consensus::network::Peers;
use crate::consensus::peer::{
    AppError, AppRequest, AppResponse, LeaderContact, PeerService, LOCAL_SESSIONS,
    RESTORE_AND_DIGEST_CHECK,
};
use crate::consensus::{Proposal, Raft};
use crate::storage::io_err;
use crate::txn::TxnKind;

/// How long a forwarded request may take at the leader (a reconfig: see
/// [`super::reconfig::FORWARDED_RECONFIG_TIMEOUT`]).
const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a write waits for an election to finish before its connection is closed.
const LEADER_WAIT: Duration = Duration::from_secs(3);

/// A member's ensemble state (absent on a standalone server).
pub struct Ensemble {
    pub peers: Arc<Peers>,
    pub leader_contact: Arc<LeaderContact>,
    /// Whether this member is part of a working quorum (else it serves no clients).
    in_quorum: AtomicBool,
    /// How many times this member started serving (joined a working quorum): a leader
    /// that lost its quorum and got it back restarts every session's clock too.
    serving_since: AtomicU64,
    /// Leader only: the member each session is attached to.
    owners: Mutex<HashMap<i64, u64>>,
    /// One reconfig at a time.
    pub reconfig: tokio::sync::Mutex<()>,
    /// The feature level ([`crate::consensus::peer::FEATURES`]) each member's latest
    /// frame to this one carried, and when (the leader hears from every member).
    features: Mutex<HashMap<u64, (u32, Instant)>>,
}

/// How recently a member must have said what it understands for it to count: a member
/// that is down may come back running an older release.
const FEATURES_FRESH: Duration = Duration::from_secs(10);

impl Ensemble {
    pub fn new(peers: Arc<Peers>) -> Ensemble {
        Ensemble {
            peers,
            leader_contact: Arc::new(LeaderContact::new()),
            in_quorum: AtomicBool::new(false),
            serving_since: AtomicU64::new(0),
            owners: Mutex::new(HashMap::new()),
            reconfig: tokio::sync::Mutex::new(()),
            features: Mutex::new(HashMap::new()),
        }
    }

    pub fn in_quorum(&self) -> bool {
        self.in_quorum.load(Ordering::Relaxed)
    }

    /// While this member serves: which stretch of serving this is.
    pub fn serving_epoch(&self) -> Option<u64> {
        self.in_quorum()
            .then(|| self.serving_since.load(Ordering::Relaxed))
    }

    /// A closed session has no owner any more.
    pub fn forget_session(&self, session_id: i64) {
        self.owners.lock().remove(&session_id);
    }

    /// Every session's owner forgotten (a new term, or a restore replaced the table).
    pub fn forget_owners(&self) {
        self.owners.lock().clear();
    }

    fn note_features(&self, from: u64, level: u32) {
        self.features.lock().insert(from, (level, Instant::now()));
    }
}

/// The feature level a member must have to decode a txn of this kind, if any.
fn required_level(kind: &TxnKind) -> Option<u32> {
    match kind {
        TxnKind::Restore { .. } | TxnKind::DigestCheck { .. } => Some(RESTORE_AND_DIGEST_CHECK),
        TxnKind::UpgradeSession { .. } => Some(LOCAL_SESSIONS),
        _ => None,
    }
}

fn upgrade_hint(level: u32) -> &'static str {
    if level >= LOCAL_SESSIONS {
        "finish the rolling upgrade before turning localSessionsEnabled on"
    } else {
        "finish the rolling upgrade first"
    }
}

impl Server {
    /// Whether member `id` has told this one, lately, that it understands `level`.
    fn member_understands(&self, id: u64, level: u32) -> bool {
        self.ensemble.as_ref().is_none_or(|e| {
            e.features
                .lock()
                .get(&id)
                .is_some_and(|(l, at)| *l >= level && at.elapsed() < FEATURES_FRESH)
        })
    }

    /// Whether every other member of the current membership (voters and learners) has
    /// told this one, lately, that it understands feature `level`: the gate for log
    /// entries an older release cannot decode. Always true on a standalone server.
    pub fn ensemble_understands(&self, level: u32) -> bool {
        let (Some(_), Some(raft)) = (self.ensemble.as_ref(), self.raft()) else {
            return true;
        };
        let metrics = raft.metrics().borrow_watched().clone();
        let members: Vec<u64> = metrics
            .membership_config
            .membership()
            .nodes()
            .map(|(id, _)| *id)
            .collect();
        let me = self.config.server_id;
        members
            .iter()
            .all(|id| *id == me || self.member_understands(*id, level))
    }
}

/// The member ids and addresses a pristine ensemble is initialised with: the voters
/// of zoo.cfg; only this member after `recover --force-new-cluster`; none for an
/// observer or a member told to join a running ensemble.
pub fn initial_voters(
    config: &crate::config::Config,
    recovered: bool,
) -> Option<BTreeMap<u64, BasicNode>> {
    if config.peer_type_observer || config.join_existing {
        return None;
    }
    let voters = config
        .members
        .values()
        .filter(|m| !m.observer && (!recovered || m.id == config.server_id));
    Some(
        voters
            .map(|m| (m.id, super::reconfig::node_for(m)))
            .collect(),
    )
}

fn not_leader() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, AppError::NotLeader.to_string())
}

impl Server {
    fn ensemble_raft(&self) -> io::Result<(&Ensemble, &Raft)> {
        match (self.ensemble.as_ref(), self.raft()) {
            (Some(e), Some(r)) => Ok((e, r)),
            _ => Err(io::Error::other("not an ensemble member")),
        }
    }

    /// The current leader's id, waiting a little for an election in progress.
    async fn leader(&self) -> io::Result<u64> {
        let (_, raft) = self.ensemble_raft()?;
        if let Some(id) = raft.current_leader().await {
            return Ok(id);
        }
        raft.wait(Some(LEADER_WAIT))
            .metrics(|m| m.current_leader.is_some(), "a leader")
            .await
            .map_err(|_| not_leader())?
            .current_leader
            .ok_or_else(not_leader)
    }

    /// Send an application request to the leader.
    pub(super) async fn ask_leader(&self, req: AppRequest) -> io::Result<AppResponse> {
        let (ensemble, raft) = self.ensemble_raft()?;
        let leader = self.leader().await?;
        let client = ensemble
            .peers
            .client(leader, || {
                let metrics = raft.metrics().borrow_watched().clone();
                let membership = metrics.membership_config.membership();
                let node = membership.get_node(&leader)?;
                Some(crate::consensus::network::node_peer_addr(leader, node))
            })
            .ok_or_else(not_leader)?;
        let timeout = match req {
            AppRequest::Reconfig(_) => super::reconfig::FORWARDED_RECONFIG_TIMEOUT,
            _ => FORWARD_TIMEOUT,
        };
        client.call_app(req, timeout).await
    }

    /// Hand a proposal to consensus: directly on the leader, forwarded from elsewhere.
    pub(super) async fn submit_proposal(&self, proposal: Proposal) -> io::Result<()> {
        let raft = self
            .raft()
            .ok_or_else(|| io::Error::other("consensus is not running"))?;
        if self.ensemble.is_none() || raft.is_leader() {
            return self
                .propose_as_leader(self.config.server_id, proposal)
                .await
                .map_err(io::Error::other);
        }
        if let Some(level) = required_level(&proposal.txn.kind) {
            // An older leader could not even decode the request (it would drop the link
            // and every write in flight on it).
            let leader = self.leader().await?;
            if !self.member_understands(leader, level) {
                return Err(io::Error::other(format!(
                    "the leader runs an older zkd: {}",
                    upgrade_hint(level)
                )));
            }
        }
        match self.ask_leader(AppRequest::Propose(proposal)).await? {
            AppResponse::Proposed(Ok(())) => Ok(()),
            AppResponse::Proposed(Err(e)) => Err(io::Error::other(e)),
            other => Err(io::Error::other(format!("unexpected answer {other:?}"))),
        }
    }

    async fn propose_as_leader(&self, from: u64, proposal: Proposal) -> Result<(), AppError> {
        let raft = self
            .raft()
            .ok_or_else(|| AppError::Other("consensus is not running".into()))?;
        if let Some(level) = required_level(&proposal.txn.kind) {
            if !self.ensemble_understands(level) {
                return Err(AppError::Other(format!(
                    "a member runs an older zkd, which cannot apply this entry (or has not \
                     been heard from lately): {}",
                    upgrade_hint(level)
                )));
            }
        }
        if let Some(ensemble) = &self.ensemble {
            // The leader's own txns (expiry, reaping) have no origin and no owner check.
            let session = proposal.txn.session_id;
            if session != 0 && proposal.origin != 0 {
                let mut owners = ensemble.owners.lock();
                let owner = *owners.entry(session).or_insert(from);
                if owner != from {
                    return Err(AppError::SessionMoved);
                }
            }
        }
        raft.client_write_ff(proposal, None)
            .await
            .map_err(|e| AppError::Other(e.to_string()))
    }

    /// `sync`: returns once this member has applied everything committed when it was
    /// called. Immediate on a standalone server.
    pub async fn sync_barrier(&self) -> io::Result<()> {
        let Ok((_, raft)) = self.ensemble_raft() else {
            return Ok(());
        };
        if raft.is_leader() {
            raft.ensure_linearizable(openraft::raft::ReadPolicy::ReadIndex)
                .await
                .map_err(io_err)?;
            return Ok(());
        }
        let index = match self.ask_leader(AppRequest::ReadIndex).await? {
            AppResponse::ReadIndex(Ok(i)) => i,
            AppResponse::ReadIndex(Err(e)) => return Err(io::Error::other(e.to_string())),
            other => return Err(io::Error::other(format!("unexpected answer {other:?}"))),
        };
        raft.wait(Some(FORWARD_TIMEOUT))
            .applied_index_at_least(Some(index), "sync")
            .await
            .map_err(io_err)?;
        Ok(())
    }

    /// Is this session alive ensemble-wide? `Ok(true)` touches it and makes this member
    /// its owner; `Ok(false)` is a verdict (expired, or never existed); `Err` means no
    /// leader could be asked, which says nothing about the session: the caller must
    /// not answer "expired" for it.
    pub async fn revalidate(&self, session_id: i64, timeout_ms: i32) -> io::Result<bool> {
        let me = self.config.server_id;
        let leads = self.ensemble.is_none() || self.raft().is_some_and(|r| r.is_leader());
        if leads {
            return self.revalidate_as_leader(me, session_id, timeout_ms).await;
        }
        let req = AppRequest::Revalidate {
            session_id,
            timeout_ms,
        };
        match self.ask_leader(req).await? {
            AppResponse::Revalidated(Ok(alive)) => Ok(alive),
            AppResponse::Revalidated(Err(e)) => Err(io::Error::other(e)),
            other => Err(io::Error::other(format!("unexpected answer {other:?}"))),
        }
    }

    async fn revalidate_as_leader(
        &self,
        from: u64,
        session_id: i64,
        timeout_ms: i32,
    ) -> io::Result<bool> {
        if self.storage_failure.get().is_some() {
            // Consensus is down for good: nothing can close a session any more, so every
            // session the tree holds may reattach and read.
            return Ok(self.tree.read().session(session_id).is_some());
        }
        if self.tree.read().session(session_id).is_none() {
            // A leader fresh in office may not have applied every committed entry yet:
            // catch up to the commit index before calling a session unknown.
            let raft = self.raft().ok_or_else(not_leader)?;
            raft.ensure_linearizable(openraft::raft::ReadPolicy::ReadIndex)
                .await
                .map_err(io_err)?;
        }
        let known = self.tree.read().session(session_id).is_some();
        let mut tracker = self.leader_tracker().ok_or_else(not_leader)?;
        let now = Instant::now();
        if !known || !tracker.touch(session_id, now) {
            return Ok(false);
        }
        tracker.set_timeout(session_id, timeout_ms, now);
        drop(tracker);
        if let Some(ensemble) = &self.ensemble {
            ensemble.owners.lock().insert(session_id, from);
        }
        Ok(true)
    }

    async fn answer_peer(&self, from: u64, req: AppRequest) -> AppResponse {
        let raft = match self.raft() {
            Some(r) if r.is_leader() => r,
            _ => {
                return match req {
                    AppRequest::Propose(_) => AppResponse::Proposed(Err(AppError::NotLeader)),
                    AppRequest::ReadIndex => AppResponse::ReadIndex(Err(AppError::NotLeader)),
                    AppRequest::Touch(_) => AppResponse::Touched(false),
                    AppRequest::Revalidate { .. } => {
                        AppResponse::Revalidated(Err(AppError::NotLeader))
                    }
                    AppRequest::Reconfig(_) => {
                        AppResponse::Reconfigured(Err(jute::err::CONNECTION_LOSS))
                    }
                }
            }
        };
        match req {
            AppRequest::Propose(p) => AppResponse::Proposed(self.propose_as_leader(from, p).await),
            AppRequest::ReadIndex => AppResponse::ReadIndex(
                raft.get_read_linearizer(openraft::raft::ReadPolicy::ReadIndex)
                    .await
                    .map(|l| l.read_log_id().index())
                    .map_err(|e| AppError::Other(e.to_string())),
            ),
            AppRequest::Touch(ids) => {
                // Only a leader with a working quorum has a tracker to touch.
                let Some(mut tracker) = self.leader_tracker() else {
                    return AppResponse::Touched(false);
                };
                let now = Instant::now();
                for id in ids {
                    tracker.touch(id, now);
                }
                AppResponse::Touched(true)
            }
            AppRequest::Revalidate {
                session_id,
                timeout_ms,
            } => AppResponse::Revalidated(
                self.revalidate_as_leader(from, session_id, timeout_ms)
                    .await
                    .map_err(|e| AppError::Other(e.to_string())),
            ),
            AppRequest::Reconfig(change) => {
                AppResponse::Reconfigured(self.reconfigure(change).await)
            }
        }
    }
}

/// The server answering its peers' application requests.
pub struct PeerHandler(pub Weak<Server>);

impl PeerService for PeerHandler {
    fn handle(&self, from: u64, req: AppRequest) -> BoxFuture<'static, AppResponse> {
        let server = self.0.upgrade();
        Box::pin(async move {
            match server {
                Some(s) => s.answer_peer(from, req).await,
                None => AppResponse::Proposed(Err(AppError::Other("shutting down".into()))),
            }
        })
    }

    fn features(&self, from: u64, level: u32) {
        let Some(server) = self.0.upgrade() else {
            return;
        };
        if let Some(ensemble) = &server.ensemble {
            ensemble.note_features(from, level);
        }
    }
}

/// Leader: whenever its digest history (the tree's digest every 128 zxids, ZooKeeper's
/// digest log) has a newer entry, propose it ([`TxnKind::DigestCheck`]) so that every
/// member compares its own entry for that zxid (ZooKeeper carries the digest in every
/// txn). Only once every member understands the entry, and only with `digest.enabled`.
pub(super) async fn propose_digest_checks(server: Arc<Server>) {
    if !server.config.digest_enabled {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = i64::MIN;
    loop {
        tick.tick().await;
        if server.leading_epoch().is_none() {
            continue;
        }
        let newest = server.tree.read().digest_history().next_back();
        let Some((zxid, digest)) = newest.filter(|&(zxid, _)| zxid > last) else {
            continue;
        };
        if !server.ensemble_understands(RESTORE_AND_DIGEST_CHECK) {
            continue;
        }
        last = zxid;
        server
            .propose_internal(0, TxnKind::DigestCheck { zxid, digest })
            .await;
    }
}

/// An interval of half a tick, ZooKeeper's ping period between follower and leader.
fn half_ticks(server: &Server) -> tokio::time::Interval {
    let mut tick =
        tokio::time::interval((server.config.tick_time / 2).max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick
}

/// Every half tick: tell the leader which sessions this member heard from, and learn
/// whether that leader still leads a quorum. A member that sees a new leader reports at
/// once, so that it serves as soon as that leader has a quorum.
pub(super) async fn report_touches(server: Arc<Server>) {
    let (Some(ensemble), Some(raft)) = (server.ensemble.as_ref(), server.raft().cloned()) else {
        return;
    };
    let mut tick = half_ticks(&server);
    // Changes only with the state, the leader, the vote or the membership.
    let mut roles = raft.server_metrics();
    let mut leader = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            changed = roles.changed() => {
                if changed.is_err() {
                    return;
                }
                let now = roles.borrow_watched().current_leader;
                let new_leader = now.is_some() && now != leader;
                leader = now;
                if !new_leader {
                    continue;
                }
            }
        }
        // The tracker marks every session a request arrived for (the dispatcher's touch).
        let ids = server.sessions.lock().take_touched();
        if raft.is_leader() {
            continue;
        }
        match server.ask_leader(AppRequest::Touch(ids)).await {
            Ok(AppResponse::Touched(true)) => {
                ensemble.leader_contact.touch();
                server.update_quorum_state();
            }
            Ok(_) => {}
            Err(e) => tracing::debug!("leader not reached: {e}"),
        }
    }
}

/// Decide whether this member is part of a working quorum: every half tick, whenever
/// its role or leader changes, and, while it does not serve, at every consensus report
/// (so a new leader serves the moment its quorum acknowledges it, without waking on
/// every commit once it does).
pub(super) async fn watch_quorum(server: Arc<Server>) {
    let Some(raft) = server.raft().cloned() else {
        return;
    };
    let mut tick = half_ticks(&server);
    let mut roles = raft.server_metrics();
    let mut reports = raft.metrics();
    loop {
        let waiting = !server.serving();
        let changed = tokio::select! {
            _ = tick.tick() => Ok(()),
            changed = roles.changed() => changed,
            changed = reports.changed(), if waiting => changed,
        };
        if changed.is_err() {
            return;
        }
        server.update_quorum_state();
    }
}

impl Server {
    /// Whether this member is part of a working quorum: a leader whose quorum acked
    /// within syncLimit × tickTime, or a member whose leader said so as recently. A
    /// member that drops out closes its clients; one that comes back closes its
    /// read-only sessions (their clients go and find a read-write member).
    fn update_quorum_state(&self) {
        let (Some(ensemble), Some(raft)) = (self.ensemble.as_ref(), self.raft()) else {
            return;
        };
        let limit = self.config.quorum_timeout();
        let (ok, state) = {
            let metrics = raft.metrics();
            let m = metrics.borrow_watched();
            let ok = match m.state {
                openraft::ServerState::Leader => {
                    let single = m.membership_config.membership().voter_ids().count() <= 1;
                    single
                        || m.last_quorum_acked
                            .as_ref()
                            .is_some_and(|t| openraft::Instant::elapsed(&**t) < limit)
                }
                openraft::ServerState::Follower | openraft::ServerState::Learner => {
                    m.current_leader.is_some()
                        && ensemble.leader_contact.since().is_some_and(|d| d < limit)
                }
                _ => false,
            };
            (ok, m.state)
        };
        if ok && !ensemble.in_quorum() {
            ensemble.serving_since.fetch_add(1, Ordering::Relaxed);
        }
        let was = ensemble.in_quorum.swap(ok, Ordering::Relaxed);
        if was && !ok {
            tracing::warn!(
                "no quorum for {} ms: closing client connections",
                limit.as_millis()
            );
            self.close_all_connections();
        } else if ok && !was {
            tracing::info!("serving clients as {state:?}");
            self.close_read_only_connections();
        }
    }
}

/// Leader changes: a new leader adds the configured observers (its session clocks
/// restart on first use, `Server::leader_tracker`); every member fails the writes it
/// had in flight.
pub(super) async fn follow_leader_changes(server: Arc<Server>) {
    let Some(raft) = server.raft().cloned() else {
        return;
    };
    let mut metrics = raft.metrics();
    let mut last: (Option<u64>, bool) = (None, false);
    loop {
        let now = {
            let m = metrics.borrow_watched();
            (m.current_leader, m.state == openraft::ServerState::Leader)
        };
        if now != last {
            if last.0.is_some() {
                server.fail_pending("the leader changed");
            }
            if now.1 && !last.1 {
                server.become_leader(&raft).await;
            }
            last = now;
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}

impl Server {
    async fn become_leader(self: &Arc<Self>, raft: &Raft) {
        // Session clocks restart on first use in the new term (`leader_tracker`).
        if let Some(e) = &self.ensemble {
            e.forget_owners();
        }
        // A tree that came from an import or a forced recovery is not in the log (its
        // zxid base is above zero while the log still starts at index 0): snapshot and
        // purge before anyone is added, so that every member that joins installs the
        // tree by snapshot instead of replaying a log that does not hold it.
        if !log_holds_tree(self, raft) {
            let last = raft.metrics().borrow_watched().last_log_index;
            let _ = raft
                .wait(Some(Duration::from_secs(60)))
                .applied_index_at_least(last, "leader's first entries")
                .await;
            if raft.trigger().snapshot().await.is_err() {
                return;
            }
            let snapshot = raft
                .wait(Some(Duration::from_secs(300)))
                .metrics(
                    |m| m.snapshot.is_some_and(|s| Some(s.index) >= last),
                    "snapshot",
                )
                .await
                .ok()
                .and_then(|m| m.snapshot);
            match snapshot {
                Some(snap) => {
                    tracing::info!("snapshot at {} so new members install the tree", snap.index);
                    let _ = raft.trigger().purge_log(snap.index).await;
                    let purged = raft
                        .wait(Some(Duration::from_secs(60)))
                        .metrics(|m| m.purged.is_some(), "purge")
                        .await;
                    if let Err(e) = purged {
                        tracing::warn!("log not purged after the first snapshot: {e}");
                    }
                }
                None => tracing::warn!("no snapshot of the imported tree; members cannot join yet"),
            }
        }
        let membership = raft
            .metrics()
            .borrow_watched()
            .membership_config
            .membership()
            .clone();
        let server = self.clone();
        tokio::spawn(async move { server.refresh_published_config().await });
        for m in self.config.members.values().filter(|m| m.observer) {
            if membership.get_node(&m.id).is_none() {
                let raft = raft.clone();
                let (id, node) = (m.id, super::reconfig::node_for(m));
                let server = self.clone();
                tokio::spawn(async move {
                    // The first attempt may meet the new leader's own membership entry
                    // still uncommitted; retry while this member leads.
                    while raft.is_leader() {
                        match raft.add_learner(id, node.clone(), false).await {
                            Ok(_) => {
                                tracing::info!("observer {id} added");
                                server.refresh_published_config().await;
                                return;
                            }
                            Err(e) => tracing::debug!("cannot add observer {id} yet: {e}"),
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                });
            }
        }
    }
}

/// Whether a member replaying this log from its start ends up with this tree. (After
/// an AdminServer restore the zxid base is above zero too: the first leader change then
/// takes a snapshot and purges the log, which also drops the restore's large entry.)
fn log_holds_tree(server: &Server, raft: &Raft) -> bool {
    crate::consensus::zxid_base(&server.storage) == 0
        || raft.metrics().borrow_watched().purged.is_some()
}

/// After `recover --force-new-cluster`: add the members of zoo.cfg back as they come up
/// (each as a learner first; a voter is promoted once it has caught up).
pub(super) async fn add_back_configured(server: Arc<Server>) {
    let Some(raft) = server.raft().cloned() else {
        return;
    };
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if !raft.is_leader() || !log_holds_tree(&server, &raft) {
            continue;
        }
        let m = raft.metrics().borrow_watched().clone();
        let membership = m.membership_config.membership().clone();
        let voters: std::collections::BTreeSet<u64> = membership.voter_ids().collect();
        let missing_voters: Vec<_> = server
            .config
            .members
            .values()
            .filter(|c| !c.observer && !voters.contains(&c.id))
            .collect();
        if missing_voters.is_empty() {
            server.refresh_published_config().await;
            if let Err(e) = crate::consensus::recover::rejoin_done(&server.storage) {
                tracing::warn!("cannot clear the rejoin marker: {e}");
            }
            tracing::info!("every voter of zoo.cfg is back in the ensemble");
            return;
        }
        let last = m.last_log_index.unwrap_or(0);
        for c in missing_voters {
            if membership.get_node(&c.id).is_none() {
                if let Err(e) = raft
                    .add_learner(c.id, super::reconfig::node_for(c), false)
                    .await
                {
                    tracing::debug!("cannot add member {} yet: {e}", c.id);
                }
                continue;
            }
            let caught_up = m
                .replication
                .as_ref()
                .and_then(|r| r.get(&c.id).cloned().flatten())
                .is_some_and(|l| l.index + 100 >= last);
            if caught_up {
                let ids = std::collections::BTreeSet::from([c.id]);
                match raft
                    .change_membership(openraft::ChangeMembers::AddVoterIds(ids), false)
                    .await
                {
                    Ok(_) => tracing::info!("member {} is a voter again", c.id),
                    Err(e) => tracing::debug!("cannot promote member {} yet: {e}", c.id),
                }
            }
        }
    }
}
