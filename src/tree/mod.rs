//! The znode tree: the replicated state machine of zkd.
//!
//! [`DataTree::apply`] takes one committed [`Txn`] and its zxid and returns the reply,
//! the watch triggers and what storage must persist. The read functions in `read.rs`
//! answer getData/getChildren/exists/getACL/... from the same tree.
//!
//! # Rules this module keeps
//!
//! * **Pure.** No I/O, clocks, threads or randomness. Time comes from the txn (the
//!   leader's wall clock), session ids are allocated from state, so applying the same
//!   log to the same starting tree gives the same tree, replies and triggers on every
//!   replica.
//! * **Deterministic.** No HashMap iteration order reaches a result: nodes are looked
//!   up in a HashMap (fast) but never enumerated through it; children, sessions,
//!   ephemerals, containers and TTL sets are BTree collections, and whole-tree walks
//!   ([`DataTree::iter_nodes`]) go depth first through the sorted children.
//! * **Validation at apply.** Every error ZooKeeper's PrepRequestProcessor would return
//!   is decided here, against the tree as it is at this log position, in ZooKeeper's
//!   precedence order (see `apply.rs`). Every txn consumes its zxid, failed ones too
//!   (ZooKeeper logs an ErrorTxn), so `last_zxid() == zxid` after any apply.
//! * **Cheap writes.** A create/setData touches only the node and its parent. A multi
//!   applies its sub-ops to the real tree while recording an undo log and rolls back
//!   on the first failure, so a later sub-op sees the earlier ones (create a parent
//!   and its child in one multi) and a failed multi leaves the tree exactly as it was.

mod acl;
mod apply;
mod digest;
mod ephemerals;
mod multi;
mod node;
mod path;
mod quota;
mod read;
mod restore;
mod session;
mod store;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bytes::Bytes;
use jute::{Acl, StatPersisted};

pub use acl::{check_perm, digest_valid, fixup_acl, ip_matches, ip_valid, mask_digest_ids};
pub use digest::{zk_node_digest, DigestCheck, DIGEST_VERSION};
pub use node::{data_of, Data, NodeKind, Znode, CONTAINER_OWNER, MAX_TTL};
pub use path::CONFIG_PATH;
pub use path::{ancestors, is_special, validate_path};
pub use quota::{QuotaExceeded, QuotaFigures, StatsTrack};
pub use session::SessionInfo;

pub use store::Children;

use acl::AclCache;
use digest::TreeDigest;
use ephemerals::EphemeralSet;
use store::{Arena, NodeId, ROOT};

/// Static configuration of the tree (identical on every replica).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeConfig {
    /// `zookeeper.extendedTypesEnabled`: allow TTL nodes.
    pub extended_types_enabled: bool,
    /// `zookeeper.enforceQuota`: hard quota limits fail writes with QuotaExceeded.
    pub enforce_quota: bool,
    /// `digest.enabled`: keep ZooKeeper's tree digest (`digest.rs`).
    pub digest_enabled: bool,
    /// Unused by apply: the server turns a matching digest into a `super` auth id.
    pub super_digest: Option<String>,
}

/// ZooKeeper's defaults: no TTL nodes, quotas not enforced, the digest kept.
impl Default for TreeConfig {
    fn default() -> Self {
        TreeConfig {
            extended_types_enabled: false,
            enforce_quota: false,
            digest_enabled: true,
            super_digest: None,
        }
    }
}

/// The outcome of applying one txn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub zxid: i64,
    pub reply: Reply,
    /// Watch triggers in the order ZooKeeper fires them.
    pub triggers: Vec<Trigger>,
    /// What storage must persist (each entry once, in first-touch order).
    pub dirty: Vec<Dirty>,
    /// Set when a session was closed (the server closes its sockets).
    pub closed_session: Option<i64>,
    /// Quota limits the txn went past (with `enforceQuota`), also those of a failed multi.
    pub quota_exceeded: Vec<QuotaExceeded>,
}

impl Applied {
    /// A result that changed nothing (a `sync` barrier's answer).
    pub fn reply_only(zxid: i64, reply: Reply) -> Applied {
        Applied {
            zxid,
            reply,
            triggers: Vec::new(),
            dirty: Vec::new(),
            closed_session: None,
            quota_exceeded: Vec::new(),
        }
    }
}

