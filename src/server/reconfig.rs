//! ZooKeeper's `reconfig` (op 16) on top of Raft membership changes.
//!
//! The Raft membership is the truth about who is in the ensemble; `/zookeeper/config`
//! is its published copy, in ZooKeeper's format, rewritten by a [`TxnKind::SetConfig`]
//! after every change. Each member's [`BasicNode`] address holds that member's full
//! `server.N` value (`host:peerPort:electionPort:role;clientAddress`), so the file can be
//! written from the membership alone on any leader.
//!
//! A reconfig runs on the leader: joiners become learners, the voter set is replaced
//! (openraft's joint consensus), members that left are dropped, and the new config is
//! published. A voter change that cannot commit within [`CHANGE_TIMEOUT`] (the new
//! configuration has no quorum) answers NewConfigNoQuorum, as ZooKeeper does.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use jute::{err, Record};
use openraft::async_runtime::WatchReceiver;
use openraft::impls::BasicNode;
use openraft::ChangeMembers;

use super::Server;
use crate::config::Member;
use crate::consensus::peer::{AppRequest, AppResponse, Change};
use crate::consensus::Proposal;
use crate::tree::CONFIG_PATH;
use crate::tree::{Applied, Reply};
use crate::txn::{Txn, TxnKind};

const CHANGE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a member that forwarded a client's reconfig waits for the leader's answer:
/// longer than any reconfig's steps (a learner per joiner, the quorum wait, the voter
/// change, the removal; each bounded by [`CHANGE_TIMEOUT`]), so that the client gets
/// the leader's verdict (NewConfigNoQuorum, ...) rather than a lost connection.
pub(super) const FORWARDED_RECONFIG_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the members of a new configuration have to answer the leader at all.
const REACH_GRACE: Duration = Duration::from_secs(2);

impl From<jute::ReconfigRequest> for Change {
    fn from(r: jute::ReconfigRequest) -> Change {
        Change {
            joining: r.joining_servers,
            leaving: r.leaving_servers,
            new_members: r.new_members,
            cur_config_id: r.cur_config_id,
        }
    }
}

/// How a member is stored in the Raft membership.
pub fn node_for(member: &Member) -> BasicNode {
    BasicNode::new(member.zk_config_value())
}

/// The `server.N=...` lines of a member set, as /zookeeper/config lists them.
fn config_lines(members: &BTreeMap<u64, Member>) -> String {
    members
        .values()
        .map(|m| format!("server.{}={}\n", m.id, m.zk_config_value()))
        .collect()
}

/// The membership as members, with roles from voter/learner status.
fn current_members(raft: &crate::consensus::Raft) -> BTreeMap<u64, Member> {
    let m = raft.metrics().borrow_watched().clone();
    let membership = m.membership_config.membership();
    let voters: BTreeSet<u64> = membership.voter_ids().collect();
    membership
        .nodes()
        .filter_map(|(id, node)| {
            let mut member = Member::parse(*id, &node.addr).ok()?;
            member.observer = !voters.contains(id);
            Some((*id, member))
        })
        .collect()
}

/// The ids of `members` that `other` lacks.
fn ids_missing_from(
    members: &BTreeMap<u64, Member>,
    other: &BTreeMap<u64, Member>,
) -> BTreeSet<u64> {
    members
        .keys()
        .filter(|id| !other.contains_key(id))
        .copied()
        .collect()
}

fn voter_ids(members: &BTreeMap<u64, Member>) -> BTreeSet<u64> {
    members
        .values()
        .filter(|m| !m.observer)
        .map(|m| m.id)
        .collect()
}

