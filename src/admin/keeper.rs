//! ClickHouse Keeper's Raft four-letter words, which ZooKeeper (on Zab) does not have.
//!
//! zkd runs on Raft too, so these mean the same thing here:
//!
//! * `lgif`: Raft log indexes, one `key<TAB>value` line each: `first_log_idx`,
//!   `first_log_term`, `last_log_idx`, `last_log_term`, `last_committed_log_idx`
//!   (applied to the state machine), `leader_committed_log_idx`,
//!   `target_committed_log_idx`, `last_snapshot_idx`.
//! * `csnp`: take a snapshot now; answers the last committed index it covers, or
//!   `Failed to schedule snapshot creation task.`
//! * `rqld`: ask for leadership; `Sent leadership request to leader.` (a leader
//!   answers so at once), or `Failed to send leadership request to leader.`
//! * `ydld`: yield leadership to another voter; `Sent yield leadership request to
//!   leader.` (a single node, with nobody to yield to, answers the same and stays
//!   leader, as ClickHouse Keeper does), or `Failed to send yield leadership request
//!   to leader.`
//!
//! They are off the default whitelist like every word but `srvr`.

use openraft::async_runtime::WatchReceiver;
use openraft::ServerState;

use crate::server::Server;

pub const WORDS: &[&str] = &["lgif", "csnp", "rqld", "ydld"];

pub async fn run(server: &Server, word: &str) -> String {
    let Some(raft) = server.raft() else {
        return "This ZooKeeper instance is not currently serving requests\n".into();
    };
    match word {
        "lgif" => log_info(server),
        "csnp" => {
            let applied = raft
                .metrics()
                .borrow_watched()
                .last_applied
                .map_or(0, |l| l.index);
            match raft.trigger().snapshot().await {
                Ok(()) => {
                    tracing::info!("csnp: snapshot requested at log index {applied}");
                    applied.to_string()
                }
                Err(e) => {
                    tracing::warn!("csnp: cannot trigger a snapshot: {e}");
                    super::metrics::SNAPSHOT_ERROR_COUNT.inc();
                    "Failed to schedule snapshot creation task.".into()
                }
            }
        }
        "rqld" => {
            let state = raft.metrics().borrow_watched().state;
            let sent = state == ServerState::Leader || raft.trigger().elect(false).await.is_ok();
            tracing::info!("rqld: leadership requested (sent: {sent})");
            if sent {
                "Sent leadership request to leader.".into()
            } else {
                "Failed to send leadership request to leader.".into()
            }
        }
        "ydld" => {
            let m = raft.metrics().borrow_watched().clone();
            let successor = m
                .membership_config
                .membership()
                .voter_ids()
                .find(|id| *id != m.id);
            let sent = match (m.state, successor) {
                (ServerState::Leader, Some(to)) => {
                    tracing::info!("ydld: transferring leadership to member {to}");
                    raft.trigger().transfer_leader(to).await.is_ok()
                }
                // A follower has nothing to yield; a single voter has nobody to yield to.
                _ => true,
            };
            if sent {
                "Sent yield leadership request to leader.".into()
            } else {
                "Failed to send yield leadership request to leader.".into()
            }
        }
        _ => String::new(),
    }
}

/// The term of the log entry at `index`, if it is still stored.
fn term_at(server: &Server, index: u64) -> Option<u64> {
    let entry = crate::consensus::log_store::entry_at(&server.storage, index)?;
    Some(entry.log_id.leader_id.term)
}

fn log_info(server: &Server) -> String {
    let Some(raft) = server.raft() else {
        return String::new();
    };
    let m = raft.metrics().borrow_watched().clone();
    let last = m.last_log_index.unwrap_or(0);
    let first = match m.purged {
        Some(p) => p.index + 1,
        None => server.storage.log.first_index().unwrap_or(1),
    }
    .min(last.max(1));
    let current_term = m.current_term;
    let first_term = term_at(server, first)
        .or(m.purged.map(|p| p.leader_id.term))
        .unwrap_or(0);
    let last_term = term_at(server, last).unwrap_or(current_term);
    let idx = |l: Option<crate::consensus::LogId>| l.map_or(0, |l| l.index);
    let rows = [
        ("first_log_idx", first),
        ("first_log_term", first_term),
        ("last_log_idx", last),
        ("last_log_term", last_term),
        ("last_committed_log_idx", idx(m.last_applied)),
        ("leader_committed_log_idx", idx(m.cluster_committed)),
        ("target_committed_log_idx", idx(m.local_committed)),
        ("last_snapshot_idx", idx(m.snapshot)),
    ];
    rows.iter().map(|(k, v)| format!("{k}\t{v}\n")).collect()
}

/// One log line per change of this member's Raft role or of the leader it knows.
pub async fn log_leader_changes(raft: crate::consensus::Raft) {
    let mut rx = raft.metrics();
    let mut last = None;
    loop {
        let (id, state, leader, term) = {
            let m = rx.borrow_watched();
            (m.id, m.state, m.current_leader, m.current_term)
        };
        if last != Some((state, leader)) {
            match leader {
                Some(l) => tracing::info!(
                    "raft: member {id} is {state:?}; leader is member {l} (term {term})"
                ),
                None => tracing::info!("raft: member {id} is {state:?}; no leader (term {term})"),
            }
            last = Some((state, leader));
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}
