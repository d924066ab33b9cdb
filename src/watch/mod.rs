//! Watch tables (ZooKeeper 3.9's WatchManager), pure and deterministic.
//!
//! Two tables, as in ZooKeeper's DataTree:
//! * the **data** table holds one-shot data watches (getData/exists), PERSISTENT and
//!   PERSISTENT_RECURSIVE watches;
//! * the **child** table holds one-shot child watches (getChildren) and PERSISTENT
//!   watches.
//!
//! One connection may hold several modes on the same path at once (3.9). A trigger at
//! a path fires every watch on that exact path (one-shot modes are consumed, persistent
//! ones stay); in the data table it also fires PERSISTENT_RECURSIVE watches on every
//! ancestor. NodeCreated/NodeDataChanged/NodeDeleted go to the data table,
//! NodeChildrenChanged to the child table (exact path only); NodeDeleted also goes to
//! the child table for the deleted path, skipping connections the data table already
//! notified for that trigger. One event per (connection, trigger).
//!
//! Determinism: per trigger, connections are notified in ascending id order (the data
//! table's set first, then the child table's remainder); ZooKeeper uses HashSet order.
//! HashMaps here are only looked up, never iterated into a result.
//!
//! Events are filtered by the watcher's READ permission on the trigger's ACL
//! (ZooKeeper 3.9.2+); a one-shot watch that is filtered out is still consumed.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jute::{event, keeper_state, watcher_type, Acl, WatcherEvent};

use crate::tree::Trigger;

/// A client connection, as identified by the server.
pub type ConnId = u64;

const STANDARD: u8 = 1;
const PERSISTENT: u8 = 2;
const RECURSIVE: u8 = 4;

#[derive(Debug, Clone, Default)]
struct Table {
    by_path: HashMap<String, BTreeMap<ConnId, u8>>,
    by_conn: HashMap<ConnId, BTreeSet<String>>,
    /// Number of (path, conn) entries holding RECURSIVE: ancestors are only walked
    /// when some exist.
    recursive: usize,
}

impl Table {
    fn add(&mut self, conn: ConnId, path: &str, mode: u8) {
        let modes = self
            .by_path
            .entry(path.to_string())
            .or_default()
            .entry(conn)
            .or_insert(0);
        if mode == RECURSIVE && *modes & RECURSIVE == 0 {
            self.recursive += 1;
        }
        *modes |= mode;
        self.by_conn
            .entry(conn)
            .or_default()
            .insert(path.to_string());
    }

    fn modes(&self, conn: ConnId, path: &str) -> u8 {
        self.by_path
            .get(path)
            .and_then(|m| m.get(&conn))
            .copied()
            .unwrap_or(0)
    }

    /// Drop `mask` from the entry; `true` if any of those bits were set.
    fn remove_modes(&mut self, conn: ConnId, path: &str, mask: u8) -> bool {
        let Some(conns) = self.by_path.get_mut(path) else {
            return false;
        };
        let Some(modes) = conns.get_mut(&conn) else {
            return false;
        };
        let had = *modes & mask;
        if had == 0 {
            return false;
        }
        if had & RECURSIVE != 0 {
            self.recursive -= 1;
        }
        *modes &= !mask;
        if *modes == 0 {
            conns.remove(&conn);
            if conns.is_empty() {
                self.by_path.remove(path);
            }
            if let Some(paths) = self.by_conn.get_mut(&conn) {
                paths.remove(path);
                if paths.is_empty() {
                    self.by_conn.remove(&conn);
                }
            }
        }
        true
    }

    fn remove_conn(&mut self, conn: ConnId) {
        let Some(paths) = self.by_conn.remove(&conn) else {
            return;
        };
        for p in paths {
            if let Some(conns) = self.by_path.get_mut(&p) {
                if let Some(modes) = conns.remove(&conn) {
                    if modes & RECURSIVE != 0 {
                        self.recursive -= 1;
                    }
                }
                if conns.is_empty() {
                    self.by_path.remove(&p);
                }
            }
        }
    }

    /// Fire at `path`: every watcher on the exact path (one-shot consumed) and, if
    /// `recursive`, PERSISTENT_RECURSIVE watchers on the ancestors.
    fn fire(&mut self, path: &str) -> BTreeSet<ConnId> {
        let mut out = BTreeSet::new();
        let mut consumed = Vec::new();
        if let Some(conns) = self.by_path.get_mut(path) {
            for (conn, modes) in conns.iter_mut() {
                out.insert(*conn);
                if *modes & STANDARD != 0 {
                    consumed.push(*conn);
                }
            }
        }
        for conn in consumed {
            self.remove_modes(conn, path, STANDARD);
        }
        if self.recursive > 0 {
            for anc in crate::tree::ancestors(path) {
                if let Some(conns) = self.by_path.get(anc) {
                    out.extend(
                        conns
                            .iter()
                            .filter(|(_, m)| **m & RECURSIVE != 0)
                            .map(|(c, _)| *c),
                    );
                }
            }
        }
        out
    }

    fn pairs(&self) -> usize {
        self.by_path.values().map(BTreeMap::len).sum()
    }
}

/// Connection-scoped watches.
#[derive(Debug, Clone, Default)]
pub struct WatchManager {
    data: Table,
    child: Table,
}

impl WatchManager {
    pub fn new() -> Self {
        Self::default()
    }

    /// One-shot data watch (getData, exists).
    pub fn add_data_watch(&mut self, conn: ConnId, path: &str) {
        self.data.add(conn, path, STANDARD);
    }

