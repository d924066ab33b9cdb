//! The leader's view of session liveness.
//!
//! Deadlines are rounded up to the next tick, like ZooKeeper's ExpiryQueue, so expiry
//! work happens once per tick for a whole bucket of sessions rather than per session.
//! The tracker takes `Instant`s from its caller and never reads a clock itself, which
//! keeps it testable without sleeping.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

pub struct SessionTracker {
    tick: Duration,
    origin: Instant,
    sessions: HashMap<i64, Entry>,
    /// Sessions a request arrived for since the last [`SessionTracker::take_touched`]
    /// (what a follower reports to its leader), known to this tracker or not: a member
    /// that restarted learns of older sessions only when it leads.
    touched: HashSet<i64>,
    /// The stretch of leading (the caller's key: Raft term and serving epoch) in which
    /// every clock was last restarted (see [`SessionTracker::restart`]); `None` before
    /// this member first led.
    clock_epoch: Option<(u64, u64)>,
}

struct Entry {
    timeout: Duration,
    deadline: Instant,
    closing: bool,
}

impl SessionTracker {
    pub fn new(tick: Duration, origin: Instant) -> Self {
        SessionTracker {
            tick: tick.max(Duration::from_millis(1)),
            origin,
            sessions: HashMap::new(),
            touched: HashSet::new(),
            clock_epoch: None,
        }
    }

    /// The stretch of leading in which every clock was last restarted.
    pub fn clock_epoch(&self) -> Option<(u64, u64)> {
        self.clock_epoch
    }

    /// A new leader (or a restarted standalone server) gives every session of the
    /// replicated table a fresh timeout, as ZooKeeper's does: nobody could reach it
    /// while there was no leader, so no session's time ran out in between.
    pub fn restart(
        &mut self,
        epoch: (u64, u64),
        sessions: impl Iterator<Item = (i64, i32)>,
        now: Instant,
    ) {
        self.replace(sessions, now);
        self.clock_epoch = Some(epoch);
    }

    /// Track exactly `sessions`, each with a fresh timeout (the replicated table was
    /// replaced by a restore).
    pub fn replace(&mut self, sessions: impl Iterator<Item = (i64, i32)>, now: Instant) {
        self.sessions.clear();
        for (id, timeout_ms) in sessions {
            self.add(id, timeout_ms, now);
        }
    }

    fn deadline(&self, now: Instant, timeout: Duration) -> Instant {
        let due = (now + timeout).saturating_duration_since(self.origin);
        let tick = self.tick.as_nanos();
        let rounded = due.as_nanos().div_ceil(tick) * tick;
        self.origin + Duration::from_nanos(rounded.min(u64::MAX as u128) as u64)
    }

    /// Start (or restart) tracking a session with its negotiated timeout.
    pub fn add(&mut self, session_id: i64, timeout_ms: i32, now: Instant) {
        let timeout = Duration::from_millis(timeout_ms.max(0) as u64);
        let deadline = self.deadline(now, timeout);
        self.sessions.insert(
            session_id,
            Entry {
                timeout,
                deadline,
                closing: false,
            },
        );
    }

    /// Any packet from the client. Returns false if the session is unknown or already
    /// being closed, which the leader treats as expired.
    pub fn touch(&mut self, session_id: i64, now: Instant) -> bool {
        self.touched.insert(session_id);
        let Some(timeout) = self
            .sessions
            .get(&session_id)
            .filter(|e| !e.closing)
            .map(|e| e.timeout)
        else {
            return false;
        };
        let deadline = self.deadline(now, timeout);
        if let Some(e) = self.sessions.get_mut(&session_id) {
            e.deadline = deadline;
        }
        true
    }

    /// Sessions touched since the last call (sorted); clears the marks.
    pub fn take_touched(&mut self) -> Vec<i64> {
        let mut out: Vec<i64> = self.touched.drain().collect();
        out.sort_unstable();
        out
    }

    /// Change a session's timeout (a reattach negotiates it again) and touch it.
    pub fn set_timeout(&mut self, session_id: i64, timeout_ms: i32, now: Instant) {
        if let Some(e) = self.sessions.get_mut(&session_id) {
            e.timeout = Duration::from_millis(timeout_ms.max(0) as u64);
        }
        self.touch(session_id, now);
    }

    pub fn remove(&mut self, session_id: i64) {
        self.sessions.remove(&session_id);
        self.touched.remove(&session_id);
    }

    /// The session's timeout, if it is tracked.
    pub fn timeout_ms(&self, session_id: i64) -> Option<i32> {
        self.sessions
            .get(&session_id)
            .map(|e| e.timeout.as_millis().min(i32::MAX as u128) as i32)
    }