/// Whether a majority of `voters` (the leader among them) has caught up with the
/// leader's log. A majority that does not even answer within [`REACH_GRACE`] is refused
/// at once, as ZooKeeper refuses a reconfig whose new quorum is not connected and synced
/// (the client's pings wait behind its reconfig); one that answers and is catching up
/// gets [`CHANGE_TIMEOUT`].
async fn new_quorum_in_sync(raft: &crate::consensus::Raft, voters: &BTreeSet<u64>) -> bool {
    let need = voters.len() / 2 + 1;
    let count = |m: &openraft::RaftMetrics<crate::consensus::TypeConfig>, lag: Option<u64>| {
        let last = m.last_log_index.unwrap_or(0);
        voters
            .iter()
            .filter(|id| {
                let matched = m
                    .replication
                    .as_ref()
                    .and_then(|r| r.get(id).cloned().flatten());
                **id == m.id
                    || match lag {
                        None => matched.is_some(),
                        Some(lag) => matched.is_some_and(|l| l.index + lag >= last),
                    }
            })
            .count()
    };
    let answering = |m: &openraft::RaftMetrics<_>| count(m, None) >= need;
    let in_sync = |m: &openraft::RaftMetrics<_>| count(m, Some(256)) >= need;
    raft.wait(Some(REACH_GRACE))
        .metrics(answering, "a quorum of the new configuration answering")
        .await
        .is_ok()
        && raft
            .wait(Some(CHANGE_TIMEOUT))
            .metrics(in_sync, "a quorum of the new configuration in sync")
            .await
            .is_ok()
}

/// One membership change, given [`CHANGE_TIMEOUT`] to commit: a change that cannot
/// reach a quorum of the new configuration is ZooKeeper's NewConfigNoQuorum.
async fn membership_step<T, E: std::fmt::Display>(
    what: &str,
    change: impl std::future::Future<Output = Result<T, E>>,
) -> Result<(), i32> {
    match tokio::time::timeout(CHANGE_TIMEOUT, change).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => {
            tracing::warn!("reconfig: {what}: {e}");
            Err(err::NEW_CONFIG_NO_QUORUM)
        }
        Err(_) => {
            tracing::warn!("reconfig: {what}: no quorum within {CHANGE_TIMEOUT:?}");
            Err(err::NEW_CONFIG_NO_QUORUM)
        }
    }
}

/// `server.N=value`, the form joining servers and new members come in.
fn parse_server_line(line: &str) -> Result<Member, i32> {
    let (key, value) = line.trim().split_once('=').ok_or(err::BAD_ARGUMENTS)?;
    let id = key
        .trim()
        .strip_prefix("server.")
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or(err::BAD_ARGUMENTS)?;
    Member::parse(id, value).map_err(|_| err::BAD_ARGUMENTS)
}