    /// One-shot child watch (getChildren).
    pub fn add_child_watch(&mut self, conn: ConnId, path: &str) {
        self.child.add(conn, path, STANDARD);
    }

    /// addWatch: PERSISTENT goes to both tables, PERSISTENT_RECURSIVE to the data table.
    pub fn add_persistent(&mut self, conn: ConnId, path: &str, recursive: bool) {
        if recursive {
            self.data.add(conn, path, RECURSIVE);
        } else {
            self.data.add(conn, path, PERSISTENT);
            self.child.add(conn, path, PERSISTENT);
        }
    }

    /// Resolve triggers into notifications, in trigger order. `can_read(conn, acl)`
    /// says whether the watcher has READ on the ACL; a filtered one-shot watch is still
    /// consumed.
    pub fn trigger(
        &mut self,
        triggers: &[Trigger],
        can_read: impl Fn(ConnId, &[Acl]) -> bool,
    ) -> Vec<(ConnId, WatcherEvent)> {
        let mut out = Vec::new();
        for t in triggers {
            let targets: Vec<ConnId> = match t.event_type {
                event::NODE_CREATED | event::NODE_DATA_CHANGED => {
                    self.data.fire(&t.path).into_iter().collect()
                }
                event::NODE_CHILDREN_CHANGED => self.child.fire(&t.path).into_iter().collect(),
                event::NODE_DELETED => {
                    let first = self.data.fire(&t.path);
                    let second = self.child.fire(&t.path);
                    let rest: Vec<ConnId> = second.difference(&first).copied().collect();
                    first.into_iter().chain(rest).collect()
                }
                _ => Vec::new(),
            };
            for conn in targets {
                if can_read(conn, &t.acl) {
                    out.push((
                        conn,
                        WatcherEvent {
                            event_type: t.event_type,
                            state: keeper_state::SYNC_CONNECTED,
                            path: t.path.clone(),
                        },
                    ));
                }
            }
        }
        out
    }

    /// removeWatches for one connection: CHILDREN (1) the one-shot child watch, DATA (2)
    /// the one-shot data watch, ANY (3) everything on the path incl. persistent,
    /// PERSISTENT (4) and PERSISTENT_RECURSIVE (5). `false` (-> NO_WATCHER) if nothing
    /// was removed or the type is unknown.
    pub fn remove_watches(&mut self, conn: ConnId, path: &str, watch_type: i32) -> bool {
        match watch_type {
            watcher_type::CHILDREN => self.child.remove_modes(conn, path, STANDARD),
            watcher_type::DATA => self.data.remove_modes(conn, path, STANDARD),
            watcher_type::ANY => {
                let c = self.child.remove_modes(conn, path, u8::MAX);
                let d = self.data.remove_modes(conn, path, u8::MAX);
                c || d
            }
            watcher_type::PERSISTENT => {
                let c = self.child.remove_modes(conn, path, PERSISTENT);
                let d = self.data.remove_modes(conn, path, PERSISTENT);
                c || d
            }
            watcher_type::PERSISTENT_RECURSIVE => self.data.remove_modes(conn, path, RECURSIVE),
            _ => false,
        }
    }

    /// checkWatches: CHILDREN/DATA look for the one-shot watch, PERSISTENT and
    /// PERSISTENT_RECURSIVE look in the data table, ANY for anything in either table.
    pub fn has_watches(&self, conn: ConnId, path: &str, watch_type: i32) -> bool {
        match watch_type {
            watcher_type::CHILDREN => self.child.modes(conn, path) & STANDARD != 0,
            watcher_type::DATA => self.data.modes(conn, path) & STANDARD != 0,
            watcher_type::ANY => {
                self.child.modes(conn, path) != 0 || self.data.modes(conn, path) != 0
            }
            watcher_type::PERSISTENT => self.data.modes(conn, path) & PERSISTENT != 0,
            watcher_type::PERSISTENT_RECURSIVE => self.data.modes(conn, path) & RECURSIVE != 0,
            _ => false,
        }
    }

    /// Forget every watch of a connection.
    pub fn remove_connection(&mut self, conn: ConnId) {
        self.data.remove_conn(conn);
        self.child.remove_conn(conn);
    }

    /// (path, connection) pairs in both tables (mntr `zk_watch_count`; a PERSISTENT
    /// watch counts twice, as in ZooKeeper).
    pub fn count(&self) -> usize {
        self.data.pairs() + self.child.pairs()
    }

    /// (path, connection) pairs in the data table (wchs "Total watches").
    pub fn data_count(&self) -> usize {
        self.data.pairs()
    }

    /// Watched paths in the data table (wchs).
    pub fn paths(&self) -> usize {
        self.data.by_path.len()
    }

    /// Connections with a watch in the data table (wchs).
    pub fn connections(&self) -> usize {
        self.data.by_conn.len()
    }

    /// wchc: paths per connection. Like ZooKeeper, this reports the data table only.
    pub fn by_connection(&self) -> BTreeMap<ConnId, Vec<String>> {
        self.data
            .by_conn
            .iter()
            .map(|(c, paths)| (*c, paths.iter().cloned().collect()))
            .collect()
    }

    /// wchp: connections per path, data table only (as ZooKeeper).
    pub fn by_path(&self) -> BTreeMap<String, Vec<ConnId>> {
        self.data
            .by_path
            .iter()
            .map(|(p, conns)| (p.clone(), conns.keys().copied().collect()))
            .collect()
    }
}

#[cfg(test)]
mod tests;