/// The reply part of [`Applied`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Reply to a client request: err (0 = ok) and, when err == 0, the encoded response
    /// body (may be empty). A failed multi has err 0 and a MultiResponse body carrying
    /// the per-op errors (ZooKeeper semantics).
    Response {
        err: i32,
        body: Bytes,
    },
    SessionCreated {
        session_id: i64,
        timeout_ms: i32,
    },
    SessionClosed,
    Reaped,
    /// The tree and session table were replaced ([`crate::txn::TxnKind::Restore`]).
    Restored,
    /// The verdict on the leader's digest ([`crate::txn::TxnKind::DigestCheck`]).
    DigestChecked(DigestCheck),
}

/// One watch trigger: `event_type` (a `jute::event` value) on `path`. `acl` is the ACL
/// a watcher needs READ on to be told (the node's, or the parent's for
/// NodeChildrenChanged).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trigger {
    pub path: String,
    pub event_type: i32,
    pub acl: Arc<Vec<Acl>>,
}

/// Something storage must write after a txn.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dirty {
    /// Re-read this node from the tree; `None` there means it was deleted.
    Node(String),
    /// Re-read this session (`None` = closed); `next_session_id` may have changed too.
    Session(i64),
}

/// Reverse of one primitive mutation, recorded while a multi runs. By path, not slot:
/// a rolled-back delete puts the node back into a new slot.
#[derive(Debug, Clone)]
pub(crate) enum Undo {
    Inserted(String),
    Removed(String, Znode),
    Stat(String, StatPersisted),
    Data(String, Option<Data>),
    Acl(String, Arc<Vec<Acl>>),
    /// A session's ephemeral set grew its (modelled Java) table from this size.
    EphemeralCapacity(i64, usize),
}

/// Triggers and dirty entries produced while applying.
#[derive(Default)]
pub(crate) struct Effects {
    pub(crate) triggers: Vec<Trigger>,
    /// Kept through a multi's rollback: a hard limit fails the whole multi.
    pub(crate) quota_exceeded: Vec<QuotaExceeded>,
    dirty: Vec<Dirty>,
    seen: BTreeSet<Dirty>,
}

impl Effects {
    pub(crate) fn trigger(&mut self, path: &str, event_type: i32, acl: &Arc<Vec<Acl>>) {
        self.triggers.push(Trigger {
            path: path.to_string(),
            event_type,
            acl: Arc::clone(acl),
        });
    }

    pub(crate) fn dirty(&mut self, d: Dirty) {
        // Most txns dirty a node or two: a look along the list beats a set.
        if self.dirty.len() < 16 {
            if !self.dirty.contains(&d) {
                self.dirty.push(d);
            }
            return;
        }
        if self.seen.is_empty() {
            self.seen.extend(self.dirty.iter().cloned());
        }
        if self.seen.insert(d.clone()) {
            self.dirty.push(d);
        }
    }

    pub(crate) fn dirty_node(&mut self, path: &str) {
        self.dirty(Dirty::Node(path.to_string()));
    }

    pub(crate) fn clear(&mut self) {
        self.triggers.clear();
        self.dirty.clear();
        self.seen.clear();
    }
}

/// The znode tree plus the replicated session table.
#[derive(Debug, Clone)]
pub struct DataTree {
    config: TreeConfig,
    /// The nodes; `/` is in slot [`ROOT`], every other node in its parent's children.
    nodes: Arena,
    sessions: BTreeMap<i64, SessionInfo>,
    /// Session -> its plain ephemerals, kept from the first one's creation until the
    /// session closes (as ZooKeeper keeps the session's set).
    ephemerals: BTreeMap<i64, EphemeralSet>,
    containers: BTreeSet<String>,
    ttls: BTreeSet<String>,
    acl_cache: AclCache,
    last_zxid: i64,
    next_session_id: i64,
    /// Sum of Java path length + data length over all nodes (ZooKeeper's
    /// approximateDataSize).
    data_size: u64,
    /// Present while a multi runs.
    undo: Option<Vec<Undo>>,
    /// ZooKeeper's digest of the whole tree, and its history.
    digest: TreeDigest,
    /// The slot of `/zookeeper/quota`, which is never deleted: every write asks it
    /// whether any quota exists (`quota.rs`).
    quota_root: Option<NodeId>,
}