    pub fn contains(&self, session_id: i64) -> bool {
        self.sessions.contains_key(&session_id)
    }

    /// Sessions whose deadline has passed; they are marked closing so they are proposed
    /// for closure once, and further touches are refused.
    pub fn expire(&mut self, now: Instant) -> Vec<i64> {
        let mut out: Vec<i64> = self
            .sessions
            .iter_mut()
            .filter(|(_, e)| !e.closing && e.deadline <= now)
            .map(|(id, e)| {
                e.closing = true;
                *id
            })
            .collect();
        out.sort_unstable();
        out
    }

    /// A session the server itself is closing (client closeSession): refuse touches.
    pub fn mark_closing(&mut self, session_id: i64) {
        if let Some(e) = self.sessions.get_mut(&session_id) {
            e.closing = true;
        }
    }

    /// Sessions with their remaining time, for the `dump` four-letter word.
    pub fn snapshot(&self, now: Instant) -> Vec<(i64, Duration, Duration)> {
        let mut out: Vec<_> = self
            .sessions
            .iter()
            .map(|(id, e)| (*id, e.timeout, e.deadline.saturating_duration_since(now)))
            .collect();
        out.sort_unstable_by_key(|(id, _, _)| *id);
        out
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_after_timeout_rounded_to_tick() {
        let t0 = Instant::now();
        let mut tr = SessionTracker::new(Duration::from_millis(100), t0);
        tr.add(7, 250, t0);
        assert!(tr.expire(t0 + Duration::from_millis(250)).is_empty());
        assert_eq!(tr.expire(t0 + Duration::from_millis(300)), vec![7]);
        // Reported once, and touches are refused from then on.
        assert!(tr.expire(t0 + Duration::from_millis(400)).is_empty());
        assert!(!tr.touch(7, t0 + Duration::from_millis(400)));
    }

    #[test]
    fn touch_extends_deadline() {
        let t0 = Instant::now();
        let mut tr = SessionTracker::new(Duration::from_millis(100), t0);
        tr.add(1, 200, t0);
        assert!(tr.touch(1, t0 + Duration::from_millis(150)));
        assert!(tr.expire(t0 + Duration::from_millis(300)).is_empty());
        assert_eq!(tr.expire(t0 + Duration::from_millis(400)), vec![1]);
        assert!(!tr.touch(99, t0));
    }

    #[test]
    fn touched_sessions_are_reported_once() {
        let t0 = Instant::now();
        let mut tr = SessionTracker::new(Duration::from_millis(100), t0);
        tr.add(1, 1000, t0);
        tr.add(2, 1000, t0);
        assert!(tr.take_touched().is_empty());
        tr.touch(2, t0);
        tr.touch(1, t0);
        // Unknown here (a member that restarted), but a client is there: reported.
        assert!(!tr.touch(99, t0));
        assert_eq!(tr.take_touched(), vec![1, 2, 99]);
        assert!(tr.take_touched().is_empty());
    }

    #[test]
    fn restart_gives_every_session_a_fresh_clock() {
        let t0 = Instant::now();
        let mut tr = SessionTracker::new(Duration::from_millis(100), t0);
        tr.add(1, 200, t0);
        tr.add(2, 200, t0);
        assert_eq!(tr.expire(t0 + Duration::from_millis(300)), vec![1, 2]);
        assert_eq!(tr.clock_epoch(), None);
        // A new leader of term 7 whose replicated table holds sessions 2 and 3: both are
        // alive again for a full timeout, 1 (closed meanwhile) is gone.
        let t1 = t0 + Duration::from_millis(1000);
        tr.restart((7, 1), [(2, 200), (3, 400)].into_iter(), t1);
        assert_eq!(tr.clock_epoch(), Some((7, 1)));
        assert!(!tr.contains(1));
        assert!(tr.touch(2, t1));
        assert!(tr.expire(t1 + Duration::from_millis(150)).is_empty());
        assert_eq!(tr.expire(t1 + Duration::from_millis(250)), vec![2]);
        assert_eq!(tr.expire(t1 + Duration::from_millis(450)), vec![3]);
    }

    #[test]
    fn closing_sessions_refuse_touches() {
        let t0 = Instant::now();
        let mut tr = SessionTracker::new(Duration::from_millis(100), t0);
        tr.add(1, 1000, t0);
        tr.mark_closing(1);
        assert!(!tr.touch(1, t0));
        tr.remove(1);
        assert!(tr.is_empty());
    }
}