fn items(list: &Option<String>) -> impl Iterator<Item = &str> {
    list.as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The member set a change asks for, from the current one.
fn target(current: &BTreeMap<u64, Member>, change: &Change) -> Result<BTreeMap<u64, Member>, i32> {
    let mut out = if items(&change.new_members).next().is_some() {
        BTreeMap::new()
    } else {
        current.clone()
    };
    for line in items(&change.new_members).chain(items(&change.joining)) {
        let m = parse_server_line(line)?;
        out.insert(m.id, m);
    }
    for id in items(&change.leaving) {
        let id: u64 = id.parse().map_err(|_| err::BAD_ARGUMENTS)?;
        out.remove(&id);
    }
    if !out.values().any(|m| !m.observer) {
        return Err(err::BAD_ARGUMENTS);
    }
    Ok(out)
}

/// The `version=` of a /zookeeper/config text (-1 if there is none).
fn config_version(data: &[u8]) -> i64 {
    std::str::from_utf8(data)
        .ok()
        .and_then(|s| s.lines().rev().find_map(|l| l.strip_prefix("version=")))
        .and_then(|v| i64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(-1)
}

impl Server {
    /// Publish the membership in /zookeeper/config; returns the log index of the txn.
    pub(super) async fn publish_config(&self, members: &BTreeMap<u64, Member>) -> Result<u64, i32> {
        let raft = self.raft().ok_or(err::SYSTEM_ERROR)?;
        let txn = Txn {
            session_id: 0,
            cxid: 0,
            time_ms: super::now_ms(),
            auth: Vec::new(),
            kind: TxnKind::SetConfig {
                members: config_lines(members),
            },
        };
        raft.client_write(Proposal { origin: 0, txn })
            .await
            .map(|r| r.log_id.index)
            .map_err(|e| {
                tracing::info!("cannot publish the ensemble config yet: {e}");
                err::SYSTEM_ERROR
            })
    }

    /// Leader: make /zookeeper/config match the membership if it does not (a new
    /// ensemble, observers added from zoo.cfg, members added back after a recovery).
    pub(super) async fn refresh_published_config(&self) {
        let Some(raft) = self.raft().filter(|r| r.is_leader()) else {
            return;
        };
        let members = current_members(raft);
        if members.is_empty() {
            return;
        }
        let wanted = config_lines(&members);
        let published = self
            .tree
            .read()
            .get(CONFIG_PATH)
            .and_then(|n| n.data.clone())
            .unwrap_or_default();
        let published = String::from_utf8_lossy(&published);
        let lines = published.rsplit_once("version=").map_or("", |(l, _)| l);
        if lines == wanted {
            return;
        }
        // A leader that has just been elected may not accept writes yet: retry while
        // it leads.
        for _ in 0..50 {
            if self.publish_config(&members).await.is_ok() || !raft.is_leader() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    fn check_config_version(&self, expected: i64) -> Result<(), i32> {
        if expected == -1 {
            return Ok(());
        }
        let tree = self.tree.read();
        let data = tree
            .get(CONFIG_PATH)
            .and_then(|n| n.data.clone())
            .unwrap_or_default();
        if config_version(&data) == expected {
            Ok(())
        } else {
            Err(err::BAD_VERSION)
        }
    }

    /// The leader's side of a reconfig: returns the log index of the published config.
    pub(super) async fn reconfigure(&self, change: Change) -> Result<u64, i32> {
        let raft = self.raft().ok_or(err::SYSTEM_ERROR)?.clone();
        let ensemble = self.ensemble.as_ref().ok_or(err::RECONFIG_DISABLED)?;
        let Ok(_guard) = ensemble.reconfig.try_lock() else {
            return Err(err::RECONFIG_IN_PROGRESS);
        };
        self.check_config_version(change.cur_config_id)?;
        let current = current_members(&raft);
        let target = target(&current, &change)?;
        // Joiners follow the log as learners first; voters that become observers are
        // kept as learners by the voter change (retain = true).
        for m in target.values().filter(|m| !current.contains_key(&m.id)) {
            membership_step("add learner", raft.add_learner(m.id, node_for(m), false)).await?;
        }
        let voters = voter_ids(&target);
        if voters != voter_ids(&current) {
            // Raft's joint configuration needs a majority of the new voters as well: one
            // that cannot get it would leave the ensemble unable to commit anything. So,
            // as ZooKeeper does, the change is made only once a quorum of the new
            // configuration is up and in sync, and is otherwise refused untouched.
            if !new_quorum_in_sync(&raft, &voters).await {
                let added = ids_missing_from(&target, &current);
                if !added.is_empty() {
                    let undo = raft.change_membership(ChangeMembers::RemoveNodes(added), false);
                    let _ = membership_step("remove the joiners again", undo).await;
                }
                tracing::warn!(
                    "reconfig: no quorum of {voters:?} in sync within {CHANGE_TIMEOUT:?}"
                );
                return Err(err::NEW_CONFIG_NO_QUORUM);
            }
            let change = raft.change_membership(ChangeMembers::ReplaceAllVoters(voters), true);
            membership_step("replace voters", change).await?;
        }
        let gone = ids_missing_from(&current, &target);
        if !gone.is_empty() {
            let change = raft.change_membership(ChangeMembers::RemoveNodes(gone), false);
            membership_step("remove members", change).await?;
        }
        self.publish_config(&target).await
    }

    /// A client's reconfig on any member: checks, the change on the leader, then the
    /// new /zookeeper/config once this member has applied it.
    pub(super) async fn client_reconfig(
        self: Arc<Self>,
        auth: Vec<crate::txn::AuthId>,
        body: Bytes,
    ) -> Applied {
        let outcome = self.client_reconfig_inner(&auth, &body).await;
        let tree = self.tree.read();
        let reply = match outcome {
            Ok(()) => match tree.get(CONFIG_PATH) {
                Some(node) => Reply::Response {
                    err: err::OK,
                    body: jute::GetDataResponse {
                        data: node.data_bytes(),
                        stat: node.stat(),
                    }
                    .encode()
                    .freeze(),
                },
                None => Reply::Response {
                    err: err::NO_NODE,
                    body: Bytes::new(),
                },
            },
            Err(code) => Reply::Response {
                err: code,
                body: Bytes::new(),
            },
        };
        Applied::reply_only(tree.last_zxid(), reply)
    }

    async fn client_reconfig_inner(
        &self,
        auth: &[crate::txn::AuthId],
        body: &[u8],
    ) -> Result<(), i32> {
        if !self.config.reconfig_enabled {
            return Err(err::RECONFIG_DISABLED);
        }
        let change: Change = jute::ReconfigRequest::decode(body)
            .map_err(|_| err::MARSHALLING_ERROR)?
            .into();
        // ZooKeeper's order: version, then the change itself, then the caller's right.
        let raft = self.raft().ok_or(err::SYSTEM_ERROR)?;
        self.check_config_version(change.cur_config_id)?;
        target(&current_members(raft), &change)?;
        let allowed = self
            .tree
            .read()
            .get(CONFIG_PATH)
            .is_some_and(|n| crate::tree::check_perm(&n.acl, auth, jute::perms::WRITE));
        if !allowed {
            return Err(err::NO_AUTH);
        }
        let index = if raft.is_leader() {
            self.reconfigure(change).await?
        } else {
            match self.ask_leader(AppRequest::Reconfig(change)).await {
                Ok(AppResponse::Reconfigured(r)) => r?,
                _ => return Err(err::CONNECTION_LOSS),
            }
        };
        raft.wait(Some(CHANGE_TIMEOUT))
            .applied_index_at_least(Some(index), "reconfig")
            .await
            .map_err(|_| err::OPERATION_TIMEOUT)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(lines: &[&str]) -> BTreeMap<u64, Member> {
        lines
            .iter()
            .map(|l| parse_server_line(l).unwrap())
            .map(|m| (m.id, m))
            .collect()
    }

    #[test]
    fn incremental_and_new_member_forms() {
        let cur = members(&[
            "server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181",
            "server.2=127.0.0.1:2889:3889:participant;0.0.0.0:2182",
        ]);
        let change = Change {
            joining: Some("server.100=0.0.0.0:1:2:observer;0.0.0.0:3".into()),
            leaving: Some("2".into()),
            new_members: None,
            cur_config_id: -1,
        };
        let t = target(&cur, &change).unwrap();
        assert_eq!(t.keys().copied().collect::<Vec<_>>(), vec![1, 100]);
        assert_eq!(
            config_lines(&t),
            "server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181\n\
             server.100=0.0.0.0:1:2:observer;0.0.0.0:3\n"
        );
        let replace = Change {
            joining: None,
            leaving: None,
            new_members: Some("server.5=h:1:2;3".into()),
            cur_config_id: -1,
        };
        assert_eq!(
            target(&cur, &replace)
                .unwrap()
                .keys()
                .copied()
                .collect::<Vec<_>>(),
            vec![5]
        );
        let bad = Change {
            joining: Some("some thing".into()),
            ..replace.clone()
        };
        assert_eq!(target(&cur, &bad), Err(err::BAD_ARGUMENTS));
        let nobody = Change {
            joining: None,
            leaving: Some("1,2".into()),
            new_members: None,
            cur_config_id: -1,
        };
        assert_eq!(target(&cur, &nobody), Err(err::BAD_ARGUMENTS));
    }

    #[test]
    fn version_is_the_last_line_in_hex() {
        assert_eq!(
            config_version(b"server.1=a:1:2:participant\nversion=1a"),
            0x1a
        );
        assert_eq!(config_version(b""), -1);
    }
}