impl DataTree {
    /// A fresh tree: `/`, `/zookeeper`, `/zookeeper/quota` (open ACL) and
    /// `/zookeeper/config` (READ_ACL_UNSAFE), empty data, zero stats, except that
    /// `/zookeeper/config` has aversion -1 as in ZooKeeper (it gets its ACL through
    /// `setACL(path, acl, -1)`, which stores the version argument).
    pub fn new(config: TreeConfig) -> Self {
        let mut t = DataTree::empty(config);
        t.add_system_nodes();
        t
    }

    fn empty(config: TreeConfig) -> Self {
        DataTree {
            digest: TreeDigest::new(config.digest_enabled),
            config,
            nodes: Arena::default(),
            sessions: BTreeMap::new(),
            ephemerals: BTreeMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            acl_cache: AclCache::default(),
            last_zxid: 0,
            next_session_id: 0,
            data_size: 0,
            undo: None,
            quota_root: None,
        }
    }

    /// Add whichever of the four system nodes is missing.
    fn add_system_nodes(&mut self) {
        for p in path::SPECIAL_PATHS {
            if self.lookup(p).is_some() {
                continue;
            }
            let mut stat = StatPersisted::default();
            let acl = if p == "/zookeeper/config" {
                stat.aversion = -1;
                jute::ids::read_acl_unsafe()
            } else {
                jute::ids::open_acl_unsafe()
            };
            let acl = self.acl_cache.intern(acl);
            let node = Znode::new(Some(Data::from(&[][..])), acl, stat);
            // The four are added parent first, so each has its parent.
            let _ = self.place(p, node);
        }
        self.quota_root = self.lookup(quota::QUOTA_ROOT);
    }

    /// Put a childless node at `path` when its parent exists (or it is the root of an
    /// empty tree); a node already there is replaced, keeping its children. Gives the
    /// node back when there is no parent. For building a tree and rolling back a
    /// multi, not for applying txns.
    fn place(&mut self, path: &str, node: Znode) -> Result<(), Znode> {
        if path == "/" && self.nodes.len() == 0 {
            self.index(path, &node);
            let id = self.nodes.insert(node);
            debug_assert_eq!(id, ROOT);
            return Ok(());
        }
        if let Some(id) = self.lookup(path) {
            let Some(slot) = self.nodes.get_mut(id) else {
                return Err(node);
            };
            let children = std::mem::take(&mut slot.children);
            let old = std::mem::replace(slot, node);
            slot.children = children;
            self.unindex(path, &old);
            if let Some(new) = self.nodes.get(id).cloned() {
                self.index(path, &new);
            }
            return Ok(());
        }
        match path::split_stored(path) {
            Some((parent, name)) => match self.lookup(parent) {
                Some(parent) => self.raw_insert(parent, name, path, node).map(|_| ()),
                None => Err(node),
            },
            _ => Err(node),
        }
    }

    /// Rebuild a tree from persisted parts. Children sets are rebuilt from the paths
    /// (any children in the given nodes are ignored); nodes whose parent is missing are
    /// dropped; missing system nodes are added; identical ACL lists are shared again.
    /// Nodes are taken as they come: storage yields them in byte order, where a parent
    /// (a strict prefix) comes before its descendants, so nothing is collected; a node
    /// that arrives before its parent waits and is placed at the end.
    pub fn from_parts(
        config: TreeConfig,
        nodes: impl Iterator<Item = (String, Znode)>,
        sessions: impl Iterator<Item = (i64, SessionInfo)>,
        last_zxid: i64,
        next_session_id: i64,
    ) -> Self {
        let mut t = DataTree::empty(config);
        let mut waiting = Vec::new();
        // Consecutive nodes mostly share a parent: it is resolved once per run of them.
        let mut last_parent: Option<(String, NodeId)> = None;
        for (p, mut node) in nodes {
            node.acl = t.acl_cache.intern_arc(node.acl);
            node.children = Children::default();
            if t.nodes.len() == 0 && p != "/" {
                t.add_system_nodes();
            }
            let split = path::split_stored(&p);
            if let (Some((parent, name)), Some((lp, lid))) = (split, last_parent.as_ref()) {
                if parent == lp {
                    match t.raw_insert(*lid, name, &p, node) {
                        Ok(_) => continue,
                        // Taken (a system node read back): replaced below.
                        Err(back) => node = back,
                    }
                }
            }
            if let Some((parent, _)) = split {
                last_parent = t.lookup(parent).map(|id| (parent.to_string(), id));
            }
            if let Err(node) = t.place(&p, node) {
                waiting.push((p, node));
            }
        }
        waiting.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (p, node) in waiting {
            // Still no parent: dropped.
            let _ = t.place(&p, node);
        }
        t.add_system_nodes();
        t.recount_all_quotas();
        t.sessions = sessions.collect();
        t.last_zxid = last_zxid;
        t.next_session_id = next_session_id;
        t
    }

