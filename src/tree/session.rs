//! The replicated session table: creation (with id allocation), closing (with
//! ephemeral cleanup) and the read accessors.
//!
//! Session ids are allocated at apply, from state, so every replica hands out the same
//! id for the same CreateSession. The seed follows ZooKeeper's
//! `SessionTrackerImpl.initializeNextSessionId` with server id 1, but takes its time
//! from the txn (the leader's wall clock) instead of a local monotonic clock. Ids whose
//! top byte is 0xFF and `i64::MIN` are never handed out: those bit patterns mean "TTL
//! node" and "container" in `ephemeral_owner`.

use serde::{Deserialize, Serialize};

use super::{Applied, DataTree, Dirty, Effects, Reply};

/// One live session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// The negotiated timeout.
    pub timeout_ms: i32,
}

/// ZooKeeper's seed: `((time << 24) >>> 8) | (serverId << 56)` with server id 1, so the
/// top byte is 1 and bits 16..55 are the low 40 bits of the time.
fn seed(time_ms: i64) -> i64 {
    let id = ((time_ms.wrapping_shl(24) as u64) >> 8) as i64 | (1i64 << 56);
    if id == i64::MIN {
        id + 1
    } else {
        id
    }
}

impl DataTree {
    /// The session, if it exists.
    pub fn session(&self, id: i64) -> Option<&SessionInfo> {
        self.sessions.get(&id)
    }

    /// All sessions, by id.
    pub fn sessions(&self) -> impl Iterator<Item = (i64, &SessionInfo)> {
        self.sessions.iter().map(|(k, v)| (*k, v))
    }

    /// Paths of the session's plain ephemerals, sorted.
    pub fn ephemerals(&self, session: i64) -> Vec<String> {
        self.ephemerals
            .get(&session)
            .map(|s| s.paths.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The session's plain ephemerals in the order ZooKeeper walks them when the
    /// session closes (and lists them for getEphemerals): see `ephemerals.rs`.
    pub fn ephemerals_in_zookeeper_order(&self, session: i64) -> Vec<String> {
        self.ephemerals
            .get(&session)
            .map(|s| s.close_order(|p| self.get(p).map_or(0, |n| n.stat.czxid)))
            .unwrap_or_default()
    }

    /// Number of plain ephemerals over all sessions.
    pub fn ephemeral_count(&self) -> usize {
        self.ephemerals.values().map(|s| s.paths.len()).sum()
    }

    /// Take the next free session id.
    fn allocate_session_id(&mut self, time_ms: i64) -> i64 {
        loop {
            if self.next_session_id == 0 {
                self.next_session_id = seed(time_ms);
            }
            let id = self.next_session_id;
            if (id as u64) >> 56 == 0xFF {
                // Would collide with the TTL encoding: restart in server 1's range.
                self.next_session_id = 1i64 << 56;
                continue;
            }
            self.next_session_id = id.wrapping_add(1);
            if id != i64::MIN && id != 0 && !self.sessions.contains_key(&id) {
                return id;
            }
        }
    }

    pub(super) fn create_session(&mut self, zxid: i64, time_ms: i64, timeout_ms: i32) -> Applied {
        let id = self.allocate_session_id(time_ms);
        self.sessions.insert(id, SessionInfo { timeout_ms });
        Applied {
            zxid,
            reply: Reply::SessionCreated {
                session_id: id,
                timeout_ms,
            },
            triggers: Vec::new(),
            dirty: vec![Dirty::Session(id)],
            closed_session: None,
            quota_exceeded: Vec::new(),
        }
    }

    /// A local session joins the table under its own id (an id already there keeps its
    /// entry: the upgrade was proposed twice).
    pub(super) fn upgrade_session(
        &mut self,
        zxid: i64,
        session_id: i64,
        timeout_ms: i32,
    ) -> Applied {
        let timeout_ms = self
            .sessions
            .entry(session_id)
            .or_insert(SessionInfo { timeout_ms })
            .timeout_ms;
        Applied {
            zxid,
            reply: Reply::SessionCreated {
                session_id,
                timeout_ms,
            },
            triggers: Vec::new(),
            dirty: vec![Dirty::Session(session_id)],
            closed_session: None,
            quota_exceeded: Vec::new(),
        }
    }

    /// Remove the session and delete its ephemerals in ZooKeeper's order, each like a
    /// delete (NodeDeleted + parent NodeChildrenChanged). Ephemerals are deleted even if
    /// the session is unknown (nothing is there for a truly unknown id).
    pub(super) fn close_session(&mut self, zxid: i64, session: i64) -> Applied {
        let mut fx = Effects::default();
        let existed = self.sessions.remove(&session).is_some();
        for p in self.ephemerals_in_zookeeper_order(session) {
            self.delete_node(zxid, &p, &mut fx);
        }
        self.ephemerals.remove(&session);
        if existed {
            fx.dirty(Dirty::Session(session));
        }
        Applied {
            zxid,
            reply: Reply::SessionClosed,
            triggers: fx.triggers,
            dirty: fx.dirty,
            closed_session: existed.then_some(session),
            quota_exceeded: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_matches_zookeeper_formula() {
        let t = 1_700_000_000_123i64;
        let s = seed(t);
        assert_eq!(s >> 56, 1);
        assert_eq!((s >> 16) & 0xFF_FFFF_FFFF, t & 0xFF_FFFF_FFFF);
        assert_eq!(s & 0xFFFF, 0);
        assert_eq!(seed(0), 1i64 << 56);
    }
}