    pub fn config(&self) -> &TreeConfig {
        &self.config
    }

    /// The zxid of the last applied txn.
    pub fn last_zxid(&self) -> i64 {
        self.last_zxid
    }

    /// The id the next CreateSession will take (0 = not seeded yet).
    pub fn next_session_id(&self) -> i64 {
        self.next_session_id
    }

    /// Number of znodes including `/` and the three `/zookeeper` nodes (fresh tree: 4).
    /// ZooKeeper's `zk_znode_count` also counts its `""` alias of the root (fresh: 5).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// ZooKeeper's digest of the tree (0 with `digest.enabled=false`).
    pub fn digest(&self) -> i64 {
        self.digest.value()
    }

    /// The digest after every 128th zxid, oldest first (ZooKeeper's digest log: the
    /// `hash` command).
    pub fn digest_history(&self) -> impl DoubleEndedIterator<Item = (i64, i64)> + '_ {
        self.digest.history()
    }

    /// ZooKeeper's approximateDataSize: sum of path length (UTF-16 units) + data length.
    pub fn approximate_data_size(&self) -> u64 {
        self.data_size
    }

    /// A node by path. `""` is ZooKeeper's alias of the root.
    pub fn get(&self, path: &str) -> Option<&Znode> {
        let id = if path.is_empty() {
            ROOT
        } else {
            self.lookup(path)?
        };
        self.nodes.get(id)
    }

    /// The nodes at `paths` (in byte order, as a checkpoint takes them), each parent
    /// resolved once for the run of its children instead of once per path.
    pub fn get_sorted<'a>(&'a self, paths: &'a [String]) -> Vec<Option<&'a Znode>> {
        let mut parent: Option<(&str, Option<NodeId>)> = None;
        paths
            .iter()
            .map(|p| {
                let Some((dir, name)) = path::split_stored(p) else {
                    return self.get(p);
                };
                let id = match parent {
                    Some((last, id)) if last == dir => id,
                    _ => {
                        let id = self.lookup(dir);
                        parent = Some((dir, id));
                        id
                    }
                };
                self.node(self.lookup_in(id?, name)?)
            })
            .collect()
    }

    /// The slot of the node at `path`, resolved name by name from the root. Only
    /// paths a node was created under resolve: `""`, `//a` or `/a/` do not.
    fn lookup(&self, path: &str) -> Option<NodeId> {
        if path == "/" {
            return self.nodes.get(ROOT).map(|_| ROOT);
        }
        let rest = path.strip_prefix('/')?;
        rest.split('/')
            .try_fold(ROOT, |id, name| self.lookup_in(id, name))
    }

    /// The slot of the child `name` of the node in slot `parent`.
    fn lookup_in(&self, parent: NodeId, name: &str) -> Option<NodeId> {
        self.nodes.get(parent)?.children.get(name)
    }

    fn node(&self, id: NodeId) -> Option<&Znode> {
        self.nodes.get(id)
    }

    /// Every node, depth first from `/` with children in sorted order (deterministic).
    pub fn iter_nodes(&self) -> impl Iterator<Item = (String, &Znode)> {
        let mut stack = vec![("/".to_string(), ROOT)];
        std::iter::from_fn(move || {
            let (p, id) = stack.pop()?;
            let n = self.nodes.get(id)?;
            for (name, child) in n.children.entries().rev() {
                let cp = if p == "/" {
                    format!("/{name}")
                } else {
                    format!("{p}/{name}")
                };
                stack.push((cp, child));
            }
            Some((p, n))
        })
    }

    /// Number of nodes below `id`, itself excluded.
    fn descendants_of(&self, id: NodeId) -> usize {
        let mut count = 0;
        let mut stack = vec![id];
        while let Some(id) = stack.pop() {
            if let Some(n) = self.nodes.get(id) {
                count += n.children.len();
                stack.extend(n.children.entries().map(|(_, c)| c));
            }
        }
        count
    }

    /// Paths that would qualify for reaping at `now_ms`, sorted: containers with no
    /// children whose stored cversion > 0 (they once had a child), and TTL nodes with no
    /// children not modified for longer than their TTL.
    pub fn reap_candidates(&self, now_ms: i64) -> Vec<String> {
        let mut out: BTreeSet<&String> = BTreeSet::new();
        for p in self.containers.iter().chain(self.ttls.iter()) {
            if self.get(p).is_some_and(|n| reapable(n, now_ms)) {
                out.insert(p);
            }
        }
        out.into_iter().cloned().collect()
    }

    // ---- primitive mutations (the only code that changes `nodes`) ----

    /// Note how to reverse a mutation, inside a multi only: `undo` is not even built
    /// (no path copied) for a single op.
    fn record(&mut self, undo: impl FnOnce() -> Undo) {
        if let Some(log) = self.undo.as_mut() {
            log.push(undo());
        }
    }

    fn node_size(path: &str, node: &Znode) -> u64 {
        path::java_len(path) + node.data.as_ref().map_or(0, |d| d.len() as u64)
    }

    /// Count a node (stored at `path`) in the data size and the kind indexes.
    fn index(&mut self, path: &str, node: &Znode) {
        self.data_size += Self::node_size(path, node);
        self.digest.add(path, node);
        match node.kind() {
            NodeKind::Container => {
                self.containers.insert(path.to_string());
            }
            NodeKind::Ttl(_) => {
                self.ttls.insert(path.to_string());
            }
            NodeKind::Ephemeral(s) => {
                let grown = self
                    .ephemerals
                    .entry(s)
                    .or_default()
                    .insert(path.to_string());
                if let Some(before) = grown {
                    self.record(|| Undo::EphemeralCapacity(s, before));
                }
            }
            NodeKind::Persistent => {}
        }
    }

    /// Reverse of [`DataTree::index`].
    fn unindex(&mut self, path: &str, node: &Znode) {
        self.data_size = self.data_size.saturating_sub(Self::node_size(path, node));
        self.digest.remove(path, node);
        match node.kind() {
            NodeKind::Container => {
                self.containers.remove(path);
            }
            NodeKind::Ttl(_) => {
                self.ttls.remove(path);
            }
            NodeKind::Ephemeral(s) => {
                if let Some(set) = self.ephemerals.get_mut(&s) {
                    set.remove(path);
                    // Only a failed multi's rollback leaves a set that never held a node.
                    if set.capacity == 0 && set.paths.is_empty() {
                        self.ephemerals.remove(&s);
                    }
                }
            }
            NodeKind::Persistent => {}
        }
    }

    /// Store a childless node as child `name` of `parent` (whose path + name is
    /// `path`) and index it. Gives the node back, changing nothing, when the name is
    /// taken or there is no such parent.
    fn raw_insert(
        &mut self,
        parent: NodeId,
        name: &str,
        path: &str,
        node: Znode,
    ) -> Result<NodeId, Znode> {
        debug_assert!(node.children.is_empty());
        // Link first (one search of the parent's children), under the slot the node
        // is about to take.
        let id = self.nodes.next_id();
        let linked = self
            .nodes
            .get_mut(parent)
            .is_some_and(|p| p.children.insert(name, id));
        if !linked {
            return Err(node);
        }
        self.index(path, &node);
        let placed = self.nodes.insert(node);
        debug_assert_eq!(placed, id);
        Ok(id)
    }

    /// Take the childless child `name` (at `path`) out of `parent` and unindex it.
    fn raw_remove(&mut self, parent: NodeId, name: &str, path: &str) -> Option<Znode> {
        let id = self.nodes.get_mut(parent)?.children.remove(name)?;
        let node = self.nodes.remove(id)?;
        debug_assert!(node.children.is_empty(), "{path} removed with children");
        self.unindex(path, &node);
        Some(node)
    }

    /// Insert a validated node (its name is free under `parent`). `Inserted` is
    /// recorded before the insert records anything of its own (an ephemeral set's
    /// growth), so a rollback undoes those first, as they happened last.
    fn insert_node(&mut self, parent: NodeId, name: &str, path: &str, node: Znode) {
        self.record(|| Undo::Inserted(path.to_string()));
        if self.raw_insert(parent, name, path, node).is_err() {
            // Not inserted (validation makes this unreachable): nothing to undo.
            if let Some(log) = self.undo.as_mut() {
                log.pop();
            }
        }
    }

    fn remove_node(&mut self, parent: NodeId, name: &str, path: &str) -> Option<Znode> {
        let node = self.raw_remove(parent, name, path)?;
        if self.undo.is_some() {
            self.record(|| Undo::Removed(path.to_string(), node.clone()));
        } else {
            self.acl_cache.released();
        }
        Some(node)
    }

    fn modify_stat(&mut self, id: NodeId, path: &str, f: impl FnOnce(&mut StatPersisted)) {
        self.rewrite(id, path, None, Some(f));
    }

    fn replace_data(&mut self, id: NodeId, path: &str, data: Option<Data>) {
        self.rewrite(id, path, Some(data), None::<fn(&mut StatPersisted)>);
    }

    /// Change a node in place: its data (when `data` is given) and its stat (when `stat`
    /// is). One function for both so that a setData takes the node's digest out and puts
    /// it back once (each is a CRC over the path, the data and the stat).
    fn rewrite(
        &mut self,
        id: NodeId,
        path: &str,
        data: Option<Option<Data>>,
        stat: Option<impl FnOnce(&mut StatPersisted)>,
    ) {
        let Some(n) = self.nodes.get_mut(id) else {
            return;
        };
        self.digest.remove(path, n);
        let old_data = data.map(|data| {
            let new_len = data.as_ref().map_or(0, |d| d.len() as u64);
            let old = std::mem::replace(&mut n.data, data);
            let old_len = old.as_ref().map_or(0, |d| d.len() as u64);
            self.data_size = (self.data_size + new_len).saturating_sub(old_len);
            old
        });
        let old_stat = stat.map(|f| {
            let old = self.undo.is_some().then(|| n.stat.clone());
            f(&mut n.stat);
            old
        });
        self.digest.add(path, n);
        if let Some(old) = old_data {
            self.record(|| Undo::Data(path.to_string(), old));
        }
        if let Some(Some(old)) = old_stat {
            self.record(|| Undo::Stat(path.to_string(), old));
        }
    }

    fn replace_acl(&mut self, id: NodeId, path: &str, acl: Arc<Vec<Acl>>) {
        if let Some(n) = self.nodes.get_mut(id) {
            let old = std::mem::replace(&mut n.acl, acl);
            if self.undo.is_some() {
                self.record(|| Undo::Acl(path.to_string(), old));
            } else {
                drop(old);
                self.acl_cache.released();
            }
        }
    }

    /// Intern an ACL list, reusing `hint` (usually the parent's) when equal.
    fn share_acl(&mut self, acl: Vec<Acl>, hint: &Arc<Vec<Acl>>) -> Arc<Vec<Acl>> {
        if hint.as_slice() == acl.as_slice() {
            Arc::clone(hint)
        } else {
            self.acl_cache.intern(acl)
        }
    }

    /// Undo everything recorded since the multi started (in reverse order).
    fn rollback(&mut self, log: Vec<Undo>) {
        debug_assert!(self.undo.is_none());
        for u in log.into_iter().rev() {
            match u {
                Undo::Inserted(p) => {
                    if let Some((parent, name)) = path::split_stored(&p) {
                        if let Some(parent) = self.lookup(parent) {
                            self.raw_remove(parent, name, &p);
                        }
                    }
                }
                Undo::Removed(p, n) => {
                    // Its parent is back already (undone in reverse order).
                    let _ = self.place(&p, n);
                }
                Undo::Stat(p, s) => {
                    if let Some(n) = self.lookup(&p).and_then(|id| self.nodes.get_mut(id)) {
                        self.digest.remove(&p, n);
                        n.stat = s;
                        self.digest.add(&p, n);
                    }
                }
                Undo::Data(p, d) => {
                    if let Some(id) = self.lookup(&p) {
                        self.replace_data(id, &p, d);
                    }
                }
                Undo::Acl(p, a) => {
                    if let Some(n) = self.lookup(&p).and_then(|id| self.nodes.get_mut(id)) {
                        n.acl = a;
                    }
                }
                Undo::EphemeralCapacity(s, before) => {
                    if let Some(set) = self.ephemerals.get_mut(&s) {
                        set.capacity = before;
                    }
                }
            }
        }
        self.acl_cache.released();
    }
}

/// Container: no children and once had one. TTL: no children and not modified for
/// longer than the TTL.
fn reapable(n: &Znode, now_ms: i64) -> bool {
    if !n.children.is_empty() {
        return false;
    }
    match n.kind() {
        NodeKind::Container => n.stat.cversion > 0,
        NodeKind::Ttl(ttl) => ttl != 0 && now_ms.saturating_sub(n.stat.mtime) > ttl,
        _ => false,
    }
}

#[cfg(test)]
mod tests;
